# TRex stateless (STL) profile for xlat64 stateful NAT64 benchmarks on hardware (RFC 8219 §7, RFC 9693).
#
# NOT RUN HERE: the development machines have no TRex (and no NIC it could drive). This is for a hardware lab:
#
#   TRex port 0 ── IPv6 side of the appliance ── xlat64 (NAT64) ── IPv4 side ── TRex port 1
#
# The appliance runs deploy/examples/lab-nat64.toml (pool6 2001:db8:64::/96, pool4 203.0.113.0/28, a static
# UDP binding 203.0.113.1#5001 -> [2001:db8:6::10]#5001). control/tests/lab_profiles.rs checks in CI that
# every stream of this profile is translated by that configuration (`xlat64 translate`, the live pipeline)
# and that the translated frames have the RFC 8219 sizes.
#
# Directions (tunable "direction"):
#   v6    established-flow throughput: IPv6 clients 2001:db8:6::1:0 + n (n < flows) send UDP to the IPv4 server
#         192.0.2.10 (2001:db8:64::192.0.2.10). Every client is one binding and one session; the first packet
#         of a flow opens it, all later ones find it. Run a short warm-up at a low rate first so that the
#         measured trial sees established sessions only (`flows` of them: 1000000 for the issue #3 case).
#   cps   new-session rate (RFC 9693's connection establishment rate, for UDP): like v6, but the client
#         counter runs through `flows` (default 2^31) addresses, so each packet opens a new binding and session
#         until the counter wraps. The zero-loss rate is the new-session rate the appliance sustains; keep
#         the trial short enough that the session table (max_sessions) does not fill, or UDP timeouts short.
#   v4    IPv4 clients 198.18.0.0 + n (RFC 2544 benchmarking space, n < flows <= 131072) reach the IPv6 server through
#         the static binding 203.0.113.1#5001: each client opens a session from the IPv4 side (endpoint-
#         independent filtering lets them in). Dynamic bindings cannot be used for this direction: their IPv4
#         ports are chosen by the appliance, and a stateless generator cannot know them.
#   both  v6 on even ports, v4 on odd ports (bidirectional, RFC 8219 §7.1).
#
# Frame sizes follow RFC 8219 §5.1 ("size": frame size with FCS): IPv6 frames are 20 bytes longer than the
# IPv4 ones, so 84 -> 64, 148 -> 128, ... 1518 -> 1498.
#
# Usage (TRex console):
#   start -f perf/trex/xlat64_nat64.py -t direction=v6,size=84,flows=1000000 -m 100% --port 0
#   start -f perf/trex/xlat64_nat64.py -t direction=cps,size=84 -m 3mpps --port 0
#   start -f perf/trex/xlat64_nat64.py -t direction=v4,size=64,flows=65536 -m 100% --port 1
# NDR search: ./ndr --stl --opt-bin-search -f perf/trex/xlat64_nat64.py -t direction=v6,flows=1000000 --port 0 1
# The appliance's MACs must be resolved (service mode ARP/ND, or dest_mac in trex_cfg.yaml).

from trex_stl_lib.api import IP, UDP, STLVM, Ether, IPv6, STLPktBuilder, STLStream, STLTXCont

POOL6_SERVER = "2001:db8:64::c000:20a"  # pool6 2001:db8:64::/96 + 192.0.2.10
CLIENT6_BASE = "2001:db8:6::"  # + n, from FIRST_CLIENT6
FIRST_CLIENT6 = 0x10000  # 2001:db8:6::1:0, clear of the appliance's and routers' low addresses
STATIC_BIB4 = "203.0.113.1"  # static UDP binding 203.0.113.1#5001 -> [2001:db8:6::10]#5001
STATIC_PORT = 5001
CLIENT4_BASE = 0xC6120000  # 198.18.0.0 (RFC 2544 §C.2.2 benchmarking addresses, 198.18.0.0/15)
FCS = 4
U32 = 0xFFFFFFFF


def padded(base, size):
    return base / (max(0, size - FCS - len(base)) * "x")


def counter(vm, first, count):
    """A 32-bit counter running first, first + 1, ... first + count - 1, then again."""
    last = first + count - 1
    if count < 1 or last > U32:
        raise ValueError("flows must be between 1 and %d" % (U32 - first + 1))
    vm.var(name="client", min_value=first, max_value=last, size=4, op="inc")


class Xlat64Nat64(object):
    def v6_stream(self, size, flows):
        base = Ether() / IPv6(src=CLIENT6_BASE, dst=POOL6_SERVER, hlim=64) / UDP(sport=10000, dport=5001)
        vm = STLVM()
        counter(vm, FIRST_CLIENT6, flows)
        # The client counter is the low 32 bits of the IPv6 source address (bytes 12..16 of it).
        vm.write(fv_name="client", pkt_offset="IPv6.src", offset_fixup=12)
        vm.fix_chksum_hw(l3_offset="IPv6", l4_offset="UDP", l4_type=2)  # CTRexVmInsFixHwCs.L4_TYPE_UDP
        return STLStream(packet=STLPktBuilder(pkt=padded(base, size), vm=vm), mode=STLTXCont())

    def v4_stream(self, size, flows):
        base = Ether() / IP(src="198.18.0.0", dst=STATIC_BIB4, ttl=64, flags="DF") / UDP(sport=10000, dport=STATIC_PORT)
        if flows > 1 << 17:
            raise ValueError("v4: at most 131072 flows (one per address of 198.18.0.0/15)")
        vm = STLVM()
        counter(vm, CLIENT4_BASE, flows)
        vm.write(fv_name="client", pkt_offset="IP.src")
        vm.fix_chksum()
        return STLStream(packet=STLPktBuilder(pkt=padded(base, size), vm=vm), mode=STLTXCont())

    def get_streams(self, direction="v6", size=None, flows=None, port_id=0, **kwargs):
        six = int(size or 84)
        four = int(size or 64)
        if direction == "v6":
            return [self.v6_stream(six, int(flows or 1000))]
        if direction == "cps":
            return [self.v6_stream(six, int(flows or 1 << 31))]
        if direction == "v4":
            return [self.v4_stream(four, int(flows or 1000))]
        if direction == "both":
            if port_id % 2 == 0:
                return [self.v6_stream(six, int(flows or 1000))]
            return [self.v4_stream(four, int(flows or 1000))]
        raise ValueError("direction must be v6, cps, v4 or both")


def register():
    return Xlat64Nat64()
