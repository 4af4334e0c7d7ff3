//! The `defender-misp` command: parse arguments, start tracing, dispatch. Nothing else.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use defender_misp::cli::replay::{self, ReplayOptions};
use defender_misp::cli::scan::{self, ScanOptions};
use defender_misp::config::ServeConfig;
use defender_misp::settings::ProcessEnv;
use defender_misp::startup::{Application, log_filter};

/// malloc/free were a quarter of a batch's instructions under glibc (BENCHMARKS.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(
    version,
    about = "Match Defender XDR streamed events against MISP threat intel"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run as an Azure Functions custom handler on 127.0.0.1:$FUNCTIONS_CUSTOMHANDLER_PORT.
    Serve,
    /// Match exported records (files or folders) and print matches as JSON lines.
    Scan {
        /// Files or folders of exported records (JSON lines or {"records":[...]}).
        #[arg(required = true)]
        paths: Vec<PathBuf>,
        /// A MISP feed folder (manifest.json + one JSON file per event) instead of a MISP server.
        #[arg(long, value_name = "DIR")]
        misp_feed: Option<PathBuf>,
        /// Hide the progress bar.
        #[arg(long)]
        quiet: bool,
    },
    /// Run dead-letter documents through matching again, or re-read saved poison-queue messages;
    /// print the matches as JSON lines.
    Replay {
        /// Dead-letter documents (JSON) or poison-queue messages saved as JSON lines.
        #[arg(required = true)]
        paths: Vec<PathBuf>,
        /// Match against a MISP feed folder instead of MISP_URL.
        #[arg(long, value_name = "DIR")]
        misp_feed: Option<PathBuf>,
        /// Also put every match on the misp-matches queue (AzureWebJobsStorage).
        #[arg(long)]
        enqueue: bool,
    },
}

/// Starts tracing with `RUST_LOG` (or the command's default); an invalid filter stops the
/// program before it does anything.
fn init_tracing(to_stderr: bool) -> Result<(), ExitCode> {
    let unset = if to_stderr { "warn" } else { "info" };
    let filter = log_filter(&ProcessEnv, unset).map_err(|e| {
        eprintln!("defender-misp: {e}");
        ExitCode::from(2)
    })?;
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(false);
    if to_stderr {
        builder.with_writer(std::io::stderr).init();
    } else {
        builder
            .json()
            .flatten_event(true)
            .with_writer(std::io::stdout)
            .init();
    }
    Ok(())
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    let to_stderr = !matches!(cli.command, Command::Serve);
    if let Err(code) = init_tracing(to_stderr) {
        return code;
    }
    let result = match cli.command {
        Command::Serve => {
            async {
                let app = Application::build(ServeConfig::from_env(&ProcessEnv)?).await?;
                app.run_until_stopped().await?;
                Ok(ExitCode::SUCCESS)
            }
            .await
        }
        Command::Scan {
            paths,
            misp_feed,
            quiet,
        } => {
            let options = ScanOptions {
                paths,
                misp_feed,
                progress: !quiet,
            };
            scan::run(options, &ProcessEnv).await
        }
        Command::Replay {
            paths,
            misp_feed,
            enqueue,
        } => {
            let options = ReplayOptions {
                paths,
                misp_feed,
                enqueue,
            };
            replay::run(options, &ProcessEnv).await
        }
    };
    result.unwrap_or_else(|e: anyhow::Error| {
        eprintln!("defender-misp: {e:#}");
        ExitCode::from(2)
    })
}
