#!/usr/bin/env bash
# The live demo: builds xlat64-dataplane, creates an IPv6-only client, the appliance and an IPv4-only server
# in network namespaces, starts the appliance with deploy/examples/demo-live.toml (SIIT), sends ping and HTTP
# through it both ways; then restarts it with deploy/examples/demo-live-nat64.toml (stateful NAT64, two
# workers handing packets to each other) and sends ping and HTTP again (concurrent fetches from the IPv6
# client, and from the IPv4 server through a static binding), this time operated by the control process
# (xlat64-control): its REST API lists the sessions and counters, and a pool4 address is added live while a
# download runs. Prints what happened and the appliance's counters, and removes everything on exit.
#
# Needs root; installs the Debian packages it lacks (deploy/install-deps.sh).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CONFIG="$ROOT/deploy/examples/demo-live.toml"
CONFIG_NAT64="$ROOT/deploy/examples/demo-live-nat64.toml"
C=xlat64-demo-client A=xlat64-demo-box S=xlat64-demo-server
WORK="$(mktemp -d)"
DP_PID=""
CTL_PID=""
HTTP_PIDS=()

if [ "$(id -u)" -ne 0 ]; then
    echo "demo-live.sh: needs root (network namespaces, XDP)" >&2
    exit 1
fi

cleanup() {
    set +e
    [ -n "$CTL_PID" ] && kill "$CTL_PID" 2>/dev/null && wait "$CTL_PID" 2>/dev/null
    [ -n "$DP_PID" ] && kill "$DP_PID" 2>/dev/null && wait "$DP_PID" 2>/dev/null
    for p in "${HTTP_PIDS[@]}"; do kill "$p" 2>/dev/null; done
    for ns in $C $A $S; do
        ip netns del "$ns" 2>/dev/null
        rm -rf "/etc/netns/$ns"
    done
    rm -rf "$WORK"
}
trap cleanup EXIT

step() { printf '\n== %s\n' "$*"; }
in_ns() { local ns=$1; shift; ip netns exec "$ns" "$@"; }

step "installing what is missing"
bash "$ROOT/deploy/install-deps.sh"

if ! command -v cargo >/dev/null 2>&1 && [ -f "$HOME/.cargo/env" ]; then
    # shellcheck disable=SC1091
    source "$HOME/.cargo/env"
fi

step "building xlat64-dataplane, xlat64-control and the xlat64 CLI"
cargo build --release --quiet --manifest-path "$ROOT/Cargo.toml" -p xlat64-dataplane --bin xlat64-dataplane \
    -p xlat64-control --bin xlat64-control --bin xlat64
BIN="$ROOT/target/release/xlat64-dataplane"
CTL="$ROOT/target/release/xlat64-control"
XL="$ROOT/target/release/xlat64"

step "topology: client (IPv6 only) -- appliance -- server (IPv4 only)"
for ns in $C $A $S; do
    ip netns del "$ns" 2>/dev/null || true
    ip netns add "$ns"
    ip -n "$ns" link set lo up
    # No DNS in the namespaces: python's http.server looks up its own name at start.
    mkdir -p "/etc/netns/$ns" && echo "nameserver 127.0.0.1" > "/etc/netns/$ns/resolv.conf"
done
# Two queues per veth, as the configs have queues = 2 (a veth gets one queue per CPU by default, and a queue
# without a worker would pass its traffic to the kernel untranslated).
Q="numtxqueues 2 numrxqueues 2"
ip link add dl-c6 netns $C $Q type veth peer name dl-a6 netns $A $Q
ip link add dl-s4 netns $S $Q type veth peer name dl-a4 netns $A $Q
ip -n $C link set dl-c6 up; ip -n $A link set dl-a6 up; ip -n $A link set dl-a4 up; ip -n $S link set dl-s4 up
ip -n $C addr add 2001:db8:6::10/64 dev dl-c6 nodad
ip -n $C route add default via 2001:db8:6::1
ip -n $A addr add 2001:db8:6::1/64 dev dl-a6 nodad
ip -n $A addr add 192.0.2.1/24 dev dl-a4
ip -n $S addr add 192.0.2.10/24 dev dl-s4
ip -n $S route add default via 192.0.2.1
# veth leaves checksums partial for the receiver to complete: have the senders complete them.
in_ns $C ethtool -K dl-c6 tx off >/dev/null
in_ns $S ethtool -K dl-s4 tx off >/dev/null
echo "client 2001:db8:6::10 | appliance 2001:db8:6::1, 192.0.2.1 | server 192.0.2.10"

start_appliance() { # config [dataplane options...]
    local cfg=$1; shift
    step "starting the appliance: xlat64-dataplane --config ${cfg#"$ROOT"/} $*"
    ip netns exec $A "$BIN" --config "$cfg" "$@" > "$WORK/dp.log" 2>&1 &
    DP_PID=$!
    for _ in $(seq 100); do
        grep -q ready "$WORK/dp.log" && break
        kill -0 "$DP_PID" 2>/dev/null || { cat "$WORK/dp.log"; exit 1; }
        sleep 0.1
    done
    cat "$WORK/dp.log"
    ip -n $A link show dl-a6 | grep -o 'prog/xdp.*' || true
    # The box resolves its neighbours (ARP and ND pass through the XDP program to the kernel).
    in_ns $A ping -c 3 -i 0.3 -W 3 192.0.2.10 >/dev/null
    in_ns $A ping -6 -c 3 -i 0.3 -W 3 2001:db8:6::10 >/dev/null
}
# (Background jobs run `ip netns exec` directly, not through a shell function, so that $! is the process
# itself: SIGTERM must reach the appliance.)

stop_appliance() {
    step "stopping the appliance (SIGTERM): its counters"
    kill -TERM "$DP_PID"
    wait "$DP_PID" || FAIL=1
    DP_PID=""
    sed -n '/^worker/p;/stopped/p' "$WORK/dp.log"
    ip -n $A link show dl-a6 | grep -q 'prog/xdp' && { echo "XDP program left attached"; FAIL=1; }
    return 0
}

start_appliance "$CONFIG"

FAIL=0
check() { # description, command...
    local what=$1; shift
    if out=$("$@" 2>&1); then
        printf '  ok    %s\n' "$what"
    else
        printf '  FAIL  %s\n%s\n' "$what" "$out"
        FAIL=1
    fi
}

step "ping through the translator"
check "client ping6 2001:db8:64::192.0.2.10 (the server)" in_ns $C ping -6 -c 3 -i 0.2 -W 2 2001:db8:64::c000:20a
check "server ping 198.51.100.10 (the client)"            in_ns $S ping -c 3 -i 0.2 -W 2 198.51.100.10
check "hop limit 1 answered by the appliance (Time Exceeded from 2001:db8:6::1)" \
    sh -c "ip netns exec $C ping -6 -c 1 -t 1 -W 2 2001:db8:64::c000:20a | grep -q 'From 2001:db8:6::1'"
check "the box itself answers: ping6 2001:db8:6::1, ping 192.0.2.1" \
    sh -c "ip netns exec $C ping -6 -c 1 -W 2 2001:db8:6::1 >/dev/null && ip netns exec $S ping -c 1 -W 2 192.0.2.1 >/dev/null"

step "HTTP through the translator"
mkdir -p "$WORK/www" && seq 1 20000 > "$WORK/www/numbers.txt"
ip netns exec $S python3 -m http.server --bind 192.0.2.10 --directory "$WORK/www" 8080 >"$WORK/http4.log" 2>&1 & HTTP_PIDS+=($!)
ip netns exec $C python3 -m http.server --bind 2001:db8:6::10 --directory "$WORK/www" 8081 >/dev/null 2>&1 & HTTP_PIDS+=($!)
for _ in $(seq 100); do
    in_ns $S ss -Hltn 'sport = :8080' | grep -q . && in_ns $C ss -Hltn 'sport = :8081' | grep -q . && break
    sleep 0.1
done
SIZE=$(stat -c %s "$WORK/www/numbers.txt")
check "client (IPv6) GET http://[2001:db8:64::192.0.2.10]:8080/ ($SIZE bytes)" \
    sh -c "[ \$(ip netns exec $C curl -sS -m 10 'http://[2001:db8:64::c000:20a]:8080/numbers.txt' | wc -c) -eq $SIZE ]"
check "server (IPv4) GET http://198.51.100.10:8081/ ($SIZE bytes)" \
    sh -c "[ \$(ip netns exec $S curl -sS -m 10 'http://198.51.100.10:8081/numbers.txt' | wc -c) -eq $SIZE ]"

stop_appliance

# This time the appliance is operated by the control process: the dataplane listens on a Unix socket,
# xlat64-control (REST API on 127.0.0.1:8064 inside the appliance's namespace) stores the configuration as
# version 1 and pushes it; the dataplane acknowledges the version it runs.
start_appliance "$CONFIG_NAT64" --control-socket "$WORK/dp.sock"
step "starting the control process: xlat64-control --initial-config ${CONFIG_NAT64#"$ROOT"/} --dataplane-socket ..."
head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n' > "$WORK/token"
ip netns exec $A "$CTL" --state-dir "$WORK/state" --token-file "$WORK/token" --initial-config "$CONFIG_NAT64" \
    --dataplane-socket "$WORK/dp.sock" > "$WORK/ctl.log" 2>&1 &
CTL_PID=$!
xl() { ip netns exec $A "$XL" "$@" --token-file "$WORK/token"; }
running_version() { # the version the dataplane acknowledged, from GET /v1/status
    in_ns $A curl -sS -m 2 http://127.0.0.1:8064/v1/status 2>/dev/null |
        python3 -c 'import json,sys; print(json.load(sys.stdin).get("dataplane_version"))' 2>/dev/null
}
wait_version() { # version
    for _ in $(seq 100); do [ "$(running_version)" = "$1" ] && return 0; sleep 0.1; done
    echo "the dataplane does not run version $1 (status: $(running_version)); control's log:"; cat "$WORK/ctl.log"
    return 1
}
wait_version 1
echo "the dataplane runs configuration version $(running_version), pushed by the control process"

step "stateful NAT64: the IPv6 client shares 203.0.113.0/30 with every other IPv6 client"
check "client ping6 2001:db8:64::192.0.2.10 (the server, through pool4)" \
    in_ns $C ping -6 -c 3 -i 0.2 -W 2 2001:db8:64::c000:20a
check "client (IPv6) 16 concurrent GETs http://[2001:db8:64::192.0.2.10]:8080/ ($SIZE bytes each)" \
    sh -c "for i in \$(seq 16); do ip netns exec $C curl -sS -m 10 'http://[2001:db8:64::c000:20a]:8080/numbers.txt' | wc -c & done | grep -cx $SIZE | grep -qx 16"
check "the server saw those fetches come from pool4 (203.0.113.x)" \
    grep -q '^203\.0\.113\.[0-3] .*GET /numbers.txt' "$WORK/http4.log"
check "server (IPv4) GET http://203.0.113.1:8081/ (static binding to [2001:db8:6::10]:8081, $SIZE bytes)" \
    sh -c "[ \$(ip netns exec $S curl -sS -m 10 'http://203.0.113.1:8081/numbers.txt' | wc -c) -eq $SIZE ]"

step "operated over REST (xlat64-control) and the xlat64 CLI"
echo "\$ xlat64 sessions --protocol tcp --limit 4"
xl sessions --protocol tcp --limit 4 || FAIL=1
seq 1 300000 > "$WORK/www/big.txt"
BIG=$(stat -c %s "$WORK/www/big.txt")
ip netns exec $C curl -sS -m 60 --limit-rate 1M -o "$WORK/big.out" 'http://[2001:db8:64::c000:20a]:8080/big.txt' &
DL_PID=$!
sleep 0.5
echo "\$ xlat64 pool4 add demo-nat64 203.0.113.8/30      (while a $BIG-byte download runs through NAT64)"
xl pool4 add demo-nat64 203.0.113.8/30 || FAIL=1
check "the dataplane switched to version 2 live" wait_version 2
wait "$DL_PID" || true
check "the download that was running completed intact ($BIG bytes)" cmp -s "$WORK/big.out" "$WORK/www/big.txt"
check "the new pool4 address is in use by the dataplane (GET /v1/stats)" \
    sh -c "ip netns exec $A '$XL' stats --json | grep -q '203.0.113.9'"
echo "\$ xlat64 stats"
xl stats || FAIL=1
echo "\$ curl http://127.0.0.1:9864/metrics | grep translated"
in_ns $A curl -sS -m 5 http://127.0.0.1:9864/metrics | grep '^xlat64_packets_translated_total' | grep -v ' 0$' || FAIL=1
kill "$CTL_PID"; wait "$CTL_PID" 2>/dev/null; CTL_PID=""

stop_appliance
HANDED=$(awk '/handoff:/ { for (i = 1; i < NF; i++) if ($i == "handed_off") n += $(i + 1) } END { print n + 0 }' "$WORK/dp.log")
echo "packets handed from one worker to the other (the owner of their pool4 port): $HANDED"

if [ "$FAIL" -eq 0 ]; then
    step "demo OK: IPv6-only and IPv4-only hosts talked through xlat64 (SIIT and stateful NAT64)"
else
    step "demo FAILED"
fi
exit "$FAIL"
