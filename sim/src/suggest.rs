//! "Did you mean": the nearest of a set of known names to a misspelt one.

/// The name among `known` nearest to `name` by edit distance, when it is close enough to be a
/// slip (at most a third of its length, and at least 1) and not `name` itself.
#[must_use]
pub fn nearest<'k, S: AsRef<str>>(name: &str, known: &'k [S]) -> Option<&'k str> {
    let limit = (name.chars().count() / 3).max(1);
    known
        .iter()
        .map(AsRef::as_ref)
        .filter(|k| *k != name)
        .map(|k| (edit_distance(name, k), k))
        .filter(|(d, _)| *d <= limit)
        .min_by_key(|(d, _)| *d)
        .map(|(_, k)| k)
}

/// Levenshtein distance over characters.
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut diagonal = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let above = row[j + 1];
            row[j + 1] = (above + 1)
                .min(row[j] + 1)
                .min(diagonal + usize::from(ca != *cb));
            diagonal = above;
        }
    }
    row[b.len()]
}

/// serde's "unknown field `x`, expected one of `a`, `b`" (or "unknown variant"), with the
/// nearest accepted name added: `... (did you mean `b`?)`. Other messages are returned as they
/// are.
#[must_use]
pub fn with_hint(message: &str) -> String {
    let start = ["unknown field `", "unknown variant `"]
        .iter()
        .find_map(|p| message.find(p).map(|i| i + p.len()));
    let Some(start) = start else {
        return message.to_string();
    };
    let name = message[start..].split('`').next().unwrap_or_default();
    let Some(expected_at) = message[start..].find("expected") else {
        return message.to_string();
    };
    let expected: Vec<&str> = message[start + expected_at..]
        .split('`')
        .skip(1)
        .step_by(2)
        .collect();
    match nearest(name, &expected) {
        Some(hint) => format!("{message} (did you mean `{hint}`?)"),
        None => message.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_slip_finds_its_key_and_a_stranger_finds_none() {
        let keys = ["scale_up_threshold", "scale_down_threshold", "min_tasks"];
        assert_eq!(
            nearest("scale_up_treshold", &keys),
            Some("scale_up_threshold")
        );
        assert_eq!(nearest("min_task", &keys), Some("min_tasks"));
        assert_eq!(nearest("colour", &keys), None);
        assert_eq!(
            with_hint("unknown field `min_task`, expected one of `max_tasks`, `min_tasks`"),
            "unknown field `min_task`, expected one of `max_tasks`, `min_tasks` (did you mean `min_tasks`?)"
        );
        assert_eq!(
            with_hint("unknown variant `tagret`, expected `seed` or `target`"),
            "unknown variant `tagret`, expected `seed` or `target` (did you mean `target`?)"
        );
        assert_eq!(with_hint("invalid type: string"), "invalid type: string");
    }
}
