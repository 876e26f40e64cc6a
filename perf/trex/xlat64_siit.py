# TRex stateless (STL) profile for xlat64 SIIT benchmarks on hardware (RFC 8219 style).
#
# NOT RUN HERE: the development machines have no TRex (and no NIC it could drive). This is for a hardware lab:
#
#   TRex port 0 ── IPv6 side of the appliance ── xlat64 ── IPv4 side ── TRex port 1
#
# Direction "v6" (default) sends IPv6 UDP from the client prefix towards pool6 (each destination is
# pool6 + an IPv4 address); xlat64 translates them to IPv4 towards port 1. Direction "v4" sends IPv4 UDP from
# the servers towards the EAM addresses of the clients; xlat64 translates them to IPv6 towards port 0.
# "both" runs the two streams at once (bidirectional, as RFC 8219 §7.1 recommends in addition to each
# direction alone).
#
# Addresses match deploy/examples/lab-siit.toml (the appliance's configuration for this profile) and
# perf/compare.sh: pool6 2001:db8:64::/96, the client 2001:db8:6::10 mapped by EAM to 198.51.100.10, the
# server 192.0.2.10. control/tests/lab_profiles.rs checks in CI that every stream of this profile is
# translated by lab-siit.toml (`xlat64 translate`, the live pipeline) with the RFC 8219 frame sizes.
#
# Frame sizes follow RFC 8219 §5.1: IPv6 frames 20 bytes longer than the IPv4 ones, so that the translated
# frames have the classic sizes (84 -> 64, 148 -> 128, ... 1518 -> 1498). "size" is the frame size with FCS.
#
# Usage (TRex console):
#   start -f perf/trex/xlat64_siit.py -t direction=v6,size=84,flows=1000 -m 100% --port 0
#   start -f perf/trex/xlat64_siit.py -t direction=v4,size=64,flows=1000 -m 100% --port 1
# and binary-search the multiplier for zero loss (TRex's ndr_bench automates it:
#   ./ndr --stl --opt-bin-search -f perf/trex/xlat64_siit.py -t direction=v6 --port 0 1).
# The TRex server must have IPv6 enabled on its ports (port_info / "ipv6 enable" in trex_cfg) and the
# appliance's MACs resolved (service mode ARP/ND or static dest_mac in trex_cfg.yaml).

from trex_stl_lib.api import (
    STLProfile,
    STLStream,
    STLPktBuilder,
    STLTXCont,
    STLVM,
    Ether,
    IP,
    IPv6,
    UDP,
)

POOL6 = "2001:db8:64::"
CLIENT6 = "2001:db8:6::10"
SERVER4 = "192.0.2.10"
CLIENT_AS4 = "198.51.100.10"
FCS = 4


def pool6(v4):
    a, b, c, d = (int(x) for x in v4.split("."))
    return "%s%x:%x" % (POOL6, (a << 8) | b, (c << 8) | d)


class Xlat64Siit(object):
    def v6_stream(self, size, flows):
        base = Ether() / IPv6(src=CLIENT6, dst=pool6(SERVER4), hlim=64) / UDP(sport=10000, dport=5001)
        pad = max(0, size - FCS - len(base)) * "x"
        vm = STLVM()
        # Flows: vary the UDP source port (the translator's per-flow work is the same for every port).
        vm.var(name="sport", min_value=10000, max_value=10000 + flows - 1, size=2, op="inc")
        vm.write(fv_name="sport", pkt_offset="UDP.sport")
        vm.fix_chksum_hw(l3_offset="IPv6", l4_offset="UDP", l4_type=2)  # CTRexVmInsFixHwCs.L4_TYPE_UDP
        return STLStream(packet=STLPktBuilder(pkt=base / pad, vm=vm), mode=STLTXCont())

    def v4_stream(self, size, flows):
        base = Ether() / IP(src=SERVER4, dst=CLIENT_AS4, ttl=64, flags="DF") / UDP(sport=5001, dport=10000)
        pad = max(0, size - FCS - len(base)) * "x"
        vm = STLVM()
        vm.var(name="dport", min_value=10000, max_value=10000 + flows - 1, size=2, op="inc")
        vm.write(fv_name="dport", pkt_offset="UDP.dport")
        vm.fix_chksum()
        return STLStream(packet=STLPktBuilder(pkt=base / pad, vm=vm), mode=STLTXCont())

    def get_streams(self, direction="v6", size=None, flows=1000, port_id=0, **kwargs):
        flows = int(flows)
        if direction == "v6":
            return [self.v6_stream(int(size or 84), flows)]
        if direction == "v4":
            return [self.v4_stream(int(size or 64), flows)]
        if direction == "both":
            # One profile per port: IPv6 out of port 0, IPv4 out of port 1.
            if port_id % 2 == 0:
                return [self.v6_stream(int(size or 84), flows)]
            return [self.v4_stream(int(size or 64), flows)]
        raise ValueError("direction must be v6, v4 or both")


def register():
    return Xlat64Siit()
