//! One request through the gate: gather the facts from the headers, ask `decide`, and act —
//! let it through (stripping the token and any client-supplied `x-jitgate-*` headers, then
//! adding the subject and grant), refuse it with the reason's response, or, when the scope
//! depends on the body's `model`, buffer the body (only then, only for callers whose token
//! already passed) and ask again.
//!
//! How the request waits while its body is read is the configuration's `body_check`:
//!
//! - `hold_headers` (Envoy ≥ 1.35 with the Wasm `PluginConfig` field
//!   `allow_on_headers_stop_iteration: true`): the header callback pauses, Envoy holds the
//!   headers and still delivers the body, and nothing goes upstream until the model is
//!   checked. A refused request leaves no trace at the model server: no stream is opened.
//! - `forward_headers`, for hosts without that field (Istio's `WasmPlugin`): there a paused
//!   header callback becomes "stop everything" and the body never arrives (proxy-wasm/spec#63),
//!   so the headers — already stripped of the token, with the verified subject added — go on
//!   to the router, and only the *body* is held until the model is checked. A refusal then
//!   resets the upstream stream: the model server may see the start of a request, never its
//!   body or the token.
//!
//! The body is released only by a final decision: the last body callback
//! (`end_of_stream`), or the request trailers, which end a stream whose last DATA frame did
//! not (HTTP/2, or HTTP/1.1 chunked trailers where Envoy parses them). Every other callback
//! while the body is awaited pauses, and a stream that ends any other way (reset, client
//! gone) never reaches the model: its record says `incomplete_body`.
//!
//! A grant whose token carries `limits` is counted ([`crate::budget`]): `decide` reads its
//! count from the Envoy's shared data and applies the budget as its last check; an allowed
//! request is admitted only once its count is written back plus one (compare-and-swap, so
//! every worker of the Envoy counts against the same total); the response's model tokens are
//! added when it completes — read from its `usage` whether or not audit is on.
//!
//! The decision always comes from `jitgate_grant::decide_cached`; nothing here judges a
//! token, a scope or a budget.

use jitgate_grant::{
    decide_cached, extract_bearer, read_model, Decision, DecisionInputs, ModelFact, Outcome,
    Reason, RequestFacts, UnixTime, UsageState,
};

use jitgate_grant::audit::AuditRecord;
use jitgate_grant::budget::counted_limits;

use crate::audit::{Usage, UsageReader};
use crate::budget::{SharedUsage, DEFAULT_MAX_USAGE_BODY_BYTES};
use crate::config::BodyCheck;
use crate::host::{Counter, Level, RequestHost};
use crate::metrics;
use crate::state::{revocation_state, Keys, VmState};

/// Headers the gate adds for the upstream; any a client sends are removed first.
pub const SUBJECT_HEADER: &str = "x-jitgate-subject";
/// See [`SUBJECT_HEADER`].
pub const GRANT_HEADER: &str = "x-jitgate-grant";
const RESERVED_PREFIX: &str = "x-jitgate-";

/// What the host should do with the stream after a callback.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// Let the request continue.
    Continue,
    /// Hold it (buffering the body, or because a local reply was sent).
    Pause,
}

/// The facts read from the request headers, kept for the body callback.
#[derive(Debug, Default)]
struct HeaderFacts {
    method: String,
    path: String,
    authority: String,
    user_agent: Option<String>,
    content_type: Option<String>,
    /// Any `content-encoding` other than `identity` (values joined): a body the gate would
    /// read as sent, but the model server would decode first.
    content_encoding: Option<String>,
    request_id: String,
    token_values: Vec<String>,
    /// Client-sent `x-jitgate-*` header names (lowercase, each once), removed on allow.
    reserved: Vec<String>,
}

/// Per-request state.
#[derive(Debug, Default)]
pub struct RequestFlow {
    facts: HeaderFacts,
    awaiting_model: bool,
    /// Bytes of request body buffered so far, as the last body callback reported them.
    body_size: usize,
    /// The headers have gone upstream (prepared) while the body is checked.
    headers_forwarded: bool,
    /// The last decision, for audit records and filter state.
    decision: Option<Decision>,
    /// When the request arrived, ms since the epoch.
    started_ms: u64,
    /// Reads model usage from the response, for allowed requests when audit is on or the
    /// grant's tokens are counted.
    usage: Option<UsageReader>,
    /// The usage the completed response reported, once read (`None` until then).
    reported: Option<Option<Usage>>,
    /// The grant whose count this request was admitted under, if it has a budget.
    counted_grant: Option<String>,
    /// Request body bytes released upstream, and those held at the last body callback: the
    /// record's size comes from the callbacks Envoy makes anyway, not from a property read.
    request_body_passed: u64,
    request_body_held: u64,
    /// Response body bytes that passed through.
    response_body_bytes: u64,
    /// `:status` of the response headers, when they were read (for usage).
    response_status: Option<u16>,
    /// The local reply this filter sent: status and body length.
    local_reply: Option<(u16, u64)>,
}

impl RequestFlow {
    /// A new request.
    pub fn new() -> RequestFlow {
        RequestFlow::default()
    }

    /// The decision made so far.
    pub fn decision(&self) -> Option<&Decision> {
        self.decision.as_ref()
    }

    /// Whether the body is being held until the model is checked.
    pub fn awaits_body(&self) -> bool {
        self.awaiting_model
    }

    /// The request headers have arrived.
    pub fn on_headers(
        &mut self,
        state: &mut VmState,
        host: &mut impl RequestHost,
        end_of_stream: bool,
    ) -> Step {
        let now_ms = host.now_ms();
        self.started_ms = now_ms;
        self.facts = read_facts(host, &state.settings.token.header);
        // With no body to come, the model (if the route needs one) is already as known as it
        // will ever be.
        let model = end_of_stream.then(|| self.model_from_body(state, host, 0));
        let fact = if self.facts.content_encoding.is_some() {
            // A compressed body cannot be checked as it will be read: the model server would
            // decode it first. Known from the headers, so refused before anything is buffered.
            ModelFact::Unusable(Reason::UnsupportedMediaType)
        } else {
            model.as_ref().map_or(ModelFact::Unread, as_fact)
        };
        let decision = self.decide(state, host, fact, now_ms);
        match decision.outcome {
            Outcome::NeedModel => {
                // Only reachable with a body still to come: `end_of_stream` gave a model fact.
                self.awaiting_model = true;
                let step = match state.settings.body_check {
                    // Everything waits; the decision on the body releases or refuses it whole.
                    BodyCheck::HoldHeaders => Step::Pause,
                    // The headers must go on now (see the module docs); the body waits.
                    BodyCheck::ForwardHeaders => {
                        self.prepare_upstream_request(state, host, &decision);
                        self.headers_forwarded = true;
                        Step::Continue
                    }
                };
                self.decision = Some(decision);
                step
            }
            _ => self.act(state, host, decision),
        }
    }

    /// A piece of the request body has arrived (`body_size` is the total buffered so far).
    pub fn on_body(
        &mut self,
        state: &mut VmState,
        host: &mut impl RequestHost,
        body_size: usize,
        end_of_stream: bool,
    ) -> Step {
        let step = self.check_body(state, host, body_size, end_of_stream);
        self.account_request_body(body_size, step);
        step
    }

    /// Envoy reports the bytes buffered for the filter: everything held so far while it
    /// pauses, the new chunk once it continues.
    fn account_request_body(&mut self, body_size: usize, step: Step) {
        self.request_body_held = u64::try_from(body_size).unwrap_or(u64::MAX);
        if step == Step::Continue {
            self.release_held_body();
        }
    }

    fn check_body(
        &mut self,
        state: &mut VmState,
        host: &mut impl RequestHost,
        body_size: usize,
        end_of_stream: bool,
    ) -> Step {
        if !self.awaiting_model {
            return self.after_decision();
        }
        self.body_size = body_size;
        if body_size > state.settings.policy.max_body_bytes {
            // Refuse as soon as the limit is crossed instead of buffering the rest.
            self.awaiting_model = false;
            let now_ms = host.now_ms();
            let decision = self.decide(
                state,
                host,
                ModelFact::Unusable(Reason::BodyTooLarge),
                now_ms,
            );
            return self.act(state, host, decision);
        }
        if !end_of_stream {
            return Step::Pause;
        }
        self.awaiting_model = false;
        let model = self.model_from_body(state, host, body_size);
        let now_ms = host.now_ms();
        let decision = self.decide(state, host, as_fact(&model), now_ms);
        self.act(state, host, decision)
    }

    /// The request trailers have arrived: the body is complete even though no body callback
    /// said `end_of_stream`. While the model is awaited this is the final decision — continuing
    /// here without one would release the held body unchecked.
    pub fn on_trailers(&mut self, state: &mut VmState, host: &mut impl RequestHost) -> Step {
        let step = self.check_at_trailers(state, host);
        if step == Step::Continue {
            self.release_held_body();
        }
        step
    }

    /// What was held goes upstream with the callback that continues.
    fn release_held_body(&mut self) {
        self.request_body_passed = self
            .request_body_passed
            .saturating_add(self.request_body_held);
        self.request_body_held = 0;
    }

    fn check_at_trailers(&mut self, state: &mut VmState, host: &mut impl RequestHost) -> Step {
        if !self.awaiting_model {
            return self.after_decision();
        }
        self.awaiting_model = false;
        // Ask for one byte past the limit rather than trusting the last reported size: what
        // is buffered now is what goes upstream, and a body over the limit must be seen as
        // such (the host never returns more than it holds).
        let readable = state.settings.policy.max_body_bytes.saturating_add(1);
        let model = self.model_from_body(state, host, readable.max(self.body_size));
        let now_ms = host.now_ms();
        let decision = self.decide(state, host, as_fact(&model), now_ms);
        self.act(state, host, decision)
    }

    /// What a later request callback does once the decision is made: a refusal already sent
    /// its local reply, and nothing after it may be released (Envoy should not call again,
    /// but the filter does not rely on it).
    fn after_decision(&self) -> Step {
        match &self.decision {
            Some(decision) if !decision.is_allowed() => Step::Pause,
            _ => Step::Continue,
        }
    }

    /// The response headers have arrived: decide whether to read usage from the body.
    ///
    /// Only the answer to an allowed `POST` is read: every OpenAI-style call that spends
    /// model tokens is a `POST`, and a `GET` that shows a stored response's usage
    /// (`GET /v1/responses/{id}`) spent nothing — counting it would charge the grant twice.
    /// Everything else passes without a host call.
    pub fn on_response_headers(&mut self, state: &VmState, host: &impl RequestHost) {
        if !self.decision.as_ref().is_some_and(Decision::is_allowed) || self.facts.method != "POST"
        {
            return;
        }
        let max_usage_body_bytes = match (&state.settings.audit, &self.counted_grant) {
            (Some(audit), _) => audit.max_usage_body_bytes,
            (None, Some(_)) => DEFAULT_MAX_USAGE_BODY_BYTES,
            (None, None) => return,
        };
        let mut content_type = None;
        for (name, value) in host.response_headers() {
            if name == ":status" {
                self.response_status = value.parse().ok();
            } else if name.eq_ignore_ascii_case("content-type") && content_type.is_none() {
                content_type = Some(value);
            }
        }
        self.usage = Some(UsageReader::for_content_type(
            content_type.as_deref(),
            max_usage_body_bytes,
        ));
    }

    /// A piece of the response body is passing through (never held, never changed).
    pub fn on_response_body(&mut self, host: &impl RequestHost, body_size: usize) {
        self.response_body_bytes = self
            .response_body_bytes
            .saturating_add(u64::try_from(body_size).unwrap_or(u64::MAX));
        if let Some(reader) = self.usage.as_mut().filter(|reader| reader.wants_body()) {
            if let Some(chunk) = host.response_body(body_size) {
                reader.push(&chunk);
            }
        }
    }

    /// The response is complete (its last body callback, or its trailers): add the model
    /// tokens it reported to the grant's count. Once per request; [`Self::on_log`] does it
    /// for a response that never said it was complete.
    pub fn on_response_complete(&mut self, state: &mut VmState, host: &mut impl RequestHost) {
        if self.reported.is_some() {
            return;
        }
        let reported = self.usage.as_ref().and_then(UsageReader::usage);
        self.reported = Some(reported);
        if let (Some(grant_id), Some(usage)) = (&self.counted_grant, reported) {
            let tokens = usage
                .input_tokens
                .unwrap_or(0)
                .saturating_add(usage.output_tokens.unwrap_or(0));
            state.budget.add_tokens(grant_id, tokens, host);
        }
    }

    /// The request is complete: count its tokens if not yet done, write its audit record.
    pub fn on_log(&mut self, state: &mut VmState, host: &mut impl RequestHost) {
        self.on_response_complete(state, host);
        let (Some(decision), Some(buffer)) = (&self.decision, state.audit.as_mut()) else {
            return;
        };
        let now_ms = host.now_ms();
        if decision.reason == Reason::AuditUnavailable {
            // Refused because the buffer is full: recording the refusal there would only keep
            // it full. These show in `jitgate.denied.audit_unavailable` and the access log.
            return;
        }
        let mut record = AuditRecord::from_decision(decision);
        if decision.outcome == Outcome::NeedModel {
            // The body never completed (the client went away): nothing reached the model.
            record.reason = "incomplete_body".to_owned();
        }
        record.time_unix_nano = self.started_ms.saturating_mul(1_000_000);
        record.method = self.facts.method.clone();
        record.authority = self.facts.authority.clone();
        record.path = path_only(&self.facts.path).to_owned();
        record.request_id = Some(self.facts.request_id.clone()).filter(|id| !id.is_empty());
        record.user_agent = self.facts.user_agent.clone();
        record.client_address = host
            .property(&["source", "address"])
            .and_then(|raw| String::from_utf8(raw).ok())
            .map(|address| strip_port(&address).to_owned());
        // Status and sizes from what the callbacks already saw; Envoy's `response.code` is
        // read only for an answer whose headers the filter had no reason to read.
        let (local_status, local_bytes) = self.local_reply.unwrap_or((0, 0));
        record.status = match (self.response_status, self.local_reply) {
            (Some(status), _) => status,
            (None, Some(_)) => local_status,
            (None, None) => property_int(host, &["response", "code"])
                .and_then(|code| u16::try_from(code).ok())
                .unwrap_or(0),
        };
        record.request_bytes = self
            .request_body_passed
            .saturating_add(self.request_body_held);
        // Whether Envoy runs this filter's own local reply through its encoder callbacks or
        // not, the larger of the two is the body the client got.
        record.response_bytes = self.response_body_bytes.max(local_bytes);
        record.duration_ms = now_ms.saturating_sub(self.started_ms);
        if let Some(Some(usage)) = self.reported {
            record.input_tokens = usage.input_tokens;
            record.output_tokens = usage.output_tokens;
        }
        let pushed = buffer.push(record, now_ms);
        state.counts.add(Counter::AuditDropped, pushed.dropped);
    }

    fn model_from_body(
        &self,
        state: &VmState,
        host: &impl RequestHost,
        body_size: usize,
    ) -> Result<String, Reason> {
        let body = if body_size == 0 {
            Vec::new()
        } else {
            host.request_body(body_size).unwrap_or_default()
        };
        read_model(
            self.facts.content_type.as_deref(),
            &body,
            state.settings.policy.max_body_bytes,
        )
    }

    fn decide(
        &self,
        state: &mut VmState,
        host: &mut impl RequestHost,
        model: ModelFact<'_>,
        now_ms: u64,
    ) -> Decision {
        let values: Vec<&str> = self.facts.token_values.iter().map(String::as_str).collect();
        let before = state.cache.stats();
        let usage = SharedUsage::new(&*host);
        let decision = {
            // Split the borrow: the cache is lent mutably while keys and revocations are
            // lent shared.
            let VmState {
                settings,
                keys,
                revocation,
                cache,
                audit,
                budget: _,
                counts: _,
                published_depth: _,
            } = &mut *state;
            let inputs = DecisionInputs {
                policy: &settings.policy,
                request: RequestFacts {
                    method: &self.facts.method,
                    path: &self.facts.path,
                    model,
                },
                token: extract_bearer(&values, &settings.token.prefix),
                keys: keys.state(),
                revocations: revocation_state(revocation.as_ref(), now_ms),
                now: UnixTime(i64::try_from(now_ms / 1000).unwrap_or(i64::MAX)),
                audit_full: audit
                    .as_ref()
                    .is_some_and(|audit| audit.refuses_new_requests()),
                usage: UsageState::Counted(&usage),
            };
            decide_cached(&inputs, cache)
        };
        // Admitted only once counted, over the very count the budget was applied to.
        let decision = state.budget.admit(decision, usage.into_last_read(), host);
        let after = state.cache.stats();
        state
            .counts
            .add(Counter::CacheHits, after.hits - before.hits);
        state
            .counts
            .add(Counter::CacheMisses, after.misses - before.misses);
        if decision.reason == Reason::UnknownKey {
            if let Keys::Fetched(fetcher) = &mut state.keys {
                fetcher.unknown_key_seen(now_ms);
            }
        }
        decision
    }

    fn act(
        &mut self,
        state: &mut VmState,
        host: &mut impl RequestHost,
        decision: Decision,
    ) -> Step {
        if state.settings.filter_state {
            publish_filter_state(host, &decision);
        }
        let step = if decision.is_allowed() {
            state.counts.add(Counter::Allowed, 1);
            // `decide` admitted it and `budget::admit` counted it: its tokens go to that count.
            self.counted_grant = decision
                .grant
                .as_deref()
                .filter(|grant| counted_limits(grant).is_some())
                .map(|grant| grant.claims.grant_id.clone());
            if !self.headers_forwarded {
                self.prepare_upstream_request(state, host, &decision);
            }
            Step::Continue
        } else {
            state.counts.add(metrics::denied(decision.reason), 1);
            let response = decision.reason.deny_response(
                &state.settings.policy.realm,
                decision.required_scope.as_deref(),
                &self.facts.request_id,
            );
            let headers: Vec<(&str, &str)> = response
                .headers
                .iter()
                .map(|(name, value)| (*name, value.as_str()))
                .collect();
            host.log(
                Level::Debug,
                &format!(
                    "deny {} {} reason={} request_id={}",
                    self.facts.method,
                    path_only(&self.facts.path),
                    decision.reason,
                    self.facts.request_id
                ),
            );
            host.send_response(response.status, &headers, response.body.as_bytes());
            self.local_reply = Some((
                response.status,
                u64::try_from(response.body.len()).unwrap_or(u64::MAX),
            ));
            Step::Pause
        };
        self.decision = Some(decision);
        step
    }

    fn prepare_upstream_request(
        &self,
        state: &VmState,
        host: &mut impl RequestHost,
        decision: &Decision,
    ) {
        let token = &state.settings.token;
        if !token.forward {
            host.remove_request_header(&token.header);
        }
        // The names were collected when the headers were first read: no second pass.
        for name in &self.facts.reserved {
            host.remove_request_header(name);
        }
        if let Some(grant) = &decision.grant {
            host.add_request_header(SUBJECT_HEADER, &grant.claims.sub);
            host.add_request_header(GRANT_HEADER, &grant.claims.grant_id);
        }
    }
}

/// The decision as filter state for access logs and later filters (`filter_state: true`).
fn publish_filter_state(host: &mut impl RequestHost, decision: &Decision) {
    let verdict = if decision.is_allowed() {
        "allow"
    } else {
        "deny"
    };
    host.set_filter_state("jitgate_decision", verdict);
    host.set_filter_state("jitgate_reason", decision.reason.code());
    if let Some(grant) = &decision.grant {
        host.set_filter_state("jitgate_subject", &grant.claims.sub);
        host.set_filter_state("jitgate_grant", &grant.claims.grant_id);
    }
}

fn read_facts(host: &impl RequestHost, token_header: &str) -> HeaderFacts {
    let mut facts = HeaderFacts::default();
    for (name, value) in host.request_headers() {
        match name.to_ascii_lowercase().as_str() {
            ":method" => facts.method = value,
            ":path" => facts.path = value,
            ":authority" => facts.authority = value,
            "user-agent" => facts.user_agent = Some(value),
            "content-type" => facts.content_type = Some(value),
            "content-encoding" if !value.trim().eq_ignore_ascii_case("identity") => {
                let joined = match facts.content_encoding.take() {
                    Some(earlier) => format!("{earlier}, {value}"),
                    None => value,
                };
                facts.content_encoding = Some(joined);
            }
            "x-request-id" => facts.request_id = value,
            lowered if lowered == token_header => facts.token_values.push(value),
            lowered
                if lowered.starts_with(RESERVED_PREFIX)
                    && !facts.reserved.iter().any(|known| known == lowered) =>
            {
                facts.reserved.push(lowered.to_owned());
            }
            _ => {}
        }
    }
    facts
}

fn as_fact(model: &Result<String, Reason>) -> ModelFact<'_> {
    match model {
        Ok(model) => ModelFact::Named(model),
        Err(reason) => ModelFact::Unusable(*reason),
    }
}

/// An integer attribute: Envoy encodes them as 8-byte little-endian.
fn property_int(host: &impl RequestHost, path: &[&str]) -> Option<u64> {
    let raw = host.property(path)?;
    let bytes: [u8; 8] = raw.get(..8)?.try_into().ok()?;
    u64::try_from(i64::from_le_bytes(bytes)).ok()
}

/// `10.0.0.1:5000` → `10.0.0.1`; `[::1]:5000` → `::1`.
fn strip_port(address: &str) -> &str {
    if let Some(rest) = address.strip_prefix('[') {
        return rest.split(']').next().unwrap_or(rest);
    }
    match address.rsplit_once(':') {
        Some((host, port)) if !host.contains(':') && port.chars().all(|c| c.is_ascii_digit()) => {
            host
        }
        _ => address,
    }
}

/// The path without its query, which may carry things that do not belong in logs.
fn path_only(path: &str) -> &str {
    path.split_once('?').map_or(path, |(path, _)| path)
}
