//! `GET /metrics` (Prometheus text; the guard's counters too while it runs) and `GET /healthz`.

use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;

use crate::Collector;

/// `GET /metrics`.
pub(crate) async fn metrics(State(collector): State<Collector>) -> impl IntoResponse {
    let gauges = collector.log().gauges().await;
    let mut text = collector.log().metrics().render(gauges);
    if let Some(guard) = collector.guard() {
        text.push_str(&guard.metrics().render(gauges.tree_size));
    }
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        text,
    )
}

/// `GET /healthz`: the collector is up and its log is open.
pub(crate) async fn health() -> &'static str {
    "ok\n"
}
