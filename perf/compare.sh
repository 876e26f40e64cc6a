#!/usr/bin/env bash
# Compares, in one run, on one namespace topology, with one frame size and one core assignment:
#   raw     raw AF_XDP forwarding without translation (xlat64-gen forward): the ceiling of this machine
#   kernel  the kernel's own IPv6 forwarding through the middle namespace
#   xlat64  xlat64-dataplane, SIIT (RFC 7915) on AF_XDP
#   tayga   TAYGA (Debian package), the same SIIT mapping, a userspace TUN translator
#   nat64   xlat64-dataplane, stateful NAT64 (RFC 6146): the same IPv6 flows, sources from pool4 203.0.113.0/28
# Each device under test gets an RFC 8219 §7.1 throughput search from xlat64-gen, TRIALS times, the devices
# interleaved round by round so that the noise of a shared machine falls on all of them alike. Medians and
# ratios go to $OUT/summary.json and $OUT/table.md, the chart to $CHART.
#
#   gen netns                        appliance netns (DUT, core DUT_CORE)
#   g6 ───────────────────────────── a6  2001:db8:6::1/64
#   (xlat64-gen, core GEN_CORE)          IPv6 2001:db8:6::10 -> 2001:db8:64::192.0.2.10 (pool6 2001:db8:64::/96)
#   g4 ───────────────────────────── a4  192.0.2.1/24, 2001:db8:4::1/64
#                                        translated: 198.51.100.10 -> 192.0.2.10 (EAM 198.51.100.10 = 2001:db8:6::10)
#                                        kernel:     routed as IPv6 via 2001:db8:4::10
#
# Every veth has one queue. The appliance's receive work (veth NAPI: XDP program, AF_XDP copy; or the
# kernel's forwarding after RPS) is kept on DUT_CORE, the generator's on GEN_CORE (threaded NAPI pinned with
# taskset, RPS masks), so each side's cost lands on its own core.
#
# Usage (root): perf/compare.sh            env: TRIALS=5 TRIAL_S=0.5 FRAME=84 RING_SIZE=8192 DUTS="raw kernel xlat64 nat64 tayga"
#                                               OUT=/tmp/xlat64-compare-PID CHART=docs/benchmarks-live.png
set -euo pipefail

cd "$(dirname "$0")/.."
ROOT=$PWD
TRIALS=${TRIALS:-5}
TRIAL_S=${TRIAL_S:-0.5}
# v6: IPv6 -> IPv4 (client to server, the default); v4: IPv4 -> IPv6 (server to client through the EAM entry;
# for nat64, IPv4 clients reaching the IPv6 host through a static BIB entry, 203.0.113.1#5001 -> [2001:db8:6::10]#5001:
# every flow opens a session from the IPv4 side, then rides it).
DIR=${DIR:-v6}
# AF_XDP ring entries of the AF_XDP devices (`[dataplane] ring_size`, the raw forwarder's --ring).
RING_SIZE=${RING_SIZE:-8192}
if [ "$DIR" = v4 ]; then FRAME=${FRAME:-64}; else FRAME=${FRAME:-84}; fi
FLOWS=${FLOWS:-16}
DUTS=${DUTS:-raw kernel xlat64 nat64 tayga}
GEN_CORE=${GEN_CORE:-0}
DUT_CORE=${DUT_CORE:-1}
LOSS_TOL=${LOSS_TOL:-0}
RESOLUTION=${RESOLUTION:-0.02}
# busy: the appliance and the raw forwarder spin on their rings (their fastest mode; interrupt mode sleeps in
# poll() and, on a shared core, wakes late enough to overflow its RX ring).
POLL_MODE=${POLL_MODE:-busy}
# The machine is shared (compilers, fuzzers): generator, DUT and their NAPI threads run at this nice level.
NICE=${NICE:--10}
# 1: veth receive work in pinned NAPI threads (see below); 0: in softirq wherever the sender runs.
THREADED=${THREADED:-0}
OUT=${OUT:-/tmp/xlat64-compare-$$}
CHART=${CHART:-$ROOT/docs/benchmarks-live.png}
S=$$
G=xpg-$S
A=xpa-$S

[ "$(id -u)" = 0 ] || { echo "compare.sh: needs root (namespaces, XDP, AF_XDP)" >&2; exit 1; }
# With sched_autogroup (Debian's default) nice only ranks processes within their session's group: run in a
# session of our own and give that group the NICE level, so that the generator and the DUT get their cores
# ahead of other sessions' compilers and fuzzers (their kernel threads keep their own priority).
if [ -z "${XLAT64_COMPARE_SESSION:-}" ] && command -v setsid >/dev/null; then
    XLAT64_COMPARE_SESSION=1 setsid "$0" "$@" &
    child=$!
    # Ctrl-C reaches only this session: pass it on (the child cleans up after its current trial).
    trap 'kill -TERM "$child" 2>/dev/null; wait "$child"; exit 130' INT TERM
    wait "$child"
    exit $?
fi
[ -w /proc/$$/autogroup ] && echo "$NICE" >/proc/$$/autogroup 2>/dev/null || true
mkdir -p "$OUT"

if [ -z "${NO_BUILD:-}" ]; then
    cargo build --release -q -p xlat64-perf -p xlat64-dataplane
fi
GEN=$ROOT/target/release/xlat64-gen
DP=$ROOT/target/release/xlat64-dataplane

if [[ " $DUTS " == *" tayga "* ]] && ! command -v tayga >/dev/null; then
    echo "compare.sh: installing tayga" >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q tayga >/dev/null
fi

DUT_PID=
cleanup() {
    set +e
    [ -n "$DUT_PID" ] && kill "$DUT_PID" 2>/dev/null && wait "$DUT_PID" 2>/dev/null
    ip netns pids "$A" 2>/dev/null | xargs -r kill 2>/dev/null
    ip netns pids "$G" 2>/dev/null | xargs -r kill 2>/dev/null
    ip netns del "$A" 2>/dev/null
    ip netns del "$G" 2>/dev/null
}
trap cleanup EXIT
trap 'exit 143' INT TERM

inA() { ip netns exec "$A" "$@"; }
inG() { ip netns exec "$G" "$@"; }
mask() { printf '%x' $((1 << $1)); }

# --- topology -------------------------------------------------------------------------------------------
ip netns add "$G"
ip netns add "$A"
ip -n "$G" link set lo up
ip -n "$A" link set lo up
ip link add g6 netns "$G" numtxqueues 1 numrxqueues 1 type veth peer name a6 netns "$A" numtxqueues 1 numrxqueues 1
ip link add g4 netns "$G" numtxqueues 1 numrxqueues 1 type veth peer name a4 netns "$A" numtxqueues 1 numrxqueues 1
for i in g6 g4; do ip -n "$G" link set "$i" up; done
for i in a6 a4; do ip -n "$A" link set "$i" up; done
ip -n "$A" addr add 2001:db8:6::1/64 dev a6 nodad
ip -n "$A" addr add 192.0.2.1/24 dev a4
ip -n "$A" addr add 2001:db8:4::1/64 dev a4 nodad
G4MAC=$(ip -n "$G" -br link show g4 | awk '{print $3}')
G6MAC=$(ip -n "$G" -br link show g6 | awk '{print $3}')
A6MAC=$(ip -n "$A" -br link show a6 | awk '{print $3}')
A4MAC=$(ip -n "$A" -br link show a4 | awk '{print $3}')
ip -n "$A" neigh replace 192.0.2.10 lladdr "$G4MAC" dev a4 nud permanent
ip -n "$A" neigh replace 2001:db8:4::10 lladdr "$G4MAC" dev a4 nud permanent
ip -n "$A" route add 2001:db8:64::/96 via 2001:db8:4::10 dev a4 table 100
# The IPv4 -> IPv6 direction: translated packets go to 2001:db8:6::10 (g6); the kernel routes IPv4 to g6 too.
ip -n "$A" addr add 10.99.0.1/24 dev a6
ip -n "$A" neigh replace 10.99.0.2 lladdr "$G6MAC" dev a6 nud permanent
ip -n "$A" neigh replace 2001:db8:6::10 lladdr "$G6MAC" dev a6 nud permanent
ip -n "$A" route add 198.51.100.0/24 via 10.99.0.2 dev a6 table 100
inA sysctl -qw net.ipv4.conf.all.rp_filter=0 net.ipv4.conf.default.rp_filter=0
# Receive work on the right core: GRO on makes every veth receive through NAPI (with or without XDP),
# threaded NAPI makes that a kernel thread we can pin (and give the same priority as the DUT), RPS covers
# the TUN device's backlog.
for ns_if in "$A:a6:$DUT_CORE" "$A:a4:$DUT_CORE" "$G:g6:$GEN_CORE" "$G:g4:$GEN_CORE"; do
    IFS=: read -r ns ifn core <<<"$ns_if"
    ip netns exec "$ns" sh -c "echo $(mask "$core") > /sys/class/net/$ifn/queues/rx-0/rps_cpus"
    [ "$THREADED" = 1 ] || continue
    ip netns exec "$ns" ethtool -K "$ifn" gro on >/dev/null 2>&1 || true
    ip netns exec "$ns" sh -c "echo 1 > /sys/class/net/$ifn/threaded" ||
        echo "compare.sh: warning: no threaded NAPI on $ifn: its receive work runs where the sender runs" >&2
done
pin_napi() {
    # NAPI threads are named napi/<ifname>-<id>.
    local ifn=$1 core=$2 p
    for p in $(pgrep "^napi/$ifn-" || true); do
        taskset -pc "$core" "$p" >/dev/null 2>&1 || true
        renice -n "$NICE" -p "$p" >/dev/null 2>&1 || true
    done
}

cat >"$OUT/xlat64.toml" <<EOF
[[tenants]]
name = "bench"
id = 1
pool6 = "2001:db8:64::/96"
own_ipv4 = "192.0.2.1"
own_ipv6 = "2001:db8:6::1"

[[tenants.eamt]]
ipv4 = "198.51.100.10/32"
ipv6 = "2001:db8:6::10/128"

[dataplane]
interfaces = [
    { name = "a6", role = "ipv6", next_hop_mac = "$G6MAC" },
    { name = "a4", role = "ipv4", next_hop_mac = "$G4MAC" },
]
cores = [$DUT_CORE]
poll_mode = "$POLL_MODE"
ring_size = $RING_SIZE
EOF

cat >"$OUT/nat64.toml" <<EOF
[[tenants]]
name = "bench64"
id = 1
mode = "nat64"
pool6 = "2001:db8:64::/96"

[[tenants.pool4]]
prefix = "203.0.113.0/28"

[[tenants.static_bib]]
protocol = "udp"
ipv4 = "203.0.113.1#5001"
ipv6 = "2001:db8:6::10#5001"

[dataplane]
interfaces = [
    { name = "a6", role = "ipv6", next_hop_mac = "$G6MAC" },
    { name = "a4", role = "ipv4", next_hop_mac = "$G4MAC" },
]
cores = [$DUT_CORE]
poll_mode = "$POLL_MODE"
ring_size = $RING_SIZE
EOF

cat >"$OUT/tayga.conf" <<EOF
tun-device xtayga
ipv4-addr 192.0.2.2
prefix 2001:db8:64::/96
map 198.51.100.10 2001:db8:6::10
EOF

wait_line() { # file pattern
    for _ in $(seq 100); do grep -q "$2" "$1" 2>/dev/null && return 0; sleep 0.1; done
    echo "compare.sh: no '$2' in $1:" >&2; cat "$1" >&2; return 1
}

start_dut() {
    local dut=$1 log=$OUT/$dut.log
    : >"$log"
    case $dut in
    raw)
        ip netns exec "$A" nice -n "$NICE" taskset -c "$DUT_CORE" "$GEN" forward $(if [ "$DIR" = v4 ]; then echo --in a4 --out a6 --dst-mac "$G6MAC"; else echo --in a6 --out a4 --dst-mac "$G4MAC"; fi) --core "$DUT_CORE" --ring "$RING_SIZE" $([ "$POLL_MODE" = busy ] && echo --busy) >"$log" 2>&1 &
        DUT_PID=$!
        wait_line "$log" ready
        ;;
    kernel)
        inA sysctl -qw net.ipv6.conf.all.forwarding=1 net.ipv4.ip_forward=1
        ip -n "$A" -6 rule add to 2001:db8:64::/96 lookup 100 pref 100
        ip -n "$A" -4 rule add to 198.51.100.0/24 lookup 100 pref 100
        ;;
    xlat64 | nat64)
        for _ in 1 2 3; do # a socket of the previous DUT may still be closing on a6
            ip netns exec "$A" nice -n "$NICE" taskset -c "$DUT_CORE" "$DP" --config "$OUT/$dut.toml" >"$log" 2>&1 &
            DUT_PID=$!
            wait_line "$log" ready && break
            wait "$DUT_PID" || true
            DUT_PID=
            sleep 1
        done
        [ -n "$DUT_PID" ] || return 1
        ;;
    tayga)
        inA sysctl -qw net.ipv6.conf.all.forwarding=1 net.ipv4.ip_forward=1
        inA tayga --mktun --config "$OUT/tayga.conf" >/dev/null 2>&1 || true
        ip -n "$A" link set xtayga up
        ip -n "$A" route replace 2001:db8:64::/96 dev xtayga
        ip -n "$A" route replace 198.51.100.10/32 dev xtayga
        inA sh -c "echo $(mask "$DUT_CORE") > /sys/class/net/xtayga/queues/rx-0/rps_cpus" || true
        ip netns exec "$A" nice -n "$NICE" taskset -c "$DUT_CORE" tayga --nodetach --config "$OUT/tayga.conf" >"$log" 2>&1 &
        DUT_PID=$!
        sleep 0.5
        ;;
    esac
    pin_napi a6 "$DUT_CORE"
    pin_napi a4 "$DUT_CORE"
}

stop_dut() {
    local dut=$1
    if [ -n "$DUT_PID" ]; then
        kill -TERM "$DUT_PID" 2>/dev/null || true
        wait "$DUT_PID" 2>/dev/null || true
        DUT_PID=
    fi
    sleep 0.3
    case $dut in
    kernel)
        ip -n "$A" -6 rule del to 2001:db8:64::/96 lookup 100 pref 100 || true
        ip -n "$A" -4 rule del to 198.51.100.0/24 lookup 100 pref 100 || true
        inA sysctl -qw net.ipv6.conf.all.forwarding=0 net.ipv4.ip_forward=0
        ;;
    tayga)
        ip -n "$A" route del 2001:db8:64::/96 dev xtayga 2>/dev/null || true
        ip -n "$A" route del 198.51.100.10/32 dev xtayga 2>/dev/null || true
        inA sysctl -qw net.ipv6.conf.all.forwarding=0 net.ipv4.ip_forward=0
        ;;
    esac
}

{
    echo "date: $(date -u +%FT%TZ)"
    echo "kernel: $(uname -r)"
    echo "cpu: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //') x $(nproc)"
    echo "uptime: $(uptime)"
    echo "git: $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo '?')"
    echo "autogroup: $(cat /proc/$$/autogroup 2>/dev/null)"
    echo "settings: DIR=$DIR THREADED=$THREADED NICE=$NICE TRIALS=$TRIALS TRIAL_S=$TRIAL_S FRAME=$FRAME FLOWS=$FLOWS GEN_CORE=$GEN_CORE DUT_CORE=$DUT_CORE LOSS_TOL=$LOSS_TOL POLL_MODE=$POLL_MODE RING_SIZE=$RING_SIZE"
} | tee "$OUT/machine.txt"

for t in $(seq "$TRIALS"); do
    for dut in $DUTS; do
        start_dut "$dut" || { echo "compare.sh: $dut did not start (round $t)" >&2; stop_dut "$dut"; continue; }
        pin_napi g6 "$GEN_CORE"
        pin_napi g4 "$GEN_CORE"
        echo "== round $t/$TRIALS: $dut" >&2
        if [ "$DIR" = v4 ]; then
            dst4=198.51.100.10
            [ "$dut" = nat64 ] && dst4=203.0.113.1
            traffic="--tx-if g4 --rx-if g6 --dst-mac $A4MAC --src 192.0.2.10 --dst $dst4"
        else
            traffic="--tx-if g6 --rx-if g4 --dst-mac $A6MAC --src 2001:db8:6::10 --dst 2001:db8:64::c000:20a"
        fi
        # shellcheck disable=SC2086
        inG nice -n "$NICE" taskset -c "$GEN_CORE" "$GEN" search $traffic --frame-size "$FRAME" --flows "$FLOWS" \
            --trial "$TRIAL_S" --resolution "$RESOLUTION" --loss-tolerance "$LOSS_TOL" --core "$GEN_CORE" \
            --label "$dut" --json "$OUT/$dut-$t.json" 2> >(grep -E 'throughput' >&2) || echo "compare.sh: $dut round $t failed" >&2
        stop_dut "$dut"
    done
done
echo "uptime after: $(uptime)" | tee -a "$OUT/machine.txt"

python3 "$ROOT/perf/chart.py" "$OUT" "$CHART" | tee "$OUT/table.md"
echo "compare.sh: results in $OUT, chart in $CHART" >&2
