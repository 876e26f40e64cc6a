#!/usr/bin/env python3
"""Median time per batch from criterion's saved estimates, as packets/s and ns/packet.

Usage: perf/criterion_medians.py [BASELINE]   (default: "new", criterion's latest run)
Reads target/criterion/<group>/<case>/<BASELINE>/estimates.json; a batch is 64 packets.
"""
import json
import pathlib
import sys

BATCH = 64
baseline = sys.argv[1] if len(sys.argv) > 1 else "new"
root = pathlib.Path(__file__).resolve().parent.parent / "target" / "criterion"
print(f"{'bench':<28} {'median ns/batch':>16} {'ns/packet':>10} {'Mpps':>8}")
for group in ("translate", "copy"):
    for est in sorted((root / group).glob(f"*/{baseline}/estimates.json")):
        median = json.loads(est.read_text())["median"]["point_estimate"]
        per_pkt = median / BATCH
        print(f"{group + '/' + est.parent.parent.name:<28} {median:>16.1f} {per_pkt:>10.2f} {1e3 / per_pkt:>8.2f}")
