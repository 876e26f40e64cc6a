//! UDP header (RFC 768).

use super::bytes::{read_u16, write_u16};
use super::{checksum, ip_proto, Error};

mod field {
    use crate::wire::Field;
    pub const SRC_PORT: Field = 0..2;
    pub const DST_PORT: Field = 2..4;
    pub const LENGTH: Field = 4..6;
    pub const CHECKSUM: Field = 6..8;
    pub const PAYLOAD: usize = 8;
}

/// Size of the UDP header.
pub const HEADER_LEN: usize = 8;

/// Offset of the checksum field, for incremental updates by offset.
pub const CHECKSUM_OFFSET: usize = 6;

/// A UDP datagram, or the start of one.
///
/// The Length field is *not* validated against the buffer: the translator also looks at the first fragment of
/// a datagram and at the header quoted in an ICMP error, where only part of the datagram is present.
/// [`payload`](Self::payload) is therefore everything after the header in the buffer, and [`len`](Self::len)
/// is what the header claims.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UdpPacket<T: AsRef<[u8]>> {
    buffer: T,
}

impl UdpPacket<&[u8]> {
    /// Size of the header ([`HEADER_LEN`]).
    /// On the `&[u8]` instance only, so that `UdpPacket::HEADER_LEN` needs no type annotation (an associated
    /// const of the generic impl would).
    pub const HEADER_LEN: usize = HEADER_LEN;
}

impl<T: AsRef<[u8]>> UdpPacket<T> {
    /// Wraps without checking; accessors panic on a buffer shorter than 8 bytes.
    #[inline]
    pub const fn new_unchecked(buffer: T) -> Self {
        UdpPacket { buffer }
    }

    /// Wraps after checking that the 8-byte header is present; every accessor is then in bounds.
    #[inline]
    pub fn new_checked(buffer: T) -> Result<Self, Error> {
        if buffer.as_ref().len() < HEADER_LEN {
            return Err(Error::Truncated);
        }
        Ok(Self::new_unchecked(buffer))
    }

    #[inline]
    pub fn into_inner(self) -> T {
        self.buffer
    }

    #[inline]
    pub fn src_port(&self) -> u16 {
        read_u16(&self.buffer.as_ref()[field::SRC_PORT])
    }

    #[inline]
    pub fn dst_port(&self) -> u16 {
        read_u16(&self.buffer.as_ref()[field::DST_PORT])
    }

    /// The Length field: header plus data, as the sender wrote it.
    #[inline]
    pub fn len(&self) -> u16 {
        read_u16(&self.buffer.as_ref()[field::LENGTH])
    }

    /// Whether the Length field is zero (never valid: it counts the 8-byte header).
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The checksum; 0 over IPv4 means "not computed" (RFC 768). RFC 7915 §4.5 has the translator compute it.
    #[inline]
    pub fn checksum(&self) -> u16 {
        read_u16(&self.buffer.as_ref()[field::CHECKSUM])
    }

    /// Everything after the header in the buffer.
    #[inline]
    pub fn payload(&self) -> &[u8] {
        &self.buffer.as_ref()[field::PAYLOAD..]
    }

    /// Checks the checksum over the IPv4 pseudo-header and the whole buffer (which must be the whole
    /// datagram). A zero checksum means the sender did not compute one (RFC 768): accepted.
    #[inline]
    pub fn verify_checksum_v4(&self, src: &[u8; 4], dst: &[u8; 4]) -> bool {
        let data = self.buffer.as_ref();
        if self.checksum() == 0 {
            return true;
        }
        // A datagram in one IPv4 packet is below 64 KiB; a longer buffer cannot be one, let it fail.
        let Ok(len) = u16::try_from(data.len()) else {
            return false;
        };
        let pseudo = checksum::sum_v4_pseudo(src, dst, ip_proto::UDP, len);
        checksum::fold(checksum::add(pseudo, checksum::sum(data))) == 0xffff
    }

    /// Checks the checksum over the IPv6 pseudo-header and the whole buffer (which must be the whole
    /// datagram). RFC 8200 §8.1: a zero checksum is invalid over IPv6.
    #[inline]
    pub fn verify_checksum_v6(&self, src: &[u8; 16], dst: &[u8; 16]) -> bool {
        let data = self.buffer.as_ref();
        if self.checksum() == 0 {
            return false;
        }
        let pseudo = checksum::sum_v6_pseudo(src, dst, ip_proto::UDP, data.len() as u32);
        checksum::fold(checksum::add(pseudo, checksum::sum(data))) == 0xffff
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> UdpPacket<T> {
    #[inline]
    pub fn set_src_port(&mut self, value: u16) {
        write_u16(&mut self.buffer.as_mut()[field::SRC_PORT], value);
    }

    #[inline]
    pub fn set_dst_port(&mut self, value: u16) {
        write_u16(&mut self.buffer.as_mut()[field::DST_PORT], value);
    }

    #[inline]
    pub fn set_len(&mut self, value: u16) {
        write_u16(&mut self.buffer.as_mut()[field::LENGTH], value);
    }

    #[inline]
    pub fn set_checksum(&mut self, value: u16) {
        write_u16(&mut self.buffer.as_mut()[field::CHECKSUM], value);
    }

    #[inline]
    pub fn payload_mut(&mut self) -> &mut [u8] {
        &mut self.buffer.as_mut()[field::PAYLOAD..]
    }

    /// Computes and stores the checksum over the IPv4 pseudo-header and the whole buffer (the whole datagram).
    /// A computed 0 is sent as 0xffff (RFC 768: 0 would mean "no checksum").
    #[inline]
    pub fn fill_checksum_v4(&mut self, src: &[u8; 4], dst: &[u8; 4]) {
        self.set_checksum(0);
        let data = self.buffer.as_ref();
        let pseudo = checksum::sum_v4_pseudo(src, dst, ip_proto::UDP, data.len() as u16);
        let c = checksum::finish(checksum::add(pseudo, checksum::sum(data)));
        self.set_checksum(if c == 0 { 0xffff } else { c });
    }

    /// Computes and stores the checksum over the IPv6 pseudo-header and the whole buffer (the whole datagram).
    /// A computed 0 is sent as 0xffff (RFC 8200 §8.1).
    #[inline]
    pub fn fill_checksum_v6(&mut self, src: &[u8; 16], dst: &[u8; 16]) {
        self.set_checksum(0);
        let data = self.buffer.as_ref();
        let pseudo = checksum::sum_v6_pseudo(src, dst, ip_proto::UDP, data.len() as u32);
        let c = checksum::finish(checksum::add(pseudo, checksum::sum(data)));
        self.set_checksum(if c == 0 { 0xffff } else { c });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const SRC: [u8; 4] = [192, 0, 2, 1];
    const DST: [u8; 4] = [198, 51, 100, 2];
    /// The UDP part of a real IPv4/UDP packet: 53000 -> 53, length 13, "hello".
    const DATAGRAM: [u8; 13] = [
        0xcf, 0x08, 0x00, 0x35, 0x00, 0x0d, 0x00, 0x8d, b'h', b'e', b'l', b'l', b'o',
    ];

    #[test]
    fn parse() {
        let u = UdpPacket::new_checked(&DATAGRAM[..]).unwrap();
        assert_eq!(
            (u.src_port(), u.dst_port(), u.len(), u.checksum()),
            (53000, 53, 13, 0x008d)
        );
        assert!(!u.is_empty());
        assert_eq!(u.payload(), b"hello");
        assert!(u.verify_checksum_v4(&SRC, &DST));
        assert!(!u.verify_checksum_v4(&SRC, &[198, 51, 100, 3]));
        assert_eq!(DATAGRAM[CHECKSUM_OFFSET..CHECKSUM_OFFSET + 2], [0x00, 0x8d]);
    }

    #[test]
    fn setters_and_fill() {
        let mut b = DATAGRAM;
        let mut u = UdpPacket::new_checked(&mut b[..]).unwrap();
        u.set_src_port(1);
        u.set_dst_port(2);
        u.set_len(13);
        u.payload_mut()[0] = b'j';
        u.fill_checksum_v4(&SRC, &DST);
        assert!(u.verify_checksum_v4(&SRC, &DST));
        assert_eq!((u.src_port(), u.dst_port()), (1, 2));
        u.set_checksum(0);
        assert!(u.verify_checksum_v4(&SRC, &DST)); // "no checksum"
        let (s6, d6) = ([0x20; 16], [0x30; 16]);
        assert!(!u.verify_checksum_v6(&s6, &d6));
        u.fill_checksum_v6(&s6, &d6);
        assert!(u.verify_checksum_v6(&s6, &d6));
    }

    #[test]
    fn zero_checksum_sent_as_ffff() {
        // Choose the payload so that the computed checksum is 0: the one's-complement sum must be 0xffff.
        let mut b = [0u8; 10];
        let mut u = UdpPacket::new_checked(&mut b[..]).unwrap();
        u.set_len(10);
        let partial = checksum::add(
            checksum::sum_v4_pseudo(&SRC, &DST, ip_proto::UDP, 10),
            checksum::sum(&b),
        );
        let fill = 0xffff - checksum::fold(partial);
        b[8..10].copy_from_slice(&fill.to_be_bytes());
        let mut u = UdpPacket::new_checked(&mut b[..]).unwrap();
        u.fill_checksum_v4(&SRC, &DST);
        assert_eq!(u.checksum(), 0xffff);
        assert!(u.verify_checksum_v4(&SRC, &DST));
    }

    #[test]
    fn rejects_and_partial() {
        assert_eq!(
            UdpPacket::new_checked(&DATAGRAM[..7]),
            Err(Error::Truncated)
        );
        // A first fragment: the length field says more than is here; the view still works.
        let u = UdpPacket::new_checked(&DATAGRAM[..8]).unwrap();
        assert_eq!((u.len(), u.payload()), (13, &[] as &[u8]));
    }

    #[test]
    fn agrees_with_etherparse() {
        use etherparse::{PacketBuilder, UdpSlice};
        let (s6, d6) = (
            [0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1],
            [0x11; 16],
        );
        let mut buf = Vec::new();
        PacketBuilder::ipv6(s6, d6, 64)
            .udp(4000, 5000)
            .write(&mut buf, &[1, 2, 3, 4, 5])
            .unwrap();
        let u = UdpPacket::new_checked(&buf[40..]).unwrap();
        let ep = UdpSlice::from_slice(&buf[40..]).unwrap();
        assert_eq!(
            (u.src_port(), u.dst_port()),
            (ep.source_port(), ep.destination_port())
        );
        assert_eq!((u.len(), u.checksum()), (ep.length(), ep.checksum()));
        assert_eq!(u.payload(), ep.payload());
        assert!(u.verify_checksum_v6(&s6, &d6));
    }

    proptest! {
        #[test]
        fn never_panics(data in proptest::collection::vec(any::<u8>(), 0..30)) {
            if let Ok(u) = UdpPacket::new_checked(&data[..]) {
                let _ = (u.src_port(), u.dst_port(), u.len(), u.is_empty(), u.checksum(), u.payload());
                let _ = (u.verify_checksum_v4(&SRC, &DST), u.verify_checksum_v6(&[1; 16], &[2; 16]));
            }
        }

        /// Our fill matches the checksum etherparse computes, over IPv4 and IPv6.
        #[test]
        fn checksum_agrees_with_etherparse(s4 in any::<[u8; 4]>(), d4 in any::<[u8; 4]>(),
                                           s6 in any::<[u8; 16]>(), d6 in any::<[u8; 16]>(),
                                           sp in any::<u16>(), dp in any::<u16>(),
                                           data in proptest::collection::vec(any::<u8>(), 0..200)) {
            let mut buf = Vec::new();
            etherparse::PacketBuilder::ipv4(s4, d4, 1).udp(sp, dp).write(&mut buf, &data).unwrap();
            let mut copy = buf[20..].to_vec();
            let mut u = UdpPacket::new_checked(&mut copy[..]).unwrap();
            prop_assert!(u.verify_checksum_v4(&s4, &d4));
            u.fill_checksum_v4(&s4, &d4);
            prop_assert_eq!(&copy[..], &buf[20..]);

            let mut buf = Vec::new();
            etherparse::PacketBuilder::ipv6(s6, d6, 1).udp(sp, dp).write(&mut buf, &data).unwrap();
            let mut copy = buf[40..].to_vec();
            let mut u = UdpPacket::new_checked(&mut copy[..]).unwrap();
            prop_assert!(u.verify_checksum_v6(&s6, &d6));
            u.fill_checksum_v6(&s6, &d6);
            prop_assert_eq!(&copy[..], &buf[40..]);
        }
    }
}
