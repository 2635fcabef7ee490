//! `jitgate issuer …`: run the issuer and the admin chores that work on its files.

use std::path::PathBuf;

use clap::Subcommand;
use jitgate_issuer::config::ServeConfig;
use jitgate_issuer::identity::api_tokens::{digest, generate};
use jitgate_issuer::notify::webhook::WebhookSecret;
use jitgate_issuer::policy::{PolicyEngine, PolicySource};

/// `jitgate issuer` subcommands.
#[derive(Debug, Subcommand)]
pub enum IssuerCommand {
    /// Run the issuer.
    Serve(Box<ServeConfig>),
    /// Rotate the signing key in the data dir (then SIGHUP or POST /v1/admin/keys/reload
    /// the running issuer). The previous key stays published.
    RotateKey {
        /// The issuer's data dir.
        #[arg(long, env = "JITGATE_DATA_DIR", default_value = "jitgate-data")]
        data_dir: PathBuf,
    },
    /// Make an API token: prints the token once, and the line for the API-token file.
    NewApiToken {
        /// The subject the token authenticates as.
        #[arg(long)]
        subject: String,
        /// A group (repeat for several).
        #[arg(long = "group")]
        groups: Vec<String>,
        /// person or service.
        #[arg(long, default_value = "service")]
        kind: String,
    },
    /// Make a Standard Webhooks signing secret (whsec_…) for a webhook channel: written to
    /// the file with mode 0600, for the notifications file's `secret_file` and the receiver.
    NewWebhookSecret {
        /// Where to write it (refused if it exists).
        #[arg(long)]
        out: PathBuf,
    },
    /// Check a policy file against the schema, as the issuer would at start.
    CheckPolicy {
        /// The .cedar file.
        #[arg(long)]
        policy: PathBuf,
        /// The schema; the built-in one when unset.
        #[arg(long)]
        schema: Option<PathBuf>,
    },
}

/// Runs an issuer subcommand.
pub async fn run(command: IssuerCommand) -> Result<(), String> {
    match command {
        IssuerCommand::Serve(config) => jitgate_issuer::serve::run(*config)
            .await
            .map_err(|error| format!("jitgate issuer: {error}")),
        IssuerCommand::RotateKey { data_dir } => {
            let kid = jitgate_issuer::keys::rotate_dir(&data_dir.join("keys"))
                .map_err(|error| format!("jitgate issuer rotate-key: {error}"))?;
            println!("New signing key {kid}; the previous key stays published.");
            println!("Tell the running issuer: kill -HUP <pid>, or POST /v1/admin/keys/reload as an admin.");
            Ok(())
        }
        IssuerCommand::NewApiToken {
            subject,
            groups,
            kind,
        } => {
            if !["person", "service"].contains(&kind.as_str()) {
                return Err(format!("error: --kind {kind:?} is not person or service"));
            }
            let token = generate().map_err(|error| error.to_string())?;
            let entry = serde_json::json!({"subject": subject, "kind": kind, "groups": groups, "sha256": digest(&token)});
            println!("token (give it to {subject}; it is not stored anywhere): {token}");
            println!("add to the API-token file's \"tokens\" list: {entry}");
            Ok(())
        }
        IssuerCommand::NewWebhookSecret { out } => {
            let secret = WebhookSecret::generate().map_err(|error| error.to_string())?;
            write_new_private(&out, &format!("{secret}\n"))
                .map_err(|error| format!("error: {}: {error}", out.display()))?;
            println!(
                "Wrote a webhook secret to {} (mode 0600). Give the receiver the same file; name it as `secret_file` in the notifications file.",
                out.display()
            );
            Ok(())
        }
        IssuerCommand::CheckPolicy { policy, schema } => {
            let engine = PolicyEngine::from_files(PolicySource {
                policy: policy.clone(),
                schema,
            })
            .map_err(|error| format!("{error}"))?;
            let summary = engine.current().summary();
            println!(
                "{}: {} policies, valid (sha256 {})",
                policy.display(),
                summary.policies,
                summary.sha256
            );
            Ok(())
        }
    }
}

/// Creates `path` with `text`, readable by the owner only; an existing file is refused.
fn write_new_private(path: &std::path::Path, text: &str) -> std::io::Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    options.open(path)?.write_all(text.as_bytes())
}
