//! The native library's own heap, counted: every allocation Rust code makes in this library
//! (Kodo's core, serde, reqwest, rustls, tokio) goes through [`Counting`], which keeps the bytes
//! live now and their peak. `debug.stats` reports both, so a host (and `benches/bulk.ps1`) can
//! tell the library's share of a process's memory from .NET's and PowerShell's.
//!
//! Not counted: thread stacks (the runtime's workers map their own), the allocator's own
//! overhead and what it keeps after a free (see `engine::release_memory`), and C code's
//! allocations (none on the paths Kodo uses: ring allocates nothing).
//! Cost: two relaxed atomic operations per allocation (measured in `benches/native.rs`).

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

/// The system allocator, counted.
pub struct Counting;

static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

fn grew(bytes: usize) {
    let now = LIVE.fetch_add(bytes, Ordering::Relaxed).wrapping_add(bytes);
    PEAK.fetch_max(now, Ordering::Relaxed);
}

fn shrank(bytes: usize) {
    LIVE.fetch_sub(bytes, Ordering::Relaxed);
}

// SAFETY: every call is passed to the system allocator unchanged; only counters are added.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: the caller's contract for `alloc` is the system allocator's.
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            grew(layout.size());
        }
        p
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: as for `alloc`.
        let p = unsafe { System.alloc_zeroed(layout) };
        if !p.is_null() {
            grew(layout.size());
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` was allocated by this allocator (the system's) with `layout`.
        unsafe { System.dealloc(ptr, layout) };
        shrank(layout.size());
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: as for `dealloc`; on failure the old block is left as it was.
        let p = unsafe { System.realloc(ptr, layout, new_size) };
        if !p.is_null() {
            if new_size >= layout.size() {
                grew(new_size - layout.size());
            } else {
                shrank(layout.size() - new_size);
            }
        }
        p
    }
}

/// Bytes the library holds now.
pub fn live_bytes() -> usize {
    LIVE.load(Ordering::Relaxed)
}

/// The most bytes the library held at once since it was loaded or since [`reset_peak`].
pub fn peak_bytes() -> usize {
    PEAK.load(Ordering::Relaxed).max(live_bytes())
}

/// Starts a new peak from what is live now (a bench measures one run's peak this way).
pub fn reset_peak() {
    PEAK.store(live_bytes(), Ordering::Relaxed);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_held_buffer_is_live_and_raises_the_peak_until_it_is_freed() {
        // Other tests allocate on other threads meanwhile: compare with generous margins.
        const SIZE: usize = 64 << 20;
        let before = live_bytes();
        let held = vec![1u8; SIZE];
        assert!(live_bytes() >= before + SIZE / 2, "live {} before {}", live_bytes(), before);
        assert!(peak_bytes() >= SIZE);
        drop(held);
        assert!(live_bytes() < before + SIZE / 2);
        let mut grown = Vec::<u8>::with_capacity(16);
        grown.reserve_exact(SIZE);
        assert!(live_bytes() >= before + SIZE / 2, "realloc upward is counted");
        grown.shrink_to(16);
        assert!(live_bytes() < before + SIZE / 2, "realloc downward is counted");
    }
}
