#!/usr/bin/env bash
# Installs the Debian 12 packages xlat64 needs to build and test, only those missing. Used by .ci/run and by
# the demos, so both work on a fresh machine.
#
#   build:    build-essential pkg-config make libpcap-dev linux-libc-dev, and for the XDP program and the
#             libxdp/libbpf that AF_XDP builds: clang llvm libelf-dev zlib1g-dev m4
#   traffic:  iproute2 iputils-ping socat curl python3 ethtool tcpdump (namespaces, ping, UDP, HTTP, captures)
#   lab:      python3-scapy (control/tests/lab_profiles.rs turns the TRex/pktgen profiles into captures)
set -euo pipefail

packages=(build-essential pkg-config make libpcap-dev linux-libc-dev clang llvm libelf-dev zlib1g-dev m4
          iproute2 iputils-ping socat curl python3 ethtool tcpdump python3-scapy)
missing=()
for p in "${packages[@]}"; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
        missing+=("$p")
    fi
done
if ((${#missing[@]} > 0)); then
    sudo=()
    if [[ $(id -u) -ne 0 ]]; then sudo=(sudo -n); fi
    echo "==> installing ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    "${sudo[@]}" apt-get update -qq </dev/null
    "${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" </dev/null >/dev/null
fi
