//! Presence limits: keys per socket, metas per key, keys per room and meta size each refuse
//! with their own error, replacing a meta or untracking frees what it held, and counting a
//! key's connections needs no copy of the room.
#![allow(clippy::unwrap_used, clippy::expect_used)] // Test code: a panic is a failure report.

use quicket_core::transport::memory::{self, MemoryConfig};
use quicket_core::{Client, PresenceError, PresenceLimits, Server, ServerConfig, Socket};

const ROOM: &str = "lobby";

async fn sockets(n: usize) -> (Server, Vec<Socket>, Vec<Client>) {
    let limits = PresenceLimits::default()
        .max_keys_per_socket(3)
        .max_metas_per_key(2)
        .max_keys_per_room(4)
        .max_meta_size(100);
    let config = ServerConfig::default().presence(limits);
    let server = Server::builder().config(config).build();
    let (listener, connector) = memory::pipe(MemoryConfig::default());
    server.listen(listener);
    let (mut sockets, mut clients) = (Vec::new(), Vec::new());
    for _ in 0..n {
        let client = Client::builder().connect(&connector).await.unwrap();
        let socket = server.socket(client.id()).unwrap();
        socket.join(ROOM).unwrap();
        sockets.push(socket);
        clients.push(client);
    }
    (server, sockets, clients)
}

#[tokio::test]
async fn each_presence_limit_refuses_with_its_own_error() {
    let (_server, sockets, _clients) = sockets(3).await;
    let [a, b, c] = &sockets[..] else {
        unreachable!()
    };
    let (a, b, c) = (a.presence(ROOM), b.presence(ROOM), c.presence(ROOM));
    for key in ["k1", "k2", "k3"] {
        a.track(key, "a").unwrap();
    }
    assert_eq!(
        a.track("k4", "a"),
        Err(PresenceError::TooManyKeys { max: 3 })
    );
    a.track("k1", "a, again").unwrap();

    b.track("k1", "b").unwrap();
    assert_eq!(
        c.track("k1", "c"),
        Err(PresenceError::TooManyMetas {
            key: "k1".into(),
            max: 2
        })
    );
    assert_eq!(a.count("k1").await, 2, "a and b");

    c.track("k4", "c").unwrap();
    assert_eq!(c.track("k5", "c"), Err(PresenceError::RoomFull { max: 4 }));

    let large = "x".repeat(120);
    assert!(matches!(
        c.track("k4", large),
        Err(PresenceError::MetaTooLarge { max: 100, .. })
    ));

    a.untrack("k2");
    a.track("k6", "a").unwrap();
    assert_eq!(a.count("k2").await, 0);
    assert_eq!(a.count("k6").await, 1);
}

#[tokio::test]
async fn leaving_the_room_gives_back_the_keys_a_socket_tracked_there() {
    let (_server, sockets, _clients) = sockets(1).await;
    let socket = &sockets[0];
    for key in ["k1", "k2", "k3"] {
        socket.presence(ROOM).track(key, ()).unwrap();
    }
    socket.leave(ROOM);
    socket.join(ROOM).unwrap();
    for key in ["k1", "k2", "k3"] {
        socket.presence(ROOM).track(key, ()).unwrap();
    }
}
