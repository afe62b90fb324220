//! The conformance suite over the in-memory transport, with and without datagrams.
#![allow(clippy::unwrap_used, clippy::expect_used)] // Test code: a panic is a failure report.

use quicket_core::testkit::Harness;
use quicket_core::transport::memory::{self, MemoryConfig, MemoryConnector, MemoryListener};

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
    quicket_core::conformance_tests!(Memory(MemoryConfig::default()));
}

mod without_datagrams {
    use super::*;
    quicket_core::conformance_tests!(Memory(MemoryConfig::default().max_datagram_size(None)));
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
