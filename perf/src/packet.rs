//! The test frames: Ethernet + IPv6 or IPv4 + UDP + a stamp (sequence number and send time) + zero padding.
//!
//! Frame sizes are given the way RFC 2544/5180/8219 count them, Ethernet FCS included; the frame in memory
//! is 4 bytes shorter (the NIC, or here veth, adds no FCS we could see). RFC 8219 §5.1 uses IPv6 frames
//! 20 bytes longer than the classic RFC 2544 sizes so that their IPv4 translations have the classic sizes:
//! the default is 84 bytes for IPv6 (64 bytes once translated to IPv4) and 64 bytes for IPv4 (84 once
//! translated to IPv6). The smallest frame that holds the stamp is 78 bytes (IPv6) / 58 bytes (IPv4).
//!
//! The stamp sits right after the UDP header: sequence number (u32, little-endian) and send time (u64,
//! nanoseconds of CLOCK_MONOTONIC, little-endian). Generator and sink are the same process, so one clock.
//! Flows differ by UDP source port (`src_port + seq % flows`); the destination port marks our packets.

use std::net::IpAddr;

/// Ethernet FCS: counted in frame sizes, absent from the buffers.
pub const FCS: usize = 4;
/// Bytes of the stamp after the UDP header.
pub const STAMP_LEN: usize = 12;
const ETH: usize = 14;
const UDP: usize = 8;

/// What to send.
#[derive(Debug, Clone)]
pub struct FlowSpec {
    pub src_mac: [u8; 6],
    pub dst_mac: [u8; 6],
    /// Both of the same family.
    pub src: IpAddr,
    pub dst: IpAddr,
    pub src_port: u16,
    pub dst_port: u16,
    /// Number of flows (distinct UDP source ports), ≥ 1.
    pub flows: u16,
    /// Frame size, FCS included (RFC 2544 style).
    pub frame_size: usize,
}

/// Smallest frame size (FCS included) for a family.
pub fn min_frame_size(v6: bool) -> usize {
    ETH + if v6 { 40 } else { 20 } + UDP + STAMP_LEN + FCS
}

/// A prebuilt frame; [`Template::stamp`] writes the per-packet fields into a copy of it.
#[derive(Debug, Clone)]
pub struct Template {
    bytes: Vec<u8>,
    /// Offset of the UDP header.
    udp: usize,
    /// One's complement sum of everything the UDP checksum covers, with source port, checksum and stamp 0.
    base_sum: u32,
    src_port: u16,
    flows: u16,
}

fn sum16(data: &[u8]) -> u32 {
    let mut s = 0u32;
    let mut it = data.chunks_exact(2);
    for w in &mut it {
        s += u32::from(u16::from_be_bytes([w[0], w[1]]));
    }
    if let [b] = it.remainder() {
        s += u32::from(*b) << 8;
    }
    s
}

fn fold(mut s: u32) -> u16 {
    while s > 0xffff {
        s = (s & 0xffff) + (s >> 16);
    }
    s as u16
}

impl Template {
    pub fn new(spec: &FlowSpec) -> Result<Template, String> {
        let v6 = match (spec.src, spec.dst) {
            (IpAddr::V6(_), IpAddr::V6(_)) => true,
            (IpAddr::V4(_), IpAddr::V4(_)) => false,
            _ => return Err("source and destination must be of the same family".into()),
        };
        let min = min_frame_size(v6);
        if spec.frame_size < min || spec.frame_size > 1518 {
            return Err(format!(
                "frame size {} out of range {min}..=1518 for {}",
                spec.frame_size,
                if v6 { "IPv6" } else { "IPv4" }
            ));
        }
        if spec.flows == 0 {
            return Err("at least one flow".into());
        }
        let len = spec.frame_size - FCS;
        let mut b = vec![0u8; len];
        b[0..6].copy_from_slice(&spec.dst_mac);
        b[6..12].copy_from_slice(&spec.src_mac);
        let udp;
        let udp_len = (len - ETH - if v6 { 40 } else { 20 }) as u16;
        let mut pseudo = Vec::with_capacity(40);
        match (spec.src, spec.dst) {
            (IpAddr::V6(s), IpAddr::V6(d)) => {
                b[12..14].copy_from_slice(&0x86ddu16.to_be_bytes());
                let ip = &mut b[ETH..ETH + 40];
                ip[0] = 0x60;
                ip[4..6].copy_from_slice(&udp_len.to_be_bytes());
                ip[6] = 17;
                ip[7] = 64;
                ip[8..24].copy_from_slice(&s.octets());
                ip[24..40].copy_from_slice(&d.octets());
                pseudo.extend_from_slice(&s.octets());
                pseudo.extend_from_slice(&d.octets());
                pseudo.extend_from_slice(&u32::from(udp_len).to_be_bytes());
                pseudo.extend_from_slice(&[0, 0, 0, 17]);
                udp = ETH + 40;
            }
            (IpAddr::V4(s), IpAddr::V4(d)) => {
                b[12..14].copy_from_slice(&0x0800u16.to_be_bytes());
                let ip = &mut b[ETH..ETH + 20];
                ip[0] = 0x45;
                ip[2..4].copy_from_slice(&(udp_len + 20).to_be_bytes());
                ip[6] = 0x40; // DF: translated without a fragment header (RFC 7915 §4.1)
                ip[8] = 64;
                ip[9] = 17;
                ip[12..16].copy_from_slice(&s.octets());
                ip[16..20].copy_from_slice(&d.octets());
                let c = !fold(sum16(ip));
                ip[10..12].copy_from_slice(&c.to_be_bytes());
                pseudo.extend_from_slice(&s.octets());
                pseudo.extend_from_slice(&d.octets());
                pseudo.extend_from_slice(&[0, 17]);
                pseudo.extend_from_slice(&udp_len.to_be_bytes());
                udp = ETH + 20;
            }
            _ => unreachable!("checked above"),
        }
        b[udp + 2..udp + 4].copy_from_slice(&spec.dst_port.to_be_bytes());
        b[udp + 4..udp + 6].copy_from_slice(&udp_len.to_be_bytes());
        let base_sum = sum16(&pseudo) + sum16(&b[udp..]);
        Ok(Template {
            bytes: b,
            udp,
            base_sum,
            src_port: spec.src_port,
            flows: spec.flows,
        })
    }

    /// Length of the frame in memory (no FCS).
    pub fn len(&self) -> usize {
        self.bytes.len()
    }

    pub fn is_empty(&self) -> bool {
        self.bytes.is_empty()
    }

    /// Writes packet `seq` sent at `ts_ns` into `out` (at least [`Template::len`] bytes).
    #[inline]
    pub fn stamp(&self, out: &mut [u8], seq: u32, ts_ns: u64) {
        let out = &mut out[..self.bytes.len()];
        out.copy_from_slice(&self.bytes);
        let sport = self
            .src_port
            .wrapping_add((seq % u32::from(self.flows)) as u16);
        let u = self.udp;
        out[u..u + 2].copy_from_slice(&sport.to_be_bytes());
        out[u + 8..u + 12].copy_from_slice(&seq.to_le_bytes());
        out[u + 12..u + 20].copy_from_slice(&ts_ns.to_le_bytes());
        let s = self.base_sum + u32::from(sport) + sum16(&out[u + 8..u + 20]);
        let mut c = !fold(s);
        if c == 0 {
            c = 0xffff;
        }
        out[u + 6..u + 8].copy_from_slice(&c.to_be_bytes());
    }
}

/// What the sink reads back from a received frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Received {
    pub v6: bool,
    pub seq: u32,
    pub ts_ns: u64,
}

/// Parses an Ethernet frame carrying IPv4 or IPv6 (no extension headers) + UDP to `dst_port` + a stamp.
pub fn parse(frame: &[u8], dst_port: u16) -> Option<Received> {
    if frame.len() < ETH {
        return None;
    }
    let (v6, udp) = match u16::from_be_bytes([frame[12], frame[13]]) {
        0x86dd if frame.len() >= ETH + 40 && frame[ETH + 6] == 17 => (true, ETH + 40),
        0x0800 if frame.len() >= ETH + 20 && frame[ETH + 9] == 17 => {
            (false, ETH + usize::from(frame[ETH] & 0x0f) * 4)
        }
        _ => return None,
    };
    let p = frame.get(udp..udp + UDP + STAMP_LEN)?;
    if u16::from_be_bytes([p[2], p[3]]) != dst_port {
        return None;
    }
    Some(Received {
        v6,
        seq: u32::from_le_bytes(p[8..12].try_into().ok()?),
        ts_ns: u64::from_le_bytes(p[12..20].try_into().ok()?),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(src: &str, dst: &str, size: usize) -> FlowSpec {
        FlowSpec {
            src_mac: [2, 0, 0, 0, 0, 1],
            dst_mac: [2, 0, 0, 0, 0, 2],
            src: src.parse().unwrap(),
            dst: dst.parse().unwrap(),
            src_port: 10000,
            dst_port: 7,
            flows: 16,
            frame_size: size,
        }
    }

    /// An independent checksum: the whole UDP datagram with its pseudo-header sums to 0xffff.
    fn udp_ok(f: &[u8]) -> bool {
        let (pseudo, udp) = if f[12] == 0x86 {
            let mut p = f[ETH + 8..ETH + 40].to_vec();
            p.extend_from_slice(&[0, 0, f[ETH + 4], f[ETH + 5], 0, 0, 0, 17]);
            (p, &f[ETH + 40..])
        } else {
            let mut p = f[ETH + 12..ETH + 20].to_vec();
            let l = (f.len() - ETH - 20) as u16;
            p.extend_from_slice(&[0, 17]);
            p.extend_from_slice(&l.to_be_bytes());
            (p, &f[ETH + 20..])
        };
        fold(sum16(&pseudo) + sum16(udp)) == 0xffff
    }

    #[test]
    fn ipv6_frame_round_trips_with_valid_checksum() {
        let t = Template::new(&spec("2001:db8:6::10", "2001:db8:64::c000:20a", 84)).unwrap();
        assert_eq!(t.len(), 80);
        let mut buf = [0u8; 2048];
        for seq in [0u32, 1, 15, 16, 0xdead_beef, u32::MAX] {
            t.stamp(&mut buf, seq, 0x0123_4567_89ab_cdef ^ u64::from(seq));
            let f = &buf[..t.len()];
            assert!(udp_ok(f), "seq {seq}");
            let r = parse(f, 7).unwrap();
            assert_eq!(r.seq, seq);
            assert!(r.v6);
            assert_eq!(r.ts_ns, 0x0123_4567_89ab_cdef ^ u64::from(seq));
            assert_eq!(
                u16::from_be_bytes([f[54], f[55]]),
                10000 + (seq % 16) as u16
            );
            assert!(parse(f, 8).is_none());
        }
    }

    #[test]
    fn ipv4_frame_has_valid_header_and_udp_checksums() {
        let t = Template::new(&spec("192.0.2.10", "198.51.100.10", 64)).unwrap();
        assert_eq!(t.len(), 60);
        let mut buf = [0u8; 128];
        t.stamp(&mut buf, 42, 99);
        let f = &buf[..60];
        assert_eq!(fold(sum16(&f[ETH..ETH + 20])), 0xffff);
        assert!(udp_ok(f));
        assert_eq!(
            parse(f, 7),
            Some(Received {
                v6: false,
                seq: 42,
                ts_ns: 99
            })
        );
    }

    #[test]
    fn sizes_are_checked() {
        assert_eq!(min_frame_size(true), 78);
        assert_eq!(min_frame_size(false), 58);
        assert!(Template::new(&spec("2001:db8::1", "2001:db8::2", 77)).is_err());
        assert!(Template::new(&spec("2001:db8::1", "2001:db8::2", 78)).is_ok());
        assert!(Template::new(&spec("192.0.2.1", "2001:db8::2", 84)).is_err());
    }
}
