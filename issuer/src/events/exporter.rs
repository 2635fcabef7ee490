//! Shipping issuer audit records to the collector: batches of up to 100 records or one
//! second, `POST <endpoint>/v1/logs` as OTLP/HTTP JSON with a bearer credential, retried with
//! backoff (1 s doubling to 30 s) until accepted, in order.

use std::time::Duration;

use jitgate_grant::audit::otlp::{export_logs_request, Resource};
use jitgate_grant::audit::AuditRecord;
use tokio::sync::mpsc;

use super::{EventSink, BUFFER_RECORDS};
use crate::error::{Error, Result};
use crate::ids;

const BATCH_RECORDS: usize = 100;
const BATCH_WAIT: Duration = Duration::from_secs(1);
const MAX_BACKOFF: Duration = Duration::from_secs(30);

/// Where and how to send.
#[derive(Clone)]
pub struct ExporterSettings {
    /// The collector's base URL (`/v1/logs` is appended).
    pub endpoint: String,
    /// The collector's sender credential.
    pub credential: String,
    /// The issuer's host, for the records' `server.address`.
    pub authority: String,
}

impl std::fmt::Debug for ExporterSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ExporterSettings({})", self.endpoint)
    }
}

/// Starts the exporter task and returns the sink that feeds it.
pub fn spawn_exporter(settings: ExporterSettings) -> Result<EventSink> {
    let (sender, receiver) = mpsc::channel(BUFFER_RECORDS);
    let instance = format!("issuer-{}", ids::hex(&ids::random_bytes::<8>()?));
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .map_err(|error| Error::Config(format!("HTTP client: {error}")))?;
    let sink = EventSink::new(instance.clone(), settings.authority.clone(), sender);
    tokio::spawn(run(settings, instance, http, receiver));
    Ok(sink)
}

async fn run(
    settings: ExporterSettings,
    instance: String,
    http: reqwest::Client,
    mut receiver: mpsc::Receiver<AuditRecord>,
) {
    let url = format!("{}/v1/logs", settings.endpoint.trim_end_matches('/'));
    let resource = Resource {
        service_name: "jitgate-issuer".into(),
        instance_id: instance,
    };
    while let Some(first) = receiver.recv().await {
        let mut batch = vec![first];
        let deadline = tokio::time::Instant::now() + BATCH_WAIT;
        while batch.len() < BATCH_RECORDS {
            match tokio::time::timeout_at(deadline, receiver.recv()).await {
                Ok(Some(record)) => batch.push(record),
                Ok(None) | Err(_) => break,
            }
        }
        let body = export_logs_request(&resource, env!("CARGO_PKG_VERSION"), &batch).to_string();
        let mut backoff = Duration::from_secs(1);
        loop {
            let sent = http
                .post(&url)
                .bearer_auth(&settings.credential)
                .header("content-type", "application/json")
                .body(body.clone())
                .send()
                .await;
            match sent {
                Ok(response) if response.status().is_success() => break,
                Ok(response) if is_permanent(response.status()) => {
                    // Sending the same records again cannot succeed; keep the queue moving.
                    // Their sequence numbers stay unused, which the collector reports as a gap.
                    tracing::error!(status = %response.status(), records = batch.len(), "collector rejected issuer audit records for good; dropped");
                    break;
                }
                Ok(response) => {
                    tracing::warn!(status = %response.status(), records = batch.len(), "collector refused issuer audit records; retrying")
                }
                Err(error) => {
                    tracing::warn!(%error, records = batch.len(), "cannot reach the collector; retrying")
                }
            }
            tokio::time::sleep(backoff).await;
            backoff = (backoff * 2).min(MAX_BACKOFF);
        }
    }
}

/// A 4xx that retrying cannot fix (not 401/403, which a configuration fix can, nor 408/429).
fn is_permanent(status: reqwest::StatusCode) -> bool {
    status.is_client_error() && ![401, 403, 408, 429].contains(&status.as_u16())
}
