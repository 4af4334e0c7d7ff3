#!/usr/bin/env python3
"""A Python standard-library reference for issue 14's "≥ 10× the Python reference" target.

It does the same work as `defender-misp serve` answering `POST /MatchEvents` in online mode, the
plain way, with nothing but the standard library:

- parse the host's invocation envelope (`{"Data": {"events": ...}, "Metadata": {...}}`, the
  Event Hub trigger as `cardinality: many`, `dataType: binary`: a JSON string holding a JSON
  array of base64 bodies);
- base64-decode each event and parse it as JSON (`{"records": [...]}` or a single record);
- pull the six hash columns of each record (`SHA1`, `SHA256`, `MD5` and their
  `InitiatingProcess*` twins), validate them (hex of the right length, lowercased, digests of
  empty content skipped);
- look every distinct hash up in a dict cache; ask MISP's restSearch once per batch for the
  ones never seen (the handler's filters with its defaults: IDS, not deleted, published,
  warninglists enforced), and remember hits and misses;
- answer in the host's shape, `{"Outputs": {"matches": [...], "deadletter": ...}, "Logs": [...],
  "ReturnValue": null}`, one match per (record, hash) with the handler's `matchId`, so that the
  load tool can check that both answers agree.

It is not the product and keeps no promise beyond the load tool's workload: no retries, no
deadline, no bounds on the input. Started by `examples/load --reference-python`, with
`FUNCTIONS_CUSTOMHANDLER_PORT`, `MISP_URL` and `MISP_API_KEY` in its environment, like the
handler.
"""

import base64
import hashlib
import json
import os
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

HASH_COLUMNS = (
    ("SHA1", 40, "sha1"),
    ("SHA256", 64, "sha256"),
    ("MD5", 32, "md5"),
    ("InitiatingProcessSHA1", 40, "sha1"),
    ("InitiatingProcessSHA256", 64, "sha256"),
    ("InitiatingProcessMD5", 32, "md5"),
)
EMPTY_CONTENT = {
    "d41d8cd98f00b204e9800998ecf8427e",
    "da39a3ee5e6b4b0d3255bfef95601890afd80709",
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
}
HEX = set("0123456789abcdef")
HASH_TYPES = [
    "md5",
    "sha1",
    "sha256",
    "filename|md5",
    "filename|sha1",
    "filename|sha256",
    "malware-sample",
]

MISP_URL = os.environ["MISP_URL"].rstrip("/")
MISP_KEY = os.environ["MISP_API_KEY"]
CACHE = {}  # hash -> list of intel entries (empty: a miss)


def text(value):
    """A column as text: strings as they are, numbers written out, anything else absent."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, (int, float)):
        return str(value)
    return None


def record_hashes(props):
    """[(hash, kind, [columns])] of one record, each hash once, in the columns' order."""
    found = {}
    for column, length, kind in HASH_COLUMNS:
        raw = props.get(column)
        if not isinstance(raw, str):
            continue
        value = raw.strip().lower()
        if len(value) != length or not set(value) <= HEX or value in EMPTY_CONTENT:
            continue
        if value in found:
            found[value][1].append(column)
        else:
            found[value] = (kind, [column])
    return [(h, kind, columns) for h, (kind, columns) in found.items()]


def ask_misp(hashes):
    """One restSearch for `hashes`; every one of them is cached, hit or miss."""
    body = json.dumps(
        {
            "returnFormat": "json",
            "value": hashes,
            "type": HASH_TYPES,
            "to_ids": 1,
            "deleted": 0,
            "enforceWarninglist": 1,
            "includeContext": 1,
            "includeEventTags": 1,
            "published": 1,
        }
    ).encode()
    request = urllib.request.Request(
        MISP_URL + "/attributes/restSearch",
        data=body,
        headers={
            "Authorization": MISP_KEY,
            "Accept": "application/json",
            "Content-Type": "application/json",
        },
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        answer = json.load(response)
    wanted = set(hashes)
    found = {h: [] for h in hashes}
    for a in answer.get("response", {}).get("Attribute", []):
        if a.get("to_ids") in (False, 0, "0") or a.get("deleted") in (True, 1, "1"):
            continue
        event = a.get("Event") or {}
        if a.get("type") not in HASH_TYPES or event.get("published") in (False, 0, "0"):
            continue
        hit = {
            "eventId": str(event.get("id") or a.get("event_id") or ""),
            "eventUuid": event.get("uuid", ""),
            "eventInfo": event.get("info", ""),
            "attributeUuid": a.get("uuid", ""),
            "attributeType": a.get("type", ""),
        }
        for part in str(a.get("value", "")).split("|"):
            part = part.strip().lower()
            if part in wanted and hit not in found[part]:
                found[part].append(hit)
    CACHE.update(found)


def match_id(device_id, report_id, timestamp, hash_value):
    digest = hashlib.sha256()
    for part in (device_id or "", report_id or "", timestamp or "", hash_value):
        digest.update(part.encode())
        digest.update(b"\x1f")
    return digest.digest()[:16].hex()


def match_events(envelope):
    items = json.loads(envelope["Data"]["events"])
    records = []
    dead = []
    for i, item in enumerate(items):
        try:
            body = json.loads(base64.b64decode(item, validate=True))
        except ValueError as e:
            dead.append({"index": i, "reason": str(e)})
            continue
        rows = body.get("records") if isinstance(body, dict) else None
        for record in rows if isinstance(rows, list) else [body]:
            props = record.get("properties") if isinstance(record, dict) else None
            if isinstance(props, dict):
                records.append((record, props, record_hashes(props)))
    unseen = sorted({h for _, _, found in records for h, _, _ in found if h not in CACHE})
    for start in range(0, len(unseen), 1000):
        ask_misp(unseen[start : start + 1000])
    matches = []
    for record, props, found in records:
        for h, kind, columns in found:
            intel = CACHE[h]
            if not intel:
                continue
            device, report, when = (text(props.get(k)) for k in ("DeviceId", "ReportId", "Timestamp"))
            matches.append(
                {
                    "matchId": match_id(device, report, when, h),
                    "deviceId": device,
                    "deviceName": text(props.get("DeviceName")),
                    "reportId": report,
                    "timestamp": when,
                    "category": text(record.get("category")),
                    "hash": h,
                    "hashType": kind,
                    "hashFields": columns,
                    "intel": intel,
                }
            )
    deadletter = {"events": dead} if dead else None
    logs = ["MatchEvents events=%d records=%d matches=%d" % (len(items), len(records), len(matches))]
    return {"Outputs": {"matches": matches, "deadletter": deadletter}, "Logs": logs, "ReturnValue": None}


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # Headers and body go out in two writes: without TCP_NODELAY, Nagle's algorithm holds the
    # body until the client's delayed ACK of the headers (40 ms a batch, in latency, not CPU).
    disable_nagle_algorithm = True

    def answer(self, status, payload):
        body = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        self.answer(200, {"status": "ready"})

    def do_POST(self):
        length = int(self.headers.get("Content-Length", "0"))
        envelope = json.loads(self.rfile.read(length))
        if self.path.rstrip("/") == "/MatchEvents":
            self.answer(200, match_events(envelope))
        else:
            self.answer(404, {"Outputs": {}, "Logs": ["no such function"], "ReturnValue": None})

    def log_message(self, *args):
        pass


if __name__ == "__main__":
    port = int(os.environ["FUNCTIONS_CUSTOMHANDLER_PORT"])
    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    server.daemon_threads = True
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
