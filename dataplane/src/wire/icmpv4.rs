//! ICMPv4 messages (RFC 792), with the RFC 1191 next-hop MTU and the RFC 4884 length field.

use super::bytes::{read_array, read_u16, write_u16};
use super::{checksum, Error};

mod field {
    use crate::wire::Field;
    pub const TYPE: usize = 0;
    pub const CODE: usize = 1;
    pub const CHECKSUM: Field = 2..4;
    /// The second 32-bit word, whose meaning depends on the type.
    pub const REST: Field = 4..8;
    pub const ECHO_IDENT: Field = 4..6;
    pub const ECHO_SEQ: Field = 6..8;
    /// Parameter Problem pointer (RFC 792).
    pub const POINTER: usize = 4;
    /// Length of the original datagram in 32-bit words (RFC 4884 §4.1).
    pub const LENGTH: usize = 5;
    /// Next-hop MTU of Destination Unreachable, Fragmentation Needed (RFC 1191 §4).
    pub const MTU: Field = 6..8;
    pub const PAYLOAD: usize = 8;
}

/// Size of the ICMPv4 header (type, code, checksum, one 32-bit word).
pub const HEADER_LEN: usize = 8;

/// ICMPv4 message types (IANA "ICMP Type Numbers").
pub mod icmpv4_type {
    pub const ECHO_REPLY: u8 = 0;
    pub const DEST_UNREACH: u8 = 3;
    pub const SOURCE_QUENCH: u8 = 4;
    pub const REDIRECT: u8 = 5;
    pub const ECHO_REQUEST: u8 = 8;
    pub const ROUTER_ADV: u8 = 9;
    pub const ROUTER_SOL: u8 = 10;
    pub const TIME_EXCEEDED: u8 = 11;
    pub const PARAM_PROBLEM: u8 = 12;
    pub const TIMESTAMP: u8 = 13;
    pub const TIMESTAMP_REPLY: u8 = 14;
    pub const INFO_REQUEST: u8 = 15;
    pub const INFO_REPLY: u8 = 16;
    pub const ADDR_MASK_REQUEST: u8 = 17;
    pub const ADDR_MASK_REPLY: u8 = 18;
}

/// An ICMPv4 message. The view covers the whole message: the checksum is over all of it (RFC 792).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Icmpv4Packet<T: AsRef<[u8]>> {
    buffer: T,
}

impl Icmpv4Packet<&[u8]> {
    /// Type, code, checksum, rest of header ([`HEADER_LEN`]).
    /// On the `&[u8]` instance only, so that `Icmpv4Packet::HEADER_LEN` needs no type annotation (an associated
    /// const of the generic impl would).
    pub const HEADER_LEN: usize = HEADER_LEN;
}

impl<T: AsRef<[u8]>> Icmpv4Packet<T> {
    /// Wraps without checking; accessors panic on a buffer shorter than 8 bytes.
    #[inline]
    pub const fn new_unchecked(buffer: T) -> Self {
        Icmpv4Packet { buffer }
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

    /// Echo / Echo Reply identifier (RFC 792).
    #[inline]
    pub fn echo_ident(&self) -> u16 {
        read_u16(&self.buffer.as_ref()[field::ECHO_IDENT])
    }

    /// Echo / Echo Reply sequence number (RFC 792).
    #[inline]
    pub fn echo_seq(&self) -> u16 {
        read_u16(&self.buffer.as_ref()[field::ECHO_SEQ])
    }

    /// Parameter Problem pointer: the octet of the original IPv4 header where the error was (RFC 792).
    #[inline]
    pub fn pointer(&self) -> u8 {
        self.buffer.as_ref()[field::POINTER]
    }

    /// Next-hop MTU of Fragmentation Needed (RFC 1191 §4; zero from pre-RFC 1191 routers).
    #[inline]
    pub fn next_hop_mtu(&self) -> u16 {
        read_u16(&self.buffer.as_ref()[field::MTU])
    }

    /// RFC 4884 §4.1: length of the padded original datagram in 32-bit words (0: no extension structure).
    #[inline]
    pub fn length_field(&self) -> u8 {
        self.buffer.as_ref()[field::LENGTH]
    }

    /// Bytes 4..8 as they are, for types the translator copies unchanged.
    #[inline]
    pub fn rest_of_header(&self) -> [u8; 4] {
        read_array(&self.buffer.as_ref()[field::REST])
    }

    /// Everything after the 8-byte header (echo data, or the original datagram of an error).
    #[inline]
    pub fn payload(&self) -> &[u8] {
        &self.buffer.as_ref()[field::PAYLOAD..]
    }

    /// Whether the checksum over the whole message is right (RFC 792: no pseudo-header in ICMPv4).
    #[inline]
    pub fn verify_checksum(&self) -> bool {
        checksum::verify(self.buffer.as_ref())
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Icmpv4Packet<T> {
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
    pub fn set_pointer(&mut self, value: u8) {
        self.buffer.as_mut()[field::POINTER] = value;
    }

    #[inline]
    pub fn set_next_hop_mtu(&mut self, value: u16) {
        write_u16(&mut self.buffer.as_mut()[field::MTU], value);
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

    /// Computes and stores the checksum over the whole buffer.
    #[inline]
    pub fn fill_checksum(&mut self) {
        self.set_checksum(0);
        let c = checksum::finish(checksum::sum(self.buffer.as_ref()));
        self.set_checksum(c);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// A real Echo Request: ident 0x1234, seq 1, data "abcd".
    const ECHO: [u8; 12] = [
        0x08, 0x00, 0x21, 0x04, 0x12, 0x34, 0x00, 0x01, b'a', b'b', b'c', b'd',
    ];

    #[test]
    fn parse_echo() {
        let p = Icmpv4Packet::new_checked(&ECHO[..]).unwrap();
        assert_eq!(p.msg_type(), icmpv4_type::ECHO_REQUEST);
        assert_eq!(p.code(), 0);
        assert_eq!(p.checksum(), 0x2104);
        assert_eq!((p.echo_ident(), p.echo_seq()), (0x1234, 1));
        assert_eq!(p.rest_of_header(), [0x12, 0x34, 0x00, 0x01]);
        assert_eq!(p.payload(), b"abcd");
        assert!(p.verify_checksum());
    }

    #[test]
    fn frag_needed_and_param_problem() {
        // Destination Unreachable, Fragmentation Needed, RFC 4884 length 7, next-hop MTU 1400.
        let mut b = [3, 4, 0, 0, 0, 7, 0x05, 0x78, 0x45, 0, 0, 0];
        let mut p = Icmpv4Packet::new_checked(&mut b[..]).unwrap();
        assert_eq!((p.next_hop_mtu(), p.length_field()), (1400, 7));
        p.fill_checksum();
        assert!(p.verify_checksum());
        p.set_msg_type(icmpv4_type::PARAM_PROBLEM);
        p.set_code(0);
        p.set_rest_of_header([0; 4]);
        p.set_pointer(9);
        p.set_length_field(2);
        p.set_next_hop_mtu(0xabcd);
        assert_eq!(
            (p.pointer(), p.length_field(), p.next_hop_mtu()),
            (9, 2, 0xabcd)
        );
        p.set_echo_ident(0x0102);
        p.set_echo_seq(0x0304);
        assert_eq!(p.rest_of_header(), [1, 2, 3, 4]);
        p.payload_mut()[0] = 0x46;
        assert!(!p.verify_checksum());
        p.set_checksum(0x1111);
        assert_eq!(p.checksum(), 0x1111);
    }

    #[test]
    fn rejects() {
        assert_eq!(Icmpv4Packet::new_checked(&ECHO[..7]), Err(Error::Truncated));
        assert!(Icmpv4Packet::new_checked(&ECHO[..8]).is_ok());
    }

    #[test]
    fn agrees_with_etherparse() {
        use etherparse::{PacketBuilder, SlicedPacket, TransportSlice};
        let mut buf = Vec::new();
        PacketBuilder::ipv4([192, 0, 2, 1], [192, 0, 2, 2], 64)
            .icmpv4_echo_request(0xbeef, 77)
            .write(&mut buf, &[0x5a; 37])
            .unwrap();
        let sliced = SlicedPacket::from_ip(&buf).unwrap();
        let Some(TransportSlice::Icmpv4(ep)) = sliced.transport else {
            panic!("not ICMPv4")
        };
        let p = Icmpv4Packet::new_checked(&buf[20..]).unwrap();
        assert_eq!(p.msg_type(), ep.type_u8());
        assert_eq!(p.code(), ep.code_u8());
        assert_eq!(p.checksum(), ep.checksum());
        assert_eq!((p.echo_ident(), p.echo_seq()), (0xbeef, 77));
        assert_eq!(p.payload(), ep.payload());
        assert!(p.verify_checksum());
        let mut copy = buf[20..].to_vec();
        Icmpv4Packet::new_checked(&mut copy[..])
            .unwrap()
            .fill_checksum();
        assert_eq!(copy, buf[20..]);
    }

    proptest! {
        #[test]
        fn never_panics(data in proptest::collection::vec(any::<u8>(), 0..40)) {
            if let Ok(p) = Icmpv4Packet::new_checked(&data[..]) {
                let _ = (p.msg_type(), p.code(), p.checksum(), p.echo_ident(), p.echo_seq(), p.pointer());
                let _ = (p.next_hop_mtu(), p.length_field(), p.rest_of_header(), p.payload());
                let _ = p.verify_checksum();
                let mut copy = data.clone();
                let mut p = Icmpv4Packet::new_checked(&mut copy[..]).unwrap();
                p.fill_checksum();
                prop_assert!(p.verify_checksum());
            }
        }
    }
}
