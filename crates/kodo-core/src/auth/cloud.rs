//! Clouds: the endpoints of each national cloud (facts.md §4.6) and of the emulator.

use crate::error::{ErrorCode, KodoError};
use serde::Deserialize;
use std::net::SocketAddr;
use std::time::Duration;

/// A cloud's endpoints (facts.md §4.6), or the emulator's.
#[derive(Clone, Debug)]
pub struct Environment {
    pub name: String,
    pub login: String,
    pub graph: String,
    pub sharepoint_suffix: String,
    pub exchange: String,
    pub ca_pem: Option<String>,
    pub resolve_to: Option<SocketAddr>,
    /// How long one HTTP request may take, answer included, before it counts as no answer.
    pub request_timeout: Duration,
}

/// One request's time limit unless the caller sets one (`Connect-Kodo -RequestTimeoutSec`).
pub const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(120);

impl Environment {
    /// Global, USGov, USGovDoD, China (names as Connect-MgGraph's -Environment).
    pub fn builtin(name: &str) -> Option<Environment> {
        let (name, login, graph, sp, exo) = match name.to_ascii_lowercase().as_str() {
            "global" | "azurecloud" => (
                "Global",
                "https://login.microsoftonline.com",
                "https://graph.microsoft.com",
                "sharepoint.com",
                "https://outlook.office365.com",
            ),
            // facts.md §4.6: GCC High.
            "usgov" => (
                "USGov",
                "https://login.microsoftonline.us",
                "https://graph.microsoft.us",
                "sharepoint.us",
                "https://outlook.office365.us",
            ),
            // facts.md §4.6 lists two admin-host forms for DoD; sharepoint-mil.us is the one in
            // current public tooling (CISA ScubaGear), dps.mil the older one.
            "usgovdod" => (
                "USGovDoD",
                "https://login.microsoftonline.us",
                "https://dod-graph.microsoft.us",
                "sharepoint-mil.us",
                "https://outlook-dod.office365.us",
            ),
            // facts.md §4.6: login.chinacloudapi.cn is what the Graph deployments doc, PnP and CLI
            // for Microsoft 365 use (three sources against one).
            "china" => (
                "China",
                "https://login.chinacloudapi.cn",
                "https://microsoftgraph.chinacloudapi.cn",
                "sharepoint.cn",
                "https://partner.outlook.cn",
            ),
            _ => return None,
        };
        Some(Environment {
            name: name.into(),
            login: login.into(),
            graph: graph.into(),
            sharepoint_suffix: sp.into(),
            exchange: exo.into(),
            ca_pem: None,
            resolve_to: None,
            request_timeout: DEFAULT_REQUEST_TIMEOUT,
        })
    }
}

/// The environment part of a `connect` request.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct EnvironmentSpec {
    pub name: String,
    /// For a custom environment (the emulator): the CA to trust instead of the system store.
    #[serde(default)]
    pub ca_certificate_pem: Option<String>,
    /// For the emulator: the address every hostname resolves to.
    #[serde(default)]
    pub resolve_to: Option<SocketAddr>,
    /// Endpoints of a custom environment; a built-in name fills the rest.
    #[serde(default)]
    pub base: Option<String>,
    /// One request's time limit in seconds (1 to 3600); 120 if absent.
    #[serde(default)]
    pub request_timeout_seconds: Option<u64>,
}

impl EnvironmentSpec {
    pub fn resolve(&self) -> Result<Environment, KodoError> {
        let base = self.base.as_deref().unwrap_or(&self.name);
        let mut env = Environment::builtin(base).ok_or_else(|| {
            KodoError::new(
                ErrorCode::InvalidArgument,
                format!("Unknown environment '{base}'. Use Global, USGov, USGovDoD or China."),
            )
        })?;
        if self.base.is_some() {
            env.name = self.name.clone();
        }
        env.ca_pem = self.ca_certificate_pem.clone();
        env.resolve_to = self.resolve_to;
        if let Some(s) = self.request_timeout_seconds {
            if !(1..=3600).contains(&s) {
                return Err(KodoError::new(
                    ErrorCode::InvalidArgument,
                    format!("A request timeout of {s} s is out of range: use 1 to 3600 seconds."),
                ));
            }
            env.request_timeout = Duration::from_secs(s);
        }
        Ok(env)
    }
}
