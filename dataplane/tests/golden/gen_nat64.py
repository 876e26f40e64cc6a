#!/usr/bin/env python3
"""Golden pcap pairs for xlat64's stateful NAT64 (RFC 6146), written from the RFC text, independently of the
translator. The packet builders, the checksum code and the scapy cross-check are gen.py's (the SIIT cases).

Run:  python3 dataplane/tests/golden/gen_nat64.py          (needs scapy: pip install scapy)
It rewrites every `nat64_*` case directory next to this file (gen.py leaves them alone):

    <case>/config.toml    the tenant configuration (mode = "nat64"; schema: docs/config.md)
    <case>/input.pcap     packets fed to the translator, in order, with their capture timestamps
    <case>/expected.pcap  every packet the translator must emit, in order (timestamp: when it is emitted)
    <case>/README.md      each input packet, its expected fate and the RFC rule behind it; `timer` rows for what
                          the timers emit (ICMP errors for held SYNs); `end_time`, up to which the harness runs
                          the timers after the last packet

The clock: the capture's timestamps drive the translator's clock, as in `xlat64 translate`. Before each input
packet the harness runs the timers up to the packet's timestamp, and after the last one up to `end_time`.
Times below are seconds after T0 = 1700000000.

Ports: RFC 6146 leaves the choice of the IPv4 transport address to the implementation (§3.5.1.1), within
RFC 4787 REQ-3 (port parity, "RECOMMENDED" / MAY) and REQ-4 (port range, 0-1023 vs 1024-65535). xlat64
allocates from a random position inside the class of the IPv6 source port (docs/nat64.md). So that the
expected ports follow from the documented rules alone, every case's pool4 is one address with a port range in
which the rules leave exactly one candidate: `udp = "2000-2001"` gives an even IPv6 source port 2000 and an
odd one 2001; when the port of its own parity is taken, a binding falls back to the other parity of the same
range (documented; REQ-3 is not a MUST); ICMP identifiers come from a one-identifier range (`icmp = "7-7"`).
Nothing in the harness learns ports from the output.
"""

import os
import shutil
import sys
from decimal import Decimal

import gen
from gen import (NH_FRAGMENT, PROTO_ICMP, PROTO_ICMPV6, PROTO_UDP, PROTO_TCP, echo_rest, frag_hdr, icmp4, icmp6,
                 ipv4, ipv6, md_escape, payload, pseudo4, pseudo6, rfc6052_embed, scapy_crosscheck, tcp, u32, udp)
from scapy.all import Raw, rdpcap, wrpcap

HERE = os.path.dirname(os.path.abspath(__file__))
T0 = 1700000000

POOL6 = "2001:db8:64::/96"  # network-specific prefix (RFC 6052 §3.1: documentation IPv4 addresses below)
OWN4 = "192.0.2.1"  # own_ipv4: source of ICMPv4 errors the translator originates
OWN6 = "2001:db8:ffff::1"  # own_ipv6: source of ICMPv6 errors the translator originates
T = "203.0.113.1"  # the pool4 address (RFC 6146's T)
X = "2001:db8:1::5"  # IPv6 client (RFC 6146's X)
X2 = "2001:db8:1::6"  # another IPv6 client
S6 = "2001:db8:2::10"  # IPv6 server behind a static BIB entry
Y1 = "198.51.100.7"  # IPv4 hosts (RFC 6146's Y / Z)
Y2 = "198.51.100.8"
Z = "198.51.100.20"
R4 = "198.51.100.254"  # IPv4 router that sends ICMPv4 errors
R6 = "2001:db8:1::1"  # IPv6 router (no IPv4 form)

SYN, FIN, RST, PSH, ACK = 0x02, 0x01, 0x04, 0x08, 0x10


def m46(v4):
    """RFC 6052 §2.2 with pool6 (RFC 6146 §3.5.4: how the IPv6 side sees IPv4 addresses)."""
    return rfc6052_embed(POOL6, v4)


def tenant(pool4_ports, *, extra="", nat64=""):
    return f'''[[tenants]]
name = "nat64"
id = 1
mode = "nat64"
pool6 = "{POOL6}"
own_ipv4 = "{OWN4}"
own_ipv6 = "{OWN6}"

[[tenants.pool4]]
prefix = "{T}/32"
{pool4_ports}
{extra}{nat64}'''


PORTS = 'tcp = "2000-2001"\nudp = "2000-2001"\nicmp = "7-7"\n'

# ------------------------------------------------------------------------------------------------------------
# Packet builders for the two sides. The IPv6 side: client X (or X2) to pool6(Y); the IPv4 side: T to Y.
# RFC 6146 §3.7 translates the headers as RFC 7915 does: hop limit / TTL minus one, Traffic Class <-> TOS,
# IPv4 DF clear and Identification the translator's for small packets (RFC 7915 §5.1; the harness does not
# compare that Identification: README.md next to this file), transport checksums for the new pseudo-header and
# the new port (RFC 6146 §3.7: "the transport checksum ... recomputed").
# ------------------------------------------------------------------------------------------------------------


def udp6(src, sport, dst, dport, data, hlim=64):
    return ipv6(src, dst, PROTO_UDP, udp(sport, dport, data, pseudo6(src, dst, PROTO_UDP, 8 + len(data))), hlim=hlim)


def udp4(src, sport, dst, dport, data, ttl=64, ident=0):
    return ipv4(src, dst, PROTO_UDP, udp(sport, dport, data, pseudo4(src, dst, PROTO_UDP, 8 + len(data))), ttl=ttl,
                ident=ident)


def tcp6(src, sport, dst, dport, flags, seq, ack, data=b"", hlim=64):
    seg = tcp(sport, dport, seq, ack, flags, 8192, data, pseudo6(src, dst, PROTO_TCP, 20 + len(data)))
    return ipv6(src, dst, PROTO_TCP, seg, hlim=hlim)


def tcp4(src, sport, dst, dport, flags, seq, ack, data=b"", ttl=64):
    seg = tcp(sport, dport, seq, ack, flags, 8192, data, pseudo4(src, dst, PROTO_TCP, 20 + len(data)))
    return ipv4(src, dst, PROTO_TCP, seg, ttl=ttl)


def echo6(src, dst, typ, ident, seq, data, hlim=64):
    return ipv6(src, dst, PROTO_ICMPV6, icmp6(typ, 0, echo_rest(ident, seq), data, src, dst), hlim=hlim)


def echo4(src, dst, typ, ident, seq, data, ttl=64):
    return ipv4(src, dst, PROTO_ICMP, icmp4(typ, 0, echo_rest(ident, seq), data), ttl=ttl)


def addr_unreachable(pkt6, src6):
    """RFC 6146 §3.5.1.1 / §3.5.2.2: no binding could be created -> ICMPv6 Destination Unreachable, code 3
    (Address Unreachable), from the translator (own_ipv6), quoting the packet (RFC 4443 §3.1)."""
    return ipv6(OWN6, src6, PROTO_ICMPV6, icmp6(1, 3, u32(0), pkt6, OWN6, src6), hlim=64)


def udp_flow(c, t, sport, dst4, dport, port4, data, desc, rule, src6=X):
    """An IPv6 UDP packet X#sport -> pool6(dst4)#dport translated to T#port4 -> dst4#dport."""
    c.add(t, udp6(src6, sport, m46(dst4), dport, data),
          [udp4(T, port4, dst4, dport, data, ttl=63)], "translated", None, desc, rule)


def udp_reply(c, t, src4, sport, port4, dport6, data, desc, rule, dst6=X):
    """An IPv4 UDP packet src4#sport -> T#port4 translated to pool6(src4)#sport -> X#dport6."""
    c.add(t, udp4(src4, sport, T, port4, data),
          [udp6(m46(src4), sport, dst6, dport6, data, hlim=63)], "translated", None, desc, rule)


# ------------------------------------------------------------------------------------------------------------
# Case bookkeeping
# ------------------------------------------------------------------------------------------------------------

FATES = ("translated", "icmp_error", "dropped")


class Case:
    def __init__(self, name, title, rfc, config, *, end_time=None, notes=()):
        assert name.startswith("nat64_")
        self.name, self.title, self.rfc, self.config = name, title, rfc, config
        self.end_time = end_time
        self.notes = list(notes)
        # (kind "input"|"timer", time, input bytes, [expected bytes], fate, reason, description, rule)
        self.items = []

    def last_time(self):
        return self.items[-1][1] if self.items else 0

    def add(self, t, inp, expected, fate, reason, desc, rule):
        """Input packet at time t (seconds after T0, at most one decimal)."""
        assert fate in FATES
        assert t >= self.last_time(), "inputs in time order"
        if fate == "translated":
            assert reason is None and expected
        elif fate == "icmp_error":
            assert reason and len(expected) == 1
        else:
            assert reason and not expected
        self.items.append(("input", t, inp, list(expected), fate, reason, desc, rule))

    def timer(self, t, expected, desc, rule):
        """What the timers emit when the clock reaches t: before the next input packet (whose time is >= t),
        or, after the last packet, by end_time."""
        assert t >= self.last_time()
        self.items.append(("timer", t, None, list(expected), "timer", None, desc, rule))


CASES = []


def case(*args, **kw):
    c = Case(*args, **kw)
    CASES.append(c)
    return c


def stamp(t):
    return Decimal(T0) + Decimal(str(t))


# ============================================================================================================
# RFC 6146 §3.5.1.1: endpoint-independent mapping; port parity and range (RFC 4787 REQ-1, REQ-3, REQ-4)
# ============================================================================================================

c = case("nat64_mapping", "Endpoint-independent mapping, port parity and range", "RFC 6146 §3.5.1.1",
         tenant('udp = "1022-1025"\n'),
         notes=[
             "pool4 UDP ports 1022-1025: one candidate per class (well-known even 1022, odd 1023; ephemeral "
             "even 1024, odd 1025), so RFC 4787 REQ-3 (parity) and REQ-4 (range), which RFC 6146 §3.5.1.1 asks "
             "the NAT64 to follow, name the port.",
             "§3.5.1.1: when a BIB entry for the source (X,x) exists, the NAT64 uses it: the same IPv6 source "
             "transport address gets the same IPv4 transport address whatever the destination "
             "(endpoint-independent mapping, RFC 4787 REQ-1).",
         ])
D = payload(12, 1)
udp_flow(c, 0, 5000, Y1, 53, 1024, D, "UDP X#5000 -> Y1#53", "§3.5.1.1: new binding X#5000 <-> T#1024 (even, >= 1024)")
udp_flow(c, 1, 5000, Y2, 123, 1024, D, "UDP X#5000 -> Y2#123 (another destination)",
         "§3.5.1.1: the BIB entry exists: same T#1024 (endpoint-independent mapping)")
udp_flow(c, 2, 5001, Y1, 53, 1025, D, "UDP X#5001 -> Y1#53", "REQ-3: odd source port -> odd T#1025")
udp_flow(c, 3, 500, Y1, 53, 1022, D, "UDP X#500 -> Y1#53", "REQ-4: well-known even source port -> T#1022")
udp_flow(c, 4, 501, Y1, 53, 1023, D, "UDP X#501 -> Y1#53", "REQ-4: well-known odd source port -> T#1023")
udp_reply(c, 5, Y2, 123, 1024, 5000, D, "UDP Y2#123 -> T#1024", "§3.5.1.2: the binding's session: to X#5000")
udp_flow(c, 6, 5000, Y1, 54, 1024, D, "UDP X#5000 -> Y1#54 (same host, another port)",
         "§3.5.1.1: same binding, new session: T#1024")

# ============================================================================================================
# RFC 6146 §3.5.1.2: filtering (endpoint-independent by default; address-dependent as an option)
# ============================================================================================================

c = case("nat64_filtering_eif", "Endpoint-independent filtering", "RFC 6146 §3.5.1.2, §3.5.2.2",
         tenant(PORTS),
         notes=["`nat64.filtering` defaults to endpoint_independent (RFC 4787 REQ-8's recommendation for "
                "transparency): any IPv4 host may use an existing binding; a new session is created."])
udp_flow(c, 0, 5000, Y1, 53, 2000, D, "UDP X#5000 -> Y1#53", "§3.5.1.1: binding X#5000 <-> T#2000")
udp_reply(c, 1, Y1, 53, 2000, 5000, D, "UDP Y1#53 -> T#2000", "§3.5.1.2: session exists")
udp_reply(c, 2, Y2, 7777, 2000, 5000, D, "UDP Y2#7777 -> T#2000 (a host X never sent to)",
          "§3.5.1.2: endpoint-independent filtering: the binding exists, a session is created")
c.add(3, udp4(Y2, 7777, T, 2001, D), [], "dropped", "nat64_no_binding", "UDP Y2#7777 -> T#2001 (no binding)",
      "§3.5.1.2: no BIB entry for T#2001: silently discarded")
c.add(4, udp4(Y2, 7777, T, 2000, D, ttl=64), [udp6(m46(Y2), 7777, X, 5000, D, hlim=63)], "translated", None,
      "UDP Y2#7777 -> T#2000 again", "§3.5.1.2: the session created by #3")

c = case("nat64_filtering_adf", "Address-dependent filtering", "RFC 6146 §3.5.1.2, §3.5.2.2",
         tenant(PORTS, nat64='[tenants.nat64]\nfiltering = "address_dependent"\n'), end_time=20,
         notes=["§3.5.1.2: with address-dependent filtering an IPv4 packet creates a session only if the binding "
                "has a session with its source address (any port: address-dependent, not address-and-port "
                "dependent, RFC 4787 REQ-8); otherwise it is dropped (`nat64_filtered`).",
                "§3.5.2.2: a V4 SYN that the filtering refuses is treated like one without a binding: held "
                "TCP_INCOMING_SYN (6 s) for a simultaneous open, then answered with ICMP Port Unreachable "
                "(from own_ipv4)."])
udp_flow(c, 0, 5000, Y1, 53, 2000, D, "UDP X#5000 -> Y1#53", "§3.5.1.1: binding X#5000 <-> T#2000")
udp_reply(c, 1, Y1, 54, 2000, 5000, D, "UDP Y1#54 -> T#2000 (same host, other port)",
          "§3.5.1.2: X has a session with Y1: allowed, new session")
c.add(2, udp4(Y2, 7777, T, 2000, D), [], "dropped", "nat64_filtered", "UDP Y2#7777 -> T#2000",
      "§3.5.1.2: no session of the binding with Y2: discarded")
udp_flow(c, 3, 5000, Y2, 7777, 2000, D, "UDP X#5000 -> Y2#7777", "§3.5.1.1: same binding, session with Y2")
udp_reply(c, 4, Y2, 7777, 2000, 5000, D, "UDP Y2#7777 -> T#2000", "§3.5.1.2: now allowed")
c.add(5, udp4(Y2, 7777, T, 2001, D), [], "dropped", "nat64_no_binding", "UDP Y2#7777 -> T#2001 (no binding)",
      "§3.5.1.2: no BIB entry: discarded")
c.add(6, tcp6(X, 40000, m46(Y1), 80, SYN, 10, 0), [tcp4(T, 2000, Y1, 80, SYN, 10, 0, ttl=63)], "translated", None,
      "TCP SYN X#40000 -> Y1#80", "§3.5.2.2: V6 INIT, TCP binding T#2000")
HS = tcp4(Y2, 443, T, 2000, SYN, 20, 0)
c.add(8, HS, [], "dropped", "nat64_syn_held", "TCP SYN Y2#443 -> T#2000",
      "§3.5.2.2: binding exists, but no session with Y2: held")
c.timer(14, [ipv4(OWN4, Y2, PROTO_ICMP, icmp4(3, 3, u32(0), HS), ttl=64)], "6 s later: ICMPv4 3/3 to Y2",
        "§3.5.2.2: not claimed: Port Unreachable")
c.add(16, tcp4(Y1, 8080, T, 2000, SYN, 30, 0), [tcp6(m46(Y1), 8080, X, 40000, SYN, 30, 0, hlim=63)], "translated",
      None, "TCP SYN Y1#8080 -> T#2000", "§3.5.2.2: X has a session with Y1: V4 INIT, translated")

# ============================================================================================================
# RFC 6146 §3.5.1, §3.5.2, §3.5.3, §3.7: UDP, TCP and ICMP echo translated with the binding
# ============================================================================================================

c = case("nat64_translation", "UDP, TCP and ICMP echo through a binding", "RFC 6146 §3.5.3, §3.6, §3.7",
         tenant(PORTS),
         notes=["§3.6: the outgoing tuple is (T,t) -> (Y,y) from the IPv6 side and (pool6(Z),z) -> (X,x) from the "
                "IPv4 side; §3.7 translates headers as RFC 7915 and rewrites the port (ICMP: identifier) with the "
                "transport checksum updated.",
                "ICMP identifiers: pool4 `icmp = \"7-7\"`, so identifier 0x1234 is translated to 7 (§3.5.3)."])
D21 = payload(21, 2)  # odd length: checksum padding
c.add(0, ipv6(X, m46(Y1), PROTO_UDP, udp(5000, 53, D21, pseudo6(X, m46(Y1), PROTO_UDP, 29)), hlim=64, tc=0x28),
      [ipv4(T, Y1, PROTO_UDP, udp(2000, 53, D21, pseudo4(T, Y1, PROTO_UDP, 29)), ttl=63, tos=0x28)],
      "translated", None, "UDP X#5000 -> Y1#53, traffic class 0x28, 21 bytes",
      "§3.7: RFC 7915 §5.1 (TOS = traffic class, TTL 63), source T#2000, UDP checksum recomputed")
c.add(1, ipv4(Y1, T, PROTO_UDP, udp(53, 2000, D21, pseudo4(Y1, T, PROTO_UDP, 29)), ttl=50, tos=0x28),
      [ipv6(m46(Y1), X, PROTO_UDP, udp(53, 5000, D21, pseudo6(m46(Y1), X, PROTO_UDP, 29)), hlim=49, tc=0x28)],
      "translated", None, "UDP Y1#53 -> T#2000, TTL 50", "§3.6: to X#5000 from pool6(Y1); hop limit 49")
c.add(2, tcp6(X, 40000, m46(Y1), 80, SYN, 100, 0), [tcp4(T, 2000, Y1, 80, SYN, 100, 0, ttl=63)], "translated", None,
      "TCP SYN X#40000 -> Y1#80", "§3.5.2.2: CLOSED -> V6 INIT; T#2000 (even); TCP checksum recomputed")
c.add(3, tcp4(Y1, 80, T, 2000, SYN | ACK, 900, 101), [tcp6(m46(Y1), 80, X, 40000, SYN | ACK, 900, 101, hlim=63)],
      "translated", None, "TCP SYN+ACK Y1#80 -> T#2000", "§3.5.2.2: V6 INIT -> ESTABLISHED; to X#40000")
DE = payload(32, 3)
c.add(4, echo6(X, m46(Y1), 128, 0x1234, 1, DE), [echo4(T, Y1, 8, 7, 1, DE, ttl=63)], "translated", None,
      "ICMPv6 echo request X -> Y1, identifier 0x1234",
      "§3.5.3: binding X#0x1234 <-> T#7; RFC 7915 §5.2: type 128 -> 8, no pseudo-header in the checksum")
c.add(5, echo4(Y1, T, 0, 7, 1, DE), [echo6(m46(Y1), X, 129, 0x1234, 1, DE, hlim=63)], "translated", None,
      "ICMPv4 echo reply Y1 -> T, identifier 7", "§3.5.3: to X, identifier 0x1234; RFC 7915 §4.2: type 0 -> 129")
c.add(6, tcp6(X, 40001, m46(Y1), 80, ACK, 5, 5), [], "dropped", "nat64_tcp_no_session",
      "TCP ACK X#40001 -> Y1#80 (no binding, not a SYN)",
      "§3.5.2.2: CLOSED, not a SYN: no state is created; silently discarded")
c.add(7, ipv4(Y1, T, PROTO_UDP, udp(53, 2000, D21, checksum=0), ttl=64),
      [ipv6(m46(Y1), X, PROTO_UDP, udp(53, 5000, D21, pseudo6(m46(Y1), X, PROTO_UDP, 29)), hlim=63)], "translated",
      None, "UDP Y1#53 -> T#2000 without checksum (0), unfragmented",
      "§3.4: an unfragmented IPv4 UDP packet with a zero checksum gets one computed")
E = udp6(X, 5000, m46(Y1), 53, D21, hlim=1)
c.add(8, E, [ipv6(OWN6, X, PROTO_ICMPV6, icmp6(3, 0, u32(0), E, OWN6, X), hlim=64)], "icmp_error", "ttl_expired",
      "UDP X#5000 -> Y1#53, hop limit 1", "§3.7 / RFC 7915 §5.1: the translator is a router: ICMPv6 3/0 from own_ipv6")
E = udp4(Y1, 53, T, 2000, D21, ttl=1)
c.add(9, E, [ipv4(OWN4, Y1, PROTO_ICMP, icmp4(11, 0, u32(0), E), ttl=64)], "icmp_error", "ttl_expired",
      "UDP Y1#53 -> T#2000, TTL 1", "§3.7 / RFC 7915 §4.1: ICMPv4 11/0 from own_ipv4")

# ============================================================================================================
# RFC 6146 §3.5.2.2: the TCP state machine
# ============================================================================================================

c = case("nat64_tcp_states", "Every TCP state transition", "RFC 6146 §3.5.2.2, §4",
         tenant(PORTS),
         end_time=8002,
         notes=["All flows come from X#40000, so they share one binding X#40000 <-> T#2000 (endpoint-independent "
                "mapping) and differ by the IPv4 peer's port: flow A Y1#80 (FIN from IPv6 first), flow B Y1#81 (FIN "
                "from IPv4 first, then RST), flow C Y1#82 (RST to TRANS and back to ESTABLISHED), flow E Y1#84 "
                "(opened from IPv4: V4 INIT).",
                "Timeouts: the defaults, TCP_TRANS 240 s and TCP_EST 7440 s (§4). A session lives at least its "
                "timeout after the packet that set it and at most one second more (docs/config.md): the packets "
                "that must find a session closed are sent at least 2 s after the deadline.",
                "§3.5.2.2 on ESTABLISHED idling out: the NAT64 may probe; xlat64 does not, it moves the session "
                "to TRANS (TCP_TRANS more seconds), where any non-RST packet brings it back to ESTABLISHED. #27 "
                "relies on that choice.",
                "RST in V4 FIN RCV / V6 FIN RCV: §3.5.2.2 names only the other side's FIN for these states "
                "(any other packet refreshes TCP_EST, a RST included); xlat64 moves the session to TRANS "
                "(TCP_TRANS), as for a RST in ESTABLISHED, so that a reset connection does not keep its session "
                "for two hours (Jool offers the same as its option handle-rst-during-fin-rcv). #14 and #22 rely "
                "on that choice: with the RFC's literal text #22 would be translated.",
                "§3.5.2.2 CLOSED + V4 SYN with a binding that the filtering lets in: the session goes to V4 INIT "
                "and the SYN is translated (#24). (Only a V4 SYN without a binding is held: "
                "nat64_simultaneous_open.)",
                "A TCP packet that is not a SYN and has no session is dropped: `nat64_tcp_no_session` when the "
                "binding exists (or from the IPv6 side), `nat64_no_binding` from the IPv4 side when it does not."])
P = payload(10, 4)


def v6(c, t, dport, flags, seq, ack, desc, rule, data=b""):
    c.add(t, tcp6(X, 40000, m46(Y1), dport, flags, seq, ack, data),
          [tcp4(T, 2000, Y1, dport, flags, seq, ack, data, ttl=63)], "translated", None, desc, rule)


def v4(c, t, sport, flags, seq, ack, desc, rule, data=b""):
    c.add(t, tcp4(Y1, sport, T, 2000, flags, seq, ack, data),
          [tcp6(m46(Y1), sport, X, 40000, flags, seq, ack, data, hlim=63)], "translated", None, desc, rule)


# Flow A: V6 INIT, ESTABLISHED, V6 FIN RCV, V4 FIN + V6 FIN RCV, closed.
v6(c, 0, 80, SYN, 1000, 0, "A: V6 SYN", "CLOSED -> V6 INIT (TCP_TRANS); binding T#2000")
v4(c, 1, 80, SYN | ACK, 5000, 1001, "A: V4 SYN+ACK", "V6 INIT + V4 SYN -> ESTABLISHED (TCP_EST)")
v6(c, 2, 80, ACK, 1001, 5001, "A: V6 ACK", "ESTABLISHED: refreshed")
v6(c, 3, 80, PSH | ACK, 1001, 5001, "A: V6 data", "ESTABLISHED: refreshed", data=P)
v6(c, 4, 80, FIN | ACK, 1011, 5001, "A: V6 FIN", "ESTABLISHED + V6 FIN -> V6 FIN RCV")
v4(c, 5, 80, ACK, 5001, 1012, "A: V4 ACK", "V6 FIN RCV: translated, TCP_EST")
v4(c, 6, 80, FIN | ACK, 5001, 1012, "A: V4 FIN", "V6 FIN RCV + V4 FIN -> V4 FIN + V6 FIN RCV (TCP_TRANS)")
v6(c, 7, 80, ACK, 1012, 5002, "A: V6 ACK (last ACK)", "V4 FIN + V6 FIN RCV: translated, lifetime not extended")
# Flow B: V4 FIN RCV, then RST -> TRANS.
v6(c, 10, 81, SYN, 2000, 0, "B: V6 SYN", "CLOSED -> V6 INIT")
v4(c, 11, 81, SYN | ACK, 6000, 2001, "B: V4 SYN+ACK", "-> ESTABLISHED")
v6(c, 12, 81, ACK, 2001, 6001, "B: V6 ACK", "ESTABLISHED")
v4(c, 13, 81, FIN | ACK, 6001, 2001, "B: V4 FIN", "ESTABLISHED + V4 FIN -> V4 FIN RCV")
v6(c, 14, 81, ACK, 2001, 6002, "B: V6 ACK", "V4 FIN RCV: translated, TCP_EST")
v6(c, 15, 81, RST, 2001, 0, "B: V6 RST", "V4 FIN RCV + RST -> TRANS (TCP_TRANS, until ~256 s)")
# Flow C: ESTABLISHED -> TRANS (V4 RST) -> ESTABLISHED (any other packet).
v6(c, 20, 82, SYN, 3000, 0, "C: V6 SYN", "CLOSED -> V6 INIT")
v4(c, 21, 82, SYN | ACK, 7000, 3001, "C: V4 SYN+ACK", "-> ESTABLISHED")
v6(c, 22, 82, ACK, 3001, 7001, "C: V6 ACK", "ESTABLISHED")
v4(c, 23, 82, RST | ACK, 7001, 3001, "C: V4 RST", "ESTABLISHED + RST -> TRANS (TCP_TRANS)")
v6(c, 100, 82, ACK, 3001, 7001, "C: V6 ACK 77 s later", "TRANS + a packet that is not a RST -> ESTABLISHED (TCP_EST)")
# Closed sessions no longer translate.
c.add(250, tcp4(Y1, 80, T, 2000, FIN | ACK, 5001, 1012), [], "dropped", "nat64_tcp_no_session",
      "A: V4 FIN retransmitted, 243 s after the V4 FIN",
      "V4 FIN + V6 FIN RCV, TCP_TRANS (240 s) elapsed: session deleted; not a SYN: discarded")
c.add(250, tcp6(X, 40000, m46(Y1), 80, ACK, 1012, 5002), [], "dropped", "nat64_tcp_no_session",
      "A: V6 ACK retransmitted", "session deleted: discarded")
c.add(260, tcp4(Y1, 81, T, 2000, ACK, 6002, 2001), [], "dropped", "nat64_tcp_no_session",
      "B: V4 ACK 245 s after the RST", "TRANS, TCP_TRANS elapsed: session deleted")
v4(c, 261, 82, PSH | ACK, 7001, 3001, "C: V4 data", "ESTABLISHED (since #19): translated", data=P)
# Flow E: opened from IPv4.
v4(c, 270, 84, SYN, 8000, 0, "E: V4 SYN Y1#84 -> T#2000",
   "CLOSED + V4 SYN, binding exists, endpoint-independent filtering -> V4 INIT; translated")
v6(c, 271, 84, SYN | ACK, 9000, 8001, "E: V6 SYN+ACK", "V4 INIT + V6 SYN -> ESTABLISHED (TCP_EST)")
v4(c, 272, 84, ACK, 8001, 9001, "E: V4 ACK", "ESTABLISHED")
# TCP_EST: C's last packet at 261 s, E's at 272 s. Expiry at ~7702 s moves C to TRANS (no probe); a packet then
# brings it back.
v6(c, 7705, 82, ACK, 3001, 7011, "C: V6 ACK 7444 s after C's last packet",
   "TCP_EST elapsed -> TRANS (xlat64 sends no probe); TRANS + packet -> ESTABLISHED")
# E idles out: ESTABLISHED -> TRANS at ~7713 s, deleted at ~7953 s. C: TCP_EST from 7705 s.
c.add(7960, tcp4(Y1, 84, T, 2000, ACK, 8001, 9001), [], "dropped", "nat64_tcp_no_session",
      "E: V4 ACK 7688 s after E's last packet", "TCP_EST then TCP_TRANS elapsed: session deleted")
v4(c, 8000, 82, ACK, 7001, 3001, "C: V4 ACK", "ESTABLISHED (since #27): translated")

# ============================================================================================================
# RFC 6146 §3.5.1, §3.5.3, §4: UDP and ICMP session timeouts
# ============================================================================================================

c = case("nat64_timeouts", "UDP, ICMP query and TCP V6 INIT sessions expire", "RFC 6146 §3.5.1, §3.5.2.2, §3.5.3, §4",
         tenant(PORTS, nat64="[tenants.nat64.timeouts]\nudp = 120\nicmp = 60\n"),
         end_time=900,
         notes=["`udp = 120` (UDP_MIN, §4: the shortest the RFC allows), `icmp = 60` (ICMP_DEFAULT).",
                "A session lives at least its timeout after the last packet that refreshed it and at most one "
                "second more (docs/config.md): packets are sent at least a second inside the lifetime, or two "
                "seconds past it.",
                "When its last session expires the dynamic binding goes too (§3.5.1: a dynamic BIB entry "
                "without sessions is deleted); an IPv4 packet for it is then `nat64_no_binding`."])
udp_flow(c, 0, 5000, Y1, 53, 2000, D, "UDP X#5000 -> Y1#53", "§3.5.1.1: binding T#2000, session lifetime 120 s")
udp_reply(c, 100, Y1, 53, 2000, 5000, D, "UDP Y1#53 -> T#2000 at 100 s", "session alive; refreshed to 220 s")
udp_reply(c, 219, Y1, 53, 2000, 5000, D, "UDP Y1#53 -> T#2000 at 219 s", "session alive; refreshed to 339 s")
c.add(342, udp4(Y1, 53, T, 2000, D), [], "dropped", "nat64_no_binding", "UDP Y1#53 -> T#2000 at 342 s",
      "§3.5.1: UDP lifetime elapsed: session and binding deleted; discarded")
udp_flow(c, 343, 5000, Y1, 53, 2000, D, "UDP X#5000 -> Y1#53 at 343 s", "§3.5.1.1: a new binding (T#2000 again)")
DE = payload(16, 5)
c.add(400, echo6(X, m46(Y1), 128, 0x1234, 1, DE), [echo4(T, Y1, 8, 7, 1, DE, ttl=63)], "translated", None,
      "ICMPv6 echo request id 0x1234 at 400 s", "§3.5.3: binding X#0x1234 <-> T#7, lifetime 60 s")
c.add(458, echo4(Y1, T, 0, 7, 1, DE), [echo6(m46(Y1), X, 129, 0x1234, 1, DE, hlim=63)], "translated", None,
      "ICMPv4 echo reply id 7 at 458 s", "§3.5.3: session alive; refreshed to 518 s")
c.add(521, echo4(Y1, T, 0, 7, 2, DE), [], "dropped", "nat64_no_binding", "ICMPv4 echo reply id 7 at 521 s",
      "§3.5.3: ICMP lifetime elapsed: discarded")
# TCP_TRANS in V6 INIT (§3.5.2.2): a V6 SYN retransmission extends it; an answer after it ran out finds no binding.
c.add(600, tcp6(X, 40000, m46(Y1), 80, SYN, 1, 0), [tcp4(T, 2000, Y1, 80, SYN, 1, 0, ttl=63)], "translated", None,
      "TCP SYN X#40000 -> Y1#80 at 600 s", "§3.5.2.2: V6 INIT, TCP_TRANS (240 s); binding T#2000")
c.add(601, tcp6(X, 40002, m46(Y1), 81, SYN, 1, 0), [tcp4(T, 2001, Y1, 81, SYN, 1, 0, ttl=63)], "translated", None,
      "TCP SYN X#40002 -> Y1#81 at 601 s", "§3.5.2.2: V6 INIT; binding T#2001 (2000 taken)")
c.add(700, tcp6(X, 40000, m46(Y1), 80, SYN, 1, 0), [tcp4(T, 2000, Y1, 80, SYN, 1, 0, ttl=63)], "translated", None,
      "the first SYN retransmitted at 700 s", "§3.5.2.2: V6 INIT + V6 SYN: TCP_TRANS again (to 940 s)")
c.add(842, tcp4(Y1, 80, T, 2000, SYN | ACK, 9, 2), [tcp6(m46(Y1), 80, X, 40000, SYN | ACK, 9, 2, hlim=63)],
      "translated", None, "TCP SYN+ACK Y1#80 -> T#2000 at 842 s", "§3.5.2.2: V6 INIT (until 940 s) -> ESTABLISHED")
SA = tcp4(Y1, 81, T, 2001, SYN | ACK, 9, 2)
c.add(845, SA, [], "dropped", "nat64_syn_held", "TCP SYN+ACK Y1#81 -> T#2001 at 845 s",
      "§3.5.2.2: V6 INIT's TCP_TRANS ran out at ~841 s: session and binding gone; a V4 SYN without a binding "
      "is held")
c.timer(851, [ipv4(OWN4, Y1, PROTO_ICMP, icmp4(3, 3, u32(0), SA), ttl=64)], "6 s later: ICMPv4 3/3 to Y1",
        "§3.5.2.2: not claimed: Port Unreachable")

# ============================================================================================================
# RFC 6146 §3.5.2.2: simultaneous open (IPv4 SYN without a binding is held for 6 s)
# ============================================================================================================

c = case("nat64_simultaneous_open", "IPv4 SYN held for a simultaneous open", "RFC 6146 §3.5.2.2",
         tenant(PORTS),
         end_time=30,
         notes=["§3.5.2.2: a V4 SYN for which no BIB entry exists is kept for at least 6 "
                "seconds (TCP_INCOMING_SYN, as RFC 5382 REQ-4); if an IPv6 SYN for the same connection is translated meanwhile the stored SYN is "
                "silently dropped, otherwise it is answered with ICMP Port Unreachable (Type 3, Code 3). "
                "`timeouts.tcp_incoming_syn` = 6 (TCP_INCOMING_SYN, the default).",
                "The ICMP error comes from the translator's own_ipv4 and quotes the SYN as received (the held "
                "copy); the harness does not compare the outer TOS, Identification, DF and TTL of errors the "
                "translator originates (README.md next to this file). A retransmitted SYN keeps the first "
                "one's deadline: one error.",
                "The error appears as a `timer` row: the harness runs the timers up to each packet's time "
                "(here, the first packet past 6 s is #3 at 10 s)."])
SYN1 = tcp4(Y1, 80, T, 2000, SYN, 11000, 0)
c.add(0, SYN1, [], "dropped", "nat64_syn_held", "V4 SYN Y1#80 -> T#2000, no binding",
      "§3.5.2.2: stored, not translated, no error yet")
c.add(5.9, SYN1, [], "dropped", "nat64_syn_held", "the same SYN retransmitted at 5.9 s",
      "still held (one stored copy, first deadline)")
c.timer(6, [ipv4(OWN4, Y1, PROTO_ICMP, icmp4(3, 3, u32(0), SYN1), ttl=64)],
        "6 s after #1: ICMPv4 3/3 to Y1 quoting #1", "§3.5.2.2: no IPv6 SYN came: Port Unreachable")
SYN2 = tcp4(Y2, 80, T, 2000, SYN, 12000, 0)
c.add(10, SYN2, [], "dropped", "nat64_syn_held", "V4 SYN Y2#80 -> T#2000 at 10 s, no binding", "§3.5.2.2: stored")
c.add(12, tcp6(X, 40000, m46(Y2), 80, SYN, 13000, 0), [tcp4(T, 2000, Y2, 80, SYN, 13000, 0, ttl=63)], "translated",
      None, "V6 SYN X#40000 -> Y2#80 at 12 s (binding T#2000: the held SYN's address)",
      "§3.5.2.2: the stored SYN's connection: translated, session ESTABLISHED, stored SYN silently dropped")
c.add(13, tcp4(Y2, 80, T, 2000, SYN | ACK, 12000, 13001),
      [tcp6(m46(Y2), 80, X, 40000, SYN | ACK, 12000, 13001, hlim=63)], "translated", None,
      "V4 SYN+ACK Y2#80 -> T#2000", "ESTABLISHED: translated")
c.add(14, tcp6(X, 40000, m46(Y2), 80, SYN | ACK, 13000, 12001), [tcp4(T, 2000, Y2, 80, SYN | ACK, 13000, 12001, ttl=63)],
      "translated", None, "V6 SYN+ACK X#40000 -> Y2#80", "ESTABLISHED: translated (no error for SYN2 at 16 s or later)")

# ============================================================================================================
# Static BIB entries (RFC 6146 §3.5.1.2, §3.5.2.2: IPv4-initiated communication through a configured binding)
# ============================================================================================================

c = case("nat64_static_bib", "IPv4 client reaching an IPv6 server through static BIB entries",
         "RFC 6146 §1.2.2, §3.5.1.2, §3.5.2.2",
         tenant(PORTS, extra=f'''
[[tenants.static_bib]]
protocol = "tcp"
ipv4 = "{T}#80"
ipv6 = "{S6}#8080"

[[tenants.static_bib]]
protocol = "udp"
ipv4 = "{T}#53"
ipv6 = "{S6}#53"

[[tenants.static_bib]]
protocol = "udp"
ipv4 = "{T}#2000"
ipv6 = "{S6}#5353"

[[tenants.static_bib]]
protocol = "icmp"
ipv4 = "{T}#9"
ipv6 = "{S6}#153"
'''),
         notes=["Static BIB entries T#80 <-> S6#8080 (TCP) and T#53 <-> S6#53 (UDP): an IPv4 client Z reaches the "
                "IPv6 server as if the binding had been created by the server (§3.5.1.2, §3.5.2.2: a V4 SYN with "
                "a BIB entry creates a session in V4 INIT)."])
c.add(0, tcp4(Z, 33000, T, 80, SYN, 100, 0), [tcp6(m46(Z), 33000, S6, 8080, SYN, 100, 0, hlim=63)], "translated",
      None, "V4 SYN Z#33000 -> T#80", "static binding: CLOSED -> V4 INIT, to S6#8080 from pool6(Z)")
c.add(1, tcp6(S6, 8080, m46(Z), 33000, SYN | ACK, 500, 101), [tcp4(T, 80, Z, 33000, SYN | ACK, 500, 101, ttl=63)],
      "translated", None, "V6 SYN+ACK S6#8080 -> pool6(Z)#33000", "V4 INIT + V6 SYN -> ESTABLISHED; from T#80")
c.add(2, tcp4(Z, 33000, T, 80, ACK, 101, 501), [tcp6(m46(Z), 33000, S6, 8080, ACK, 101, 501, hlim=63)], "translated",
      None, "V4 ACK", "ESTABLISHED")
c.add(3, udp4(Z, 40000, T, 53, D), [udp6(m46(Z), 40000, S6, 53, D, hlim=63)], "translated", None,
      "UDP Z#40000 -> T#53", "static binding: session created, to S6#53")
c.add(4, udp6(S6, 53, m46(Z), 40000, D), [udp4(T, 53, Z, 40000, D, ttl=63)], "translated", None,
      "UDP S6#53 -> pool6(Z)#40000", "the static binding's address: from T#53")
c.add(5, udp4(Z, 40000, T, 54, D), [], "dropped", "nat64_no_binding", "UDP Z#40000 -> T#54", "no BIB entry: discarded")
udp_flow(c, 6, 5000, Y1, 53, 2001, D, "UDP X#5000 -> Y1#53 (dynamic)",
         "T#2000 belongs to the static entry S6#5353: the even port is taken, T#2001")
E = udp6(X, 5002, m46(Y1), 53, D)
c.add(7, E, [addr_unreachable(E, X)], "icmp_error", "nat64_pool_exhausted", "UDP X#5002 -> Y1#53",
      "§3.5.1.1: no dynamic port left: ICMPv6 1/3")
c.add(8, udp4(Z, 40000, T, 2000, D), [udp6(m46(Z), 40000, S6, 5353, D, hlim=63)], "translated", None,
      "UDP Z#40000 -> T#2000", "the static entry: to S6#5353")
DE = payload(16, 11)
c.add(9, echo4(Z, T, 8, 9, 1, DE), [echo6(m46(Z), S6, 128, 153, 1, DE, hlim=63)], "translated", None,
      "ICMPv4 echo request Z -> T, identifier 9", "static ICMP entry T#9 <-> S6#153: echo request to S6, identifier 153")
c.add(10, echo6(S6, m46(Z), 129, 153, 1, DE), [echo4(T, Z, 0, 9, 1, DE, ttl=63)], "translated", None,
      "ICMPv6 echo reply S6 -> pool6(Z), identifier 153", "from T, identifier 9")

# ============================================================================================================
# RFC 6146 §3.8: hairpinning
# ============================================================================================================

c = case("nat64_hairpin", "Hairpinning between two IPv6 clients", "RFC 6146 §3.8",
         tenant(PORTS),
         notes=["§3.8: a packet from an IPv6 client to pool6(T)#t, where T#t is another client's binding, is "
                "translated to IPv4 (source: the sender's own binding) and then processed as if it had arrived "
                "on the IPv4 side, going back out as IPv6.",
                "Choice: both passes decrement (hop limit 64 -> TTL 63 -> hop limit 62), as two translations "
                "through a router would (the same as `eam_hairpin_mode = \"simple\"` for SIIT)."])
udp_flow(c, 0, 5000, Y1, 53, 2000, D, "UDP X#5000 -> Y1#53", "§3.5.1.1: binding X#5000 <-> T#2000")
c.add(1, udp6(X2, 6001, m46(T), 2000, D), [udp6(m46(T), 2001, X, 5000, D, hlim=62)], "translated", None,
      "UDP X2#6001 -> pool6(T)#2000",
      "§3.8: X2 gets T#2001 (odd); back to IPv6 through X's binding: pool6(T)#2001 -> X#5000")
c.add(2, udp6(X, 5000, m46(T), 2001, D), [udp6(m46(T), 2000, X2, 6001, D, hlim=62)], "translated", None,
      "UDP X#5000 -> pool6(T)#2001 (the answer)", "§3.8: pool6(T)#2000 -> X2#6001")
c.add(3, udp6(X2, 6001, m46(T), 2002, D), [], "dropped", "nat64_no_binding",
      "UDP X2#6001 -> pool6(T)#2002 (no binding)", "§3.8 then §3.5.1.2: no BIB entry for T#2002: discarded")
c.add(4, ipv6(X2, m46(T), NH_FRAGMENT, frag_hdr(PROTO_UDP, 0, True, 0x99) +
               udp(6001, 2000, payload(40, 10), pseudo6(X2, m46(T), PROTO_UDP, 48))[:24]),
      [], "dropped", "nat64_fragment", "first fragment X2#6001 -> pool6(T)#2000",
      "§3.8 with fragments: xlat64 does not hairpin fragments (no reassembly): discarded")
c.add(5, tcp6(X, 40000, m46(Y1), 80, SYN, 1, 0), [tcp4(T, 2000, Y1, 80, SYN, 1, 0, ttl=63)], "translated", None,
      "TCP SYN X#40000 -> Y1#80", "TCP binding X#40000 <-> T#2000")
c.add(6, tcp6(X2, 40001, m46(T), 2000, SYN, 100, 0), [tcp6(m46(T), 2001, X, 40000, SYN, 100, 0, hlim=62)],
      "translated", None, "TCP SYN X2#40001 -> pool6(T)#2000",
      "§3.8: X2 gets T#2001 (V6 INIT); second pass: V4 SYN with a binding, V4 INIT: to X#40000")
c.add(7, tcp6(X, 40000, m46(T), 2001, SYN | ACK, 200, 101), [tcp6(m46(T), 2000, X2, 40001, SYN | ACK, 200, 101, hlim=62)],
      "translated", None, "TCP SYN+ACK X#40000 -> pool6(T)#2001",
      "§3.8: both sessions ESTABLISHED (V4 INIT + V6 SYN, V6 INIT + V4 SYN): to X2#40001")
c.add(8, tcp6(X2, 40001, m46(T), 2000, ACK, 101, 201), [tcp6(m46(T), 2001, X, 40000, ACK, 101, 201, hlim=62)],
      "translated", None, "TCP ACK X2#40001 -> pool6(T)#2000", "ESTABLISHED both ways")

# ============================================================================================================
# RFC 6146 §3.5.1.1, §3.5.2.2: pool exhaustion
# ============================================================================================================

c = case("nat64_exhaustion", "pool4 exhausted: ICMPv6 Address Unreachable", "RFC 6146 §3.5.1.1, §3.5.2.2",
         tenant('tcp = "2000-2000"\nudp = "2000-2001"\nicmp = "7-7"\n'),
         notes=["§3.5.1.1: \"If it is not possible to allocate an appropriate IPv4 transport address or create a "
                "BIB entry, then the packet is discarded. The NAT64 SHOULD send an ICMPv6 Destination "
                "Unreachable error message with Code 3 (Address Unreachable).\" (§3.5.2.2 the same for TCP.) "
                "From own_ipv6, quoting the packet (RFC 4443 §3.1); the outer Traffic Class, Flow Label and Hop "
                "Limit are the translator's and not compared.",
                "UDP ports 2000-2001: the second even source port gets the odd 2001 (parity is best effort, "
                "RFC 4787 REQ-3), the third finds nothing. TCP: one port."])
udp_flow(c, 0, 5000, Y1, 53, 2000, D, "UDP X#5000 -> Y1#53", "binding T#2000")
udp_flow(c, 1, 5002, Y1, 53, 2001, D, "UDP X#5002 -> Y1#53", "even taken: T#2001 (other parity, same range)")
E = udp6(X, 5004, m46(Y1), 53, D)
c.add(2, E, [addr_unreachable(E, X)], "icmp_error", "nat64_pool_exhausted", "UDP X#5004 -> Y1#53",
      "§3.5.1.1: no port left: ICMPv6 1/3 from own_ipv6")
udp_flow(c, 3, 5000, Y2, 53, 2000, D, "UDP X#5000 -> Y2#53", "existing binding: still translated (T#2000)")
c.add(4, tcp6(X, 40000, m46(Y1), 80, SYN, 1, 0), [tcp4(T, 2000, Y1, 80, SYN, 1, 0, ttl=63)], "translated", None,
      "TCP SYN X#40000 -> Y1#80", "binding T#2000 (TCP BIB is separate from UDP's)")
E = tcp6(X2, 40002, m46(Y1), 80, SYN, 1, 0)
c.add(5, E, [addr_unreachable(E, X2)], "icmp_error", "nat64_pool_exhausted", "TCP SYN X2#40002 -> Y1#80",
      "§3.5.2.2: no port left: ICMPv6 1/3")
DE = payload(8, 12)
c.add(6, echo6(X, m46(Y1), 128, 0x1234, 1, DE), [echo4(T, Y1, 8, 7, 1, DE, ttl=63)], "translated", None,
      "ICMPv6 echo request X, identifier 0x1234", "§3.5.3: binding T#7 (the only identifier)")
E = echo6(X2, m46(Y1), 128, 0x1234, 1, DE)
c.add(7, E, [addr_unreachable(E, X2)], "icmp_error", "nat64_pool_exhausted",
      "ICMPv6 echo request X2, identifier 0x1234", "§3.5.3: no identifier left: ICMPv6 1/3")

c = case("nat64_session_limit", "Per-tenant session limit", "RFC 6146 §3.5.1.1, §3.5.1.2",
         tenant(PORTS, nat64="[tenants.nat64]\nmax_sessions = 2\n"),
         notes=["`nat64.max_sessions = 2`: beyond it new flows are refused like pool exhaustion (docs/config.md): "
                "from the IPv6 side with ICMPv6 Address Unreachable (§3.5.1.1 on a binding that "
                "cannot be created, applied to a session), from the IPv4 side silently (`nat64_session_limit`)."])
udp_flow(c, 0, 5000, Y1, 53, 2000, D, "UDP X#5000 -> Y1#53", "session 1")
udp_flow(c, 1, 5000, Y2, 53, 2000, D, "UDP X#5000 -> Y2#53", "session 2 (same binding)")
E = udp6(X, 5000, m46(Z), 53, D)
c.add(2, E, [addr_unreachable(E, X)], "icmp_error", "nat64_session_limit", "UDP X#5000 -> Z#53",
      "a third session: over the limit: ICMPv6 1/3")
c.add(3, udp4(Z, 53, T, 2000, D), [], "dropped", "nat64_session_limit", "UDP Z#53 -> T#2000",
      "§3.5.1.2: endpoint-independent filtering would create a session: over the limit, discarded")
udp_reply(c, 4, Y1, 53, 2000, 5000, D, "UDP Y1#53 -> T#2000", "existing session: translated")

# ============================================================================================================
# RFC 6146 §3.4 (incoming tuple of ICMP errors), §3.6, §3.7: ICMP errors in both directions
# ============================================================================================================

c = case("nat64_icmp_errors", "ICMP errors translated through the session of the quoted packet",
         "RFC 6146 §3.4, §3.6, §3.7; RFC 7915 §4.2, §4.3, §5.2, §5.3",
         tenant(PORTS),
         notes=["§3.4: the incoming tuple of an ICMP error is the reverse of the quoted packet's; §3.5: the "
                "session must exist (else `nat64_icmp_no_session`); §3.7: the quoted packet is translated too, "
                "with the binding's addresses and ports (the inner checksum updated).",
                "Inner packets follow the SIIT readings (README.md next to this file): hop limit / TTL not "
                "decremented, inner IPv4 Identification not compared.",
                "ICMPv6 errors from an IPv6 address with no IPv4 form (the client itself, or a router of the "
                "IPv6 network): the ICMPv4 source is the binding's IPv4 address T (docs/config.md: the RFC does "
                "not say which IPv4 source such an error gets)."])
QD = payload(20, 6)
udp_flow(c, 0, 5000, Y1, 33434, 2000, QD, "UDP X#5000 -> Y1#33434", "binding T#2000, session with Y1#33434")
Q4 = udp4(T, 2000, Y1, 33434, QD, ttl=1, ident=0x0102)  # what the router quotes (its TTL ran out)
Q6 = udp6(X, 5000, m46(Y1), 33434, QD, hlim=1)  # ... as the IPv6 side knows it
c.add(1, ipv4(R4, T, PROTO_ICMP, icmp4(11, 0, u32(0), Q4), ttl=60),
      [ipv6(m46(R4), X, PROTO_ICMPV6, icmp6(3, 0, u32(0), Q6, m46(R4), X), hlim=59)], "translated", None,
      "ICMPv4 11/0 from router R4 to T, quoting T#2000 -> Y1#33434",
      "§3.4: session found; RFC 7915 §4.2: Time Exceeded 3/0 to X; inner X#5000 -> pool6(Y1)#33434")
Q4b = udp4(T, 2000, Y1, 33434, QD, ttl=57, ident=0x0103)
Q6b = udp6(X, 5000, m46(Y1), 33434, QD, hlim=57)
c.add(2, ipv4(Y1, T, PROTO_ICMP, icmp4(3, 3, u32(0), Q4b), ttl=64),
      [ipv6(m46(Y1), X, PROTO_ICMPV6, icmp6(1, 4, u32(0), Q6b, m46(Y1), X), hlim=63)], "translated", None,
      "ICMPv4 3/3 (port unreachable) from Y1 to T", "RFC 7915 §4.2: ICMPv6 1/4 to X")
udp_reply(c, 3, Y1, 33434, 2000, 5000, QD, "UDP Y1#33434 -> T#2000", "the session: to X#5000")
P6 = udp6(m46(Y1), 33434, X, 5000, QD, hlim=63)  # what X received (#4's output)
P4 = ipv4(Y1, T, PROTO_UDP, udp(33434, 2000, QD, pseudo4(Y1, T, PROTO_UDP, 28)), ttl=63)
c.add(4, ipv6(X, m46(Y1), PROTO_ICMPV6, icmp6(1, 4, u32(0), P6, X, m46(Y1)), hlim=64),
      [ipv4(T, Y1, PROTO_ICMP, icmp4(3, 3, u32(0), P4), ttl=63)], "translated", None,
      "ICMPv6 1/4 from X to pool6(Y1), quoting pool6(Y1)#33434 -> X#5000",
      "§3.4: session found; RFC 7915 §5.2: ICMPv4 3/3 from T to Y1; inner Y1#33434 -> T#2000")
c.add(5, ipv6(R6, m46(Y1), PROTO_ICMPV6, icmp6(3, 0, u32(0), P6, R6, m46(Y1)), hlim=64),
      [ipv4(T, Y1, PROTO_ICMP, icmp4(11, 0, u32(0), P4), ttl=63)], "translated", None,
      "ICMPv6 3/0 from IPv6 router R6 to pool6(Y1), same quote",
      "RFC 7915 §5.2: ICMPv4 11/0; R6 has no IPv4 form: source T")
Q4c = udp4(T, 2001, Y1, 33434, QD, ttl=1, ident=0x0104)
c.add(6, ipv4(R4, T, PROTO_ICMP, icmp4(11, 0, u32(0), Q4c), ttl=60), [], "dropped", "nat64_icmp_no_session",
      "ICMPv4 11/0 quoting T#2001 -> Y1#33434 (no binding)", "§3.4/§3.5: no session: discarded")
Q4d = udp4(T, 2000, Y2, 33434, QD, ttl=1, ident=0x0105)
c.add(7, ipv4(R4, T, PROTO_ICMP, icmp4(11, 0, u32(0), Q4d), ttl=60), [], "dropped", "nat64_icmp_no_session",
      "ICMPv4 11/0 quoting T#2000 -> Y2#33434 (binding, no session with Y2)", "§3.5: no session: discarded")

DE = payload(24, 8)
c.add(8, echo6(X, m46(Y1), 128, 0x1234, 9, DE), [echo4(T, Y1, 8, 7, 9, DE, ttl=63)], "translated", None,
      "ICMPv6 echo request X -> Y1, identifier 0x1234", "§3.5.3: binding X#0x1234 <-> T#7")
QE4 = echo4(T, Y1, 8, 7, 9, DE, ttl=5)
QE6 = echo6(X, m46(Y1), 128, 0x1234, 9, DE, hlim=5)
c.add(9, ipv4(R4, T, PROTO_ICMP, icmp4(3, 1, u32(0), QE4), ttl=60),
      [ipv6(m46(R4), X, PROTO_ICMPV6, icmp6(1, 0, u32(0), QE6, m46(R4), X), hlim=59)], "translated", None,
      "ICMPv4 3/1 (host unreachable) from R4 quoting the echo request T -> Y1, identifier 7",
      "§3.4: the ICMP session of identifier 7; RFC 7915 §4.2: 3/1 -> 1/0; inner echo request type 128, "
      "identifier 0x1234, checksum with the IPv6 pseudo-header")
c.add(10, tcp6(X, 40000, m46(Y1), 80, SYN, 500, 0), [tcp4(T, 2000, Y1, 80, SYN, 500, 0, ttl=63)], "translated",
      None, "TCP SYN X#40000 -> Y1#80", "§3.5.2.2: V6 INIT, binding T#2000")
QT4 = tcp4(T, 2000, Y1, 80, SYN, 500, 0, ttl=62)
QT6 = tcp6(X, 40000, m46(Y1), 80, SYN, 500, 0, hlim=62)
c.add(11, ipv4(Y1, T, PROTO_ICMP, icmp4(3, 3, u32(0), QT4), ttl=64),
      [ipv6(m46(Y1), X, PROTO_ICMPV6, icmp6(1, 4, u32(0), QT6, m46(Y1), X), hlim=63)], "translated", None,
      "ICMPv4 3/3 from Y1 quoting the TCP SYN T#2000 -> Y1#80",
      "§3.4: the TCP session; inner X#40000 -> pool6(Y1)#80, TCP checksum updated")
QL = payload(200, 9)
QS4 = udp4(T, 2000, Y1, 33434, QL, ttl=1, ident=0x0106)  # 228 bytes; the router quotes 28 (RFC 792)
QS6 = udp6(X, 5000, m46(Y1), 33434, QL, hlim=1)
c.add(12, ipv4(R4, T, PROTO_ICMP, icmp4(11, 0, u32(0), QS4[:28]), ttl=60),
      [ipv6(m46(R4), X, PROTO_ICMPV6, icmp6(3, 0, u32(0), QS6[:48], m46(R4), X), hlim=59)], "translated", None,
      "ICMPv4 11/0 quoting only the IPv4 header and 8 bytes of a 228-byte UDP datagram (RFC 792)",
      "inner Payload Length from the quoted header (208); the UDP checksum (covering bytes not quoted) updated "
      "for the new addresses and port")

# ============================================================================================================
# RFC 6146 §3.4 (fragments), RFC 7915 §4.1, §5.1.1: fragments
# ============================================================================================================

c = case("nat64_fragments", "Fragments: the first one finds the session, later ones follow it",
         "RFC 6146 §3.4, §3.5; RFC 7915 §4.1, §5.1.1",
         tenant(PORTS), end_time=8,
         notes=["§3.4: only the first fragment carries the ports; the NAT64 translates later fragments with what "
                "the first one found. A fragment that arrives before its first fragment is held "
                "(`nat64_fragment_held`) and translated right after its first fragment (docs/nat64.md); "
                "`nat64_fragments_out_of_order` covers the store in detail.",
                "A first fragment is remembered for 2 s (RFC 6146 §4: FRAGMENT_MIN is 2 s); a later fragment "
                "after that is held like one that came before its first fragment (and dropped 2 s later, "
                "silently, when no first fragment comes).",
                "IPv6 -> IPv4 (RFC 7915 §5.1.1): IPv4 Identification = low 16 bits of the IPv6 one, MF = M, "
                "offset copied, DF clear. IPv4 -> IPv6 (§4.1): a Fragment Header with the IPv4 ID. The transport "
                "checksum (in the first fragment) covers the whole datagram: updated for the new addresses and "
                "port."])
FD = payload(56, 7)
seg6 = udp(5000, 53, FD, pseudo6(X, m46(Y1), PROTO_UDP, 64))
seg4 = udp(2000, 53, FD, pseudo4(T, Y1, PROTO_UDP, 64))
c.add(0, ipv6(X, m46(Y1), NH_FRAGMENT, frag_hdr(PROTO_UDP, 0, True, 0x12345) + seg6[:32]),
      [ipv4(T, Y1, PROTO_UDP, seg4[:32], ttl=63, ident=0x2345, mf=True)], "translated", None,
      "UDP X#5000 -> Y1#53, first IPv6 fragment (ID 0x12345, 32 bytes)",
      "§3.5.1.1: binding T#2000; RFC 7915 §5.1.1: ID 0x2345, MF, offset 0")
c.add(0.1, ipv6(X, m46(Y1), NH_FRAGMENT, frag_hdr(PROTO_UDP, 32, False, 0x12345) + seg6[32:]),
      [ipv4(T, Y1, PROTO_UDP, seg4[32:], ttl=63, ident=0x2345, frag_offset=32)], "translated", None,
      "its second (last) fragment", "§3.4: as its first fragment: from T; offset 32")
seg4 = udp(53, 2000, FD, pseudo4(Y1, T, PROTO_UDP, 64))
seg6 = udp(53, 5000, FD, pseudo6(m46(Y1), X, PROTO_UDP, 64))
c.add(1, ipv4(Y1, T, PROTO_UDP, seg4[:32], ident=0xBEEF, mf=True),
      [ipv6(m46(Y1), X, NH_FRAGMENT, frag_hdr(PROTO_UDP, 0, True, 0xBEEF) + seg6[:32], hlim=63)], "translated", None,
      "UDP Y1#53 -> T#2000, first IPv4 fragment (ID 0xbeef)", "§3.5.1.2: to X#5000; RFC 7915 §4.1: Fragment Header")
c.add(1.1, ipv4(Y1, T, PROTO_UDP, seg4[32:], ident=0xBEEF, frag_offset=32),
      [ipv6(m46(Y1), X, NH_FRAGMENT, frag_hdr(PROTO_UDP, 32, False, 0xBEEF) + seg6[32:], hlim=63)], "translated",
      None, "its last fragment", "§3.4: as its first fragment: to X")
seg6 = udp(5000, 53, FD, pseudo6(X, m46(Y1), PROTO_UDP, 64))
seg4 = udp(2000, 53, FD, pseudo4(T, Y1, PROTO_UDP, 64))
c.add(2, ipv6(X, m46(Y1), NH_FRAGMENT, frag_hdr(PROTO_UDP, 32, False, 0x777) + seg6[32:]), [], "dropped",
      "nat64_fragment_held", "a last IPv6 fragment (ID 0x777) before its first",
      "§3.4: no first fragment seen: held (fragments arriving out of order)")
c.add(2.1, ipv6(X, m46(Y1), NH_FRAGMENT, frag_hdr(PROTO_UDP, 0, True, 0x777) + seg6[:32]),
      [ipv4(T, Y1, PROTO_UDP, seg4[:32], ttl=63, ident=0x777, mf=True),
       ipv4(T, Y1, PROTO_UDP, seg4[32:], ttl=63, ident=0x777, frag_offset=32)], "translated", None,
      "then its first fragment", "translated (existing binding T#2000), then the held last fragment")
c.add(2.2, ipv6(X, m46(Y1), NH_FRAGMENT, frag_hdr(PROTO_UDP, 32, False, 0x777) + seg6[32:]),
      [ipv4(T, Y1, PROTO_UDP, seg4[32:], ttl=63, ident=0x777, frag_offset=32)], "translated", None,
      "the last fragment sent again", "§3.4: its first fragment has been seen: translated")
seg6 = udp(5000, 53, FD, pseudo6(X, m46(Y1), PROTO_UDP, 64))
seg4 = udp(2000, 53, FD, pseudo4(T, Y1, PROTO_UDP, 64))
c.add(3, ipv6(X, m46(Y1), NH_FRAGMENT, frag_hdr(PROTO_UDP, 0, True, 0x888) + seg6[:32]),
      [ipv4(T, Y1, PROTO_UDP, seg4[:32], ttl=63, ident=0x888, mf=True)], "translated", None,
      "first fragment of datagram 0x888 at 3 s", "translated")
c.add(5.5, ipv6(X, m46(Y1), NH_FRAGMENT, frag_hdr(PROTO_UDP, 32, False, 0x888) + seg6[32:]), [], "dropped",
      "nat64_fragment_held", "its last fragment 2.5 s later",
      "§4 (FRAGMENT_MIN 2 s): xlat64 remembers a first fragment 2 s; later: held as if it came first "
      "(dropped at 7.5 s: no first fragment comes)")
c.add(6, ipv4(Y1, T, PROTO_UDP, udp(53, 2000, FD, checksum=0)[:32], ident=0xCAFE, mf=True), [], "dropped",
      "udp_checksum_zero", "first IPv4 fragment of a UDP datagram without checksum (0)",
      "§3.4: the checksum of a fragmented datagram cannot be computed from one fragment: discarded")

c = case("nat64_fragments_out_of_order", "Fragments that arrive before their first fragment are held",
         "RFC 6146 §3.4, §4; RFC 7915 §4.1, §5.1.1",
         tenant(PORTS, nat64="[tenants.nat64]\nfragments_held_max = 3\n"), end_time=8,
         notes=["§3.4: \"the NAT64 MUST handle fragments arriving out of order\", limiting the resources devoted "
                "to them and allowing them to arrive over at least FRAGMENT_MIN (2 s, §4). xlat64 holds a "
                "non-first fragment whose first fragment it has not seen (`nat64_fragment_held`); when the first "
                "fragment is translated, the held fragments of the same datagram (source, destination, protocol, "
                "identification) are translated and emitted right after it, in arrival order.",
                "Limits: `fragments_held_max = 3` here (default 256) and `fragments_held_bytes` (default 256 KiB) "
                "per tenant and worker; beyond them a fragment is dropped (`nat64_fragment_store_full`). A held "
                "fragment is dropped after `timeouts.fragment` (2 s) without an ICMP error (none is sent when "
                "the first fragment never arrived, RFC 792 / RFC 8200 §4.5).",
                "Each translated fragment as in `nat64_fragments`: RFC 7915 §5.1.1 (IPv4 ID = low 16 bits, MF = "
                "M, offset copied) and §4.1 (Fragment Header with the IPv4 ID); the transport checksum, in the "
                "first fragment, updated for the new addresses and port."])
FD = payload(96, 11)  # UDP segment of 104 bytes: fragments of 40, 32 and 32 bytes
seg6 = udp(5000, 53, FD, pseudo6(X, m46(Y1), PROTO_UDP, 104))
seg4 = udp(2000, 53, FD, pseudo4(T, Y1, PROTO_UDP, 104))


def f6(off, end, more, ident, s6=None):
    s6 = seg6 if s6 is None else s6
    return ipv6(X, m46(Y1), NH_FRAGMENT, frag_hdr(PROTO_UDP, off, more, ident) + s6[off:end])


def f6to4(off, end, more, ident):
    return ipv4(T, Y1, PROTO_UDP, seg4[off:end], ttl=63, ident=ident & 0xFFFF, mf=more, frag_offset=off)


c.add(0, f6(40, 72, True, 0x11001), [], "dropped", "nat64_fragment_held",
      "UDP X#5000 -> Y1#53 (ID 0x11001): the middle fragment (offset 40) first", "§3.4: no first fragment: held")
c.add(0.1, f6(72, 104, False, 0x11001), [], "dropped", "nat64_fragment_held",
      "then its last fragment (offset 72)", "§3.4: held")
c.add(0.2, f6(0, 40, True, 0x11001),
      [f6to4(0, 40, True, 0x11001), f6to4(40, 72, True, 0x11001), f6to4(72, 104, False, 0x11001)], "translated",
      None, "then its first fragment",
      "§3.5.1.1: binding T#2000; the first fragment, then the held ones in arrival order: offsets 0, 40, 72")
seg4r = udp(53, 2000, FD, pseudo4(Y1, T, PROTO_UDP, 104))
seg6r = udp(53, 5000, FD, pseudo6(m46(Y1), X, PROTO_UDP, 104))
c.add(1, ipv4(Y1, T, PROTO_UDP, seg4r[40:], ident=0x2002, frag_offset=40), [], "dropped", "nat64_fragment_held",
      "UDP Y1#53 -> T#2000 (ID 0x2002): the last IPv4 fragment (offset 40) first", "§3.4: held")
c.add(1.1, ipv4(Y1, T, PROTO_UDP, seg4r[:40], ident=0x2002, mf=True),
      [ipv6(m46(Y1), X, NH_FRAGMENT, frag_hdr(PROTO_UDP, 0, True, 0x2002) + seg6r[:40], hlim=63),
       ipv6(m46(Y1), X, NH_FRAGMENT, frag_hdr(PROTO_UDP, 40, False, 0x2002) + seg6r[40:], hlim=63)], "translated",
      None, "then its first fragment", "§3.5.1.2: to X#5000; RFC 7915 §4.1: Fragment Headers; the held one after")
for k, (t, ident) in enumerate([(2, 0x3001), (2.1, 0x3002), (2.2, 0x3003)]):
    c.add(t, f6(72, 104, False, ident), [], "dropped", "nat64_fragment_held",
          f"last fragment of datagram {ident:#x}", f"§3.4: held ({k + 1} of fragments_held_max = 3)")
c.add(2.3, f6(72, 104, False, 0x3004), [], "dropped", "nat64_fragment_store_full",
      "last fragment of datagram 0x3004", "§3.4: resources limited: the store holds 3 already: dropped")
c.add(2.4, f6(0, 72, True, 0x3001), [f6to4(0, 72, True, 0x3001), f6to4(72, 104, False, 0x3001)], "translated",
      None, "first fragment of 0x3001 (72 bytes)", "translated, then its held last fragment: room for one more")
c.add(2.5, f6(72, 104, False, 0x3004), [], "dropped", "nat64_fragment_held",
      "the last fragment of 0x3004 again", "§3.4: held (3 of 3)")
c.add(5, f6(0, 72, True, 0x3002), [f6to4(0, 72, True, 0x3002)], "translated", None,
      "first fragment of 0x3002 at 5 s",
      "§4: its last fragment, held at 2.1 s, was dropped at 4.1 s (2 s): only the first fragment goes out")
c.add(5.1, f6(72, 104, False, 0x3002), [f6to4(72, 104, False, 0x3002)], "translated", None,
      "its last fragment sent again", "§3.4: its first fragment has been seen (2 s ago at most): translated")


# ------------------------------------------------------------------------------------------------------------
# Writing
# ------------------------------------------------------------------------------------------------------------


def write_pcap(path, packets):
    """packets: [(time, bytes)], LINKTYPE_RAW."""
    pkts = []
    for t, b in packets:
        r = Raw(load=b)
        r.time = stamp(t)
        pkts.append(r)
    wrpcap(path, pkts, linktype=101)
    back = rdpcap(path) if packets else []
    assert [bytes(p) for p in back] == [b for _, b in packets], path
    assert [Decimal(str(p.time)).quantize(Decimal("0.000001")) for p in back] == \
        [stamp(t).quantize(Decimal("0.000001")) for t, _ in packets], path


def write_case(c: Case):
    d = os.path.join(HERE, c.name)
    if os.path.isdir(d):
        shutil.rmtree(d)
    os.makedirs(d)
    with open(os.path.join(d, "config.toml"), "w") as f:
        f.write(f"# Golden case {c.name}: {c.title}. Generated by ../gen_nat64.py; do not edit.\n\n" + c.config)
    inputs = [(it[1], it[2]) for it in c.items if it[0] == "input"]
    expected = []
    for i, it in enumerate(c.items):
        kind, t = it[0], it[1]
        if kind == "timer":
            # Emitted when the harness runs the timers: at the next packet's time, or at end_time.
            nxt = next((x[1] for x in c.items[i + 1:] if x[0] == "input"), c.end_time)
            assert nxt is not None and nxt >= t, f"{c.name}: timer row needs a later packet or end_time"
            t = nxt
        expected += [(t, e) for e in it[3]]
    checks = {"ok": 0}
    for _, b in inputs + expected:
        r = scapy_crosscheck(b, False)
        checks[r] = checks.get(r, 0) + 1
    write_pcap(os.path.join(d, "input.pcap"), inputs)
    write_pcap(os.path.join(d, "expected.pcap"), expected)
    lines = [f"# {c.title}", "",
             f"Golden case `{c.name}` ({c.rfc}). Generated by `../gen_nat64.py`; do not edit by hand.", "",
             "- `config.toml`: the tenant configuration.",
             f"- `input.pcap`: {len(inputs)} packets (LINKTYPE_RAW); their timestamps drive the translator's clock.",
             f"- `expected.pcap`: {len(expected)} packets, the outputs of the input packets and of the timers, "
             "in order."]
    if c.end_time is not None:
        lines.append(f"- `end_time`: {stamp(c.end_time)} (after the last packet the harness runs the timers up to "
                     f"this capture time, {c.end_time} s after T0)")
    lines.append("")
    lines += [f"Times are seconds after T0 = {T0} (the capture's clock). Addresses: pool6 `{POOL6}`, pool4 "
              f"address T = {T}, IPv6 clients X = {X} and X2 = {X2}, IPv4 hosts Y1 = {Y1}, Y2 = {Y2}, Z = {Z}; "
              "`pool6(Y)` is Y's RFC 6052 form.", ""]
    if c.notes:
        lines += ["## Choices and readings", ""] + [f"- {n}" for n in c.notes] + [""]
    lines += ["## Packets", "",
              "`fate` is what the translator does with the packet (`translated`, `icmp_error`: an ICMP error goes back "
              "to the sender instead, `dropped`), `reason` the DropReason label (dataplane/src/stats.rs), `out` the "
              "number of packets it emits into expected.pcap. The harness checks all three. A `t` row is what the "
              "timers emit when the clock reaches its time (they run before the next packet, or up to `end_time`).",
              "", "| # | fate | reason | out | time | input | rule |", "|---|---|---|---|---|---|---|"]
    n = 0
    for kind, t, inp, exp, fate, reason, desc, rule in c.items:
        if kind == "input":
            n += 1
            idx = str(n)
        else:
            idx = "t"
        lines.append(f"| {idx} | {fate} | {reason or '-'} | {len(exp)} | {t} | {md_escape(desc)} | "
                     f"{md_escape(rule)} |")
    lines.append("")
    with open(os.path.join(d, "README.md"), "w") as f:
        f.write("\n".join(lines))
    return len(inputs), len(expected), checks


def main():
    names = set()
    for c in CASES:
        assert c.name not in names
        names.add(c.name)
    for entry in sorted(os.listdir(HERE)):
        p = os.path.join(HERE, entry)
        if entry.startswith("nat64_") and os.path.isdir(p) and entry not in names:
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
