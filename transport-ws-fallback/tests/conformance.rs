//! The core conformance suite over WebSocket on loopback.
#![allow(clippy::unwrap_used, clippy::expect_used)] // Test code: a panic is a failure report.

use quicket_testkit::Harness;
use quicket_ws::{WsConfig, WsConnector, WsListener};

struct Ws;

impl Harness for Ws {
    type Listener = WsListener;
    type Connector = WsConnector;

    async fn pair(&self) -> (WsListener, WsConnector) {
        let listener = quicket_ws::bind("127.0.0.1:0".parse().unwrap(), WsConfig::default())
            .await
            .unwrap();
        let addr = quicket_core::transport::Listener::local_addr(&listener).unwrap();
        (listener, WsConnector::new(format!("ws://{addr}/quicket")))
    }
}

quicket_testkit::conformance_tests!(Ws);
