//! The test harness: an issuer over SQLite (a temp dir) or PostgreSQL (a fresh database per
//! test), the example policy, the demo identities, a manual clock, and helpers that call the
//! router in-process and return status, headers and JSON body.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;

use axum::body::Body;
use axum::http::{HeaderMap, Method, Request, StatusCode};
use http_body_util::BodyExt;
use jitgate_issuer::clock::ManualClock;
use jitgate_issuer::demo::{demo_api_tokens, demo_token};
use jitgate_issuer::identity::data_plane::DataPlaneCredential;
use jitgate_issuer::identity::{Authenticator, RoleGroups};
use jitgate_issuer::keys::KeyRing;
use jitgate_issuer::policy::{PolicyEngine, BUILTIN_SCHEMA, EXAMPLE_POLICY};
use jitgate_issuer::rate_limit::{RateLimiter, RateLimits};
use jitgate_issuer::store::Store;
use jitgate_issuer::{app, AppState, Settings, Shared};
use serde_json::Value;
use tower::ServiceExt;

/// The feed credential every test issuer accepts.
pub const FEED_CREDENTIAL: &str = "test-data-plane-credential";
/// The clock's start: 2026-01-01T00:00:00Z.
pub const START: i64 = 1_767_225_600;
/// The issuer URL in tokens (the same as testdata/policy.json expects).
pub const ISSUER_URL: &str = "https://issuer.jitgate.test";

/// A small scope the example policy auto-approves.
pub const SMALL_MODEL: &str = "inference:meta-llama/Llama-3.1-8B-Instruct";
/// A scope that needs one ML lead.
pub const TRAINING: &str = "training:llama-3-8b";

/// One issuer under test.
pub struct TestIssuer {
    pub state: AppState,
    pub clock: ManualClock,
    pub router: axum::Router,
    _dir: tempfile::TempDir,
    pub database: Option<PostgresDatabase>,
}

/// A response, fully read.
#[derive(Debug)]
pub struct Answer {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Value,
    pub text: String,
}

impl TestIssuer {
    /// An issuer on a fresh SQLite file.
    pub async fn sqlite() -> TestIssuer {
        let dir = tempfile::tempdir().unwrap();
        let url = Store::sqlite_url(dir.path());
        TestIssuer::build(dir, &url, None).await
    }

    /// An issuer on a fresh SQLite file with this policy.
    pub async fn sqlite_with_policy(policy: PolicyEngine) -> TestIssuer {
        let dir = tempfile::tempdir().unwrap();
        let url = Store::sqlite_url(dir.path());
        let keys = dir.path().join("keys");
        TestIssuer::build_with_keys(dir, &url, None, &keys, Some(policy)).await
    }

    /// An issuer on a fresh PostgreSQL database (see [`PostgresDatabase`]).
    pub async fn postgres() -> TestIssuer {
        let dir = tempfile::tempdir().unwrap();
        let database = PostgresDatabase::create().await;
        let url = database.url.clone();
        TestIssuer::build(dir, &url, Some(database)).await
    }

    /// A second issuer (replica) on the same database, with the same keys.
    pub async fn replica(&self) -> TestIssuer {
        let dir = tempfile::tempdir().unwrap();
        let url = match &self.database {
            Some(database) => database.url.clone(),
            None => Store::sqlite_url(self._dir.path()),
        };
        let mut replica =
            TestIssuer::build_with_keys(dir, &url, None, &self._dir.path().join("keys"), None)
                .await;
        replica.clock = self.clock.clone();
        replica
    }

    /// A second replica on the same database and keys, enforcing these rate limits.
    pub async fn replica_with_rate_limits(&self, limits: RateLimits) -> TestIssuer {
        let dir = tempfile::tempdir().unwrap();
        let url = match &self.database {
            Some(database) => database.url.clone(),
            None => Store::sqlite_url(self._dir.path()),
        };
        let keys = self._dir.path().join("keys");
        TestIssuer::build_full(dir, &url, None, &keys, None, None, Some(limits)).await
    }

    async fn build(
        dir: tempfile::TempDir,
        url: &str,
        database: Option<PostgresDatabase>,
    ) -> TestIssuer {
        let keys = dir.path().join("keys");
        TestIssuer::build_with_keys(dir, url, database, &keys, None).await
    }

    async fn build_with_keys(
        dir: tempfile::TempDir,
        url: &str,
        database: Option<PostgresDatabase>,
        keys: &std::path::Path,
        policy: Option<PolicyEngine>,
    ) -> TestIssuer {
        TestIssuer::build_full(dir, url, database, keys, policy, None, None).await
    }

    /// An issuer on a fresh SQLite file that sends audit events to `events`.
    pub async fn sqlite_with_events(events: jitgate_issuer::events::EventSink) -> TestIssuer {
        let dir = tempfile::tempdir().unwrap();
        let url = Store::sqlite_url(dir.path());
        let keys = dir.path().join("keys");
        TestIssuer::build_full(dir, &url, None, &keys, None, Some(events), None).await
    }

    /// An issuer on a fresh SQLite file enforcing these rate limits.
    pub async fn sqlite_with_rate_limits(limits: RateLimits) -> TestIssuer {
        let dir = tempfile::tempdir().unwrap();
        let url = Store::sqlite_url(dir.path());
        let keys = dir.path().join("keys");
        TestIssuer::build_full(dir, &url, None, &keys, None, None, Some(limits)).await
    }

    async fn build_full(
        dir: tempfile::TempDir,
        url: &str,
        database: Option<PostgresDatabase>,
        keys: &std::path::Path,
        policy: Option<PolicyEngine>,
        events: Option<jitgate_issuer::events::EventSink>,
        rate_limits: Option<RateLimits>,
    ) -> TestIssuer {
        TestIssuer::build_notifying(dir, url, database, keys, policy, events, rate_limits, None)
            .await
    }

    /// An issuer on a fresh SQLite file whose changes write notifications per `config` (no
    /// worker runs: the outbox is read by the test).
    pub async fn notifying(config: jitgate_issuer::notify::NotifyConfig) -> TestIssuer {
        let dir = tempfile::tempdir().unwrap();
        let url = Store::sqlite_url(dir.path());
        let keys = dir.path().join("keys");
        let notifier = jitgate_issuer::notify::Notifier::new(config, ISSUER_URL);
        TestIssuer::build_notifying(dir, &url, None, &keys, None, None, None, Some(notifier)).await
    }

    #[allow(clippy::too_many_arguments)]
    async fn build_notifying(
        dir: tempfile::TempDir,
        url: &str,
        database: Option<PostgresDatabase>,
        keys: &std::path::Path,
        policy: Option<PolicyEngine>,
        events: Option<jitgate_issuer::events::EventSink>,
        rate_limits: Option<RateLimits>,
        notifier: Option<jitgate_issuer::notify::Notifier>,
    ) -> TestIssuer {
        let clock = ManualClock::new(START);
        let store = Store::connect(url).await.unwrap();
        let state = AppState::new(Shared {
            store,
            policy: policy.unwrap_or_else(|| {
                PolicyEngine::from_text(EXAMPLE_POLICY, BUILTIN_SCHEMA).unwrap()
            }),
            auth: Authenticator::new(
                demo_api_tokens(),
                None,
                RoleGroups {
                    admin: vec!["jitgate-admins".into()],
                    guard: vec!["jitgate-guards".into()],
                },
            ),
            data_plane: Some(DataPlaneCredential::new(FEED_CREDENTIAL).unwrap()),
            keys: KeyRing::open(keys).unwrap(),
            clock: Arc::new(clock.clone()),
            settings: Settings {
                issuer_url: ISSUER_URL.into(),
                audience: "jitgate-gateway".into(),
                token_ttl: 900,
                max_duration: 7 * 86400,
                pending_ttl: 86400,
                gateway_url: Some("http://gateway.jitgate.test/v1".into()),
                cli_login: None,
            },
            events: events.unwrap_or_else(jitgate_issuer::events::EventSink::disabled),
            rate_limiter: RateLimiter::new(rate_limits.unwrap_or_default()),
            notifier: notifier.unwrap_or_else(jitgate_issuer::notify::Notifier::disabled),
            notify_counters: Default::default(),
        });
        let router = app(state.clone());
        TestIssuer {
            state,
            clock,
            router,
            _dir: dir,
            database,
        }
    }

    /// Sends a request as `who` (a demo identity name; `None`: no credential).
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        who: Option<&str>,
        body: Option<Value>,
    ) -> Answer {
        let mut request = Request::builder().method(method).uri(path);
        if let Some(who) = who {
            request = request.header("authorization", format!("Bearer {}", demo_token(who)));
        }
        let body = match body {
            Some(body) => {
                request = request.header("content-type", "application/json");
                Body::from(body.to_string())
            }
            None => Body::empty(),
        };
        self.send(request.body(body).unwrap()).await
    }

    /// Sends a raw request.
    pub async fn send(&self, request: Request<Body>) -> Answer {
        let response = self.router.clone().oneshot(request).await.unwrap();
        let status = response.status();
        let headers = response.headers().clone();
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        let text = String::from_utf8_lossy(&bytes).into_owned();
        let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        Answer {
            status,
            headers,
            body,
            text,
        }
    }

    pub async fn get(&self, path: &str, who: Option<&str>) -> Answer {
        self.call(Method::GET, path, who, None).await
    }

    pub async fn post(&self, path: &str, who: Option<&str>, body: Value) -> Answer {
        self.call(Method::POST, path, who, Some(body)).await
    }

    /// `who` asks for `scopes` for `duration`; panics unless 201.
    pub async fn request(&self, who: &str, body: Value) -> Value {
        let answer = self.post("/v1/requests", Some(who), body).await;
        assert_eq!(answer.status, StatusCode::CREATED, "{}", answer.text);
        answer.body
    }

    /// The feed cursor for `position` in this issuer's database (`<epoch>.<position>`).
    pub async fn cursor(&self, position: i64) -> String {
        format!("{}.{position}", self.feed_epoch().await)
    }

    /// This issuer's feed epoch (the database's random id).
    pub async fn feed_epoch(&self) -> String {
        jitgate_issuer::store::revocations::head(&self.state.store)
            .await
            .unwrap()
            .epoch
    }

    /// Rows in the revocations table, served or not (to see pruning).
    pub async fn stored_revocations(&self) -> i64 {
        use sqlx::Row;
        sqlx::query("SELECT COUNT(*) AS n FROM revocations")
            .fetch_one(self.state.store.pool())
            .await
            .unwrap()
            .try_get("n")
            .unwrap()
    }

    /// The revocation feed after `cursor`.
    pub async fn feed(&self, after: Option<&str>) -> Answer {
        let path = match after {
            Some(cursor) => format!("/v1/revocations?after={cursor}"),
            None => "/v1/revocations".to_owned(),
        };
        let request = Request::get(path)
            .header("authorization", format!("Bearer {FEED_CREDENTIAL}"))
            .body(Body::empty())
            .unwrap();
        self.send(request).await
    }
}

/// A PostgreSQL database made for one test and dropped after it (shared test support).
pub use jitgate_testdb::PostgresDatabase;

/// A JSON request body.
pub fn ask(scopes: &[&str], duration: &str, reason: &str) -> Value {
    serde_json::json!({ "scopes": scopes, "duration": duration, "reason": reason })
}
