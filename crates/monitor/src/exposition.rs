//! The embedded store's size and drops on the platform's `/metrics` (the project quota gauges
//! of reference 7.4 are [`crate::quota`]'s).

use std::sync::Arc;

use prometheus_client::{
    collector::Collector,
    encoding::{DescriptorEncoder, EncodeMetric},
    metrics::{MetricType, counter::ConstCounter, gauge::ConstGauge},
};

use crate::store::SeriesStore;

/// The embedded store's size and drops, read at each scrape.
#[derive(Debug)]
pub struct StoreCollector(pub Arc<SeriesStore>);

impl std::fmt::Debug for SeriesStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SeriesStore").field("stats", &self.stats()).finish()
    }
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, prometheus_client::encoding::EncodeLabelSet)]
struct Reason {
    reason: &'static str,
}

impl Collector for StoreCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let s = self.0.stats();
        for (name, help, v) in [
            ("tke_monitor_store_bytes", "Bytes the embedded metrics store holds (its cap counts these)", s.bytes),
            ("tke_monitor_store_series", "Series in the embedded metrics store", s.series),
            ("tke_monitor_store_samples", "Samples in the embedded metrics store", s.samples),
        ] {
            let m = encoder.encode_descriptor(name, help, None, MetricType::Gauge)?;
            ConstGauge::new(v as i64).encode(m)?;
        }
        let mut family = encoder.encode_descriptor(
            "tke_monitor_store_dropped_samples",
            "Samples the embedded metrics store dropped: to stay under its cap (space) or past its retention (age)",
            None,
            MetricType::Counter,
        )?;
        for (reason, v) in [("space", s.dropped_for_space), ("age", s.dropped_for_age)] {
            ConstCounter::new(v).encode(family.encode_family(&Reason { reason })?)?;
        }
        let limit = encoder.encode_descriptor(
            "tke_monitor_store_limit_bytes",
            "The embedded metrics store's cap",
            None,
            MetricType::Gauge,
        )?;
        ConstGauge::new(self.0.limits().bytes.min(i64::MAX as usize) as i64).encode(limit)
    }
}
