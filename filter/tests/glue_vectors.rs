//! Every conformance vector through the filter's glue (with the fake host): the filter must
//! reach the decision `grant::decide` reaches, and answer with the vector's status. This is
//! the glue's half of "three hosts, one answer"; the e2e suite does the same through Envoy.

// A test fails by panicking; the lints against panics are for the code under test.
#![allow(clippy::panic, clippy::unwrap_used, clippy::expect_used)]

mod support {
    pub mod vector_glue;
}

use jitgate_conformance::bundle::FILES;
use jitgate_conformance::Vector;
use support::vector_glue::{answer, GlueAnswer};

#[test]
fn the_glue_answers_every_vector_as_decide_does() {
    let mut failures = Vec::new();
    let mut checked = 0;
    for (file, text) in FILES {
        let vector: Vector = serde_json::from_str(text).unwrap();
        let GlueAnswer {
            outcome,
            reason,
            status,
        } = answer(&vector);
        let expected = &vector.expect;
        if outcome != expected.outcome || reason != expected.reason || status != expected.status {
            failures.push(format!(
                "{file}: expected {}/{}/{}, got {outcome}/{reason}/{status}",
                expected.outcome, expected.reason, expected.status
            ));
        }
        checked += 1;
    }
    assert!(
        failures.is_empty(),
        "{} of {checked} vectors differ:\n{}",
        failures.len(),
        failures.join("\n")
    );
    assert!(checked >= 50);
}
