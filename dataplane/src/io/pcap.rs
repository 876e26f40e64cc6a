//! Capture files (libpcap format) as a frame source and sink, for offline translation.
//!
//! Reads LINKTYPE_ETHERNET (1, Ethernet II with 0 or 1 802.1Q tag), LINKTYPE_RAW (101) and its single-version
//! variants LINKTYPE_IPV4 (228) and LINKTYPE_IPV6 (229); microsecond or nanosecond timestamps; either byte
//! order. pcapng is not read (convert with `editcap -F pcap in.pcapng out.pcap`).
//!
//! Writes in the input's link type, timestamp resolution and byte order, except that 228/229 inputs are written
//! as RAW (a translator's output holds the other IP version). Ethernet outputs get a header built from the
//! input frame's addresses (see [`PcapSink::write`]).
//!
//! The file header is parsed and the output written with the `pcap-file` crate; records are read here, so that
//! a corrupt length is reported as such instead of as an allocation or a read to the end of the file.

use std::fs::File;
use std::io::{self, BufReader, BufWriter, Read, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use pcap_file::pcap::{PcapHeader, PcapParser, PcapWriter, RawPcapPacket};
use pcap_file::DataLink;
pub use pcap_file::{Endianness, TsResolution};

use super::{parse_ethernet, push_ethernet_header, EthAddrs, Link, Payload, RxPacket};
use crate::frame::RxMeta;

/// Largest record accepted (libpcap's MAXIMUM_SNAPLEN). Larger lengths mean a corrupt file.
pub const MAX_RECORD_LEN: u32 = 262_144;

/// Size of the pcap file header.
const FILE_HEADER_LEN: usize = 24;
/// Size of a record header.
const RECORD_HEADER_LEN: usize = 16;
/// Magic number of a pcapng section header block.
const PCAPNG_MAGIC: [u8; 4] = [0x0a, 0x0d, 0x0d, 0x0a];

/// Link types xlat64 reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkType {
    /// LINKTYPE_ETHERNET (1).
    Ethernet,
    /// LINKTYPE_RAW (101): IPv4 or IPv6, told apart by the version field.
    Raw,
    /// LINKTYPE_IPV4 (228).
    Ipv4,
    /// LINKTYPE_IPV6 (229).
    Ipv6,
}

impl LinkType {
    /// From the link-type number of a file header (its low 16 bits; see [`PcapSource`] for the rest).
    pub fn from_number(n: u32) -> Option<LinkType> {
        match n {
            1 => Some(LinkType::Ethernet),
            101 => Some(LinkType::Raw),
            228 => Some(LinkType::Ipv4),
            229 => Some(LinkType::Ipv6),
            _ => None,
        }
    }

    /// The LINKTYPE_* number.
    pub fn number(self) -> u32 {
        match self {
            LinkType::Ethernet => 1,
            LinkType::Raw => 101,
            LinkType::Ipv4 => 228,
            LinkType::Ipv6 => 229,
        }
    }

    /// The link type translated packets of an input of this type are written in: the same, except that the
    /// single-version raw types become RAW.
    pub fn for_output(self) -> LinkType {
        match self {
            LinkType::Ethernet => LinkType::Ethernet,
            LinkType::Raw | LinkType::Ipv4 | LinkType::Ipv6 => LinkType::Raw,
        }
    }
}

/// What went wrong with a capture file. Every variant names the file.
#[derive(Debug, thiserror::Error)]
pub enum PcapFileError {
    #[error("{}: {op}: {err}", path.display())]
    Io {
        path: PathBuf,
        op: &'static str,
        err: io::Error,
    },
    #[error("{}: not a pcap file: {reason}", path.display())]
    NotPcap { path: PathBuf, reason: String },
    #[error(
        "{}: unsupported link type {linktype} (xlat64 reads 1 ETHERNET, 101 RAW, 228 IPV4, 229 IPV6)",
        path.display()
    )]
    UnsupportedLinkType { path: PathBuf, linktype: u32 },
    #[error(
        "{}: truncated record {record} at byte offset {offset}: {what} has {have} of {need} bytes",
        path.display()
    )]
    TruncatedRecord {
        path: PathBuf,
        record: u64,
        offset: u64,
        what: &'static str,
        have: usize,
        need: usize,
    },
    #[error(
        "{}: record {record} at byte offset {offset}: captured length {len} is larger than {MAX_RECORD_LEN} \
         (corrupt file?)",
        path.display()
    )]
    RecordTooLong {
        path: PathBuf,
        record: u64,
        offset: u64,
        len: u32,
    },
    #[error("{}: cannot write packet {number}: {reason}", path.display())]
    Unwritable {
        path: PathBuf,
        number: u64,
        reason: String,
    },
}

impl PcapFileError {
    fn io(path: &Path, op: &'static str, err: io::Error) -> Self {
        PcapFileError::Io {
            path: path.to_owned(),
            op,
            err,
        }
    }
}

/// Reads `buf.len()` bytes unless the input ends first; returns how many were read.
fn read_full<R: Read>(r: &mut R, buf: &mut [u8]) -> io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match r.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

/// Packets from a pcap file, one at a time, link layer stripped.
#[derive(Debug)]
pub struct PcapSource<R: Read> {
    path: PathBuf,
    reader: R,
    parser: PcapParser,
    header: PcapHeader,
    link: LinkType,
    /// Bytes of frame check sequence at the end of each Ethernet frame (the FCS field of the link-type word).
    fcs_len: usize,
    /// Byte offset of the next record.
    offset: u64,
    /// Records read so far.
    count: u64,
    /// The current record: header and data.
    buf: Vec<u8>,
}

impl PcapSource<BufReader<File>> {
    /// Opens a capture file and reads its header.
    pub fn open(path: impl AsRef<Path>) -> Result<Self, PcapFileError> {
        let path = path.as_ref();
        let file = File::open(path).map_err(|e| PcapFileError::io(path, "cannot open", e))?;
        PcapSource::from_reader(path, BufReader::with_capacity(1 << 16, file))
    }
}

impl<R: Read> PcapSource<R> {
    /// Reads the file header from `reader`. `path` only names the input in errors.
    pub fn from_reader(path: impl AsRef<Path>, mut reader: R) -> Result<Self, PcapFileError> {
        let path = path.as_ref().to_owned();
        let mut hdr = [0u8; FILE_HEADER_LEN];
        let n = read_full(&mut reader, &mut hdr)
            .map_err(|e| PcapFileError::io(&path, "read error", e))?;
        let not_pcap = |reason: String| PcapFileError::NotPcap {
            path: path.clone(),
            reason,
        };
        if n >= 4 && hdr[..4] == PCAPNG_MAGIC {
            return Err(not_pcap(
                "it is pcapng; convert it with `editcap -F pcap IN OUT` or `tcpdump -r IN -w OUT`"
                    .into(),
            ));
        }
        if n < FILE_HEADER_LEN {
            return Err(not_pcap(if n == 0 {
                "the file is empty".into()
            } else {
                format!("{n} bytes, shorter than the {FILE_HEADER_LEN}-byte file header")
            }));
        }
        let (_, parser) = PcapParser::new(&hdr).map_err(|_| {
            not_pcap(format!(
                "magic number {:02x}{:02x}{:02x}{:02x}, expected a1b2c3d4 or a1b23c4d in either byte order",
                hdr[0], hdr[1], hdr[2], hdr[3]
            ))
        })?;
        let header = parser.header();
        if header.version_major != 2 {
            return Err(not_pcap(format!(
                "format version {}.{}, expected 2.x",
                header.version_major, header.version_minor
            )));
        }
        // The link-type word: link type in bits 0..16, FCS length (in 16-bit words) in bits 29..32 if bit 28.
        let word = u32::from(header.datalink);
        let linktype = word & 0xffff;
        let link = LinkType::from_number(linktype).ok_or(PcapFileError::UnsupportedLinkType {
            path: path.clone(),
            linktype,
        })?;
        let fcs_len = if link == LinkType::Ethernet && word & (1 << 28) != 0 {
            (word >> 29) as usize * 2
        } else {
            0
        };
        Ok(PcapSource {
            path,
            reader,
            parser,
            header,
            link,
            fcs_len,
            offset: FILE_HEADER_LEN as u64,
            count: 0,
            buf: Vec::with_capacity(crate::frame::FRAME_SIZE),
        })
    }

    /// The file's link type.
    pub fn link_type(&self) -> LinkType {
        self.link
    }

    pub fn ts_resolution(&self) -> TsResolution {
        self.header.ts_resolution
    }

    pub fn endianness(&self) -> Endianness {
        self.header.endianness
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The next packet, or `None` at the end of the file.
    pub fn next_packet(&mut self) -> Result<Option<RxPacket<'_>>, PcapFileError> {
        let record = self.count + 1;
        let offset = self.offset;
        self.buf.resize(RECORD_HEADER_LEN, 0);
        let n = read_full(&mut self.reader, &mut self.buf)
            .map_err(|e| PcapFileError::io(&self.path, "read error", e))?;
        if n == 0 {
            return Ok(None);
        }
        let truncated = |what, have, need| PcapFileError::TruncatedRecord {
            path: self.path.clone(),
            record,
            offset,
            what,
            have,
            need,
        };
        if n < RECORD_HEADER_LEN {
            return Err(truncated("record header", n, RECORD_HEADER_LEN));
        }
        let len_bytes = [self.buf[8], self.buf[9], self.buf[10], self.buf[11]];
        let incl_len = match self.header.endianness {
            Endianness::Big => u32::from_be_bytes(len_bytes),
            Endianness::Little => u32::from_le_bytes(len_bytes),
        };
        if incl_len > MAX_RECORD_LEN {
            return Err(PcapFileError::RecordTooLong {
                path: self.path.clone(),
                record,
                offset,
                len: incl_len,
            });
        }
        let data_len = incl_len as usize;
        self.buf.resize(RECORD_HEADER_LEN + data_len, 0);
        let n = read_full(&mut self.reader, &mut self.buf[RECORD_HEADER_LEN..])
            .map_err(|e| PcapFileError::io(&self.path, "read error", e))?;
        if n < data_len {
            return Err(truncated("packet data", n, data_len));
        }
        self.count = record;
        self.offset += (RECORD_HEADER_LEN + data_len) as u64;

        let (_, raw) =
            self.parser
                .next_raw_packet(&self.buf)
                .map_err(|e| PcapFileError::NotPcap {
                    path: self.path.clone(),
                    reason: format!("record {record} at byte offset {offset}: {e}"),
                })?;
        let frac_ns = match self.header.ts_resolution {
            TsResolution::MicroSecond => u64::from(raw.ts_frac) * 1_000,
            TsResolution::NanoSecond => u64::from(raw.ts_frac),
        };
        let timestamp = Duration::from_secs(u64::from(raw.ts_sec)) + Duration::from_nanos(frac_ns);
        let orig_len = raw.orig_len;

        let data = &self.buf[RECORD_HEADER_LEN..];
        let (link, meta, payload) = match self.link {
            LinkType::Raw | LinkType::Ipv4 | LinkType::Ipv6 => {
                (Link::Raw, RxMeta::default(), Payload::Ip(data))
            }
            LinkType::Ethernet => {
                // The FCS is there only if the frame was captured whole.
                let whole = u64::from(orig_len) <= data.len() as u64;
                let data = if whole {
                    &data[..data.len().saturating_sub(self.fcs_len)]
                } else {
                    data
                };
                let (addrs, vlan, payload) = parse_ethernet(data);
                (
                    Link::Ethernet(addrs.unwrap_or_default()),
                    RxMeta { ingress: 0, vlan },
                    payload,
                )
            }
        };
        Ok(Some(RxPacket {
            number: record,
            timestamp,
            orig_len,
            captured_len: incl_len,
            link,
            meta,
            payload,
        }))
    }
}

/// Writes packets to a pcap file.
#[derive(Debug)]
pub struct PcapSink<W: Write> {
    path: PathBuf,
    writer: PcapWriter<W>,
    link: LinkType,
    ts_resolution: TsResolution,
    /// The frame being written: link-layer header and packet.
    buf: Vec<u8>,
    count: u64,
}

impl PcapSink<BufWriter<File>> {
    /// Creates (or truncates) `path` and writes the file header.
    pub fn create(
        path: impl AsRef<Path>,
        link: LinkType,
        ts_resolution: TsResolution,
        endianness: Endianness,
    ) -> Result<Self, PcapFileError> {
        let path = path.as_ref();
        let file = File::create(path).map_err(|e| PcapFileError::io(path, "cannot create", e))?;
        PcapSink::from_writer(
            path,
            BufWriter::with_capacity(1 << 16, file),
            link,
            ts_resolution,
            endianness,
        )
    }

    /// Creates `path` for the translation of `source`: its output link type, timestamp resolution, byte order.
    pub fn create_for<R: Read>(
        path: impl AsRef<Path>,
        source: &PcapSource<R>,
    ) -> Result<Self, PcapFileError> {
        PcapSink::create(
            path,
            source.link_type().for_output(),
            source.ts_resolution(),
            source.endianness(),
        )
    }
}

impl<W: Write> PcapSink<W> {
    /// Writes the file header to `writer`. `link` is written as given (use [`LinkType::for_output`]).
    pub fn from_writer(
        path: impl AsRef<Path>,
        writer: W,
        link: LinkType,
        ts_resolution: TsResolution,
        endianness: Endianness,
    ) -> Result<Self, PcapFileError> {
        let path = path.as_ref().to_owned();
        let header = PcapHeader {
            snaplen: MAX_RECORD_LEN,
            datalink: DataLink::from(link.number()),
            ts_resolution,
            endianness,
            ..PcapHeader::default()
        };
        let writer = PcapWriter::with_header(writer, header).map_err(|e| match e {
            pcap_file::PcapError::IoError(err) => PcapFileError::io(&path, "write error", err),
            e => PcapFileError::Unwritable {
                path: path.clone(),
                number: 0,
                reason: e.to_string(),
            },
        })?;
        Ok(PcapSink {
            path,
            writer,
            link,
            ts_resolution,
            buf: Vec::with_capacity(2048),
            count: 0,
        })
    }

    /// The link type written.
    pub fn link_type(&self) -> LinkType {
        self.link
    }

    /// Packets written so far.
    pub fn count(&self) -> u64 {
        self.count
    }

    /// Writes one network-layer packet with capture time `timestamp`.
    ///
    /// In an Ethernet file the packet gets a header with addresses `eth` (the caller passes the input frame's,
    /// or [`EthAddrs::swapped`] for a packet going back to the sender; `None` writes zeros), an 802.1Q tag if
    /// `vlan` is set, and the EtherType of the packet's IP version. In a raw file, `eth` and `vlan` are ignored.
    pub fn write(
        &mut self,
        timestamp: Duration,
        eth: Option<EthAddrs>,
        vlan: Option<u16>,
        packet: &[u8],
    ) -> Result<(), PcapFileError> {
        let number = self.count + 1;
        let unwritable = |reason: String| PcapFileError::Unwritable {
            path: self.path.clone(),
            number,
            reason,
        };
        self.buf.clear();
        if self.link == LinkType::Ethernet {
            push_ethernet_header(&mut self.buf, eth.unwrap_or_default(), vlan, packet);
        }
        self.buf.extend_from_slice(packet);
        let len = u32::try_from(self.buf.len())
            .ok()
            .filter(|&l| l <= MAX_RECORD_LEN)
            .ok_or_else(|| {
                unwritable(format!(
                    "{} bytes is larger than {MAX_RECORD_LEN}",
                    self.buf.len()
                ))
            })?;
        let ts_sec = u32::try_from(timestamp.as_secs()).map_err(|_| {
            unwritable(format!(
                "timestamp {}s does not fit in 32 bits",
                timestamp.as_secs()
            ))
        })?;
        let ts_frac = match self.ts_resolution {
            TsResolution::MicroSecond => timestamp.subsec_micros(),
            TsResolution::NanoSecond => timestamp.subsec_nanos(),
        };
        let raw = RawPcapPacket {
            ts_sec,
            ts_frac,
            incl_len: len,
            orig_len: len,
            data: self.buf[..].into(),
        };
        self.writer.write_raw_packet(&raw).map_err(|e| match e {
            pcap_file::PcapError::IoError(err) => PcapFileError::io(&self.path, "write error", err),
            e => unwritable(e.to_string()),
        })?;
        self.count = number;
        Ok(())
    }

    /// Flushes and returns the writer.
    pub fn finish(self) -> Result<W, PcapFileError> {
        let mut w = self.writer.into_writer();
        w.flush()
            .map_err(|e| PcapFileError::io(&self.path, "write error", e))?;
        Ok(w)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A pcap file built by hand, independent of the code under test.
    fn file(
        magic: [u8; 4],
        big: bool,
        linktype: u32,
        records: &[(u32, u32, u32, &[u8])],
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
        let mut f = Vec::new();
        f.extend_from_slice(&magic);
        f.extend_from_slice(&u16b(2));
        f.extend_from_slice(&u16b(4));
        f.extend_from_slice(&[0; 8]);
        f.extend_from_slice(&u32b(65535));
        f.extend_from_slice(&u32b(linktype));
        for &(sec, frac, orig, data) in records {
            f.extend_from_slice(&u32b(sec));
            f.extend_from_slice(&u32b(frac));
            f.extend_from_slice(&u32b(data.len() as u32));
            f.extend_from_slice(&u32b(orig));
            f.extend_from_slice(data);
        }
        f
    }

    const MICRO_BE: [u8; 4] = [0xa1, 0xb2, 0xc3, 0xd4];
    const MICRO_LE: [u8; 4] = [0xd4, 0xc3, 0xb2, 0xa1];
    const NANO_BE: [u8; 4] = [0xa1, 0xb2, 0x3c, 0x4d];
    const NANO_LE: [u8; 4] = [0x4d, 0x3c, 0xb2, 0xa1];

    fn ipv6_packet() -> Vec<u8> {
        let mut p = vec![0u8; 48];
        p[0] = 0x60;
        p[4..6].copy_from_slice(&8u16.to_be_bytes());
        p[6] = 17;
        p[7] = 64;
        p
    }

    fn ipv4_packet() -> Vec<u8> {
        let mut p = vec![0u8; 28];
        p[0] = 0x45;
        p[2..4].copy_from_slice(&28u16.to_be_bytes());
        p
    }

    fn eth_frame(tag: Option<u16>, ethertype: u16, payload: &[u8]) -> Vec<u8> {
        let mut f = vec![2, 0, 0, 0, 0, 1, 2, 0, 0, 0, 0, 2];
        if let Some(tci) = tag {
            f.extend_from_slice(&[0x81, 0x00]);
            f.extend_from_slice(&tci.to_be_bytes());
        }
        f.extend_from_slice(&ethertype.to_be_bytes());
        f.extend_from_slice(payload);
        f
    }

    /// Number, timestamp, metadata, link and payload (or a marker for a non-IP payload) of each packet.
    type Rec = (u64, Duration, RxMeta, Link, Vec<u8>);

    fn read_all(bytes: &[u8]) -> Result<(LinkType, Vec<Rec>), PcapFileError> {
        let mut src = PcapSource::from_reader("test.pcap", bytes)?;
        let mut out = Vec::new();
        while let Some(p) = src.next_packet()? {
            let data = match p.payload {
                Payload::Ip(d) => d.to_vec(),
                Payload::NotIp { ethertype } => ethertype.to_be_bytes().to_vec(),
                Payload::LinkTruncated => b"short".to_vec(),
            };
            out.push((p.number, p.timestamp, p.meta, p.link, data));
        }
        Ok((src.link_type(), out))
    }

    #[test]
    fn raw_in_every_byte_order_and_resolution() {
        let v6 = ipv6_packet();
        let v4 = ipv4_packet();
        for (magic, big, nanos) in [
            (MICRO_BE, true, false),
            (MICRO_LE, false, false),
            (NANO_BE, true, true),
            (NANO_LE, false, true),
        ] {
            let frac = if nanos { 123_456_789 } else { 123_456 };
            let f = file(
                magic,
                big,
                101,
                &[(1_700_000_000, frac, 48, &v6), (1_700_000_001, 0, 28, &v4)],
            );
            let (link, pkts) = read_all(&f).unwrap();
            assert_eq!(link, LinkType::Raw);
            assert_eq!(pkts.len(), 2);
            let want_ns = if nanos { 123_456_789 } else { 123_456_000 };
            assert_eq!(pkts[0].1, Duration::new(1_700_000_000, want_ns));
            assert_eq!(pkts[0].0, 1);
            assert_eq!(pkts[0].3, Link::Raw);
            assert_eq!(pkts[0].4, v6);
            assert_eq!(pkts[1].0, 2);
            assert_eq!(pkts[1].4, v4);
        }
    }

    #[test]
    fn ipv4_and_ipv6_link_types_read_as_raw_and_write_as_raw() {
        for (n, lt) in [(228, LinkType::Ipv4), (229, LinkType::Ipv6)] {
            let f = file(MICRO_LE, false, n, &[]);
            let src = PcapSource::from_reader("x", &f[..]).unwrap();
            assert_eq!(src.link_type(), lt);
            assert_eq!(lt.for_output(), LinkType::Raw);
        }
    }

    #[test]
    fn ethernet_strips_link_layer_and_reports_vlan_and_non_ip() {
        let v4 = ipv4_packet();
        let v6 = ipv6_packet();
        let mut padded = v4.clone();
        padded.resize(46, 0);
        let records: Vec<Vec<u8>> = vec![
            eth_frame(None, 0x0800, &padded),
            eth_frame(Some(0x2000 | 42), 0x86dd, &v6),
            eth_frame(None, 0x0806, &[0; 28]),
            vec![1, 2, 3],
        ];
        let recs: Vec<(u32, u32, u32, &[u8])> = records
            .iter()
            .map(|r| (10, 0, r.len() as u32, &r[..]))
            .collect();
        let (link, pkts) = read_all(&file(MICRO_LE, false, 1, &recs)).unwrap();
        assert_eq!(link, LinkType::Ethernet);
        assert_eq!(pkts[0].4, v4, "padding removed");
        assert_eq!(pkts[0].2.vlan, None);
        let Link::Ethernet(a) = pkts[0].3 else {
            panic!("not ethernet")
        };
        assert_eq!(a.dst, [2, 0, 0, 0, 0, 1]);
        assert_eq!(a.src, [2, 0, 0, 0, 0, 2]);
        assert_eq!(pkts[1].2.vlan, Some(42));
        assert_eq!(pkts[1].4, v6);
        assert_eq!(pkts[2].4, 0x0806u16.to_be_bytes());
        assert_eq!(pkts[3].4, b"short");
    }

    #[test]
    fn ethernet_fcs_is_removed_when_the_link_type_says_so() {
        let v6 = ipv6_packet();
        let mut frame = eth_frame(None, 0x86dd, &v6);
        frame.extend_from_slice(&[0xde, 0xad, 0xbe, 0xef]);
        // FCS present (bit 28), 2 16-bit words long (bits 29..32).
        let linktype = 1 | (1 << 28) | (2 << 29);
        let (_, pkts) = read_all(&file(
            MICRO_BE,
            true,
            linktype,
            &[(0, 0, frame.len() as u32, &frame)],
        ))
        .unwrap();
        assert_eq!(pkts[0].4, v6);
    }

    fn err(bytes: &[u8]) -> String {
        read_all(bytes).unwrap_err().to_string()
    }

    #[test]
    fn not_a_pcap_file() {
        assert_eq!(err(b""), "test.pcap: not a pcap file: the file is empty");
        assert!(err(b"hello")
            .contains("not a pcap file: 5 bytes, shorter than the 24-byte file header"));
        assert!(err(&[b'x'; 100]).contains("not a pcap file: magic number 78787878"));
        let mut ng = vec![0x0a, 0x0d, 0x0d, 0x0a];
        ng.resize(64, 0);
        assert!(err(&ng).contains("not a pcap file: it is pcapng"));
        let mut f = file(MICRO_BE, true, 1, &[]);
        f[5] = 1; // version 1.4
        assert!(err(&f).contains("format version 1.4"));
    }

    #[test]
    fn unsupported_link_type() {
        let e = err(&file(MICRO_LE, false, 113, &[]));
        assert!(
            e.starts_with("test.pcap: unsupported link type 113 ("),
            "{e}"
        );
    }

    #[test]
    fn truncated_records() {
        let v6 = ipv6_packet();
        let f = file(MICRO_LE, false, 101, &[(0, 0, 48, &v6), (0, 0, 48, &v6)]);
        // Cut in the second record's data, then in its header.
        let e = err(&f[..f.len() - 10]);
        assert_eq!(
            e,
            "test.pcap: truncated record 2 at byte offset 88: packet data has 38 of 48 bytes"
        );
        let e = err(&f[..24 + 64 + 5]);
        assert_eq!(
            e,
            "test.pcap: truncated record 2 at byte offset 88: record header has 5 of 16 bytes"
        );
    }

    #[test]
    fn absurd_record_length() {
        let mut f = file(MICRO_LE, false, 101, &[(0, 0, 48, &ipv6_packet())]);
        f[24 + 8..24 + 12].copy_from_slice(&0x7fff_ffffu32.to_le_bytes());
        let e = err(&f);
        assert!(
            e.contains(
                "record 1 at byte offset 24: captured length 2147483647 is larger than 262144"
            ),
            "{e}"
        );
    }

    #[test]
    fn missing_file_names_the_file() {
        let e = PcapSource::open("/nonexistent/dir/in.pcap")
            .unwrap_err()
            .to_string();
        assert!(
            e.starts_with("/nonexistent/dir/in.pcap: cannot open: "),
            "{e}"
        );
    }

    #[test]
    fn sink_writes_ethernet_headers_and_reads_back() {
        let v6 = ipv6_packet();
        let v4 = ipv4_packet();
        let addrs = EthAddrs {
            dst: [2, 0, 0, 0, 0, 1],
            src: [2, 0, 0, 0, 0, 2],
        };
        let mut sink = PcapSink::from_writer(
            "out.pcap",
            Vec::new(),
            LinkType::Ethernet,
            TsResolution::NanoSecond,
            Endianness::Big,
        )
        .unwrap();
        let ts = Duration::new(1_700_000_000, 987_654_321);
        sink.write(ts, Some(addrs), Some(100), &v4).unwrap();
        sink.write(ts, Some(addrs.swapped()), None, &v6).unwrap();
        assert_eq!(sink.count(), 2);
        let bytes = sink.finish().unwrap();
        assert_eq!(&bytes[..4], &NANO_BE);
        let (link, pkts) = read_all(&bytes).unwrap();
        assert_eq!(link, LinkType::Ethernet);
        assert_eq!(pkts[0].1, ts);
        assert_eq!(pkts[0].2.vlan, Some(100));
        assert_eq!(pkts[0].3, Link::Ethernet(addrs));
        assert_eq!(pkts[0].4, v4);
        assert_eq!(pkts[1].2.vlan, None);
        assert_eq!(pkts[1].3, Link::Ethernet(addrs.swapped()));
        assert_eq!(pkts[1].4, v6);
        // Ethertypes as written.
        assert_eq!(
            &bytes[24 + 16 + 12..24 + 16 + 18],
            &[0x81, 0x00, 0x00, 100, 0x08, 0x00]
        );
    }

    #[test]
    fn sink_raw_microseconds_little_endian() {
        let v6 = ipv6_packet();
        let mut sink = PcapSink::from_writer(
            "out.pcap",
            Vec::new(),
            LinkType::Raw,
            TsResolution::MicroSecond,
            Endianness::Little,
        )
        .unwrap();
        sink.write(
            Duration::new(5, 123_456_789),
            Some(EthAddrs::default()),
            Some(9),
            &v6,
        )
        .unwrap();
        let bytes = sink.finish().unwrap();
        assert_eq!(&bytes[..4], &MICRO_LE);
        assert_eq!(&bytes[20..24], &101u32.to_le_bytes());
        assert_eq!(&bytes[24 + 4..24 + 8], &123_456u32.to_le_bytes());
        assert_eq!(bytes.len(), 24 + 16 + v6.len());
        let (_, pkts) = read_all(&bytes).unwrap();
        assert_eq!(pkts[0].1, Duration::new(5, 123_456_000));
        assert_eq!(pkts[0].4, v6);
    }

    #[test]
    fn sink_refuses_oversized_packets_naming_the_file() {
        let mut sink = PcapSink::from_writer(
            "o.pcap",
            Vec::new(),
            LinkType::Raw,
            TsResolution::MicroSecond,
            Endianness::Little,
        )
        .unwrap();
        let big = vec![0x60; MAX_RECORD_LEN as usize + 1];
        let e = sink
            .write(Duration::ZERO, None, None, &big)
            .unwrap_err()
            .to_string();
        assert_eq!(
            e,
            "o.pcap: cannot write packet 1: 262145 bytes is larger than 262144"
        );
    }
}
