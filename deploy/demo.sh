#!/usr/bin/env bash
# Builds xlat64 and translates the shipped demo capture (deploy/examples/demo.pcap, made by
# control/tests/common/mod.rs: demo_capture()) with the demo config, explaining every packet.
#
#   bash deploy/demo.sh [OUT.pcap]        (default output: /tmp/xlat64-demo-out.pcap)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
out=${1:-/tmp/xlat64-demo-out.pcap}

cmd=(cargo run --release --quiet -p xlat64-control --bin xlat64 --
     translate --config deploy/examples/demo.toml --in deploy/examples/demo.pcap --out "$out" --explain)
echo "+ ${cmd[*]}" >&2
"${cmd[@]}"

echo
echo "translated capture: $out"
if command -v tcpdump >/dev/null 2>&1; then
    tcpdump -nn -e -r "$out" 2>/dev/null
else
    echo "(install tcpdump to look at it: tcpdump -nn -e -v -r $out)"
fi
