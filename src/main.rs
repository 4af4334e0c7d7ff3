//! The `defender-misp` command: parse arguments, start tracing, dispatch. Nothing else.

use std::io::IsTerminal;
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

/// What `scan` and `replay --help` add after the options.
const OFFLINE_HELP: &str = "\
Threat intel: a MISP feed folder (--misp-feed DIR), or the MISP server of MISP_URL and
MISP_API_KEY (the automation key, never printed); MISP_PUBLISHED_ONLY, MISP_WARNINGLISTS_DIR,
MATCH_ALLOWLIST and the other settings of serve apply (README, Configuration).

Exit codes: 0 everything was read and every record ended matched or clean (matches or not);
1 the result is partial (a record, line, input or feed event file could not be processed, or
MISP stopped answering; each is reported on stderr); 2 usage, configuration or fatal I/O error.";

#[derive(Subcommand)]
enum Command {
    /// Run as an Azure Functions custom handler on 127.0.0.1:$FUNCTIONS_CUSTOMHANDLER_PORT.
    Serve,
    /// Match exported records (files, folders or - for stdin) and print matches as JSON lines.
    #[command(after_help = OFFLINE_HELP)]
    Scan {
        /// Files or folders of exported records, or - for standard input: JSON lines (the
        /// Storage export), {"records":[...]}, a JSON array, the hunting API's answer, flat rows,
        /// the portal's CSV; gzip-compressed or not.
        #[arg(required = true)]
        paths: Vec<PathBuf>,
        /// A MISP feed folder (manifest.json + one JSON file per event) instead of a MISP server.
        #[arg(long, value_name = "DIR")]
        misp_feed: Option<PathBuf>,
        /// No progress bar (it is drawn only when stderr is a terminal).
        #[arg(long)]
        quiet: bool,
    },
    /// Run dead-letter documents through matching again, or re-read saved poison-queue messages;
    /// print the matches as JSON lines.
    #[command(after_help = OFFLINE_HELP)]
    Replay {
        /// Dead-letter documents (JSON), or poison-queue messages: `az storage message get`
        /// output (a JSON array) or JSON lines; - for standard input.
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
        // Colours only for a person at a terminal, never into a file or a pipe.
        builder
            .with_ansi(std::io::stderr().is_terminal())
            .with_writer(std::io::stderr)
            .init();
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
    // Before the first batch touches memory (src/memory.rs says why).
    let huge_pages = defender_misp::memory::no_transparent_huge_pages();
    let to_stderr = !matches!(cli.command, Command::Serve);
    if let Err(code) = init_tracing(to_stderr) {
        return code;
    }
    if let Err(e) = huge_pages {
        tracing::warn!(error = %e, "transparent huge pages stay on: first batches zero 2 MiB pages");
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
