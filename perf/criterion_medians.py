#!/usr/bin/env python3
"""Median time per batch from criterion's saved estimates, as packets/s and ns/packet, and the batch path's
speed-up over frame-by-frame processing.

Usage: perf/criterion_medians.py [BASELINE] [SUFFIX]   (default: "new", criterion's latest run; SUFFIX "_cpu"
for the thread-CPU-time groups of XLAT64_BENCH_CLOCK=thread)
Reads target/criterion/<group>/<case>/<BASELINE>/estimates.json; a batch is 64 packets.
"""
import json
import pathlib
import sys

BATCH = 64
# The order of CASES in dataplane/benches/common/mod.rs.
ORDER = ["udp_4to6", "udp_6to4", "tcp_4to6", "tcp_6to4", "icmp_echo_4to6", "icmp_echo_6to4", "icmp_err_4to6",
         "icmp_err_6to4", "udp_eam_4to6", "udp_eam_6to4", "flows_udp_4to6", "flows_udp_6to4", "mt_udp_4to6",
         "mt_udp_6to4"]
baseline = sys.argv[1] if len(sys.argv) > 1 else "new"
suffix = sys.argv[2] if len(sys.argv) > 2 else ""
root = pathlib.Path(__file__).resolve().parent.parent / "target" / "criterion"
print(f"{'bench':<28} {'median ns/batch':>16} {'ns/packet':>10} {'Mpps':>8}")
# The groups of benches/translate.rs: the batch path, frame by frame, the copy alone. Then, per case, the
# ratio of the per-packet median to the batch one (above 1: the batch path is faster).
medians = {}
for group in ("batch" + suffix, "per_packet" + suffix, "copy" + suffix):
    found = (root / group).glob(f"*/{baseline}/estimates.json")
    rank = {name: i for i, name in enumerate(ORDER)}
    for est in sorted(found, key=lambda p: (rank.get(p.parent.parent.name, len(ORDER)), p.parent.parent.name)):
        median = json.loads(est.read_text())["median"]["point_estimate"]
        per_pkt = median / BATCH
        medians[(group, est.parent.parent.name)] = median
        print(f"{group + '/' + est.parent.parent.name:<28} {median:>16.1f} {per_pkt:>10.2f} {1e3 / per_pkt:>8.2f}")
print(f"{'case':<28} {'per_packet/batch':>16}")
for name in ORDER:
    b, p = medians.get(("batch" + suffix, name)), medians.get(("per_packet" + suffix, name))
    if b and p:
        print(f"{name:<28} {p / b:>16.2f}")
