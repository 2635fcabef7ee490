//! `jitgate-stack`: the local stack in the foreground, what `cargo xtask up` runs once it has
//! built everything. Prints where things are, then waits for Ctrl-C (or SIGTERM) and stops
//! everything in order; exits non-zero, with the log of the culprit, if a part dies.

use std::process::ExitCode;
use std::time::Duration;

use jitgate_e2e::devstack::{parse_args, Binaries, DevStack, Invocation, USAGE};
use jitgate_e2e::Error;

/// How often the stack checks that its processes still run.
const WATCH_INTERVAL: Duration = Duration::from_millis(500);
/// How long after finding a process gone the stack waits for the signal that explains it.
const SIGNAL_GRACE: Duration = Duration::from_millis(300);

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let options = match parse_args(&args) {
        Ok(Invocation::Up(options)) => options,
        Ok(Invocation::Help) => {
            println!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Err(error) => {
            eprintln!("up: {error}\n\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("up: cannot start the signal handler: {error}");
            return ExitCode::FAILURE;
        }
    };
    // Signal handlers first: a Ctrl-C while the stack starts must still stop it cleanly.
    let signals = runtime.block_on(async { Signals::listen() });
    let mut signals = match signals {
        Ok(signals) => signals,
        Err(error) => {
            eprintln!("up: cannot listen for signals: {error}");
            return ExitCode::FAILURE;
        }
    };
    eprintln!("up: starting the stack in {} …", options.data_dir.display());
    let started = Binaries::from_env().and_then(|binaries| DevStack::start(&options, &binaries));
    let mut stack = match started {
        Ok(stack) => stack,
        Err(error) => {
            eprintln!("up: {error}");
            return ExitCode::from(match error {
                Error::PortInUse { .. } | Error::Usage(_) => 2,
                _ => 1,
            });
        }
    };
    print!("{}", stack.banner());
    let outcome = runtime.block_on(async {
        loop {
            tokio::select! {
                name = signals.next() => break Ok(name),
                () = tokio::time::sleep(WATCH_INTERVAL) => {
                    if let Err(error) = stack.check_running() {
                        // Ctrl-C reaches the children too (one process group): a child that
                        // exited because of it is not a failure.
                        match tokio::time::timeout(SIGNAL_GRACE, signals.next()).await {
                            Ok(name) => break Ok(name),
                            Err(_) => break Err(error),
                        }
                    }
                }
            }
        }
    });
    let died = match outcome {
        Ok(signal) => {
            eprintln!("\nup: {signal}: stopping …");
            false
        }
        Err(error) => {
            eprintln!("up: {error}\nup: stopping the rest …");
            true
        }
    };
    match stack.stop() {
        Ok(()) if !died => {
            eprintln!("up: stopped; the data folder is kept for the next run");
            ExitCode::SUCCESS
        }
        Ok(()) => ExitCode::FAILURE,
        Err(error) => {
            eprintln!("up: while stopping: {error}");
            ExitCode::FAILURE
        }
    }
}

/// SIGINT (Ctrl-C) and SIGTERM.
struct Signals {
    interrupt: tokio::signal::unix::Signal,
    terminate: tokio::signal::unix::Signal,
}

impl Signals {
    fn listen() -> std::io::Result<Signals> {
        use tokio::signal::unix::{signal, SignalKind};
        Ok(Signals {
            interrupt: signal(SignalKind::interrupt())?,
            terminate: signal(SignalKind::terminate())?,
        })
    }

    /// The name of the next signal received.
    async fn next(&mut self) -> &'static str {
        tokio::select! {
            _ = self.interrupt.recv() => "interrupted",
            _ = self.terminate.recv() => "terminated",
        }
    }
}
