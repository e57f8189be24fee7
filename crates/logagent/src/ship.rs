//! The outputs and the shipper. The shipper takes batches from the buffer in order, sends each
//! record to its rule's output (Elasticsearch's bulk API, or a Kafka topic), retries what failed
//! with exponential back-off for as long as the output is down, and only then checkpoints the
//! batch: a batch is acknowledged whole, so the positions never pass an unsent line.
//!
//! One shipper serves every output, so an output that is down holds back the others once the
//! buffer is full (the readers pause; nothing is lost).

use std::{
    collections::HashMap,
    sync::{Arc, Mutex, atomic::Ordering::Relaxed},
    time::Duration,
};

use rskafka::client::partition::{Compression, PartitionClient, UnknownTopicHandling};

use crate::{
    buffer::{Buffer, Record},
    checkpoint::Checkpoints,
    rules::{ElasticsearchOutput, KafkaOutput, Output},
    stats::Stats,
};

/// What became of one record of a send.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ItemResult {
    Ok,
    /// Try again (the output is down or overloaded).
    Retry,
    /// Refused for good (counted as rejected).
    Reject,
}

pub enum Sink {
    Elasticsearch(EsSink),
    Kafka(KafkaSink),
}

impl Sink {
    fn new(out: &Output, http: &reqwest::Client) -> Result<Sink, String> {
        match (out.kind.as_str(), &out.elasticsearch_output, &out.kafka_output) {
            ("elasticsearch", Some(es), _) => Ok(Sink::Elasticsearch(EsSink::new(es, http.clone()))),
            ("kafka", _, Some(k)) => Ok(Sink::Kafka(KafkaSink::new(k))),
            _ => Err(format!("output {:?} is not usable", out.kind)),
        }
    }

    /// Sends the records; per record what became of it.
    pub async fn send(&self, records: &[&Record]) -> Vec<ItemResult> {
        match self {
            Sink::Elasticsearch(s) => s.send(records).await,
            Sink::Kafka(s) => s.send(records).await,
        }
    }
}

/// Elasticsearch's `_bulk` endpoint.
pub struct EsSink {
    hosts: Vec<String>,
    index: String,
    auth: Option<(String, String)>,
    http: reqwest::Client,
    /// The host to use next (moves on after a failure).
    next: Mutex<usize>,
}

impl EsSink {
    pub fn new(out: &ElasticsearchOutput, http: reqwest::Client) -> EsSink {
        let auth = (!out.user.is_empty()).then(|| (out.user.clone(), out.password_clear()));
        let hosts = out.hosts.iter().map(|h| h.trim_end_matches('/').to_string()).collect();
        EsSink { hosts, index: out.index.clone(), auth, http, next: Mutex::new(0) }
    }

    fn body(&self, records: &[&Record]) -> String {
        let mut action = String::from("{\"index\":{\"_index\":");
        crate::tail::push_json_str(&mut action, &self.index);
        action.push_str("}}\n");
        let mut body = String::with_capacity(records.iter().map(|r| r.doc.len() + action.len() + 1).sum());
        for r in records {
            body.push_str(&action);
            body.push_str(&r.doc);
            body.push('\n');
        }
        body
    }

    pub async fn send(&self, records: &[&Record]) -> Vec<ItemResult> {
        let host = {
            let n = self.next.lock().map(|g| *g).unwrap_or(0);
            self.hosts.get(n % self.hosts.len().max(1)).cloned().unwrap_or_default()
        };
        let fail = |why: String| {
            tracing::warn!(host = %host, error = %why, "Elasticsearch bulk request failed: retrying");
            if let Ok(mut g) = self.next.lock() {
                *g = g.wrapping_add(1);
            }
            vec![ItemResult::Retry; records.len()]
        };
        let mut req = self
            .http
            .post(format!("{host}/_bulk"))
            .header("content-type", "application/x-ndjson")
            .body(self.body(records));
        if let Some((u, p)) = &self.auth {
            req = req.basic_auth(u, Some(p));
        }
        let resp = match req.send().await {
            Ok(r) => r,
            Err(e) => return fail(e.to_string()),
        };
        let status = resp.status();
        let body = match resp.bytes().await {
            Ok(b) => b,
            Err(e) => return fail(e.to_string()),
        };
        if !status.is_success() {
            // 401/403/413 too: retried (the operator fixes the output) rather than dropped.
            return fail(format!("status {status}: {}", String::from_utf8_lossy(&body[..body.len().min(300)])));
        }
        let v: serde_json::Value = match serde_json::from_slice(&body) {
            Ok(v) => v,
            Err(e) => return fail(format!("the bulk response is not JSON: {e}")),
        };
        if v.get("errors").and_then(|e| e.as_bool()) != Some(true) {
            return vec![ItemResult::Ok; records.len()];
        }
        let items = v.get("items").and_then(|i| i.as_array()).cloned().unwrap_or_default();
        if items.len() != records.len() {
            return fail(format!("the bulk response has {} items for {} documents", items.len(), records.len()));
        }
        let mut logged = 0;
        items
            .iter()
            .map(|item| {
                let inner = item.as_object().and_then(|o| o.values().next());
                let code = inner.and_then(|i| i.get("status")).and_then(|s| s.as_u64()).unwrap_or(500);
                match code {
                    200..=299 => ItemResult::Ok,
                    429 | 500.. => ItemResult::Retry,
                    _ => {
                        if logged < 3 {
                            logged += 1;
                            let err = inner.and_then(|i| i.get("error")).map(|e| e.to_string()).unwrap_or_default();
                            tracing::warn!(index = %self.index, status = code, error = %err, "Elasticsearch refused a document");
                        }
                        ItemResult::Reject
                    }
                }
            })
            .collect()
    }
}

/// A Kafka topic (partition 0, so that the lines of a file keep their order).
pub struct KafkaSink {
    broker: String,
    topic: String,
    client: tokio::sync::Mutex<Option<Arc<PartitionClient>>>,
}

impl KafkaSink {
    pub fn new(out: &KafkaOutput) -> KafkaSink {
        KafkaSink {
            broker: format!("{}:{}", out.host, out.port),
            topic: out.topic.clone(),
            client: tokio::sync::Mutex::new(None),
        }
    }

    async fn partition(&self) -> Result<Arc<PartitionClient>, String> {
        let mut g = self.client.lock().await;
        if let Some(c) = g.as_ref() {
            return Ok(c.clone());
        }
        // rskafka retries on its own, forever by default: bounded here, the shipper's back-off
        // takes over.
        let backoff = rskafka::BackoffConfig {
            init_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_secs(2),
            base: 2.0,
            deadline: Some(Duration::from_secs(10)),
        };
        let client = rskafka::client::ClientBuilder::new(vec![self.broker.clone()])
            .client_id("tke-logagent")
            .backoff_config(backoff)
            .build()
            .await
            .map_err(|e| format!("connecting to {}: {e}", self.broker))?;
        let p = client
            .partition_client(self.topic.clone(), 0, UnknownTopicHandling::Retry)
            .await
            .map_err(|e| format!("topic {} on {}: {e}", self.topic, self.broker))?;
        let p = Arc::new(p);
        *g = Some(p.clone());
        Ok(p)
    }

    pub async fn send(&self, records: &[&Record]) -> Vec<ItemResult> {
        let p = match self.partition().await {
            Ok(p) => p,
            Err(e) => {
                tracing::warn!(error = %e, "Kafka output unavailable: retrying");
                return vec![ItemResult::Retry; records.len()];
            }
        };
        let now = chrono::Utc::now();
        let batch = records
            .iter()
            .map(|r| rskafka::record::Record {
                key: None,
                value: Some(r.doc.as_bytes().to_vec()),
                headers: Default::default(),
                timestamp: now,
            })
            .collect();
        match p.produce(batch, Compression::NoCompression).await {
            Ok(_) => vec![ItemResult::Ok; records.len()],
            Err(e) => {
                tracing::warn!(topic = %self.topic, broker = %self.broker, error = %e, "Kafka produce failed: retrying");
                *self.client.lock().await = None;
                vec![ItemResult::Retry; records.len()]
            }
        }
    }
}

/// Output → its number, and the sinks by number.
type Registry = (HashMap<Output, u32>, Vec<Arc<Sink>>);

/// The outputs of the rules, numbered (records carry the number).
pub struct Outputs {
    http: reqwest::Client,
    inner: Mutex<Registry>,
}

impl Outputs {
    pub fn new() -> anyhow::Result<Outputs> {
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(5))
            .timeout(Duration::from_secs(60))
            .build()
            .map_err(|e| anyhow::anyhow!("building the HTTP client: {e}"))?;
        Ok(Outputs { http, inner: Mutex::new((HashMap::new(), Vec::new())) })
    }

    /// The number of an output, creating its sink on first use.
    pub fn id(&self, out: &Output) -> Result<u32, String> {
        let mut g = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(id) = g.0.get(out) {
            return Ok(*id);
        }
        let sink = Sink::new(out, &self.http)?;
        let id = g.1.len() as u32;
        g.1.push(Arc::new(sink));
        g.0.insert(out.clone(), id);
        Ok(id)
    }

    fn get(&self, id: u32) -> Option<Arc<Sink>> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner()).1.get(id as usize).cloned()
    }
}

pub struct ShipOptions {
    pub batch_lines: usize,
    pub batch_bytes: u64,
    pub initial_backoff: Duration,
    pub max_backoff: Duration,
}

/// Ships until the buffer is closed.
pub async fn run(
    buffer: Arc<Buffer>,
    outputs: Arc<Outputs>,
    checkpoints: Arc<Checkpoints>,
    stats: Arc<Stats>,
    opts: ShipOptions,
) {
    while let Some(batch) = buffer.pop_batch(opts.batch_lines, opts.batch_bytes).await {
        let mut todo: Vec<usize> = (0..batch.len()).collect();
        let mut backoff = opts.initial_backoff;
        let mut rejected = 0u64;
        while !todo.is_empty() {
            let mut by_dest: HashMap<u32, Vec<usize>> = HashMap::new();
            for i in &todo {
                by_dest.entry(batch[*i].dest).or_default().push(*i);
            }
            let mut again = Vec::new();
            for (dest, idx) in by_dest {
                let Some(sink) = outputs.get(dest) else {
                    rejected += idx.len() as u64;
                    continue;
                };
                let recs: Vec<&Record> = idx.iter().map(|i| &batch[*i]).collect();
                let results = sink.send(&recs).await;
                tracing::debug!(dest, records = recs.len(), "sent");
                for (i, r) in idx.iter().zip(results) {
                    match r {
                        ItemResult::Ok => {}
                        ItemResult::Retry => again.push(*i),
                        ItemResult::Reject => rejected += 1,
                    }
                }
            }
            if !again.is_empty() {
                stats.send_errors.fetch_add(1, Relaxed);
                again.sort_unstable();
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(opts.max_backoff);
            }
            todo = again;
        }
        if rejected > 0 {
            stats.lines_rejected.fetch_add(rejected, Relaxed);
        }
        stats.lines_shipped.fetch_add(batch.len() as u64 - rejected, Relaxed);
        if let Err(e) = checkpoints.ack(&batch) {
            tracing::warn!(error = %e, "cannot save the positions (they are saved with the next batch)");
        }
        // Last: until here the batch is still part of what the buffer reports as held.
        buffer.done(&batch);
    }
}
