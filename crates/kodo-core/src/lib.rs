//! Kodo's core: everything the `Kodo` PowerShell module does over the network, with no FFI and
//! no server. The root crate (`kodo`, the cdylib) puts the C boundary in front of it; the tenant
//! emulator (`kodo-emulator`) may use its types, never the other way round.
//!
//! Rooms, leaves first (each imports only rooms above it in this list):
//! - [`error`], [`context`] (reports, questions to the host, clock, cancellation), [`crypto`],
//!   [`transport`] (the HTTPS client);
//! - [`auth`] (clouds, credentials, token flows and cache);
//! - [`graph`] (client, retry policy, `$batch`, paging, typed models), [`sharepoint`];
//! - [`manifest`] (permission manifests and how a name resolves to an id), [`plan`]
//!   (plan / approve / apply);
//! - [`onboarding`] (the procedure: app, permissions, credentials, audit, removal, one tenant,
//!   many tenants);
//! - [`ledger`] (the bulk run's resumable ledger: JSON Lines, fsync'd, one run at a time).

pub mod auth;
pub mod context;
pub mod crypto;
pub mod error;
pub mod exchange;
pub mod graph;
pub mod ledger;
pub mod manifest;
pub mod onboarding;
pub mod plan;
pub mod platform;
pub mod sharepoint;
pub mod transport;

pub use context::{LogLevel, OpContext};
pub use error::{ErrorCode, KodoError};
