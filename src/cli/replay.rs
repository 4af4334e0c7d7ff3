//! `defender-misp replay`: recovery. Reads dead-letter documents (the JSON objects of the
//! `deadletter` container, downloaded as files) and runs their events through the engine again,
//! printing matches as JSON lines; reads saved poison-queue messages (the JSON array
//! `az storage message get` prints, or JSON lines) and prints the matches they carry. With
//! `--enqueue` every match is also put back on `misp-matches`, so `RaiseAlerts` acts on it
//! (alerts are deduplicated by device and hash, actions by `matchId`).

use std::io::{Read, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde_json::Value;

use super::input::walk::{Input, walk};
use super::offline::{Offline, offline_engine};
use crate::azure::queue::{QueueService, StorageAccount};
use crate::deadletter::DeadLetterDoc;
use crate::engine::Engine;
use crate::matches::MatchRecord;
use crate::records::strip_bom;
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
    match_from_value(value)
}

/// [`match_from_message`] for a message already parsed.
pub fn match_from_value(value: Value) -> Result<MatchRecord, String> {
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
    let mut offline: Option<Offline> = None;
    let mut tally = Tally::default();
    let walked = walk(&options.paths);
    for (path, why) in &walked.unreadable {
        eprintln!("{path}: {why}");
        tally.failures += 1;
    }
    for input in &walked.inputs {
        let name = input.name();
        let bytes = match read(input) {
            Ok(bytes) => bytes,
            Err(e) => {
                eprintln!("{name}: cannot read: {e}");
                tally.failures += 1;
                continue;
            }
        };
        let matches = match serde_json::from_slice::<DeadLetterDoc>(strip_bom(&bytes)) {
            Ok(doc) => {
                if offline.is_none() {
                    let built = offline_engine(
                        options.misp_feed.as_deref(),
                        env,
                        "replaying dead letters",
                    )?;
                    for note in &built.notes {
                        eprintln!("{note}");
                    }
                    offline = Some(built);
                }
                let engine = &offline.as_ref().expect("built above").engine;
                rematch(&doc, &name, engine, &mut tally).await
            }
            Err(_) => read_poison(strip_bom(&bytes), &name, &mut tally),
        };
        if !emit(&matches, queue.as_ref(), &mut tally).await? {
            return Ok(ExitCode::SUCCESS);
        }
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

fn read(input: &Input) -> std::io::Result<Vec<u8>> {
    match input {
        Input::Stdin => {
            let mut bytes = Vec::new();
            std::io::stdin().read_to_end(&mut bytes)?;
            Ok(bytes)
        }
        Input::File(path) => std::fs::read(path),
    }
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

/// A dead-letter document's events through the engine again; those that still fail, or whose
/// body is damaged, are reported by their sequence number.
async fn rematch(
    doc: &DeadLetterDoc,
    name: &str,
    engine: &Engine,
    tally: &mut Tally,
) -> Vec<MatchRecord> {
    let mut inputs = Vec::new();
    let mut labels = Vec::new();
    for (i, event) in doc.events.iter().enumerate() {
        match event.input() {
            Ok(input) => {
                inputs.push(input);
                labels.push(event.label(i + 1));
            }
            Err(e) => {
                tally.failures += 1;
                eprintln!(
                    "{name}: {}: its body is not base64 ({e}): the file is damaged or was edited; the other events are replayed",
                    event.label(i + 1)
                );
            }
        }
    }
    let outcome = engine.process(inputs, false).await;
    for d in &outcome.dead {
        tally.failures += 1;
        let label = labels.get(d.index).map_or("an event", String::as_str);
        eprintln!("{name}: {label} still fails: {}", d.reason);
    }
    outcome.matches
}

/// Saved poison-queue messages: the pretty-printed JSON array `az storage message get`
/// writes, or JSON lines of messages; an unreadable one is reported with its place.
fn read_poison(bytes: &[u8], name: &str, tally: &mut Tally) -> Vec<MatchRecord> {
    let text = String::from_utf8_lossy(bytes);
    let mut matches = Vec::new();
    let mut take = |place: String, result: Result<MatchRecord, String>| match result {
        Ok(m) => matches.push(m),
        Err(e) => {
            tally.failures += 1;
            eprintln!("{name}: {place}: {e}");
        }
    };
    if text.trim_start().starts_with('[') {
        match serde_json::from_str::<Vec<Value>>(&text) {
            Ok(messages) => {
                for (i, message) in messages.into_iter().enumerate() {
                    let place = match message.get("id").and_then(Value::as_str) {
                        Some(id) => format!("message {} (id {id})", i + 1),
                        None => format!("message {}", i + 1),
                    };
                    take(place, match_from_value(message));
                }
            }
            Err(e) => take(
                "the array".to_owned(),
                Err(format!("not a JSON array of messages: {e}")),
            ),
        }
        return matches;
    }
    for (n, line) in text.lines().enumerate() {
        if !line.trim().is_empty() {
            take(format!("line {}", n + 1), match_from_message(line));
        }
    }
    matches
}

/// Prints each match as a JSON line, and puts it on the queue when there is one; `Ok(false)`
/// when stdout was closed (`| head`).
async fn emit(
    matches: &[MatchRecord],
    queue: Option<&QueueService>,
    tally: &mut Tally,
) -> anyhow::Result<bool> {
    for m in matches {
        let text = serde_json::to_string(m)?;
        let mut out = std::io::stdout().lock();
        match writeln!(out, "{text}").and_then(|()| out.flush()) {
            Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => return Ok(false),
            other => other?,
        }
        drop(out);
        tally.printed += 1;
        if let Some(q) = queue {
            q.put_message(MATCHES_QUEUE, &text)
                .await
                .with_context(|| format!("enqueue {}", m.match_id))?;
            tally.enqueued += 1;
        }
    }
    Ok(true)
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
