//! The figures' geometry: no series leaves its panel, ticks fall at round times.

use chrono::{DateTime, Datelike, Timelike};
use plotters::coord::Shift;
use plotters::prelude::*;

use super::axis::TimeAxis;
use super::backtest::Backtest;
use super::compare::Compare;
use super::envelope::per_column;
use super::panel::{gentle_pieces, PixelArea};
use super::*;
use crate::model::{Envelope, Row};

fn row(t_us: i64, v: f64) -> Row {
    let n = v.clamp(0.0, 1e6) as u32;
    Row {
        t_us,
        arrivals: v,
        backlog: v * 7.0,
        in_flight: 0.0,
        desired: n,
        running: n,
        pending: n / 3,
        action: None,
        oldest_age_s: v,
        demand: n / 2,
        task_hours: v,
    }
}

/// A spiky envelope: quiet, then alternating extremes, a NaN and an infinity.
fn spiky(start_us: i64, buckets: i64) -> Envelope {
    let mut env = Envelope::default();
    for i in 0..buckets {
        let t = start_us + i * 60_000_000;
        let hi = match i % 97 {
            0 => 5000.0,
            1 => 0.0,
            _ if i > buckets / 2 => 300.0 * f64::from(u8::from(i % 2 == 0)),
            _ => 3.0,
        };
        let hi = if i == 10 {
            f64::NAN
        } else if i == 20 {
            f64::INFINITY
        } else {
            hi
        };
        env.max.push(row(t, hi));
        env.min.push(row(t, if i % 5 == 0 { 0.0 } else { 1.0 }));
    }
    env
}

/// Renders `figure` into memory; returns the pixels and the panels' plotting areas.
fn render(
    panel_count: usize,
    draw: impl Fn(&DrawingArea<BitMapBackend<'_>, Shift>) -> Result<Vec<PixelArea>, String>,
) -> (Vec<u8>, Vec<PixelArea>) {
    register_font();
    let h = height(panel_count);
    let mut buf = vec![0_u8; (WIDTH * h * 3) as usize];
    let areas = {
        let root = BitMapBackend::with_buffer(&mut buf, (WIDTH, h)).into_drawing_area();
        draw(&root).expect("drawn")
    };
    (buf, areas)
}

/// Coloured pixels (not black, white or grey) outside every plotting area: lines that
/// crossed out of their panel. Strokes may overhang their area by `slack` pixels.
fn strays(buf: &[u8], areas: &[PixelArea], slack: i32) -> usize {
    let mut n = 0;
    let h = (buf.len() / 3 / WIDTH as usize) as i32;
    for y in 0..h {
        for x in 0..WIDTH as i32 {
            let inside = areas.iter().any(|(xs, ys)| {
                (xs.start - slack..xs.end + slack).contains(&x)
                    && (ys.start - slack..ys.end + slack).contains(&y)
            });
            let at = ((y as u32 * WIDTH + x as u32) * 3) as usize;
            let rgb = &buf[at..at + 3];
            let spread = rgb.iter().max().unwrap_or(&0) - rgb.iter().min().unwrap_or(&0);
            if !inside && spread > 60 {
                n += 1;
            }
        }
    }
    n
}

#[test]
fn no_series_leaves_its_panel_and_every_panel_shares_the_x_pixels() {
    let start = 896_563_800_000_000; // 1998-05-30T21:30:00Z
    let env = spiky(start, 4096);
    for (cost, n) in [(None, 3), (Some(0.05), 4)] {
        let bt = Backtest {
            title: "t",
            env: &env,
            start_us: start,
            resolution_s: 60.0,
            slo_s: 30.0,
            cost_per_task_hour: cost,
        };
        assert_eq!(bt.panel_count(), n);
        let (buf, areas) = render(n, |root| bt.panels(root));
        assert_eq!(areas.len(), n);
        eprintln!("plotting areas: {areas:?}");
        assert!(areas.iter().all(|a| a.0 == areas[0].0), "{areas:?}");
        assert_eq!(strays(&buf, &areas, 3), 0);
    }
    let runs = [
        ("a".to_string(), env.clone()),
        ("b".to_string(), spiky(start, 300)),
    ];
    let cmp = Compare {
        title: "t",
        runs: &runs,
        start_us: start,
        slo_s: 30.0,
        cost_per_task_hour: 0.05,
    };
    let (buf, areas) = render(cmp.panel_count(), |root| cmp.panels(root));
    // Four panels, then the key strip (its coloured keys are meant to be there).
    assert_eq!(areas.len(), 5);
    assert!(areas[..4].iter().all(|a| a.0 == areas[0].0), "{areas:?}");
    assert!(
        areas[4].0.start >= areas[0].0.end,
        "the key is beside the panels"
    );
    assert_eq!(strays(&buf, &areas, 3), 0);
}

#[test]
fn ticks_fall_at_round_utc_times_with_labels_for_the_span() {
    let at = |s: &str| {
        DateTime::parse_from_rfc3339(s)
            .expect("a time")
            .timestamp_micros()
    };
    let cases = [
        ("1998-04-30T21:30:00Z", 87.0 * 86_400.0, "1998-05-04"),
        ("2026-01-05T00:00:00Z", 2.0 * 86_400.0, "Jan 05 2026"),
        ("2026-01-05T00:00:00Z", 7_200.0, "Jan 05 2026"),
        ("2026-01-05T00:07:00Z", 3_000.0, "00:10"),
    ];
    for (start, span, first) in cases {
        let axis = TimeAxis::new(at(start), span);
        assert!(
            (3..=MAX_TICKS).contains(&axis.ticks.len()),
            "{start} {span}: {:?}",
            axis.ticks
        );
        assert_eq!(axis.label(axis.ticks[0]), first, "{start} {span}");
        let step = axis.ticks[1] - axis.ticks[0];
        for &t in &axis.ticks {
            let time = axis.time(t).expect("a time");
            assert_eq!(time.timestamp() % 300, 0, "{time}");
            assert!(
                ((t - axis.ticks[0]) % step).abs() < 1e-9,
                "{start}: even steps"
            );
        }
        assert!(axis.desc().starts_with("time (UTC), "), "{}", axis.desc());
    }
    let long = TimeAxis::new(at("1998-04-30T21:30:00Z"), 87.0 * 86_400.0);
    assert!(long.ticks.iter().all(|&t| long
        .time(t)
        .is_some_and(|d| d.weekday() == chrono::Weekday::Mon && d.hour() == 0)));
}

#[test]
fn columns_keep_each_pixels_lowest_and_highest() {
    let points: Vec<(f64, f64, f64)> = (0..10_000)
        .map(|i| {
            let v = match i {
                4242 => 900.0,
                777 => -5.0,
                _ => 10.0,
            };
            (f64::from(i), v, v)
        })
        .collect();
    let cols = per_column(&points, &(0.0..10_000.0), 100);
    assert_eq!(cols.len(), 100);
    assert!((cols[42].2 - 900.0).abs() < 1e-9);
    assert!((cols[7].1 + 5.0).abs() < 1e-9);
    assert!(cols.iter().all(|c| c.1 <= c.2));
    assert_eq!(per_column(&points[..50], &(0.0..10_000.0), 100).len(), 50);
}

#[test]
fn pieces_never_turn_back_sharply() {
    let zigzag: Vec<(f64, f64)> = (0..40)
        .map(|i| (f64::from(i / 2), f64::from((i % 2) * 100)))
        .collect();
    let pixel = |p: &(f64, f64)| ((p.0 * 3.0) as i32, -(p.1 as i32));
    let pieces = gentle_pieces(&zigzag, pixel);
    assert!(pieces.len() > 10);
    for piece in &pieces {
        let px: Vec<(i32, i32)> = piece.iter().map(pixel).collect();
        for w in px.windows(3) {
            let (u, v) = (
                (w[1].0 - w[0].0, w[1].1 - w[0].1),
                (w[2].0 - w[1].0, w[2].1 - w[1].1),
            );
            assert!(u.0 * v.0 + u.1 * v.1 >= 0, "{w:?}");
        }
    }
}
