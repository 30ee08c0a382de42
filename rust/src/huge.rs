//! Zeroed slices in memory the kernel may back with 2 MB pages (Linux transparent huge pages).
//!
//! Why: the word cache's lookups land all over a table of several megabytes. With 4 KB pages
//! the frequent words alone are spread over every page of it, more pages than the TLB holds,
//! so a hit often paid a page walk first (nested, in a virtual machine). The table is mapped
//! 2 MB-aligned and advised `MADV_HUGEPAGE`, which asks for huge pages even where the system
//! default is `madvise`. Elsewhere, or when the kernel says no, it is ordinary memory.

use std::ops::{Deref, DerefMut};

/// Slices at least this large are mapped for huge pages; smaller ones come from the heap.
const HUGE: usize = 2 << 20;

/// A boxed slice of `T` that starts out all zero bytes.
pub(crate) struct ZeroedSlice<T> {
    ptr: *mut T,
    len: usize,
    /// `(start, length)` of the mapping when mapped (unmapped on drop), else heap memory.
    #[cfg_attr(not(target_os = "linux"), allow(dead_code))]
    mapping: Option<(*mut u8, usize)>,
}

// SAFETY: it owns its elements like a `Box<[T]>`.
unsafe impl<T: Send> Send for ZeroedSlice<T> {}
// SAFETY: shared access only hands out `&[T]`.
unsafe impl<T: Sync> Sync for ZeroedSlice<T> {}

impl<T> ZeroedSlice<T> {
    /// `len` elements of all zero bytes.
    ///
    /// # Safety
    /// All zero bytes must be a valid `T` (integers, atomics, arrays and structs of them).
    pub(crate) unsafe fn new(len: usize) -> Self {
        let bytes = std::mem::size_of::<T>()
            .checked_mul(len)
            .expect("table size overflows");
        #[cfg(target_os = "linux")]
        if bytes >= HUGE && std::mem::align_of::<T>() <= HUGE {
            if let Some(s) = Self::mapped(len, bytes) {
                return s;
            }
        }
        let mut v = Vec::<T>::with_capacity(len);
        // SAFETY: the caller vouches for zero bytes; the capacity is `len`.
        std::ptr::write_bytes(v.as_mut_ptr(), 0, len);
        v.set_len(len);
        let ptr = Box::into_raw(v.into_boxed_slice()) as *mut T;
        ZeroedSlice {
            ptr,
            len,
            mapping: None,
        }
    }

    /// An anonymous mapping (zero-filled by the kernel, faulted in on first touch), cut to a
    /// 2 MB boundary and advised for huge pages; `None` if the kernel refuses the mapping.
    #[cfg(target_os = "linux")]
    unsafe fn mapped(len: usize, bytes: usize) -> Option<Self> {
        let map_len = bytes + HUGE;
        let base = libc::mmap(
            std::ptr::null_mut(),
            map_len,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
            -1,
            0,
        );
        if base == libc::MAP_FAILED {
            return None;
        }
        let base = base as *mut u8;
        let start = base.add(base.align_offset(HUGE));
        // advice only: if the kernel has no huge pages to give, the memory is still usable
        libc::madvise(start.cast(), bytes, libc::MADV_HUGEPAGE);
        Some(ZeroedSlice {
            ptr: start.cast(),
            len,
            mapping: Some((base, map_len)),
        })
    }
}

/// Asks for huge pages under the unused capacity of `v` (its 2 MB-aligned part), before it
/// is written: a large output then costs a few page faults instead of one per 4 KB. Advice
/// only; a no-op for small vectors and off Linux.
pub(crate) fn advise_capacity<T>(v: &mut Vec<T>) {
    #[cfg(target_os = "linux")]
    {
        let spare = v.spare_capacity_mut();
        let start = spare.as_mut_ptr() as *mut u8;
        let bytes = std::mem::size_of_val(spare);
        let skip = start.align_offset(HUGE);
        if bytes >= skip + HUGE {
            let len = (bytes - skip) / HUGE * HUGE;
            // SAFETY: the range lies inside `v`'s allocation, which nothing reads yet; the
            // advice changes how pages are backed, never their contents.
            unsafe { libc::madvise(start.add(skip).cast(), len, libc::MADV_HUGEPAGE) };
        }
    }
    #[cfg(not(target_os = "linux"))]
    let _ = v;
}

impl<T> Drop for ZeroedSlice<T> {
    fn drop(&mut self) {
        let elems = std::ptr::slice_from_raw_parts_mut(self.ptr, self.len);
        // SAFETY: `ptr` and `len` describe the elements this slice owns, allocated in `new`.
        unsafe {
            match self.mapping {
                #[cfg(target_os = "linux")]
                Some((base, map_len)) => {
                    std::ptr::drop_in_place(elems);
                    libc::munmap(base.cast(), map_len);
                }
                _ => drop(Box::from_raw(elems)),
            }
        }
    }
}

impl<T> Deref for ZeroedSlice<T> {
    type Target = [T];
    fn deref(&self) -> &[T] {
        // SAFETY: `ptr` points to `len` initialised elements owned by `self`.
        unsafe { std::slice::from_raw_parts(self.ptr, self.len) }
    }
}

impl<T> DerefMut for ZeroedSlice<T> {
    fn deref_mut(&mut self) -> &mut [T] {
        // SAFETY: as in `deref`, and `&mut self` is unique.
        unsafe { std::slice::from_raw_parts_mut(self.ptr, self.len) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

    #[test]
    fn small_and_mapped_slices_start_zeroed_and_hold_writes() {
        for len in [0, 1, 1000, (HUGE / 8) * 3 + 5] {
            // SAFETY: zero is a valid AtomicU64
            let mut s = unsafe { ZeroedSlice::<AtomicU64>::new(len) };
            assert_eq!(s.len(), len);
            assert!(s.iter().all(|a| a.load(Relaxed) == 0));
            for (i, a) in s.iter_mut().enumerate() {
                *a.get_mut() = i as u64;
            }
            assert!(s
                .iter()
                .enumerate()
                .all(|(i, a)| a.load(Relaxed) == i as u64));
        }
    }
}
