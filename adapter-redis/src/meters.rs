//! What the adapter counts, through the `metrics` facade (`docs/metrics.md`).

use std::time::Duration;

use metrics::{Unit, gauge, histogram};

const REDIS_UP: &str = "quicket_redis_up";
const PUBLISH_DURATION: &str = "quicket_redis_publish_duration_seconds";

/// Tells the installed recorder what the adapter's metrics mean, as
/// `quicket_core::describe_metrics` does for the server's. Call it after installing the
/// recorder; calling it again does no harm.
pub fn describe_metrics() {
    metrics::describe_gauge!(
        REDIS_UP,
        Unit::Count,
        "1 while the node reaches Redis, 0 during an outage."
    );
    metrics::describe_histogram!(
        PUBLISH_DURATION,
        Unit::Seconds,
        "Time Redis took to take one batch of the node's cluster messages."
    );
}

/// Sets the health gauge. Set at every heartbeat too, so a recorder installed after the
/// adapter connected has it within a beat.
pub(crate) fn redis_up(up: bool) {
    gauge!(REDIS_UP).set(if up { 1.0 } else { 0.0 });
}

pub(crate) fn published(took: Duration) {
    histogram!(PUBLISH_DURATION).record(took);
}

#[cfg(test)]
mod tests {
    #[test]
    fn every_metric_is_in_the_documented_table() {
        let doc = include_str!("../../docs/metrics.md");
        for name in [super::REDIS_UP, super::PUBLISH_DURATION] {
            assert!(doc.contains(&format!("`{name}`")), "{name} is missing");
        }
    }
}
