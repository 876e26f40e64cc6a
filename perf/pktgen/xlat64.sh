#!/bin/sh
# Linux pktgen (/proc/net/pktgen) traffic for xlat64 benchmarks on hardware, SIIT or stateful NAT64.
#
# NOT RUN HERE: the kernel of the development machines is built without pktgen (no /proc/net/pktgen); our
# own generator (xlat64-gen, perf/README.md) replaces it there. On a lab machine with real NICs:
#
#   this host, IF6 ── IPv6 side of the appliance ── xlat64 ── IPv4 side ── IF4, this host (or a sink)
#
# The appliance runs deploy/examples/lab-siit.toml (MODE=siit) or lab-nat64.toml (MODE=nat64).
# control/tests/lab_profiles.rs checks in CI (with DRY_RUN=1) that the packets this script configures are
# translated by those files. pktgen only sends: count what arrives on the far side with the NIC counters
# (ethtool -S IF4, or `ip -s link show IF4`), or run `xlat64-gen run` there as the sink.
#
#   MODE=siit  DIR=v6 IF=eth1 DST_MAC=<appliance MAC> perf/pktgen/xlat64.sh   IPv6 -> pool6 (-> IPv4)
#   MODE=siit  DIR=v4 IF=eth2 DST_MAC=<appliance MAC> perf/pktgen/xlat64.sh   IPv4 -> EAM (-> IPv6)
#   MODE=nat64 DIR=v6 IF=eth1 DST_MAC=<appliance MAC> perf/pktgen/xlat64.sh   IPv6 clients -> pool6: one
#       binding and session per UDP source port (FLOWS of them, at most 64512); the first packet of each
#       opens it, so run a short warm-up first to measure established flows
#   MODE=nat64 DIR=v4 IF=eth2 DST_MAC=<appliance MAC> perf/pktgen/xlat64.sh   IPv4 clients 198.18.0.0/15
#       (FLOWS addresses) -> the static binding 203.0.113.1#5001: a session each, opened from IPv4
#
# Settings (environment): MODE siit|nat64 (default siit), DIR v6|v4, IF, DST_MAC, SIZE (frame size with FCS;
# default 84 for IPv6 and 64 for IPv4, RFC 8219 §5.1), FLOWS (default 1000), RATE_PPS (0: line rate), COUNT
# (0: until stopped), DURATION (seconds, default 10), THREADS (one pktgen kernel thread per CPU 0..THREADS-1,
# each on its own TX queue; default 1), DRY_RUN (1: print the pktgen commands as "FILE: COMMAND" and send
# nothing; no root needed).
set -eu

MODE=${MODE:-siit}
DIR=${DIR:-v6}
IF=${IF:?IF=<interface to send on>}
DST_MAC=${DST_MAC:?DST_MAC=<the appliance MAC on that link>}
FLOWS=${FLOWS:-1000}
RATE_PPS=${RATE_PPS:-0}
COUNT=${COUNT:-0}
DURATION=${DURATION:-10}
THREADS=${THREADS:-1}
DRY_RUN=${DRY_RUN:-0}
case $DIR in
v6) SIZE=${SIZE:-84} ;;
v4) SIZE=${SIZE:-64} ;;
*) echo "DIR must be v6 or v4" >&2; exit 1 ;;
esac
case $MODE in
siit | nat64) ;;
*) echo "MODE must be siit or nat64" >&2; exit 1 ;;
esac
# UDP source ports 10000.. carry the flows, except for NAT64 from IPv4 (addresses do, see below).
if [ "$MODE.$DIR" != nat64.v4 ] && [ "$FLOWS" -gt 55536 ]; then
    echo "FLOWS: at most 55536 UDP source ports (10000-65535)" >&2; exit 1
fi
if [ "$MODE.$DIR" = nat64.v4 ] && [ "$FLOWS" -gt 131072 ]; then
    echo "FLOWS: at most 131072 client addresses (198.18.0.0/15)" >&2; exit 1
fi

if [ "$DRY_RUN" = 1 ]; then
    pg() { echo "$1: $2"; }
else
    [ "$(id -u)" = 0 ] || { echo "needs root" >&2; exit 1; }
    modprobe pktgen 2>/dev/null || true
    [ -e /proc/net/pktgen/pgctrl ] || { echo "no /proc/net/pktgen: this kernel has no pktgen (CONFIG_NET_PKTGEN)" >&2; exit 1; }
    pg() { # file command
        echo "$2" >"/proc/net/pktgen/$1"
        if grep -q "Result: OK" "/proc/net/pktgen/$1" 2>/dev/null || [ "$1" = pgctrl ]; then return 0; fi
        echo "pktgen $1: '$2' failed: $(grep Result "/proc/net/pktgen/$1")" >&2
        exit 1
    }
fi

# 198.18.0.0 + n as a dotted quad.
client4() { echo "198.$((18 + $1 / 65536)).$(($1 / 256 % 256)).$(($1 % 256))"; }

pg pgctrl reset
t=0
while [ "$t" -lt "$THREADS" ]; do
    dev="$IF@$t"
    pg "kpktgend_$t" rem_device_all
    pg "kpktgend_$t" "add_device $dev"
    pg "$dev" "count $COUNT"
    pg "$dev" "pkt_size $((SIZE - 4))" # pktgen's size is without the FCS the NIC appends
    pg "$dev" "queue_map_min $t"
    pg "$dev" "queue_map_max $t"
    pg "$dev" "dst_mac $DST_MAC"
    pg "$dev" "burst 32"
    pg "$dev" "clone_skb 0"
    sport_min=10000
    sport_max=$((10000 + FLOWS - 1))
    dport=5001
    case $MODE.$DIR in
    *.v6)
        # Client 2001:db8:6::10 -> 2001:db8:64::192.0.2.10 (pool6 2001:db8:64::/96). With NAT64 each source
        # port is a binding of its own (RFC 6146 §3.5.1: the binding is per transport address).
        pg "$dev" "src6 2001:db8:6::10"
        pg "$dev" "dst6 2001:db8:64::c000:20a"
        ;;
    siit.v4)
        # Server 192.0.2.10 -> 198.51.100.10 (EAM for 2001:db8:6::10).
        pg "$dev" "src_min 192.0.2.10"
        pg "$dev" "src_max 192.0.2.10"
        pg "$dev" "dst 198.51.100.10"
        pg "$dev" "tos 0"
        ;;
    nat64.v4)
        # Clients 198.18.0.0 + n (RFC 2544 benchmarking space) -> static binding 203.0.113.1#5001.
        pg "$dev" "src_min $(client4 0)"
        pg "$dev" "src_max $(client4 $((FLOWS - 1)))"
        pg "$dev" "dst 203.0.113.1"
        pg "$dev" "tos 0"
        sport_max=10000
        ;;
    esac
    pg "$dev" "udp_dst_min $dport"
    pg "$dev" "udp_dst_max $dport"
    pg "$dev" "udp_src_min $sport_min"
    pg "$dev" "udp_src_max $sport_max"
    pg "$dev" "flag UDPCSUM"
    if [ "$RATE_PPS" -gt 0 ]; then
        pg "$dev" "ratep $((RATE_PPS / THREADS))"
    fi
    t=$((t + 1))
done

echo "pktgen: $MODE $DIR, $SIZE-byte frames, $FLOWS flows, on $IF to $DST_MAC, $RATE_PPS pps (0 = line rate), $DURATION s" >&2
[ "$DRY_RUN" = 1 ] && exit 0
pg pgctrl start &
sleep "$DURATION"
echo stop >/proc/net/pktgen/pgctrl
wait 2>/dev/null || true
t=0
while [ "$t" -lt "$THREADS" ]; do
    grep -E "pps|sofar|errors" "/proc/net/pktgen/$IF@$t"
    t=$((t + 1))
done
