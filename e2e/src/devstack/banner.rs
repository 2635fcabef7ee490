//! What `cargo xtask up` prints once everything is ready: where each part listens, where the
//! data and logs are, and the first commands of the walkthrough.

use std::fmt::Write;

use super::DevStack;

/// The text shown once the stack is ready.
pub fn banner(stack: &DevStack) -> String {
    let ports = stack.ports();
    let data = stack.data_dir().display();
    let mut out = String::new();
    let _ = writeln!(
        out,
        "jitgate local stack is up. LOCAL USE ONLY: demo identities, example policy."
    );
    let _ = writeln!(out);
    for (what, url) in [
        (
            "gateway (Envoy + jitgate)",
            format!("http://127.0.0.1:{}", ports.gateway),
        ),
        (
            "issuer API + reviewer page",
            format!("http://127.0.0.1:{}", ports.issuer),
        ),
        (
            "audit collector",
            format!("http://127.0.0.1:{}", ports.collector),
        ),
        (
            "model server (stub)",
            format!("http://127.0.0.1:{}", ports.model),
        ),
        ("Envoy admin", format!("http://127.0.0.1:{}", ports.admin)),
    ] {
        let _ = writeln!(out, "  {what:<28} {url}");
    }
    let _ = writeln!(out, "  {:<28} {data}", "data");
    let _ = writeln!(out, "  {:<28} {data}/logs, {data}/envoy", "logs");
    let _ = writeln!(
        out,
        "  {:<28} {data}/guard-rules.toml (reload: kill -HUP the collector)",
        "guard rules"
    );
    let _ = writeln!(out);
    let _ = writeln!(
        out,
        "Demo identities (API token jgt_demo_<name>): alice (ml-eng), bob (ml-leads),"
    );
    let _ = writeln!(
        out,
        "carol and frank (sre-leads), dana (data-stewards), erin (oncall), root (admin), ci-bot,"
    );
    let _ = writeln!(
        out,
        "and guard (jitgate-guards: the collector's guard acts as it)."
    );
    let _ = writeln!(out);
    let _ = writeln!(
        out,
        "Next, in another terminal (README.md, \"Walkthrough\"):"
    );
    let _ = writeln!(out, "  source {}", stack.env_file().display());
    let _ = writeln!(
        out,
        "  jitgate request --scope inference:meta-llama/Llama-3.1-8B-Instruct --for 1h --reason \"try the gateway\""
    );
    let _ = writeln!(out);
    let _ = writeln!(out, "Ctrl-C stops everything.");
    out
}
