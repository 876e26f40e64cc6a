//! A frame: `headroom | packet | tailroom` inside one buffer (a UMEM chunk on the live path).
//!
//! The translator rewrites the network-layer packet in place. IPv4→IPv6 grows the header into the headroom,
//! IPv6→IPv4 shrinks it; the payload never moves. The link-layer header is not part of the frame's packet: the
//! I/O layer strips it on receive and writes the egress one in front of the packet on transmit.

/// Headroom every frame source must leave in front of the packet: the IPv4→IPv6 growth (20 bytes, 28 with a
/// fragment header) plus room for an ICMP error the translator builds around the packet (IPv6 + ICMPv6 = 48
/// bytes) plus a link-layer header with a VLAN tag (18 bytes), rounded up.
pub const HEADROOM: usize = 128;

/// Default size of one frame buffer (a UMEM chunk): headroom plus a 1500-byte packet plus tailroom.
pub const FRAME_SIZE: usize = 2048;

/// Where a frame came in. The IPv4 side's tenant classification uses it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RxMeta {
    /// Index of the ingress interface in the appliance's interface list (0 offline unless told otherwise).
    pub ingress: u16,
    /// 802.1Q VLAN ID the frame carried, if any.
    pub vlan: Option<u16>,
}

/// A packet inside a buffer with room in front of it.
///
/// Invariant: `start <= end <= buf.len()`. Every constructor and setter keeps it (the fields are private),
/// which is what lets the accessors slice without bounds checks: the packet path calls them several times
/// per packet.
#[derive(Debug)]
pub struct Frame<'a> {
    buf: &'a mut [u8],
    start: usize,
    end: usize,
    pub meta: RxMeta,
}

impl<'a> Frame<'a> {
    /// A frame whose packet occupies `buf[start..end]`.
    ///
    /// # Panics
    /// If `start > end` or `end > buf.len()`: that is a bug in the frame source, never packet content.
    pub fn new(buf: &'a mut [u8], start: usize, end: usize) -> Self {
        assert!(
            start <= end && end <= buf.len(),
            "frame bounds outside its buffer"
        );
        Frame {
            buf,
            start,
            end,
            meta: RxMeta::default(),
        }
    }

    /// Copies `packet` into `buf` behind [`HEADROOM`] bytes (test, offline and slow-path helper).
    ///
    /// Returns `None` if the buffer is too small.
    pub fn copy_from(buf: &'a mut [u8], packet: &[u8]) -> Option<Self> {
        let end = HEADROOM.checked_add(packet.len())?;
        buf.get_mut(HEADROOM..end)?.copy_from_slice(packet);
        Some(Frame::new(buf, HEADROOM, end))
    }

    /// The network-layer packet.
    #[inline]
    pub fn packet(&self) -> &[u8] {
        debug_assert!(self.start <= self.end && self.end <= self.buf.len());
        // SAFETY: the type's invariant, `start <= end <= buf.len()`.
        unsafe { self.buf.get_unchecked(self.start..self.end) }
    }

    /// The network-layer packet, writable.
    #[inline]
    pub fn packet_mut(&mut self) -> &mut [u8] {
        debug_assert!(self.start <= self.end && self.end <= self.buf.len());
        // SAFETY: the type's invariant, `start <= end <= buf.len()`.
        unsafe { self.buf.get_unchecked_mut(self.start..self.end) }
    }

    /// The packet with the `n` bytes in front of it (where a longer header will start), writable; `None`
    /// if the headroom is shorter. One check instead of a checked slice of the buffer.
    #[inline]
    pub fn with_front_mut(&mut self, n: usize) -> Option<&mut [u8]> {
        let from = self.start.checked_sub(n)?;
        // SAFETY: `from <= start <= end <= buf.len()` (the type's invariant).
        Some(unsafe { self.buf.get_unchecked_mut(from..self.end) })
    }

    /// Narrows the packet to `from..to`, offsets relative to the packet's current start (`from` may be
    /// negative, reaching into the headroom). For fast paths that have just checked the new bounds against
    /// a slice they took from this frame; a release build does not check again.
    ///
    /// # Safety
    /// `start + from >= 0` and `from <= to <= buf.len() - start`: the new bounds lie in the buffer, in order.
    #[inline]
    pub unsafe fn set_bounds_unchecked(&mut self, from: isize, to: usize) {
        let start = self.start.wrapping_add_signed(from);
        let end = self.start + to;
        debug_assert!(start <= end && end <= self.buf.len());
        self.start = start;
        self.end = end;
    }

    #[inline]
    pub fn len(&self) -> usize {
        self.end - self.start
    }

    #[inline]
    pub fn is_empty(&self) -> bool {
        self.end == self.start
    }

    /// Bytes free in front of the packet.
    #[inline]
    pub fn headroom(&self) -> usize {
        self.start
    }

    /// Bytes free behind the packet.
    #[inline]
    pub fn tailroom(&self) -> usize {
        self.buf.len() - self.end
    }

    /// Offset of the packet inside the buffer.
    #[inline]
    pub fn start(&self) -> usize {
        self.start
    }

    /// Moves the packet's start by `delta` bytes: negative grows the packet into the headroom, positive drops
    /// bytes from its front. Returns false (and changes nothing) if that leaves the buffer or the packet.
    #[inline]
    #[must_use]
    pub fn move_start(&mut self, delta: isize) -> bool {
        match self.start.checked_add_signed(delta) {
            Some(s) if s <= self.end => {
                self.start = s;
                true
            }
            _ => false,
        }
    }

    /// Sets the packet length, keeping its start. Returns false if that leaves the buffer.
    #[inline]
    #[must_use]
    pub fn set_len(&mut self, len: usize) -> bool {
        match self.start.checked_add(len) {
            Some(e) if e <= self.buf.len() => {
                self.end = e;
                true
            }
            _ => false,
        }
    }

    /// The whole buffer, for code that writes in front of the packet (link-layer headers, ICMP errors built
    /// around the packet). Offsets are buffer offsets; see [`Frame::start`].
    #[inline]
    pub fn buffer_mut(&mut self) -> &mut [u8] {
        self.buf
    }

    /// The whole buffer.
    #[inline]
    pub fn buffer(&self) -> &[u8] {
        self.buf
    }

    /// Sets both bounds of the packet (buffer offsets). Returns false if they are out of order or outside.
    #[inline]
    #[must_use]
    pub fn set_bounds(&mut self, start: usize, end: usize) -> bool {
        if start <= end && end <= self.buf.len() {
            self.start = start;
            self.end = end;
            true
        } else {
            false
        }
    }
}
