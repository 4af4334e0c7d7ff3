//! Synthetic, deterministic workloads shared by the criterion benches and `examples/load.rs`
//! (benches cannot import the integration-test modules, so the ideas of `tests/api/fixtures.rs`
//! and `tests/api/host_sim.rs` are restated here, smaller).
//!
//! - [`Workload`]: Defender records across the Device* tables, sized like the real ones
//!   (`docs/sources.md` §2: 1.0–4.45 KB), one record per Event Hub event, with file hashes drawn
//!   either fresh (never seen before: a cold cache) or from a skewed pool of "programs" (a
//!   realistic stream, where a few system binaries dominate).
//! - [`invocation`]: the host's request for a batch, `cardinality: many`, `dataType: binary`
//!   (a JSON string holding a JSON array of base64 bodies; every `*Array` double-encoded).
//! - [`stub_misp`]: a restSearch stand-in with a configurable latency, for value lookups and for
//!   paged snapshot pulls.

#![allow(dead_code)]

pub mod stub_misp;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde_json::{Map, Value, json};

/// A threat-intel source that knows nothing and answers at once: the benches keep every verdict
/// cached, so only a cold pass reaches it.
pub struct Empty;

#[async_trait::async_trait]
impl defender_misp::intel::ThreatIntel for Empty {
    fn chunk_size(&self) -> usize {
        1000
    }
    async fn lookup(
        &self,
        _: &[defender_misp::intel::LookupKey],
    ) -> Result<defender_misp::intel::Hits, defender_misp::intel::IntelError> {
        Ok(defender_misp::intel::Hits::new())
    }
}

/// SplitMix64: a tiny deterministic generator, so runs are reproducible without `rand` seeds.
#[derive(Clone)]
pub struct Mix(pub u64);

impl Mix {
    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e3779b97f4a7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58476d1ce4e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d049bb133111eb);
        z ^ (z >> 31)
    }
    /// Uniform in [0, 1).
    pub fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// Lowercase hex of `len` characters derived from `seed` and a salt.
pub fn hex(len: usize, seed: u64, salt: u64) -> String {
    use std::fmt::Write;
    let mut m = Mix(seed.wrapping_mul(0x100000001b3) ^ salt);
    let mut out = String::with_capacity(len + 16);
    while out.len() < len {
        write!(out, "{:016x}", m.next()).unwrap();
    }
    out.truncate(len);
    out
}

/// The (SHA1, SHA256, MD5) of synthetic program number `n`.
pub fn program(n: u64) -> [String; 3] {
    [hex(40, n, 1), hex(64, n, 2), hex(32, n, 3)]
}

/// A Device* table, the size of its records (`docs/sources.md` §2) and which hash trios it carries.
struct Table {
    name: &'static str,
    bytes: usize,
    file_hashes: bool,
    initiating_hashes: bool,
    weight: u32,
}

const TABLES: [Table; 8] = [
    Table {
        name: "DeviceProcessEvents",
        bytes: 4450,
        file_hashes: true,
        initiating_hashes: true,
        weight: 25,
    },
    Table {
        name: "DeviceNetworkEvents",
        bytes: 2600,
        file_hashes: false,
        initiating_hashes: true,
        weight: 20,
    },
    Table {
        name: "DeviceFileEvents",
        bytes: 2800,
        file_hashes: true,
        initiating_hashes: true,
        weight: 15,
    },
    Table {
        name: "DeviceRegistryEvents",
        bytes: 1300,
        file_hashes: false,
        initiating_hashes: true,
        weight: 15,
    },
    Table {
        name: "DeviceImageLoadEvents",
        bytes: 2350,
        file_hashes: true,
        initiating_hashes: true,
        weight: 10,
    },
    Table {
        name: "DeviceEvents",
        bytes: 2000,
        file_hashes: true,
        initiating_hashes: true,
        weight: 8,
    },
    Table {
        name: "DeviceLogonEvents",
        bytes: 2400,
        file_hashes: false,
        initiating_hashes: true,
        weight: 4,
    },
    Table {
        name: "DeviceFileCertificateInfo",
        bytes: 1000,
        file_hashes: false,
        initiating_hashes: false,
        weight: 3,
    },
];

/// Where a batch's programs come from.
#[derive(Debug, Clone, Copy)]
pub enum Draw {
    /// Programs never used before: `base + i`, so every hash is new to the cache.
    Fresh { base: u64 },
    /// A skewed pool of `pool` programs (most events run the same few binaries).
    Pool { pool: u64 },
}

/// A batch of event bodies and what a per-event integration would ask MISP for them.
pub struct Batch {
    pub events: Vec<Vec<u8>>,
    /// Hash values the records carry (every occurrence): one MISP request each per event design.
    pub hash_occurrences: usize,
}

impl Batch {
    pub fn bytes(&self) -> usize {
        self.events.iter().map(Vec::len).sum()
    }
}

/// Generates batches of records; deterministic for a given seed.
pub struct Workload {
    mix: Mix,
    next_fresh: u64,
}

impl Workload {
    pub fn new(seed: u64) -> Self {
        Self {
            mix: Mix(seed),
            next_fresh: 0,
        }
    }

    fn pick_program(&mut self, draw: Draw) -> u64 {
        match draw {
            Draw::Fresh { base } => {
                self.next_fresh += 1;
                base + self.next_fresh
            }
            // u^3 skews towards the low numbers: about half the draws hit the first 12 %.
            Draw::Pool { pool } => (self.mix.unit().powi(3) * pool as f64) as u64 + 1_000_000_000,
        }
    }

    /// One record of a randomly chosen table, padded to that table's typical size.
    pub fn record(&mut self, draw: Draw, report_id: u64) -> (Value, usize) {
        let total: u32 = TABLES.iter().map(|t| t.weight).sum();
        let mut r = (self.mix.next() % u64::from(total)) as u32;
        let table = TABLES
            .iter()
            .find(|t| {
                if r < t.weight {
                    true
                } else {
                    r -= t.weight;
                    false
                }
            })
            .unwrap();
        let device = hex(40, self.mix.next() % 500, 9);
        let mut props = json!({
            "Timestamp": "2026-07-18T12:59:31.2914446Z", "DeviceId": device, "DeviceName": "wks-0042.corp.example",
            "ReportId": report_id, "ActionType": "ProcessCreated", "MachineGroup": "Workstations",
            "InitiatingProcessAccountDomain": "corp", "InitiatingProcessAccountName": "alice",
            "InitiatingProcessAccountSid": "S-1-5-21-1004336348-1177238915-682003330-512",
            "InitiatingProcessCommandLine": "\"cmd.exe\" /c start C:\\Users\\alice\\AppData\\Local\\Temp\\setup.exe",
            "InitiatingProcessFileName": "cmd.exe", "InitiatingProcessFolderPath": "c:\\windows\\system32\\cmd.exe",
            "InitiatingProcessId": 4242, "InitiatingProcessCreationTime": "2026-07-18T12:59:30.1234567Z",
            "InitiatingProcessParentFileName": "explorer.exe", "InitiatingProcessParentId": 1337,
            "InitiatingProcessIntegrityLevel": "Medium", "InitiatingProcessTokenElevation": "TokenElevationTypeDefault",
            "InitiatingProcessUniqueId": 13510798882112217u64, "AppGuardContainerId": "",
        });
        let mut hashes = 0;
        let p = props.as_object_mut().unwrap();
        if table.initiating_hashes {
            let [s1, s256, m5] = program(self.pick_program(draw));
            p.insert("InitiatingProcessSHA1".into(), s1.into());
            p.insert("InitiatingProcessSHA256".into(), s256.into());
            p.insert("InitiatingProcessMD5".into(), m5.into());
            hashes += 3;
        }
        if table.file_hashes {
            let [s1, s256, m5] = program(self.pick_program(draw));
            p.insert("FileName".into(), "setup.exe".into());
            p.insert(
                "FolderPath".into(),
                "C:\\Users\\alice\\AppData\\Local\\Temp\\setup.exe".into(),
            );
            p.insert("SHA1".into(), s1.into());
            p.insert("SHA256".into(), s256.into());
            p.insert("MD5".into(), m5.into());
            hashes += 3;
        }
        if table.name == "DeviceFileCertificateInfo" {
            let [s1, ..] = program(self.pick_program(draw));
            p.insert("SHA1".into(), s1.into());
            p.insert("IsSigned".into(), true.into());
            hashes += 1;
        }
        let mut record = json!({
            "time": "2026-07-18T13:01:51.2820995Z",
            "tenantId": "4b8c18bd-2f9f-4227-af55-9f1061cf9c32",
            "operationName": "Publish",
            "category": format!("AdvancedHunting-{}", table.name),
            "_TimeReceivedBySvc": "2026-07-18T13:00:14.4590254Z",
            "properties": props,
            "Tenant": "DefaultTenant"
        });
        let size = serde_json::to_vec(&record).unwrap().len();
        // Pad with an AdditionalFields JSON string, as Defender sends it, to the table's size.
        let pad = table.bytes.saturating_sub(size + 40);
        let mut extra = String::from("{\"ProcessCommandLine\":\"");
        while extra.len() < pad {
            extra.push_str(
                "powershell.exe -NoProfile -ExecutionPolicy Bypass -File C:/ProgramData/x.ps1 ",
            );
        }
        extra.truncate(pad.max(24));
        extra.push_str("\"}");
        record["properties"]["AdditionalFields"] = Value::String(extra);
        (record, hashes)
    }

    /// A batch of `n` events, one record each.
    pub fn batch(&mut self, n: usize, draw: Draw) -> Batch {
        let mut events = Vec::with_capacity(n);
        let mut hash_occurrences = 0;
        for i in 0..n {
            let (record, hashes) = self.record(draw, 8000 + i as u64);
            hash_occurrences += hashes;
            events.push(serde_json::to_vec(&json!({ "records": [record] })).unwrap());
        }
        Batch {
            events,
            hash_occurrences,
        }
    }
}

fn enc(v: Value) -> Value {
    Value::String(serde_json::to_string(&v).unwrap())
}

/// The host's invocation body for `events` (binary many), as bytes ready to POST.
pub fn invocation(events: &[Vec<u8>], first_seq: i64) -> Vec<u8> {
    let n = events.len() as i64;
    let seqs: Vec<i64> = (first_seq..first_seq + n).collect();
    let data = enc(Value::Array(
        events
            .iter()
            .map(|e| Value::String(STANDARD.encode(e)))
            .collect(),
    ));
    let ctx = json!({"IsCheckpointingAfterInvocation": true, "FullyQualifiedNamespace": "myns.servicebus.windows.net",
                     "EventHubName": "defender", "ConsumerGroup": "defender-misp", "PartitionId": "0"});
    let mut meta = Map::new();
    meta.insert("TriggerPartitionContext".into(), ctx.clone());
    meta.insert("PartitionContext".into(), ctx);
    meta.insert(
        "PartitionKeyArray".into(),
        enc(Value::Array(vec![Value::Null; events.len()])),
    );
    let offsets: Vec<String> = seqs.iter().map(|s| (s * 4096).to_string()).collect();
    meta.insert("OffsetArray".into(), enc(json!(offsets)));
    meta.insert("OffsetStringArray".into(), enc(json!(offsets)));
    meta.insert("SequenceNumberArray".into(), enc(json!(seqs)));
    let times: Vec<String> = seqs
        .iter()
        .map(|s| format!("2024-05-01T12:00:{:02}.5", s % 60))
        .collect();
    meta.insert("EnqueuedTimeUtcArray".into(), enc(json!(times)));
    meta.insert(
        "PropertiesArray".into(),
        enc(Value::Array(vec![json!({}); events.len()])),
    );
    let sys: Vec<Value> = seqs
        .iter()
        .map(|s| json!({"x-opt-sequence-number": s, "SequenceNumber": s}))
        .collect();
    meta.insert("SystemPropertiesArray".into(), enc(Value::Array(sys)));
    meta.insert(
        "sys".into(),
        json!({"MethodName": "MatchEvents", "UtcNow": "2024-05-01T12:00:02.2205399Z", "RandGuid": "24ad4c06-24ad-4e5b-8294-3da9714877e9"}),
    );
    serde_json::to_vec(&json!({"Data": {"events": data}, "Metadata": meta})).unwrap()
}

/// The reference ceiling for one invocation: parse the envelope, base64-decode every body and
/// validate it with serde_json into `IgnoredAny`. Returns the events seen.
pub fn ceiling_pass(invocation: &[u8]) -> usize {
    use serde::Deserialize;
    use serde::de::IgnoredAny;
    #[derive(Deserialize)]
    struct Envelope {
        #[serde(rename = "Data")]
        data: std::collections::HashMap<String, String>,
        #[serde(rename = "Metadata")]
        _metadata: IgnoredAny,
    }
    let envelope: Envelope = serde_json::from_slice(invocation).expect("an envelope");
    let items: Vec<String> = serde_json::from_str(&envelope.data["events"]).expect("an array");
    let mut buf = Vec::new();
    for item in &items {
        buf.clear();
        STANDARD.decode_vec(item, &mut buf).expect("base64");
        serde_json::from_slice::<IgnoredAny>(&buf).expect("JSON");
    }
    items.len()
}
