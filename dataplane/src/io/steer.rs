//! Loads the XDP steering program (`bpf/steer.bpf.c`, compiled by build.rs and embedded here) with the libbpf
//! that libxdp-sys vendors, fills its maps from the compiled configuration and attaches it to an interface
//! through a BPF link: the kernel detaches it when the link's fd closes, even if the process is killed.
//! A program left attached the old (netlink) way by someone else's crash is detached first.

use std::collections::BTreeSet;
use std::ffi::CString;
use std::io;
use std::os::raw::c_void;
use std::ptr;

use libxdp_sys as sys;

use crate::tables::Snapshot;

/// The program object, built by build.rs.
static STEER_OBJ: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/steer.bpf.o"));

/// `conf[0]` bits.
pub const STEER_V6: u32 = 1;
pub const STEER_V4: u32 = 2;

/// `XDP_FLAGS_SKB_MODE`, `XDP_FLAGS_DRV_MODE` (linux/if_link.h).
const XDP_FLAGS_SKB_MODE: u32 = 1 << 1;
const XDP_FLAGS_DRV_MODE: u32 = 1 << 2;

#[repr(C)]
struct Lpm6Key {
    prefixlen: u32,
    addr: [u8; 16],
}

#[repr(C)]
struct Lpm4Key {
    prefixlen: u32,
    addr: [u8; 4],
}

fn err(what: &str, ret: i32) -> io::Error {
    let e = io::Error::from_raw_os_error(-ret);
    io::Error::new(e.kind(), format!("{what}: {e}"))
}

/// The destination prefixes a configuration steers to the workers (host bits cleared, each once): every
/// tenant's pool6 and EAM IPv6 prefixes; its EAM IPv4 prefixes; for a stateful NAT64 tenant its pool4
/// addresses (IPv4 packets to anything else are not its business); for a SIIT tenant with a pool6, all of IPv4
/// (any IPv4 source may be addressed through it). The box's own addresses stay out through the local maps.
///
/// A live configuration change adds [`SteerSet::minus`] (new − old) before the workers switch and removes
/// (old − new) after they have: a prefix both configurations steer is never absent from the maps.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SteerSet {
    pub v6: BTreeSet<([u8; 16], u8)>,
    pub v4: BTreeSet<([u8; 4], u8)>,
}

impl SteerSet {
    pub fn of(snapshot: &Snapshot) -> SteerSet {
        let mut s = SteerSet::default();
        let mut v6 = |a: [u8; 16], l: u8| {
            let m = u128::MAX.checked_shl(128 - u32::from(l)).unwrap_or(0);
            s.v6.insert(((u128::from_be_bytes(a) & m).to_be_bytes(), l));
        };
        let mut v4 = Vec::new();
        for t in snapshot.tenants() {
            if let Some(p) = t.pool6() {
                v6(p.addr(), p.len());
            }
            match t.nat64.as_deref() {
                Some(n) => v4.extend((0..n.pool4.len()).map(|i| (n.pool4.addr(i), 32))),
                None if t.pool6().is_some() => v4.push(([0; 4], 0)),
                None => {}
            }
            for e in t.eamt().entries() {
                v6(e.v6, e.len6);
                v4.push((e.v4, e.len4));
            }
        }
        for (a, l) in v4 {
            let m = u32::MAX.checked_shl(32 - u32::from(l)).unwrap_or(0);
            s.v4.insert(((u32::from_be_bytes(a) & m).to_be_bytes(), l));
        }
        s
    }

    /// The prefixes of `self` that `other` lacks.
    pub fn minus(&self, other: &SteerSet) -> SteerSet {
        SteerSet {
            v6: self.v6.difference(&other.v6).copied().collect(),
            v4: self.v4.difference(&other.v4).copied().collect(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.v6.is_empty() && self.v4.is_empty()
    }

    /// Number of prefixes.
    pub fn len(&self) -> usize {
        self.v6.len() + self.v4.len()
    }
}

/// One loaded instance of the steering program (one per interface: each has its own maps) and, once
/// attached, its BPF link.
pub struct SteerProgram {
    obj: *mut sys::bpf_object,
    prog_fd: i32,
    xsks: i32,
    conf: i32,
    pfx6: i32,
    pfx4: i32,
    local6: i32,
    local4: i32,
    link: Option<(i32, u32)>,
}

// SAFETY: the libbpf object is owned by this value alone and only used through &mut self.
unsafe impl Send for SteerProgram {}

impl SteerProgram {
    /// Opens and loads the program (verifier included). Needs CAP_BPF / root.
    pub fn load() -> io::Result<SteerProgram> {
        // SAFETY: libbpf copies the buffer; the returned object is checked for NULL.
        let obj = unsafe {
            sys::bpf_object__open_mem(STEER_OBJ.as_ptr().cast(), STEER_OBJ.len(), ptr::null())
        };
        if obj.is_null() {
            return Err(io::Error::new(
                io::Error::last_os_error().kind(),
                format!("opening the XDP program: {}", io::Error::last_os_error()),
            ));
        }
        let mut p = SteerProgram {
            obj,
            prog_fd: -1,
            xsks: -1,
            conf: -1,
            pfx6: -1,
            pfx4: -1,
            local6: -1,
            local4: -1,
            link: None,
        };
        // SAFETY: obj is a valid, opened object.
        let ret = unsafe { sys::bpf_object__load(obj) };
        if ret != 0 {
            return Err(err("loading the XDP program (BPF verifier)", ret));
        }
        let name = CString::new("xlat64_steer").expect("no NUL");
        // SAFETY: obj is loaded; the program pointer is checked.
        let prog = unsafe { sys::bpf_object__find_program_by_name(obj, name.as_ptr()) };
        if prog.is_null() {
            return Err(io::Error::other(
                "XDP program xlat64_steer missing from the object",
            ));
        }
        // SAFETY: prog belongs to obj.
        p.prog_fd = unsafe { sys::bpf_program__fd(prog) };
        let map = |n: &str| -> io::Result<i32> {
            let c = CString::new(n).expect("no NUL");
            // SAFETY: obj is loaded.
            let fd = unsafe { sys::bpf_object__find_map_fd_by_name(obj, c.as_ptr()) };
            if fd < 0 {
                Err(err(&format!("map {n}"), fd))
            } else {
                Ok(fd)
            }
        };
        p.xsks = map("xsks")?;
        p.conf = map("conf")?;
        p.pfx6 = map("pfx6")?;
        p.pfx4 = map("pfx4")?;
        p.local6 = map("local6")?;
        p.local4 = map("local4")?;
        Ok(p)
    }

    fn update<K, V>(&self, fd: i32, key: &K, value: &V, what: &str) -> io::Result<()> {
        // SAFETY: key and value are plain repr(C)/integer values of the map's key and value sizes.
        let ret = unsafe {
            sys::bpf_map_update_elem(
                fd,
                (key as *const K).cast::<c_void>(),
                (value as *const V).cast::<c_void>(),
                0,
            )
        };
        if ret != 0 {
            Err(err(what, ret))
        } else {
            Ok(())
        }
    }

    /// Which families this interface steers ([`STEER_V6`] | [`STEER_V4`]).
    pub fn set_families(&self, flags: u32) -> io::Result<()> {
        self.update(self.conf, &0u32, &flags, "conf map")
    }

    /// Steers IPv6 destinations in `addr/len`.
    pub fn add_prefix6(&self, addr: [u8; 16], len: u8) -> io::Result<()> {
        let k = Lpm6Key {
            prefixlen: u32::from(len),
            addr,
        };
        self.update(self.pfx6, &k, &1u32, "pfx6 map")
    }

    /// Steers IPv4 destinations in `addr/len`.
    pub fn add_prefix4(&self, addr: [u8; 4], len: u8) -> io::Result<()> {
        let k = Lpm4Key {
            prefixlen: u32::from(len),
            addr,
        };
        self.update(self.pfx4, &k, &1u32, "pfx4 map")
    }

    /// Never steers this IPv6 destination (one of the box's own addresses).
    pub fn add_local6(&self, addr: [u8; 16]) -> io::Result<()> {
        self.update(self.local6, &addr, &1u32, "local6 map")
    }

    /// Never steers this IPv4 destination.
    pub fn add_local4(&self, addr: [u8; 4]) -> io::Result<()> {
        self.update(self.local4, &addr, &1u32, "local4 map")
    }

    /// Steers this IPv6 destination again (no longer one of the box's addresses).
    pub fn remove_local6(&self, addr: [u8; 16]) {
        self.delete(self.local6, &addr);
    }

    /// Steers this IPv4 destination again.
    pub fn remove_local4(&self, addr: [u8; 4]) {
        self.delete(self.local4, &addr);
    }

    fn delete<K>(&self, fd: i32, key: &K) {
        // SAFETY: key is a plain value of the map's key size; a missing key (ENOENT) is fine.
        unsafe { sys::bpf_map_delete_elem(fd, (key as *const K).cast::<c_void>()) };
    }

    /// Sends what arrives on receive queue `queue` to the AF_XDP socket `fd`.
    pub fn set_xsk(&self, queue: u32, fd: i32) -> io::Result<()> {
        self.update(self.xsks, &queue, &(fd as u32), "xsks map")
    }

    /// Fills the prefix maps from the compiled config ([`SteerSet::of`]).
    pub fn add_snapshot(&self, snapshot: &Snapshot) -> io::Result<()> {
        self.add_set(&SteerSet::of(snapshot))
    }

    /// Adds every prefix of `set`.
    pub fn add_set(&self, set: &SteerSet) -> io::Result<()> {
        for &(a, l) in &set.v6 {
            self.add_prefix6(a, l)?;
        }
        for &(a, l) in &set.v4 {
            self.add_prefix4(a, l)?;
        }
        Ok(())
    }

    /// Stops steering the prefixes of `gone` (a missing one is fine).
    pub fn remove_set(&self, gone: &SteerSet) {
        for &(addr, len) in &gone.v6 {
            let k = Lpm6Key {
                prefixlen: u32::from(len),
                addr,
            };
            self.delete(self.pfx6, &k);
        }
        for &(addr, len) in &gone.v4 {
            let k = Lpm4Key {
                prefixlen: u32::from(len),
                addr,
            };
            self.delete(self.pfx4, &k);
        }
    }

    /// Attaches to `ifindex` with a BPF link, after detaching any program attached there through netlink
    /// (a stale one from a crashed run).
    pub fn attach(&mut self, ifindex: u32) -> io::Result<()> {
        let ifx = ifindex as i32;
        // SAFETY: plain libbpf calls with an ifindex; failures (nothing attached) are expected and ignored.
        unsafe {
            sys::bpf_xdp_detach(ifx, XDP_FLAGS_DRV_MODE, ptr::null());
            sys::bpf_xdp_detach(ifx, XDP_FLAGS_SKB_MODE, ptr::null());
        }
        // SAFETY: prog_fd is our loaded program.
        let fd = unsafe {
            sys::bpf_link_create(self.prog_fd, ifx, sys::bpf_attach_type_BPF_XDP, ptr::null())
        };
        if fd < 0 {
            return Err(err(
                &format!("attaching the XDP program to ifindex {ifindex} (another XDP program attached through a link?)"),
                fd,
            ));
        }
        self.link = Some((fd, ifindex));
        Ok(())
    }

    /// Detaches (closes the link). Idempotent.
    pub fn detach(&mut self) {
        if let Some((fd, _)) = self.link.take() {
            // SAFETY: our link fd; closing it detaches the program.
            unsafe { libc::close(fd) };
        }
    }
}

impl Drop for SteerProgram {
    fn drop(&mut self) {
        self.detach();
        // SAFETY: the object opened in load(), closed once (its maps and program fds with it).
        unsafe { sys::bpf_object__close(self.obj) };
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use mgmt_api::Config;

    fn set(toml: &str) -> SteerSet {
        SteerSet::of(&Snapshot::compile(&Config::from_toml_str(toml).unwrap()).unwrap())
    }

    const NAT64: &str = r#"
[[tenants]]
name = "n"
id = 1
mode = "nat64"
pool6 = "2001:db8:64::/96"
[[tenants.pool4]]
prefix = "203.0.113.0/31"
"#;

    #[test]
    fn steer_set_and_differences() {
        let a = set(NAT64);
        assert_eq!(a.v6.len(), 1);
        let v4: Vec<_> = a.v4.iter().copied().collect();
        assert_eq!(v4, [([203, 0, 113, 0], 32), ([203, 0, 113, 1], 32)]);
        // A SIIT tenant with a pool6 steers all of IPv4; an EAM entry's host bits are cleared.
        let b = set(&format!(
            "{NAT64}\n[[tenants]]\nname = \"s\"\nid = 2\npool6 = \"2001:db8:46::/96\"\n\
             [[tenants.eamt]]\nipv4 = \"192.0.2.0/24\"\nipv6 = \"2001:db8:4444::/120\"\n"
        ));
        let add = b.minus(&a);
        assert!(add.v4.contains(&([0; 4], 0)));
        assert!(add.v4.contains(&([192, 0, 2, 0], 24)));
        assert!(add.v6.contains(&(
            "2001:db8:4444::"
                .parse::<std::net::Ipv6Addr>()
                .unwrap()
                .octets(),
            120
        )));
        assert_eq!(add.len(), 4, "{add:?}");
        assert!(a.minus(&b).is_empty(), "nothing of a is gone in b");
        assert_eq!(b.minus(&add), a);
    }
}
