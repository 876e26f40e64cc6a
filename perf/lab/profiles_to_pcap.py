#!/usr/bin/env python3
"""Turns the hardware-lab traffic profiles into capture files, so that CI can check them without TRex or pktgen.

    profiles_to_pcap.py trex PROFILE.py OUT.pcap COUNT [PORT_ID] [name=value ...]
    profiles_to_pcap.py pktgen OUT.pcap COUNT < (DRY_RUN=1 perf/pktgen/xlat64.sh output)

trex: loads the STL profile against a stand-in for `trex_stl_lib.api` (scapy for the packets, recorders for
streams and field-engine instructions), calls `register().get_streams(**tunables, port_id=PORT_ID)` and
writes, per stream, the first COUNT packets the field engine would produce ("inc" variables stepping once per
packet, writes at "Layer.field" offsets plus offset_fixup, checksums fixed).

pktgen: reads the "FILE: COMMAND" lines of the script's dry run and writes the first COUNT packets of each
device (sizes without FCS, addresses, UDP ports incrementing from min to max as pktgen does without the
*_RND flags, UDP checksum).

Either way the packets are Ethernet frames without FCS, in a LINKTYPE_ETHERNET pcap: what `xlat64 translate`
(control/tests/lab_profiles.rs) runs through the appliance's pipeline.
"""

import importlib.util
import ipaddress
import sys
import types

from scapy.layers.inet import IP, UDP  # noqa: F401 (re-exported to the profiles)
from scapy.layers.inet6 import IPv6  # noqa: F401
from scapy.layers.l2 import Ether as ScapyEther
from scapy.packet import Raw
from scapy.utils import wrpcap

# The generator's and the appliance's MACs on the lab link. TRex fills them in from its port configuration;
# scapy, left to itself, would resolve the IP destination with ARP/ND on this machine's interfaces, which
# must never happen here (and would stall for seconds).
GENERATOR_MAC = "02:00:00:00:00:01"
APPLIANCE_MAC = "02:00:00:00:64:64"


def Ether(*args, **fields):  # noqa: N802 (scapy's name, as the profiles use it)
    if not args:
        fields.setdefault("src", GENERATOR_MAC)
        fields.setdefault("dst", APPLIANCE_MAC)
    return ScapyEther(*args, **fields)


# Byte offsets of the fields the profiles write, from the start of their layer.
FIELD_OFFSETS = {
    "IP.src": 12,
    "IP.dst": 16,
    "IPv6.src": 8,
    "IPv6.dst": 24,
    "UDP.sport": 0,
    "UDP.dport": 2,
}


class Var:
    def __init__(self, name, min_value, max_value, size, op, step=1, init_value=None):
        if op != "inc":
            raise ValueError("only op='inc' is modelled (variable %s has %r)" % (name, op))
        if size not in (1, 2, 4, 8) or max_value >= 1 << (8 * size) or min_value > max_value:
            raise ValueError("variable %s: bad size or range" % name)
        self.name, self.lo, self.hi, self.size, self.step = name, min_value, max_value, size, step
        self.start = min_value if init_value is None else init_value

    def value(self, k):
        span = self.hi - self.lo + 1
        return self.lo + (self.start - self.lo + k * self.step) % span


class STLVM:
    def __init__(self):
        self.vars, self.writes, self.fix = {}, [], False

    def var(self, name, min_value, max_value, size, op, step=1, init_value=None, **_):
        self.vars[name] = Var(name, min_value, max_value, size, op, step, init_value)

    def write(self, fv_name, pkt_offset, offset_fixup=0, **_):
        if fv_name not in self.vars:
            raise KeyError("write of undefined variable %s" % fv_name)
        self.writes.append((fv_name, pkt_offset, offset_fixup))

    def fix_chksum(self, **_):
        self.fix = True

    def fix_chksum_hw(self, l3_offset, l4_offset, l4_type, **_):
        self.fix = True


class STLPktBuilder:
    def __init__(self, pkt, vm=None):
        self.pkt, self.vm = pkt, vm


class STLStream:
    def __init__(self, packet, mode=None, **_):
        self.packet, self.mode = packet, mode


class STLTXCont:
    def __init__(self, **_):
        pass


class STLProfile:
    def __init__(self, streams):
        self.streams = streams


def layer_offset(pkt, name):
    layer = pkt.getlayer(name)
    if layer is None:
        raise KeyError("no %s layer in %s" % (name, pkt.summary()))
    return len(bytes(pkt)) - len(bytes(layer))


def recompute_checksums(frame):
    pkt = Ether(frame)
    for name in ("IP", "UDP"):
        if pkt.haslayer(name):
            del pkt[name].chksum
    return bytes(pkt)


def trex_packets(builder, count):
    base = bytearray(bytes(builder.pkt))
    vm = builder.vm or STLVM()
    out = []
    for k in range(count):
        frame = bytearray(base)
        for fv_name, where, fixup in vm.writes:
            var = vm.vars[fv_name]
            layer, _, field = where.partition(".")
            at = layer_offset(builder.pkt, layer) + FIELD_OFFSETS[where] + fixup
            frame[at : at + var.size] = var.value(k).to_bytes(var.size, "big")
        out.append(recompute_checksums(bytes(frame)) if vm.fix else bytes(frame))
    return out


def load_trex_profile(path):
    api = types.ModuleType("trex_stl_lib.api")
    for name in ("STLProfile", "STLStream", "STLPktBuilder", "STLTXCont", "STLVM"):
        setattr(api, name, globals()[name])
    for name in ("Ether", "IP", "IPv6", "UDP", "Raw"):
        setattr(api, name, globals()[name])
    pkg = types.ModuleType("trex_stl_lib")
    pkg.api = api
    sys.modules["trex_stl_lib"], sys.modules["trex_stl_lib.api"] = pkg, api
    spec = importlib.util.spec_from_file_location("lab_profile", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.register()


def trex(path, out, count, port_id, tunables):
    streams = load_trex_profile(path).get_streams(port_id=port_id, **tunables)
    packets = [p for s in streams for p in trex_packets(s.packet, count)]
    wrpcap(out, [Ether(p) for p in packets])


def pktgen_devices(lines):
    devices = {}
    for line in lines:
        dev, sep, command = line.strip().partition(": ")
        if not sep or "@" not in dev:
            continue  # pgctrl and kpktgend_N commands
        key, _, value = command.partition(" ")
        devices.setdefault(dev, {})[key] = value
    return devices


def pktgen_packets(d, count):
    size = int(d["pkt_size"])
    sports = range(int(d["udp_src_min"]), int(d["udp_src_max"]) + 1)
    dports = range(int(d["udp_dst_min"]), int(d["udp_dst_max"]) + 1)
    out = []
    for k in range(count):
        if "src6" in d:
            net = IPv6(src=d["src6"], dst=d["dst6"], hlim=32)
        else:
            lo = int(ipaddress.IPv4Address(d["src_min"]))
            hi = int(ipaddress.IPv4Address(d["src_max"]))
            src = str(ipaddress.IPv4Address(lo + k % (hi - lo + 1)))
            net = IP(src=src, dst=d["dst"], ttl=32, tos=int(d.get("tos", "0"), 16))
        pkt = Ether(dst=d["dst_mac"], src=GENERATOR_MAC) / net / UDP(sport=sports[k % len(sports)], dport=dports[k % len(dports)])
        pkt = pkt / Raw(b"\0" * max(0, size - len(pkt)))
        out.append(pkt)
    return out


def pktgen(out, count, lines):
    devices = pktgen_devices(lines)
    if not devices:
        raise SystemExit("pktgen: no device commands on stdin (run the script with DRY_RUN=1)")
    wrpcap(out, [p for d in devices.values() for p in pktgen_packets(d, count)])


def main(argv):
    if len(argv) >= 4 and argv[0] == "trex":
        rest = argv[4:]
        port_id = int(rest.pop(0)) if rest and "=" not in rest[0] else 0
        tunables = dict(a.split("=", 1) for a in rest)
        trex(argv[1], argv[2], int(argv[3]), port_id, tunables)
    elif len(argv) == 3 and argv[0] == "pktgen":
        pktgen(argv[1], int(argv[2]), sys.stdin.read().splitlines())
    else:
        raise SystemExit(__doc__)


if __name__ == "__main__":
    main(sys.argv[1:])
