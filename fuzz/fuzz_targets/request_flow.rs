//! The filter's request flow on a body-scoped route (`POST /v1/chat/completions`), driven
//! through the fake host the way Envoy drives it: headers, the body in pieces, and an end —
//! `end_of_stream` on the last piece, trailers, or none at all (a reset).
//!
//! Input: a first byte choosing the end and the token, then split points, then the body.
//! Asserts, beyond "no panic", the gate's central promise (threat-model finding 1):
//! - the headers of a request with a body to come are held, unchanged, until the decision
//!   (`body_check: hold_headers`);
//! - no callback before the end of the stream lets the held body go (every body piece
//!   without `end_of_stream` pauses, and nothing is answered yet);
//! - the body is released (the final callback continues, no local reply) only on an `allow`
//!   decision, and then the whole body names the granted model — read by jitgate and by a
//!   case-insensitive, last-wins reader like Go's `encoding/json`, the two must agree;
//! - a refusal sends exactly one local reply with the decision's status;
//! - a stream that never ends is never allowed, and its record would say `incomplete_body`.
#![no_main]

use std::sync::OnceLock;

use jitgate_conformance::catalog::{standard_claims, MODEL, STANDARD_TIMES};
use jitgate_conformance::recipe::Recipe;
use jitgate_conformance::testkeys::TestKey;
use jitgate_filter::fake::FakeHost;
use jitgate_filter::request::{RequestFlow, Step};
use jitgate_filter::root;
use jitgate_filter::state::VmState;
use jitgate_fuzz::fixtures::{JWKS_JSON, NOW, POLICY_JSON};
use jitgate_fuzz::lenient_json::last_case_insensitive_member;
use libfuzzer_sys::fuzz_target;
use serde_json::Value;

const NOW_MS: u64 = NOW as u64 * 1000;

/// A token granting `inference:MODEL` (and nothing else the chat route could ask for).
fn token() -> &'static str {
    static TOKEN: OnceLock<String> = OnceLock::new();
    TOKEN.get_or_init(|| {
        Recipe::honest(TestKey::Ed25519, standard_claims("fuzz"), STANDARD_TIMES).token(NOW)
    })
}

fn vm() -> VmState {
    let mut config: Value = match serde_json::from_str(POLICY_JSON) {
        Ok(config) => config,
        Err(error) => panic!("testdata/policy.json: {error}"),
    };
    config["keys"] = serde_json::json!({ "jwks": serde_json::from_str::<Value>(JWKS_JSON).ok() });
    config["body_check"] = serde_json::json!("hold_headers");
    let mut host = FakeHost::at(NOW_MS);
    match root::configure(&mut host, config.to_string().as_bytes(), &|_| None) {
        Ok(state) => state,
        Err(error) => panic!("the conformance configuration: {error:?}"),
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum End {
    Body,
    Trailers,
    Reset,
}

fuzz_target!(|data: &[u8]| {
    let Some((&choice, rest)) = data.split_first() else {
        return;
    };
    let Some((&splits, body)) = rest.split_first() else {
        return;
    };
    let end = match choice % 3 {
        0 => End::Body,
        1 => End::Trailers,
        _ => End::Reset,
    };
    let with_token = choice & 0x80 == 0;

    let mut state = vm();
    let mut host = FakeHost::request(NOW_MS, "POST", "/v1/chat/completions")
        .header("content-type", "application/json")
        .body(body);
    if with_token {
        host = host.header("authorization", &format!("Bearer {}", token()));
    }
    let mut flow = RequestFlow::new();
    let headers_end = body.is_empty() && end == End::Body;
    let mut last = flow.on_headers(&mut state, &mut host, headers_end);
    if !headers_end && host.response.is_none() {
        // `body_check: hold_headers`: the headers wait, untouched, until the body is checked.
        assert_eq!(last, Step::Pause, "the headers went on before the body was checked");
        assert_eq!(
            host.header_values("authorization").len(),
            usize::from(with_token),
            "the held headers changed before the decision"
        );
    }

    // Cut the body into up to four pieces at points taken from the `splits` byte.
    let mut cuts: Vec<usize> = (0..3)
        .map(|index| usize::from((splits >> (index * 2)) & 0x3) * body.len() / 3)
        .collect();
    cuts.push(body.len());
    cuts.sort_unstable();
    cuts.dedup();
    let mut ended = headers_end;
    if !headers_end && !body.is_empty() {
        for (index, &cut) in cuts.iter().enumerate() {
            if cut == 0 {
                continue;
            }
            let final_piece = index + 1 == cuts.len() && end == End::Body;
            last = flow.on_body(&mut state, &mut host, cut, final_piece);
            if !final_piece && with_token {
                assert_eq!(last, Step::Pause, "a piece before the end released the body");
            }
            ended = final_piece;
        }
    }
    if end == End::Trailers {
        last = flow.on_trailers(&mut state, &mut host);
        ended = true;
    }

    let decision = flow.decision();
    let allowed = decision.is_some_and(|decision| decision.is_allowed());
    match (&host.response, ended) {
        (Some(response), _) => {
            assert_eq!(last, Step::Pause, "a refusal must not release anything");
            assert!(!allowed, "a local reply on an allowed request");
            let expected = decision.map(|decision| decision.reason.status());
            assert_eq!(Some(response.status), expected);
        }
        (None, true) => {
            assert_eq!(last, Step::Continue, "an ended, unrefused stream must go on");
            assert!(allowed, "released without an allow decision");
            let model = jitgate_grant::model::extract_model(body);
            assert_eq!(model.as_deref(), Ok(MODEL), "released a body for another model");
            assert_eq!(
                last_case_insensitive_member(body, "model"),
                Some(Value::String(MODEL.to_owned())),
                "a case-insensitive server would serve another model"
            );
        }
        (None, false) => {
            assert!(
                flow.awaits_body(),
                "a stream that never ended was decided without its body"
            );
            assert!(!allowed, "a stream that never ended was allowed");
        }
    }
});
