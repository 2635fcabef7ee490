//! `jitgate audit verify`: checks an export offline with the collector's public key and
//! prints what it established, or the first problem with its line number. Exit 0 verified,
//! 1 not verified, 2 could not run.

use std::io::BufReader;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;
use jitgate_collector::note::NoteVerifier;
use jitgate_collector::{verify, GapPolicy, VerifyOptions};

/// Flags of `jitgate audit verify`.
#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// The export file (`-` for stdin).
    export: PathBuf,
    /// The collector's checkpoint verifier key (`<origin>+<id>+<key>`, from
    /// `GET /v1/checkpoint/key`), or a file holding it.
    #[arg(long, env = "JITGATE_AUDIT_KEY")]
    key: String,
    /// A checkpoint you verified before (see --save-checkpoint): the export must prove the
    /// log only grew since it.
    #[arg(long)]
    trusted_checkpoint: Option<PathBuf>,
    /// After a successful check, save the export's checkpoint here to trust next time.
    #[arg(long)]
    save_checkpoint: Option<PathBuf>,
    /// Report gaps in streams without failing.
    #[arg(long)]
    allow_gaps: bool,
}

/// Runs the verification.
pub fn run(args: VerifyArgs) -> ExitCode {
    let options = match options(&args) {
        Ok(options) => options,
        Err(message) => {
            eprintln!("jitgate audit verify: {message}");
            return ExitCode::from(2);
        }
    };
    let result = if args.export.as_os_str() == "-" {
        verify(std::io::stdin().lock(), &options)
    } else {
        match std::fs::File::open(&args.export) {
            Ok(file) => verify(BufReader::new(file), &options),
            Err(error) => {
                eprintln!("jitgate audit verify: {}: {error}", args.export.display());
                return ExitCode::from(2);
            }
        }
    };
    match result {
        Ok(report) => {
            print!("{report}");
            if let Some(path) = &args.save_checkpoint {
                if let Err(error) = std::fs::write(path, &report.checkpoint_note) {
                    eprintln!("jitgate audit verify: {}: {error}", path.display());
                    return ExitCode::from(2);
                }
                println!("saved:       checkpoint to {}", path.display());
            }
            println!("OK: the export verifies");
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("verification FAILED: {error}");
            ExitCode::FAILURE
        }
    }
}

fn options(args: &VerifyArgs) -> Result<VerifyOptions, String> {
    // A key string always contains '+'; anything else is taken as a file holding one.
    let key_text = if args.key.contains('+') && !std::path::Path::new(&args.key).exists() {
        args.key.clone()
    } else {
        std::fs::read_to_string(&args.key).map_err(|e| format!("--key {}: {e}", args.key))?
    };
    let key = NoteVerifier::parse(&key_text).map_err(|e| format!("--key: {e}"))?;
    let trusted_checkpoint = args
        .trusted_checkpoint
        .as_ref()
        .map(|path| {
            std::fs::read_to_string(path)
                .map_err(|e| format!("--trusted-checkpoint {}: {e}", path.display()))
        })
        .transpose()?;
    Ok(VerifyOptions {
        key,
        trusted_checkpoint,
        gaps: if args.allow_gaps {
            GapPolicy::Report
        } else {
            GapPolicy::Fail
        },
    })
}
