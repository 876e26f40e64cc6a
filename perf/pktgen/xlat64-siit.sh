#!/bin/sh
# Linux pktgen (/proc/net/pktgen) traffic for xlat64 SIIT benchmarks on hardware.
#
# NOT RUN HERE: the kernel of the development machines is built without pktgen (no /proc/net/pktgen); our
# own generator (xlat64-gen, perf/README.md) replaces it there. On a lab machine with real NICs:
#
#   this host, IF6 ── IPv6 side of the appliance ── xlat64 ── IPv4 side ── IF4, this host (or a sink)
#
# pktgen only sends: count what arrives on the far side with the NIC counters (ethtool -S IF4, or
# `ip -s link show IF4`), or run `xlat64-gen run` there as the sink.
#
#   DIR=v6 IF=eth1 DST_MAC=<appliance IPv6-side MAC> perf/pktgen/xlat64-siit.sh     IPv6 -> pool6 (-> IPv4)
#   DIR=v4 IF=eth2 DST_MAC=<appliance IPv4-side MAC> perf/pktgen/xlat64-siit.sh     IPv4 -> EAM (-> IPv6)
#
# Settings (environment): DIR v6|v4, IF, DST_MAC, SIZE (frame size with FCS; default 84 for IPv6 and 64
# for IPv4, RFC 8219 §5.1), FLOWS (UDP source ports, default 1000), RATE_PPS (0: line rate), COUNT (0:
# until stopped), DURATION (seconds, default 10), THREADS (one pktgen kernel thread per CPU 0..THREADS-1,
# each on its own TX queue; default 1). Addresses as in deploy/examples and perf/compare.sh.
set -eu

DIR=${DIR:-v6}
IF=${IF:?IF=<interface to send on>}
DST_MAC=${DST_MAC:?DST_MAC=<the appliance MAC on that link>}
FLOWS=${FLOWS:-1000}
RATE_PPS=${RATE_PPS:-0}
COUNT=${COUNT:-0}
DURATION=${DURATION:-10}
THREADS=${THREADS:-1}
case $DIR in
v6) SIZE=${SIZE:-84} ;;
v4) SIZE=${SIZE:-64} ;;
*) echo "DIR must be v6 or v4" >&2; exit 1 ;;
esac

[ "$(id -u)" = 0 ] || { echo "needs root" >&2; exit 1; }
modprobe pktgen 2>/dev/null || true
[ -e /proc/net/pktgen/pgctrl ] || { echo "no /proc/net/pktgen: this kernel has no pktgen (CONFIG_NET_PKTGEN)" >&2; exit 1; }

pg() { # file command
    echo "$2" >"/proc/net/pktgen/$1"
    if grep -q "Result: OK" "/proc/net/pktgen/$1" 2>/dev/null || [ "$1" = pgctrl ]; then return 0; fi
    echo "pktgen $1: '$2' failed: $(grep Result "/proc/net/pktgen/$1")" >&2
    exit 1
}

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
    if [ "$DIR" = v6 ]; then
        # Client 2001:db8:6::10 -> 2001:db8:64::192.0.2.10 (pool6 2001:db8:64::/96).
        pg "$dev" "src6 2001:db8:6::10"
        pg "$dev" "dst6 2001:db8:64::c000:20a"
    else
        # Server 192.0.2.10 -> 198.51.100.10 (EAM for 2001:db8:6::10).
        pg "$dev" "src_min 192.0.2.10"
        pg "$dev" "src_max 192.0.2.10"
        pg "$dev" "dst 198.51.100.10"
        pg "$dev" "tos 0"
    fi
    pg "$dev" "udp_dst_min 5001"
    pg "$dev" "udp_dst_max 5001"
    pg "$dev" "udp_src_min 10000"
    pg "$dev" "udp_src_max $((10000 + FLOWS - 1))"
    pg "$dev" "flag UDPCSUM"
    if [ "$RATE_PPS" -gt 0 ]; then
        pg "$dev" "ratep $((RATE_PPS / THREADS))"
    fi
    t=$((t + 1))
done

echo "pktgen: $DIR, $SIZE-byte frames, $FLOWS flows, on $IF to $DST_MAC, ${RATE_PPS:-0} pps (0 = line rate), $DURATION s" >&2
pg pgctrl start &
sleep "$DURATION"
echo stop >/proc/net/pktgen/pgctrl
wait 2>/dev/null || true
t=0
while [ "$t" -lt "$THREADS" ]; do
    grep -E "pps|sofar|errors" "/proc/net/pktgen/$IF@$t"
    t=$((t + 1))
done
