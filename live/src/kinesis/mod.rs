//! Amazon Kinesis probe: records behind per shard from MillisBehindLatest, shard count as a cap.
//!
//! Kinesis keeps no per-consumer position the probe can read, so the backlog is estimated:
//! a time lag (how far behind the tip the consumer is) times the rate records come in.
//!
//! - `lag_source = "shard_iterator"` (default): for each open shard, GetShardIterator at
//!   `iterator_type` and GetRecords (Limit 1); `MillisBehindLatest` is that position's lag.
//! - `lag_source = "iterator_age"`: CloudWatch `GetRecords.IteratorAgeMilliseconds`
//!   (Maximum), published by the stream's real consumers.
//!
//! The rate is CloudWatch `IncomingRecords` (Sum over the window / window seconds), or the
//! configured `records_per_second_per_shard` when CloudWatch cannot be read. The number of
//! open shards (ListShards) times `tasks_per_shard` caps the useful task count.

mod config;
mod probe;

pub use probe::{KinesisProbe, KinesisReading, ShardLag};

/// Estimated records behind for a lag of `millis_behind` at `rate_per_s` records per second:
/// 0 when caught up, otherwise `max(1, ceil(millis_behind / 1000 × rate_per_s))`.
///
/// A lag above 0 means at least one record is unread, hence the floor of 1, which also keeps
/// a lagging consumer from reading as idle when no record came in during the rate window.
#[must_use]
pub fn records_behind(millis_behind: u64, rate_per_s: f64) -> u64 {
    if millis_behind == 0 {
        return 0;
    }
    // Multiply before dividing: `70 / 1000 * 100` is 7.000000000000001 in f64, and the
    // ceiling would turn that into 8.
    let estimate = (millis_behind as f64 * rate_per_s.max(0.0) / 1000.0).ceil();
    if estimate.is_finite() {
        (estimate as u64).max(1)
    } else {
        1
    }
}

#[cfg(test)]
mod tests {
    use super::records_behind;

    #[test]
    fn records_behind_is_lag_times_rate_rounded_up_with_a_floor_of_one() {
        for (millis, rate, expected) in [
            (0, 100.0, 0),
            (0, 0.0, 0),
            (1, 0.0, 1),
            (1_500, 0.0, 1),
            (1_500, 10.0, 15),
            (70, 100.0, 7),
            (1_090, 100.0, 109),
            (1_501, 10.0, 16),
            (30_000, 200.0, 6_000),
            (10, 0.01, 1),
            (5_000, f64::NAN, 1),
            (5_000, -3.0, 1),
        ] {
            assert_eq!(
                records_behind(millis, rate),
                expected,
                "{millis} ms at {rate}/s"
            );
        }
    }
}
