//! `defender-misp replay`: recovery. Reads dead-letter documents (the JSON objects of the
//! `deadletter` container, downloaded as files) and runs their events through the engine again,
//! printing matches as JSON lines; reads poison-queue messages saved as JSON lines and prints
//! the matches they carry. With `--enqueue` every match is also put back on `misp-matches`, so
//! `RaiseAlerts` acts on it (alerts are deduplicated by device and hash, actions by `matchId`).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde_json::Value;

use super::offline::{collect_files, offline_engine};
use crate::azure::queue::{QueueService, StorageAccount};
use crate::deadletter::DeadLetterDoc;
use crate::engine::Engine;
use crate::matches::MatchRecord;
use crate::settings::Source;

/// The queue `MatchEvents` writes and `RaiseAlerts` reads.
pub const MATCHES_QUEUE: &str = "misp-matches";

#[derive(Debug, Clone)]
pub struct ReplayOptions {
    pub paths: Vec<PathBuf>,
    pub misp_feed: Option<PathBuf>,
    pub enqueue: bool,
}

/// A poison-queue message as saved by a person or a tool: the match itself, an object holding
/// the message text (`content` from `az storage message get`, `messageText`, `MessageText`,
/// `body`), or the text as a string; the text is the match JSON or its base64.
pub fn match_from_message(line: &str) -> Result<MatchRecord, String> {
    let value: Value = serde_json::from_str(line).map_err(|e| format!("not JSON: {e}"))?;
    let text = match &value {
        Value::Object(o) if o.contains_key("matchId") => {
            return serde_json::from_value(value).map_err(|e| e.to_string());
        }
        Value::Object(o) => ["content", "messageText", "MessageText", "body"]
            .iter()
            .find_map(|k| o.get(*k).and_then(Value::as_str))
            .ok_or("an object with neither a match nor a message text")?
            .to_owned(),
        Value::String(s) => s.clone(),
        _ => return Err("neither a match nor a message".into()),
    };
    let decoded = match STANDARD.decode(text.trim()) {
        Ok(bytes) => {
            String::from_utf8(bytes).map_err(|_| "message text is base64 of non-UTF-8 bytes")?
        }
        Err(_) => text,
    };
    serde_json::from_str(&decoded).map_err(|e| format!("message text is not a match: {e}"))
}

/// What a replay did, for its last line and exit code.
#[derive(Default)]
struct Tally {
    failures: usize,
    printed: usize,
    enqueued: usize,
}

pub async fn run(options: ReplayOptions, env: &dyn Source) -> anyhow::Result<ExitCode> {
    let queue = if options.enqueue {
        Some(open_queue(env).await?)
    } else {
        None
    };
    let mut engine: Option<Engine> = None;
    let mut tally = Tally::default();
    for file in collect_files(&options.paths)? {
        let bytes =
            std::fs::read(&file).with_context(|| format!("cannot read {}", file.display()))?;
        let matches = match serde_json::from_slice::<DeadLetterDoc>(&bytes) {
            Ok(doc) => {
                if engine.is_none() {
                    engine = Some(offline_engine(
                        options.misp_feed.as_deref(),
                        env,
                        "replaying dead letters",
                    )?);
                }
                let engine = engine.as_ref().expect("built above");
                rematch(&doc, &file, engine, &mut tally).await?
            }
            Err(_) => read_poison(&bytes, &file, &mut tally),
        };
        emit(&matches, queue.as_ref(), &mut tally).await?;
    }
    eprintln!(
        "replayed: {} match(es), {} enqueued, {} still failing",
        tally.printed, tally.enqueued, tally.failures
    );
    Ok(if tally.failures == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

/// The `misp-matches` queue of the storage account in the settings, created if missing.
async fn open_queue(env: &dyn Source) -> anyhow::Result<QueueService> {
    let account = StorageAccount::from_env(env)?;
    let q = QueueService::connect(&account, || {
        Ok(azure_identity::DeveloperToolsCredential::new(None)
            .context("no developer credential (az login)")?)
    })?;
    q.ensure_queue(MATCHES_QUEUE)
        .await
        .context("cannot reach the misp-matches queue")?;
    Ok(q)
}

/// A dead-letter document's events through the engine again; those that still fail are reported.
async fn rematch(
    doc: &DeadLetterDoc,
    file: &Path,
    engine: &Engine,
    tally: &mut Tally,
) -> anyhow::Result<Vec<MatchRecord>> {
    let inputs = doc
        .inputs()
        .with_context(|| format!("{}: an event body is not base64", file.display()))?;
    let outcome = engine.process(inputs, false).await;
    for d in &outcome.dead {
        tally.failures += 1;
        eprintln!(
            "{}: event {} still fails: {}",
            file.display(),
            d.index + 1,
            d.reason
        );
    }
    Ok(outcome.matches)
}

/// Poison-queue messages saved as JSON lines; an unreadable line is reported.
fn read_poison(bytes: &[u8], file: &Path, tally: &mut Tally) -> Vec<MatchRecord> {
    let mut matches = Vec::new();
    for (n, line) in String::from_utf8_lossy(bytes).lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        match match_from_message(line) {
            Ok(m) => matches.push(m),
            Err(e) => {
                tally.failures += 1;
                eprintln!("{}: line {}: {e}", file.display(), n + 1);
            }
        }
    }
    matches
}

/// Prints each match as a JSON line, and puts it on the queue when there is one.
async fn emit(
    matches: &[MatchRecord],
    queue: Option<&QueueService>,
    tally: &mut Tally,
) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    for m in matches {
        let text = serde_json::to_string(m)?;
        writeln!(out, "{text}")?;
        tally.printed += 1;
        if let Some(q) = queue {
            q.put_message(MATCHES_QUEUE, &text)
                .await
                .with_context(|| format!("enqueue {}", m.match_id))?;
            tally.enqueued += 1;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const MATCH: &str = r#"{"matchId":"ab","deviceId":null,"deviceName":null,"reportId":"1","timestamp":null,"category":null,"alertable":false,"hash":"d41d8cd98f00b204e9800998ecf8427f","hashType":"md5","hashFields":["MD5"],"fileName":null,"folderPath":null,"intel":[]}"#;

    #[test]
    fn poison_messages_are_read_in_every_saved_form() {
        let b64 = STANDARD.encode(MATCH);
        for line in [
            MATCH.to_owned(),
            serde_json::json!({"content": b64, "id": "x", "dequeueCount": 5}).to_string(),
            serde_json::json!({"messageText": MATCH}).to_string(),
            serde_json::to_string(&b64).unwrap(),
        ] {
            assert_eq!(match_from_message(&line).unwrap().match_id, "ab", "{line}");
        }
        assert!(match_from_message("{}").is_err());
        assert!(
            match_from_message(r#"{"content":"aGVsbG8="}"#)
                .unwrap_err()
                .contains("not a match")
        );
    }
}
