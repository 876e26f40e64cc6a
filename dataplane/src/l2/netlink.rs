//! A minimal NETLINK_ROUTE client: "ip route get" and "ip neigh get" for one address, nothing more.

use std::io;
use std::net::IpAddr;

const NLMSG_HDRLEN: usize = 16;
const NLMSG_ERROR: u16 = 2;
const NLMSG_DONE: u16 = 3;
const RTM_NEWROUTE: u16 = 24;
const RTM_GETROUTE: u16 = 26;
const RTM_NEWNEIGH: u16 = 28;
const RTM_GETNEIGH: u16 = 30;
const NLM_F_REQUEST: u16 = 1;
const RTA_DST: u16 = 1;
const RTA_OIF: u16 = 4;
const RTA_GATEWAY: u16 = 5;
const NDA_DST: u16 = 1;
const NDA_LLADDR: u16 = 2;
const NETLINK_GET_STRICT_CHK: i32 = 12;

/// Neighbour states whose link-layer address can be used (NUD_REACHABLE | STALE | DELAY | PROBE | NOARP |
/// PERMANENT).
const NUD_VALID: u16 = 0x02 | 0x04 | 0x08 | 0x10 | 0x40 | 0x80;

/// Where a destination is reached: the next hop (the destination itself when on-link) and the interface.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Route {
    pub next_hop: IpAddr,
    pub oif: u32,
}

/// A neighbour table answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Neighbour {
    /// Usable link-layer address.
    Mac([u8; 6]),
    /// Known to the kernel but not resolved (INCOMPLETE, FAILED...), or absent.
    Unresolved,
}

/// A NETLINK_ROUTE socket for synchronous queries.
pub struct Netlink {
    fd: i32,
    seq: u32,
    buf: Vec<u8>,
}

impl Netlink {
    pub fn open() -> io::Result<Netlink> {
        // SAFETY: plain socket(2).
        let fd = unsafe {
            libc::socket(
                libc::AF_NETLINK,
                libc::SOCK_RAW | libc::SOCK_CLOEXEC,
                libc::NETLINK_ROUTE,
            )
        };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        let one: i32 = 1;
        // SAFETY: setsockopt with an int; strict checking is best effort (older kernels lack it).
        unsafe {
            libc::setsockopt(
                fd,
                libc::SOL_NETLINK,
                NETLINK_GET_STRICT_CHK,
                (&one as *const i32).cast(),
                4,
            );
            // Replies to a query that is never read must not block a later one: a 1 s receive timeout.
            let tv = libc::timeval {
                tv_sec: 1,
                tv_usec: 0,
            };
            libc::setsockopt(
                fd,
                libc::SOL_SOCKET,
                libc::SO_RCVTIMEO,
                (&tv as *const libc::timeval).cast(),
                std::mem::size_of::<libc::timeval>() as u32,
            );
        }
        Ok(Netlink {
            fd,
            seq: 1,
            buf: vec![0; 16384],
        })
    }

    /// Sends one request and returns the payload of the first answer of type `want` (without the netlink
    /// header), `Ok(None)` for an error answer (e.g. ENOENT, ENETUNREACH).
    fn request(&mut self, msg_type: u16, body: &[u8], want: u16) -> io::Result<Option<Vec<u8>>> {
        self.seq = self.seq.wrapping_add(1);
        let seq = self.seq;
        let len = NLMSG_HDRLEN + body.len();
        let mut req = Vec::with_capacity(len);
        req.extend_from_slice(&(len as u32).to_ne_bytes());
        req.extend_from_slice(&msg_type.to_ne_bytes());
        req.extend_from_slice(&NLM_F_REQUEST.to_ne_bytes());
        req.extend_from_slice(&seq.to_ne_bytes());
        req.extend_from_slice(&0u32.to_ne_bytes());
        req.extend_from_slice(body);
        // SAFETY: sending our buffer to the kernel (sockaddr_nl zeroed = kernel).
        let sent = unsafe {
            let mut sa: libc::sockaddr_nl = std::mem::zeroed();
            sa.nl_family = libc::AF_NETLINK as u16;
            libc::sendto(
                self.fd,
                req.as_ptr().cast(),
                req.len(),
                0,
                (&sa as *const libc::sockaddr_nl).cast(),
                std::mem::size_of::<libc::sockaddr_nl>() as u32,
            )
        };
        if sent < 0 {
            return Err(io::Error::last_os_error());
        }
        loop {
            // SAFETY: receiving into our buffer.
            let n = unsafe { libc::recv(self.fd, self.buf.as_mut_ptr().cast(), self.buf.len(), 0) };
            if n < 0 {
                return Err(io::Error::last_os_error());
            }
            let data = &self.buf[..n as usize];
            let mut off = 0;
            while off + NLMSG_HDRLEN <= data.len() {
                let mlen = u32::from_ne_bytes(data[off..off + 4].try_into().expect("4")) as usize;
                let mtype = u16::from_ne_bytes(data[off + 4..off + 6].try_into().expect("2"));
                let mseq = u32::from_ne_bytes(data[off + 8..off + 12].try_into().expect("4"));
                if mlen < NLMSG_HDRLEN || off + mlen > data.len() {
                    break;
                }
                let payload = &data[off + NLMSG_HDRLEN..off + mlen];
                if mseq == seq {
                    if mtype == NLMSG_ERROR || mtype == NLMSG_DONE {
                        return Ok(None);
                    }
                    if mtype == want {
                        return Ok(Some(payload.to_vec()));
                    }
                }
                off += (mlen + 3) & !3;
            }
        }
    }

    /// "ip route get DST".
    pub fn route_get(&mut self, dst: IpAddr) -> io::Result<Option<Route>> {
        let (family, addr): (u8, Vec<u8>) = match dst {
            IpAddr::V4(a) => (libc::AF_INET as u8, a.octets().to_vec()),
            IpAddr::V6(a) => (libc::AF_INET6 as u8, a.octets().to_vec()),
        };
        // struct rtmsg: family, dst_len, src_len, tos, table, protocol, scope, type, flags(u32)
        let mut body = vec![family, (addr.len() * 8) as u8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0];
        push_attr(&mut body, RTA_DST, &addr);
        let Some(p) = self.request(RTM_GETROUTE, &body, RTM_NEWROUTE)? else {
            return Ok(None);
        };
        let mut gateway = None;
        let mut oif = 0;
        for (t, v) in attrs(p.get(12..).unwrap_or(&[])) {
            match t {
                RTA_GATEWAY => gateway = ip_from(v),
                RTA_OIF if v.len() >= 4 => oif = u32::from_ne_bytes(v[..4].try_into().expect("4")),
                _ => {}
            }
        }
        Ok(Some(Route {
            next_hop: gateway.unwrap_or(dst),
            oif,
        }))
    }

    /// "ip neigh get ADDR dev IFINDEX".
    pub fn neigh_get(&mut self, addr: IpAddr, ifindex: u32) -> io::Result<Neighbour> {
        let (family, a): (u8, Vec<u8>) = match addr {
            IpAddr::V4(a) => (libc::AF_INET as u8, a.octets().to_vec()),
            IpAddr::V6(a) => (libc::AF_INET6 as u8, a.octets().to_vec()),
        };
        // struct ndmsg: family, pad1, pad2(u16), ifindex(i32), state(u16), flags(u8), type(u8)
        let mut body = vec![family, 0, 0, 0];
        body.extend_from_slice(&(ifindex as i32).to_ne_bytes());
        body.extend_from_slice(&[0, 0, 0, 0]);
        push_attr(&mut body, NDA_DST, &a);
        let Some(p) = self.request(RTM_GETNEIGH, &body, RTM_NEWNEIGH)? else {
            return Ok(Neighbour::Unresolved);
        };
        if p.len() < 12 {
            return Ok(Neighbour::Unresolved);
        }
        let state = u16::from_ne_bytes(p[8..10].try_into().expect("2"));
        if state & NUD_VALID == 0 {
            return Ok(Neighbour::Unresolved);
        }
        for (t, v) in attrs(&p[12..]) {
            if t == NDA_LLADDR && v.len() == 6 {
                return Ok(Neighbour::Mac(v.try_into().expect("6")));
            }
        }
        Ok(Neighbour::Unresolved)
    }
}

impl Drop for Netlink {
    fn drop(&mut self) {
        // SAFETY: our fd.
        unsafe { libc::close(self.fd) };
    }
}

fn push_attr(buf: &mut Vec<u8>, t: u16, v: &[u8]) {
    let len = 4 + v.len();
    buf.extend_from_slice(&(len as u16).to_ne_bytes());
    buf.extend_from_slice(&t.to_ne_bytes());
    buf.extend_from_slice(v);
    while !buf.len().is_multiple_of(4) {
        buf.push(0);
    }
}

/// The (type, value) attributes of a netlink message body.
fn attrs(mut b: &[u8]) -> impl Iterator<Item = (u16, &[u8])> {
    std::iter::from_fn(move || {
        if b.len() < 4 {
            return None;
        }
        let len = u16::from_ne_bytes([b[0], b[1]]) as usize;
        let t = u16::from_ne_bytes([b[2], b[3]]) & 0x3fff;
        if len < 4 || len > b.len() {
            return None;
        }
        let v = &b[4..len];
        b = &b[((len + 3) & !3).min(b.len())..];
        Some((t, v))
    })
}

fn ip_from(v: &[u8]) -> Option<IpAddr> {
    match v.len() {
        4 => Some(IpAddr::from(<[u8; 4]>::try_from(v).ok()?)),
        16 => Some(IpAddr::from(<[u8; 16]>::try_from(v).ok()?)),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attributes_round_trip() {
        let mut b = Vec::new();
        push_attr(&mut b, RTA_DST, &[192, 0, 2, 1]);
        push_attr(&mut b, RTA_OIF, &7u32.to_ne_bytes());
        push_attr(&mut b, 9, &[1, 2, 3]);
        let got: Vec<(u16, Vec<u8>)> = attrs(&b).map(|(t, v)| (t, v.to_vec())).collect();
        assert_eq!(
            got,
            vec![
                (RTA_DST, vec![192, 0, 2, 1]),
                (RTA_OIF, 7u32.to_ne_bytes().to_vec()),
                (9, vec![1, 2, 3])
            ]
        );
        assert_eq!(attrs(&[8, 0, 1]).count(), 0);
    }

    #[test]
    fn loopback_route() {
        // Any namespace has lo; a route query for 127.0.0.1 answers without privileges.
        let Ok(mut nl) = Netlink::open() else { return };
        let r = nl.route_get("127.0.0.1".parse().unwrap()).unwrap();
        assert!(r.is_some_and(|r| r.oif > 0), "{r:?}");
    }
}
