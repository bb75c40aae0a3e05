#!/usr/bin/env python3
"""Independently computed expected values for tests that ingest the real datasets.

Plain Python (standard library; python-evtx optional), no Rust, so the numbers
are an independent oracle for what SecurityClaw's ingest + search should find.

Usage:
    python3 scripts/expected_values.py [--datasets DIR] [--out FILE]

    --datasets  dataset root (default: $SC_DATASETS, else ../shared/datasets
                relative to the repo root, i.e. /work/shared/datasets here)
    --out       also write the JSON there (the committed copy lives in
                tests/fixtures/expected/datasets.json)

Per-file EVTX counts need the pure-Python parser python-evtx (PyPI
`python-evtx==0.8.1`, import name `Evtx`). Without it that section says
"skipped" and everything else is still computed. To regenerate the fixture:

    python3 -m venv /tmp/evtx-venv && /tmp/evtx-venv/bin/pip install python-evtx==0.8.1
    /tmp/evtx-venv/bin/python scripts/expected_values.py \
        --out tests/fixtures/expected/datasets.json

Conventions used below:
  * Zeek TSV: `#` lines skipped, columns named by the `#fields` header, `-` is
    unset, `(empty)` is an empty set. Numeric byte counts that are unset count 0.
  * "top N" lists are sorted by count desc, then key asc; each carries
    `next_count`, the count of the first entry left out (null if none): when it
    equals the last count shown, the cut-off is a tie and a search engine may
    legitimately pick a different member of the tie.
  * Times: `ts` is epoch seconds (UTC). Hour buckets are keyed by the hour's
    start as RFC3339 (`2022-06-12T22:00:00Z`). Elasticsearch/OpenSearch `date`
    fields keep milliseconds, so `*_epoch_millis` values are truncated to ms.
"""
from __future__ import annotations

import argparse
import collections
import datetime as dt
import json
import os
import re
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


# ---------------------------------------------------------------- helpers

def top(counter: collections.Counter, n: int, key_name: str = "key") -> dict:
    items = sorted(counter.items(), key=lambda kv: (-kv[1], kv[0]))
    shown = [{key_name: k, "count": c} for k, c in items[:n]]
    nxt = items[n][1] if len(items) > n else None
    return {"top": shown, "next_count": nxt, "tie_at_cutoff": bool(shown) and nxt == shown[-1]["count"]}


def utc(ts: float) -> dt.datetime:
    return dt.datetime.fromtimestamp(ts, tz=dt.timezone.utc)


def rfc3339(d: dt.datetime, micros: bool = False) -> str:
    return d.strftime("%Y-%m-%dT%H:%M:%S.%fZ" if micros else "%Y-%m-%dT%H:%M:%SZ")


def ts_info(raw: str) -> dict:
    """A Zeek `ts` string as given, as RFC3339 (microseconds) and as epoch millis (truncated)."""
    secs, _, frac = raw.partition(".")
    micros = int((frac + "000000")[:6])
    millis = int(secs) * 1000 + micros // 1000
    d = dt.datetime.fromtimestamp(int(secs), tz=dt.timezone.utc).replace(microsecond=micros)
    return {"raw": raw, "rfc3339": rfc3339(d, micros=True), "epoch_millis": millis}


def read_zeek_tsv(path: Path) -> tuple[list[str], list[dict]]:
    fields: list[str] | None = None
    rows: list[dict] = []
    with open(path, encoding="utf-8", newline="\n") as fh:
        for line in fh:
            line = line.rstrip("\n")
            if line.startswith("#"):
                if line.startswith("#fields\t"):
                    fields = line.split("\t")[1:]
                continue
            if not line:
                continue
            if fields is None:
                raise ValueError(f"{path}: data before #fields header")
            vals = line.split("\t")
            if len(vals) != len(fields):
                raise ValueError(f"{path}: {len(vals)} columns, header has {len(fields)}: {line[:120]}")
            rows.append(dict(zip(fields, vals)))
    return fields or [], rows


def zeek_count(v: str) -> int:
    return 0 if v in ("-", "", "(empty)") else int(v)


# ---------------------------------------------------------------- datasets

def zeek_011(root: Path) -> dict:
    base = root / "stratosphere/011-zeek-mixed/data"
    fields, conn = read_zeek_tsv(base / "conn.log.labeled")
    ports = collections.Counter(int(r["id.resp_p"]) for r in conn)
    hours: dict[str, set] = collections.defaultdict(set)
    for r in conn:
        secs = int(r["ts"].partition(".")[0])  # integer seconds: no float rounding at hour edges
        hours[rfc3339(utc(secs - secs % 3600))].add(r["id.orig_h"])
    states = collections.Counter(r["conn_state"] for r in conn)
    ts_sorted = sorted(conn, key=lambda r: float(r["ts"]))
    orig_bytes = sum(zeek_count(r["orig_bytes"]) for r in conn)
    resp_bytes = sum(zeek_count(r["resp_bytes"]) for r in conn)
    out = {
        "conn": {
            "file": "stratosphere/011-zeek-mixed/data/conn.log.labeled",
            "fields": fields,
            "total": len(conn),
            "top10_dest_port": top(ports, 10, "port"),
            "distinct_dest_port": len(ports),
            "distinct_orig_h": len({r["id.orig_h"] for r in conn}),
            "distinct_resp_h": len({r["id.resp_h"] for r in conn}),
            "distinct_orig_h_per_utc_hour": dict(sorted((k, len(v)) for k, v in hours.items())),
            "hour_buckets": len(hours),
            "count_per_proto": dict(sorted(collections.Counter(r["proto"] for r in conn).items())),
            "count_per_conn_state": dict(sorted(states.items())),
            "count_conn_state_S0_or_REJ": states["S0"] + states["REJ"],
            "sum_orig_bytes": orig_bytes,
            "sum_resp_bytes": resp_bytes,
            "sum_orig_plus_resp_bytes": orig_bytes + resp_bytes,
            "rows_with_unset_orig_bytes": sum(r["orig_bytes"] == "-" for r in conn),
            "min_ts": ts_info(ts_sorted[0]["ts"]),
            "max_ts": ts_info(ts_sorted[-1]["ts"]),
            "count_per_label": dict(sorted(collections.Counter(r["label"] for r in conn).items())),
            "count_per_detailedlabel": dict(sorted(collections.Counter(r["detailedlabel"] for r in conn).items())),
        }
    }
    for name in ("dns", "http", "notice", "ssl"):
        f, rows = read_zeek_tsv(base / f"{name}.log.labeled")
        entry = {"file": f"stratosphere/011-zeek-mixed/data/{name}.log.labeled", "total": len(rows)}
        if name == "dns":
            entry["queries"] = dict(sorted(collections.Counter(r["query"] for r in rows).items()))
        if name == "http":
            entry["count_per_host"] = dict(sorted(collections.Counter(r["host"] for r in rows).items()))
        if name == "notice":
            entry["count_per_note"] = dict(sorted(collections.Counter(r["note"] for r in rows).items()))
        if rows:
            entry["count_per_label"] = dict(sorted(collections.Counter(r.get("label", "?") for r in rows).items()))
        out[name] = entry
    return out


def zeek_002(root: Path) -> dict:
    path = root / "stratosphere/002-zeek-scenario-port-scanning/conn.log"
    rows = [json.loads(l) for l in open(path, encoding="utf-8") if l.strip()]
    scanner = [r for r in rows if r["id.orig_h"] == "172.16.1.11"]
    return {
        "file": "stratosphere/002-zeek-scenario-port-scanning/conn.log",
        "total": len(rows),
        "distinct_resp_h": len({r["id.resp_h"] for r in rows}),
        "distinct_resp_p": len({r["id.resp_p"] for r in rows}),
        "distinct_orig_h": len({r["id.orig_h"] for r in rows}),
        "count_from_172.16.1.11": len(scanner),
        "scanner_distinct_resp_h": len({r["id.resp_h"] for r in scanner}),
        "scanner_distinct_resp_p": len({r["id.resp_p"] for r in scanner}),
        "top5_dest_port": top(collections.Counter(r["id.resp_p"] for r in rows), 5, "port"),
        "count_per_proto": dict(sorted(collections.Counter(r["proto"] for r in rows).items())),
        "count_conn_state_S0_or_REJ": sum(r.get("conn_state") in ("S0", "REJ") for r in rows),
        "min_ts": ts_info(repr(min(r["ts"] for r in rows))),
        "max_ts": ts_info(repr(max(r["ts"] for r in rows))),
    }


def suricata_test6(root: Path) -> dict:
    path = root / "slips/test6-malicious.suricata.json"
    rows = [json.loads(l) for l in open(path, encoding="utf-8") if l.strip()]
    alerts = [r for r in rows if r["event_type"] == "alert"]
    flows = [r for r in rows if r["event_type"] == "flow"]
    stamps = sorted(dt.datetime.strptime(r["timestamp"], "%Y-%m-%dT%H:%M:%S.%f%z") for r in rows)
    return {
        "file": "slips/test6-malicious.suricata.json",
        "total": len(rows),
        "count_per_event_type": dict(sorted(collections.Counter(r["event_type"] for r in rows).items())),
        "top5_alert_signature": top(collections.Counter(r["alert"]["signature"] for r in alerts), 5, "signature"),
        "distinct_alert_signature": len({r["alert"]["signature"] for r in alerts}),
        "distinct_src_ip_among_alerts": len({r["src_ip"] for r in alerts}),
        "top5_dest_port_among_flows": top(collections.Counter(r["dest_port"] for r in flows if "dest_port" in r), 5, "port"),
        "flows_without_dest_port": sum("dest_port" not in r for r in flows),
        "min_timestamp_utc": rfc3339(stamps[0].astimezone(dt.timezone.utc), micros=True),
        "max_timestamp_utc": rfc3339(stamps[-1].astimezone(dt.timezone.utc), micros=True),
    }


def event_id(system: dict) -> int:
    e = system["EventID"]
    return int(e["#text"]) if isinstance(e, dict) else int(e)


def evtx(root: Path) -> dict:
    base = root / "evtx-attack-samples"
    lines = [json.loads(l) for l in open(base / "auth_subset.derived.jsonl", encoding="utf-8") if l.strip()]
    ids = collections.Counter(event_id(j["Event"]["System"]) for j in lines)
    out: dict = {
        "jsonl": {
            "file": "evtx-attack-samples/auth_subset.derived.jsonl",
            "total": len(lines),
            "count_per_event_id": {str(k): v for k, v in sorted(ids.items())},
            "count_per_source_file": dict(sorted(collections.Counter(j["_source_file"] for j in lines).items())),
            "count_per_label_tactic": dict(sorted(collections.Counter(j["_label_tactic"] for j in lines).items())),
            "count_eventid_as_object": sum(isinstance(j["Event"]["System"]["EventID"], dict) for j in lines),
            "count_with_EventData": sum("EventData" in j["Event"] for j in lines),
            "count_with_UserData": sum("UserData" in j["Event"] for j in lines),
            "logon_success_4624": ids[4624],
            "logon_failure_4625_4771": ids[4625] + ids[4771],
        }
    }
    try:
        from Evtx.Evtx import Evtx  # python-evtx
    except ImportError:
        out["evtx_files"] = {"skipped": "python-evtx not installed"}
        return out
    files = {}
    for f in sorted(base.glob("*/*.evtx")):
        per_id: collections.Counter = collections.Counter()
        with Evtx(str(f)) as log:
            for rec in log.records():
                m = re.search(r"<EventID[^>]*>(\d+)</EventID>", rec.xml())
                per_id[int(m.group(1))] += 1
        files[str(f.relative_to(base))] = {
            "events": sum(per_id.values()),
            "count_per_event_id": {str(k): v for k, v in sorted(per_id.items())},
        }
    out["evtx_files"] = {
        "parser": "python-evtx",
        "file_count": len(files),
        "total_events": sum(v["events"] for v in files.values()),
        "files": files,
        "matches_jsonl_per_source_file": {k: v["events"] for k, v in files.items()} == out["jsonl"]["count_per_source_file"],
    }
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--datasets", default=os.environ.get("SC_DATASETS", str(REPO.parent / "shared" / "datasets")))
    ap.add_argument("--out")
    a = ap.parse_args()
    root = Path(a.datasets)
    if not (root / "README.md").exists():
        print(f"expected_values: no datasets at {root}", file=sys.stderr)
        return 2
    result = {
        "_about": "Expected values computed by scripts/expected_values.py (plain Python) from the shared datasets; paths are relative to the datasets root.",
        "stratosphere_011_zeek_mixed": zeek_011(root),
        "stratosphere_002_port_scanning": zeek_002(root),
        "slips_test6_suricata": suricata_test6(root),
        "evtx_attack_samples": evtx(root),
    }
    text = json.dumps(result, indent=2, ensure_ascii=False) + "\n"
    sys.stdout.write(text)
    if a.out:
        Path(a.out).parent.mkdir(parents=True, exist_ok=True)
        Path(a.out).write_text(text, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
