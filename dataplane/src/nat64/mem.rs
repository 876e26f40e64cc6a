//! Allocation of the large per-worker tables.

/// A table of `len` entries made by `init`, on transparent huge pages where the kernel allows it (Linux:
/// `madvise(MADV_HUGEPAGE)` before the memory is first written, which works with THP set to `madvise` or
/// `always`). With a million sessions the tables span hundreds of 4 KiB pages per lookup level, so without
/// huge pages nearly every lookup misses the TLB as well as the caches.
pub fn table<T>(len: usize, init: impl FnMut(usize) -> T) -> Box<[T]> {
    let mut v: Vec<T> = Vec::with_capacity(len);
    advise_huge(v.as_ptr().cast(), len * std::mem::size_of::<T>());
    v.extend((0..len).map(init));
    v.into_boxed_slice()
}

/// Asks for huge pages for the 2 MiB-aligned part of `[p, p + bytes)` (a hint: failures are ignored).
fn advise_huge(p: *const u8, bytes: usize) {
    const HUGE: usize = 2 << 20;
    let start = (p as usize).next_multiple_of(HUGE);
    let end = (p as usize).saturating_add(bytes) & !(HUGE - 1);
    if end <= start {
        return;
    }
    #[cfg(target_os = "linux")]
    // SAFETY: advice about whole pages inside an allocation this function's caller owns and has not yet
    // written; it changes no memory contents.
    unsafe {
        libc::madvise(start as *mut libc::c_void, end - start, libc::MADV_HUGEPAGE);
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn table_initialises_every_entry() {
        let t = super::table(3 << 20, |i| i as u32);
        assert_eq!(t.len(), 3 << 20);
        assert!(t.iter().enumerate().all(|(i, &v)| v == i as u32));
        assert!(super::table(0, |_| 0u8).is_empty());
    }
}
