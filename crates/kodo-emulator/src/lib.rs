//! The tenant emulator: Entra ID token endpoints, a Microsoft Graph v1.0 subset, SharePoint
//! (CSOM `ProcessQuery`, `/_api/web`) and Exchange Online (admin REST `InvokeCommand`, EWS) on
//! loopback HTTPS, seeded with the real first-party
//! service principals (`fixtures/`). It is the double for every test and Kodo's "try it
//! without a tenant" default. Facts it follows are cited next to the code that models them
//! (`facts.md` is `../shared/docs/facts.md`, shipped research with its own sources).

pub mod adminconsent;
pub mod apppolicy;
pub mod authorize;
pub mod chaos;
pub mod clients;
pub mod directory;
pub mod entra;
pub mod exchange;
pub mod exchange_rbac;
pub mod gdap;
pub mod generated;
pub mod graph;
pub mod graph_query;
pub mod odata;
pub mod pki;
pub mod proxy;
pub mod server;
pub mod sharepoint;
pub mod state;
pub mod world;
