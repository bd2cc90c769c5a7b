//! Kodo's native library: the C boundary in front of [`kodo_core`] (see `include/kodo.h`).
//!
//! Layers, top to bottom: [`ffi`] (the C ABI: handles, strings, status codes, one panic/NULL
//! boundary), [`engine`] (sessions and operations on one async runtime), [`protocol`] (the
//! versioned JSON requests and events that cross the boundary), [`dispatch`] (a request to the
//! core call that serves it). Everything that talks to Microsoft 365 is in `kodo_core`.

pub mod dispatch;
pub mod engine;
pub mod ffi;
pub mod memory;
pub mod protocol;

/// Every allocation of the library is counted ([`memory`]): `debug.stats` reports the native
/// heap's share of a host's memory.
#[global_allocator]
static ALLOCATOR: memory::Counting = memory::Counting;

pub use kodo_core::error;
