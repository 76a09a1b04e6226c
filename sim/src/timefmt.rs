//! Timestamp parsing for traces: `YYYY-MM-DD HH:MM:SS[.fraction]`, RFC 3339, or epoch seconds.

use serde::{Deserialize, Serialize};

use crate::arrivals::Micros;

/// How a trace's time column is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum TimeFormat {
    /// Decide from the first row.
    #[default]
    Auto,
    /// `YYYY-MM-DD HH:MM:SS[.fraction]` (UTC) or RFC 3339 (`T`, `Z` or an offset).
    DateTime,
    /// Seconds since the Unix epoch, integer or fractional.
    EpochSeconds,
}

/// Parses one timestamp in the given format (`Auto` tries epoch seconds, then date-time).
pub fn parse(text: &str, format: TimeFormat) -> Result<Micros, String> {
    let t = text.trim();
    let us = parse_any(t, format)?;
    if us < 0 {
        return Err(format!(
            "{t:?} is before 1970-01-01T00:00:00Z; times are counted from the Unix epoch"
        ));
    }
    Ok(us)
}

fn parse_any(t: &str, format: TimeFormat) -> Result<Micros, String> {
    match format {
        TimeFormat::EpochSeconds => parse_epoch(t),
        TimeFormat::DateTime => parse_datetime(t),
        TimeFormat::Auto => parse_epoch(t).or_else(|_| parse_datetime(t)).map_err(|_| {
            format!(
                "{t:?} is neither epoch seconds nor `YYYY-MM-DD HH:MM:SS[.fraction]` / RFC 3339"
            )
        }),
    }
}

/// Which concrete format the first value is in.
#[must_use]
pub fn detect(text: &str) -> TimeFormat {
    if parse_epoch(text.trim()).is_ok() {
        TimeFormat::EpochSeconds
    } else {
        TimeFormat::DateTime
    }
}

fn parse_epoch(t: &str) -> Result<Micros, String> {
    let v: f64 = t
        .parse()
        .map_err(|_| format!("{t:?} is not epoch seconds"))?;
    if !(v.is_finite() && (0.0..1e12).contains(&v)) {
        return Err(format!("{t:?} is not a plausible epoch time in seconds"));
    }
    Ok((v * 1e6).round() as Micros)
}

fn digits(b: &[u8], from: usize, n: usize) -> Option<i64> {
    let s = b.get(from..from + n)?;
    s.iter().try_fold(0i64, |acc, &c| {
        c.is_ascii_digit().then(|| acc * 10 + i64::from(c - b'0'))
    })
}

// y, d, h, s are the date's own names.
#[allow(clippy::many_single_char_names)]
fn parse_datetime(t: &str) -> Result<Micros, String> {
    let bad = || format!("{t:?} is not `YYYY-MM-DD HH:MM:SS[.fraction]` or RFC 3339");
    let b = t.as_bytes();
    let (y, mo, d) = (digits(b, 0, 4), digits(b, 5, 2), digits(b, 8, 2));
    let (h, mi, s) = (digits(b, 11, 2), digits(b, 14, 2), digits(b, 17, 2));
    let (Some(y), Some(mo), Some(d), Some(h), Some(mi), Some(s)) = (y, mo, d, h, mi, s) else {
        return Err(bad());
    };
    if b.get(4) != Some(&b'-')
        || b.get(7) != Some(&b'-')
        || !matches!(b.get(10), Some(b' ' | b'T' | b't'))
        || b.get(13) != Some(&b':')
        || b.get(16) != Some(&b':')
        || !(1..=12).contains(&mo)
        || !(1..=31).contains(&d)
        || h > 23
        || mi > 59
        || s > 60
    {
        return Err(bad());
    }
    let mut i = 19;
    let mut micros = 0i64;
    if b.get(i) == Some(&b'.') {
        i += 1;
        let mut scale = 100_000i64;
        let start = i;
        while let Some(c) = b.get(i).filter(|c| c.is_ascii_digit()) {
            micros += i64::from(c - b'0') * scale;
            scale /= 10;
            i += 1;
        }
        if i == start {
            return Err(bad());
        }
    }
    let offset_s = match b.get(i) {
        None => 0,
        Some(b'Z' | b'z') if i + 1 == b.len() => 0,
        Some(&sign @ (b'+' | b'-')) => {
            let (Some(oh), Some(om)) = (digits(b, i + 1, 2), digits(b, i + 4, 2)) else {
                return Err(bad());
            };
            if b.get(i + 3) != Some(&b':') || i + 6 != b.len() {
                return Err(bad());
            }
            let o = oh * 3600 + om * 60;
            if sign == b'+' {
                o
            } else {
                -o
            }
        }
        _ => return Err(bad()),
    };
    let secs = stepscale_engine::clock::days_from_civil(y, mo, d) * 86_400 + h * 3600 + mi * 60 + s
        - offset_s;
    Ok(secs * 1_000_000 + micros)
}

/// Renders microseconds as RFC 3339 UTC with milliseconds.
#[must_use]
pub fn rfc3339(us: Micros) -> String {
    chrono::DateTime::from_timestamp_micros(us)
        .map(|d| d.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
        .unwrap_or_default()
}

/// Appends `us` as RFC 3339 UTC to the second (`1998-04-30T21:31:00Z`), the same text as
/// [`rfc3339`] without its allocation: the time-series writer's hot path.
pub fn push_rfc3339(out: &mut String, us: Micros) {
    let secs = us.div_euclid(1_000_000);
    let days = secs.div_euclid(86_400);
    let of_day = secs.rem_euclid(86_400);
    let (year, month, day) = stepscale_engine::clock::civil_from_days(days);
    if !(0..=9999).contains(&year) {
        out.push_str(&rfc3339(us));
        return;
    }
    let mut b = *b"0000-00-00T00:00:00Z";
    let mut put = |at: usize, width: usize, mut v: i64| {
        for i in (at..at + width).rev() {
            b[i] = b'0' + (v % 10) as u8;
            v /= 10;
        }
    };
    put(0, 4, year);
    put(5, 2, month);
    put(8, 2, day);
    put(11, 2, of_day / 3_600);
    put(14, 2, of_day / 60 % 60);
    put(17, 2, of_day % 60);
    // Only ASCII digits and separators were written.
    out.push_str(std::str::from_utf8(&b).unwrap_or_default());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_fast_writer_matches_chrono() {
        let mut rng = crate::rng::SimRng::new(7);
        let mut out = String::new();
        for t in [
            0,
            -1,
            893_971_860_000_000,
            951_782_400_000_000,     // 2000-02-29
            253_402_300_799_999_999, // 9999-12-31T23:59:59
            -62_135_596_800_000_000, // 0001-01-01
        ]
        .into_iter()
        .chain((0..20_000).map(|_| {
            // ±300 years around 1970, to the microsecond.
            ((rng.uniform() * 2.0 - 1.0) * 9_467_280_000_000_000.0) as i64
        })) {
            out.clear();
            push_rfc3339(&mut out, t);
            assert_eq!(out, rfc3339(t), "{t}");
        }
    }

    #[test]
    fn parses_the_shipped_formats() {
        let ws = parse("1998-04-30 21:30:00", TimeFormat::Auto).unwrap();
        assert_eq!(ws, 893_971_800_000_000);
        let az = parse("2023-11-16 18:15:46.6805900", TimeFormat::Auto).unwrap();
        assert_eq!(az % 1_000_000, 680_590);
        assert_eq!(
            parse("2023-11-16T18:15:46Z", TimeFormat::Auto).unwrap(),
            az - 680_590
        );
        assert_eq!(
            parse("2023-11-16T19:15:46+01:00", TimeFormat::Auto).unwrap(),
            az - 680_590
        );
        assert_eq!(
            parse("1700000000.5", TimeFormat::Auto).unwrap(),
            1_700_000_000_500_000
        );
        assert!(parse("yesterday", TimeFormat::Auto).is_err());
        assert!(parse("1998-13-30 21:30:00", TimeFormat::DateTime).is_err());
    }
}
