//! The adapter seam is where rooms, broadcast and presence go, and a broadcast is encoded once
//! per codec in use, whatever the number of recipients.
#![allow(clippy::unwrap_used, clippy::expect_used)] // Test code: a panic is a failure report.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use quicket_core::adapter::{BroadcastTarget, EncodedPayload, OutgoingEvent, PresenceAdapter};
use quicket_core::transport::memory::{self, MemoryConfig};
use quicket_core::{
    Adapter, Client, Data, JoinError, LocalAdapter, PayloadCodec, PresenceError, Room, Server,
    Socket, SocketId,
};
use quicket_testkit::within;
use serde::{Serialize, Serializer};
use tokio::sync::mpsc;

#[derive(Default)]
struct Calls {
    joins: AtomicUsize,
    broadcasts: AtomicUsize,
    tracks: AtomicUsize,
    removes: AtomicUsize,
}

/// Counts what passes through the seam, presence included, and hands it to the local adapter;
/// what it does not override is the local adapter's by default.
struct Counting {
    local: LocalAdapter,
    calls: Arc<Calls>,
}

impl Adapter for Counting {
    fn local(&self) -> &LocalAdapter {
        &self.local
    }
    fn presence(&self) -> &dyn PresenceAdapter {
        self
    }
    fn remove_socket(&self, sid: SocketId) {
        self.calls.removes.fetch_add(1, Ordering::SeqCst);
        self.local.remove_socket(sid);
    }
    fn join(&self, sid: SocketId, room: Room, max_rooms: usize) -> Result<(), JoinError> {
        self.calls.joins.fetch_add(1, Ordering::SeqCst);
        self.local.join(sid, room, max_rooms)
    }
    fn broadcast(&self, target: &BroadcastTarget, event: &OutgoingEvent<'_>) -> usize {
        self.calls.broadcasts.fetch_add(1, Ordering::SeqCst);
        self.local.broadcast(target, event)
    }
}

impl PresenceAdapter for Counting {
    fn local_presence(&self) -> &LocalAdapter {
        &self.local
    }
    fn track(
        &self,
        room: &str,
        key: &str,
        sid: SocketId,
        meta: EncodedPayload,
    ) -> Result<(), PresenceError> {
        self.calls.tracks.fetch_add(1, Ordering::SeqCst);
        self.local.track(room, key, sid, meta)
    }
}

/// Serializes as "hi" and counts how often it is asked to.
struct Counted(Arc<AtomicUsize>);

impl Serialize for Counted {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.0.fetch_add(1, Ordering::SeqCst);
        serializer.serialize_str("hi")
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rooms_broadcast_and_presence_go_through_the_adapter() {
    let calls = Arc::new(Calls::default());
    let (ready_tx, mut ready) = mpsc::channel(8);
    let server = Server::builder()
        .adapter(Counting {
            local: LocalAdapter::new(),
            calls: Arc::clone(&calls),
        })
        .on_connect(move |socket: Socket| {
            let ready_tx = ready_tx.clone();
            async move {
                socket.join("room").unwrap();
                socket.presence("room").track("me", ()).unwrap();
                ready_tx.send(()).await.unwrap();
            }
        })
        .build();
    let (listener, connector) = memory::pipe(MemoryConfig::default());
    server.listen(listener);
    let (tx, mut rx) = mpsc::channel(8);
    let client = within(
        "the connect",
        Client::builder()
            .on("ev", move |Data(s): Data<String>| {
                let tx = tx.clone();
                async move { tx.send(s).await.unwrap() }
            })
            .connect(&connector),
    )
    .await
    .unwrap();
    within("the connect handler", ready.recv()).await.unwrap();
    assert_eq!(server.to("room").emit("ev", "x").unwrap(), 1);
    assert_eq!(within("the event", rx.recv()).await.unwrap(), "x");
    client.disconnect().await;
    within("the removal", async {
        while calls.removes.load(Ordering::SeqCst) == 0 {
            tokio::task::yield_now().await;
        }
    })
    .await;
    assert_eq!(calls.joins.load(Ordering::SeqCst), 1);
    assert_eq!(calls.tracks.load(Ordering::SeqCst), 1);
    assert_eq!(calls.broadcasts.load(Ordering::SeqCst), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broadcast_is_encoded_once_per_codec_in_use() {
    let (joined_tx, mut joined) = mpsc::channel(64);
    let server = Server::builder()
        .on_connect(move |socket: Socket| {
            let joined_tx = joined_tx.clone();
            async move {
                socket.join("room").unwrap();
                joined_tx.send(()).await.unwrap();
            }
        })
        .build();
    let (listener, connector) = memory::pipe(MemoryConfig::default());
    server.listen(listener);
    let (tx, mut rx) = mpsc::channel(64);
    let mut clients = Vec::new();
    for i in 0..10 {
        let codec = if i % 2 == 0 {
            PayloadCodec::Bincode
        } else {
            PayloadCodec::Json
        };
        let tx = tx.clone();
        let client = Client::builder()
            .codec(codec)
            .on("ev", move |Data(s): Data<String>| {
                let tx = tx.clone();
                async move { tx.send(s).await.unwrap() }
            })
            .connect(&connector)
            .await
            .unwrap();
        within("the join", joined.recv()).await.unwrap();
        clients.push(client);
    }
    let encodes = Arc::new(AtomicUsize::new(0));
    assert_eq!(
        server
            .to("room")
            .emit("ev", Counted(Arc::clone(&encodes)))
            .unwrap(),
        10
    );
    for _ in 0..10 {
        assert_eq!(within("the event", rx.recv()).await.unwrap(), "hi");
    }
    assert_eq!(
        encodes.load(Ordering::SeqCst),
        2,
        "one encoding per codec, not per recipient"
    );

    // With one codec in use, one encoding.
    for client in clients.iter().skip(1).step_by(2) {
        client.disconnect().await;
    }
    while server.connection_count() > 5 {
        tokio::task::yield_now().await;
    }
    encodes.store(0, Ordering::SeqCst);
    assert_eq!(
        server
            .to("room")
            .emit("ev", Counted(Arc::clone(&encodes)))
            .unwrap(),
        5
    );
    assert_eq!(encodes.load(Ordering::SeqCst), 1);
}
