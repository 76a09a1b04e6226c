//! Calendar time without a date crate, for both sides: civil dates, and RFC 3339 read and
//! written in micro- or milliseconds since the Unix epoch.

use std::fmt::Write as _;

/// The civil date (year, month 1-12, day 1-31) of `days` since 1970-01-01, proleptic
/// Gregorian (H. Hinnant's `civil_from_days`). [`days_from_civil`] is its inverse.
#[must_use]
pub fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    (yoe + era * 400 + i64::from(month <= 2), month, day)
}

/// Days from 1970-01-01 to the civil date `y`-`m`-`d` (month 1-12), proleptic Gregorian
/// (H. Hinnant's `days_from_civil`): the inverse of [`civil_from_days`].
#[must_use]
pub fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// What a timestamp must look like, for the error that refuses one.
pub const RFC3339_RULE: &str = "expected RFC 3339 (`2026-11-28T08:00:00Z`, with an optional fraction and a `Z` or `+hh:mm` offset; a space for the `T` and no offset, read as UTC, are accepted)";

fn digits(b: &[u8], from: usize, n: usize) -> Option<i64> {
    b.get(from..from + n)?.iter().try_fold(0i64, |acc, &c| {
        c.is_ascii_digit().then(|| acc * 10 + i64::from(c - b'0'))
    })
}

/// Parses `YYYY-MM-DD[T| ]HH:MM:SS[.fraction][Z|±hh:mm]` into microseconds since the epoch
/// (a fraction beyond microseconds is cut; no offset reads as UTC). Fields out of range,
/// trailing text and anything else are refused with [`RFC3339_RULE`].
// y, d, h, s are the date's own names.
#[allow(clippy::many_single_char_names)]
pub fn parse_rfc3339_us(text: &str) -> Result<i64, &'static str> {
    let b = text.trim().as_bytes();
    let field = |from, n| digits(b, from, n).ok_or(RFC3339_RULE);
    let (y, mo, d) = (field(0, 4)?, field(5, 2)?, field(8, 2)?);
    let (h, mi, s) = (field(11, 2)?, field(14, 2)?, field(17, 2)?);
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
        return Err(RFC3339_RULE);
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
            return Err(RFC3339_RULE);
        }
    }
    let offset_s = match b.get(i) {
        None => 0,
        Some(b'Z' | b'z') if i + 1 == b.len() => 0,
        Some(&sign @ (b'+' | b'-')) => {
            let (Some(oh), Some(om)) = (digits(b, i + 1, 2), digits(b, i + 4, 2)) else {
                return Err(RFC3339_RULE);
            };
            if b.get(i + 3) != Some(&b':') || i + 6 != b.len() || oh > 23 || om > 59 {
                return Err(RFC3339_RULE);
            }
            let o = oh * 3600 + om * 60;
            if sign == b'+' {
                o
            } else {
                -o
            }
        }
        _ => return Err(RFC3339_RULE),
    };
    let secs = days_from_civil(y, mo, d) * 86_400 + h * 3600 + mi * 60 + s - offset_s;
    Ok(secs * 1_000_000 + micros)
}

/// [`parse_rfc3339_us`] in milliseconds (a fraction beyond milliseconds is cut).
pub fn parse_rfc3339_ms(text: &str) -> Result<i64, &'static str> {
    parse_rfc3339_us(text).map(|us| us.div_euclid(1_000))
}

/// Appends the UTC date and time of second `secs` (`YYYY-MM-DDTHH:MM:SS`, without a zone).
/// Years outside 0..=9999 are written with a sign and as many digits as they need, as ISO
/// 8601's expanded years (and chrono) write them.
fn push_date_time(out: &mut String, secs: i64) {
    let days = secs.div_euclid(86_400);
    let of_day = secs.rem_euclid(86_400);
    let (year, month, day) = civil_from_days(days);
    if (0..=9999).contains(&year) {
        let mut b = *b"0000-";
        put(&mut b, 0, 4, year);
        out.push_str(std::str::from_utf8(&b).unwrap_or_default());
    } else {
        let sign = if year < 0 { '-' } else { '+' };
        // Writing to a String cannot fail.
        let _ = write!(out, "{sign}{:04}-", year.unsigned_abs());
    }
    write_tail(out, month, day, of_day);
}

/// Writes `v` as `width` digits at `at`.
fn put(b: &mut [u8], at: usize, width: usize, mut v: i64) {
    for i in (at..at + width).rev() {
        b[i] = b'0' + (v % 10) as u8;
        v /= 10;
    }
}

/// `MM-DDTHH:MM:SS`.
fn write_tail(out: &mut String, month: i64, day: i64, of_day: i64) {
    let mut b = *b"00-00T00:00:00";
    put(&mut b, 0, 2, month);
    put(&mut b, 3, 2, day);
    put(&mut b, 6, 2, of_day / 3_600);
    put(&mut b, 9, 2, of_day / 60 % 60);
    put(&mut b, 12, 2, of_day % 60);
    // Only ASCII digits and separators were written.
    out.push_str(std::str::from_utf8(&b).unwrap_or_default());
}

/// Appends `us` as RFC 3339 UTC to the second (`1998-04-30T21:31:00Z`), without allocating:
/// the simulator's time-series writer calls it once a row.
pub fn push_rfc3339_secs(out: &mut String, us: i64) {
    push_date_time(out, us.div_euclid(1_000_000));
    out.push('Z');
}

/// `us` as RFC 3339 UTC to the second.
#[must_use]
pub fn rfc3339_secs(us: i64) -> String {
    let mut out = String::with_capacity(20);
    push_rfc3339_secs(&mut out, us);
    out
}

/// `ms` as RFC 3339 UTC with milliseconds (`2026-11-28T08:00:00.250Z`): what the live side
/// records, so that a replay lines each decision up with the simulated one.
#[must_use]
pub fn rfc3339_millis(ms: i64) -> String {
    let mut out = String::with_capacity(24);
    push_date_time(&mut out, ms.div_euclid(1_000));
    let frac = ms.rem_euclid(1_000);
    out.push('.');
    let mut b = *b"000";
    put(&mut b, 0, 3, frac);
    out.push_str(std::str::from_utf8(&b).unwrap_or_default());
    out.push('Z');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn days_and_civil_dates_are_inverses() {
        for days in (-800_000..800_000).step_by(37) {
            let (y, m, d) = civil_from_days(days);
            assert_eq!(days_from_civil(y, m, d), days, "{y}-{m}-{d}");
        }
        assert_eq!(days_from_civil(1970, 1, 1), 0);
        assert_eq!(days_from_civil(2000, 3, 1), 11_017);
    }

    #[test]
    fn parses_what_users_write() {
        let base = parse_rfc3339_us("2023-11-16T18:15:46Z").unwrap();
        assert_eq!(base, 1_700_158_546_000_000);
        for (text, want) in [
            ("2023-11-16 18:15:46", base),
            ("2023-11-16t18:15:46z", base),
            ("2023-11-16T19:15:46+01:00", base),
            ("2023-11-16T17:15:46-01:00", base),
            ("2023-11-16 18:15:46.6805900", base + 680_590),
            ("  2023-11-16T18:15:46.5Z ", base + 500_000),
        ] {
            assert_eq!(parse_rfc3339_us(text), Ok(want), "{text}");
        }
        assert_eq!(
            parse_rfc3339_ms("2023-11-16T18:15:46.6809Z"),
            Ok(1_700_158_546_680)
        );
        assert_eq!(parse_rfc3339_ms("1969-12-31T23:59:59.999Z"), Ok(-1));
        for bad in [
            "",
            "yesterday",
            "2023-13-16T18:15:46Z",
            "2023-11-16T24:15:46Z",
            "2023-11-16T18:15:46.Z",
            "2023-11-16T18:15:46Zjunk",
            "2023-11-16T18:15:46+0100",
            "2023-11-16T18:15:46+01:00x",
            "2023-11-16T18:15",
            "éaéé",
            "2023-11-16T18:15:4é",
        ] {
            assert!(parse_rfc3339_us(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn writes_read_back_and_cover_every_year() {
        let ms = 1_700_158_546_250;
        assert_eq!(rfc3339_millis(ms), "2023-11-16T18:15:46.250Z");
        assert_eq!(parse_rfc3339_ms(&rfc3339_millis(ms)), Ok(ms));
        assert_eq!(rfc3339_secs(ms * 1_000 + 999), "2023-11-16T18:15:46Z");
        assert_eq!(rfc3339_millis(-1), "1969-12-31T23:59:59.999Z");
        assert_eq!(rfc3339_secs(0), "1970-01-01T00:00:00Z");
        // Outside four-digit years: a sign and the digits the year needs.
        let far = days_from_civil(33_658, 9, 27) * 86_400_000_000;
        assert_eq!(rfc3339_secs(far), "+33658-09-27T00:00:00Z");
        let early = days_from_civil(-1, 1, 1) * 86_400_000_000;
        assert_eq!(rfc3339_secs(early), "-0001-01-01T00:00:00Z");
        // Every second of a span of days round-trips.
        for secs in (0..4 * 86_400).step_by(997) {
            let us = 951_782_400_000_000 + i64::from(secs) * 1_000_000;
            assert_eq!(parse_rfc3339_us(&rfc3339_secs(us)), Ok(us));
        }
    }
}
