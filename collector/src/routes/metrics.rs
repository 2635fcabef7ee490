//! `GET /metrics` (Prometheus text) and `GET /healthz`.

use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;

use crate::Collector;

/// `GET /metrics`.
pub(crate) async fn metrics(State(collector): State<Collector>) -> impl IntoResponse {
    let gauges = collector.log().gauges().await;
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        collector.log().metrics().render(gauges),
    )
}

/// `GET /healthz`: the collector is up and its log is open.
pub(crate) async fn health() -> &'static str {
    "ok\n"
}
