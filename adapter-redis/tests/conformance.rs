//! The core conformance suite with the Redis adapter plugged in: each scenario's server is a
//! fresh node of its own cluster (its own key prefix) on a real Redis.
#![allow(clippy::unwrap_used, clippy::expect_used)] // Test code: a panic is a failure report.

mod support;

use quicket_core::transport::memory::{self, MemoryConfig, MemoryConnector, MemoryListener};
use quicket_core::{Server, ServerBuilder};
use quicket_redis::RedisAdapter;
use quicket_testkit::Harness;
use tokio::sync::OnceCell;

use support::{SharedRedis, config, unique_prefix};

struct OnRedis {
    redis: OnceCell<SharedRedis>,
}

impl OnRedis {
    fn new() -> Self {
        Self {
            redis: OnceCell::new(),
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
        let redis = self.redis.get_or_init(SharedRedis::get).await;
        let adapter =
            RedisAdapter::connect_with(redis.url(), config(&unique_prefix("conformance")))
                .await
                .expect("the node reaches Redis");
        Server::builder().adapter(adapter)
    }
}

quicket_testkit::conformance_tests!(OnRedis::new());

/// The same suite with each node on a Redis Cluster, its pub/sub sharded.
mod on_cluster {
    use super::*;
    use crate::support::SharedCluster;

    struct OnCluster {
        cluster: OnceCell<SharedCluster>,
    }

    impl Harness for OnCluster {
        type Listener = MemoryListener;
        type Connector = MemoryConnector;

        async fn pair(&self) -> (MemoryListener, MemoryConnector) {
            memory::pipe(MemoryConfig::default())
        }

        async fn builder(&self) -> ServerBuilder {
            let cluster = self.cluster.get_or_init(SharedCluster::get).await;
            let adapter = cluster
                .adapter(config(&unique_prefix("conformance-cluster")))
                .await;
            Server::builder().adapter(adapter)
        }
    }

    quicket_testkit::conformance_tests!(OnCluster {
        cluster: OnceCell::new(),
    });
}
