//! Redis streams: a consumer group's lag and pending count, with a counted fallback when lag is unknown.
//!
//! `XINFO GROUPS` (Redis 7+) gives `lag`, the entries not yet delivered to the group, and
//! `pending`, the entries delivered and not yet acknowledged. `lag` is nil after an `XDEL`
//! inside the group's unread range, and absent before Redis 7; then the unread entries are
//! counted:
//!
//! `visible = |{ e in stream : id(e) > last-delivered-id(group) }|`
//!
//! which is `XLEN` when the group has delivered nothing (`0-0`), 0 when the newest entry
//! (`XREVRANGE + - COUNT 1`) is at or before the group's position, and otherwise counted by
//! paging `XRANGE key <position> + COUNT 1000` forward. The scan costs one round trip per
//! 1000 unread entries and is bounded by `timeout_secs`.

use std::time::Instant;

use redis::streams::{StreamInfoGroupsReply, StreamRangeReply};
use stepscale_engine::QueueSample;
use tracing::debug;

use super::connect::Redis;
use crate::ProbeError;

/// Entries fetched per `XRANGE` page of the fallback count.
const PAGE: usize = 1000;

/// A stream entry id `ms-seq`, ordered as Redis orders them.
type EntryId = (u64, u64);

/// Reads `group` on the stream `key` (the stream's only group when `group` is none):
/// `visible` is the group's lag, `in_flight` its pending count.
pub(super) async fn read_group(
    redis: &Redis,
    key: &str,
    group: Option<&str>,
) -> Result<QueueSample, ProbeError> {
    let reply: StreamInfoGroupsReply = redis
        .query(redis::cmd("XINFO").arg("GROUPS").arg(key))
        .await?;
    let mut groups = reply.groups;
    let info = match group {
        Some(name) => groups.into_iter().find(|g| g.name == name),
        // v0.2's environment has no group setting: a stream with one group needs none.
        None if groups.len() > 1 => {
            let names: Vec<String> = groups.into_iter().map(|g| g.name).collect();
            return Err(ProbeError::Config(format!(
                "stream {key} has consumer groups {}; set `consumer_group` to one of them",
                names.join(", ")
            )));
        }
        None => groups.pop(),
    };
    let Some(info) = info else {
        return Err(ProbeError::NotFound {
            what: "consumer group",
            name: format!("{} (stream {key})", group.unwrap_or("any")),
        });
    };
    let group = info.name.as_str();
    let visible = if let Some(lag) = info.lag {
        lag as u64
    } else {
        let counted = count_after(redis, key, &info.last_delivered_id).await?;
        debug!(
            key = %key,
            group = %group,
            last_delivered_id = %info.last_delivered_id,
            counted,
            "Lag unknown; counted unread entries."
        );
        counted
    };
    Ok(QueueSample {
        visible,
        in_flight: info.pending as u64,
        ..QueueSample::default()
    })
}

/// The number of entries of `key` after `last_delivered` (see the module doc).
async fn count_after(redis: &Redis, key: &str, last_delivered: &str) -> Result<u64, ProbeError> {
    let mut after = parse_id(redis, last_delivered)?;
    if after == (0, 0) {
        return redis.query(redis::cmd("XLEN").arg(key)).await;
    }
    let newest: StreamRangeReply = redis
        .query(
            redis::cmd("XREVRANGE")
                .arg(key)
                .arg("+")
                .arg("-")
                .arg("COUNT")
                .arg(1),
        )
        .await?;
    match newest.ids.first() {
        None => return Ok(0),
        Some(entry) if parse_id(redis, &entry.id)? <= after => return Ok(0),
        Some(_) => {}
    }
    let deadline = Instant::now() + redis.timeout();
    let mut start = last_delivered.to_string();
    let mut count = 0_u64;
    loop {
        if Instant::now() > deadline {
            return Err(ProbeError::Timeout {
                target: format!("{} (counting stream {key})", redis.target()),
                secs: redis.timeout().as_secs(),
            });
        }
        // An inclusive start works on every Redis version; the entry at `start` itself was
        // counted already (or is the group's position) and is skipped below.
        let page: StreamRangeReply = redis
            .query(
                redis::cmd("XRANGE")
                    .arg(key)
                    .arg(&start)
                    .arg("+")
                    .arg("COUNT")
                    .arg(PAGE),
            )
            .await?;
        for entry in &page.ids {
            if parse_id(redis, &entry.id)? > after {
                count += 1;
            }
        }
        match page.ids.last() {
            Some(last) if page.ids.len() == PAGE => {
                after = parse_id(redis, &last.id)?;
                start.clone_from(&last.id);
            }
            _ => return Ok(count),
        }
    }
}

fn parse_id(redis: &Redis, id: &str) -> Result<EntryId, ProbeError> {
    parse_entry_id(id).ok_or_else(|| ProbeError::Other {
        target: redis.target().to_string(),
        detail: format!("unexpected stream entry id {id:?}"),
    })
}

/// `ms-seq` as numbers; a bare `ms` counts as sequence 0.
fn parse_entry_id(id: &str) -> Option<EntryId> {
    match id.split_once('-') {
        Some((ms, seq)) => Some((ms.parse().ok()?, seq.parse().ok()?)),
        None => Some((id.parse().ok()?, 0)),
    }
}

#[cfg(test)]
mod tests {
    use super::parse_entry_id;

    #[test]
    fn entry_ids_parse_and_order_as_redis_orders_them() {
        assert_eq!(parse_entry_id("0-0"), Some((0, 0)));
        assert_eq!(
            parse_entry_id("1700000000000-12"),
            Some((1_700_000_000_000, 12))
        );
        assert_eq!(parse_entry_id("5"), Some((5, 0)));
        assert_eq!(parse_entry_id("x-1"), None);
        assert!(parse_entry_id("10-2") > parse_entry_id("9-99"));
        assert!(parse_entry_id("10-10") > parse_entry_id("10-9"));
    }
}
