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
