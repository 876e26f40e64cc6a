#!/usr/bin/env python3
"""Golden pcap pairs for xlat64 (RFC 7915 SIIT), written from the RFC text, independently of the translator.

Run:  python3 dataplane/tests/golden/gen.py          (needs scapy: pip install scapy)
It rewrites every case directory next to this file:

    <case>/config.toml    the translator configuration (schema: specs/config.md)
    <case>/input.pcap     packets fed to the translator, in order
    <case>/expected.pcap  every packet the translator must emit, in order
    <case>/README.md      each input packet, its expected fate and the RFC rule behind it

Packets are built here field by field with small explicit builders (struct.pack), each field set from the RFC
rule cited next to it. scapy then re-parses every generated packet and recomputes its checksums as an
independent cross-check (see `scapy_crosscheck`), and writes the captures (LINKTYPE_RAW = 101, or
LINKTYPE_ETHERNET = 1 for the VLAN case). The output is deterministic: running this twice gives identical files.

Conventions the Rust harness (dataplane/tests/golden.rs) applies are described in README.md next to this file
(fields the RFCs leave to the implementation are not compared).
"""

import ipaddress
import logging
import os
import shutil
import socket
import struct
import sys

from scapy.all import IP, IPv6, Ether, Raw, rdpcap, wrpcap  # noqa: F401  (scapy is the pcap writer + cross-check)

HERE = os.path.dirname(os.path.abspath(__file__))
logging.getLogger("scapy.runtime").setLevel(logging.ERROR)  # wrpcap warns about Raw packets' link type

# ------------------------------------------------------------------------------------------------------------
# Checksums (RFC 1071)
# ------------------------------------------------------------------------------------------------------------


def ones_sum(data: bytes) -> int:
    """One's-complement 16-bit sum, folded, not inverted."""
    if len(data) % 2:
        data += b"\0"
    s = sum(struct.unpack("!%dH" % (len(data) // 2), data))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return s


def inet_checksum(data: bytes) -> int:
    return (~ones_sum(data)) & 0xFFFF


def a4(s: str) -> bytes:
    return socket.inet_pton(socket.AF_INET, s)


def a6(s: str) -> bytes:
    return socket.inet_pton(socket.AF_INET6, s)


def pseudo4(src: str, dst: str, proto: int, length: int) -> bytes:
    return a4(src) + a4(dst) + struct.pack("!BBH", 0, proto, length)


def pseudo6(src: str, dst: str, nh: int, length: int) -> bytes:
    return a6(src) + a6(dst) + struct.pack("!I3xB", length, nh)


# ------------------------------------------------------------------------------------------------------------
# Address mapping, implemented here from the RFC text (not from our translator)
# ------------------------------------------------------------------------------------------------------------


def rfc6052_embed(prefix: str, v4: str) -> str:
    """RFC 6052 §2.2: IPv4-embedded IPv6 address. Bits 64..71 (u) are zero; the IPv4 bits that would fall on
    them continue after them; the suffix is zero."""
    net = ipaddress.IPv6Network(prefix)
    plen = net.prefixlen
    assert plen in (32, 40, 48, 56, 64, 96)
    out = bytearray(net.network_address.packed)
    v4b = a4(v4)
    pos = plen // 8  # byte position where the IPv4 address starts
    for b in v4b:
        if pos == 8:  # skip the u-octet (bits 64..71)
            pos += 1
        out[pos] = b
        pos += 1
    return str(ipaddress.IPv6Address(bytes(out)))


def eam_4to6(v4prefix: str, v6prefix: str, addr: str) -> str:
    """RFC 7757 §3.2: the IPv4 suffix bits (after the IPv4 prefix) are copied, in order, to the bits right
    after the IPv6 prefix; any IPv6 bits after them are zero."""
    p4 = ipaddress.IPv4Network(v4prefix)
    p6 = ipaddress.IPv6Network(v6prefix)
    s4 = 32 - p4.prefixlen
    assert s4 <= 128 - p6.prefixlen, "RFC 7757 §3.2: IPv4 suffix must not be longer than the IPv6 suffix"
    a = int(ipaddress.IPv4Address(addr))
    assert ipaddress.IPv4Address(addr) in p4
    suffix = a & ((1 << s4) - 1)
    v6 = int(p6.network_address) | (suffix << (128 - p6.prefixlen - s4))
    return str(ipaddress.IPv6Address(v6))


# RFC 6052 §2.4 examples, as a self-test of rfc6052_embed.
for _p, _want in [
    ("2001:db8::/32", "2001:db8:c000:221::"),
    ("2001:db8:100::/40", "2001:db8:1c0:2:21::"),
    ("2001:db8:122::/48", "2001:db8:122:c000:2:2100::"),
    ("2001:db8:122:300::/56", "2001:db8:122:3c0:0:221::"),
    ("2001:db8:122:344::/64", "2001:db8:122:344:c0:2:2100:0"),
    ("2001:db8:122:344::/96", "2001:db8:122:344::c000:221"),
]:
    assert rfc6052_embed(_p, "192.0.2.33") == str(ipaddress.IPv6Address(_want)), (_p, rfc6052_embed(_p, "192.0.2.33"))

# ------------------------------------------------------------------------------------------------------------
# Header builders
# ------------------------------------------------------------------------------------------------------------

PROTO_ICMP, PROTO_TCP, PROTO_UDP, PROTO_ICMPV6 = 1, 6, 17, 58
NH_HOPOPTS, NH_ROUTING, NH_FRAGMENT, NH_DSTOPTS = 0, 43, 44, 60


def ipv4(src, dst, proto, payload, *, ttl=64, tos=0, ident=0, df=False, mf=False, frag_offset=0, options=b"",
         total_length=None):
    """IPv4 header (RFC 791) + payload. frag_offset in bytes (multiple of 8)."""
    assert len(options) % 4 == 0 and frag_offset % 8 == 0
    ihl = 5 + len(options) // 4
    tl = total_length if total_length is not None else ihl * 4 + len(payload)
    flags = (0x4000 if df else 0) | (0x2000 if mf else 0) | (frag_offset // 8)
    hdr = struct.pack("!BBHHHBBH4s4s", 0x40 | ihl, tos, tl, ident, flags, ttl, proto, 0, a4(src), a4(dst)) + options
    csum = inet_checksum(hdr)
    hdr = hdr[:10] + struct.pack("!H", csum) + hdr[12:]
    return hdr + payload


def ipv6(src, dst, nh, payload, *, hlim=64, tc=0, flow=0, payload_length=None):
    """IPv6 header (RFC 8200) + payload (extension headers included in payload)."""
    pl = payload_length if payload_length is not None else len(payload)
    first = (6 << 28) | (tc << 20) | flow
    return struct.pack("!IHBB16s16s", first, pl, nh, hlim, a6(src), a6(dst)) + payload


def frag_hdr(nh, offset, more, ident):
    """IPv6 Fragment Header (RFC 8200 §4.5). offset in bytes (multiple of 8)."""
    assert offset % 8 == 0
    return struct.pack("!BBHI", nh, 0, (offset // 8) << 3 | (1 if more else 0), ident)


def hbh_hdr(nh):
    """Hop-by-Hop Options header, 8 bytes, one PadN option."""
    return struct.pack("!BB", nh, 0) + bytes([1, 4, 0, 0, 0, 0])


def dstopts_hdr(nh):
    """Destination Options header, 8 bytes, one PadN option."""
    return struct.pack("!BB", nh, 0) + bytes([1, 4, 0, 0, 0, 0])


def routing_hdr(nh, segments_left, segments):
    """Routing header, type 4 (Segment Routing Header, RFC 8754): nh, len, type, segments left, last entry,
    flags, tag, segment list."""
    body = b"".join(a6(s) for s in segments)
    return struct.pack("!BBBBBBH", nh, 2 * len(segments), 4, segments_left, len(segments) - 1, 0, 0) + body


def udp(sport, dport, data, pseudo=None, checksum=None):
    """UDP (RFC 768). checksum: None = computed over `pseudo` (0 sent as 0xffff), else the given value."""
    length = 8 + len(data)
    seg = struct.pack("!HHHH", sport, dport, length, 0) + data
    if checksum is None:
        checksum = inet_checksum(pseudo + seg) or 0xFFFF
    return seg[:6] + struct.pack("!H", checksum) + seg[8:]


def tcp(sport, dport, seq, ack, flags, window, data, pseudo):
    """TCP (RFC 9293), 20-byte header, no options."""
    seg = struct.pack("!HHIIBBHHH", sport, dport, seq, ack, 5 << 4, flags, window, 0, 0) + data
    csum = inet_checksum(pseudo + seg)
    return seg[:16] + struct.pack("!H", csum) + seg[18:]


def icmp4(typ, code, rest, body):
    """ICMPv4 (RFC 792): type, code, checksum over the whole message, 4 bytes `rest`, body."""
    assert len(rest) == 4
    msg = struct.pack("!BBH", typ, code, 0) + rest + body
    return msg[:2] + struct.pack("!H", inet_checksum(msg)) + msg[4:]


def icmp6(typ, code, rest, body, src, dst):
    """ICMPv6 (RFC 4443): checksum includes the IPv6 pseudo-header."""
    assert len(rest) == 4
    msg = struct.pack("!BBH", typ, code, 0) + rest + body
    csum = inet_checksum(pseudo6(src, dst, PROTO_ICMPV6, len(msg)) + msg)
    return msg[:2] + struct.pack("!H", csum) + msg[4:]


def u32(v):
    return struct.pack("!I", v)


def echo_rest(ident, seq):
    return struct.pack("!HH", ident, seq)


def mtu_rest4(mtu):
    """ICMPv4 Destination Unreachable code 4: unused(16) + Next-Hop MTU(16) (RFC 1191)."""
    return struct.pack("!HH", 0, mtu)


def ptr_rest4(ptr):
    """ICMPv4 Parameter Problem: pointer(8) + unused(24)."""
    return struct.pack("!B3x", ptr)


def payload(n, seed=0):
    """Deterministic payload bytes."""
    return bytes((seed + 7 * i + 3) & 0xFF for i in range(n))


# Complete transport datagrams as both families see them (same bytes except the checksum, which covers the
# family's pseudo-header: RFC 7915 §4.5 / §5.5).

def udp4_pkt(src, dst, sport, dport, data, *, ttl=64, tos=0, ident=0, df=True, mf=False, checksum=None, options=b""):
    seg = udp(sport, dport, data, pseudo4(src, dst, PROTO_UDP, 8 + len(data)), checksum)
    return ipv4(src, dst, PROTO_UDP, seg, ttl=ttl, tos=tos, ident=ident, df=df, mf=mf, options=options)


def udp6_pkt(src, dst, sport, dport, data, *, hlim=64, tc=0, flow=0, checksum=None):
    seg = udp(sport, dport, data, pseudo6(src, dst, PROTO_UDP, 8 + len(data)), checksum)
    return ipv6(src, dst, PROTO_UDP, seg, hlim=hlim, tc=tc, flow=flow)


def tcp4_pkt(src, dst, sport, dport, data, *, ttl=64, tos=0, ident=0, df=True, seq=1000, ack=2000, flags=0x18):
    seg = tcp(sport, dport, seq, ack, flags, 8192, data, pseudo4(src, dst, PROTO_TCP, 20 + len(data)))
    return ipv4(src, dst, PROTO_TCP, seg, ttl=ttl, tos=tos, ident=ident, df=df)


def tcp6_pkt(src, dst, sport, dport, data, *, hlim=64, tc=0, flow=0, seq=1000, ack=2000, flags=0x18):
    seg = tcp(sport, dport, seq, ack, flags, 8192, data, pseudo6(src, dst, PROTO_TCP, 20 + len(data)))
    return ipv6(src, dst, PROTO_TCP, seg, hlim=hlim, tc=tc, flow=flow)


# ------------------------------------------------------------------------------------------------------------
# Addresses used by most cases: documentation prefixes, network-specific pool6 (RFC 6052 §3.1 forbids the
# well-known prefix with these non-global IPv4 addresses).
# ------------------------------------------------------------------------------------------------------------

POOL6 = "2001:db8:64::/96"
OWN4 = "192.0.2.1"  # own_ipv4: source of ICMPv4 errors the translator originates
OWN6 = "2001:db8:ffff::1"  # own_ipv6: source of ICMPv6 errors the translator originates


def m46(v4):
    """RFC 6052 mapping with the default pool6 of most cases."""
    return rfc6052_embed(POOL6, v4)


H6_4 = "192.0.2.33"  # IPv6 host, IPv4-translatable address (RFC 6052) ...
H6 = m46(H6_4)  # ... 2001:db8:64::c000:221
H4 = "198.51.100.7"  # IPv4 host ...
H4_6 = m46(H4)  # ... as the IPv6 side sees it: 2001:db8:64::c633:6407
R4 = "203.0.113.1"  # IPv4 router that sends ICMPv4 errors
R4_6 = m46(R4)
R6_4 = "192.0.2.254"
R6 = m46(R6_4)  # IPv6 router that sends ICMPv6 errors (IPv4-translatable address)

BASE_TENANT = f'''[[tenants]]
name = "golden"
id = 1
pool6 = "{POOL6}"
own_ipv4 = "{OWN4}"
own_ipv6 = "{OWN6}"
'''

# ------------------------------------------------------------------------------------------------------------
# Case bookkeeping
# ------------------------------------------------------------------------------------------------------------

FATES = ("translated", "icmp_error", "dropped")


class Case:
    def __init__(self, name, title, rfc, config, *, linktype=101, notes=()):
        self.name, self.title, self.rfc, self.config = name, title, rfc, config
        self.linktype = linktype
        self.notes = list(notes)
        self.items = []  # (input bytes, [expected bytes], fate, reason, description, rule)

    def add(self, inp, expected, fate, reason, desc, rule):
        """One input packet. `expected`: list of packets the translator emits for it (in order).
        fate: translated | icmp_error | dropped; reason: a DropReason label (dataplane/src/stats.rs) or None."""
        assert fate in FATES
        if fate == "translated":
            assert reason is None and expected
        elif fate == "icmp_error":
            assert reason and len(expected) == 1
        else:
            assert reason and not expected
        self.items.append((inp, list(expected), fate, reason, desc, rule))


CASES = []


def case(*args, **kw):
    c = Case(*args, **kw)
    CASES.append(c)
    return c


# ============================================================================================================
# RFC 7915 §4.1: IPv4 header -> IPv6 header
# ============================================================================================================

c = case("v4_to_v6_header", "IPv4 → IPv6 header translation", "RFC 7915 §4.1, §4.5", BASE_TENANT)

# p1. UDP, DF=1, TOS 0xb8 (DSCP EF), TTL 64.
# §4.1: Version 6; Traffic Class = IPv4 TOS; Flow Label 0; Payload Length = Total Length - IHL*4; Next Header =
# Protocol; Hop Limit = TTL - 1 (the translator is a router); addresses mapped (RFC 6052). DF=1 and not a
# fragment -> no Fragment Header (§4: "an IPv6 Fragment Header is only included if the IPv4 packet is already
# fragmented"). §4.5: UDP checksum recomputed for the IPv6 pseudo-header.
data = payload(21, 1)  # odd length: checksum padding
c.add(udp4_pkt(H4, H6_4, 40000, 53, data, ttl=64, tos=0xB8, ident=0x1234, df=True),
      [udp6_pkt(H4_6, H6, 40000, 53, data, hlim=63, tc=0xB8, flow=0)],
      "translated", None, "UDP, DF=1, TOS 0xb8, TTL 64, ID 0x1234",
      "§4.1: TC=TOS, flow 0, hop limit 63, no Fragment Header; §4.5 checksum")

# p2. TCP, DF=0, small, TOS 0x02 (ECN ECT(0)), TTL 2.
# §4: "When the IPv4 sender does not set the DF bit, the translator MUST NOT include the Fragment Header for the
# non-fragmented IPv6 packets." (the packet is below lowest_ipv6_mtu, so it is not fragmented either).
data = payload(30, 2)
c.add(tcp4_pkt(H4, H6_4, 40001, 443, data, ttl=2, tos=0x02, ident=0x2222, df=False),
      [tcp6_pkt(H4_6, H6, 40001, 443, data, hlim=1, tc=0x02)],
      "translated", None, "TCP, DF=0 (small), TOS 0x02, TTL 2",
      "§4: DF=0 non-fragmented -> no Fragment Header; hop limit 1")

# p3. IPv4 options (Record Route + End of Options): §4.1 "If IPv4 options are present in the IPv4 packet, they
# are ignored (i.e., there is no attempt to translate the options)". Payload Length excludes them.
rr = bytes([7, 7, 4, 0, 0, 0, 0, 0])  # Record Route, one empty slot, then End of Options
data = payload(12, 3)
c.add(udp4_pkt(H4, H6_4, 40002, 7, data, ttl=64, options=rr),
      [udp6_pkt(H4_6, H6, 40002, 7, data, hlim=63)],
      "translated", None, "UDP with IPv4 options (Record Route), IHL 7",
      "§4.1: options ignored; Payload Length = Total Length - IHL*4")

# p4. Unknown transport protocol 253 (RFC 3692 experimentation): §4.5 "translators MUST forward all transport
# protocols as described in the 'Next Header' step of Section 4.1"; payload copied unchanged.
data = payload(16, 4)
c.add(ipv4(H4, H6_4, 253, data, ttl=64, df=True),
      [ipv6(H4_6, H6, 253, data, hlim=63)],
      "translated", None, "protocol 253, 16 bytes of payload", "§4.5: all transport protocols forwarded; payload unchanged")

# p5. Unexpired Loose Source Route option: §4.1 "If an IPv4 packet is received with an unexpired source route
# option ... the packet MUST be dropped, and the translator MUST send an ICMPv4 'destination unreachable, source
# route failed' (Type 3, Code 5) error message to the source address." Sent from own_ipv4, quoting the whole
# original datagram (RFC 1812 §4.3.2.3: as much as fits in 576 bytes).
lsrr = bytes([131, 11, 4]) + a4("198.51.100.200") + a4(H6_4) + bytes([0])  # ptr 4 <= len 11: unexpired
data = payload(8, 5)
inp = udp4_pkt(H4, H6_4, 40003, 9, data, ttl=64, options=lsrr)
c.add(inp, [ipv4(OWN4, H4, PROTO_ICMP, icmp4(3, 5, u32(0), inp), ttl=64)],
      "icmp_error", "ipv4_source_route", "UDP with an unexpired LSRR option",
      "§4.1: ICMPv4 3/5 (source route failed) from own_ipv4, original quoted")

# ============================================================================================================
# RFC 7915 §4.1: IPv4 fragments, DF and lowest-ipv6-mtu
# ============================================================================================================

c = case("v4_to_v6_fragments", "IPv4 fragments, DF and the IPv6 MTU", "RFC 7915 §4, §4.1",
         BASE_TENANT + "\n[tenants.options]\nlowest_ipv6_mtu = 1280\nipv6_mtu = 1500\n",
         notes=[
             "Packet 3 (DF=0, larger than lowest_ipv6_mtu): §4.1 says the packet SHOULD be fragmented so that every "
             "IPv6 fragment is at most lowest_ipv6_mtu (1280) bytes, \"the resulting fragments are then translated "
             "independently\". Choice: greedy split, every fragment but the last carries the largest multiple of "
             "8 bytes that fits (1280 - 40 - 8 = 1232 bytes of IPv4 payload), the Identification comes from the "
             "IPv4 ID (high 16 bits zero), exactly as if an IPv4 router had fragmented the packet first.",
             "Packet 5 (DF=1, too big): the Next-Hop MTU in the Fragmentation Needed message is ipv6_mtu - 20 "
             "(1480, the IPv4 packet size that fits). The quoted datagram is cut so that the ICMPv4 message is "
             "576 bytes (RFC 1812 §4.3.2.3: as much of the original as possible without exceeding 576).",
         ])

# p1, p2: an IPv4 UDP datagram already fragmented by the sender (ID 0xabcd). §4.1 Fragment Header: Next Header =
# Protocol; Fragment Offset = IPv4 offset; M = MF; Identification: low 16 bits = IPv4 ID, high 16 bits zero.
# IPv6 Payload Length = Total Length - IHL*4 + 8; IPv6 Next Header = 44. The UDP checksum (in the first
# fragment) is updated for the pseudo-header change: it covers the whole datagram.
data = payload(40, 6)
seg4 = udp(40004, 5000, data, pseudo4(H4, H6_4, PROTO_UDP, 48))
seg6 = udp(40004, 5000, data, pseudo6(H4_6, H6, PROTO_UDP, 48))
c.add(ipv4(H4, H6_4, PROTO_UDP, seg4[:24], ttl=64, ident=0xABCD, mf=True, frag_offset=0),
      [ipv6(H4_6, H6, NH_FRAGMENT, frag_hdr(PROTO_UDP, 0, True, 0x0000ABCD) + seg6[:24], hlim=63)],
      "translated", None, "UDP first fragment (MF=1, offset 0, ID 0xabcd), 24 bytes",
      "§4.1: Fragment Header, ident 0x0000abcd, M=1, offset 0; UDP checksum of the whole datagram")
c.add(ipv4(H4, H6_4, PROTO_UDP, seg4[24:], ttl=64, ident=0xABCD, mf=False, frag_offset=24),
      [ipv6(H4_6, H6, NH_FRAGMENT, frag_hdr(PROTO_UDP, 24, False, 0x0000ABCD) + seg6[24:], hlim=63)],
      "translated", None, "UDP last fragment (MF=0, offset 24, ID 0xabcd)",
      "§4.1: Fragment Header, offset 24, M=0; payload unchanged")

# p3: DF=0, 1400 bytes: the IPv6 packet would be 1420 > lowest_ipv6_mtu -> fragments of <= 1280 bytes.
data = payload(1372, 7)
seg4 = udp(40005, 5001, data, pseudo4(H4, H6_4, PROTO_UDP, 1380))
seg6 = udp(40005, 5001, data, pseudo6(H4_6, H6, PROTO_UDP, 1380))
assert len(seg4) == 1380
c.add(ipv4(H4, H6_4, PROTO_UDP, seg4, ttl=64, ident=0x4242, df=False),
      [ipv6(H4_6, H6, NH_FRAGMENT, frag_hdr(PROTO_UDP, 0, True, 0x4242) + seg6[:1232], hlim=63),
       ipv6(H4_6, H6, NH_FRAGMENT, frag_hdr(PROTO_UDP, 1232, False, 0x4242) + seg6[1232:], hlim=63)],
      "translated", None, "UDP, DF=0, total length 1400 (> lowest_ipv6_mtu once translated), ID 0x4242",
      "§4.1: fragmented to lowest_ipv6_mtu: 1280 + 196 bytes")

# p4: DF=0, 1260 bytes: the IPv6 packet is exactly 1280 = lowest_ipv6_mtu -> not fragmented, no Fragment Header.
data = payload(1232, 8)
c.add(udp4_pkt(H4, H6_4, 40006, 5002, data, ttl=64, ident=0x4343, df=False),
      [udp6_pkt(H4_6, H6, 40006, 5002, data, hlim=63)],
      "translated", None, "UDP, DF=0, total length 1260 (IPv6 packet exactly 1280)",
      "§4.1: not larger than lowest_ipv6_mtu -> no fragmentation, no Fragment Header")

# p5: DF=1, total length 1481: "If the DF bit is set and the MTU of the next-hop interface is less than the total
# length value of the IPv4 packet plus 20, the translator MUST send an ICMPv4 'Fragmentation Needed' error
# message to the IPv4 source address." ipv6_mtu 1500 < 1481 + 20.
data = payload(1453, 9)
inp = udp4_pkt(H4, H6_4, 40007, 5003, data, ttl=64, ident=0x4444, df=True)
assert len(inp) == 1481
c.add(inp, [ipv4(OWN4, H4, PROTO_ICMP, icmp4(3, 4, mtu_rest4(1480), inp[:548]), ttl=64)],
      "icmp_error", "packet_too_big", "UDP, DF=1, total length 1481 (IPv6 packet would be 1501 > ipv6_mtu)",
      "§4.1: ICMPv4 3/4, Next-Hop MTU 1480, from own_ipv4, 548 bytes quoted (576 total)")

# p6: DF=1, 1400 bytes: larger than lowest_ipv6_mtu once translated (1420), but it fits ipv6_mtu (1500) and DF=1
# packets are never fragmented by the translator: translated as is, no Fragment Header (§4: "an IPv6 Fragment
# Header is only included if the IPv4 packet is already fragmented").
data = payload(1372, 10)
c.add(udp4_pkt(H4, H6_4, 40008, 5004, data, ttl=64, ident=0x4545, df=True),
      [udp6_pkt(H4_6, H6, 40008, 5004, data, hlim=63)],
      "translated", None, "UDP, DF=1, total length 1400 (IPv6 packet 1420: above lowest_ipv6_mtu, within ipv6_mtu)",
      "§4: DF=1 -> no fragmentation, no Fragment Header")

# ============================================================================================================
# RFC 7915 §5.1: IPv6 header -> IPv4 header
# ============================================================================================================

c = case("v6_to_v4_header", "IPv6 → IPv4 header translation", "RFC 7915 §5.1, §5.5", BASE_TENANT, notes=[
    "Identification (§5.1: \"Set according to a Fragment Identification algorithm at the translator\"). "
    "Choice: 0 when DF=1 (an atomic datagram, RFC 6864 §4.1 lets its ID take any value). When DF=0 the ID must "
    "be unique per RFC 6864 and is the translator's own: the harness does not compare it (it copies the actual "
    "ID into the expected packet and recomputes the header checksum). Expected packets carry 0 there.",
    "Routing header with Segments Left 0 is a type 4 (SRH) header here; the translator must not look at the "
    "routing type, only at Segments Left.",
])

# p1. UDP, TC 0xb8, flow label 0x12345, hop limit 64.
# §5.1: Version 4; IHL 5; TOS = Traffic Class; Total Length = Payload Length + 20; Flags: MF 0, DF = 1 iff the
# translated packet is > 1260 bytes (here 61: DF=0); Fragment Offset 0; TTL = Hop Limit - 1; Protocol = Next
# Header; header checksum computed; addresses mapped (RFC 6052). §5.5: UDP checksum updated.
data = payload(33, 10)
c.add(udp6_pkt(H6, H4_6, 50000, 53, data, hlim=64, tc=0xB8, flow=0x12345),
      [udp4_pkt(H6_4, H4, 50000, 53, data, ttl=63, tos=0xB8, ident=0, df=False)],
      "translated", None, "UDP, TC 0xb8, flow label 0x12345, hop limit 64",
      "§5.1: TOS=TC, TTL 63, DF=0 (<= 1260), ID generated (not compared)")

# p2. TCP, IPv6 packet of 1281 bytes -> IPv4 packet of 1261 bytes > 1260 -> DF=1 (ID 0: our choice).
data = payload(1221, 11)
inp = tcp6_pkt(H6, H4_6, 50001, 443, data, hlim=64)
assert len(inp) == 1281
c.add(inp, [tcp4_pkt(H6_4, H4, 50001, 443, data, ttl=63, ident=0, df=True)],
      "translated", None, "TCP, 1281 bytes (IPv4 packet 1261 bytes)",
      "§5.1: DF=1 because 1261 > 1260; ID 0 (choice)")

# p3. UDP, IPv6 packet of 1280 bytes -> IPv4 packet of exactly 1260 bytes -> DF=0.
data = payload(1232, 12)
inp = udp6_pkt(H6, H4_6, 50002, 5000, data, hlim=64)
assert len(inp) == 1280
c.add(inp, [udp4_pkt(H6_4, H4, 50002, 5000, data, ttl=63, df=False)],
      "translated", None, "UDP, 1280 bytes (IPv4 packet exactly 1260 bytes)", "§5.1: DF=0 because 1260 <= 1260")

# p4. Hop-by-Hop, Destination Options and Routing (Segments Left 0) headers before UDP.
# §5.1 Protocol: "The IPv6 headers HOPOPT (0), IPv6-Route (43), and IPv6-Opts (60) are skipped over during
# processing as they have no meaning in IPv4." Total Length counts only what follows them.
data = payload(20, 13)
seg6 = udp(50003, 5001, data, pseudo6(H6, H4_6, PROTO_UDP, 28))
exts = hbh_hdr(NH_DSTOPTS) + dstopts_hdr(NH_ROUTING) + routing_hdr(PROTO_UDP, 0, [H4_6])
c.add(ipv6(H6, H4_6, NH_HOPOPTS, exts + seg6, hlim=64),
      [udp4_pkt(H6_4, H4, 50003, 5001, data, ttl=63, df=False)],
      "translated", None, "UDP after Hop-by-Hop, Destination Options, Routing (segments left 0)",
      "§5.1: extension headers skipped; Protocol 17; Total Length 48")

# p5. Routing header with Segments Left 1: §5.1 "If a Routing header with a non-zero Segments Left field is
# present, then the packet MUST NOT be translated, and an ICMPv6 'parameter problem/erroneous header field
# encountered' (Type 4, Code 0) error message, with the Pointer field indicating the first byte of the Segments
# Left field, SHOULD be returned to the sender." The routing header starts at offset 40: pointer 43.
seg6 = udp(50004, 5002, data, pseudo6(H6, H4_6, PROTO_UDP, 28))
inp = ipv6(H6, H4_6, NH_ROUTING, routing_hdr(PROTO_UDP, 1, [H4_6, R6]) + seg6, hlim=64)
c.add(inp, [ipv6(OWN6, H6, PROTO_ICMPV6, icmp6(4, 0, u32(43), inp, OWN6, H6), hlim=64)],
      "icmp_error", "ipv6_segments_left", "UDP after a Routing header with Segments Left 1",
      "§5.1: ICMPv6 4/0 pointer 43, from own_ipv6, original quoted")

# p6. Unknown transport protocol 253: copied (§5.5: all transport protocols forwarded).
data = payload(16, 14)
c.add(ipv6(H6, H4_6, 253, data, hlim=64), [ipv4(H6_4, H4, 253, data, ttl=63)],
      "translated", None, "next header 253, 16 bytes", "§5.1/§5.5: Protocol 253, payload unchanged")

c = case("v6_to_v4_too_big", "IPv6 packets too big for the IPv4 next hop", "RFC 7915 §1.4, §5.1; RFC 4443 §3.2",
         BASE_TENANT + "\n[tenants.options]\nipv4_mtu = 1400\n", notes=[
             "§1.4: \"the translator MUST behave as a router, i.e., the translator MUST send a Packet Too Big error "
             "message or fragment the packet when the packet size exceeds the MTU of the next-hop interface.\" The "
             "translated packet would have DF=1 (> 1260 bytes, §5.1), so it cannot be fragmented: ICMPv6 Packet Too "
             "Big from own_ipv6 with MTU = ipv4_mtu + 20 (the IPv6 packet size that fits), quoting as much of the "
             "packet as fits in 1280 bytes (RFC 4443 §2.4(c)).",
         ])
data = payload(1452, 45)
inp = udp6_pkt(H6, H4_6, 50005, 5003, data, hlim=64)
assert len(inp) == 1500
c.add(inp, [ipv6(OWN6, H6, PROTO_ICMPV6, icmp6(2, 0, u32(1420), inp[:1232], OWN6, H6), hlim=64)],
      "icmp_error", "packet_too_big", "UDP, 1500 bytes (IPv4 packet would be 1480 > ipv4_mtu 1400)",
      "§5.1: ICMPv6 2/0 MTU 1420 from own_ipv6, 1232 bytes quoted (1280 total)")
data = payload(1372, 46)
inp = udp6_pkt(H6, H4_6, 50006, 5004, data, hlim=64)
assert len(inp) == 1420
c.add(inp, [udp4_pkt(H6_4, H4, 50006, 5004, data, ttl=63, ident=0, df=True)],
      "translated", None, "UDP, 1420 bytes (IPv4 packet exactly 1400 = ipv4_mtu)", "§5.1: fits; DF=1, ID 0")

# ============================================================================================================
# RFC 7915 §5.1.1: IPv6 fragments -> IPv4 fragments
# ============================================================================================================

c = case("v6_to_v4_fragments", "IPv6 fragments → IPv4 fragments", "RFC 7915 §5.1.1", BASE_TENANT)

# §5.1.1: Total Length = Payload Length - 8 (and minus other extension headers) + 20; Identification = low-order
# 16 bits of the Fragment Header Identification; MF = M; DF = 0 ("allowing this packet to be further fragmented
# by IPv4 routers"); Fragment Offset copied; Protocol = the Fragment Header's Next Header.
data = payload(40, 15)
seg6 = udp(50010, 6000, data, pseudo6(H6, H4_6, PROTO_UDP, 48))
seg4 = udp(50010, 6000, data, pseudo4(H6_4, H4, PROTO_UDP, 48))
c.add(ipv6(H6, H4_6, NH_FRAGMENT, frag_hdr(PROTO_UDP, 0, True, 0x12345678) + seg6[:24], hlim=64),
      [ipv4(H6_4, H4, PROTO_UDP, seg4[:24], ttl=63, ident=0x5678, df=False, mf=True, frag_offset=0)],
      "translated", None, "UDP first fragment (M=1, offset 0, ident 0x12345678)",
      "§5.1.1: ID 0x5678, MF=1, DF=0; UDP checksum of the whole datagram")
c.add(ipv6(H6, H4_6, NH_FRAGMENT, frag_hdr(PROTO_UDP, 24, False, 0x12345678) + seg6[24:], hlim=64),
      [ipv4(H6_4, H4, PROTO_UDP, seg4[24:], ttl=63, ident=0x5678, df=False, mf=False, frag_offset=24)],
      "translated", None, "UDP last fragment (M=0, offset 24, ident 0x12345678)", "§5.1.1: ID 0x5678, MF=0, offset 24")

# Hop-by-Hop header before the Fragment Header: skipped (§5.1), the fragment translated as above.
data = payload(56, 16)
seg6 = udp(50011, 6001, data, pseudo6(H6, H4_6, PROTO_UDP, 64))
seg4 = udp(50011, 6001, data, pseudo4(H6_4, H4, PROTO_UDP, 64))
c.add(ipv6(H6, H4_6, NH_HOPOPTS, hbh_hdr(NH_FRAGMENT) + frag_hdr(PROTO_UDP, 0, True, 0xCAFEF00D) + seg6[:32],
           hlim=64),
      [ipv4(H6_4, H4, PROTO_UDP, seg4[:32], ttl=63, ident=0xF00D, df=False, mf=True, frag_offset=0)],
      "translated", None, "Hop-by-Hop + UDP first fragment (ident 0xcafef00d)",
      "§5.1 + §5.1.1: HBH skipped, ID 0xf00d, Total Length 52")
c.add(ipv6(H6, H4_6, NH_HOPOPTS, hbh_hdr(NH_FRAGMENT) + frag_hdr(PROTO_UDP, 32, False, 0xCAFEF00D) + seg6[32:],
           hlim=64),
      [ipv4(H6_4, H4, PROTO_UDP, seg4[32:], ttl=63, ident=0xF00D, df=False, mf=False, frag_offset=32)],
      "translated", None, "Hop-by-Hop + UDP last fragment (offset 32)", "§5.1.1: ID 0xf00d, offset 32")

# A middle fragment of a TCP segment (no transport header in it): only the IP layer changes.
data = payload(64, 17)
c.add(ipv6(H6, H4_6, NH_FRAGMENT, frag_hdr(PROTO_TCP, 1024, True, 0x00000007) + data, hlim=10),
      [ipv4(H6_4, H4, PROTO_TCP, data, ttl=9, ident=7, df=False, mf=True, frag_offset=1024)],
      "translated", None, "TCP middle fragment (offset 1024, M=1, ident 7), hop limit 10",
      "§5.1.1: ID 7, MF=1, offset 1024, payload unchanged")

# ============================================================================================================
# TTL / Hop Limit expiry (RFC 7915 §4.1 Hop Limit, §5.1 TTL)
# ============================================================================================================

c = case("ttl_expired", "TTL / Hop Limit expiry", "RFC 7915 §4.1, §5.1; RFC 792; RFC 4443 §3.3", BASE_TENANT, notes=[
    "§4.1/§5.1: \"As part of decrementing the TTL or Hop Limit, the translator (as any router) MUST check for zero "
    "and send the ICMPv4 'TTL Exceeded' or ICMPv6 'Hop Limit Exceeded' error.\" The error goes back on the side "
    "the packet came from, from own_ipv4 / own_ipv6, quoting the packet as received (RFC 1812 §4.3.2.3: up to 576 "
    "bytes; RFC 4443 §2.4(c): up to 1280 bytes).",
    "No ICMP error is sent about an ICMP error (RFC 1812 §4.3.2.7, RFC 4443 §2.4(e)): packet 4 is dropped.",
])

data = payload(10, 18)
inp = udp4_pkt(H4, H6_4, 40010, 33434, data, ttl=1)
c.add(inp, [ipv4(OWN4, H4, PROTO_ICMP, icmp4(11, 0, u32(0), inp), ttl=64)],
      "icmp_error", "ttl_expired", "IPv4 UDP, TTL 1", "§4.1: ICMPv4 11/0 from own_ipv4, original quoted (TTL 1)")

inp = udp6_pkt(H6, H4_6, 50020, 33434, data, hlim=1)
c.add(inp, [ipv6(OWN6, H6, PROTO_ICMPV6, icmp6(3, 0, u32(0), inp, OWN6, H6), hlim=64)],
      "icmp_error", "ttl_expired", "IPv6 UDP, hop limit 1", "§5.1: ICMPv6 3/0 from own_ipv6, original quoted")

c.add(udp4_pkt(H4, H6_4, 40011, 33435, data, ttl=2), [udp6_pkt(H4_6, H6, 40011, 33435, data, hlim=1)],
      "translated", None, "IPv4 UDP, TTL 2", "§4.1: hop limit 1 (still forwarded)")

# An ICMPv4 error (port unreachable) with TTL 1: expires, but no error about an error.
quoted = udp4_pkt(H6_4, H4, 50021, 53, payload(4, 19), ttl=60)
c.add(ipv4(H4, H6_4, PROTO_ICMP, icmp4(3, 3, u32(0), quoted), ttl=1), [],
      "dropped", "ttl_expired", "ICMPv4 port unreachable with TTL 1", "no ICMP error about an ICMP error")

c.add(udp6_pkt(H6, H4_6, 50022, 33436, data, hlim=2), [udp4_pkt(H6_4, H4, 50022, 33436, data, ttl=1, df=False)],
      "translated", None, "IPv6 UDP, hop limit 2", "§5.1: TTL 1 (still forwarded)")

# ============================================================================================================
# RFC 7915 §4.2 / §5.2: ICMP informational messages
# ============================================================================================================

c = case("icmp_echo", "ICMP echo both ways; untranslatable informational types", "RFC 7915 §4.2, §5.2", BASE_TENANT)

data = payload(24, 20)
# §4.2: "Echo and Echo Reply (Type 8 and Type 0): Adjust the Type values to 128 and 129, respectively, and adjust
# the ICMP checksum both to take the type change into account and to include the ICMPv6 pseudo-header."
c.add(ipv4(H4, H6_4, PROTO_ICMP, icmp4(8, 0, echo_rest(0x1234, 1), data), ttl=64),
      [ipv6(H4_6, H6, PROTO_ICMPV6, icmp6(128, 0, echo_rest(0x1234, 1), data, H4_6, H6), hlim=63)],
      "translated", None, "ICMPv4 echo request id 0x1234 seq 1", "§4.2: type 128, id/seq kept, checksum with pseudo-header")
c.add(ipv4(H4, H6_4, PROTO_ICMP, icmp4(0, 0, echo_rest(0x1234, 2), data), ttl=64),
      [ipv6(H4_6, H6, PROTO_ICMPV6, icmp6(129, 0, echo_rest(0x1234, 2), data, H4_6, H6), hlim=63)],
      "translated", None, "ICMPv4 echo reply id 0x1234 seq 2", "§4.2: type 129")
# §5.2: "Echo Request and Echo Reply (Type 128 and 129): Adjust the Type values to 8 and 0, respectively, and
# adjust the ICMP checksum both to take the type change into account and to exclude the ICMPv6 pseudo-header."
c.add(ipv6(H6, H4_6, PROTO_ICMPV6, icmp6(128, 0, echo_rest(0xBEEF, 7), data, H6, H4_6), hlim=64),
      [ipv4(H6_4, H4, PROTO_ICMP, icmp4(8, 0, echo_rest(0xBEEF, 7), data), ttl=63)],
      "translated", None, "ICMPv6 echo request id 0xbeef seq 7", "§5.2: type 8, checksum without pseudo-header")
c.add(ipv6(H6, H4_6, PROTO_ICMPV6, icmp6(129, 0, echo_rest(0xBEEF, 8), data, H6, H4_6), hlim=64),
      [ipv4(H6_4, H4, PROTO_ICMP, icmp4(0, 0, echo_rest(0xBEEF, 8), data), ttl=63)],
      "translated", None, "ICMPv6 echo reply id 0xbeef seq 8", "§5.2: type 0")
# §4.2: Timestamp (13/14), Information Request/Reply (15/16), Router Advertisement (9) -> "silently drop".
c.add(ipv4(H4, H6_4, PROTO_ICMP, icmp4(13, 0, echo_rest(1, 1), bytes(12)), ttl=64), [],
      "dropped", "icmp_untranslatable_type", "ICMPv4 timestamp request (13)", "§4.2: silently drop")
c.add(ipv4(H4, H6_4, PROTO_ICMP, icmp4(15, 0, echo_rest(1, 1), b""), ttl=64), [],
      "dropped", "icmp_untranslatable_type", "ICMPv4 information request (15)", "§4.2: silently drop")
c.add(ipv4(H4, H6_4, PROTO_ICMP, icmp4(9, 0, struct.pack("!BBH", 1, 2, 1800), a4(H4) + u32(0)), ttl=64), [],
      "dropped", "icmp_untranslatable_type", "ICMPv4 router advertisement (9)", "§4.2: single-hop, silently drop")
# §5.2: MLD (130-132) and ND (133-137): "Single-hop message. Silently drop." Hop limit 64 so that only the type
# rule applies.
c.add(ipv6(H6, H4_6, PROTO_ICMPV6, icmp6(130, 0, struct.pack("!HH", 1000, 0), bytes(16), H6, H4_6), hlim=64), [],
      "dropped", "icmp_untranslatable_type", "ICMPv6 MLD query (130)", "§5.2: silently drop")
c.add(ipv6(H6, H4_6, PROTO_ICMPV6, icmp6(135, 0, u32(0), a6(H4_6), H6, H4_6), hlim=64), [],
      "dropped", "icmp_untranslatable_type", "ICMPv6 neighbor solicitation (135)", "§5.2: silently drop")
c.add(ipv6(H6, H4_6, PROTO_ICMPV6, icmp6(200, 0, u32(0), data, H6, H4_6), hlim=64), [],
      "dropped", "icmp_untranslatable_type", "ICMPv6 type 200 (private experimentation)",
      "§5.2: unknown informational messages: silently drop")

# ============================================================================================================
# ICMPv4 errors -> ICMPv6 (RFC 7915 §4.2 tables, §4.3 inner packet)
# ============================================================================================================

# The quoted packet: what the IPv6 host H6 sent (as translated to IPv4): UDP 192.0.2.33 -> 198.51.100.7, TTL 61
# when the router saw it. Inner translation (§4.3): "translated just like a normal IP packet (except the TTL value
# of the inner IPv4/IPv6 packet)": addresses mapped, Payload Length from the inner Total Length, hop limit NOT
# decremented, UDP checksum updated for the inner pseudo-header (§4.5).
Q_DATA = payload(12, 21)
Q4 = udp4_pkt(H6_4, H4, 50030, 33434, Q_DATA, ttl=61, ident=0x0101, df=True)
Q6 = udp6_pkt(H6, H4_6, 50030, 33434, Q_DATA, hlim=61)


def err4(typ, code, rest4, quoted=Q4, ttl=60, src=R4, dst=H6_4):
    """An ICMPv4 error from an IPv4 router to the IPv6 host's IPv4 address."""
    return ipv4(src, dst, PROTO_ICMP, icmp4(typ, code, rest4, quoted), ttl=ttl)


def err4_as6(typ, code, rest6, quoted=Q6, hlim=59, src=R4_6, dst=H6):
    """The translated ICMPv6 error (§4.2: outer hop limit = TTL - 1, checksum with pseudo-header)."""
    return ipv6(src, dst, PROTO_ICMPV6, icmp6(typ, code, rest6, quoted, src, dst), hlim=hlim)


c = case("icmp4_dest_unreach", "ICMPv4 Destination Unreachable → ICMPv6", "RFC 7915 §4.2, §4.3", BASE_TENANT)
# §4.2 Destination Unreachable (Type 3): "Translate the Code as described below, set the Type to 1, and adjust the
# ICMP checksum both to take the type/code change into account and to include the ICMPv6 pseudo-header."
for code, v6, rule in [
    (0, (1, 0), "Code 0, 1 (Net Unreachable, Host Unreachable): Set the Code to 0 (No route to destination)"),
    (1, (1, 0), "Code 0, 1: Code 0"),
    (2, (4, 1, 6), "Code 2 (Protocol Unreachable): Parameter Problem (Type 4, Code 1), Pointer to Next Header (6)"),
    (3, (1, 4), "Code 3 (Port Unreachable): Set the Code to 4 (Port unreachable)"),
    (5, (1, 0), "Code 5 (Source Route Failed): Set the Code to 0"),
    (6, (1, 0), "Code 6, 7, 8: Set the Code to 0"),
    (7, (1, 0), "Code 6, 7, 8: Set the Code to 0"),
    (8, (1, 0), "Code 6, 7, 8: Set the Code to 0"),
    (9, (1, 1), "Code 9, 10 (administratively prohibited): Set the Code to 1"),
    (10, (1, 1), "Code 9, 10: Set the Code to 1"),
    (11, (1, 0), "Code 11, 12: Set the Code to 0"),
    (12, (1, 0), "Code 11, 12: Set the Code to 0"),
    (13, (1, 1), "Code 13 (Communication Administratively Prohibited): Set the Code to 1"),
    (14, None, "Code 14 (Host Precedence Violation): Silently drop"),
    (15, (1, 1), "Code 15 (Precedence cutoff in effect): Set the Code to 1"),
    (16, None, "Other Code values: Silently drop"),
]:
    inp = err4(3, code, u32(0))
    if v6 is None:
        c.add(inp, [], "dropped", "icmp_untranslatable_code", f"ICMPv4 3/{code}", "§4.2: " + rule)
    else:
        rest = u32(v6[2]) if len(v6) == 3 else u32(0)
        c.add(inp, [err4_as6(v6[0], v6[1], rest)], "translated", None, f"ICMPv4 3/{code} quoting UDP",
              f"§4.2: -> ICMPv6 {v6[0]}/{v6[1]}" + (f" pointer {v6[2]}" if len(v6) == 3 else "") + "; " + rule)

c = case("icmp4_time_exceeded_param_problem", "ICMPv4 Time Exceeded, Parameter Problem and other error types → ICMPv6",
         "RFC 7915 §4.2 (Figure 3), §4.3", BASE_TENANT)
# §4.2 Time Exceeded (Type 11): "Set the Type to 3, and adjust the ICMP checksum ...". Code unchanged.
for code in (0, 1):
    c.add(err4(11, code, u32(0)), [err4_as6(3, code, u32(0))], "translated", None, f"ICMPv4 11/{code}",
          f"§4.2: -> ICMPv6 3/{code}")
# §4.2 Parameter Problem (Type 12): Type 4; Code 0 (Pointer indicates the error) and Code 2 (Bad Length): Code 0
# and the pointer translated with Figure 3; "If the Original IPv4 Pointer Value is not listed or the Translated
# IPv6 Pointer Value is listed as 'n/a', silently drop the packet." Code 1 (Missing a required option): drop.
FIG3 = {0: 0, 1: 1, 2: 4, 3: 4, 4: None, 5: None, 6: None, 7: None, 8: 7, 9: 6, 10: None, 11: None,
        12: 8, 13: 8, 14: 8, 15: 8, 16: 24, 17: 24, 18: 24, 19: 24}
for ptr in (0, 1, 2, 3, 4, 8, 9, 10, 12, 15, 16, 19):
    new = FIG3[ptr]
    inp = err4(12, 0, ptr_rest4(ptr))
    if new is None:
        c.add(inp, [], "dropped", "icmp_untranslatable_pointer", f"ICMPv4 12/0 pointer {ptr}",
              "§4.2 Figure 3: n/a -> silently drop")
    else:
        c.add(inp, [err4_as6(4, 0, u32(new))], "translated", None, f"ICMPv4 12/0 pointer {ptr}",
              f"§4.2 Figure 3: -> ICMPv6 4/0 pointer {new}")
c.add(err4(12, 1, u32(0)), [], "dropped", "icmp_untranslatable_code", "ICMPv4 12/1 (missing a required option)",
      "§4.2: silently drop")
c.add(err4(12, 2, ptr_rest4(2)), [err4_as6(4, 0, u32(4))], "translated", None, "ICMPv4 12/2 (bad length) pointer 2",
      "§4.2: Code 2 -> ICMPv6 4/0, Figure 3 pointer 4")
# Other error types: Source Quench (4), Redirect (5), Alternative Host Address (6): "Silently drop".
c.add(err4(4, 0, u32(0)), [], "dropped", "icmp_untranslatable_type", "ICMPv4 source quench (4)",
      "§4.2: obsoleted, silently drop")
c.add(err4(5, 1, a4("198.51.100.254")), [], "dropped", "icmp_untranslatable_type", "ICMPv4 redirect (5)",
      "§4.2: single-hop, silently drop")
c.add(err4(6, 0, u32(0)), [], "dropped", "icmp_untranslatable_type", "ICMPv4 alternative host address (6)",
      "§4.2: silently drop")

# ============================================================================================================
# ICMPv6 errors -> ICMPv4 (RFC 7915 §5.2 tables, §5.3 inner packet)
# ============================================================================================================

# The quoted packet: what the IPv4 host sent, as translated to IPv6: UDP H4_6 -> H6, hop limit 62 when the IPv6
# router saw it. §5.3 inner translation: hop limit not decremented, inner TOS = TC, Total Length = Payload Length +
# 20, DF by the 1260 rule of §5.1 (small: DF=0, ID generated, not compared), UDP checksum updated.
P_DATA = payload(20, 22)
P6 = udp6_pkt(H4_6, H6, 40030, 33434, P_DATA, hlim=62)
P4 = udp4_pkt(H4, H6_4, 40030, 33434, P_DATA, ttl=62, ident=0, df=False)


def err6(typ, code, rest, quoted=P6, hlim=64, src=R6, dst=H4_6):
    """An ICMPv6 error from an IPv6 router to the IPv4 host's IPv6 address."""
    return ipv6(src, dst, PROTO_ICMPV6, icmp6(typ, code, rest, quoted, src, dst), hlim=hlim)


def err6_as4(typ, code, rest4, quoted=P4, ttl=63, src=R6_4, dst=H4):
    """The translated ICMPv4 error: TTL = hop limit - 1, DF=0 (small), ID generated (not compared)."""
    return ipv4(src, dst, PROTO_ICMP, icmp4(typ, code, rest4, quoted), ttl=ttl, df=False)


c = case("icmp6_dest_unreach_time_exceeded", "ICMPv6 Destination Unreachable, Time Exceeded, unknown types → ICMPv4",
         "RFC 7915 §5.2, §5.3", BASE_TENANT, notes=[
             "The IPv4 Identification of the outer and the inner IPv4 headers is the translator's (§5.1, DF=0): "
             "not compared.",
         ])
# §5.2 Destination Unreachable (Type 1): "Set the Type to 3, and adjust the ICMP checksum both to take the
# type/code change into account and to exclude the ICMPv6 pseudo-header."
for code, v4code, rule in [
    (0, 1, "Code 0 (No route to destination): Set the Code to 1 (Host unreachable)"),
    (1, 10, "Code 1 (Communication with destination administratively prohibited): Set the Code to 10"),
    (2, 1, "Code 2 (Beyond scope of source address): Set the Code to 1"),
    (3, 1, "Code 3 (Address unreachable): Set the Code to 1"),
    (4, 3, "Code 4 (Port unreachable): Set the Code to 3 (Port unreachable)"),
    (5, None, "Other Code values: Silently drop"),
    (6, None, "Other Code values: Silently drop"),
]:
    inp = err6(1, code, u32(0))
    if v4code is None:
        c.add(inp, [], "dropped", "icmp_untranslatable_code", f"ICMPv6 1/{code}", "§5.2: " + rule)
    else:
        c.add(inp, [err6_as4(3, v4code, u32(0))], "translated", None, f"ICMPv6 1/{code} quoting UDP",
              f"§5.2: -> ICMPv4 3/{v4code}; " + rule)
# §5.2 Time Exceeded (Type 3): "Set the Type to 11 ... The Code is unchanged."
for code in (0, 1):
    c.add(err6(3, code, u32(0)), [err6_as4(11, code, u32(0))], "translated", None, f"ICMPv6 3/{code}",
          f"§5.2: -> ICMPv4 11/{code}")
# §5.2: "Unknown error messages: Silently drop." (type 5 is unassigned; types 0..127 are errors, RFC 4443 §2.1)
c.add(err6(5, 0, u32(0)), [], "dropped", "icmp_untranslatable_type", "ICMPv6 error type 5 (unassigned)",
      "§5.2: unknown error messages: silently drop")

c = case("icmp6_param_problem", "ICMPv6 Parameter Problem → ICMPv4", "RFC 7915 §5.2 (Figure 6), §5.3", BASE_TENANT,
         notes=["The IPv4 Identification of the outer and inner IPv4 headers (DF=0) is not compared."])
# §5.2 Parameter Problem (Type 4): Code 0 (Erroneous header field encountered): Type 12, Code 0, pointer
# translated with Figure 6 ("If the Original IPv6 Pointer Value is not listed or the Translated IPv4 Pointer Value
# is listed as 'n/a', silently drop the packet"); Code 1 (Unrecognized Next Header type encountered): Type 3, Code 2
# (Protocol unreachable); Code 2 (Unrecognized IPv6 option encountered): silently drop.
FIG6 = {0: 0, 1: 1, 2: None, 3: None, 4: 2, 5: 2, 6: 9, 7: 8}
FIG6.update({p: 12 for p in range(8, 24)})
FIG6.update({p: 16 for p in range(24, 40)})
for ptr in (0, 1, 2, 3, 4, 5, 6, 7, 8, 23, 24, 39, 40):
    new = FIG6.get(ptr)
    inp = err6(4, 0, u32(ptr))
    if new is None:
        c.add(inp, [], "dropped", "icmp_untranslatable_pointer", f"ICMPv6 4/0 pointer {ptr}",
              "§5.2 Figure 6: not listed / n/a -> silently drop")
    else:
        c.add(inp, [err6_as4(12, 0, ptr_rest4(new))], "translated", None, f"ICMPv6 4/0 pointer {ptr}",
              f"§5.2 Figure 6: -> ICMPv4 12/0 pointer {new}")
c.add(err6(4, 1, u32(6)), [err6_as4(3, 2, u32(0))], "translated", None, "ICMPv6 4/1 pointer 6",
      "§5.2: Code 1 -> ICMPv4 3/2 (protocol unreachable)")
c.add(err6(4, 2, u32(40)), [], "dropped", "icmp_untranslatable_code", "ICMPv6 4/2 (unrecognized option)",
      "§5.2: silently drop")

# ============================================================================================================
# Fragmentation Needed <-> Packet Too Big: MTU adjustment (RFC 7915 §4.2, §5.2; RFC 1191 plateaus)
# ============================================================================================================

c = case("icmp_mtu", "Fragmentation Needed ↔ Packet Too Big MTU", "RFC 7915 §4.2, §5.2; RFC 1191 §7",
         BASE_TENANT + "\n[tenants.options]\nipv4_mtu = 1500\nipv6_mtu = 9000\n", notes=[
             "§4.2: MTU = minimum(advertised MTU + 20, MTU_of_IPv6_nexthop, MTU_of_IPv4_nexthop + 20), never below "
             "1280. MTU_of_IPv6_nexthop is the option ipv6_mtu (9000), MTU_of_IPv4_nexthop is ipv4_mtu (1500).",
             "§4.2, MTU field 0: \"the translator MUST use the plateau values specified in [RFC1191] to determine a "
             "likely path MTU ... (Use the greatest plateau value that is less than the returned Total Length field, "
             "but that is larger than or equal to 1280.)\" Choice: the plateau is a likely IPv4 path MTU, so it "
             "enters the formula above in place of the advertised MTU (+20, then the minimum and the 1280 floor): "
             "Total Length 1500 -> plateau 1492 -> 1512. With Total Length 1400 no plateau is >= 1280 (the next "
             "one is 1006): the floor gives 1280 under any reading.",
             "§5.2: MTU = minimum(advertised MTU - 20, MTU_of_IPv4_nexthop, MTU_of_IPv6_nexthop - 20).",
             "The inner IPv4 header of the translated Fragmentation Needed messages is > 1260 bytes long (its Total "
             "Length is the original's), so DF=1 and its Identification is 0 (the choice of case v6_to_v4_header).",
         ])


def big4(total, quote=60):
    """An IPv4 UDP packet H6_4 -> H4 of `total` bytes, DF=1, quoted truncated to `quote` bytes; and its
    IPv6 translation (Payload Length = total - 20) truncated to quote + 20 bytes."""
    data = payload(total - 28, 23)
    p4 = udp4_pkt(H6_4, H4, 50040, 443, data, ttl=61, ident=0x0202, df=True)
    p6 = udp6_pkt(H6, H4_6, 50040, 443, data, hlim=61)
    assert len(p4) == total
    return p4[:quote], p6[:quote + 20]


for mtu, total, want, why in [
    (1400, 1500, 1420, "min(1400+20, 9000, 1500+20)"),
    (1000, 1500, 1280, "1000+20 below 1280 -> 1280"),
    (2000, 3000, 1520, "min(2000+20, 9000, 1500+20): the IPv4 next hop"),
    (0, 1500, 1512, "MTU 0: plateau below Total Length 1500 is 1492; 1492+20"),
    (0, 1400, 1280, "MTU 0: Total Length 1400, no plateau >= 1280 -> 1280"),
]:
    q4, q6 = big4(total)
    # §4.2 Code 4 (Fragmentation Needed and DF was Set): "Translate to an ICMPv6 Packet Too Big message (Type 2)
    # with Code set to 0."
    c.add(err4(3, 4, mtu_rest4(mtu), q4), [err4_as6(2, 0, u32(want), q6)], "translated", None,
          f"ICMPv4 3/4 MTU {mtu}, quoting {total}-byte packet", f"§4.2: ICMPv6 2/0 MTU {want} = {why}")


def big6(plen, quote=80):
    """An IPv6 UDP packet H4_6 -> H6 with Payload Length `plen`, quoted truncated; and its IPv4 translation
    (Total Length plen + 20, DF=1 because > 1260, ID 0) truncated to quote - 20 bytes."""
    data = payload(plen - 8, 24)
    p6 = udp6_pkt(H4_6, H6, 40040, 443, data, hlim=62)
    p4 = udp4_pkt(H4, H6_4, 40040, 443, data, ttl=62, ident=0, df=True)
    return p6[:quote], p4[:quote - 20]


for mtu, plen, want, why in [
    (1400, 1452, 1380, "min(1400-20, 1500, 9000-20)"),
    (1280, 1452, 1260, "min(1280-20, 1500, 8980)"),
    (9000, 8960, 1500, "min(9000-20, 1500, 8980): the IPv4 next hop"),
]:
    q6, q4 = big6(plen)
    # §5.2 Packet Too Big (Type 2): "Translate to an ICMPv4 Destination Unreachable (Type 3) with Code 4, and
    # adjust the ICMPv4 checksum both to take the type change into account and to exclude the ICMPv6
    # pseudo-header. The MTU field MUST be adjusted for the difference between the IPv4 and IPv6 header sizes".
    c.add(err6(2, 0, u32(mtu), q6), [err6_as4(3, 4, mtu_rest4(want), q4)], "translated", None,
          f"ICMPv6 2/0 MTU {mtu}, quoting a packet of payload length {plen}", f"§5.2: ICMPv4 3/4 MTU {want} = {why}")

# ============================================================================================================
# The packet inside ICMP errors (RFC 7915 §4.3, §5.3)
# ============================================================================================================

c = case("icmp_inner", "The packet inside ICMP errors: truncated, ICMP, fragment, nested", "RFC 7915 §4.3, §5.3",
         BASE_TENANT, notes=[
             "§4.3/§5.3: the packet in error \"MUST be translated just like a normal IP packet (except the TTL "
             "value)\". Reading: its transport checksum is updated for the address change like any packet's "
             "(§4.5/§5.5; an incremental update, RFC 1624, works on a truncated copy) and an inner ICMP echo gets "
             "its type and checksum translated (§4.2/§5.2). The expected inner checksum is the one the complete "
             "original datagram has after translation.",
             "An ICMP error quoting an ICMP error is dropped (icmp_error_nested): §4.3 \"This process MUST stop at "
             "the first embedded header and drop the packet if it contains more embedded headers\"; a router never "
             "sends such a message (RFC 1122 §3.2.2).",
             "Outer and inner IPv4 Identification of translated ICMPv4 errors (DF=0, not fragments): not compared.",
         ])

# p1: port unreachable quoting only the IPv4 header + 8 bytes (RFC 792's minimum) of a 200-byte UDP datagram.
data = payload(172, 25)
full4 = udp4_pkt(H6_4, H4, 50050, 9999, data, ttl=61, ident=0x0303, df=True)
full6 = udp6_pkt(H6, H4_6, 50050, 9999, data, hlim=61)
c.add(err4(3, 3, u32(0), full4[:28]), [err4_as6(1, 4, u32(0), full6[:48])], "translated", None,
      "ICMPv4 3/3 quoting 28 bytes of a 200-byte UDP datagram",
      "§4.3: inner Payload Length 180 (from Total Length), 48 bytes quoted, UDP checksum updated")

# p2: time exceeded quoting an ICMPv4 echo request -> inner ICMPv6 echo request (type 128, checksum with the
# inner pseudo-header).
edata = payload(16, 26)
c.add(err4(11, 0, u32(0), ipv4(H6_4, H4, PROTO_ICMP, icmp4(8, 0, echo_rest(0x77, 3), edata), ttl=1)),
      [err4_as6(3, 0, u32(0), ipv6(H6, H4_6, PROTO_ICMPV6, icmp6(128, 0, echo_rest(0x77, 3), edata, H6, H4_6),
                                   hlim=1))],
      "translated", None, "ICMPv4 11/0 quoting an ICMPv4 echo request", "§4.3 + §4.2: inner echo type 128")

# p3: host unreachable quoting an IPv4 first fragment -> the inner IPv6 packet gets a Fragment Header (§4.1).
data = payload(64, 27)
seg4 = udp(50051, 9998, data, pseudo4(H6_4, H4, PROTO_UDP, 72))
seg6 = udp(50051, 9998, data, pseudo6(H6, H4_6, PROTO_UDP, 72))
c.add(err4(3, 1, u32(0), ipv4(H6_4, H4, PROTO_UDP, seg4[:40], ttl=61, ident=0x5151, mf=True)),
      [err4_as6(1, 0, u32(0), ipv6(H6, H4_6, NH_FRAGMENT, frag_hdr(PROTO_UDP, 0, True, 0x5151) + seg6[:40],
                                   hlim=61))],
      "translated", None, "ICMPv4 3/1 quoting a UDP first fragment (ID 0x5151)",
      "§4.3 + §4.1: inner Fragment Header, ident 0x00005151")

# p4: port unreachable quoting a time exceeded message: nested error.
inner_err = ipv4(H6_4, H4, PROTO_ICMP, icmp4(11, 0, u32(0), Q4), ttl=61)
c.add(err4(3, 3, u32(0), inner_err), [], "dropped", "icmp_error_nested", "ICMPv4 3/3 quoting an ICMPv4 11/0",
      "§4.3: more embedded headers -> drop")

# p5: ICMPv6 port unreachable quoting 64 bytes of a 320-byte UDP datagram.
data = payload(272, 28)
full6 = udp6_pkt(H4_6, H6, 40050, 9999, data, hlim=62)
full4 = udp4_pkt(H4, H6_4, 40050, 9999, data, ttl=62, df=False)
c.add(err6(1, 4, u32(0), full6[:64]), [err6_as4(3, 3, u32(0), full4[:44])], "translated", None,
      "ICMPv6 1/4 quoting 64 bytes of a 320-byte UDP datagram",
      "§5.3: inner Total Length 300, 44 bytes quoted, UDP checksum updated")

# p6: ICMPv6 time exceeded quoting an ICMPv6 echo request -> inner ICMPv4 echo (type 8, no pseudo-header).
c.add(err6(3, 0, u32(0), ipv6(H4_6, H6, PROTO_ICMPV6, icmp6(128, 0, echo_rest(0x88, 4), edata, H4_6, H6), hlim=1)),
      [err6_as4(11, 0, u32(0), ipv4(H4, H6_4, PROTO_ICMP, icmp4(8, 0, echo_rest(0x88, 4), edata), ttl=1))],
      "translated", None, "ICMPv6 3/0 quoting an ICMPv6 echo request", "§5.3 + §5.2: inner echo type 8")

# p7: ICMPv6 port unreachable quoting an IPv6 first fragment -> inner IPv4 fragment, ID = low 16 bits.
seg6 = udp(40051, 9998, data[:64], pseudo6(H4_6, H6, PROTO_UDP, 72))
seg4 = udp(40051, 9998, data[:64], pseudo4(H4, H6_4, PROTO_UDP, 72))
c.add(err6(1, 4, u32(0), ipv6(H4_6, H6, NH_FRAGMENT, frag_hdr(PROTO_UDP, 0, True, 0x00616263) + seg6[:40],
                              hlim=62)),
      [err6_as4(3, 3, u32(0), ipv4(H4, H6_4, PROTO_UDP, seg4[:40], ttl=62, ident=0x6263, df=False, mf=True))],
      "translated", None, "ICMPv6 1/4 quoting a UDP first fragment (ident 0x00616263)",
      "§5.3 + §5.1.1: inner ID 0x6263, MF=1, DF=0")

# p8: ICMPv6 port unreachable quoting a TCP segment's header only (truncated after 20 TCP bytes).
data = payload(100, 29)
full6 = tcp6_pkt(H4_6, H6, 40052, 80, data, hlim=62, flags=0x02)
full4 = tcp4_pkt(H4, H6_4, 40052, 80, data, ttl=62, df=False, flags=0x02)
c.add(err6(1, 4, u32(0), full6[:60]), [err6_as4(3, 3, u32(0), full4[:40])], "translated", None,
      "ICMPv6 1/4 quoting the 20-byte header of a TCP segment", "§5.3: inner TCP checksum updated")

# ============================================================================================================
# RFC 4884 ICMP extensions (RFC 7915 §4.2 / §5.2 "ICMP Error Payload")
# ============================================================================================================

c = case("icmp_extensions", "RFC 4884 extensions in translated ICMP errors", "RFC 7915 §4.2, §5.2; RFC 4884", BASE_TENANT,
         notes=[
             "RFC 4884: the ICMPv4 length attribute (byte 5) counts 32-bit words, the ICMPv6 one (byte 4) 64-bit "
             "words; the original-datagram field is at least 128 bytes. §4.2/§5.2: \"the ICMPv6 [ICMPv4] Extension "
             "length attribute MUST be adjusted accordingly\"; the extension itself is passed as an opaque bit "
             "string.",
             "The original-datagram fields here are filled by the (truncated) inner packet without padding, and their "
             "translated sizes are already aligned (132 -> 152 bytes = 19 words of 8; 152 -> 132 bytes = 33 words of "
             "4), so padding rules do not come into play.",
             "The ICMPv4 Identification of packet 2's outer and inner headers (DF=0) is not compared.",
         ])

# Extension structure (RFC 4884 §7): version 2, reserved, checksum; one object: MPLS label stack (RFC 4950,
# class 1, c-type 1), one entry.
obj = struct.pack("!HBB", 8, 1, 1) + struct.pack("!I", (16001 << 12) | (0 << 9) | (1 << 8) | 255)
ext = struct.pack("!BBH", 0x20, 0, 0) + obj
ext = ext[:2] + struct.pack("!H", inet_checksum(ext)) + ext[4:]

# p1: ICMPv4 time exceeded, length 33 (132 bytes) of a 300-byte UDP datagram, then the extension.
data = payload(272, 30)
full4 = udp4_pkt(H6_4, H4, 50060, 33434, data, ttl=1, ident=0x0404, df=True)
full6 = udp6_pkt(H6, H4_6, 50060, 33434, data, hlim=1)
c.add(err4(11, 0, struct.pack("!xBxx", 33), full4[:132] + ext),
      [err4_as6(3, 0, struct.pack("!Bxxx", 19), full6[:152] + ext)], "translated", None,
      "ICMPv4 11/0, length attribute 33 (132 bytes), MPLS extension",
      "§4.2 + RFC 4884: ICMPv6 3/0, length 19 (152 bytes), extension unchanged")

# p2: ICMPv6 port unreachable, length 19 (152 bytes) of a 340-byte UDP datagram, then the extension.
data = payload(292, 31)
full6 = udp6_pkt(H4_6, H6, 40060, 33434, data, hlim=62)
full4 = udp4_pkt(H4, H6_4, 40060, 33434, data, ttl=62, df=False)
c.add(err6(1, 4, struct.pack("!Bxxx", 19), full6[:152] + ext),
      [err6_as4(3, 3, struct.pack("!xBxx", 33), full4[:132] + ext)], "translated", None,
      "ICMPv6 1/4, length attribute 19 (152 bytes), MPLS extension",
      "§5.2 + RFC 4884: ICMPv4 3/3, length 33 (132 bytes), extension unchanged")

# ============================================================================================================
# Transport checksums (RFC 7915 §4.5, §5.5)
# ============================================================================================================

c = case("checksums", "UDP/TCP checksums; IPv4 UDP checksum zero (default: drop)", "RFC 7915 §4.5, §5.5; RFC 768",
         BASE_TENANT, notes=[
             "§4.5: for IPv4 UDP with checksum 0 the translator SHOULD offer (1) drop or (2) compute the checksum; "
             "xlat64 drops by default (amend_udp_checksum_zero = false). §4.4 would have the translator \"be able to\" "
             "send ICMPv4 3/13 for discarded packets; xlat64 drops this one silently (counted udp_checksum_zero).",
             "Packets 6 and 7 are crafted so that the checksum of the translated packet computes to 0x0000, which UDP "
             "must send as 0xffff (RFC 768; RFC 8200 §8.1: 0 is not allowed in IPv6). An incremental update (RFC "
             "1624) yields 0x0000 here: the translator must map it.",
             "The IPv4 Identification of the v6->v4 packets (DF=0) is not compared.",
         ])

data = payload(37, 32)
c.add(udp4_pkt(H4, H6_4, 40070, 5353, data), [udp6_pkt(H4_6, H6, 40070, 5353, data, hlim=63)],
      "translated", None, "IPv4 UDP, 37 bytes of data", "§4.5: UDP checksum recomputed for the IPv6 pseudo-header")
data = payload(50, 33)
c.add(tcp4_pkt(H4, H6_4, 40071, 22, data, flags=0x10), [tcp6_pkt(H4_6, H6, 40071, 22, data, hlim=63, flags=0x10)],
      "translated", None, "IPv4 TCP", "§4.5: TCP checksum recomputed")
data = payload(20, 34)
c.add(udp4_pkt(H4, H6_4, 40072, 5353, data, checksum=0), [], "dropped", "udp_checksum_zero",
      "IPv4 UDP with checksum 0", "§4.5 option 1 (default): drop")
data = payload(41, 35)
c.add(udp6_pkt(H6, H4_6, 50070, 5353, data), [udp4_pkt(H6_4, H4, 50070, 5353, data, ttl=63, df=False)],
      "translated", None, "IPv6 UDP, 41 bytes of data", "§5.5: UDP checksum recomputed for the IPv4 pseudo-header")
data = payload(60, 36)
c.add(tcp6_pkt(H6, H4_6, 50071, 22, data, flags=0x10),
      [tcp4_pkt(H6_4, H4, 50071, 22, data, ttl=63, df=False, flags=0x10)],
      "translated", None, "IPv6 TCP", "§5.5: TCP checksum recomputed")


def craft_zero(src, dst, pseudo_fn, sport, dport, n):
    """Data of n bytes whose UDP checksum under pseudo_fn(src, dst, ...) computes to 0 (sum 0xffff)."""
    data = bytearray(payload(n, 37))
    data[0:2] = b"\0\0"
    seg = struct.pack("!HHHH", sport, dport, 8 + n, 0) + bytes(data)
    s = ones_sum(pseudo_fn(src, dst, PROTO_UDP, 8 + n) + seg)
    w = (0xFFFF - s) & 0xFFFF  # s + w == 0xffff (no carry since s <= 0xffff)
    data[0:2] = struct.pack("!H", w)
    seg = struct.pack("!HHHH", sport, dport, 8 + n, 0) + bytes(data)
    assert inet_checksum(pseudo_fn(src, dst, PROTO_UDP, 8 + n) + seg) == 0
    return bytes(data)


data = craft_zero(H4_6, H6, pseudo6, 40073, 5353, 20)
inp = udp4_pkt(H4, H6_4, 40073, 5353, data)
assert inp[26:28] not in (b"\0\0", b"\xff\xff")
exp = udp6_pkt(H4_6, H6, 40073, 5353, data, hlim=63)
assert exp[46:48] == b"\xff\xff"
c.add(inp, [exp], "translated", None, "IPv4 UDP whose IPv6 checksum computes to 0",
      "§4.5 + RFC 768: sent as 0xffff")
data = craft_zero(H6_4, H4, pseudo4, 50073, 5353, 20)
inp = udp6_pkt(H6, H4_6, 50073, 5353, data)
exp = udp4_pkt(H6_4, H4, 50073, 5353, data, ttl=63, df=False)
assert exp[26:28] == b"\xff\xff"
c.add(inp, [exp], "translated", None, "IPv6 UDP whose IPv4 checksum computes to 0", "§5.5 + RFC 768: sent as 0xffff")

c = case("udp_checksum_zero_amend", "IPv4 UDP checksum zero, amend_udp_checksum_zero = true", "RFC 7915 §4.5",
         BASE_TENANT + "\n[tenants.options]\namend_udp_checksum_zero = true\n", notes=[
             "§4.5 option 2: \"Calculating an IPv6 checksum and forwarding the packet\" for unfragmented packets; "
             "\"when a stateless translator receives the first fragment of a fragmented UDP IPv4 packet and the "
             "checksum field is zero, the translator SHOULD drop the packet\" (it cannot see the whole datagram).",
         ])
data = payload(20, 38)
c.add(udp4_pkt(H4, H6_4, 40080, 5353, data, checksum=0), [udp6_pkt(H4_6, H6, 40080, 5353, data, hlim=63)],
      "translated", None, "IPv4 UDP with checksum 0", "§4.5 option 2: checksum computed")
c.add(udp4_pkt(H4, H6_4, 40081, 5353, data), [udp6_pkt(H4_6, H6, 40081, 5353, data, hlim=63)],
      "translated", None, "IPv4 UDP with a checksum", "§4.5: checksum updated")
seg4 = udp(40082, 5353, payload(40, 39), checksum=0)
c.add(ipv4(H4, H6_4, PROTO_UDP, seg4[:24], ttl=64, ident=0x0505, mf=True), [], "dropped", "udp_checksum_zero",
      "IPv4 UDP first fragment with checksum 0", "§4.5: first fragment with zero checksum: drop")

# ============================================================================================================
# EAMT (RFC 7757)
# ============================================================================================================

EAMT = [
    ("192.0.2.0/24", "2001:db8:6::/120"),  # equal suffix lengths (8, 8)
    ("192.0.2.128/25", "2001:db8:8::/121"),  # nested in the previous one on the IPv4 side (longest match)
    ("198.51.100.0/24", "2001:db8:46::/64"),  # unequal: IPv4 suffix 8 bits, IPv6 suffix 64 bits
    ("203.0.113.7/32", "2001:db8:7::7/128"),  # single addresses
]
EAMT_TOML = "".join(f'\n[[tenants.eamt]]\nipv4 = "{p4}"\nipv6 = "{p6}"\n' for p4, p6 in EAMT)


def eam46(addr):
    """RFC 7757 §3.2 (IPv4 -> IPv6): longest IPv4 prefix match."""
    best = max((e for e in EAMT if ipaddress.IPv4Address(addr) in ipaddress.IPv4Network(e[0])),
               key=lambda e: ipaddress.IPv4Network(e[0]).prefixlen)
    return eam_4to6(best[0], best[1], addr)


E_SRV6 = "2001:db8:6::21"  # an IPv6 server, 192.0.2.33 through the /24 entry
E_SRV4 = "192.0.2.33"
assert eam46(E_SRV4) == E_SRV6
E_CLI4 = "198.51.100.7"
E_CLI6 = eam46(E_CLI4)
assert E_CLI6 == "2001:db8:46:0:700::"

c = case("eamt", "Explicit Address Mappings, source and destination", "RFC 7757 §3; RFC 7915 §4.1, §5.1",
         '[[tenants]]\nname = "eam"\nid = 2\nown_ipv4 = "192.0.2.1"\nown_ipv6 = "2001:db8:ffff::1"\n' + EAMT_TOML +
         '\n[tenants.options]\neam_hairpin_mode = "off"\n', notes=[
             "The tenant has no pool6: every address goes through the EAMT (RFC 7757 §3.2, longest prefix match).",
             "Unequal suffix lengths (198.51.100.0/24 <-> 2001:db8:46::/64): RFC 7757 §3.2 allows an IPv6 suffix "
             "longer than the IPv4 one. The IPv4 suffix bits are copied right after the IPv6 prefix (198.51.100.7 -> "
             "2001:db8:46:0:700::), the remaining IPv6 bits are zero; the other way, the bits right after the IPv6 "
             "prefix form the IPv4 suffix. The packets here only use addresses whose extra IPv6 bits are zero.",
             "eam_hairpin_mode = \"off\": the hairpinning modes of RFC 7757 §4.2 (\"simple\", the default, as in "
             "Jool) skip the EAMT for the source address of some IPv4 packets; packets 2, 3 and 6 translate IPv4 "
             "sources through the EAMT, so this case keeps to the plain address mapping.",
         ])
data = payload(18, 40)
c.add(udp6_pkt(E_SRV6, E_CLI6, 443, 40090, data), [udp4_pkt(E_SRV4, E_CLI4, 443, 40090, data, ttl=63, df=False)],
      "translated", None, f"IPv6 UDP {E_SRV6} -> {E_CLI6}",
      "RFC 7757: source via 192.0.2.0/24 (equal lengths), destination via 198.51.100.0/24 (unequal)")
c.add(udp4_pkt(E_CLI4, E_SRV4, 40090, 443, data), [udp6_pkt(E_CLI6, E_SRV6, 40090, 443, data, hlim=63)],
      "translated", None, f"IPv4 UDP {E_CLI4} -> {E_SRV4}", "RFC 7757: both addresses through the EAMT")
assert eam46("192.0.2.130") == "2001:db8:8::2" and eam46("203.0.113.7") == "2001:db8:7::7"
c.add(udp4_pkt("203.0.113.7", "192.0.2.130", 40091, 443, data),
      [udp6_pkt("2001:db8:7::7", "2001:db8:8::2", 40091, 443, data, hlim=63)],
      "translated", None, "IPv4 UDP 203.0.113.7 -> 192.0.2.130",
      "RFC 7757: /32 entry; 192.0.2.130 matches the /25 (longest match), not the /24")
c.add(udp6_pkt("2001:db8:8::2", "2001:db8:7::7", 443, 40091, data),
      [udp4_pkt("192.0.2.130", "203.0.113.7", 443, 40091, data, ttl=63, df=False)],
      "translated", None, "IPv6 UDP 2001:db8:8::2 -> 2001:db8:7::7", "RFC 7757: /121 and /128 entries")
c.add(udp6_pkt("2001:db8:6::85", "2001:db8:46:0:900::", 443, 40092, data),
      [udp4_pkt("192.0.2.133", "198.51.100.9", 443, 40092, data, ttl=63, df=False)],
      "translated", None, "IPv6 UDP 2001:db8:6::85 -> 2001:db8:46:0:900::",
      "RFC 7757: 2001:db8:6::85 -> 192.0.2.133 (IPv6 side longest match is the /120)")
# An ICMPv4 error from an EAM-mapped IPv4 host, about a packet the IPv6 server sent: outer and inner through
# the EAMT.
q4 = udp4_pkt(E_SRV4, E_CLI4, 443, 40093, data, ttl=60, df=True)
q6 = udp6_pkt(E_SRV6, E_CLI6, 443, 40093, data, hlim=60)
c.add(ipv4(E_CLI4, E_SRV4, PROTO_ICMP, icmp4(3, 3, u32(0), q4), ttl=64),
      [ipv6(E_CLI6, E_SRV6, PROTO_ICMPV6, icmp6(1, 4, u32(0), q6, E_CLI6, E_SRV6), hlim=63)],
      "translated", None, "ICMPv4 3/3 from 198.51.100.7 quoting UDP 192.0.2.33 -> 198.51.100.7",
      "RFC 7757 + RFC 7915 §4.3: outer and inner addresses through the EAMT")

# ============================================================================================================
# RFC 6791: sources of translated ICMP errors whose source has no mapping
# ============================================================================================================

c = case("rfc6791", "ICMP errors from untranslatable sources (RFC 6791 pools)", "RFC 6791; RFC 7915 §4.2, §5.2",
         '[[tenants]]\nname = "eam"\nid = 2\nown_ipv4 = "192.0.2.1"\nown_ipv6 = "2001:db8:ffff::1"\n'
         'rfc6791_v4 = ["203.0.113.200/32"]\nrfc6791_v6 = ["2001:db8:ffff::6791/128"]\n' + EAMT_TOML +
         '\n[tenants.options]\neam_hairpin_mode = "off"\n', notes=[
             "Each pool holds one address, so the choice of address (hash or random) does not matter.",
             "The IPv4 Identification of packet 1's outer and inner headers (DF=0) is not compared.",
         ])
data = payload(18, 41)
q6 = udp6_pkt(E_CLI6, E_SRV6, 40100, 443, data, hlim=62)
q4 = udp4_pkt(E_CLI4, E_SRV4, 40100, 443, data, ttl=62, df=False)
c.add(ipv6("2001:db8:99::1", E_CLI6, PROTO_ICMPV6, icmp6(1, 4, u32(0), q6, "2001:db8:99::1", E_CLI6), hlim=64),
      [ipv4("203.0.113.200", E_CLI4, PROTO_ICMP, icmp4(3, 3, u32(0), q4), ttl=63, df=False)],
      "translated", None, "ICMPv6 1/4 from 2001:db8:99::1 (no mapping)", "RFC 6791: source 203.0.113.200 (rfc6791_v4)")
q4 = udp4_pkt(E_SRV4, E_CLI4, 443, 40101, data, ttl=60, df=True)
q6 = udp6_pkt(E_SRV6, E_CLI6, 443, 40101, data, hlim=60)
c.add(ipv4("203.0.113.99", E_SRV4, PROTO_ICMP, icmp4(11, 0, u32(0), q4), ttl=64),
      [ipv6("2001:db8:ffff::6791", E_SRV6, PROTO_ICMPV6, icmp6(3, 0, u32(0), q6, "2001:db8:ffff::6791", E_SRV6),
            hlim=63)],
      "translated", None, "ICMPv4 11/0 from 203.0.113.99 (no mapping)",
      "RFC 6791: source 2001:db8:ffff::6791 (rfc6791_v6)")

# ============================================================================================================
# RFC 6052 prefix lengths
# ============================================================================================================

for plen, prefix in [(32, "2001:db8::/32"), (40, "2001:db8:100::/40"), (48, "2001:db8:122::/48"),
                     (56, "2001:db8:122:300::/56"), (64, "2001:db8:122:344::/64")]:
    h6 = rfc6052_embed(prefix, H6_4)
    h46 = rfc6052_embed(prefix, H4)
    c = case(f"pool6_{plen}", f"RFC 6052 /{plen} prefix", "RFC 6052 §2.2; RFC 7915 §4.1, §5.1",
             f'[[tenants]]\nname = "p{plen}"\nid = {plen}\npool6 = "{prefix}"\nown_ipv4 = "{OWN4}"\n'
             f'own_ipv6 = "{OWN6}"\n', notes=[
                 f"{H6_4} <-> {h6}, {H4} <-> {h46} (RFC 6052 §2.2: bits 64..71 are zero, the IPv4 bits continue "
                 "after them; the first mapping is the RFC 6052 §2.4 example).",
                 "The IPv4 Identification of packet 1 (DF=0) is not compared.",
             ])
    data = payload(16, plen)
    c.add(udp6_pkt(h6, h46, 50100, 53, data), [udp4_pkt(H6_4, H4, 50100, 53, data, ttl=63, df=False)],
          "translated", None, f"IPv6 UDP {h6} -> {h46}", f"RFC 6052 /{plen} extraction")
    c.add(ipv4(H4, H6_4, PROTO_ICMP, icmp4(8, 0, echo_rest(plen, 1), data), ttl=64),
          [ipv6(h46, h6, PROTO_ICMPV6, icmp6(128, 0, echo_rest(plen, 1), data, h46, h6), hlim=63)],
          "translated", None, f"ICMPv4 echo request {H4} -> {H6_4}", f"RFC 6052 /{plen} embedding")

# ============================================================================================================
# Tenants told apart by VLAN (Ethernet captures)
# ============================================================================================================

MAC_DST = "02:00:00:00:00:01"
MAC_SRC = "02:00:00:00:00:02"


def eth(pkt, vlan=None):
    """Ethernet II frame, optionally with one 802.1Q tag (PCP 0, DEI 0)."""
    et = 0x0800 if pkt[0] >> 4 == 4 else 0x86DD
    mac = bytes.fromhex(MAC_DST.replace(":", "")) + bytes.fromhex(MAC_SRC.replace(":", ""))
    if vlan is None:
        return mac + struct.pack("!H", et) + pkt
    return mac + struct.pack("!HHH", 0x8100, vlan & 0xFFF, et) + pkt


TEN = [("red", 10, 100, "2001:db8:a::/96", "2001:db8:a:1::/120"),
       ("blue", 20, 200, "2001:db8:b::/96", "2001:db8:b:1::/120")]
cfg = ""
for name, tid, vlan, p6, e6 in TEN:
    cfg += (f'[[tenants]]\nname = "{name}"\nid = {tid}\npool6 = "{p6}"\n\n[tenants.ipv4_side]\nvlan = {vlan}\n\n'
            f'[[tenants.eamt]]\nipv4 = "10.0.0.0/24"\nipv6 = "{e6}"\n\n')
c = case("tenants_vlan", "Two tenants with the same IPv4 addresses, told apart by VLAN", "xlat64 tenants; RFC 7757",
         cfg, linktype=1, notes=[
             "LINKTYPE_ETHERNET. The harness strips the Ethernet header (and the 802.1Q tag, whose VLAN ID goes to "
             "frame.meta.vlan), translates, and puts back an Ethernet header with the same MAC addresses, the output's "
             "VLAN tag (the tenant's VLAN on the IPv4 side, none on the IPv6 side) and the new EtherType.",
             "Both tenants map 10.0.0.0/24 through their EAMT; the IPv4 client 198.51.100.9 goes through each "
             "tenant's pool6. IPv6 frames are classified by destination prefix, IPv4 frames by VLAN.",
             "The IPv4 Identification of frames 3 and 4 (DF=0) is not compared.",
         ])
data = payload(16, 42)
for name, tid, vlan, p6, e6 in TEN:
    cli6 = rfc6052_embed(p6, "198.51.100.9")
    srv6 = eam_4to6("10.0.0.0/24", e6, "10.0.0.5")
    c.add(eth(udp4_pkt("198.51.100.9", "10.0.0.5", 40110, 80, data), vlan),
          [eth(udp6_pkt(cli6, srv6, 40110, 80, data, hlim=63))], "translated", None,
          f"VLAN {vlan}: IPv4 UDP 198.51.100.9 -> 10.0.0.5", f"tenant {name}: {cli6} -> {srv6}, untagged")
for name, tid, vlan, p6, e6 in TEN:
    cli6 = rfc6052_embed(p6, "198.51.100.9")
    srv6 = eam_4to6("10.0.0.0/24", e6, "10.0.0.5")
    c.add(eth(udp6_pkt(srv6, cli6, 80, 40110, data)),
          [eth(udp4_pkt("10.0.0.5", "198.51.100.9", 80, 40110, data, ttl=63, df=False), vlan)], "translated", None,
          f"untagged: IPv6 UDP {srv6} -> {cli6}", f"tenant {name}: 10.0.0.5 -> 198.51.100.9, VLAN {vlan}")
c.add(eth(udp4_pkt("198.51.100.9", "10.0.0.5", 40111, 80, data), 300), [], "dropped", "no_tenant",
      "VLAN 300: IPv4 UDP 198.51.100.9 -> 10.0.0.5", "no tenant has VLAN 300")
c.add(eth(udp4_pkt("198.51.100.9", "10.0.0.5", 40112, 80, data)), [], "dropped", "no_tenant",
      "untagged: IPv4 UDP 198.51.100.9 -> 10.0.0.5", "both tenants only take frames tagged with their VLAN")

# ============================================================================================================
# Options: traffic class / TOS overrides, icmp_errors = false
# ============================================================================================================

c = case("tos_options", "zeroize_traffic_class and override_tos", "RFC 7915 §4.1, §5.1",
         BASE_TENANT + "\n[tenants.options]\nzeroize_traffic_class = true\noverride_tos = true\ntos = 40\n", notes=[
             "§4.1 Traffic Class: \"By default, copied from the IP Type Of Service (TOS) octet. According to "
             "[RFC2474], the semantics of the bits are identical in IPv4 and IPv6. However, in some IPv4 environments "
             "these fields might be used with the old semantics of 'Type Of Service and Precedence'. An "
             "implementation of a translator SHOULD support an administratively configurable option to ignore the "
             "IPv4 TOS and always set the IPv6 Traffic Class (TC) to zero.\" §5.1 TOS likewise: an option to set "
             "the IPv4 TOS to a configured value (40 = 0x28 here).",
             "The IPv4 Identification of packet 2 (DF=0) is not compared.",
         ])
data = payload(16, 43)
c.add(udp4_pkt(H4, H6_4, 40120, 53, data, tos=0xB8), [udp6_pkt(H4_6, H6, 40120, 53, data, hlim=63, tc=0)],
      "translated", None, "IPv4 UDP, TOS 0xb8", "§4.1: zeroize_traffic_class -> TC 0")
c.add(udp6_pkt(H6, H4_6, 50120, 53, data, tc=0xB8), [udp4_pkt(H6_4, H4, 50120, 53, data, ttl=63, tos=0x28, df=False)],
      "translated", None, "IPv6 UDP, TC 0xb8", "§5.1: override_tos -> TOS 0x28")

c = case("no_icmp_errors", "icmp_errors = false", "RFC 7915 §4.4, §5.4",
         BASE_TENANT + "\n[tenants.options]\nicmp_errors = false\n", notes=[
             "§4.4/§5.4: \"The translator SHOULD allow an administrator to configure whether the ICMPv4 [ICMPv6] error "
             "messages are sent, rate-limited, or not sent.\" With icmp_errors = false the packets that would have "
             "been answered are dropped, counted under the same reason.",
         ])
data = payload(10, 44)
c.add(udp4_pkt(H4, H6_4, 40130, 33434, data, ttl=1), [], "dropped", "ttl_expired", "IPv4 UDP, TTL 1", "no ICMPv4 11/0")
c.add(udp6_pkt(H6, H4_6, 50130, 33434, data, hlim=1), [], "dropped", "ttl_expired", "IPv6 UDP, hop limit 1",
      "no ICMPv6 3/0")
c.add(udp4_pkt(H4, H6_4, 40131, 33434, data, ttl=2), [udp6_pkt(H4_6, H6, 40131, 33434, data, hlim=1)],
      "translated", None, "IPv4 UDP, TTL 2", "still translated")


# ============================================================================================================
# Cross-check with scapy, write the files
# ============================================================================================================


def scapy_crosscheck(raw: bytes, eth_frame: bool):
    """Re-parse with scapy and let it recompute the outer checksums; the bytes must not change. Skipped for
    fragments and for packets scapy cannot round-trip (it then has nothing independent to say)."""
    try:
        p = Ether(raw) if eth_frame else (IP(raw) if raw[0] >> 4 == 4 else IPv6(raw))
        if bytes(p) != raw:
            return "no round trip"
        q = p.copy()
        layers = []
        lay = q
        while lay is not None and lay.__class__.__name__ not in ("Raw", "NoPayload"):
            layers.append(lay)
            if "error" in lay.__class__.__name__.lower():  # stop at a quoted packet (IPerror, UDPerror...)
                break
            lay = lay.payload if lay.payload.__class__.__name__ != "NoPayload" else None
        frag = False
        for lay in layers:
            name = lay.__class__.__name__
            if name == "IP" and (lay.flags.MF or lay.frag):
                frag = True
            if name == "IPv6ExtHdrFragment":
                frag = True
        for lay in layers:
            name = lay.__class__.__name__
            if "error" in name.lower():
                break
            if frag and name in ("UDP", "TCP", "ICMP"):
                continue
            if name == "UDP" and lay.chksum == 0:  # "no checksum" (RFC 768), kept as is
                continue
            for f in ("chksum", "cksum"):
                if f in lay.fields:
                    setattr(lay, f, None)
        rebuilt = bytes(q)
        if rebuilt != raw:
            raise SystemExit(f"scapy disagrees with a checksum:\n  ours  {raw.hex()}\n  scapy {rebuilt.hex()}")
        return "ok"
    except SystemExit:
        raise
    except Exception as e:  # scapy could not dissect: nothing to compare
        return f"skipped ({e.__class__.__name__})"


def write_pcap(path, packets, linktype):
    pkts = []
    for i, b in enumerate(packets):
        r = Raw(load=b)
        r.time = 1700000000 + i
        pkts.append(r)
    wrpcap(path, pkts, linktype=linktype)
    back = [bytes(p) for p in rdpcap(path)] if packets else []
    assert back == list(packets), path


def md_escape(s):
    return s.replace("|", "\\|")


def write_case(c: Case):
    d = os.path.join(HERE, c.name)
    if os.path.isdir(d):
        shutil.rmtree(d)
    os.makedirs(d)
    with open(os.path.join(d, "config.toml"), "w") as f:
        f.write(f"# Golden case {c.name}: {c.title}. Generated by ../gen.py; do not edit.\n\n" + c.config)
    inputs = [it[0] for it in c.items]
    expected = [e for it in c.items for e in it[1]]
    checks = {"ok": 0}
    for b in inputs + expected:
        r = scapy_crosscheck(b, c.linktype == 1)
        checks[r] = checks.get(r, 0) + 1
    write_pcap(os.path.join(d, "input.pcap"), inputs, c.linktype)
    write_pcap(os.path.join(d, "expected.pcap"), expected, c.linktype)
    lines = [f"# {c.title}", "", f"Golden case `{c.name}` ({c.rfc}). Generated by `../gen.py`; do not edit by hand.",
             "", f"- `config.toml`: the tenant configuration.",
             f"- `input.pcap`: {len(inputs)} packets ({'LINKTYPE_ETHERNET' if c.linktype == 1 else 'LINKTYPE_RAW'}).",
             f"- `expected.pcap`: {len(expected)} packets, the outputs of the input packets in order.", ""]
    if c.notes:
        lines += ["## Choices and readings", ""] + [f"- {n}" for n in c.notes] + [""]
    lines += ["## Packets", "",
              "`fate` is what the translator does with the packet (`translated`, `icmp_error`: an ICMP error goes back "
              "to the sender instead, `dropped`), `reason` the DropReason label (dataplane/src/stats.rs), `out` the "
              "number of packets it emits into expected.pcap. The harness checks all three.", "",
              "| # | fate | reason | out | input | rule |", "|---|---|---|---|---|---|"]
    for i, (inp, exp, fate, reason, desc, rule) in enumerate(c.items, 1):
        lines.append(f"| {i} | {fate} | {reason or '-'} | {len(exp)} | {md_escape(desc)} | {md_escape(rule)} |")
    lines.append("")
    with open(os.path.join(d, "README.md"), "w") as f:
        f.write("\n".join(lines))
    return len(inputs), len(expected), checks


def main():
    names = set()
    for c in CASES:
        assert c.name not in names
        names.add(c.name)
    # Remove case directories that no longer exist in this script.
    for entry in sorted(os.listdir(HERE)):
        p = os.path.join(HERE, entry)
        if entry.startswith("nat64_"):  # written by gen_nat64.py
            continue
        if os.path.isdir(p) and os.path.exists(os.path.join(p, "config.toml")) and entry not in names:
            shutil.rmtree(p)
    total_in = total_out = 0
    for c in CASES:
        n_in, n_out, checks = write_case(c)
        total_in += n_in
        total_out += n_out
        print(f"{c.name:40s} {n_in:3d} in {n_out:3d} out   scapy: {checks}")
    print(f"{len(CASES)} cases, {total_in} input packets, {total_out} expected packets")


if __name__ == "__main__":
    sys.exit(main())
