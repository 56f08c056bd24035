//! `[telemetry] otlp_endpoint`: the gateway's spans exported over OTLP/HTTP (protobuf), one
//! trace per event whichever gateway runs each step.
//!
//! The `opentelemetry` crates do the work: `tracing-opentelemetry` turns the `ingest`, `event`,
//! `route` and `delivery` spans into OpenTelemetry spans, the SDK batches them on its own
//! thread, and `opentelemetry-otlp` encodes and posts them. What is ours is small: the
//! exporter's HTTP client (the gateway's reqwest, run on its runtime, so no second HTTP stack
//! is built), and carrying a trace across gateways — ingest stores the trace's W3C
//! `traceparent` with the event ([`traceparent`]), and dispatch and each delivery attempt,
//! on whichever gateway leases them, continue it ([`continue_trace`]). Without an endpoint
//! nothing here runs: no span is made for ingest and no traceparent is stored. This file never
//! decides what a span contains.

use opentelemetry::propagation::TextMapPropagator;
use opentelemetry::trace::{TraceContextExt, TracerProvider as _};
use opentelemetry_http::{Bytes, HttpClient, HttpError};
use opentelemetry_otlp::{WithExportConfig, WithHttpConfig};
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::{BatchConfigBuilder, BatchSpanProcessor, SdkTracerProvider};
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;
use tracing_opentelemetry::OpenTelemetrySpanExt;

/// Whether spans are being exported (set once, when the exporter is installed).
static EXPORTING: AtomicBool = AtomicBool::new(false);

/// How long one export may take before it is given up (the batch is dropped, not retried).
const EXPORT_TIMEOUT: Duration = Duration::from_secs(10);

/// How often finished spans are sent: often enough that a trace shows up while one looks.
const EXPORT_EVERY: Duration = Duration::from_secs(1);

/// Finished spans waiting to be sent at most; past this, new ones are dropped (and counted by
/// the SDK), never buffered without bound.
const QUEUE: usize = 8192;

/// An answer from a collector is read up to this size (it is a status, not data).
const MAX_ANSWER: usize = 64 << 10;

/// Whether this process exports spans.
pub fn exporting() -> bool {
    EXPORTING.load(Ordering::Relaxed)
}

/// Why the exporter could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    #[error("cannot set up the OTLP exporter for {endpoint}: {message}")]
    Build { endpoint: String, message: String },
}

/// The tracer provider spans go to; shut it down before exiting so the last spans are sent.
pub struct Exporter {
    pub provider: SdkTracerProvider,
}

impl Exporter {
    /// Sends what is still queued (within the export timeout) and stops the exporter thread.
    pub async fn shutdown(self) {
        let provider = self.provider;
        let _ = tokio::task::spawn_blocking(move || provider.shutdown()).await;
    }
}

/// Builds the exporter for `endpoint` (a collector's base URL; `/v1/traces` is added), posting
/// from tasks on `runtime`. Marks this process as exporting.
pub fn exporter(endpoint: &str, runtime: tokio::runtime::Handle) -> Result<Exporter, ExportError> {
    let url = format!("{}/v1/traces", endpoint.trim_end_matches('/'));
    let error = |message: String| ExportError::Build { endpoint: crate::config::without_password(endpoint), message };
    let tls = crate::tls::client_config(&crate::tls::ClientTls::default()).map_err(|e| error(e.to_string()))?;
    let client = reqwest::Client::builder()
        .timeout(EXPORT_TIMEOUT)
        .redirect(reqwest::redirect::Policy::none())
        .use_preconfigured_tls(tls)
        .build()
        .map_err(|e| error(e.to_string()))?;
    let exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_http()
        .with_http_client(OnRuntime { client, runtime })
        .with_endpoint(url)
        .with_timeout(EXPORT_TIMEOUT)
        .build()
        .map_err(|e| error(e.to_string()))?;
    let batches = BatchConfigBuilder::default().with_scheduled_delay(EXPORT_EVERY).with_max_queue_size(QUEUE).build();
    let processor = BatchSpanProcessor::builder(exporter).with_batch_config(batches).build();
    let resource = opentelemetry_sdk::Resource::builder_empty()
        .with_service_name("switchyard")
        .with_attribute(opentelemetry::KeyValue::new("service.version", env!("CARGO_PKG_VERSION")))
        .build();
    let provider = SdkTracerProvider::builder().with_span_processor(processor).with_resource(resource).build();
    EXPORTING.store(true, Ordering::Relaxed);
    Ok(Exporter { provider })
}

/// The `tracing` layer that feeds `exporter`'s spans.
pub fn layer<S>(exporter: &Exporter) -> impl tracing_subscriber::Layer<S> + Send + Sync + 'static
where
    S: tracing::Subscriber + for<'span> tracing_subscriber::registry::LookupSpan<'span> + Send + Sync,
{
    tracing_opentelemetry::layer().with_tracer(exporter.provider.tracer("switchyard"))
}

/// The W3C `traceparent` of `span`'s trace, to store with the event; `None` when not exporting.
pub fn traceparent(span: &tracing::Span) -> Option<String> {
    if !exporting() {
        return None;
    }
    let context = span.context();
    if !context.span().span_context().is_valid() {
        return None;
    }
    let mut carrier = HashMap::new();
    TraceContextPropagator::new().inject_context(&context, &mut carrier);
    carrier.remove("traceparent")
}

/// Makes `span` a child of the stored `traceparent` (the event's trace), and names the node
/// that runs it. Call before the span is first entered.
pub fn continue_trace(span: &tracing::Span, traceparent: Option<&str>, node: &str) {
    if !exporting() {
        return;
    }
    if let Some(parent) = traceparent {
        let carrier = HashMap::from([("traceparent".to_string(), parent.to_string())]);
        let _ = span.set_parent(TraceContextPropagator::new().extract(&carrier));
    }
    span.set_attribute("switchyard.node", node.to_string());
}

/// The exporter's HTTP client: the gateway's reqwest, each request run as a task on the
/// gateway's runtime (the SDK exports from a thread of its own, outside any runtime).
#[derive(Debug)]
struct OnRuntime {
    client: reqwest::Client,
    runtime: tokio::runtime::Handle,
}

#[async_trait::async_trait]
impl HttpClient for OnRuntime {
    async fn send_bytes(&self, request: http::Request<Bytes>) -> Result<http::Response<Bytes>, HttpError> {
        let client = self.client.clone();
        let task = self.runtime.spawn(async move {
            let (parts, body) = request.into_parts();
            let sent = client.request(parts.method, parts.uri.to_string()).headers(parts.headers).body(body).send();
            let mut answer = sent.await?;
            let mut response = http::Response::builder().status(answer.status());
            if let Some(headers) = response.headers_mut() {
                *headers = std::mem::take(answer.headers_mut());
            }
            let mut body = Vec::new();
            while let Some(chunk) = answer.chunk().await? {
                if body.len() + chunk.len() > MAX_ANSWER {
                    break;
                }
                body.extend_from_slice(&chunk);
            }
            Ok::<_, HttpError>(response.body(Bytes::from(body))?)
        });
        task.await?
    }
}
