//! The collector test harness: a collector over a real SQLite file in a temp dir or a real
//! PostgreSQL database made for the test, driven through `app` with `oneshot` or over a
//! real socket, and the records and requests the scenarios send.
#![allow(dead_code, unused_macros, unused_imports)]

pub mod postgres;
pub mod scenarios;

use std::net::SocketAddr;
use std::sync::Arc;

use axum::body::Body;
use axum::http::{HeaderMap, Request, StatusCode};
use http_body_util::BodyExt;
use jitgate_collector::audit_log::{AuditLog, CheckpointPolicy};
use jitgate_collector::bench::sample_record;
use jitgate_collector::metrics::Metrics;
use jitgate_collector::note::NoteSigner;
use jitgate_collector::store::{Location, Store};
use jitgate_collector::{
    app, Binding, Collector, CollectorConfig, Credentials, RecordKind, Sender, Senders,
};
use jitgate_grant::audit::otlp::{export_logs_request, Resource};
use jitgate_grant::audit::AuditRecord;
use serde_json::Value;
use tower::ServiceExt;

pub use postgres::PostgresDatabase;

/// The gate's credential in tests: gateway records in streams starting [`SENDER_PREFIX`].
pub const SENDER: &str = "test-sender-credential-0001";
/// The streams [`SENDER`] may write (`vm-1`, `vm-2`, …).
pub const SENDER_PREFIX: &str = "vm-";
/// Another gateway deployment's credential: gateway records in streams `gw-eu-…`.
pub const OTHER_GATEWAY: &str = "test-other-gateway-credential-0001";
/// The streams [`OTHER_GATEWAY`] may write.
pub const OTHER_GATEWAY_PREFIX: &str = "gw-eu-";
/// The issuer's credential: issuer events in streams `issuer-…`.
pub const ISSUER: &str = "test-issuer-credential-0001";
/// The streams [`ISSUER`] may write.
pub const ISSUER_PREFIX: &str = "issuer-";
/// The reviewer's credential in tests.
pub const REVIEWER: &str = "test-reviewer-credential-0001";
/// The test log's origin.
pub const ORIGIN: &str = "collector.test.jitgate.invalid/audit";
/// The test signing key's seed.
pub const SEED: [u8; 32] = [42; 32];

/// Which store a scenario runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// A SQLite file in a temp dir.
    Sqlite,
    /// A PostgreSQL database made for the test.
    Postgres,
}

/// How to build the collector under test.
#[derive(Debug, Clone)]
pub struct Options {
    pub policy: CheckpointPolicy,
    pub max_body_bytes: usize,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            policy: CheckpointPolicy::default(),
            max_body_bytes: jitgate_collector::DEFAULT_MAX_BODY_BYTES,
        }
    }
}

/// A collector under test.
pub struct Harness {
    pub collector: Collector,
    pub place: Place,
}

/// Where a test's log lives; dropping it removes the temp dir or the PostgreSQL database.
pub struct Place {
    pub location: Location,
    pub options: Options,
    pub dir: tempfile::TempDir,
    database: Option<PostgresDatabase>,
}

/// An HTTP answer.
#[derive(Debug)]
pub struct Answer {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Vec<u8>,
}

impl Answer {
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.text()))
    }

    pub fn content_type(&self) -> &str {
        self.headers
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    }
}

pub fn signer() -> NoteSigner {
    NoteSigner::from_seed(ORIGIN, SEED).unwrap()
}

pub async fn open_collector(
    location: &Location,
    options: &Options,
) -> Result<Collector, jitgate_collector::Error> {
    let store = Store::open(location).await?;
    let log = AuditLog::open(
        store,
        signer(),
        options.policy,
        Arc::new(Metrics::default()),
    )
    .await?;
    Ok(Collector::new(
        log,
        CollectorConfig {
            senders: senders(),
            reviewers: Credentials::new("reviewer credential", [REVIEWER]).unwrap(),
            max_body_bytes: options.max_body_bytes,
        },
    ))
}

fn sender(kind: RecordKind, stream_prefix: &str, credential: &str) -> Sender {
    Sender::new(
        Binding {
            kind,
            stream_prefix: stream_prefix.to_owned(),
        },
        Credentials::new("sender credential", [credential]).unwrap(),
    )
    .unwrap()
}

/// The three senders every test collector knows.
pub fn senders() -> Senders {
    Senders::new(vec![
        sender(RecordKind::Gateway, SENDER_PREFIX, SENDER),
        sender(RecordKind::Gateway, OTHER_GATEWAY_PREFIX, OTHER_GATEWAY),
        sender(RecordKind::Issuer, ISSUER_PREFIX, ISSUER),
    ])
    .unwrap()
}

impl Harness {
    pub async fn new(backend: Backend) -> Harness {
        Harness::with(backend, Options::default()).await
    }

    pub async fn with(backend: Backend, options: Options) -> Harness {
        let dir = tempfile::tempdir().unwrap();
        let (location, database) = match backend {
            Backend::Sqlite => (Location::Sqlite(dir.path().join("audit.db")), None),
            Backend::Postgres => {
                let database = PostgresDatabase::create().await;
                (Location::Postgres(database.url.clone()), Some(database))
            }
        };
        let collector = open_collector(&location, &options).await.unwrap();
        Harness {
            collector,
            place: Place {
                location,
                options,
                dir,
                database,
            },
        }
    }

    /// Stops the collector (closing its store and releasing the writer lock) and keeps the
    /// log's place, to open it again.
    pub async fn stop(self) -> Place {
        let Harness { collector, place } = self;
        collector.log().store().close().await;
        drop(collector);
        place
    }

    /// Stops and opens the same log again, as a restart does.
    pub async fn restart(self) -> Harness {
        let place = self.stop().await;
        let collector = open_collector(&place.location, &place.options)
            .await
            .unwrap();
        Harness { collector, place }
    }

    pub async fn send(&self, request: Request<Body>) -> Answer {
        let response = app(self.collector.clone()).oneshot(request).await.unwrap();
        let status = response.status();
        let headers = response.headers().clone();
        let body = response
            .into_body()
            .collect()
            .await
            .unwrap()
            .to_bytes()
            .to_vec();
        Answer {
            status,
            headers,
            body,
        }
    }

    /// `POST /v1/logs` with the sender credential and a JSON body of `records`.
    pub async fn post_records(&self, records: &[AuditRecord]) -> Answer {
        self.post_records_as(SENDER, records).await
    }

    /// `POST /v1/logs` with `credential` and a JSON body of `records`.
    pub async fn post_records_as(&self, credential: &str, records: &[AuditRecord]) -> Answer {
        self.post("application/json", json_request(records), Some(credential))
            .await
    }

    pub async fn post(
        &self,
        content_type: &str,
        body: Vec<u8>,
        credential: Option<&str>,
    ) -> Answer {
        let mut request = Request::post("/v1/logs").header("content-type", content_type);
        if let Some(credential) = credential {
            request = request.header("authorization", format!("Bearer {credential}"));
        }
        self.send(request.body(Body::from(body)).unwrap()).await
    }

    pub async fn post_gzip(&self, content_type: &str, body: Vec<u8>) -> Answer {
        let request = Request::post("/v1/logs")
            .header("content-type", content_type)
            .header("content-encoding", "gzip")
            .header("authorization", format!("Bearer {SENDER}"));
        self.send(request.body(Body::from(body)).unwrap()).await
    }

    /// `GET path` with the reviewer credential.
    pub async fn get(&self, path: &str) -> Answer {
        self.get_as(path, Some(REVIEWER)).await
    }

    pub async fn get_as(&self, path: &str, credential: Option<&str>) -> Answer {
        let mut request = Request::get(path);
        if let Some(credential) = credential {
            request = request.header("authorization", format!("Bearer {credential}"));
        }
        self.send(request.body(Body::empty()).unwrap()).await
    }

    pub async fn size(&self) -> u64 {
        self.collector.log().size().await
    }

    /// A metric's value from `GET /metrics`.
    pub async fn metric(&self, name: &str) -> u64 {
        let text = self.get_as("/metrics", None).await.text();
        text.lines()
            .find_map(|line| line.strip_prefix(&format!("{name} ")))
            .unwrap_or_else(|| panic!("no metric {name} in\n{text}"))
            .parse()
            .unwrap()
    }

    /// Serves the app on a loopback socket; returns its base URL.
    pub async fn serve(&self) -> String {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address: SocketAddr = listener.local_addr().unwrap();
        let app = app(self.collector.clone());
        tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        format!("http://{address}")
    }

    /// `GET /v1/export?query` over the app, as text.
    pub async fn export(&self, query: &str) -> String {
        let answer = self.get(&format!("/v1/export?{query}")).await;
        assert_eq!(answer.status, StatusCode::OK, "{}", answer.text());
        answer.text()
    }
}

/// `count` records of `stream`, sequences `first ..`.
pub fn records(stream: &str, sequences: impl IntoIterator<Item = u64>) -> Vec<AuditRecord> {
    sequences
        .into_iter()
        .map(|sequence| sample_record(stream, sequence))
        .collect()
}

/// Issuer events (`route` issuer, `reason` `issuer.approved`) of `stream`, as the issuer
/// writes them.
pub fn issuer_events(stream: &str, sequences: impl IntoIterator<Item = u64>) -> Vec<AuditRecord> {
    records(stream, sequences)
        .into_iter()
        .map(|mut record| {
            record.route = Some("issuer".into());
            record.reason = "issuer.approved".into();
            record.model = None;
            record
        })
        .collect()
}

/// An OTLP/HTTP JSON body, as the gate sends it.
pub fn json_request(records: &[AuditRecord]) -> Vec<u8> {
    export_logs_request(&resource(), "0.1.0", records)
        .to_string()
        .into_bytes()
}

/// The same request as protobuf.
pub fn protobuf_request(records: &[AuditRecord]) -> Vec<u8> {
    jitgate_collector::ingest::protobuf::client::export_request(&export_logs_request(
        &resource(),
        "0.1.0",
        records,
    ))
}

fn resource() -> Resource {
    Resource {
        service_name: "jitgate-filter".into(),
        instance_id: "test-instance".into(),
    }
}

/// `bytes`, gzip-compressed as an OTLP exporter with compression on sends them.
pub fn gzip(bytes: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    encoder.write_all(bytes).unwrap();
    encoder.finish().unwrap()
}

/// Generates one `#[tokio::test]` per scenario, running it on `$backend`.
macro_rules! backend_tests {
    ($backend:expr) => {
        common::backend_tests!(@each $backend;
            ingests_json_records,
            ingests_protobuf_records,
            ingests_gzip_compressed_records,
            refuses_unauthenticated_senders_and_stores_nothing,
            refuses_bodies_it_cannot_take_with_the_exact_status,
            refuses_a_batch_of_only_invalid_records,
            stores_valid_records_and_rejects_the_rest_with_partial_success,
            partial_success_in_protobuf,
            stores_a_replayed_batch_once,
            rejects_and_counts_a_conflicting_replay,
            refuses_a_forged_stream_whole_and_the_genuine_records_then_land_and_verify,
            refuses_a_gateway_credential_writing_issuer_events_and_the_reverse,
            refuses_almost_right_credentials_before_reading_the_body,
            refuses_bodies_built_to_break_a_parser,
            stores_a_batch_replayed_by_many_senders_at_once_once,
            reports_gaps_per_stream,
            signs_checkpoints_every_n_records,
            checkpoint_verifies_with_the_served_key,
            serves_proofs_against_signed_checkpoints,
            queries_records_with_filters,
            refuses_bad_queries_precisely,
            export_round_trips_through_verify,
            filtered_and_csv_exports_verify,
            export_since_a_checkpoint_proves_consistency,
            survives_a_restart_and_keeps_deduplicating,
            refuses_to_start_on_a_tampered_store,
            exports_over_a_real_socket,
        );
    };
    (@each $backend:expr; $($name:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() {
                common::scenarios::$name($backend).await
            }
        )*
    };
}
pub(crate) use backend_tests;
