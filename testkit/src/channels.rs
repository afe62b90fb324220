//! Ordered channels (PROTOCOL.md section 2.2): each room's events in order and exactly once,
//! whichever channel carries them, across drops and resumes.

use std::collections::HashMap;

use quicket_core::{Data, Socket};
use quicket_proto::{ChannelOffer, Frame, Hello};
use tokio::sync::mpsc;

use super::recovery::{
    assert_exact, quick_reconnect_config, reconnect_events, reconnected, recovering_server_config,
};
use super::{Harness, RawPeer, within};
use quicket_core::transport::{Connector, FrameReader, Incoming};

/// The streams of events the scenario sends: to two rooms, and to the socket alone.
const STREAMS: [&str; 3] = ["a", "b", "own"];

/// Events to two rooms and to the socket alone, interleaved, while the server drops the
/// connection five times: each stream arrives exactly once and in order. With channels, the
/// rooms' events take channels of their own, and a resume names each channel's offset.
pub async fn each_room_keeps_its_order_across_drops<H: Harness>(harness: &H) {
    let (listener, connector) = harness.pair().await;
    let (socket_tx, mut sockets) = mpsc::unbounded_channel();
    let server = harness
        .builder()
        .await
        .config(recovering_server_config())
        .on_connect(move |socket: Socket| {
            let socket_tx = socket_tx.clone();
            async move {
                socket.join("a").unwrap();
                socket.join("b").unwrap();
                let _ = socket_tx.send(socket);
            }
        })
        .build();
    server.listen(listener);

    let (received_tx, mut received) = mpsc::unbounded_channel::<(&'static str, u64)>();
    let (mut builder, mut events) = reconnect_events(quick_reconnect_config());
    for stream in STREAMS {
        let received_tx = received_tx.clone();
        builder = builder.on(stream, move |Data(n): Data<u64>| {
            let _ = received_tx.send((stream, n));
            async {}
        });
    }
    let client = within("connect", builder.connect(&connector))
        .await
        .unwrap();
    let socket = within("the socket", sockets.recv()).await.unwrap();

    let per_round = 40u64;
    let rounds = 5;
    for round in 0..rounds {
        for i in 0..per_round {
            emit_to_each(&server, &socket, round * per_round + i);
        }
        socket.drop_connection();
        let (recovered, lost) = reconnected(&mut events).await;
        assert!(recovered, "round {round}: the session resumed");
        assert_eq!(lost, 0);
    }
    // Each stream ends with its total: what comes before it on its channel, a duplicate too,
    // has arrived by then.
    let total = per_round * rounds;
    emit_to_each(&server, &socket, total);
    let mut seen: HashMap<&str, Vec<u64>> = HashMap::new();
    within("every event of every stream", async {
        let ended = |seen: &HashMap<&str, Vec<u64>>| {
            STREAMS
                .iter()
                .all(|stream| seen.get(stream).is_some_and(|s| s.last() == Some(&total)))
        };
        while !ended(&seen) {
            let (stream, n) = received.recv().await.unwrap();
            seen.entry(stream).or_default().push(n);
        }
    })
    .await;
    for stream in STREAMS {
        let numbers = &seen[stream];
        assert_exact(&numbers[..numbers.len() - 1], total, stream);
    }
    client.disconnect().await;
}

/// Event `n` to room "a", room "b" and the socket alone.
fn emit_to_each(server: &quicket_core::Server, socket: &Socket, n: u64) {
    assert_eq!(server.to("a").emit("a", n).unwrap(), 1);
    assert_eq!(server.to("b").emit("b", n).unwrap(), 1);
    socket.emit("own", n).unwrap();
}

/// A client that offers channels gets a grant no larger than its offer, and a room's events
/// arrive on one channel, in order: a channel of its own when any was granted. (Every raw peer
/// of the kit offers none, and fails on a frame from any channel but 0.)
pub async fn channels_are_granted_within_the_offer<H: Harness>(harness: &H) {
    let (listener, connector) = harness.pair().await;
    let (socket_tx, mut sockets) = mpsc::unbounded_channel();
    let server = harness
        .builder()
        .await
        .on_connect(move |socket: Socket| {
            let socket_tx = socket_tx.clone();
            async move {
                socket.join("room").unwrap();
                let _ = socket_tx.send(socket);
            }
        })
        .build();
    server.listen(listener);

    let connection = within("connect", connector.connect()).await.unwrap();
    let carried = quicket_core::transport::Connection::max_channels(&connection);
    let mut raw = RawPeer::new(connection);
    let Frame::Hello(hello) = RawPeer::<<H::Connector as Connector>::Connection>::hello() else {
        unreachable!("a Hello")
    };
    let offer = ChannelOffer {
        max_channels: 2,
        offsets: Vec::new(),
        classes: false,
    };
    let hello = Hello {
        channels: Some(offer),
        ..hello
    };
    raw.send(&Frame::Hello(hello)).await;
    let grant = match within("the Welcome", raw.reader.recv()).await {
        Ok(Incoming::Frame(bytes)) => match quicket_proto::codec::decode(&bytes) {
            Ok(Frame::Welcome(welcome)) => welcome.channels.expect("an answer to the offer"),
            other => panic!("expected the Welcome, got {other:?}"),
        },
        other => panic!("expected the Welcome, got {other:?}"),
    };
    // At most the offer; none where the transport carries none, or where the adapter keeps
    // one order for everything a socket receives (a durable cluster).
    assert!(grant.max_channels <= 2, "granted {grant:?}");
    if carried == 0 {
        assert_eq!(grant.max_channels, 0, "a transport without channels");
    }
    let _socket = within("the socket", sockets.recv()).await.unwrap();
    for n in 0..20u64 {
        assert_eq!(server.to("room").emit("room", n).unwrap(), 1);
    }
    let mut numbers = Vec::new();
    let mut channels = Vec::new();
    while numbers.len() < 20 {
        let (channel, bytes) = match within("a room event", raw.reader.recv()).await {
            Ok(Incoming::Frame(bytes)) => (0, bytes),
            Ok(Incoming::Channel(channel, bytes)) => (channel, bytes),
            Ok(_) => continue,
            Err(err) => panic!("the connection ended: {err}"),
        };
        if let Ok(Frame::Event(event)) = quicket_proto::codec::decode(&bytes) {
            let n: u64 = quicket_proto::PayloadCodec::Bincode
                .decode(&event.data)
                .unwrap();
            numbers.push(n);
            channels.push(channel);
        }
    }
    assert_exact(&numbers, 20, "room");
    let first = channels[0];
    assert!(
        channels.iter().all(|channel| *channel == first),
        "one channel: {channels:?}"
    );
    assert_eq!(
        first > 0,
        grant.max_channels > 0,
        "a room's own channel when granted"
    );
}
