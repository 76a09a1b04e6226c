//! Consumer-group lag from per-partition offsets: the arithmetic, apart from any I/O.

use stepscale_engine::QueueSample;

use super::config::{Uncommitted, UsefulTasks};

/// What the brokers said about one partition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PartitionOffsets {
    /// The partition id.
    pub partition: i32,
    /// The low watermark: the oldest offset retention has kept.
    pub low: i64,
    /// The high watermark: the offset the next record will get.
    pub high: i64,
    /// The group's committed offset (the next record it will read), if it committed one.
    pub committed: Option<i64>,
}

impl PartitionOffsets {
    /// Records the group has yet to read in this partition.
    ///
    /// With a commit: `high − max(committed, low)`, never below 0. Records below the low
    /// watermark were deleted by retention, so they are no work; a commit above the high
    /// watermark (a recreated topic) counts 0. Without a commit, `rule` decides.
    #[must_use]
    pub fn lag(&self, rule: Uncommitted) -> u64 {
        let high = self.high.max(0);
        let low = self.low.clamp(0, high);
        let from = match (self.committed, rule) {
            (Some(committed), _) => committed.max(low),
            (None, Uncommitted::Earliest) => low,
            (None, Uncommitted::Latest) => high,
            (None, Uncommitted::Zero) => 0,
        };
        u64::try_from(high - from.min(high)).unwrap_or(0)
    }
}

/// The topic's lag for the group, as the engine takes it.
///
/// `visible` is the lag; `in_flight` is 0 because Kafka has no per-record leases (records a
/// worker fetched but has not committed are still lag); no arrival rate is reported.
#[must_use]
pub fn sample(
    partitions: &[PartitionOffsets],
    rule: Uncommitted,
    useful: UsefulTasks,
) -> QueueSample {
    let mut lag: u64 = 0;
    let mut lagging: u32 = 0;
    for p in partitions {
        let one = p.lag(rule);
        lag = lag.saturating_add(one);
        if one > 0 {
            lagging = lagging.saturating_add(1);
        }
    }
    let cap = match useful {
        UsefulTasks::Partitions => u32::try_from(partitions.len()).unwrap_or(u32::MAX),
        UsefulTasks::LaggingPartitions => lagging,
    };
    QueueSample {
        visible: lag,
        in_flight: 0,
        max_useful_tasks: Some(cap),
        ..QueueSample::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn offsets(low: i64, high: i64, committed: Option<i64>) -> PartitionOffsets {
        PartitionOffsets {
            partition: 0,
            low,
            high,
            committed,
        }
    }

    #[test]
    fn lag_per_partition_follows_the_commit_or_the_rule() {
        use Uncommitted::{Earliest, Latest, Zero};
        // (low, high, committed, rule, lag)
        let table = [
            (0, 10, Some(4), Earliest, 6),
            (0, 10, Some(10), Latest, 0),
            (0, 10, Some(12), Earliest, 0), // commit past the end: nothing to read
            (5, 10, Some(2), Earliest, 5),  // deleted records are no work
            (5, 10, None, Earliest, 5),
            (5, 10, None, Latest, 0),
            (5, 10, None, Zero, 10),
            (0, 0, None, Zero, 0),
            (-1, -1, None, Earliest, 0), // unknown watermarks never go negative
        ];
        for (low, high, committed, rule, expected) in table {
            assert_eq!(
                offsets(low, high, committed).lag(rule),
                expected,
                "{low} {high} {committed:?} {rule:?}"
            );
        }
    }

    #[test]
    fn sample_sums_lag_and_caps_useful_tasks() {
        let parts = [
            offsets(0, 10, Some(4)),
            offsets(0, 3, Some(3)),
            offsets(2, 7, None),
        ];
        let all = sample(&parts, Uncommitted::Earliest, UsefulTasks::Partitions);
        assert_eq!((all.visible, all.in_flight), (11, 0));
        assert_eq!(all.max_useful_tasks, Some(3));
        assert_eq!(all.arrival_rate_per_s, None);
        let lagging = sample(&parts, Uncommitted::Latest, UsefulTasks::LaggingPartitions);
        assert_eq!((lagging.visible, lagging.max_useful_tasks), (6, Some(1)));
        let none = sample(&[], Uncommitted::Earliest, UsefulTasks::LaggingPartitions);
        assert_eq!((none.visible, none.max_useful_tasks), (0, Some(0)));
    }
}
