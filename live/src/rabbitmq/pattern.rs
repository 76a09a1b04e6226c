//! Queue-name wildcards (`*` only) and the percent-encoding of management API path segments.

use std::fmt::Write as _;

/// Whether `name` matches `pattern`, where `*` matches any run of characters (also none)
/// and every other character matches itself. No regular expressions: queue names often
/// hold `.` and `-`, which would need escaping.
pub(super) fn matches(pattern: &str, name: &str) -> bool {
    let pattern: Vec<char> = pattern.chars().collect();
    let name: Vec<char> = name.chars().collect();
    let (mut p, mut n) = (0, 0);
    // Where the last `*` was and how much of the name it has swallowed so far.
    let mut star: Option<(usize, usize)> = None;
    while n < name.len() {
        if p < pattern.len() && pattern[p] == '*' {
            star = Some((p, n));
            p += 1;
        } else if p < pattern.len() && pattern[p] == name[n] {
            p += 1;
            n += 1;
        } else if let Some((star_p, star_n)) = star {
            p = star_p + 1;
            n = star_n + 1;
            star = Some((star_p, star_n + 1));
        } else {
            return false;
        }
    }
    pattern[p..].iter().all(|c| *c == '*')
}

/// `segment` percent-encoded for one URL path segment: everything but RFC 3986's unreserved
/// characters is escaped, so the default vhost `/` becomes `%2F`.
pub(super) fn encode_segment(segment: &str) -> String {
    let mut out = String::with_capacity(segment.len());
    for byte in segment.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(byte));
        } else {
            // Writing into a String cannot fail.
            let _ = write!(out, "%{byte:02X}");
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::{encode_segment, matches};

    #[test]
    fn wildcards_match_as_documented() {
        let cases = [
            ("orders", "orders", true),
            ("orders", "orders2", false),
            ("orders.*", "orders.eu", true),
            ("orders.*", "orders.", true),
            ("orders.*", "orders", false),
            ("*", "", true),
            ("*", "anything", true),
            ("*.high", "jobs.high", true),
            ("*.high", "jobs.low", false),
            ("a*b*c", "axxbyyc", true),
            ("a*b*c", "axxbyy", false),
            ("a*a", "aaa", true),
            ("work-*-q", "work-eu-west-q", true),
            ("x.y", "xzy", false),
        ];
        for (pattern, name, want) in cases {
            assert_eq!(matches(pattern, name), want, "{pattern} vs {name}");
        }
    }

    #[test]
    fn segments_are_percent_encoded() {
        assert_eq!(encode_segment("/"), "%2F");
        assert_eq!(encode_segment("orders.eu-1_x~"), "orders.eu-1_x~");
        assert_eq!(encode_segment("a b/ü"), "a%20b%2F%C3%BC");
    }
}
