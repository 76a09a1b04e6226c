//! `timeseries.csv`: its header and one row's line, written without the formatting machinery.

use super::Row;

/// The header of `timeseries.csv`.
pub const CSV_HEADER: &str =
    "t,arrivals,backlog,in_flight,desired,running,pending,action,oldest_age_s,demand\n";

/// One `timeseries.csv` line (without the newline). The same text as `format!` with `{:.3}`
/// and `{}` would give, written without the formatting machinery (most of a long backtest's
/// time went there).
pub fn csv_line(out: &mut String, r: &Row) {
    stepscale_engine::time::push_rfc3339_secs(out, r.t_us);
    for v in [r.arrivals, r.backlog, r.in_flight] {
        out.push(',');
        push_fixed3(out, v);
    }
    for v in [r.desired, r.running, r.pending] {
        out.push(',');
        push_u64(out, u64::from(v));
    }
    out.push(',');
    out.push_str(r.action.map_or("", stepscale_engine::Action::as_str));
    out.push(',');
    push_fixed3(out, r.oldest_age_s);
    out.push(',');
    push_u64(out, u64::from(r.demand));
}

/// Appends `v` in decimal.
pub(super) fn push_u64(out: &mut String, mut v: u64) {
    let mut b = [0u8; 20];
    let mut i = b.len();
    loop {
        i -= 1;
        b[i] = b'0' + (v % 10) as u8;
        v /= 10;
        if v == 0 {
            break;
        }
    }
    out.push_str(std::str::from_utf8(&b[i..]).unwrap_or_default());
}

/// Appends `x` with three decimals, exactly as `{:.3}` does. The scaled value is rounded in
/// integers; where that could differ from `{:.3}`'s exact decimal rounding (within 0.01 of a
/// half thousandth, a negative value that rounds to zero, magnitudes of 1e9 and beyond, non-finite
/// values) the standard formatter writes it. Below 1e12 the product's rounding error is under
/// 0.001, so the integer rounding lands where the exact one does.
pub(super) fn push_fixed3(out: &mut String, x: f64) {
    use std::fmt::Write as _;
    let y = x * 1000.0;
    let frac = y - y.floor();
    if y.is_nan() || y.abs() >= 1e12 || (frac - 0.5).abs() < 0.01 {
        let _ = write!(out, "{x:.3}");
        return;
    }
    let m = y.round() as i64;
    if m == 0 && x.is_sign_negative() {
        let _ = write!(out, "{x:.3}");
        return;
    }
    if m < 0 {
        out.push('-');
    }
    let m = m.unsigned_abs();
    push_u64(out, m / 1000);
    out.push('.');
    let f = m % 1000;
    out.push(char::from(b'0' + (f / 100) as u8));
    out.push(char::from(b'0' + (f / 10 % 10) as u8));
    out.push(char::from(b'0' + (f % 10) as u8));
}

#[cfg(test)]
mod csv_tests {
    use super::push_fixed3;

    #[test]
    fn fixed3_writes_what_the_standard_formatter_writes() {
        let mut rng = crate::rng::SimRng::new(11);
        let mut out = String::new();
        let specials = [
            0.0,
            -0.0,
            0.0005,
            -0.0005,
            0.0015,
            2.5e-4,
            -2.5e-4,
            1.0005,
            999.9995,
            1e12,
            1e15,
            -1e15,
            1e300,
            f64::NAN,
            f64::INFINITY,
            f64::NEG_INFINITY,
            123.456_499_999,
        ];
        let random = (0..200_000).map(|i| {
            let x = rng.next_u64();
            // Magnitudes from 1e-6 to 1e13, both signs, and exact thousandths.
            let mantissa = rng.uniform();
            let v = mantissa * 10f64.powi((x % 20) as i32 - 6);
            match i % 3 {
                0 => v,
                1 => -v,
                _ => (x % 10_000_000) as f64 / 1000.0,
            }
        });
        for v in specials.into_iter().chain(random) {
            out.clear();
            push_fixed3(&mut out, v);
            assert_eq!(out, format!("{v:.3}"), "{v:e}");
        }
    }
}
