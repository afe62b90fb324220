//! Latency histograms and their summaries.

use std::time::Duration;

use hdrhistogram::Histogram;
use serde::Serialize;

/// Nanosecond latencies, three significant figures, up to a minute.
pub(crate) struct Latencies {
    histogram: Histogram<u64>,
}

/// The percentiles every table shows, in microseconds.
#[derive(Debug, Clone, Copy, Serialize)]
pub(crate) struct Summary {
    pub(crate) count: u64,
    pub(crate) p50_us: f64,
    pub(crate) p90_us: f64,
    pub(crate) p99_us: f64,
    pub(crate) p999_us: f64,
    pub(crate) max_us: f64,
    pub(crate) mean_us: f64,
}

impl Latencies {
    pub(crate) fn new() -> Self {
        Self {
            // Bounds and precision are constants: creation cannot fail.
            histogram: Histogram::new_with_bounds(1, 60_000_000_000, 3)
                .unwrap_or_else(|_| Histogram::new(3).unwrap_or_else(|_| unreachable!())),
        }
    }

    pub(crate) fn record(&mut self, latency: Duration) {
        let nanos = u64::try_from(latency.as_nanos()).unwrap_or(u64::MAX).max(1);
        self.histogram.saturating_record(nanos);
    }

    /// Adds another run's samples.
    pub(crate) fn merge(&mut self, other: &Latencies) {
        // Same bounds on both sides: adding cannot fail.
        let _ = self.histogram.add(&other.histogram);
    }

    pub(crate) fn len(&self) -> u64 {
        self.histogram.len()
    }

    pub(crate) fn summary(&self) -> Summary {
        let h = &self.histogram;
        let us = |nanos: u64| nanos as f64 / 1000.0;
        Summary {
            count: h.len(),
            p50_us: us(h.value_at_quantile(0.5)),
            p90_us: us(h.value_at_quantile(0.9)),
            p99_us: us(h.value_at_quantile(0.99)),
            p999_us: us(h.value_at_quantile(0.999)),
            max_us: us(h.max()),
            mean_us: h.mean() / 1000.0,
        }
    }

    /// (latency µs, cumulative fraction) points for a CDF plot.
    pub(crate) fn cdf(&self) -> Vec<(f64, f64)> {
        let total = self.histogram.len().max(1) as f64;
        let mut seen = 0u64;
        self.histogram
            .iter_recorded()
            .map(|value| {
                seen += value.count_at_value();
                (
                    value.value_iterated_to() as f64 / 1000.0,
                    seen as f64 / total,
                )
            })
            .collect()
    }
}

/// Nanoseconds since the Unix epoch: a clock two processes on one host share.
pub(crate) fn wall_nanos() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |since| {
            u64::try_from(since.as_nanos()).unwrap_or(u64::MAX)
        })
}
