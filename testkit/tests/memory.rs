//! The conformance suite over the in-memory transport, with and without datagrams.
#![allow(clippy::unwrap_used, clippy::expect_used)] // Test code: a panic is a failure report.

use quicket_core::transport::memory::{self, MemoryConfig, MemoryConnector, MemoryListener};
use quicket_testkit::Harness;

struct Memory(MemoryConfig);

impl Harness for Memory {
    type Listener = MemoryListener;
    type Connector = MemoryConnector;

    async fn pair(&self) -> (MemoryListener, MemoryConnector) {
        memory::pipe(self.0.clone())
    }
}

mod with_datagrams {
    use super::*;
    quicket_testkit::conformance_tests!(Memory(MemoryConfig::default()));
}

mod without_datagrams {
    use super::*;
    quicket_testkit::conformance_tests!(Memory(MemoryConfig::default().max_datagram_size(None)));
}

#[tokio::test]
async fn sockets_report_the_memory_transport() {
    use quicket_core::{Client, Server, TransportKind};
    let server = Server::builder().build();
    let (listener, connector) = memory::pipe(MemoryConfig::default());
    server.listen(listener);
    let client = Client::builder().connect(&connector).await.unwrap();
    assert_eq!(client.transport(), TransportKind::Memory);
    assert_eq!(client.peer_addr(), None);
    assert_eq!(client.max_datagram_size(), Some(1200));
    let socket = server.socket(client.id()).unwrap();
    assert_eq!(socket.transport(), TransportKind::Memory);
}

#[tokio::test]
async fn a_disconnect_instead_of_welcome_fails_the_connect_with_its_reason() {
    use quicket_core::transport::{Connection, FrameReader, FrameWriter, Listener, TransportError};
    use quicket_core::{Client, ConnectError, DisconnectReason};
    use quicket_proto::{Disconnect, Frame, codec};

    let (mut listener, connector) = memory::pipe(MemoryConfig::default());
    // A server that gives up on the handshake, as one does at its handshake timeout.
    let server = tokio::spawn(async move {
        let (mut reader, mut writer, _) = listener.accept().await.unwrap().split(1 << 20);
        let _hello = reader.recv().await.unwrap();
        let bye = Frame::Disconnect(Disconnect {
            reason: DisconnectReason::HandshakeTimeout,
            message: "no Hello in time".into(),
        });
        writer.send(codec::encode(&bye)).await.unwrap();
        writer.flush().await.unwrap();
        (reader, writer)
    });
    let connect = Client::builder().connect(&connector);
    match tokio::time::timeout(std::time::Duration::from_secs(10), connect).await {
        Ok(Err(ConnectError::Transport(TransportError::PeerClosed { reason, message }))) => {
            assert_eq!(reason, DisconnectReason::HandshakeTimeout);
            assert_eq!(message, "no Hello in time");
        }
        other => panic!("expected the server's HandshakeTimeout, got {other:?}"),
    }
    drop(server.await.unwrap());
}
