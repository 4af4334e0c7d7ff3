"""Runs the Sentinel rule's query over the rows the handler really sent, with an offline KQL engine.

duckdb-kql (PyPI, MIT) translates KQL to SQL and runs it on DuckDB. It is not Kusto, so this shows
what the query does with real rows (one alert per device and MISP event, the derived columns) and
complements scripts/check-kql.js, where Microsoft's own parser checks names and types.

Usage: python run-rule-kql.py ROWS.json   (rows as tests/api/sentinel.rs captured them at the stub)
"""

import json
import pathlib
import sys

import duckdb_kql

ROOT = pathlib.Path(__file__).resolve().parent.parent
SQL_TYPES = {
    "string": "VARCHAR", "int": "INTEGER", "long": "BIGINT", "real": "DOUBLE",
    "boolean": "BOOLEAN", "datetime": "TIMESTAMPTZ", "dynamic": "JSON",
}


def main(rows_path: str) -> int:
    rows = json.loads(pathlib.Path(rows_path).read_text())
    columns = json.loads((ROOT / "infra/modules/sentinel/matches-table.json").read_text())
    query = (ROOT / "infra/modules/sentinel/matches-rule.kql").read_text()

    con = duckdb_kql.connect()
    con.sql("SET TimeZone='UTC'")
    ddl = ", ".join(f'"{c["name"]}" {SQL_TYPES[c["type"]]}' for c in columns)
    con.sql(f"CREATE TABLE DefenderMispMatches_CL ({ddl})")
    for row in rows:
        values = [
            json.dumps(row[c["name"]]) if c["type"] == "dynamic" and row[c["name"]] is not None
            else row[c["name"]]
            for c in columns
        ]
        con.execute(f"INSERT INTO DefenderMispMatches_CL VALUES ({', '.join('?' * len(columns))})", values)

    result = duckdb_kql.query(con, query)
    names = result.columns
    alerts = [dict(zip(names, r)) for r in result.fetchall()]
    print(f"duckdb-kql: {len(rows)} rows the handler sent -> {len(alerts)} alert(s)")
    for a in alerts:
        shown = {k: a[k] for k in ("DeviceId", "HostName", "DnsDomain", "MispEventId", "AlertSeverity",
                                   "MatchCount", "FileName", "FileDirectory", "HashAlgorithm", "AlertTitle")}
        print("  " + json.dumps(shown, default=str))

    problems = []
    groups = {}
    for r in rows:
        if r["MispEventId"] or r["MispEventUuid"]:
            groups.setdefault((r["DeviceId"], r["MispEventUuid"]), []).append(r)
    if len(alerts) != len(groups):
        problems.append(f"{len(alerts)} alerts for {len(groups)} (device, MISP event) pairs")
    for a in alerts:
        group = groups.get((a["DeviceId"], a["MispEventUuid"]), [])
        if a["MatchCount"] != len(group):
            problems.append(f"MatchCount {a['MatchCount']} for {len(group)} rows of {a['DeviceId']}")
        if a["AlertSeverity"] not in ("High", "Medium", "Low"):
            problems.append(f"severity {a['AlertSeverity']!r}")
        if a["FileName"] and a["FolderPath"] != f"{a['FileDirectory']}\\{a['FileName']}":
            problems.append(f"FileDirectory {a['FileDirectory']!r} of {a['FolderPath']!r}")
        if not str(a["AlertTitle"]).startswith(f"MISP event {a['MispEventId']}: "):
            problems.append(f"title {a['AlertTitle']!r}")
    for p in problems:
        print(f"run-rule-kql: {p}", file=sys.stderr)
    return 1 if problems or not alerts else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
