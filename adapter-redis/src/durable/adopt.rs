//! Carrying on a dead node's session: claim its record, walk the log from the anchor at or
//! before the client's offset, and install what the client missed.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use quicket_core::adapter::{Adoption, BroadcastTarget, Member, OutgoingEvent, SocketsOp};
use quicket_core::{PayloadCodec, Room, SocketId};

use super::log::{self, EntryId, decode_entry};
use super::{Anchor, Durable, Journal, MAX_PENDING, Pending, Record, reaches};
use crate::node::{Inner, lock};
use crate::relay;
use crate::wire::{self, Event};

/// How long a node waits to reach the newest anchor of a session it carries on.
const CATCH_UP: Duration = Duration::from_secs(5);

/// The session `token` names, if its node is dead and its record can be claimed: its
/// socket id, and an install that puts it in its rooms and replays what the client missed.
pub(crate) async fn adopt(
    node: &Arc<Inner>,
    token: &Bytes,
    offset: u64,
    codec: PayloadCodec,
) -> Option<Adoption> {
    let durable = node.durable.clone()?;
    let (holder, sid) = relay::holder(node, token).await?;
    if holder == node.node || node.peers.alive(node.silence()).contains(&holder) {
        return None;
    }
    let mut conn = node.bus.conn.clone();
    // Claimed by one node only: whoever takes the record.
    let record: Option<Vec<u8>> = redis::cmd("GETDEL")
        .arg(node.bus.keys.durable_session(&sid))
        .query_async(&mut conn)
        .await
        .ok()?;
    let record: Record = wire::decode(&record?).ok()?;
    relay::forget(node, token);
    if record.node != holder || record.codec != codec.id() {
        return None;
    }
    let first = record.anchors.iter().rposition(|a| a.sent <= offset)?;
    let anchors = &record.anchors[first..];
    let newest = anchors.last()?;
    durable.reach(newest.after).await?;
    let (guard, until) = durable.begin(sid, holder, newest.rooms.clone());
    if !log::holds_after(&mut conn, &node.bus.keys, anchors[0].after)
        .await
        .ok()?
    {
        tracing::info!(%sid, "a dead node's session is past the durable log's reach");
        return None;
    }
    let entries = log::read(&mut conn, &node.bus.keys, anchors[0].after, until)
        .await
        .ok()?;
    let missed = walk(anchors, &entries, holder, sid, offset)?;
    let rooms = newest.rooms.clone();
    let node = Arc::downgrade(node);
    let install = Box::new(move |socket: &Member| {
        if let Some(node) = node.upgrade() {
            durable.install(&node, socket, &rooms, missed, guard);
        }
    });
    Some(Adoption::new(sid, record.received, install))
}

/// The events after the client's `offset`, counting from the first anchor the entries that
/// reached the session; `None` when the count disagrees with an anchor, or the client
/// claims more than the log holds.
fn walk(
    anchors: &[Anchor],
    entries: &[(EntryId, Bytes)],
    holder: u64,
    sid: SocketId,
    offset: u64,
) -> Option<Vec<Event>> {
    let mut at = 0;
    let mut sent = anchors[0].sent;
    let mut missed = Vec::new();
    let agrees = |anchor: &Anchor, sent: u64| {
        let agrees = anchor.sent == sent;
        if !agrees {
            tracing::warn!(%sid, "a dead node's anchors disagree with the durable log");
        }
        agrees
    };
    for (id, envelope) in entries {
        while at + 1 < anchors.len() && anchors[at + 1].after < *id {
            at += 1;
            agrees(&anchors[at], sent).then_some(())?;
        }
        let Some((_, entry)) = decode_entry(envelope) else {
            continue;
        };
        if reaches(&entry, holder, sid, &anchors[at].rooms) {
            sent += 1;
            if sent > offset {
                missed.push(entry.event);
                (missed.len() <= MAX_PENDING).then_some(())?;
            }
        }
    }
    for anchor in &anchors[at + 1..] {
        agrees(anchor, sent).then_some(())?;
    }
    (offset <= sent).then_some(missed)
}

/// Forgets a session being carried on here if its install never runs.
pub(crate) struct PendingGuard {
    durable: Arc<Durable>,
    sid: SocketId,
}

impl Drop for PendingGuard {
    fn drop(&mut self) {
        lock(&self.durable.state).adoptions.remove(&self.sid);
    }
}

impl Durable {
    /// Waits until this node has delivered entry `after`: the anchors of a session it
    /// carries on never lie ahead of what it read.
    async fn reach(&self, after: EntryId) -> Option<()> {
        let reached = async {
            loop {
                let advanced = self.advanced.notified();
                if lock(&self.state).last >= after {
                    return;
                }
                advanced.await;
            }
        };
        tokio::time::timeout(CATCH_UP, reached).await.ok()
    }

    /// Starts collecting the entries that reach session `sid` from here on; returns where
    /// the log must be read back to.
    fn begin(
        self: &Arc<Self>,
        sid: SocketId,
        holder: u64,
        rooms: Vec<String>,
    ) -> (PendingGuard, EntryId) {
        let mut state = lock(&self.state);
        let pending = Pending {
            holder,
            rooms,
            events: Vec::new(),
            overflowed: false,
        };
        state.adoptions.insert(sid, pending);
        let guard = PendingGuard {
            durable: self.clone(),
            sid,
        };
        (guard, state.last)
    }

    /// Registers the new socket in its rooms, and queues what its client missed: what the
    /// log held, then what arrived while it was read.
    fn install(
        &self,
        node: &Inner,
        socket: &Member,
        rooms: &[String],
        missed: Vec<Event>,
        guard: PendingGuard,
    ) {
        let sid = socket.id();
        let mut state = lock(&self.state);
        let pending = state.adoptions.remove(&sid);
        node.local.add_socket(socket.clone());
        for room in rooms {
            let _ = node.local.join(sid, Room::from(room.as_str()), usize::MAX);
        }
        let overflowed = pending.as_ref().is_none_or(|p| p.overflowed);
        let arrived = pending.map(|p| p.events).unwrap_or_default();
        let mut target = BroadcastTarget::default();
        target.sockets.push(sid);
        target.local = true;
        for event in missed.iter().chain(&arrived) {
            let payload = event.payload();
            node.local
                .broadcast(&target, &OutgoingEvent::new(&event.name, &payload, false));
        }
        let journal = Journal {
            socket: socket.clone(),
            anchors: Default::default(),
        };
        state.sessions.insert(sid, journal);
        self.anchor(node, &mut state, sid, true);
        drop(state);
        drop(guard);
        for room in rooms {
            node.interest.mark(room);
        }
        if overflowed {
            tracing::warn!(%sid, "events for a session being carried on overflowed; it ends");
            socket.apply(&SocketsOp::Disconnect);
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)] // Test code: a panic is a failure report.

    use quicket_core::adapter::{BroadcastTarget, OutgoingEvent, Room};

    use super::*;
    use crate::wire::{DurableBroadcast, Envelope, Target, kind};

    /// The dead node, another node, and the session being carried on.
    const HOLDER: u64 = 0xA;
    const OTHER: u64 = 0xB;
    const SID: SocketId = SocketId::from_bytes([7; 16]);

    fn id(ms: u64) -> EntryId {
        EntryId::parse(format!("{ms}-0").as_bytes()).unwrap()
    }

    /// What reaches whom, for the entries of a test log.
    #[derive(Default)]
    struct To {
        rooms: &'static [&'static str],
        except_rooms: &'static [&'static str],
        sockets: Vec<SocketId>,
        except_sockets: Vec<SocketId>,
        node: Option<u64>,
    }

    /// Entry `ms` of the log, carrying event `n`, published by `HOLDER`.
    fn entry(ms: u64, n: u64, to: To) -> (EntryId, Bytes) {
        let mut target = BroadcastTarget::default();
        target.rooms = to.rooms.iter().map(|room| Room::from(*room)).collect();
        target.except_rooms = to
            .except_rooms
            .iter()
            .map(|room| Room::from(*room))
            .collect();
        target.except_sockets = to.except_sockets;
        let entry = DurableBroadcast {
            target: Target::from(&target),
            sockets: to.sockets,
            node: to.node,
            seq: ms,
            event: Event::of(&OutgoingEvent::new("n", &n, false)).unwrap(),
        };
        let envelope = Envelope::new(kind::DURABLE, HOLDER, &entry).unwrap();
        (id(ms), wire::encode(&envelope).unwrap())
    }

    fn anchor(after: u64, sent: u64, rooms: &[&str]) -> Anchor {
        Anchor {
            after: id(after),
            sent,
            rooms: rooms.iter().map(|room| (*room).to_owned()).collect(),
        }
    }

    /// The numbers of the events a walk replays.
    fn numbers(missed: Option<Vec<Event>>) -> Option<Vec<u64>> {
        missed.map(|events| {
            events
                .iter()
                .map(|event| {
                    let payload = event.payload();
                    let bytes = payload.get(PayloadCodec::Bincode).clone();
                    PayloadCodec::Bincode.decode(&bytes).unwrap()
                })
                .collect()
        })
    }

    fn feed() -> To {
        To {
            rooms: &["feed"],
            ..To::default()
        }
    }

    #[test]
    fn only_what_reached_the_session_counts_and_only_what_follows_the_offset_replays() {
        let log = [
            entry(1, 1, feed()),
            entry(
                2,
                99,
                To {
                    rooms: &["elsewhere"],
                    ..To::default()
                },
            ),
            entry(
                3,
                2,
                To {
                    sockets: vec![SID],
                    node: Some(HOLDER),
                    ..To::default()
                },
            ),
            entry(
                4,
                99,
                To {
                    node: Some(OTHER),
                    ..To::default()
                },
            ),
            entry(5, 3, To::default()),
            entry(
                6,
                99,
                To {
                    except_sockets: vec![SID],
                    ..To::default()
                },
            ),
            entry(
                7,
                99,
                To {
                    except_rooms: &["feed"],
                    ..To::default()
                },
            ),
            entry(8, 4, feed()),
        ];
        let anchors = [anchor(0, 0, &["feed"])];
        let walked = |offset| numbers(walk(&anchors, &log, HOLDER, SID, offset));
        assert_eq!(walked(0), Some(vec![1, 2, 3, 4]));
        assert_eq!(walked(2), Some(vec![3, 4]));
        assert_eq!(walked(4), Some(vec![]), "the client has everything");
        assert_eq!(walked(5), None, "the client claims more than the log holds");
    }

    #[test]
    fn a_join_counts_the_rooms_entries_only_after_its_anchor() {
        let log = [
            entry(
                1,
                99,
                To {
                    rooms: &["late"],
                    ..To::default()
                },
            ),
            entry(2, 1, feed()),
            entry(
                3,
                2,
                To {
                    rooms: &["late"],
                    ..To::default()
                },
            ),
            entry(4, 99, feed()),
        ];
        // Joined "late" after entry 1; left "feed" after entry 3.
        let anchors = [
            anchor(0, 10, &["feed"]),
            anchor(1, 10, &["feed", "late"]),
            anchor(3, 12, &["late"]),
        ];
        assert_eq!(
            numbers(walk(&anchors, &log, HOLDER, SID, 10)),
            Some(vec![1, 2])
        );
    }

    #[test]
    fn anchors_that_disagree_with_the_log_carry_nothing_on() {
        let log = [entry(1, 1, feed()), entry(2, 2, feed())];
        // Says two events were sent by entry 1, where the log has one.
        let anchors = [anchor(0, 0, &["feed"]), anchor(1, 2, &["feed"])];
        assert_eq!(numbers(walk(&anchors, &log, HOLDER, SID, 0)), None);
        // An anchor past the last entry is checked too.
        let anchors = [anchor(0, 0, &["feed"]), anchor(2, 3, &["feed"])];
        assert_eq!(numbers(walk(&anchors, &log, HOLDER, SID, 0)), None);
    }
}
