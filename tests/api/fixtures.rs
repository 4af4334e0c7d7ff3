//! Defender records written for these tests, one builder per hash-bearing table, shaped like the
//! streamed records of `docs/sources.md` §2 (ReportId a number on Device* tables, a string on Email*;
//! AdditionalFields a JSON string; unset columns null or absent).

use serde_json::{Value, json};

/// A deterministic hash of the given hex length, different for every seed.
pub fn hash(len: usize, seed: &str) -> String {
    use std::fmt::Write;
    let mut out = String::new();
    let mut state: u64 = 0xcbf29ce484222325;
    for b in seed.bytes() {
        state = (state ^ b as u64).wrapping_mul(0x100000001b3);
    }
    while out.len() < len {
        state = state
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        write!(out, "{:016x}", state).unwrap();
    }
    out.truncate(len);
    out
}

pub fn md5(seed: &str) -> String {
    hash(32, seed)
}
pub fn sha1(seed: &str) -> String {
    hash(40, seed)
}
pub fn sha256(seed: &str) -> String {
    hash(64, seed)
}

pub const DEVICE: &str = "56fb3abc73b440dd56cdc9873677877cd4ab0851";
pub const TIMESTAMP: &str = "2026-07-18T12:59:31.2914446Z";

pub fn record(table: &str, props: Value) -> Value {
    json!({
        "time": "2026-07-18T13:01:51.2820995Z",
        "tenantId": "4b8c18bd-2f9f-4227-af55-9f1061cf9c32",
        "operationName": "Publish",
        "category": format!("AdvancedHunting-{table}"),
        "_TimeReceivedBySvc": "2026-07-18T13:00:14.4590254Z",
        "properties": props,
        "Tenant": "DefaultTenant"
    })
}

/// A Device* event record with the file and initiating-process hash trio.
pub fn device_event(table: &str, report_id: u64, file: [&str; 3], initiating: [&str; 3]) -> Value {
    record(
        table,
        json!({
            "Timestamp": TIMESTAMP, "DeviceId": DEVICE, "DeviceName": "winsrv", "ReportId": report_id,
            "ActionType": "FileCreated", "FileName": "payload.exe", "FolderPath": "C:\\Temp\\payload.exe",
            "SHA1": file[0], "SHA256": file[1], "MD5": file[2],
            "InitiatingProcessSHA1": initiating[0], "InitiatingProcessSHA256": initiating[1], "InitiatingProcessMD5": initiating[2],
            "InitiatingProcessFileName": "cmd.exe", "InitiatingProcessFolderPath": "c:\\windows\\system32\\cmd.exe",
            "AdditionalFields": "{\"FileType\":\"PortableExecutable\"}", "FileOriginUrl": null, "MachineGroup": "main",
            "InitiatingProcessUniqueId": "13510798882112217"
        }),
    )
}

/// DeviceNetworkEvents carry only the initiating process's hashes.
pub fn network_event(report_id: u64, initiating_sha1: &str) -> Value {
    record(
        "DeviceNetworkEvents",
        json!({"Timestamp": TIMESTAMP, "DeviceId": DEVICE, "DeviceName": "winsrv", "ReportId": report_id,
               "RemoteIP": "192.0.2.1", "RemotePort": 443, "InitiatingProcessSHA1": initiating_sha1,
               "InitiatingProcessFileName": "beacon.exe", "InitiatingProcessFolderPath": "c:\\users\\public\\beacon.exe"}),
    )
}

/// DeviceFileCertificateInfo: SHA1 of the signed file; not an event table.
pub fn certificate_info(report_id: u64, sha1: &str) -> Value {
    record(
        "DeviceFileCertificateInfo",
        json!({"Timestamp": TIMESTAMP, "DeviceId": DEVICE, "DeviceName": "winsrv", "ReportId": report_id,
               "SHA1": sha1, "SignerHash": sha1, "IsSigned": true}),
    )
}

/// EmailAttachmentInfo: SHA256 only, ReportId a string, no device.
pub fn email_attachment(report_id: &str, sha256: &str) -> Value {
    record(
        "EmailAttachmentInfo",
        json!({"Timestamp": TIMESTAMP, "ReportId": report_id, "NetworkMessageId": "8d2f0000-0000-4000-8000-000000000001",
               "FileName": "invoice.pdf.exe", "SHA256": sha256}),
    )
}

/// AlertEvidence: SHA1 and SHA256, no MD5.
pub fn alert_evidence(sha1: &str, sha256: &str) -> Value {
    record(
        "AlertEvidence",
        json!({"Timestamp": TIMESTAMP, "AlertId": "da123", "EntityType": "File", "DeviceId": DEVICE,
               "SHA1": sha1, "SHA256": sha256, "FileName": "x.exe", "AdditionalFields": "{}"}),
    )
}

/// A record of a table with no hash column.
pub fn logon_info() -> Value {
    record(
        "IdentityLogonEvents",
        json!({"Timestamp": TIMESTAMP, "ReportId": "r-1", "AdditionalFields": {"k": 1}}),
    )
}

/// An Event Hub body: `{"records":[…]}`.
pub fn envelope(records: &[Value]) -> Vec<u8> {
    serde_json::to_vec(&json!({ "records": records })).unwrap()
}
