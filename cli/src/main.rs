//! `jitgate`: the command-line entry point (subcommands arrive with the issuer and collector).

fn main() {
    eprintln!("jitgate: no subcommands yet");
    std::process::exit(2);
}
