//! ICMPv6 messages (RFC 4443), with the RFC 4884 length field.

use super::bytes::{read_array, read_u16, read_u32, write_u16, write_u32};
use super::{checksum, ip_proto, Error};

mod field {
    use crate::wire::Field;
    pub const TYPE: usize = 0;
    pub const CODE: usize = 1;
    pub const CHECKSUM: Field = 2..4;
    /// The second 32-bit word, whose meaning depends on the type.
    pub const REST: Field = 4..8;
    pub const ECHO_IDENT: Field = 4..6;
    pub const ECHO_SEQ: Field = 6..8;
    /// Parameter Problem pointer (RFC 4443 §3.4).
    pub const POINTER: Field = 4..8;
    /// Packet Too Big MTU (RFC 4443 §3.2).
    pub const MTU: Field = 4..8;
    /// Length of the original datagram in 64-bit words (RFC 4884 §4.1).
    pub const LENGTH: usize = 4;
    pub const PAYLOAD: usize = 8;
}

/// Size of the ICMPv6 header (type, code, checksum, one 32-bit word).
pub const HEADER_LEN: usize = 8;

/// ICMPv6 message types (RFC 4443 §2.1, RFC 4861, RFC 2710).
pub mod icmpv6_type {
    pub const DEST_UNREACH: u8 = 1;
    pub const PACKET_TOO_BIG: u8 = 2;
    pub const TIME_EXCEEDED: u8 = 3;
    pub const PARAM_PROBLEM: u8 = 4;
    pub const ECHO_REQUEST: u8 = 128;
    pub const ECHO_REPLY: u8 = 129;
    pub const MLD_QUERY: u8 = 130;
    pub const MLD_REPORT: u8 = 131;
    pub const MLD_DONE: u8 = 132;
    pub const ROUTER_SOL: u8 = 133;
    pub const ROUTER_ADV: u8 = 134;
    pub const NEIGHBOR_SOL: u8 = 135;
    pub const NEIGHBOR_ADV: u8 = 136;
    pub const REDIRECT: u8 = 137;
}

/// An ICMPv6 message. The view covers the whole message: the checksum is over all of it plus the IPv6
/// pseudo-header (RFC 4443 §2.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Icmpv6Packet<T: AsRef<[u8]>> {
    buffer: T,
}

impl Icmpv6Packet<&[u8]> {
    /// Type, code, checksum, rest of header ([`HEADER_LEN`]).
    /// On the `&[u8]` instance only, so that `Icmpv6Packet::HEADER_LEN` needs no type annotation (an associated
    /// const of the generic impl would).
    pub const HEADER_LEN: usize = HEADER_LEN;
}

/// Partial sum of the ICMPv6 pseudo-header for a message of `len` bytes.
#[inline]
fn pseudo(src: &[u8; 16], dst: &[u8; 16], len: usize) -> u32 {
    // An ICMPv6 message lives in one IPv6 packet (no jumbograms here), so its length fits in 32 bits.
    checksum::sum_v6_pseudo(src, dst, ip_proto::ICMPV6, len as u32)
}

impl<T: AsRef<[u8]>> Icmpv6Packet<T> {
    /// Wraps without checking; accessors panic on a buffer shorter than 8 bytes.
    #[inline]
    pub const fn new_unchecked(buffer: T) -> Self {
        Icmpv6Packet { buffer }
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
    pub fn msg_type(&self) -> u8 {
        self.buffer.as_ref()[field::TYPE]
    }

    #[inline]
    pub fn code(&self) -> u8 {
        self.buffer.as_ref()[field::CODE]
    }

    #[inline]
    pub fn checksum(&self) -> u16 {
        read_u16(&self.buffer.as_ref()[field::CHECKSUM])
    }

    /// Echo Request / Reply identifier (RFC 4443 §4.1).
    #[inline]
    pub fn echo_ident(&self) -> u16 {
        read_u16(&self.buffer.as_ref()[field::ECHO_IDENT])
    }

    /// Echo Request / Reply sequence number (RFC 4443 §4.1).
    #[inline]
    pub fn echo_seq(&self) -> u16 {
        read_u16(&self.buffer.as_ref()[field::ECHO_SEQ])
    }

    /// Parameter Problem pointer: the octet offset in the invoking packet (RFC 4443 §3.4).
    #[inline]
    pub fn pointer(&self) -> u32 {
        read_u32(&self.buffer.as_ref()[field::POINTER])
    }

    /// Packet Too Big MTU (RFC 4443 §3.2).
    #[inline]
    pub fn mtu(&self) -> u32 {
        read_u32(&self.buffer.as_ref()[field::MTU])
    }

    /// RFC 4884 §4.1: length of the padded original datagram in 64-bit words (Destination Unreachable and
    /// Time Exceeded; 0: no extension structure).
    #[inline]
    pub fn length_field(&self) -> u8 {
        self.buffer.as_ref()[field::LENGTH]
    }

    /// Bytes 4..8 as they are.
    #[inline]
    pub fn rest_of_header(&self) -> [u8; 4] {
        read_array(&self.buffer.as_ref()[field::REST])
    }

    /// Everything after the 8-byte header (echo data, or as much of the invoking packet as fits).
    #[inline]
    pub fn payload(&self) -> &[u8] {
        &self.buffer.as_ref()[field::PAYLOAD..]
    }

    /// Whether the checksum over the pseudo-header and the whole message is right (RFC 4443 §2.3).
    #[inline]
    pub fn verify_checksum(&self, src: &[u8; 16], dst: &[u8; 16]) -> bool {
        let data = self.buffer.as_ref();
        checksum::fold(checksum::add(
            pseudo(src, dst, data.len()),
            checksum::sum(data),
        )) == 0xffff
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Icmpv6Packet<T> {
    #[inline]
    pub fn set_msg_type(&mut self, value: u8) {
        self.buffer.as_mut()[field::TYPE] = value;
    }

    #[inline]
    pub fn set_code(&mut self, value: u8) {
        self.buffer.as_mut()[field::CODE] = value;
    }

    #[inline]
    pub fn set_checksum(&mut self, value: u16) {
        write_u16(&mut self.buffer.as_mut()[field::CHECKSUM], value);
    }

    #[inline]
    pub fn set_echo_ident(&mut self, value: u16) {
        write_u16(&mut self.buffer.as_mut()[field::ECHO_IDENT], value);
    }

    #[inline]
    pub fn set_echo_seq(&mut self, value: u16) {
        write_u16(&mut self.buffer.as_mut()[field::ECHO_SEQ], value);
    }

    #[inline]
    pub fn set_pointer(&mut self, value: u32) {
        write_u32(&mut self.buffer.as_mut()[field::POINTER], value);
    }

    #[inline]
    pub fn set_mtu(&mut self, value: u32) {
        write_u32(&mut self.buffer.as_mut()[field::MTU], value);
    }

    #[inline]
    pub fn set_length_field(&mut self, value: u8) {
        self.buffer.as_mut()[field::LENGTH] = value;
    }

    #[inline]
    pub fn set_rest_of_header(&mut self, value: [u8; 4]) {
        self.buffer.as_mut()[field::REST].copy_from_slice(&value);
    }

    #[inline]
    pub fn payload_mut(&mut self) -> &mut [u8] {
        &mut self.buffer.as_mut()[field::PAYLOAD..]
    }

    /// Computes and stores the checksum over the pseudo-header (next header 58, length = the buffer's) and the
    /// whole buffer (RFC 4443 §2.3).
    #[inline]
    pub fn fill_checksum(&mut self, src: &[u8; 16], dst: &[u8; 16]) {
        self.set_checksum(0);
        let data = self.buffer.as_ref();
        let c = checksum::finish(checksum::add(
            pseudo(src, dst, data.len()),
            checksum::sum(data),
        ));
        self.set_checksum(c);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const SRC: [u8; 16] = [
        0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x01,
    ];
    const DST: [u8; 16] = [
        0x00, 0x64, 0xff, 0x9b, 0, 0, 0, 0, 0, 0, 0, 0, 0xc6, 0x33, 0x64, 0x02,
    ];

    /// A real Echo Request from 2001:db8::1 to 64:ff9b::198.51.100.2: ident 0x1234, seq 1, data "abcd".
    const ECHO: [u8; 12] = [
        0x80, 0x00, 0x50, 0xcd, 0x12, 0x34, 0x00, 0x01, b'a', b'b', b'c', b'd',
    ];

    #[test]
    fn parse_echo() {
        let p = Icmpv6Packet::new_checked(&ECHO[..]).unwrap();
        assert_eq!(p.msg_type(), icmpv6_type::ECHO_REQUEST);
        assert_eq!(p.code(), 0);
        assert_eq!(p.checksum(), 0x50cd);
        assert_eq!((p.echo_ident(), p.echo_seq()), (0x1234, 1));
        assert_eq!(p.rest_of_header(), [0x12, 0x34, 0, 1]);
        assert_eq!(p.payload(), b"abcd");
        assert!(p.verify_checksum(&SRC, &DST));
        // The pseudo-header matters: swapped addresses still verify (the sum commutes), another address not.
        assert!(p.verify_checksum(&DST, &SRC));
        assert!(!p.verify_checksum(&SRC, &SRC));
    }

    #[test]
    fn errors_fields() {
        let mut b = [0u8; 16];
        let mut p = Icmpv6Packet::new_checked(&mut b[..]).unwrap();
        p.set_msg_type(icmpv6_type::PACKET_TOO_BIG);
        p.set_mtu(1280);
        assert_eq!(p.mtu(), 1280);
        p.set_msg_type(icmpv6_type::PARAM_PROBLEM);
        p.set_code(0);
        p.set_pointer(40);
        assert_eq!(p.pointer(), 40);
        p.set_rest_of_header([0; 4]);
        p.set_length_field(2);
        assert_eq!((p.length_field(), p.rest_of_header()), (2, [2, 0, 0, 0]));
        p.set_echo_ident(0xaaaa);
        p.set_echo_seq(0xbbbb);
        assert_eq!(p.rest_of_header(), [0xaa, 0xaa, 0xbb, 0xbb]);
        p.payload_mut().copy_from_slice(&[1, 2, 3, 4, 5, 6, 7, 8]);
        p.fill_checksum(&SRC, &DST);
        assert!(p.verify_checksum(&SRC, &DST));
        p.set_checksum(p.checksum() ^ 0x0100);
        assert!(!p.verify_checksum(&SRC, &DST));
    }

    #[test]
    fn rejects() {
        assert_eq!(Icmpv6Packet::new_checked(&ECHO[..7]), Err(Error::Truncated));
    }

    #[test]
    fn agrees_with_etherparse() {
        use etherparse::{PacketBuilder, SlicedPacket, TransportSlice};
        let mut buf = Vec::new();
        PacketBuilder::ipv6(SRC, DST, 64)
            .icmpv6_echo_reply(0x4242, 9)
            .write(&mut buf, &[0xa5; 55])
            .unwrap();
        let sliced = SlicedPacket::from_ip(&buf).unwrap();
        let Some(TransportSlice::Icmpv6(ep)) = sliced.transport else {
            panic!("not ICMPv6")
        };
        let p = Icmpv6Packet::new_checked(&buf[40..]).unwrap();
        assert_eq!(p.msg_type(), ep.type_u8());
        assert_eq!(p.code(), ep.code_u8());
        assert_eq!(p.checksum(), ep.checksum());
        assert_eq!((p.echo_ident(), p.echo_seq()), (0x4242, 9));
        assert_eq!(p.payload(), ep.payload());
        assert!(p.verify_checksum(&SRC, &DST));
        let mut copy = buf[40..].to_vec();
        Icmpv6Packet::new_checked(&mut copy[..])
            .unwrap()
            .fill_checksum(&SRC, &DST);
        assert_eq!(copy, buf[40..]);
    }

    proptest! {
        #[test]
        fn never_panics(data in proptest::collection::vec(any::<u8>(), 0..40), src in any::<[u8; 16]>()) {
            if let Ok(p) = Icmpv6Packet::new_checked(&data[..]) {
                let _ = (p.msg_type(), p.code(), p.checksum(), p.echo_ident(), p.echo_seq(), p.pointer());
                let _ = (p.mtu(), p.length_field(), p.rest_of_header(), p.payload());
                let _ = p.verify_checksum(&src, &DST);
                let mut copy = data.clone();
                let mut p = Icmpv6Packet::new_checked(&mut copy[..]).unwrap();
                p.fill_checksum(&src, &DST);
                prop_assert!(p.verify_checksum(&src, &DST));
            }
        }

        /// Our checksum agrees with etherparse's for random echo messages.
        #[test]
        fn checksum_agrees_with_etherparse(src in any::<[u8; 16]>(), dst in any::<[u8; 16]>(),
                                           id in any::<u16>(), seq in any::<u16>(),
                                           data in proptest::collection::vec(any::<u8>(), 0..100)) {
            let mut buf = Vec::new();
            etherparse::PacketBuilder::ipv6(src, dst, 1)
                .icmpv6_echo_request(id, seq)
                .write(&mut buf, &data)
                .unwrap();
            let p = Icmpv6Packet::new_checked(&buf[40..]).unwrap();
            prop_assert!(p.verify_checksum(&src, &dst));
            let mut copy = buf[40..].to_vec();
            Icmpv6Packet::new_checked(&mut copy[..]).unwrap().fill_checksum(&src, &dst);
            prop_assert_eq!(&copy[..], &buf[40..]);
        }
    }
}
