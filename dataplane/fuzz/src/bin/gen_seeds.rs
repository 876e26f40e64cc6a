//! Writes a seed corpus for the `pipeline` fuzz target: real packets of every kind the translator handles,
//! for every configuration of the harness, each prefixed with its selector byte.
//!
//! `cargo run --release --bin gen_seeds -- DIR` (from `dataplane/fuzz`). IPv4 packets are built with
//! etherparse; their translations (run through the pipeline) become IPv6 seeds, with extension headers,
//! fragment headers and ICMPv6 errors quoting them added; ICMPv4 errors quote translated IPv6 packets.

use std::path::PathBuf;

use etherparse::PacketBuilder;
use xlat64_fuzz::harness::{fold, fuzz_one, naive_sum};

/// Selector byte: configuration, metadata variant, room variant.
fn sel(cfg: u8, meta: u8, room: u8) -> u8 {
    cfg | (meta << 2) | (room << 5)
}

fn ipv4_checksum(p: &mut [u8]) {
    let hl = usize::from(p[0] & 0xf) * 4;
    p[10] = 0;
    p[11] = 0;
    let c = !fold(naive_sum(&p[..hl]));
    p[10..12].copy_from_slice(&c.to_be_bytes());
}

fn set_frag4(p: &mut [u8], df: bool, mf: bool, off: u16) {
    let f = (u16::from(df) << 14) | (u16::from(mf) << 13) | (off >> 3);
    p[6..8].copy_from_slice(&f.to_be_bytes());
    ipv4_checksum(p);
}

fn udp4(src: [u8; 4], dst: [u8; 4], ttl: u8, payload: &[u8]) -> Vec<u8> {
    let mut v = Vec::new();
    PacketBuilder::ipv4(src, dst, ttl)
        .udp(5353, 53)
        .write(&mut v, payload)
        .unwrap();
    v
}

fn tcp4(src: [u8; 4], dst: [u8; 4], ttl: u8, payload: &[u8]) -> Vec<u8> {
    let mut v = Vec::new();
    PacketBuilder::ipv4(src, dst, ttl)
        .tcp(443, 40000, 12345, 65535)
        .ack(777)
        .psh()
        .write(&mut v, payload)
        .unwrap();
    v
}

fn icmp4(
    src: [u8; 4],
    dst: [u8; 4],
    ttl: u8,
    ty: u8,
    code: u8,
    rest: [u8; 4],
    body: &[u8],
) -> Vec<u8> {
    let mut v = Vec::new();
    PacketBuilder::ipv4(src, dst, ttl)
        .icmpv4_raw(ty, code, rest)
        .write(&mut v, body)
        .unwrap();
    v
}

fn icmp6(
    src: [u8; 16],
    dst: [u8; 16],
    hop: u8,
    ty: u8,
    code: u8,
    rest: [u8; 4],
    body: &[u8],
) -> Vec<u8> {
    let mut v = Vec::new();
    PacketBuilder::ipv6(src, dst, hop)
        .icmpv6_raw(ty, code, rest)
        .write(&mut v, body)
        .unwrap();
    v
}

fn addr6(p: &[u8], at: usize) -> [u8; 16] {
    p[at..at + 16].try_into().unwrap()
}

/// Inserts an extension header (8 * (len + 1) bytes, PadN-filled) of type `kind` right after the IPv6
/// header. For a routing header, `seg_left` goes into Segments Left.
fn insert_ext6(p: &[u8], kind: u8, len: u8, seg_left: u8) -> Vec<u8> {
    let n = 8 * (usize::from(len) + 1);
    let mut e = vec![0u8; n];
    e[0] = p[6];
    e[1] = len;
    if kind == 43 {
        e[2] = 4; // segment routing header
        e[3] = seg_left;
    } else {
        e[2] = 1; // PadN
        e[3] = (n - 4) as u8;
    }
    let mut v = p[..40].to_vec();
    v[6] = kind;
    v.extend_from_slice(&e);
    v.extend_from_slice(&p[40..]);
    let plen = (v.len() - 40) as u16;
    v[4..6].copy_from_slice(&plen.to_be_bytes());
    v
}

/// Inserts a Fragment Header (offset in bytes, M flag, identification) after the IPv6 header.
fn insert_frag6(p: &[u8], off: u16, more: bool, ident: u32) -> Vec<u8> {
    let mut v = p[..40].to_vec();
    let mut fh = [0u8; 8];
    fh[0] = p[6];
    fh[2..4].copy_from_slice(&(off | u16::from(more)).to_be_bytes());
    fh[4..8].copy_from_slice(&ident.to_be_bytes());
    v[6] = 44;
    v.extend_from_slice(&fh);
    v.extend_from_slice(&p[40..]);
    let plen = (v.len() - 40) as u16;
    v[4..6].copy_from_slice(&plen.to_be_bytes());
    v
}

struct Corpus {
    dir: PathBuf,
    n: usize,
}

impl Corpus {
    fn add(&mut self, sel: u8, pkt: &[u8]) {
        let mut data = vec![sel];
        data.extend_from_slice(pkt);
        // Every seed must itself pass the harness.
        fuzz_one(&data);
        std::fs::write(self.dir.join(format!("seed-{:04}", self.n)), &data).unwrap();
        self.n += 1;
    }

    /// Adds `pkt` and returns its translations (bytes only).
    fn add_xlat(&mut self, sel: u8, pkt: &[u8]) -> Vec<Vec<u8>> {
        self.add(sel, pkt);
        let mut data = vec![sel];
        data.extend_from_slice(pkt);
        fuzz_one(&data)
            .map(|r| r.out.into_iter().map(|(b, _, _)| b).collect())
            .unwrap_or_default()
    }
}

fn main() {
    let dir: PathBuf = std::env::args_os()
        .nth(1)
        .expect("usage: gen_seeds DIR")
        .into();
    std::fs::create_dir_all(&dir).unwrap();
    let mut c = Corpus { dir, n: 0 };

    // (config, meta, IPv4 server (remote, via pool6), IPv4 addresses of IPv6 hosts (EAM or pool6)).
    type Site<'a> = (u8, u8, [u8; 4], &'a [[u8; 4]]);
    let sites: &[Site] = &[
        (
            0,
            0,
            [203, 0, 113, 7],
            &[
                [198, 51, 100, 5],
                [192, 0, 2, 3],
                [203, 0, 113, 130],
                [198, 51, 100, 80],
            ],
        ),
        (1, 3, [198, 51, 100, 7], &[[10, 0, 0, 5]]),
        (1, 4, [198, 51, 100, 7], &[[10, 0, 0, 6]]),
        (1, 0, [8, 8, 8, 8], &[[192, 0, 2, 130], [1, 1, 1, 1]]),
        (2, 0, [203, 0, 113, 7], &[[198, 51, 100, 5]]),
        (2, 5, [203, 0, 113, 7], &[[198, 51, 100, 5]]),
        (
            3,
            1,
            [198, 51, 100, 7],
            &[[192, 0, 2, 5], [10, 64, 1, 2], [203, 0, 113, 9]],
        ),
        (3, 2, [198, 51, 100, 7], &[[192, 0, 2, 5], [10, 64, 1, 2]]),
        (3, 6, [100, 64, 0, 1], &[[192, 0, 2, 200], [203, 0, 113, 9]]),
    ];
    let big: Vec<u8> = (0..1800u32).map(|i| (i * 7) as u8).collect();
    for &(cfg, meta, server, hosts) in sites {
        let s = sel(cfg, meta, 0);
        for &host in hosts {
            // IPv4 → IPv6, and the translations as IPv6 → IPv4 seeds.
            let mut v6_seeds = Vec::new();
            let mut p = udp4(server, host, 64, b"dns answer");
            p[1] = 0xb8;
            ipv4_checksum(&mut p);
            v6_seeds.extend(c.add_xlat(s, &p));
            v6_seeds.extend(c.add_xlat(s, &tcp4(server, host, 2, b"HTTP/1.1 200 OK\r\n")));
            v6_seeds.extend(c.add_xlat(
                s,
                &icmp4(server, host, 64, 8, 0, [0x12, 0x34, 0, 1], b"ping"),
            ));
            v6_seeds.extend(c.add_xlat(
                s,
                &icmp4(server, host, 64, 0, 0, [0x12, 0x34, 0, 2], b"pong"),
            ));
            // Large, DF=1 and DF=0 (Fragmentation Needed / split into IPv6 fragments).
            let large = udp4(server, host, 64, &big[..1450]);
            c.add(s, &large);
            let mut df0 = large.clone();
            set_frag4(&mut df0, false, false, 0);
            c.add(s, &df0);
            c.add(sel(cfg, meta, 6), &udp4(server, host, 64, &big));
            // IPv4 fragments: first (with the UDP header), middle, last.
            let whole = udp4(server, host, 64, &big[..600]);
            let mut first = whole[..20 + 304].to_vec();
            first[2..4].copy_from_slice(&(324u16).to_be_bytes());
            set_frag4(&mut first, false, true, 0);
            v6_seeds.extend(c.add_xlat(s, &first));
            let mut mid = whole[..20].to_vec();
            mid.extend_from_slice(&whole[20 + 304..20 + 304 + 152]);
            mid[2..4].copy_from_slice(&(172u16).to_be_bytes());
            set_frag4(&mut mid, false, true, 304);
            v6_seeds.extend(c.add_xlat(s, &mid));
            let mut last = whole[..20].to_vec();
            last.extend_from_slice(&whole[20 + 456..]);
            let l = last.len() as u16;
            last[2..4].copy_from_slice(&l.to_be_bytes());
            set_frag4(&mut last, true, false, 456);
            c.add(s, &last);
            // TTL 1 (Time Exceeded), UDP checksum 0, IGMP, IP options (NOPs; an unexpired LSRR).
            c.add(s, &udp4(server, host, 1, b"expiring"));
            let mut z = udp4(server, host, 64, b"no checksum");
            z[26] = 0;
            z[27] = 0;
            c.add(s, &z);
            let mut igmp = udp4(server, host, 64, b"igmp");
            igmp[9] = 2;
            ipv4_checksum(&mut igmp);
            c.add(s, &igmp);
            for opts in [&[1u8, 1, 1, 0][..], &[131, 7, 4, 1, 2, 3, 4, 0][..]] {
                let mut o = udp4(server, host, 64, b"options");
                let mut v = o[..20].to_vec();
                v.extend_from_slice(opts);
                v.extend_from_slice(&o[20..]);
                v[0] = 0x40 | (5 + opts.len() / 4) as u8;
                let tl = v.len() as u16;
                v[2..4].copy_from_slice(&tl.to_be_bytes());
                ipv4_checksum(&mut v);
                o = v;
                c.add(s, &o);
            }
            // IPv6 → IPv4 seeds: translations, with extension and fragment headers, hop limit 1, too big.
            let mut sent_v4 = Vec::new();
            for p6 in v6_seeds.iter().filter(|p| p[0] >> 4 == 6) {
                let s6 = sel(cfg, 0, 0);
                let mut p6 = p6.clone();
                p6[7] = 64;
                sent_v4.extend(c.add_xlat(s6, &p6));
                if p6[6] == 44 {
                    continue;
                }
                c.add(s6, &insert_ext6(&p6, 0, 0, 0));
                c.add(s6, &insert_ext6(&insert_ext6(&p6, 60, 1, 0), 0, 0, 0));
                c.add(s6, &insert_ext6(&p6, 43, 2, 0));
                c.add(s6, &insert_ext6(&p6, 43, 2, 1));
                c.add(s6, &insert_frag6(&p6, 0, false, 0xdead_beef));
                c.add(s6, &insert_frag6(&p6, 0, true, 7));
                c.add(s6, &insert_frag6(&p6, 64, false, 7));
                let mut h1 = p6.clone();
                h1[7] = 1;
                c.add(s6, &h1);
            }
            // ICMP errors quoting translated packets, both ways.
            for q in sent_v4.iter().filter(|p| p[0] >> 4 == 4).take(2) {
                // The IPv4 server's router answers the packet the translator sent.
                let dst = [q[12], q[13], q[14], q[15]];
                let from = [q[16], q[17], q[18], q[19]];
                c.add(s, &icmp4(from, dst, 64, 3, 3, [0; 4], q));
                c.add(s, &icmp4([192, 0, 2, 77], dst, 64, 11, 0, [0; 4], q));
                c.add(s, &icmp4(from, dst, 64, 3, 4, [0, 0, 0, 0], q));
                c.add(s, &icmp4(from, dst, 64, 3, 4, [0, 0, 0x05, 0x78], q));
                c.add(s, &icmp4(from, dst, 64, 12, 0, [9, 0, 0, 0], q));
                let mut body = q.clone();
                body.resize(128, 0);
                body.extend_from_slice(&[0x20, 0, 0xab, 0xcd, 0, 8, 1, 1, 0xde, 0xad, 0xbe, 0xef]);
                c.add(s, &icmp4(from, dst, 64, 11, 0, [0, 32, 0, 0], &body));
            }
            for q in v6_seeds
                .iter()
                .filter(|p| p[0] >> 4 == 6 && p[6] != 44)
                .take(2)
            {
                // An IPv6 router next to the IPv6 host answers the packet the translator sent it.
                let dst = addr6(q, 8);
                let from = addr6(q, 24);
                let s6 = sel(cfg, 0, 0);
                c.add(s6, &icmp6(from, dst, 64, 1, 4, [0; 4], q));
                c.add(s6, &icmp6(from, dst, 64, 2, 0, 1280u32.to_be_bytes(), q));
                c.add(s6, &icmp6(from, dst, 64, 3, 0, [0; 4], q));
                c.add(s6, &icmp6(from, dst, 64, 4, 0, 7u32.to_be_bytes(), q));
                c.add(s6, &icmp6(from, dst, 64, 4, 1, 40u32.to_be_bytes(), q));
                let stranger = [
                    0x20, 0x01, 0x0d, 0xb8, 0xee, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1,
                ];
                c.add(s6, &icmp6(stranger, dst, 64, 3, 0, [0; 4], q));
                let mut body = q.clone();
                body.resize(128, 0);
                body.extend_from_slice(&[0x20, 0, 0xab, 0xcd, 0, 8, 1, 1, 0xde, 0xad, 0xbe, 0xef]);
                c.add(s6, &icmp6(from, dst, 64, 3, 0, [16, 0, 0, 0], &body));
            }
        }
        // A few layouts with too little room.
        let p = udp4(server, hosts[0], 64, b"x");
        for room in 1..8 {
            let out = c.add_xlat(sel(cfg, meta, room), &p);
            for o in out {
                c.add(sel(cfg, meta, room), &o);
            }
        }
    }
    // Not IP, empty, truncated.
    c.add(0, &[]);
    c.add(0, &[0x00; 30]);
    c.add(0, &[0x45, 0, 0]);
    c.add(0, &[0x60; 20]);
    eprintln!("{} seeds", c.n);
}
