//! AF_XDP sockets: one UMEM per worker, shared by that worker's sockets (one per interface, on the worker's
//! queue), so a frame received on the IPv6 interface leaves on the IPv4 one without a copy.
//!
//! Built directly on libxdp (`libxdp-sys`, the same vendored libxdp/libbpf that xsk-rs 0.11 wraps). xsk-rs's
//! `FrameDesc` keeps its address private and always transmits from the fixed start of a frame's data segment;
//! the translator moves the packet's start by ±20 bytes (more for ICMP errors) and the link-layer header goes
//! in front of it, so the TX descriptor must point anywhere inside the chunk. Hence these thin ring wrappers.
//!
//! Frames are 2048-byte chunks ([`crate::frame::FRAME_SIZE`]); the kernel writes a received packet
//! `XDP_PACKET_HEADROOM` (256) bytes into its chunk, which leaves the translator more than
//! [`crate::frame::HEADROOM`] bytes in front of the network-layer packet.
//!
//! Ring discipline: descriptors are copied out of the RX and completion rings and released at once (the frames
//! are then the worker's until it puts them on a fill or TX ring); the fill rings are topped up from the
//! worker's free list after every batch; TX is submitted once per batch and kicked with `sendto()` when the
//! kernel asks for it (`need_wakeup`; copy mode always does).

use std::ffi::CString;
use std::io;
use std::os::raw::c_void;
use std::ptr;

use libxdp_sys as sys;

use crate::frame::FRAME_SIZE;

/// Bytes the kernel leaves in front of a received packet inside its chunk.
pub const XDP_HEADROOM: usize = sys::XDP_PACKET_HEADROOM as usize;

/// The chunk an address (as found on the RX or completion ring) lies in.
#[inline]
pub fn chunk_of(addr: u64) -> u64 {
    addr & !(FRAME_SIZE as u64 - 1)
}

/// One received frame: its address in the UMEM (chunk + offset of the packet) and length.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RxDesc {
    pub addr: u64,
    pub len: u32,
}

/// The rings of one socket. Boxed: libxdp keeps pointers to them for the socket's life.
struct Rings {
    rx: Box<sys::xsk_ring_cons>,
    tx: Box<sys::xsk_ring_prod>,
    fill: Box<sys::xsk_ring_prod>,
    comp: Box<sys::xsk_ring_cons>,
}

fn zeroed_prod() -> Box<sys::xsk_ring_prod> {
    // SAFETY: a plain C struct of integers and pointers; all-zero is its "not set up" state in libxdp.
    Box::new(unsafe { std::mem::zeroed() })
}

fn zeroed_cons() -> Box<sys::xsk_ring_cons> {
    // SAFETY: as above.
    Box::new(unsafe { std::mem::zeroed() })
}

/// One AF_XDP socket bound to (interface, queue).
pub struct XskSocket {
    xsk: *mut sys::xsk_socket,
    rings: Rings,
    fd: i32,
    pub ifname: String,
    pub queue: u32,
    /// TX descriptors produced since the last submit.
    tx_pending: u32,
    /// TX frames submitted and not yet completed.
    pub tx_outstanding: u32,
}

/// Sizes of a worker's rings and UMEM.
#[derive(Debug, Clone, Copy)]
pub struct XskSizes {
    /// RX, TX, fill and completion ring size (a power of two).
    pub ring: u32,
}

impl Default for XskSizes {
    fn default() -> Self {
        XskSizes { ring: 2048 }
    }
}

/// A worker's UMEM and its sockets (one per interface, all on the same queue ID).
pub struct XskPort {
    umem: *mut sys::xsk_umem,
    area: *mut u8,
    area_len: usize,
    sockets: Vec<XskSocket>,
    /// Chunks owned by the worker and not on any ring.
    free: Vec<u64>,
    ring: u32,
    /// `poll(2)` array: one entry per socket plus room for the caller's extra fd, kept so that waiting for
    /// frames allocates nothing.
    pollfds: Vec<libc::pollfd>,
}

// SAFETY: the raw pointers are owned exclusively by this value (libxdp objects and the mmap'd area); the port
// is built on one thread and then used by exactly one worker thread.
unsafe impl Send for XskPort {}

fn os_err(ret: i32) -> io::Error {
    io::Error::from_raw_os_error(-ret)
}

impl XskPort {
    /// Creates the UMEM and one socket per interface on `queue`, and fills the fill rings.
    pub fn new(ifnames: &[String], queue: u32, sizes: XskSizes) -> io::Result<XskPort> {
        let ring = sizes.ring.next_power_of_two();
        let nsock = ifnames.len().max(1);
        // Every fill ring and TX ring full, plus spares for fragments.
        let frames = nsock * 2 * ring as usize + 1024;
        let area_len = frames * FRAME_SIZE;
        // SAFETY: anonymous private mapping, checked below.
        let area = unsafe {
            libc::mmap(
                ptr::null_mut(),
                area_len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_POPULATE,
                -1,
                0,
            )
        };
        if area == libc::MAP_FAILED {
            return Err(io::Error::last_os_error());
        }
        let mut port = XskPort {
            umem: ptr::null_mut(),
            area: area.cast(),
            area_len,
            sockets: Vec::new(),
            free: (0..frames as u64)
                .rev()
                .map(|i| i * FRAME_SIZE as u64)
                .collect(),
            ring,
            pollfds: Vec::new(),
        };
        let ucfg = sys::xsk_umem_config {
            fill_size: ring,
            comp_size: ring,
            frame_size: FRAME_SIZE as u32,
            frame_headroom: 0,
            flags: 0,
        };
        let mut fill0 = zeroed_prod();
        let mut comp0 = zeroed_cons();
        // SAFETY: area is a live mapping of area_len bytes; the rings are boxed and outlive the UMEM (they
        // move into the first socket, which is deleted before the UMEM).
        let ret = unsafe {
            sys::xsk_umem__create(
                &mut port.umem,
                area,
                area_len as u64,
                &mut *fill0,
                &mut *comp0,
                &ucfg,
            )
        };
        if ret != 0 {
            return Err(os_err(ret));
        }
        let mut first = Some((fill0, comp0));
        for name in ifnames {
            let (fill, comp) = first
                .take()
                .unwrap_or_else(|| (zeroed_prod(), zeroed_cons()));
            let mut rings = Rings {
                rx: zeroed_cons(),
                tx: zeroed_prod(),
                fill,
                comp,
            };
            let mut scfg: sys::xsk_socket_config = unsafe { std::mem::zeroed() };
            scfg.rx_size = ring;
            scfg.tx_size = ring;
            scfg.__bindgen_anon_1.libxdp_flags = sys::XSK_LIBXDP_FLAGS__INHIBIT_PROG_LOAD;
            // No XDP_COPY/XDP_ZEROCOPY: the kernel tries zero-copy and falls back to copy mode (veth).
            scfg.bind_flags = sys::XDP_USE_NEED_WAKEUP as u16;
            let cname = CString::new(name.as_str())
                .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "NUL in name"))?;
            let mut xsk: *mut sys::xsk_socket = ptr::null_mut();
            // SAFETY: all pointers are live boxes or the UMEM created above.
            let ret = unsafe {
                sys::xsk_socket__create_shared(
                    &mut xsk,
                    cname.as_ptr(),
                    queue,
                    port.umem,
                    &mut *rings.rx,
                    &mut *rings.tx,
                    &mut *rings.fill,
                    &mut *rings.comp,
                    &scfg,
                )
            };
            if ret != 0 {
                let e = os_err(ret);
                // libxdp may still point at these rings (the UMEM's first pair): never free them here.
                std::mem::forget(rings);
                return Err(io::Error::new(
                    e.kind(),
                    format!("AF_XDP socket on {name} queue {queue}: {e}"),
                ));
            }
            // SAFETY: xsk was just created.
            let fd = unsafe { sys::xsk_socket__fd(xsk) };
            port.sockets.push(XskSocket {
                xsk,
                rings,
                fd,
                ifname: name.clone(),
                queue,
                tx_pending: 0,
                tx_outstanding: 0,
            });
        }
        for i in 0..port.sockets.len() {
            port.refill(i);
        }
        port.pollfds = Vec::with_capacity(port.sockets.len() + 1);
        Ok(port)
    }

    pub fn sockets(&self) -> &[XskSocket] {
        &self.sockets
    }

    /// The socket's file descriptor (for the XSKMAP and poll()).
    pub fn fd(&self, sock: usize) -> i32 {
        self.sockets[sock].fd
    }

    /// Free chunks the worker holds.
    pub fn free_frames(&self) -> usize {
        self.free.len()
    }

    /// Takes a free chunk (for a packet the worker creates, e.g. a fragment).
    pub fn alloc(&mut self) -> Option<u64> {
        self.free.pop()
    }

    /// Gives a chunk back (a dropped packet).
    pub fn release(&mut self, addr: u64) {
        self.free.push(chunk_of(addr));
    }

    /// Start of the chunk `addr` lies in ([`FRAME_SIZE`] bytes).
    ///
    /// Turning it into a slice is the caller's `unsafe`: the chunk must be one the worker owns (received and
    /// not yet put on a ring, or taken with [`XskPort::alloc`]), and only one slice of it may be alive.
    #[inline]
    pub fn chunk_ptr(&self, addr: u64) -> *mut u8 {
        let base = chunk_of(addr) as usize;
        assert!(base + FRAME_SIZE <= self.area_len, "chunk outside the UMEM");
        // SAFETY: in bounds of the mapping (checked above).
        unsafe { self.area.add(base) }
    }

    /// Copies up to `max` received descriptors of socket `sock` into `out` (tagged with `sock`) and releases
    /// them from the ring.
    pub fn rx(&mut self, sock: usize, max: u32, out: &mut Vec<(usize, RxDesc)>) -> u32 {
        let rx = &mut *self.sockets[sock].rings.rx;
        let mut idx = 0u32;
        // SAFETY: the ring was set up by xsk_socket__create_shared; this thread is its only consumer.
        unsafe {
            let n = sys::xsk_ring_cons__peek(rx, max, &mut idx);
            for k in 0..n {
                let d = &*sys::xsk_ring_cons__rx_desc(rx, idx.wrapping_add(k));
                out.push((
                    sock,
                    RxDesc {
                        addr: d.addr,
                        len: d.len,
                    },
                ));
            }
            // Release: the descriptors were copied; the frames are ours now.
            sys::xsk_ring_cons__release(rx, n);
            n
        }
    }

    /// Queues one frame for transmission on socket `sock` (submitted by [`XskPort::flush_tx`]). Returns false
    /// if the TX ring is full (the caller still owns the frame).
    #[must_use]
    pub fn tx(&mut self, sock: usize, addr: u64, len: u32) -> bool {
        let s = &mut self.sockets[sock];
        let mut idx = 0u32;
        // SAFETY: this thread is the ring's only producer.
        unsafe {
            if sys::xsk_ring_prod__reserve(&mut *s.rings.tx, 1, &mut idx) != 1 {
                return false;
            }
            let d = &mut *sys::xsk_ring_prod__tx_desc(&mut *s.rings.tx, idx);
            d.addr = addr;
            d.len = len;
            d.options = 0;
        }
        // Not submitted yet: flush_tx publishes the whole batch at once.
        s.tx_pending += 1;
        true
    }

    /// Submits the batch's TX descriptors on every socket and kicks the kernel where it asks for it.
    pub fn flush_tx(&mut self) {
        for s in &mut self.sockets {
            if s.tx_pending == 0 {
                continue;
            }
            // SAFETY: reserved above by this thread; submit publishes the producer index (release barrier in
            // libxdp).
            unsafe { sys::xsk_ring_prod__submit(&mut *s.rings.tx, s.tx_pending) };
            s.tx_outstanding += s.tx_pending;
            s.tx_pending = 0;
            kick_tx(s);
        }
    }

    /// True if some socket has TX frames not completed yet.
    pub fn tx_in_flight(&self) -> bool {
        self.sockets.iter().any(|s| s.tx_outstanding > 0)
    }

    /// Kicks TX on sockets with frames still in flight (copy mode sends only when kicked, and at most 32
    /// frames per kick).
    pub fn kick_outstanding(&mut self) {
        for s in &mut self.sockets {
            if s.tx_outstanding > 0 {
                kick_tx(s);
            }
        }
    }

    /// Moves completed TX frames of every socket to the free list. Returns how many.
    pub fn complete(&mut self) -> u32 {
        let mut total = 0;
        for s in &mut self.sockets {
            let comp = &mut *s.rings.comp;
            let mut idx = 0u32;
            // SAFETY: only consumer of the completion ring.
            unsafe {
                let n = sys::xsk_ring_cons__peek(comp, s.tx_outstanding.max(64), &mut idx);
                for k in 0..n {
                    let a = *sys::xsk_ring_cons__comp_addr(comp, idx.wrapping_add(k));
                    self.free.push(chunk_of(a));
                }
                sys::xsk_ring_cons__release(comp, n);
                s.tx_outstanding = s.tx_outstanding.saturating_sub(n);
                total += n;
            }
        }
        total
    }

    /// Tops up socket `sock`'s fill ring from the free list. Returns how many frames it added.
    pub fn refill(&mut self, sock: usize) -> u32 {
        let fill = &mut *self.sockets[sock].rings.fill;
        // SAFETY: only producer of the fill ring.
        unsafe {
            let want = sys::xsk_prod_nb_free(fill, self.ring).min(self.free.len() as u32);
            if want == 0 {
                return 0;
            }
            let mut idx = 0u32;
            let n = sys::xsk_ring_prod__reserve(fill, want, &mut idx);
            for k in 0..n {
                let a = self.free.pop().expect("counted above");
                *sys::xsk_ring_prod__fill_addr(fill, idx.wrapping_add(k)) = a;
            }
            sys::xsk_ring_prod__submit(fill, n);
            n
        }
    }

    /// Tops up every fill ring.
    pub fn refill_all(&mut self) {
        for i in 0..self.sockets.len() {
            self.refill(i);
        }
    }

    /// True if the kernel wants a wake-up to process socket `sock`'s fill ring (busy-poll mode; poll() does it
    /// in interrupt mode).
    pub fn fill_needs_wakeup(&self, sock: usize) -> bool {
        // SAFETY: reads the flags word the kernel shares.
        unsafe { sys::xsk_ring_prod__needs_wakeup(&*self.sockets[sock].rings.fill) != 0 }
    }

    /// Wakes the kernel's RX processing for socket `sock` (non-blocking recvfrom).
    pub fn wake_rx(&self, sock: usize) {
        // SAFETY: plain syscall on our socket with no buffer.
        unsafe {
            libc::recvfrom(
                self.sockets[sock].fd,
                ptr::null_mut(),
                0,
                libc::MSG_DONTWAIT,
                ptr::null_mut(),
                ptr::null_mut(),
            );
        }
    }

    /// Waits up to `timeout_ms` for any socket to have frames to receive, or `extra` (the worker's hand-off
    /// eventfd) to be readable. Returns true if one is.
    pub fn poll(&mut self, timeout_ms: i32, extra: Option<i32>) -> bool {
        let fds = &mut self.pollfds;
        fds.clear(); // within the capacity reserved at creation: no allocation
        fds.extend(
            self.sockets
                .iter()
                .map(|s| s.fd)
                .chain(extra)
                .map(|fd| libc::pollfd {
                    fd,
                    events: libc::POLLIN,
                    revents: 0,
                }),
        );
        // SAFETY: fds is a live array of fds.len() entries.
        let n = unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, timeout_ms) };
        n > 0
    }

    /// Kernel counters of socket `sock` (drops for a full RX ring, an empty fill ring...).
    pub fn xdp_stats(&self, sock: usize) -> Option<XdpStats> {
        let mut st: sys::xdp_statistics = unsafe { std::mem::zeroed() };
        let mut len = std::mem::size_of::<sys::xdp_statistics>() as libc::socklen_t;
        // SAFETY: getsockopt into a correctly sized struct.
        let ret = unsafe {
            libc::getsockopt(
                self.sockets[sock].fd,
                libc::SOL_XDP,
                libc::XDP_STATISTICS,
                (&mut st as *mut sys::xdp_statistics).cast::<c_void>(),
                &mut len,
            )
        };
        (ret == 0).then_some(XdpStats {
            rx_dropped: st.rx_dropped,
            rx_invalid_descs: st.rx_invalid_descs,
            tx_invalid_descs: st.tx_invalid_descs,
            rx_ring_full: st.rx_ring_full,
            rx_fill_ring_empty_descs: st.rx_fill_ring_empty_descs,
            tx_ring_empty_descs: st.tx_ring_empty_descs,
        })
    }
}

/// The kernel's per-socket AF_XDP counters (`XDP_STATISTICS`).
#[derive(Debug, Clone, Copy, Default)]
pub struct XdpStats {
    pub rx_dropped: u64,
    pub rx_invalid_descs: u64,
    pub tx_invalid_descs: u64,
    pub rx_ring_full: u64,
    pub rx_fill_ring_empty_descs: u64,
    pub tx_ring_empty_descs: u64,
}

fn kick_tx(s: &mut XskSocket) {
    // Copy mode transmits at most 32 frames per kick, synchronously: kick again while that makes progress
    // (the ring's free count grows). A zero-copy driver sends asynchronously: the first kick shows no
    // progress and the loop stops there.
    let size = s.rings.tx.size;
    for _ in 0..64 {
        // SAFETY: reads the shared flags word.
        let needs = unsafe { sys::xsk_ring_prod__needs_wakeup(&*s.rings.tx) != 0 };
        if !needs {
            return;
        }
        // SAFETY: this thread is the ring's only producer; nb_free refreshes the cached consumer index.
        let before = unsafe { sys::xsk_prod_nb_free(&mut *s.rings.tx, size) };
        if before >= size {
            return; // everything submitted was consumed
        }
        // SAFETY: zero-length sendto on our own socket: the AF_XDP TX kick. EAGAIN/EBUSY/ENOBUFS mean "busy,
        // try again on the next kick" and are not errors.
        unsafe {
            libc::sendto(s.fd, ptr::null(), 0, libc::MSG_DONTWAIT, ptr::null(), 0);
        }
        // SAFETY: as above.
        let after = unsafe { sys::xsk_prod_nb_free(&mut *s.rings.tx, size) };
        if after <= before {
            return;
        }
    }
}

impl Drop for XskPort {
    fn drop(&mut self) {
        for s in self.sockets.drain(..) {
            // SAFETY: created by xsk_socket__create_shared, deleted once; its rings (boxed in s) are dropped
            // after the call.
            unsafe { sys::xsk_socket__delete(s.xsk) };
            drop(s.rings);
        }
        if !self.umem.is_null() {
            // SAFETY: every socket using the UMEM is gone.
            unsafe { sys::xsk_umem__delete(self.umem) };
        }
        // SAFETY: the mapping made in new(); nothing refers to it any more.
        unsafe { libc::munmap(self.area.cast(), self.area_len) };
    }
}

/// Calls `open` until it succeeds, fails with anything but EBUSY, or `patience` has passed.
///
/// The kernel releases the AF_XDP sockets of a process that has just exited asynchronously, so a restart right
/// after it (systemd's `Restart=`, an operator's restart, the live demo's second run) can find the queue still
/// bound for a moment. A failed [`XskPort::new`] leaves nothing behind (the port is dropped whole), so it is
/// simply tried again every 100 ms.
pub fn retry_while_busy<T>(
    patience: std::time::Duration,
    mut open: impl FnMut() -> io::Result<T>,
) -> io::Result<T> {
    let deadline = std::time::Instant::now() + patience;
    loop {
        match open() {
            Err(e)
                if e.kind() == io::ErrorKind::ResourceBusy
                    && std::time::Instant::now() < deadline =>
            {
                std::thread::sleep(std::time::Duration::from_millis(100));
            }
            result => return result,
        }
    }
}

#[cfg(test)]
mod retry_tests {
    use super::retry_while_busy;
    use std::io;
    use std::time::{Duration, Instant};

    fn busy() -> io::Error {
        io::Error::from_raw_os_error(libc::EBUSY)
    }

    #[test]
    fn busy_is_retried_until_it_clears() {
        let mut calls = 0;
        let r = retry_while_busy(Duration::from_secs(5), || {
            calls += 1;
            if calls < 3 {
                Err(busy())
            } else {
                Ok(calls)
            }
        });
        assert_eq!(r.unwrap(), 3);
    }

    #[test]
    fn other_errors_are_not_retried() {
        let mut calls = 0;
        let r: io::Result<()> = retry_while_busy(Duration::from_secs(5), || {
            calls += 1;
            Err(io::Error::from_raw_os_error(libc::ENODEV))
        });
        assert_eq!(r.unwrap_err().raw_os_error(), Some(libc::ENODEV));
        assert_eq!(calls, 1);
    }

    #[test]
    fn busy_for_longer_than_the_patience_is_reported() {
        let start = Instant::now();
        let r: io::Result<()> = retry_while_busy(Duration::from_millis(300), || Err(busy()));
        assert_eq!(r.unwrap_err().raw_os_error(), Some(libc::EBUSY));
        assert!(start.elapsed() >= Duration::from_millis(300));
    }
}
