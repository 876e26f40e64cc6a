//! TCP header (RFC 9293 §3.1).

use super::bytes::{read_u16, read_u32, write_u16, write_u32};
use super::{checksum, ip_proto, Error};

mod field {
    use crate::wire::Field;
    pub const SRC_PORT: Field = 0..2;
    pub const DST_PORT: Field = 2..4;
    pub const SEQ_NUM: Field = 4..8;
    pub const ACK_NUM: Field = 8..12;
    /// Data Offset (4 bits, in 32-bit words), then reserved bits.
    pub const DATA_OFF: usize = 12;
    pub const FLAGS: usize = 13;
    pub const WINDOW: Field = 14..16;
    pub const CHECKSUM: Field = 16..18;
    pub const URGENT: Field = 18..20;
    pub const OPTIONS: usize = 20;
}

/// Size of the TCP header without options.
pub const HEADER_LEN: usize = 20;

/// Offset of the checksum field, for incremental updates by offset.
pub const CHECKSUM_OFFSET: usize = 16;

/// Control bits in the [`TcpPacket::flags`] byte (RFC 9293 §3.1; ECE/CWR: RFC 3168 §6.1).
pub const FIN: u8 = 0x01;
pub const SYN: u8 = 0x02;
pub const RST: u8 = 0x04;
pub const PSH: u8 = 0x08;
pub const ACK: u8 = 0x10;
pub const URG: u8 = 0x20;
pub const ECE: u8 = 0x40;
pub const CWR: u8 = 0x80;

/// A TCP segment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TcpPacket<T: AsRef<[u8]>> {
    buffer: T,
}

impl TcpPacket<&[u8]> {
    /// Size of the header without options ([`HEADER_LEN`]).
    /// On the `&[u8]` instance only, so that `TcpPacket::HEADER_LEN` needs no type annotation (an associated
    /// const of the generic impl would).
    pub const HEADER_LEN: usize = HEADER_LEN;
}

impl<T: AsRef<[u8]>> TcpPacket<T> {
    /// Wraps without checking. Fixed-field accessors panic on a buffer shorter than 20 bytes;
    /// [`options`](Self::options) and [`payload`](Self::payload) trust the Data Offset.
    #[inline]
    pub const fn new_unchecked(buffer: T) -> Self {
        TcpPacket { buffer }
    }

    /// Wraps after validating: at least 20 bytes, Data Offset >= 5 words ([`Error::Malformed`] otherwise), the
    /// header with its options within the buffer.
    #[inline]
    pub fn new_checked(buffer: T) -> Result<Self, Error> {
        if buffer.as_ref().len() < HEADER_LEN {
            return Err(Error::Truncated);
        }
        let pkt = Self::new_unchecked(buffer);
        if pkt.header_len() < HEADER_LEN {
            return Err(Error::Malformed);
        }
        if pkt.header_len() > pkt.buffer.as_ref().len() {
            return Err(Error::Truncated);
        }
        Ok(pkt)
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

    #[inline]
    pub fn seq_number(&self) -> u32 {
        read_u32(&self.buffer.as_ref()[field::SEQ_NUM])
    }

    #[inline]
    pub fn ack_number(&self) -> u32 {
        read_u32(&self.buffer.as_ref()[field::ACK_NUM])
    }

    /// Header length in bytes, options included (Data Offset × 4, 20..=60 when valid).
    #[inline]
    pub fn header_len(&self) -> usize {
        usize::from(self.buffer.as_ref()[field::DATA_OFF] >> 4) * 4
    }

    /// The control bits byte: [`FIN`], [`SYN`], [`RST`], [`PSH`], [`ACK`], [`URG`], [`ECE`], [`CWR`].
    #[inline]
    pub fn flags(&self) -> u8 {
        self.buffer.as_ref()[field::FLAGS]
    }

    #[inline]
    pub fn window(&self) -> u16 {
        read_u16(&self.buffer.as_ref()[field::WINDOW])
    }

    #[inline]
    pub fn checksum(&self) -> u16 {
        read_u16(&self.buffer.as_ref()[field::CHECKSUM])
    }

    /// Urgent Pointer.
    #[inline]
    pub fn urgent(&self) -> u16 {
        read_u16(&self.buffer.as_ref()[field::URGENT])
    }

    /// The options: bytes 20..header_len.
    #[inline]
    pub fn options(&self) -> &[u8] {
        &self.buffer.as_ref()[field::OPTIONS..self.header_len()]
    }

    /// Everything after the header in the buffer.
    #[inline]
    pub fn payload(&self) -> &[u8] {
        &self.buffer.as_ref()[self.header_len()..]
    }

    /// Checks the checksum over the IPv4 pseudo-header and the whole buffer (which must be the whole segment).
    #[inline]
    pub fn verify_checksum_v4(&self, src: &[u8; 4], dst: &[u8; 4]) -> bool {
        let data = self.buffer.as_ref();
        // A segment in one IPv4 packet is below 64 KiB; a longer buffer cannot be one, let it fail.
        let Ok(len) = u16::try_from(data.len()) else {
            return false;
        };
        let pseudo = checksum::sum_v4_pseudo(src, dst, ip_proto::TCP, len);
        checksum::fold(checksum::add(pseudo, checksum::sum(data))) == 0xffff
    }

    /// Checks the checksum over the IPv6 pseudo-header and the whole buffer (which must be the whole segment).
    #[inline]
    pub fn verify_checksum_v6(&self, src: &[u8; 16], dst: &[u8; 16]) -> bool {
        let data = self.buffer.as_ref();
        let pseudo = checksum::sum_v6_pseudo(src, dst, ip_proto::TCP, data.len() as u32);
        checksum::fold(checksum::add(pseudo, checksum::sum(data))) == 0xffff
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> TcpPacket<T> {
    #[inline]
    pub fn set_src_port(&mut self, value: u16) {
        write_u16(&mut self.buffer.as_mut()[field::SRC_PORT], value);
    }

    #[inline]
    pub fn set_dst_port(&mut self, value: u16) {
        write_u16(&mut self.buffer.as_mut()[field::DST_PORT], value);
    }

    #[inline]
    pub fn set_seq_number(&mut self, value: u32) {
        write_u32(&mut self.buffer.as_mut()[field::SEQ_NUM], value);
    }

    #[inline]
    pub fn set_ack_number(&mut self, value: u32) {
        write_u32(&mut self.buffer.as_mut()[field::ACK_NUM], value);
    }

    /// Sets the Data Offset from a length in bytes (a multiple of 4, 20..=60), keeping the reserved bits.
    #[inline]
    pub fn set_header_len(&mut self, len: usize) {
        let b = &mut self.buffer.as_mut()[field::DATA_OFF];
        *b = (*b & 0x0f) | (((len / 4) as u8) << 4);
    }

    #[inline]
    pub fn set_flags(&mut self, value: u8) {
        self.buffer.as_mut()[field::FLAGS] = value;
    }

    #[inline]
    pub fn set_window(&mut self, value: u16) {
        write_u16(&mut self.buffer.as_mut()[field::WINDOW], value);
    }

    #[inline]
    pub fn set_checksum(&mut self, value: u16) {
        write_u16(&mut self.buffer.as_mut()[field::CHECKSUM], value);
    }

    #[inline]
    pub fn set_urgent(&mut self, value: u16) {
        write_u16(&mut self.buffer.as_mut()[field::URGENT], value);
    }

    /// The options, writable.
    #[inline]
    pub fn options_mut(&mut self) -> &mut [u8] {
        let end = self.header_len();
        &mut self.buffer.as_mut()[field::OPTIONS..end]
    }

    #[inline]
    pub fn payload_mut(&mut self) -> &mut [u8] {
        let start = self.header_len();
        &mut self.buffer.as_mut()[start..]
    }

    /// Computes and stores the checksum over the IPv4 pseudo-header and the whole buffer (the whole segment).
    #[inline]
    pub fn fill_checksum_v4(&mut self, src: &[u8; 4], dst: &[u8; 4]) {
        self.set_checksum(0);
        let data = self.buffer.as_ref();
        let pseudo = checksum::sum_v4_pseudo(src, dst, ip_proto::TCP, data.len() as u16);
        let c = checksum::finish(checksum::add(pseudo, checksum::sum(data)));
        self.set_checksum(c);
    }

    /// Computes and stores the checksum over the IPv6 pseudo-header and the whole buffer (the whole segment).
    #[inline]
    pub fn fill_checksum_v6(&mut self, src: &[u8; 16], dst: &[u8; 16]) {
        self.set_checksum(0);
        let data = self.buffer.as_ref();
        let pseudo = checksum::sum_v6_pseudo(src, dst, ip_proto::TCP, data.len() as u32);
        let c = checksum::finish(checksum::add(pseudo, checksum::sum(data)));
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
    /// The TCP part of a real IPv6 SYN: 40000 -> 443, seq 0x11223344, window 65535, MSS 1440.
    #[rustfmt::skip]
    const SYN_SEGMENT: [u8; 24] = [
        0x9c, 0x40, 0x01, 0xbb, // ports 40000 -> 443
        0x11, 0x22, 0x33, 0x44, // seq
        0x00, 0x00, 0x00, 0x00, // ack
        0x60, 0x02, 0xff, 0xff, // data offset 6, SYN, window 65535
        0x5d, 0xe9, 0x00, 0x00, // checksum, urgent
        0x02, 0x04, 0x05, 0xa0, // MSS 1440
    ];

    #[test]
    fn parse_syn() {
        let t = TcpPacket::new_checked(&SYN_SEGMENT[..]).unwrap();
        assert_eq!((t.src_port(), t.dst_port()), (40000, 443));
        assert_eq!((t.seq_number(), t.ack_number()), (0x1122_3344, 0));
        assert_eq!(t.header_len(), 24);
        assert_eq!(t.flags(), SYN);
        assert_eq!((t.window(), t.checksum(), t.urgent()), (65535, 0x5de9, 0));
        assert_eq!(t.options(), &[2, 4, 5, 0xa0]);
        assert_eq!(t.payload(), &[] as &[u8]);
        assert!(t.verify_checksum_v6(&SRC, &DST));
        assert_eq!(
            SYN_SEGMENT[CHECKSUM_OFFSET..CHECKSUM_OFFSET + 2],
            [0x5d, 0xe9]
        );
    }

    #[test]
    fn rejects() {
        assert_eq!(
            TcpPacket::new_checked(&SYN_SEGMENT[..19]),
            Err(Error::Truncated)
        );
        // Options announced but cut off.
        assert_eq!(
            TcpPacket::new_checked(&SYN_SEGMENT[..23]),
            Err(Error::Truncated)
        );
        let mut b = SYN_SEGMENT;
        b[12] = 0x40; // data offset 4
        assert_eq!(TcpPacket::new_checked(&b[..]), Err(Error::Malformed));
        let mut b = SYN_SEGMENT;
        b[12] = 0xf0; // data offset 15 = 60 bytes > 24
        assert_eq!(TcpPacket::new_checked(&b[..]), Err(Error::Truncated));
    }

    #[test]
    fn setters() {
        let mut b = [0u8; 28];
        b[..24].copy_from_slice(&SYN_SEGMENT);
        let mut t = TcpPacket::new_unchecked(&mut b[..]);
        t.set_src_port(1);
        t.set_dst_port(2);
        t.set_seq_number(3);
        t.set_ack_number(4);
        t.set_flags(ACK | PSH | FIN);
        t.set_window(5);
        t.set_urgent(6);
        t.set_header_len(20);
        t.payload_mut().copy_from_slice(&[1, 2, 3, 4, 5, 6, 7, 8]);
        t.set_header_len(24);
        t.options_mut().copy_from_slice(&[1, 1, 1, 0]);
        t.fill_checksum_v6(&SRC, &DST);
        assert!(t.verify_checksum_v6(&SRC, &DST));
        t.fill_checksum_v4(&[10, 0, 0, 1], &[10, 0, 0, 2]);
        assert!(t.verify_checksum_v4(&[10, 0, 0, 1], &[10, 0, 0, 2]));
        t.set_checksum(7);
        assert_eq!(
            (t.src_port(), t.dst_port(), t.seq_number(), t.ack_number()),
            (1, 2, 3, 4)
        );
        assert_eq!(
            (t.flags(), t.window(), t.urgent(), t.checksum()),
            (0x19, 5, 6, 7)
        );
        assert_eq!(
            (t.options(), t.payload()),
            (&[1, 1, 1, 0][..], &[5, 6, 7, 8][..])
        );
    }

    #[test]
    fn agrees_with_etherparse() {
        use etherparse::{PacketBuilder, TcpSlice};
        let mut buf = Vec::new();
        PacketBuilder::ipv4([192, 0, 2, 1], [198, 51, 100, 2], 64)
            .tcp(1234, 80, 0xdead_beef, 29200)
            .syn()
            .ack(0x0102_0304)
            .options_raw(&[2, 4, 5, 0xb4, 1, 1, 4, 2])
            .unwrap()
            .write(&mut buf, b"GET / HTTP/1.0\r\n")
            .unwrap();
        let t = TcpPacket::new_checked(&buf[20..]).unwrap();
        let ep = TcpSlice::from_slice(&buf[20..]).unwrap();
        assert_eq!(
            (t.src_port(), t.dst_port()),
            (ep.source_port(), ep.destination_port())
        );
        assert_eq!(
            (t.seq_number(), t.ack_number()),
            (ep.sequence_number(), ep.acknowledgment_number())
        );
        assert_eq!(t.header_len(), ep.header_len());
        assert_eq!(t.flags(), SYN | ACK);
        assert_eq!(
            (t.window(), t.checksum(), t.urgent()),
            (ep.window_size(), ep.checksum(), ep.urgent_pointer())
        );
        assert_eq!(t.options(), ep.options());
        assert_eq!(t.payload(), ep.payload());
        assert!(t.verify_checksum_v4(&[192, 0, 2, 1], &[198, 51, 100, 2]));
    }

    proptest! {
        #[test]
        fn never_panics(mut data in proptest::collection::vec(any::<u8>(), 0..80), off in 0u8..16) {
            if data.len() > 12 {
                data[12] = (off << 4) | (data[12] & 0x0f);
            }
            if let Ok(t) = TcpPacket::new_checked(&data[..]) {
                let _ = (t.src_port(), t.dst_port(), t.seq_number(), t.ack_number(), t.header_len());
                let _ = (t.flags(), t.window(), t.checksum(), t.urgent(), t.options(), t.payload());
                let _ = (t.verify_checksum_v4(&[1; 4], &[2; 4]), t.verify_checksum_v6(&SRC, &DST));
                prop_assert_eq!(t.options().len() + t.payload().len() + HEADER_LEN, data.len());
                let mut copy = data.clone();
                let mut t = TcpPacket::new_checked(&mut copy[..]).unwrap();
                let _ = (t.options_mut().len(), t.payload_mut().len());
            }
        }

        /// Our fill matches the checksum etherparse computes, over IPv4 and IPv6.
        #[test]
        fn checksum_agrees_with_etherparse(s4 in any::<[u8; 4]>(), d4 in any::<[u8; 4]>(),
                                           s6 in any::<[u8; 16]>(), d6 in any::<[u8; 16]>(),
                                           seq in any::<u32>(), win in any::<u16>(),
                                           data in proptest::collection::vec(any::<u8>(), 0..200)) {
            let mut buf = Vec::new();
            etherparse::PacketBuilder::ipv4(s4, d4, 1).tcp(1, 2, seq, win).write(&mut buf, &data).unwrap();
            let mut copy = buf[20..].to_vec();
            let mut t = TcpPacket::new_checked(&mut copy[..]).unwrap();
            prop_assert!(t.verify_checksum_v4(&s4, &d4));
            t.fill_checksum_v4(&s4, &d4);
            prop_assert_eq!(&copy[..], &buf[20..]);

            let mut buf = Vec::new();
            etherparse::PacketBuilder::ipv6(s6, d6, 1).tcp(1, 2, seq, win).write(&mut buf, &data).unwrap();
            let mut copy = buf[40..].to_vec();
            let mut t = TcpPacket::new_checked(&mut copy[..]).unwrap();
            prop_assert!(t.verify_checksum_v6(&s6, &d6));
            t.fill_checksum_v6(&s6, &d6);
            prop_assert_eq!(&copy[..], &buf[40..]);
        }
    }
}
