#!/usr/bin/env python3
"""Summarises a perf/compare.sh run: medians of the RFC 8219 throughput searches per device under test,
latency at throughput, ratios; prints a Markdown table, writes summary.json next to the results and a PNG
bar chart.

    python3 perf/chart.py OUT_DIR CHART.png
"""
import glob
import json
import os
import statistics
import sys

ORDER = ["raw", "kernel", "xlat64", "nat64", "tayga"]
SHORT = {
    "raw": "raw AF_XDP\nforwarding",
    "kernel": "kernel\nforwarding",
    "xlat64": "xlat64 SIIT\n(AF_XDP)",
    "nat64": "xlat64 NAT64\n(AF_XDP)",
    "tayga": "TAYGA SIIT\n(TUN)",
}
NAMES = {
    "raw": "raw AF_XDP forwarding (no translation)",
    "kernel": "Linux kernel forwarding (no translation)",
    "xlat64": "xlat64 SIIT (AF_XDP)",
    "tayga": "TAYGA SIIT (TUN)",
    "nat64": "xlat64 NAT64 (AF_XDP)",
}


def main():
    out, chart = sys.argv[1], sys.argv[2]
    runs = {}
    for path in sorted(glob.glob(os.path.join(out, "*-*.json"))):
        with open(path) as f:
            d = json.load(f)
        runs.setdefault(d["label"], []).append(d)
    summary = {}
    for label, rs in runs.items():
        tp = [r["result"]["throughput_pps"] for r in rs]
        at = [r["result"]["at_throughput"] for r in rs if r["result"]["at_throughput"]]
        lat = lambda k: statistics.median([a["latency_ns"][k] for a in at]) if at else None
        summary[label] = {
            "trials": len(rs),
            "throughput_pps": tp,
            "median_pps": statistics.median(tp),
            "min_pps": min(tp),
            "max_pps": max(tp),
            "generator_limited": sum(1 for r in rs if r["result"]["generator_limited"]),
            "latency_at_throughput_ns": {k: lat(k) for k in ("p50", "p90", "p99", "p999", "max")},
            "frame_size": rs[0]["frame_size"],
            "family": rs[0].get("family", "ipv6"),
        }
        # RFC 2285 §3.6.2 forwarding rate at maximum offered load: the search's first, flat-out trial.
        flat = [r["result"]["trials"][0] for r in rs if r["result"]["trials"] and r["result"]["trials"][0]["rate_pps"] == 0]
        if flat:
            summary[label]["flat_out"] = {
                "offered_pps": statistics.median([t["tx_pps"] for t in flat]),
                "forwarded_pps": statistics.median([t["rx_pps"] for t in flat]),
                "loss_ratio": statistics.median([t["loss_ratio"] for t in flat]),
            }
    labels = [l for l in ORDER if l in summary] + sorted(l for l in summary if l not in ORDER)
    x = summary.get("xlat64", {}).get("median_pps")
    ratios = {}
    n = summary.get("nat64", {}).get("median_pps")
    for base in ("raw", "kernel", "tayga"):
        b = summary.get(base, {}).get("median_pps")
        if x and b:
            ratios[f"xlat64/{base}"] = x / b
        if n and b:
            ratios[f"nat64/{base}"] = n / b
    with open(os.path.join(out, "summary.json"), "w") as f:
        json.dump({"devices": summary, "ratios": ratios}, f, indent=2)

    us = lambda v: "–" if v is None else f"{v / 1e3:.0f}"
    print("| device under test | median Mpps | min–max Mpps | trials | latency at throughput p50 / p99 / p99.9 (µs) |")
    print("|---|---:|---:|---:|---|")
    for l in labels:
        s = summary[l]
        la = s["latency_at_throughput_ns"]
        gl = f" ({s['generator_limited']}× generator-limited)" if s["generator_limited"] else ""
        print(
            f"| {NAMES.get(l, l)} | **{s['median_pps'] / 1e6:.3f}** | {s['min_pps'] / 1e6:.3f}–{s['max_pps'] / 1e6:.3f} "
            f"| {s['trials']}{gl} | {us(la['p50'])} / {us(la['p99'])} / {us(la['p999'])} |"
        )
    print()
    for k, v in ratios.items():
        print(f"- {k}: **{v:.2f}** ({v * 100:.0f}%)")
    print()
    print("Forwarding rate at maximum offered load (the flat-out trial of each search, medians):")
    print()
    print("| device under test | offered Mpps | forwarded Mpps | loss |")
    print("|---|---:|---:|---:|")
    for l in labels:
        f = summary[l].get("flat_out")
        if f:
            print(
                f"| {NAMES.get(l, l)} | {f['offered_pps'] / 1e6:.3f} | **{f['forwarded_pps'] / 1e6:.3f}** | {f['loss_ratio'] * 100:.1f} % |"
            )

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8.5, 4.5), dpi=110)
    xs = list(range(len(labels)))
    w = 0.38
    med = [summary[l]["median_pps"] / 1e6 for l in labels]
    lo = [m - summary[l]["min_pps"] / 1e6 for m, l in zip(med, labels)]
    hi = [summary[l]["max_pps"] / 1e6 - m for m, l in zip(med, labels)]
    colors = {"raw": "#999999", "kernel": "#6b8ec7", "xlat64": "#d9822b", "nat64": "#e8b04a", "tayga": "#7aa35b"}
    bars = ax.bar(
        [x - w / 2 for x in xs],
        med,
        w,
        yerr=[lo, hi],
        capsize=3,
        color=[colors.get(l, "#aa66aa") for l in labels],
        label="throughput, zero loss (RFC 8219; median, min-max)",
    )
    for b, m in zip(bars, med):
        ax.text(b.get_x() + b.get_width() / 2, m, f"{m:.3f}", ha="center", va="bottom", fontsize=8)
    fwd = [summary[l].get("flat_out", {}).get("forwarded_pps", 0) / 1e6 for l in labels]
    bars = ax.bar(
        [x + w / 2 for x in xs],
        fwd,
        w,
        color="white",
        edgecolor=[colors.get(l, "#aa66aa") for l in labels],
        hatch="///",
        label="forwarded at maximum offered load (median)",
    )
    for b, m in zip(bars, fwd):
        ax.text(b.get_x() + b.get_width() / 2, m, f"{m:.3f}", ha="center", va="bottom", fontsize=8)
    ax.set_xticks(xs)
    ax.set_xticklabels(
        [
            SHORT.get(l, l)
            + ("\n(lower bound:\ngenerator-limited)" if summary[l]["generator_limited"] * 2 > summary[l]["trials"] else "")
            for l in labels
        ],
        fontsize=8,
    )
    fs = summary[labels[0]]["frame_size"] if labels else "?"
    fam = summary[labels[0]]["family"] if labels else "?"
    direction = "IPv6 -> IPv4" if fam == "ipv6" else "IPv4 -> IPv6"
    ax.set_ylabel("Mpps")
    ax.set_title(f"{direction}, {fs}-byte frames, veth, generator and device on one vCPU each (shared, loaded VM)", fontsize=10)
    ax.set_ylim(0, max(med + fwd + [0.001]) * 1.35)
    ax.legend(fontsize=8, loc="upper center", ncol=2)
    fig.tight_layout()
    fig.savefig(chart)


if __name__ == "__main__":
    main()
