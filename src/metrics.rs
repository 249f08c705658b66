//! What `/metrics` is built from (api §5): every component registers its families in one
//! `prometheus-client` [`Registry`], encoded in the Prometheus text format (version 0.0.4).

use prometheus_client::encoding::prometheus_text;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

/// The `Content-Type` of [`encode`]'s text.
pub const CONTENT_TYPE: &str = prometheus_text::CONTENT_TYPE;

/// Upper bounds of the duration buckets, seconds (requests and reconciles).
const BUCKETS: [f64; 12] = [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 60.0,
];

/// An empty duration histogram with the shared buckets.
pub fn duration_histogram() -> Histogram {
    Histogram::new(BUCKETS)
}

/// Every family of `registry`, in the Prometheus text format. Writing to a `String` cannot fail; should a metric
/// fail to encode, what was written is served and the failure logged, never a panic on a scrape.
pub fn encode(registry: &Registry) -> String {
    let mut text = String::new();
    if let Err(error) = prometheus_text::encode(&mut text, registry) {
        tracing::error!(%error, "encoding the metrics failed");
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histograms_are_cumulative_with_the_shared_buckets() {
        let mut registry = Registry::default();
        let histogram = duration_histogram();
        registry.register("took_seconds", "Durations", histogram.clone());
        histogram.observe(0.003);
        histogram.observe(0.2);
        let text = encode(&registry);
        for line in [
            "took_seconds_bucket{le=\"0.005\"} 1\n",
            "took_seconds_bucket{le=\"0.25\"} 2\n",
            "took_seconds_bucket{le=\"60\"} 2\n",
            "took_seconds_bucket{le=\"+Inf\"} 2\n",
            "took_seconds_count 2\n",
        ] {
            assert!(text.contains(line), "{line} in {text}");
        }
    }
}
