//! Checkpoints and the key to check them: the newest signed checkpoint, any earlier one by
//! tree size, and the verifier key string reviewers pass to `jitgate audit verify --key`.

use axum::extract::{Path, State};
use axum::http::header;
use axum::response::IntoResponse;

use crate::error::{Error, Result};
use crate::Collector;

const TEXT: &str = "text/plain; charset=utf-8";

/// `GET /v1/checkpoint`: the newest signed checkpoint note.
pub(crate) async fn latest(State(collector): State<Collector>) -> impl IntoResponse {
    let checkpoint = collector.log().latest_checkpoint().await;
    ([(header::CONTENT_TYPE, TEXT)], checkpoint.note)
}

/// `GET /v1/checkpoints/{size}`: the checkpoint signed at that tree size.
pub(crate) async fn at_size(
    State(collector): State<Collector>,
    Path(size): Path<String>,
) -> Result<impl IntoResponse> {
    let size: u64 = size
        .parse()
        .map_err(|_| Error::BadRequest(format!("size: {size:?} is not a tree size")))?;
    let checkpoint = collector
        .log()
        .store()
        .checkpoint_at(size)
        .await?
        .ok_or_else(|| Error::NotFound(format!("no checkpoint was signed at tree size {size}")))?;
    Ok(([(header::CONTENT_TYPE, TEXT)], checkpoint.note))
}

/// `GET /v1/checkpoint/key`: the verifier key (`<origin>+<key id>+<base64 key>`).
pub(crate) async fn verifier_key(State(collector): State<Collector>) -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, TEXT)],
        format!("{}\n", collector.log().verifier()),
    )
}
