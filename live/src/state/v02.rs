//! fast-autoscaler v0.2's state: `{prefix}/{cluster}/{service}/{up|down}-last-action.json`
//! holding the last scale-out / scale-in time, as epoch seconds or an ISO timestamp.

use stepscale_engine::Millis;

/// The key of v0.2's last-action document for `direction` (`up` or `down`).
#[must_use]
pub fn key(prefix: &str, cluster: &str, service: &str, direction: &str) -> String {
    format!("{prefix}/{cluster}/{service}/{direction}-last-action.json")
}

fn parse_time_text(text: &str) -> Option<Millis> {
    let t = text.trim();
    if let Ok(secs) = t.parse::<f64>() {
        return (secs.is_finite() && secs >= 0.0).then(|| (secs * 1000.0).round() as Millis);
    }
    // ISO 8601: `2024-05-01T12:00:00(.fff)(Z|+hh:mm)`, or without a zone (taken as UTC, as
    // Python's `datetime.utcnow().isoformat()` writes it).
    stepscale_engine::time::parse_rfc3339_ms(t).ok()
}

/// Reads a v0.2 last-action document: a bare number or string, or an object with the time
/// under `timestamp`, `last_action`, `last_action_time`, `time` or `last_scale_time`.
#[must_use]
pub fn parse(body: &str) -> Option<Millis> {
    let value: serde_json::Value = serde_json::from_str(body.trim()).ok()?;
    let from = |v: &serde_json::Value| match v {
        serde_json::Value::Number(n) => n.as_f64().and_then(|s| parse_time_text(&s.to_string())),
        serde_json::Value::String(s) => parse_time_text(s),
        _ => None,
    };
    match &value {
        serde_json::Value::Object(map) => [
            "timestamp",
            "last_action",
            "last_action_time",
            "time",
            "last_scale_time",
        ]
        .iter()
        .find_map(|k| map.get(*k).and_then(from)),
        other => from(other),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_epoch_and_iso_forms() {
        assert_eq!(parse("1700000000"), Some(1_700_000_000_000));
        assert_eq!(
            parse("{\"timestamp\": 1700000000.5}"),
            Some(1_700_000_000_500)
        );
        assert_eq!(
            parse("{\"timestamp\": \"2023-11-14T22:13:20\"}"),
            Some(1_700_000_000_000)
        );
        assert_eq!(
            parse("\"2023-11-14T22:13:20.250Z\""),
            Some(1_700_000_000_250)
        );
        assert_eq!(
            parse("{\"last_action\": \"2023-11-14T23:13:20+01:00\"}"),
            Some(1_700_000_000_000)
        );
        assert_eq!(parse("{\"timestamp\": \"soon\"}"), None);
        assert_eq!(parse("not json"), None);
    }

    #[test]
    fn multi_byte_text_is_refused_not_a_panic() {
        for body in [
            "{\"timestamp\": \"éaéé\"}",
            "\"ééééééééééé\"",
            "\"2023-11-14T22:13:20é\"",
            "\"2023-11-14T22:13:20+0é:00\"",
            "\"2023-11-14T22:13:20.éé\"",
        ] {
            assert_eq!(parse(body), None, "{body}");
        }
    }
}
