//! A trace's time column: epoch seconds, or a date and time read by the engine's RFC 3339
//! parser (`stepscale_engine::time`).

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

fn parse_datetime(t: &str) -> Result<Micros, String> {
    stepscale_engine::time::parse_rfc3339_us(t)
        .map_err(|_| format!("{t:?} is not `YYYY-MM-DD HH:MM:SS[.fraction]` or RFC 3339"))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The engine's writer gives chrono's text, over ±300 years and the trace limits.
    #[test]
    fn the_engines_rfc3339_writer_matches_chrono() {
        let mut rng = crate::rng::SimRng::new(7);
        let chrono_text = |us: i64| {
            chrono::DateTime::from_timestamp_micros(us)
                .map(|d| d.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
                .unwrap_or_default()
        };
        for t in [
            0,
            -1,
            893_971_860_000_000,
            951_782_400_000_000,     // 2000-02-29
            253_402_300_799_999_999, // 9999-12-31T23:59:59
            -62_135_596_800_000_000, // 0001-01-01
            999_999_999_999_000_000, // the latest epoch time a trace may hold
        ]
        .into_iter()
        .chain((0..20_000).map(|_| {
            // ±300 years around 1970, to the microsecond.
            ((rng.uniform() * 2.0 - 1.0) * 9_467_280_000_000_000.0) as i64
        })) {
            assert_eq!(
                stepscale_engine::time::rfc3339_secs(t),
                chrono_text(t),
                "{t}"
            );
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
