//! Writes a synthetic Defender export of a given size, for measuring `scan` (BENCHMARKS.md) and
//! for trying the input shapes by hand; optionally a MISP feed folder whose IOCs a few of its
//! records carry. Records are shaped like the Streaming API's DeviceFileEvents and
//! DeviceProcessEvents rows (about 2.5 KB each, sixty-odd columns); every value is made up.
//!
//! ```text
//! cargo run --release --example export -- --mb 200 --format lines --feed /tmp/feed > /tmp/export.json
//! /usr/bin/time -v target/release/defender-misp scan --quiet /tmp/export.json --misp-feed /tmp/feed > /dev/null
//! ```
//!
//! Formats: `lines` (JSON lines, CRLF, the Storage export), `document` (one `{"records":[…]}` on
//! one line), `pretty` (the same document pretty-printed), `array` (a JSON array of flat rows),
//! `hunting` (the hunting API's `{"Schema","Results"}`), `csv` (the portal's export).

#![recursion_limit = "512"]

use std::io::{BufWriter, Write};
use std::path::PathBuf;

use serde_json::{Value, json};

/// One record in 400 carries a hash the feed knows.
const PLANTED_EVERY: u64 = 400;

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn hex(&mut self, chars: usize) -> String {
        let mut s = String::with_capacity(chars);
        while s.len() < chars {
            s.push_str(&format!("{:016x}", self.next()));
        }
        s.truncate(chars);
        s
    }
}

fn planted(n: u64) -> String {
    format!("{:064x}", 0xfeed_0000_0000u64 + n)
}

fn record(rng: &mut Rng, n: u64) -> Value {
    let table = if n.is_multiple_of(3) {
        "DeviceProcessEvents"
    } else {
        "DeviceFileEvents"
    };
    // A fifth of the files repeat, as common binaries do.
    let file = if rng.next().is_multiple_of(5) {
        format!("{:040x}", rng.next() % 500)
    } else {
        rng.hex(40)
    };
    let sha256 = if n % PLANTED_EVERY == 7 {
        planted(n / PLANTED_EVERY)
    } else {
        rng.hex(64)
    };
    let process = format!("{:040x}", rng.next() % 2000);
    json!({
        "time": "2026-11-27T08:01:51.2820995Z", "tenantId": "00000000-1111-4222-8333-444444444444",
        "operationName": "Publish", "category": format!("AdvancedHunting-{table}"),
        "_TimeReceivedBySvc": "2026-11-27T08:00:14.4590254Z",
        "properties": {
            "SHA1": file, "FileSize": rng.next() % 10_000_000, "MD5": rng.hex(32),
            "FileName": format!("file-{n}.exe"), "FolderPath": format!("C:\\Users\\user{}\\Downloads\\file-{n}.exe", n % 50),
            "InitiatingProcessCommandLine": "\"installer.exe\" /quiet /norestart /log C:\\Windows\\Temp\\install.log",
            "InitiatingProcessFileName": "installer.exe", "InitiatingProcessParentFileName": "explorer.exe",
            "InitiatingProcessSHA1": process, "InitiatingProcessMD5": format!("{:032x}", rng.next() % 2000),
            "InitiatingProcessFolderPath": "c:\\program files\\vendor\\installer.exe",
            "InitiatingProcessParentCreationTime": "2026-11-27T07:59:30.693377Z", "InitiatingProcessId": rng.next() % 65536,
            "DeviceName": format!("ws-{:03}.corp.example", n % 500), "DeviceId": format!("{:040x}", n % 500),
            "InitiatingProcessCreationTime": "2026-11-27T07:59:31.2576124Z", "InitiatingProcessAccountName": "system",
            "InitiatingProcessAccountDomain": "nt authority", "InitiatingProcessAccountSid": "S-1-5-18",
            "InitiatingProcessParentId": rng.next() % 65536, "ReportId": 10_000 + n, "SHA256": sha256,
            "InitiatingProcessIntegrityLevel": "System", "InitiatingProcessTokenElevation": "TokenElevationTypeDefault",
            "FileOriginUrl": null, "FileOriginIP": null, "FileOriginReferrerUrl": null, "AppGuardContainerId": "",
            "ActionType": "FileCreated", "SensitivityLabel": null, "SensitivitySubLabel": null,
            "IsAzureInfoProtectionApplied": null, "RequestProtocol": "Local", "ShareName": null, "RequestSourceIP": null,
            "RequestSourcePort": null, "RequestAccountName": "SYSTEM", "RequestAccountDomain": "NT AUTHORITY",
            "RequestAccountSid": "S-1-5-18", "InitiatingProcessSHA256": format!("{:064x}", rng.next() % 2000),
            "InitiatingProcessAccountUpn": null, "InitiatingProcessAccountObjectId": null,
            "AdditionalFields": "{\"FileType\":\"PortableExecutable\",\"Signer\":\"Example, Inc.\"}",
            "PreviousFolderPath": "", "PreviousFileName": "", "InitiatingProcessFileSize": 299_008,
            "InitiatingProcessVersionInfoCompanyName": "Example Corporation",
            "InitiatingProcessVersionInfoProductName": "Example Installer",
            "InitiatingProcessVersionInfoProductVersion": "10.0.26100.1",
            "InitiatingProcessVersionInfoInternalFileName": "installer.exe",
            "InitiatingProcessVersionInfoOriginalFileName": "installer.exe",
            "InitiatingProcessVersionInfoFileDescription": "Example installer",
            "InitiatingProcessSessionId": 0, "IsInitiatingProcessRemoteSession": false,
            "InitiatingProcessRemoteSessionDeviceName": null, "InitiatingProcessRemoteSessionIP": null,
            "InitiatingProcessUniqueId": format!("{}", rng.next() % 100_000_000_000),
            "Timestamp": "2026-11-27T07:59:31.2914446Z", "MachineGroup": "main"
        },
        "Tenant": "DefaultTenant"
    })
}

const CSV_COLUMNS: [&str; 12] = [
    "Timestamp",
    "DeviceId",
    "DeviceName",
    "ActionType",
    "FileName",
    "FolderPath",
    "SHA1",
    "SHA256",
    "MD5",
    "InitiatingProcessSHA1",
    "AdditionalFields",
    "ReportId",
];

fn csv_cell(v: &Value) -> String {
    let text = match v {
        Value::Null => String::new(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    if text.contains([',', '"', '\n']) {
        format!("\"{}\"", text.replace('"', "\"\""))
    } else {
        text
    }
}

fn write_feed(dir: &PathBuf, planted_count: u64) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    let uuid = "9e1f0c2a-5b3d-4e6f-8a7b-0c1d2e3f4a5b";
    let attributes: Vec<Value> = (0..planted_count)
        .map(|i| json!({"type": "sha256", "to_ids": true, "value": planted(i), "uuid": format!("a0000000-0000-4000-8000-{i:012x}")}))
        .collect();
    let event = json!({"Event": {"uuid": uuid, "info": "Synthetic benchmark campaign", "published": true,
        "threat_level_id": "2", "Tag": [{"name": "tlp:green"}], "Attribute": attributes}});
    std::fs::write(dir.join(format!("{uuid}.json")), event.to_string())?;
    std::fs::write(
        dir.join("manifest.json"),
        json!({uuid: {"info": "Synthetic benchmark campaign", "timestamp": 1}}).to_string(),
    )
}

fn main() -> std::io::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let arg = |name: &str| {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1))
            .cloned()
    };
    let megabytes: u64 = arg("--mb").and_then(|v| v.parse().ok()).unwrap_or(200);
    let format = arg("--format").unwrap_or_else(|| "lines".into());
    let limit = megabytes * 1_000_000;
    let mut out = BufWriter::with_capacity(1 << 20, std::io::stdout().lock());
    let mut rng = Rng(0x2545_f491_4f6c_dd1d);
    let (mut written, mut n) = (0u64, 0u64);
    let (open, sep, close) = match format.as_str() {
        "lines" | "csv" => ("", "\r\n", "\r\n"),
        "document" => ("{\"records\":[", ",", "]}\n"),
        "pretty" => ("{\n  \"records\": [\n", ",\n", "\n  ]\n}\n"),
        "array" => ("[\n", ",\n", "\n]\n"),
        "hunting" => (
            "{\"Schema\":[{\"Name\":\"Timestamp\",\"Type\":\"DateTime\"}],\"Results\":[",
            ",",
            "]}\n",
        ),
        other => panic!("unknown format {other}"),
    };
    out.write_all(open.as_bytes())?;
    if format == "csv" {
        out.write_all(CSV_COLUMNS.join(",").as_bytes())?;
        out.write_all(b"\r\n")?;
    }
    while written < limit {
        let r = record(&mut rng, n);
        let text = match format.as_str() {
            "csv" => CSV_COLUMNS
                .iter()
                .map(|c| csv_cell(&r["properties"][c]))
                .collect::<Vec<_>>()
                .join(","),
            "array" | "hunting" => r["properties"].to_string(),
            "pretty" => serde_json::to_string_pretty(&r).unwrap_or_default(),
            _ => r.to_string(),
        };
        if n > 0 {
            out.write_all(sep.as_bytes())?;
        }
        out.write_all(text.as_bytes())?;
        written += text.len() as u64 + 2;
        n += 1;
    }
    out.write_all(close.as_bytes())?;
    out.flush()?;
    if let Some(feed) = arg("--feed") {
        write_feed(&PathBuf::from(feed), n / PLANTED_EVERY + 1)?;
    }
    eprintln!(
        "{n} records, {} planted hashes",
        n / PLANTED_EVERY + u64::from(n % PLANTED_EVERY > 7)
    );
    Ok(())
}
