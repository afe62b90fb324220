//! The core conformance suite with the Redis adapter plugged in: each scenario's server is a
//! fresh node of its own cluster (its own key prefix) on a real Redis and on a Redis Cluster,
//! with durable recovery off and on.
#![allow(clippy::unwrap_used, clippy::expect_used)] // Test code: a panic is a failure report.

mod support;

use quicket_core::transport::memory::{self, MemoryConfig, MemoryConnector, MemoryListener};
use quicket_core::{Server, ServerBuilder};
use quicket_testkit::Harness;
use tokio::sync::OnceCell;

use support::{Backend, config, unique_prefix};

/// Each scenario's node, on one Redis or a Redis Cluster, its durable log on or off.
struct OnRedis {
    cluster: bool,
    durable: bool,
    backend: OnceCell<Backend>,
}

impl OnRedis {
    const fn new(cluster: bool, durable: bool) -> Self {
        Self {
            cluster,
            durable,
            backend: OnceCell::const_new(),
        }
    }
}

impl Harness for OnRedis {
    type Listener = MemoryListener;
    type Connector = MemoryConnector;

    async fn pair(&self) -> (MemoryListener, MemoryConnector) {
        memory::pipe(MemoryConfig::default())
    }

    async fn builder(&self) -> ServerBuilder {
        let backend = self
            .backend
            .get_or_init(|| Backend::get(self.cluster))
            .await;
        let config = config(&unique_prefix("conformance")).durable_recovery(self.durable);
        Server::builder().adapter(backend.adapter(config).await)
    }
}

quicket_testkit::conformance_tests!(OnRedis::new(false, false));

/// The same suite with each node on a Redis Cluster, its pub/sub sharded.
mod on_cluster {
    use super::*;

    quicket_testkit::conformance_tests!(OnRedis::new(true, false));
}

/// The same suite with durable recovery on: every reliable emit, a socket's own included,
/// reaches its socket through the durable log.
mod durable {
    use super::*;

    quicket_testkit::conformance_tests!(OnRedis::new(false, true));

    /// And with the durable log on one shard of a Redis Cluster.
    mod on_cluster {
        use super::*;

        quicket_testkit::conformance_tests!(OnRedis::new(true, true));
    }
}
