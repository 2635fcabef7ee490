//! `GET /v1/tail?grant=&subject=&decision=`: records as they are stored, as server-sent
//! events — `event: record`, `id: <leaf index>`, `data: <the record's canonical OTLP JSON>` —
//! for watching a grant live. Only records stored after the request are sent; an export
//! gives what came before.
//!
//! Bounded: a client that falls more than `tail::TAIL_RING` records behind gets one
//! `event: dropped` with the reason and the stream ends, rather than the collector keeping
//! what it has not read.

use std::convert::Infallible;
use std::sync::Arc;

use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::json;
use tokio::sync::broadcast::error::RecvError;

use super::{bad_query, Reviewer};
use crate::error::{Error, Result};
use crate::tail::{TailEntry, TAIL_RING};
use crate::Collector;

/// The query parameters.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct TailParams {
    grant: Option<String>,
    subject: Option<String>,
    decision: Option<String>,
}

impl TailParams {
    fn check(self) -> Result<TailParams> {
        for (name, value) in [("grant", &self.grant), ("subject", &self.subject)] {
            if value.as_deref() == Some("") {
                return Err(Error::BadRequest(format!("{name}: must not be empty")));
            }
        }
        if let Some(decision) = &self.decision {
            if !matches!(decision.as_str(), "allow" | "deny" | "guard") {
                return Err(Error::BadRequest(format!(
                    "decision: {decision:?} is not allow, deny or guard"
                )));
            }
        }
        Ok(self)
    }

    fn matches(&self, entry: &TailEntry) -> bool {
        self.grant
            .as_ref()
            .is_none_or(|g| entry.grant_id.as_ref() == Some(g))
            && self
                .subject
                .as_ref()
                .is_none_or(|s| entry.subject.as_ref() == Some(s))
            && self.decision.as_ref().is_none_or(|d| entry.decision == d)
    }
}

pub(crate) async fn tail(
    _: Reviewer,
    State(collector): State<Collector>,
    params: Result<Query<TailParams>, QueryRejection>,
) -> Result<Response> {
    let Query(params) = params.map_err(bad_query)?;
    let params = params.check()?;
    let receiver = collector.log().tail().subscribe();
    let events = futures_util::stream::unfold(
        (receiver, params, false),
        |(mut receiver, params, ended)| async move {
            if ended {
                return None;
            }
            loop {
                match receiver.recv().await {
                    Ok(entry) if params.matches(&entry) => {
                        let event = record_event(&entry);
                        return Some((Ok::<_, Infallible>(event), (receiver, params, false)));
                    }
                    Ok(_) => continue,
                    Err(RecvError::Lagged(missed)) => {
                        let message = format!(
                            "this client fell more than {TAIL_RING} records behind ({missed} \
                             not sent) and was dropped: read faster, narrow the filter, or \
                             export the records instead"
                        );
                        let event = Event::default()
                            .event("dropped")
                            .data(json!({"error": "too_slow", "message": message}).to_string());
                        return Some((Ok(event), (receiver, params, true)));
                    }
                    Err(RecvError::Closed) => return None,
                }
            }
        },
    );
    Ok(Sse::new(events)
        .keep_alive(KeepAlive::default())
        .into_response())
}

fn record_event(entry: &Arc<TailEntry>) -> Event {
    Event::default()
        .event("record")
        .id(entry.leaf_index.to_string())
        .data(&entry.canonical)
}
