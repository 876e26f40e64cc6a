//! Helpers for the CLI tests: packets built with etherparse, pcap files written and read by hand (independently
//! of `dataplane::io::pcap`, the code under test), checksums verified from scratch, and the demo capture.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

use etherparse::{IpHeaders, IpNumber, Ipv4Extensions, Ipv4Header, PacketBuilder};

pub const LINKTYPE_ETHERNET: u32 = 1;
pub const LINKTYPE_RAW: u32 = 101;

/// The MAC of the router on the IPv6 side, the translator's, and the router's on the IPv4 side.
pub const MAC_ROUTER6: [u8; 6] = [0x02, 0, 0, 0, 0x06, 0x01];
pub const MAC_XLAT: [u8; 6] = [0x02, 0, 0, 0, 0x64, 0x64];
pub const MAC_ROUTER4: [u8; 6] = [0x02, 0, 0, 0, 0x04, 0x01];

/// A host on the IPv6 side, inside the demo's EAM entry 2001:db8:6::/120 <-> 192.0.2.0/24.
pub const HOST6: [u8; 16] = v6([0x2001, 0xdb8, 6, 0, 0, 0, 0, 0x10]);
/// Its IPv4 address under that EAM entry.
pub const HOST6_AS_V4: [u8; 4] = [192, 0, 2, 16];
/// An IPv6 host with no mapping.
pub const STRANGER6: [u8; 16] = v6([0x2001, 0xdb8, 9, 0, 0, 0, 0, 1]);
/// Servers on the IPv4 side, and their addresses under pool6 2001:db8:64::/96.
pub const SERVER4: [u8; 4] = [198, 51, 100, 10];
pub const SERVER4_AS_V6: [u8; 16] = v6([0x2001, 0xdb8, 0x64, 0, 0, 0, 0xc633, 0x640a]);
pub const DNS4_AS_V6: [u8; 16] = v6([0x2001, 0xdb8, 0x64, 0, 0, 0, 0xc633, 0x6435]);

pub const fn v6(g: [u16; 8]) -> [u8; 16] {
    let mut a = [0u8; 16];
    let mut i = 0;
    while i < 8 {
        a[2 * i] = (g[i] >> 8) as u8;
        a[2 * i + 1] = g[i] as u8;
        i += 1;
    }
    a
}

/// The demo tenant's configuration (also shipped as deploy/examples/demo.toml).
pub const DEMO_TOML: &str = include_str!("../../../deploy/examples/demo.toml");

pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("control/ has a parent")
        .to_owned()
}

/// A fresh directory for one test's files.
pub fn scratch(test: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("xlat64-cli-{test}"));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("create scratch dir");
    dir
}

/// Runs the real `xlat64` binary.
pub fn xlat64(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_xlat64"))
        .args(args)
        .output()
        .expect("run xlat64")
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

// ---- packets ----

pub fn ipv6_udp(
    src: [u8; 16],
    dst: [u8; 16],
    hop_limit: u8,
    sport: u16,
    dport: u16,
    payload: &[u8],
) -> Vec<u8> {
    let mut v = Vec::new();
    PacketBuilder::ipv6(src, dst, hop_limit)
        .udp(sport, dport)
        .write(&mut v, payload)
        .expect("build");
    v
}

pub fn ipv6_echo_request(
    src: [u8; 16],
    dst: [u8; 16],
    id: u16,
    seq: u16,
    payload: &[u8],
) -> Vec<u8> {
    let mut v = Vec::new();
    PacketBuilder::ipv6(src, dst, 64)
        .icmpv6_echo_request(id, seq)
        .write(&mut v, payload)
        .expect("build");
    v
}

pub fn ipv4_echo_reply(src: [u8; 4], dst: [u8; 4], id: u16, seq: u16, payload: &[u8]) -> Vec<u8> {
    let mut v = Vec::new();
    PacketBuilder::ipv4(src, dst, 60)
        .icmpv4_echo_reply(id, seq)
        .write(&mut v, payload)
        .expect("build");
    v
}

/// IPv4 UDP with DF clear (so the translator may fragment its IPv6 form).
pub fn ipv4_udp_df0(src: [u8; 4], dst: [u8; 4], sport: u16, dport: u16, payload: &[u8]) -> Vec<u8> {
    let mut h = Ipv4Header::new(0, 60, IpNumber::UDP, src, dst).expect("header");
    h.dont_fragment = false;
    h.identification = 0x1234;
    let mut v = Vec::new();
    PacketBuilder::ip(IpHeaders::Ipv4(h, Ipv4Extensions::default()))
        .udp(sport, dport)
        .write(&mut v, payload)
        .expect("build");
    v
}

pub fn ethernet(
    dst: [u8; 6],
    src: [u8; 6],
    vlan: Option<u16>,
    ethertype: u16,
    payload: &[u8],
) -> Vec<u8> {
    let mut f = Vec::new();
    f.extend_from_slice(&dst);
    f.extend_from_slice(&src);
    if let Some(vid) = vlan {
        f.extend_from_slice(&[0x81, 0x00]);
        f.extend_from_slice(&vid.to_be_bytes());
    }
    f.extend_from_slice(&ethertype.to_be_bytes());
    f.extend_from_slice(payload);
    f
}

/// An Ethernet frame for an IP packet (EtherType from its version).
pub fn eth_ip(dst: [u8; 6], src: [u8; 6], vlan: Option<u16>, packet: &[u8]) -> Vec<u8> {
    let ethertype = if packet[0] >> 4 == 6 { 0x86dd } else { 0x0800 };
    ethernet(dst, src, vlan, ethertype, packet)
}

/// An ARP request (who has 192.0.2.1? tell 192.0.2.254), padded to the minimum frame size.
pub fn arp_request(src_mac: [u8; 6]) -> Vec<u8> {
    let mut arp = vec![0, 1, 0x08, 0x00, 6, 4, 0, 1];
    arp.extend_from_slice(&src_mac);
    arp.extend_from_slice(&[192, 0, 2, 254]);
    arp.extend_from_slice(&[0; 6]);
    arp.extend_from_slice(&[192, 0, 2, 1]);
    arp.resize(46, 0);
    ethernet([0xff; 6], src_mac, None, 0x0806, &arp)
}

// ---- pcap files, by hand ----

/// A little-endian, microsecond pcap file.
pub fn pcap_file(linktype: u32, records: &[(Duration, Vec<u8>)]) -> Vec<u8> {
    pcap_file_as(false, false, linktype, records)
}

/// A pcap file in the given byte order (`big`) and resolution (`nanos`).
pub fn pcap_file_as(
    big: bool,
    nanos: bool,
    linktype: u32,
    records: &[(Duration, Vec<u8>)],
) -> Vec<u8> {
    let u16b = |v: u16| {
        if big {
            v.to_be_bytes()
        } else {
            v.to_le_bytes()
        }
    };
    let u32b = |v: u32| {
        if big {
            v.to_be_bytes()
        } else {
            v.to_le_bytes()
        }
    };
    let magic: u32 = if nanos { 0xa1b2_3c4d } else { 0xa1b2_c3d4 };
    let mut f = Vec::new();
    f.extend_from_slice(&u32b(magic));
    f.extend_from_slice(&u16b(2));
    f.extend_from_slice(&u16b(4));
    f.extend_from_slice(&[0; 8]);
    f.extend_from_slice(&u32b(65535));
    f.extend_from_slice(&u32b(linktype));
    for (ts, data) in records {
        let frac = if nanos {
            ts.subsec_nanos()
        } else {
            ts.subsec_micros()
        };
        f.extend_from_slice(&u32b(ts.as_secs() as u32));
        f.extend_from_slice(&u32b(frac));
        f.extend_from_slice(&u32b(data.len() as u32));
        f.extend_from_slice(&u32b(data.len() as u32));
        f.extend_from_slice(data);
    }
    f
}

/// A capture file read back: its link type and records (timestamp, data). Accepts both byte orders and both
/// resolutions.
pub fn read_pcap(bytes: &[u8]) -> (u32, Vec<(Duration, Vec<u8>)>) {
    let magic = &bytes[..4];
    let (big, nanos) = match magic {
        [0xa1, 0xb2, 0xc3, 0xd4] => (true, false),
        [0xd4, 0xc3, 0xb2, 0xa1] => (false, false),
        [0xa1, 0xb2, 0x3c, 0x4d] => (true, true),
        [0x4d, 0x3c, 0xb2, 0xa1] => (false, true),
        _ => panic!("not a pcap file: {magic:02x?}"),
    };
    let u32_at = |o: usize| {
        let b = [bytes[o], bytes[o + 1], bytes[o + 2], bytes[o + 3]];
        if big {
            u32::from_be_bytes(b)
        } else {
            u32::from_le_bytes(b)
        }
    };
    let linktype = u32_at(20);
    let mut records = Vec::new();
    let mut o = 24;
    while o < bytes.len() {
        let sec = u32_at(o);
        let frac = u32_at(o + 4);
        let len = u32_at(o + 8) as usize;
        let ns = if nanos { frac } else { frac * 1000 };
        records.push((
            Duration::new(u64::from(sec), ns),
            bytes[o + 16..o + 16 + len].to_vec(),
        ));
        o += 16 + len;
    }
    assert_eq!(o, bytes.len(), "trailing bytes");
    (linktype, records)
}

// ---- checksums, from scratch ----

fn sum16(data: &[u8], mut acc: u32) -> u32 {
    let mut chunks = data.chunks_exact(2);
    for c in &mut chunks {
        acc += u32::from(u16::from_be_bytes([c[0], c[1]]));
    }
    if let [b] = chunks.remainder() {
        acc += u32::from(*b) << 8;
    }
    acc
}

fn fold(mut acc: u32) -> u16 {
    while acc > 0xffff {
        acc = (acc & 0xffff) + (acc >> 16);
    }
    acc as u16
}

/// True if the IPv4 header checksum and (for unfragmented UDP/TCP/ICMP, or IPv6 UDP/TCP/ICMPv6 without
/// extension headers) the transport checksum verify.
pub fn checksums_ok(p: &[u8]) -> bool {
    match p[0] >> 4 {
        4 => {
            let ihl = usize::from(p[0] & 0xf) * 4;
            if fold(sum16(&p[..ihl], 0)) != 0xffff {
                return false;
            }
            let total = usize::from(u16::from_be_bytes([p[2], p[3]]));
            let frag = u16::from_be_bytes([p[6], p[7]]) & 0x3fff;
            if frag != 0 {
                return true; // a fragment: its transport checksum covers the whole datagram
            }
            let l4 = &p[ihl..total];
            let proto = p[9];
            let acc = match proto {
                1 => 0,
                _ => sum16(&p[12..20], u32::from(proto) + l4.len() as u32),
            };
            fold(sum16(l4, acc)) == 0xffff
        }
        6 => {
            let next = p[6];
            if !matches!(next, 6 | 17 | 58) {
                return true;
            }
            let l4 = &p[40..];
            let acc = sum16(&p[8..40], u32::from(next) + l4.len() as u32);
            fold(sum16(l4, acc)) == 0xffff
        }
        _ => false,
    }
}

// ---- the demo capture ----

/// Path of the shipped demo capture.
pub fn demo_pcap_path() -> PathBuf {
    repo_root().join("deploy/examples/demo.pcap")
}

/// The demo capture (deploy/examples/demo.pcap), Ethernet, one packet a millisecond from 2023-11-14 22:13:20:
///
/// 1. IPv6 ping from 2001:db8:6::10 to 198.51.100.10 via pool6 (2001:db8:64::c633:640a)  → translated
/// 2. IPv6 DNS query (UDP) from the same host to 198.51.100.53                              → translated
/// 3. IPv4 ping reply from 198.51.100.10 to 192.0.2.16 (the host's EAM address)              → translated
/// 4. IPv4 UDP from 198.51.100.10, 1400 bytes with DF clear: over 1280 once translated      → fragmented
/// 5. IPv6 UDP with hop limit 1                                                              → ICMPv6 Time Exceeded
/// 6. IPv6 UDP from 2001:db8:9::1, which no EAM entry or pool6 maps                          → dropped
/// 7. An ARP request                                                                         → dropped (not IP)
pub fn demo_capture() -> Vec<u8> {
    let dns_query =
        b"\x12\x34\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00\x07example\x03org\x00\x00\x01\x00\x01";
    let stream: Vec<u8> = (0..1400u32).map(|i| (i % 251) as u8).collect();
    let from6 = |p: &[u8]| eth_ip(MAC_XLAT, MAC_ROUTER6, None, p);
    let from4 = |p: &[u8]| eth_ip(MAC_XLAT, MAC_ROUTER4, None, p);
    let frames = [
        from6(&ipv6_echo_request(
            HOST6,
            SERVER4_AS_V6,
            0x4242,
            1,
            b"xlat64 demo ping",
        )),
        from6(&ipv6_udp(HOST6, DNS4_AS_V6, 64, 40000, 53, dns_query)),
        from4(&ipv4_echo_reply(
            SERVER4,
            HOST6_AS_V4,
            0x4242,
            1,
            b"xlat64 demo ping",
        )),
        from4(&ipv4_udp_df0(SERVER4, HOST6_AS_V4, 5004, 40002, &stream)),
        from6(&ipv6_udp(
            HOST6,
            SERVER4_AS_V6,
            1,
            33434,
            33435,
            b"traceroute probe",
        )),
        from6(&ipv6_udp(
            STRANGER6,
            SERVER4_AS_V6,
            64,
            40001,
            9,
            b"nobody maps me",
        )),
        arp_request(MAC_ROUTER4),
    ];
    let records: Vec<(Duration, Vec<u8>)> = frames
        .into_iter()
        .enumerate()
        .map(|(i, f)| (Duration::new(1_700_000_000, i as u32 * 1_000_000), f))
        .collect();
    pcap_file(LINKTYPE_ETHERNET, &records)
}
