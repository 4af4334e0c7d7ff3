#!/usr/bin/env python3
"""Shares of the handler's CPU samples by part of the pipeline (the rows of issue 14's profile).

Input: `perf script -F comm,tid,ip,sym --no-inline` of a `perf record --call-graph dwarf` of the
handler (benches/profile-warm.sh). Each sample goes to the first rule, walking its stack from the
leaf up, that one of its frames matches; allocator and memcpy self time are counted apart too.
The rules match function names: when the hot path's functions are renamed or moved, update them
(a share of "other" above a few percent says a rule is missing)."""
import re, sys, collections

RULES = [
    ("depth pre-check (json_depth_exceeds, inlined in engine::decode)", lambda f, leaf: "records::depth" in f or leaf and (f.endswith("engine::decode::decode") or "json_depth_exceeds" in f)),
    ("hash extraction (extract_hashes, lower_hex)", lambda f, leaf: "records::extract" in f or "lower_hex" in f or "FileHash" in f and "parse" in f),
    ("record parse (parse_body into owned columns)", lambda f, leaf: "records::parse_body" in f or "defender_misp::records::" in f),
    ("verdict cache (moka)", lambda f, leaf: "moka::" in f or "resolver::cache" in f),
    ("resolver bookkeeping (maps, known misses, inflight)", lambda f, leaf: "intel::resolver" in f),
    ("trigger metadata", lambda f, leaf: "TriggerMetadata" in f or "host::metadata" in f),
    ("inner array + base64 (decode_events)", lambda f, leaf: "host::events" in f or "base64" in f or "vsimd" in f or "ArraySeed" in f or "read_array" in f),
    ("envelope parse (InvocationRequest into a Map)", lambda f, leaf: "match_events::read_batch" in f or "InvocationRequest" in f or "host::invocation" in f),
    ("answer (matches, dead letters, host reply)", lambda f, leaf: "server::reply" in f or "match_events::answer" in f or "deadletter" in f),
    ("tracing", lambda f, leaf: "tracing" in f),
    ("engine bookkeeping (distinct, fate)", lambda f, leaf: "defender_misp::engine" in f),
    ("HTTP (hyper, axum, sockets)", lambda f, leaf: "hyper::" in f or "axum::" in f or "tokio::net" in f or "tokio::io" in f or "sys_" in f or "tcp_" in f or "sock" in f),
    ("tokio scheduling", lambda f, leaf: "tokio::runtime" in f or "schedule" in f or "futex" in f or "finish_task_switch" in f or "epoll" in f),
]

samples = []
cur = None
for line in open(sys.argv[1]):
    if not line.strip():
        if cur is not None:
            samples.append(cur)
        cur = None
        continue
    if not line.startswith((" ", "\t")):
        cur = []
        continue
    parts = line.strip().split(None, 1)
    cur.append(parts[1] if len(parts) > 1 else "?")
if cur:
    samples.append(cur)

shares = collections.Counter()
alloc = memcpy = 0
for frames in samples:
    leaf = frames[0] if frames else ""
    if re.search(r"\b_?mi_|mi_free|mi_malloc", leaf):
        alloc += 1
    if "memmove" in leaf or "memcpy" in leaf:
        memcpy += 1
    for name, rule in RULES:
        if any(rule(f, i == 0) for i, f in enumerate(frames)):
            shares[name] += 1
            break
    else:
        shares["other: " + leaf[:70]] += 1

n = len(samples)
print(f"{n} samples")
other = 0
for name, c in shares.most_common():
    if name.startswith("other"):
        other += c
        continue
    print(f"{100 * c / n:5.1f}%  {name}")
print(f"{100 * other / n:5.1f}%  other (stacks matching no rule)")
print(f"allocator self {100 * alloc / n:.1f}%, memcpy/memmove self {100 * memcpy / n:.1f}%")
for name, c in shares.most_common():
    if name.startswith("other") and c / n > 0.004:
        print(f"   {100 * c / n:4.1f}%  {name}")
