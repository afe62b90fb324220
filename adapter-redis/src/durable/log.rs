//! The durable log in Redis: a stream of every reliable broadcast, each entry appended and
//! told in one script, so that the order told is the order logged; and how a node reads it
//! back.

use std::fmt;

use bytes::Bytes;
use redis::Value;
use serde::{Deserialize, Serialize};

use crate::bus::Keys;
use crate::link::{Batch, Link};
use crate::wire::{self, DurableBroadcast, Envelope, kind};

/// Appends an entry and tells it (`PUBLISH`, or on a Cluster `SPUBLISH` on the log's shard),
/// naming the entry before it, so a node that missed one notices. One script, so no other
/// entry comes between the append and the telling.
const APPEND: &str = r"
local prev = redis.call('GET', KEYS[2]) or '0-0'
local id = redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[1], '*', 'm', ARGV[2])
redis.call('SET', KEYS[2], id)
redis.call(ARGV[4], ARGV[3], prev .. ' ' .. id .. ' ' .. ARGV[2])
return id
";

/// Entries read per round trip when a node reads the log back.
const PAGE: usize = 1024;

/// Adds the append of `message`, an encoded [`Envelope`], to a batch.
pub(crate) fn append(
    commands: &mut Batch,
    keys: &Keys,
    log_len: usize,
    message: &[u8],
    sharded: bool,
) {
    let log = keys.durable_log();
    let mut cmd = redis::cmd("EVAL");
    cmd.arg(APPEND)
        .arg(2)
        .arg(&log)
        .arg(keys.durable_last())
        .arg(log_len)
        .arg(message)
        .arg(keys.durable_channel())
        .arg(if sharded { "SPUBLISH" } else { "PUBLISH" });
    commands.add(&log, cmd);
}

/// An entry's id in the log: Redis's milliseconds and sequence number, in the log's order.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub(crate) struct EntryId(u64, u64);

impl EntryId {
    pub(crate) fn parse(text: &[u8]) -> Option<Self> {
        let text = std::str::from_utf8(text).ok()?;
        let (ms, seq) = text.split_once('-')?;
        Some(Self(ms.parse().ok()?, seq.parse().ok()?))
    }
}

impl fmt::Display for EntryId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}", self.0, self.1)
    }
}

/// One entry as told on the channel: the entry before it, its id, and its envelope.
pub(crate) fn parse_told(message: &[u8]) -> Option<(EntryId, EntryId, &[u8])> {
    let mut parts = message.splitn(3, |byte| *byte == b' ');
    let prev = EntryId::parse(parts.next()?)?;
    let id = EntryId::parse(parts.next()?)?;
    Some((prev, id, parts.next()?))
}

/// Decodes an entry's envelope: the node that published it, and the entry; `None` for
/// anything but a durable broadcast.
pub(crate) fn decode_entry(envelope: &[u8]) -> Option<(u64, DurableBroadcast)> {
    let envelope: Envelope = wire::decode(envelope).ok()?;
    if envelope.kind != kind::DURABLE {
        return None;
    }
    Some((envelope.origin, wire::decode(&envelope.body).ok()?))
}

/// The id of the newest entry ever appended (`0-0` before the first).
pub(crate) async fn newest(conn: &mut Link, keys: &Keys) -> redis::RedisResult<EntryId> {
    let last: Option<Vec<u8>> = redis::cmd("GET")
        .arg(keys.durable_last())
        .query_async(conn)
        .await?;
    Ok(last.and_then(|id| EntryId::parse(&id)).unwrap_or_default())
}

/// Whether the log still holds every entry after `after`: Redis trimmed none of them.
pub(crate) async fn holds_after(
    conn: &mut Link,
    keys: &Keys,
    after: EntryId,
) -> redis::RedisResult<bool> {
    let exists: bool = redis::cmd("EXISTS")
        .arg(keys.durable_log())
        .query_async(conn)
        .await?;
    if !exists {
        // No log yet: nothing was ever trimmed from it.
        return Ok(true);
    }
    let info: Value = redis::cmd("XINFO")
        .arg("STREAM")
        .arg(keys.durable_log())
        .query_async(conn)
        .await?;
    let deleted = field(&info, "max-deleted-entry-id")
        .and_then(bytes_of)
        .and_then(|id| EntryId::parse(&id))
        .unwrap_or_default();
    Ok(deleted <= after)
}

/// The entries after `after` up to `through`, both ids, in order.
pub(crate) async fn read(
    conn: &mut Link,
    keys: &Keys,
    after: EntryId,
    through: EntryId,
) -> redis::RedisResult<Vec<(EntryId, Bytes)>> {
    let mut entries = Vec::new();
    let mut from = after;
    while from < through {
        let page: Value = redis::cmd("XRANGE")
            .arg(keys.durable_log())
            .arg(format!("({from}"))
            .arg(through.to_string())
            .arg("COUNT")
            .arg(PAGE)
            .query_async(conn)
            .await?;
        let before = entries.len();
        for item in items(&page) {
            let mut parts = items(item).iter();
            let id = parts
                .next()
                .and_then(bytes_of)
                .and_then(|id| EntryId::parse(&id));
            let message = parts
                .next()
                .and_then(|fields| field(fields, "m"))
                .and_then(bytes_of);
            if let (Some(id), Some(message)) = (id, message) {
                entries.push((id, Bytes::from(message)));
                from = id;
            }
        }
        if entries.len() - before < PAGE {
            break;
        }
    }
    Ok(entries)
}

fn items(value: &Value) -> &[Value] {
    match value {
        Value::Array(items) | Value::Set(items) => items,
        _ => &[],
    }
}

fn bytes_of(value: &Value) -> Option<Vec<u8>> {
    match value {
        Value::BulkString(bytes) => Some(bytes.clone()),
        Value::SimpleString(text) => Some(text.clone().into_bytes()),
        _ => None,
    }
}

/// A field of a RESP3 map, or of a RESP2 flat list of names and values.
fn field<'a>(value: &'a Value, name: &str) -> Option<&'a Value> {
    let named = |key: &Value| bytes_of(key).is_some_and(|key| key == name.as_bytes());
    match value {
        Value::Map(pairs) => pairs.iter().find(|(key, _)| named(key)).map(|(_, v)| v),
        Value::Array(flat) => flat
            .chunks(2)
            .find(|pair| named(&pair[0]))
            .and_then(|pair| pair.get(1)),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)] // Test code: a panic is a failure report.

    use super::*;

    #[test]
    fn entry_ids_order_by_milliseconds_then_sequence() {
        let id = |text: &str| EntryId::parse(text.as_bytes()).unwrap();
        assert!(id("9-5") < id("10-0"));
        assert!(id("10-0") < id("10-1"));
        assert_eq!(id("0-0"), EntryId::default());
        assert_eq!(id("1700000000000-3").to_string(), "1700000000000-3");
        assert_eq!(EntryId::parse(b"10"), None);
        assert_eq!(EntryId::parse(b"x-1"), None);
    }

    #[test]
    fn a_told_entry_names_its_predecessor_its_id_and_its_envelope() {
        let told = b"5-0 6-2 an envelope with spaces";
        let (prev, id, envelope) = parse_told(told).unwrap();
        assert_eq!(
            (prev.to_string(), id.to_string()),
            ("5-0".into(), "6-2".into())
        );
        assert_eq!(envelope, b"an envelope with spaces");
        assert_eq!(parse_told(b"5-0 nonsense"), None);
    }
}
