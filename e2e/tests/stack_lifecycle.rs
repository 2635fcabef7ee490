//! `cargo xtask up`'s runner as a user meets it: it prints where everything is once the gate
//! can decide, Ctrl-C (SIGINT) stops every process and frees every port, a second run on the
//! same data folder keeps the issuer's keys and grants, and a port already taken is named
//! with the flag that moves it before anything starts.

#![allow(clippy::panic, clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead, BufReader, Read};
use std::net::{Ipv4Addr, TcpListener};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use jitgate_e2e::devstack::StackPorts;
use jitgate_e2e::{raw_http, RawRequest};

const RUNNER: &str = env!("CARGO_BIN_EXE_jitgate-stack");

fn runner(data: &Path, ports: StackPorts) -> Command {
    let mut command = Command::new(RUNNER);
    command
        .arg("--data")
        .arg(data)
        .args(["--gateway-port", &ports.gateway.to_string()])
        .args(["--admin-port", &ports.admin.to_string()])
        .args(["--issuer-port", &ports.issuer.to_string()])
        .args(["--collector-port", &ports.collector.to_string()])
        .args(["--model-port", &ports.model.to_string()]);
    command
}

/// Starts the runner and waits (bounded) for the last line of its banner.
fn start(data: &Path, ports: StackPorts) -> (Child, String) {
    let mut child = runner(data, ports)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let (sender, lines) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if sender.send(line).is_err() {
                break;
            }
        }
    });
    let deadline = Instant::now() + Duration::from_secs(90);
    let mut banner = String::new();
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match lines.recv_timeout(left) {
            Ok(line) => {
                banner.push_str(&line);
                banner.push('\n');
                if line == "Ctrl-C stops everything." {
                    return (child, banner);
                }
            }
            Err(_) => {
                let _ = child.kill();
                let _ = child.wait();
                let mut errors = String::new();
                child
                    .stderr
                    .take()
                    .unwrap()
                    .read_to_string(&mut errors)
                    .unwrap();
                panic!("no banner from the stack:\n{banner}\nstderr:\n{errors}");
            }
        }
    }
}

/// Ctrl-C, then the exit status and what it printed on stderr.
fn interrupt(mut child: Child) -> (bool, String) {
    let pid = rustix::process::Pid::from_child(&child);
    rustix::process::kill_process(pid, rustix::process::Signal::INT).unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        assert!(
            Instant::now() < deadline,
            "the stack did not stop within 30 s"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    let mut errors = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut errors)
        .unwrap();
    (status.success(), errors)
}

fn issuer_key_ids(ports: StackPorts) -> String {
    let response = raw_http::send(
        (Ipv4Addr::LOCALHOST, ports.issuer).into(),
        RawRequest::get("/.well-known/jwks.json"),
    )
    .unwrap();
    assert_eq!(response.status, 200);
    let jwks: serde_json::Value = serde_json::from_slice(&response.body).unwrap();
    jwks["keys"][0]["kid"].as_str().unwrap().to_owned()
}

fn all_ports_free(ports: StackPorts) -> bool {
    ports
        .roles()
        .iter()
        .all(|(_, _, port)| TcpListener::bind((Ipv4Addr::LOCALHOST, *port)).is_ok())
}

#[test]
fn ctrl_c_stops_everything_and_a_second_run_keeps_the_data() {
    let data = tempfile::tempdir().unwrap();
    let ports = StackPorts::free().unwrap();
    let (child, banner) = start(data.path(), ports);
    assert!(
        banner.contains(&format!("http://127.0.0.1:{}", ports.gateway)),
        "{banner}"
    );
    assert!(banner.contains("LOCAL USE ONLY"), "{banner}");
    // The gate answers through Envoy: a public route, and a refusal without a token.
    let gateway = (Ipv4Addr::LOCALHOST, ports.gateway).into();
    assert_eq!(
        raw_http::send(gateway, RawRequest::get("/v1/models"))
            .unwrap()
            .status,
        200
    );
    let refused = raw_http::send(gateway, RawRequest::new("POST", "/v1/chat/completions")).unwrap();
    assert_eq!(refused.status, 401);
    let kid = issuer_key_ids(ports);

    let (stopped_cleanly, errors) = interrupt(child);
    assert!(stopped_cleanly, "{errors}");
    assert!(errors.contains("stopped"), "{errors}");
    assert!(
        all_ports_free(ports),
        "a process of the stack still holds a port"
    );

    // Same data, same ports: the issuer's signing key (and with it every token) survives.
    let (child, _) = start(data.path(), ports);
    assert_eq!(issuer_key_ids(ports), kid);
    let (stopped_cleanly, errors) = interrupt(child);
    assert!(stopped_cleanly, "{errors}");
    assert!(all_ports_free(ports));
}

#[test]
fn a_taken_port_is_named_before_anything_starts() {
    let data = tempfile::tempdir().unwrap();
    let taken = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
    let mut ports = StackPorts::free().unwrap();
    ports.collector = taken.local_addr().unwrap().port();
    let output = runner(data.path(), ports).output().unwrap();
    assert_eq!(output.status.code(), Some(2));
    let errors = String::from_utf8_lossy(&output.stderr);
    assert!(
        errors.contains(&format!(
            "127.0.0.1:{} (collector) is already in use",
            ports.collector
        )) && errors.contains("--collector-port"),
        "{errors}"
    );
    // Nothing was started: the data folder holds no databases.
    assert!(!data.path().join("issuer").exists());
    assert!(!data.path().join("collector").exists());
}
