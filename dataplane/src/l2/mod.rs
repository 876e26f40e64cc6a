//! Layer 2 for the live path: which MAC a translated packet goes to, and facts about the box's interfaces.
//!
//! The destination MAC comes from the kernel's tables, the way the kernel itself would forward: the route to
//! the packet's destination gives the next hop and the interface, the neighbour table the next hop's MAC
//! (both through [`netlink`]). Answers are cached per (destination, interface). The first packet to a
//! destination asks the kernel right away (two netlink round trips); after that, entries are refreshed
//! every [`HIT_TTL`] by a helper thread while the worker keeps using the answer it has, so the packet path
//! makes no system calls for known destinations. A destination whose next hop is not resolved makes the
//! kernel resolve it (a zero-length UDP datagram to the next hop's discard port makes it send ARP or ND), and
//! its packets are counted drops until it is, re-asked every [`MISS_TTL`]. A static next-hop MAC per
//! interface bypasses all of it.

pub mod netlink;

use std::collections::HashMap;
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV6, UdpSocket};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use netlink::{Neighbour, Netlink};

/// How long a resolved destination is used before it is looked up again (in the background).
pub const HIT_TTL: Duration = Duration::from_secs(2);
/// How long an unresolved destination waits before the tables are asked again.
pub const MISS_TTL: Duration = Duration::from_millis(50);

/// Why no MAC could be found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum L2Error {
    /// No route to the destination.
    NoRoute,
    /// The route leaves through another interface than the translated side's.
    WrongInterface,
    /// The next hop's MAC is not known (yet): resolution was triggered.
    Unresolved,
}

type Key = (IpAddr, u32);
type Answer = Result<[u8; 6], L2Error>;

fn ttl(a: &Answer) -> Duration {
    if a.is_ok() {
        HIT_TTL
    } else {
        MISS_TTL
    }
}

#[derive(Debug, Clone, Copy)]
struct Entry {
    result: Answer,
    refresh_at: Instant,
    /// A refresh was requested and has not been answered yet.
    asked: bool,
}

/// Route and neighbour lookups through netlink, and resolution probes.
struct Lookup {
    nl: Netlink,
    probe4: Option<UdpSocket>,
    probe6: Option<UdpSocket>,
    probes: Arc<AtomicU64>,
}

impl Lookup {
    fn new(probes: Arc<AtomicU64>) -> io::Result<Lookup> {
        Ok(Lookup {
            nl: Netlink::open()?,
            probe4: UdpSocket::bind((Ipv4Addr::UNSPECIFIED, 0)).ok(),
            probe6: UdpSocket::bind((Ipv6Addr::UNSPECIFIED, 0)).ok(),
            probes,
        })
    }

    fn lookup(&mut self, (dst, ifindex): Key) -> Answer {
        let route = match self.nl.route_get(dst) {
            Ok(Some(r)) => r,
            _ => return Err(L2Error::NoRoute),
        };
        if route.oif != ifindex && !is_upper_of(route.oif, ifindex) {
            return Err(L2Error::WrongInterface);
        }
        match self.nl.neigh_get(route.next_hop, route.oif) {
            Ok(Neighbour::Mac(m)) => Ok(m),
            _ => {
                self.probe(route.next_hop, route.oif);
                Err(L2Error::Unresolved)
            }
        }
    }

    /// Makes the kernel resolve `next_hop`: a zero-length datagram to its discard port.
    fn probe(&mut self, next_hop: IpAddr, oif: u32) {
        // Relaxed: a statistic.
        self.probes.fetch_add(1, Ordering::Relaxed);
        let _ = match next_hop {
            IpAddr::V4(a) => self
                .probe4
                .as_ref()
                .map(|s| s.send_to(&[], SocketAddr::from((a, 9)))),
            IpAddr::V6(a) => {
                let scope = if a.segments()[0] & 0xffc0 == 0xfe80 {
                    oif
                } else {
                    0
                };
                self.probe6
                    .as_ref()
                    .map(|s| s.send_to(&[], SocketAddrV6::new(a, 9, 0, scope)))
            }
        };
    }
}

/// A worker's (destination, interface) → MAC cache over the kernel's route and neighbour tables, with a
/// helper thread that refreshes it.
pub struct Resolver {
    sync: Lookup,
    cache: HashMap<Key, Entry>,
    requests: Option<mpsc::Sender<Key>>,
    answers: mpsc::Receiver<(Key, Answer)>,
    probes: Arc<AtomicU64>,
}

impl Resolver {
    pub fn new() -> io::Result<Resolver> {
        let probes = Arc::new(AtomicU64::new(0));
        let sync = Lookup::new(probes.clone())?;
        let mut helper = Lookup::new(probes.clone())?;
        let (req_tx, req_rx) = mpsc::channel::<Key>();
        let (ans_tx, ans_rx) = mpsc::channel();
        std::thread::Builder::new()
            .name("xlat64-l2".into())
            .spawn(move || {
                // Ends when the resolver (the requests' sender) is dropped.
                for key in req_rx {
                    let a = helper.lookup(key);
                    if ans_tx.send((key, a)).is_err() {
                        break;
                    }
                }
            })?;
        Ok(Resolver {
            sync,
            cache: HashMap::new(),
            requests: Some(req_tx),
            answers: ans_rx,
            probes,
        })
    }

    /// Resolutions triggered so far (ARP/ND probes).
    pub fn probes(&self) -> u64 {
        self.probes.load(Ordering::Relaxed)
    }

    /// Takes in the helper's answers (once per batch).
    pub fn absorb(&mut self, now: Instant) {
        while let Ok((key, result)) = self.answers.try_recv() {
            self.cache.insert(
                key,
                Entry {
                    result,
                    refresh_at: now + ttl(&result),
                    asked: false,
                },
            );
        }
    }

    /// The MAC to send a packet for `dst` to, out of interface `ifindex`.
    pub fn resolve(&mut self, dst: IpAddr, ifindex: u32, now: Instant) -> Answer {
        let key = (dst, ifindex);
        if let Some(e) = self.cache.get_mut(&key) {
            if now >= e.refresh_at && !e.asked {
                // Background refresh; meanwhile the current answer stands.
                match self.requests.as_ref().map(|r| r.send(key)) {
                    Some(Ok(())) => e.asked = true,
                    _ => {
                        // No helper any more: ask synchronously.
                        let result = self.sync.lookup(key);
                        *e = Entry {
                            result,
                            refresh_at: now + ttl(&result),
                            asked: false,
                        };
                    }
                }
            }
            return e.result;
        }
        let result = self.sync.lookup(key);
        if self.cache.len() >= 65536 {
            // Forget destinations not refreshed for a minute.
            self.cache
                .retain(|_, e| e.refresh_at + Duration::from_secs(60) > now);
        }
        self.cache.insert(
            key,
            Entry {
                result,
                refresh_at: now + ttl(&result),
                asked: false,
            },
        );
        result
    }
}

impl Drop for Resolver {
    fn drop(&mut self) {
        // Closing the request channel ends the helper thread.
        self.requests = None;
    }
}

/// Name of interface `ifindex`.
pub fn ifname(ifindex: u32) -> Option<String> {
    let mut buf = [0 as libc::c_char; libc::IF_NAMESIZE];
    // SAFETY: buf has IF_NAMESIZE bytes, as if_indextoname requires.
    let p = unsafe { libc::if_indextoname(ifindex, buf.as_mut_ptr()) };
    if p.is_null() {
        return None;
    }
    // SAFETY: if_indextoname wrote a NUL-terminated name into buf.
    let c = unsafe { std::ffi::CStr::from_ptr(buf.as_ptr()) };
    Some(c.to_string_lossy().into_owned())
}

/// True if interface `upper` sits on `lower` (a VLAN interface on its parent: sysfs `lower_<name>`), so
/// that a route through `upper` leaves through `lower` (tagged).
pub fn is_upper_of(upper: u32, lower: u32) -> bool {
    match (ifname(upper), ifname(lower)) {
        (Some(u), Some(l)) => {
            std::path::Path::new(&format!("/sys/class/net/{u}/lower_{l}")).exists()
        }
        _ => false,
    }
}

/// Interface index of `name`, if it exists.
pub fn ifindex(name: &str) -> Option<u32> {
    let c = std::ffi::CString::new(name).ok()?;
    // SAFETY: NUL-terminated name.
    let i = unsafe { libc::if_nametoindex(c.as_ptr()) };
    (i != 0).then_some(i)
}

/// The MAC address of interface `name` (from sysfs).
pub fn if_mac(name: &str) -> io::Result<[u8; 6]> {
    let s = std::fs::read_to_string(format!("/sys/class/net/{name}/address"))?;
    mgmt_api::config::parse_mac(s.trim()).ok_or_else(|| {
        io::Error::new(
            io::ErrorKind::InvalidData,
            format!("{name} has no Ethernet address ({:?})", s.trim()),
        )
    })
}

/// Number of receive queues of interface `name` (from sysfs).
pub fn rx_queues(name: &str) -> Option<u32> {
    let n = std::fs::read_dir(format!("/sys/class/net/{name}/queues"))
        .ok()?
        .filter_map(Result::ok)
        .filter(|e| e.file_name().to_string_lossy().starts_with("rx-"))
        .count();
    u32::try_from(n).ok()
}

/// IPv4 and IPv6 addresses of the box.
pub type LocalAddresses = (Vec<[u8; 4]>, Vec<[u8; 16]>);

/// The box's own addresses on every interface (and the IPv4 broadcast addresses): traffic to them is the
/// kernel's.
pub fn local_addresses() -> io::Result<LocalAddresses> {
    let mut v4 = Vec::new();
    let mut v6 = Vec::new();
    let mut ifa: *mut libc::ifaddrs = std::ptr::null_mut();
    // SAFETY: getifaddrs allocates a list we walk read-only and free once.
    unsafe {
        if libc::getifaddrs(&mut ifa) != 0 {
            return Err(io::Error::last_os_error());
        }
        let mut p = ifa;
        while !p.is_null() {
            let a = &*p;
            for sa in [a.ifa_addr, a.ifa_ifu] {
                if sa.is_null() {
                    continue;
                }
                if sa == a.ifa_ifu && a.ifa_flags & libc::IFF_BROADCAST as u32 == 0 {
                    continue; // ifa_ifu is the peer address then, not ours
                }
                match i32::from((*sa).sa_family) {
                    libc::AF_INET => {
                        let sin = &*(sa as *const libc::sockaddr_in);
                        v4.push(sin.sin_addr.s_addr.to_ne_bytes());
                    }
                    libc::AF_INET6 if sa == a.ifa_addr => {
                        let sin6 = &*(sa as *const libc::sockaddr_in6);
                        v6.push(sin6.sin6_addr.s6_addr);
                    }
                    _ => {}
                }
            }
            p = a.ifa_next;
        }
        libc::freeifaddrs(ifa);
    }
    v4.sort_unstable();
    v4.dedup();
    v6.sort_unstable();
    v6.dedup();
    Ok((v4, v6))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_is_local() {
        let (v4, _) = local_addresses().unwrap();
        assert!(v4.contains(&[127, 0, 0, 1]), "{v4:?}");
        assert_eq!(ifindex("lo"), Some(1));
        assert_eq!(ifname(1).as_deref(), Some("lo"));
        assert!(!is_upper_of(1, 1));
        assert_eq!(ifindex("no-such-if-xyz"), None);
    }
}
