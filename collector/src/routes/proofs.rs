//! `GET /v1/proofs/inclusion` and `GET /v1/proofs/consistency`: single proofs against any
//! signed tree size, for tools that check one record or follow checkpoints over time.

use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};

use super::{bad_query, Reviewer};
use crate::audit_log::unique_ids;
use crate::error::{Error, Result};
use crate::export::encode_hashes;
use crate::merkle::{consistency_plan, inclusion_plan};
use crate::Collector;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct InclusionParams {
    index: u64,
    size: u64,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ConsistencyParams {
    from: u64,
    to: u64,
}

async fn signed_size(collector: &Collector, size: u64) -> Result<()> {
    collector
        .log()
        .store()
        .checkpoint_at(size)
        .await?
        .map(|_| ())
        .ok_or_else(|| Error::NotFound(format!("no checkpoint was signed at tree size {size}")))
}

/// `GET /v1/proofs/inclusion?index=&size=`: the leaf's hash and its inclusion proof.
pub(crate) async fn inclusion(
    _: Reviewer,
    State(collector): State<Collector>,
    params: Result<Query<InclusionParams>, QueryRejection>,
) -> Result<Json<Value>> {
    let Query(params) = params.map_err(bad_query)?;
    signed_size(&collector, params.size).await?;
    let plan =
        inclusion_plan(params.index, params.size).map_err(|e| Error::BadRequest(e.to_string()))?;
    let store = collector.log().store();
    let nodes = store.nodes(&unique_ids(plan.node_ids())).await?;
    Ok(Json(json!({
        "leaf_index": params.index,
        "tree_size": params.size,
        "proof": encode_hashes(&plan.assemble(&nodes)?),
    })))
}

/// `GET /v1/proofs/consistency?from=&to=`: proof that the tree of `from` is a prefix of `to`.
pub(crate) async fn consistency(
    _: Reviewer,
    State(collector): State<Collector>,
    params: Result<Query<ConsistencyParams>, QueryRejection>,
) -> Result<Json<Value>> {
    let Query(params) = params.map_err(bad_query)?;
    signed_size(&collector, params.from).await?;
    signed_size(&collector, params.to).await?;
    let plan =
        consistency_plan(params.from, params.to).map_err(|e| Error::BadRequest(e.to_string()))?;
    let store = collector.log().store();
    let nodes = store.nodes(&unique_ids(plan.node_ids())).await?;
    Ok(Json(json!({
        "from": params.from,
        "to": params.to,
        "proof": encode_hashes(&plan.assemble(&nodes)?),
    })))
}
