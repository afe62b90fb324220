//! Presence diffs batched over `PresenceLimits::diff_batch`, through the real server on
//! tokio's paused clock: a room's changes reach its subscribers as one diff at the end of
//! the batch, a meta that comes and goes within it is never told, and a new subscription
//! ends the batch so that its state and the diffs after it miss nothing.
#![allow(clippy::unwrap_used, clippy::expect_used)] // Test code: a panic is a failure report.

use std::time::Duration;

use quicket_core::transport::Connector;
use quicket_core::transport::memory::{self, MemoryConfig, MemoryConnection, MemoryConnector};
use quicket_core::{DisconnectReason, PresenceLimits, Server, ServerConfig, Socket};
use quicket_proto::{Disconnect, Frame, PresenceDiff, PresenceSubscribe};
use quicket_testkit::RawPeer;
use tokio::time::Instant;

const BATCH: Duration = Duration::from_millis(100);

/// A server whose sockets each join `lobby` and track their socket id there, batching
/// presence diffs over [`BATCH`].
fn lobby() -> (Server, MemoryConnector) {
    let presence = PresenceLimits::default().diff_batch(BATCH);
    let server = Server::builder()
        .config(ServerConfig::default().presence(presence))
        .on_connect(|socket: Socket| async move {
            socket.join("lobby").unwrap();
            let key = socket.id().to_string();
            socket.presence("lobby").track(&key, ()).unwrap();
        })
        .build();
    let (listener, connector) = memory::pipe(MemoryConfig::default());
    server.listen(listener);
    (server, connector)
}

/// A peer in the lobby, and its socket id as its presence key.
async fn enter(connector: &MemoryConnector) -> (RawPeer<MemoryConnection>, String) {
    let mut peer = RawPeer::new(connector.connect().await.unwrap());
    let welcome = peer.handshake().await;
    (peer, welcome.sid.to_string())
}

/// Subscribes `peer` to the lobby's presence; the keys of the state it gets.
async fn subscribe(peer: &mut RawPeer<MemoryConnection>) -> Vec<String> {
    let subscribe = Frame::PresenceSubscribe(PresenceSubscribe {
        room: "lobby".into(),
    });
    peer.send(&subscribe).await;
    match peer
        .recv_until(|f| matches!(f, Frame::PresenceState(_)))
        .await
    {
        Some(Frame::PresenceState(state)) => state.entries.into_iter().map(|e| e.key).collect(),
        other => panic!("expected the lobby's state, got {other:?}"),
    }
}

/// Leaves as a client does, with `Disconnect`, so the session (and its presence) ends at
/// once; returns when the server has closed the connection.
async fn leave(mut peer: RawPeer<MemoryConnection>) {
    let bye = Frame::Disconnect(Disconnect {
        reason: DisconnectReason::ClientDisconnect,
        message: String::new(),
    });
    peer.send(&bye).await;
    // The server closes without a word of its own: the client said why.
    let _closed = peer.disconnect_reason().await;
}

/// The next diff `peer` hears, and how long after `since` it came.
async fn next_diff(peer: &mut RawPeer<MemoryConnection>, since: Instant) -> (Diffed, Duration) {
    match peer
        .recv_until(|f| matches!(f, Frame::PresenceDiff(_)))
        .await
    {
        Some(Frame::PresenceDiff(diff)) => (Diffed::of(diff), since.elapsed()),
        other => panic!("expected a diff, got {other:?}"),
    }
}

/// A diff's joining and leaving keys, sorted.
#[derive(Debug, PartialEq)]
struct Diffed {
    joins: Vec<String>,
    leaves: Vec<String>,
}

impl Diffed {
    fn of(diff: PresenceDiff) -> Self {
        let keys = |entries: Vec<quicket_proto::PresenceEntry>| {
            let mut keys: Vec<String> = entries.into_iter().map(|e| e.key).collect();
            keys.sort();
            keys
        };
        Self {
            joins: keys(diff.joins),
            leaves: keys(diff.leaves),
        }
    }
}

fn sorted(mut keys: Vec<String>) -> Vec<String> {
    keys.sort();
    keys
}

#[tokio::test(start_paused = true)]
async fn a_batch_of_changes_is_told_once_when_its_interval_ends() {
    let (_server, connector) = lobby();
    let (mut watcher, me) = enter(&connector).await;
    assert_eq!(subscribe(&mut watcher).await, [me]);

    let started = Instant::now();
    let mut peers = Vec::new();
    let mut keys = Vec::new();
    for _ in 0..5 {
        let (peer, key) = enter(&connector).await;
        peers.push(peer);
        keys.push(key);
    }
    let (diff, after) = next_diff(&mut watcher, started).await;
    assert_eq!(diff.joins, sorted(keys.clone()), "five joins, one diff");
    assert!(diff.leaves.is_empty());
    assert_eq!(after, BATCH, "told when the batch ends, not before");

    // One leaves; another comes and goes within the same batch and is never told.
    let started = Instant::now();
    let gone = keys.remove(0);
    leave(peers.remove(0)).await;
    let (fleeting, _) = enter(&connector).await;
    leave(fleeting).await;
    let (diff, after) = next_diff(&mut watcher, started).await;
    assert_eq!(
        diff,
        Diffed {
            joins: Vec::new(),
            leaves: vec![gone],
        }
    );
    assert_eq!(after, BATCH);
}

#[tokio::test(start_paused = true)]
async fn a_new_subscriber_ends_the_batch_and_hears_every_change_after_its_state() {
    let (_server, connector) = lobby();
    let (mut first, _) = enter(&connector).await;
    subscribe(&mut first).await;

    let started = Instant::now();
    let (_seventh, seventh) = enter(&connector).await;
    let (mut second, second_key) = enter(&connector).await;
    let state = subscribe(&mut second).await;
    assert!(state.contains(&seventh) && state.contains(&second_key));
    // The batch the second subscriber's state holds went out to the first at once.
    let (diff, after) = next_diff(&mut first, started).await;
    assert_eq!(diff.joins, sorted(vec![seventh, second_key]));
    assert_eq!(after, Duration::ZERO);

    // A change right after the state reaches both, with the next batch.
    let started = Instant::now();
    let (_eighth, eighth) = enter(&connector).await;
    for peer in [&mut first, &mut second] {
        let (diff, after) = next_diff(peer, started).await;
        assert_eq!(diff.joins, std::slice::from_ref(&eighth));
        assert_eq!(after, BATCH);
    }
}
