//! The plot envelope: the rows reduced to a bounded number of buckets, each keeping its rows'
//! highest and lowest values, however long the run.

use super::Row;

/// Rows in the plot envelope, at most.
pub const ENVELOPE_ROWS: usize = 4096;

/// The rows reduced to at most [`ENVELOPE_ROWS`] buckets of equal row counts (the last may be
/// partial). Bucket `i` is `max[i]` and `min[i]`: the field-wise maximum and minimum of its
/// rows, both at the time of the bucket's first row, so a plot keeps the spikes and the quiet
/// periods' minima alike.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Envelope {
    /// Field-wise maximum per bucket (the last action of the bucket).
    pub max: Vec<Row>,
    /// Field-wise minimum per bucket (the last action of the bucket).
    pub min: Vec<Row>,
}

/// Builds an [`Envelope`] as rows come; a full envelope merges neighbours and doubles its
/// bucket.
#[derive(Debug, Clone, Default)]
pub(super) struct EnvelopeBuilder {
    pub(super) env: Envelope,
    per_bucket: usize,
    in_last: usize,
}

/// `a` merged field by field with `b` by `pick` (max or min); the later action wins.
pub(super) fn merge(a: &mut Row, b: &Row, pick: fn(f64, f64) -> f64) {
    let whole = |x: u32, y: u32| pick(f64::from(x), f64::from(y)) as u32;
    a.arrivals = pick(a.arrivals, b.arrivals);
    a.backlog = pick(a.backlog, b.backlog);
    a.in_flight = pick(a.in_flight, b.in_flight);
    a.desired = whole(a.desired, b.desired);
    a.running = whole(a.running, b.running);
    a.pending = whole(a.pending, b.pending);
    a.oldest_age_s = pick(a.oldest_age_s, b.oldest_age_s);
    a.demand = whole(a.demand, b.demand);
    a.task_hours = pick(a.task_hours, b.task_hours);
    if b.action.is_some() {
        a.action = b.action;
    }
}

pub(super) fn merge_max(a: &mut Row, b: &Row) {
    merge(a, b, f64::max);
}

pub(super) fn merge_min(a: &mut Row, b: &Row) {
    merge(a, b, f64::min);
}

/// Merges neighbouring buckets pairwise with `merge`.
pub(super) fn halve(buckets: &[Row], merge: fn(&mut Row, &Row)) -> Vec<Row> {
    buckets
        .chunks(2)
        .map(|c| {
            let mut r = c[0];
            if let Some(b) = c.get(1) {
                merge(&mut r, b);
            }
            r
        })
        .collect()
}

impl EnvelopeBuilder {
    pub(super) fn push(&mut self, row: &Row) {
        if self.per_bucket == 0 {
            self.per_bucket = 1;
        }
        let in_last = self.in_last < self.per_bucket;
        match (self.env.max.last_mut(), self.env.min.last_mut()) {
            (Some(hi), Some(lo)) if in_last => {
                merge_max(hi, row);
                merge_min(lo, row);
                self.in_last += 1;
            }
            _ => {
                if self.env.max.len() == ENVELOPE_ROWS {
                    self.env.max = halve(&self.env.max, merge_max);
                    self.env.min = halve(&self.env.min, merge_min);
                    self.per_bucket *= 2;
                    // The last bucket is full after a merge (ENVELOPE_ROWS is even).
                }
                self.env.max.push(*row);
                self.env.min.push(*row);
                self.in_last = 1;
            }
        }
    }
}

#[cfg(test)]
mod envelope_tests {
    use super::{EnvelopeBuilder, Row, ENVELOPE_ROWS};

    fn row(t_us: i64, v: u32) -> Row {
        Row {
            t_us,
            arrivals: f64::from(v),
            backlog: f64::from(v),
            in_flight: 0.0,
            desired: v,
            running: v,
            pending: 0,
            action: None,
            oldest_age_s: f64::from(v),
            demand: v,
            task_hours: f64::from(v),
        }
    }

    #[test]
    fn buckets_keep_the_highest_and_the_lowest_of_their_rows() {
        let mut b = EnvelopeBuilder::default();
        let n = ENVELOPE_ROWS * 5 + 3;
        for i in 0..n {
            // Quiet at 10, with one spike and one dip.
            let v = match i {
                7_000 => 500,
                9_001 => 1,
                _ => 10,
            };
            b.push(&row(i as i64, v));
        }
        let env = b.env;
        assert!(env.max.len() <= ENVELOPE_ROWS && env.max.len() > ENVELOPE_ROWS / 2);
        assert_eq!(env.max.len(), env.min.len());
        assert!(env.max.iter().zip(&env.min).all(|(h, l)| h.t_us == l.t_us));
        assert_eq!(env.max.iter().map(|r| r.running).max(), Some(500));
        assert_eq!(env.min.iter().map(|r| r.running).min(), Some(1));
        // Away from the spike and the dip, both sides read the quiet level.
        assert_eq!(
            env.min.iter().filter(|r| r.running == 10).count(),
            env.min.len() - 1
        );
        assert_eq!(
            env.max.iter().filter(|r| r.running == 10).count(),
            env.max.len() - 1
        );
    }
}
