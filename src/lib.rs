//! Kodo's native core: everything the `Kodo` PowerShell module does over the network
//! (Entra ID tokens, Microsoft Graph, SharePoint) lives here, behind a small C ABI
//! (see `include/kodo.h` and [`ffi`]).
//!
//! Layers, top to bottom: [`ffi`] (the C boundary), [`engine`] (sessions and operations),
//! [`protocol`] (the versioned JSON that crosses the boundary), [`error`].

pub mod auth;
pub mod emulator;
pub mod engine;
pub mod error;
pub mod ffi;
pub mod graph;
pub mod http;
pub mod onboarding;
pub mod protocol;
pub mod sharepoint;
