//! The emulator's whole state: configuration, tenants, signing key, request log and faults.

use super::pki::{RsaCredential, b64};
use super::state::*;
use parking_lot::Mutex;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// How an emulator instance behaves.
#[derive(Clone, Debug)]
pub struct EmulatorConfig {
    pub tenants: usize,
    /// New objects stay invisible to other replicas this long (facts.md §3.12).
    pub replication_lag: Duration,
    /// Fraction of Graph requests answered 429 with Retry-After (facts.md §3.12).
    pub throttle_rate: f64,
    /// Added to every response: the round trip of one HTTP request.
    pub latency: Duration,
    /// Graph's own time to serve one request, or one `$batch` item; a batch's items run
    /// concurrently unless `dependsOn` orders them, so a batch takes this times the length of
    /// its longest `dependsOn` chain (`--service-time-ms`; `serviceTimeMs` in settings).
    pub service_time: Duration,
    pub auto_approve_device_codes: bool,
    /// Where the CA and the bootstrap certificates are written.
    pub state_dir: PathBuf,
    /// Objects per collection page when the request has no `$top` (facts.md §3.14: Graph's
    /// default is 100). Changeable at run time (`pageSize` in `/_emulator/settings`).
    pub page_size: usize,
    /// Untagged line-of-business apps (each with its service principal) seeded into every
    /// tenant, so that lists run past one page.
    pub extra_apps: usize,
    /// `--directory-size N`: every tenant holds exactly N users, groups, applications and
    /// service principals, the seeded ones made up to N by generated ones (generated.rs); 0 for
    /// the seeded directory alone.
    pub directory_size: usize,
    /// The EWS settings every tenant starts with (`--ews`).
    pub ews: EwsPreset,
    /// EWS enforces organization settings as they were this long ago (`--ews-propagation-ms`;
    /// changeable as `ewsPropagationMs` in `/_emulator/settings`).
    pub ews_propagation: Duration,
    /// The tenant default app management policy of every tenant (`--app-policy`).
    pub app_policy: AppPolicyPreset,
    /// Exchange RBAC for Applications changes reach EWS after this long
    /// (`--rbac-propagation-ms`; changeable as `rbacPropagationMs` in `/_emulator/settings`).
    /// The real cache is "between 30 minutes and 2 hours" (docs/exchange-rbac-research.md §1.1).
    pub rbac_propagation: Duration,
}

/// The EWS state a tenant starts in (facts.md §8.4).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum EwsPreset {
    /// `EwsEnabled` `$null`: never configured (blocked once the 2026-10 rollout reached the
    /// tenant, the `ewsNullBlocked` flag).
    NeverSet,
    /// `EwsEnabled` `$false`.
    Off,
    /// `EwsEnabled` `$true` and no allowed app ids: every app blocked.
    OnEmpty,
    /// `EwsEnabled` `$true` and an allow list naming two other apps of the tenant
    /// ("Mail archiver (EWS)", "Mail migration (EWS)"), as Microsoft pre-populated it.
    #[default]
    OnListed,
}

impl std::str::FromStr for EwsPreset {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "never-set" => Ok(EwsPreset::NeverSet),
            "off" => Ok(EwsPreset::Off),
            "on-empty" => Ok(EwsPreset::OnEmpty),
            "on-listed" => Ok(EwsPreset::OnListed),
            _ => Err(format!("'{s}' is not one of never-set, off, on-empty, on-listed")),
        }
    }
}

/// The tenant default app management policy a tenant starts with.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum AppPolicyPreset {
    /// The documented default: disabled, no restrictions (docs/app-policy-research.md §1.1).
    #[default]
    None,
    /// Enabled, `passwordAddition` restricted for every app.
    NoSecrets,
    /// Enabled, `passwordLifetime` with this `maxLifetime` (an ISO 8601 duration) for every app.
    SecretLifetime(String),
}

impl std::str::FromStr for AppPolicyPreset {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "none" => Ok(AppPolicyPreset::None),
            "no-secrets" => Ok(AppPolicyPreset::NoSecrets),
            _ => match s.strip_prefix("secret-lifetime=") {
                Some(d) if super::apppolicy::parse_duration(d).is_some() => {
                    Ok(AppPolicyPreset::SecretLifetime(d.to_string()))
                }
                Some(d) => Err(format!(
                    "'{d}' is not an ISO 8601 duration of days, hours, minutes and seconds (P90D, P4DT12H30M5S)"
                )),
                None => Err(format!("'{s}' is not one of none, no-secrets, secret-lifetime=<ISO 8601 duration>")),
            },
        }
    }
}

/// cbindgen:ignore
// (Keeps these out of include/kodo.h: the emulator is not part of the C API.)
impl EmulatorConfig {
    /// Graph's default page size (facts.md §3.14, `GET /users`).
    pub const DEFAULT_PAGE_SIZE: usize = 100;
    /// The largest `$top` (and page size) the emulator takes (facts.md §3.14: 999 for directory
    /// objects per common usage, UNCONFIRMED).
    pub const MAX_PAGE_SIZE: usize = 999;
}

impl Default for EmulatorConfig {
    fn default() -> Self {
        EmulatorConfig {
            tenants: 1,
            replication_lag: Duration::ZERO,
            throttle_rate: 0.0,
            service_time: Duration::ZERO,
            latency: Duration::ZERO,
            auto_approve_device_codes: false,
            state_dir: std::env::temp_dir(),
            page_size: EmulatorConfig::DEFAULT_PAGE_SIZE,
            extra_apps: 0,
            directory_size: 0,
            ews: EwsPreset::default(),
            ews_propagation: Duration::ZERO,
            app_policy: AppPolicyPreset::default(),
            rbac_propagation: Duration::ZERO,
        }
    }
}

/// One served request, as `GET /_emulator/requests` reports it.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct LogEntry {
    pub seq: u64,
    pub time: String,
    pub method: String,
    pub host: String,
    pub path: String,
    /// The query string as sent (still percent-encoded), without the `?`; absent when there is
    /// none. Tests read it to check how a `$filter` literal was escaped.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub query: Option<String>,
    pub status: u16,
    /// True for a sub-request of a `$batch` (the batch itself is logged too).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub batch: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tenant_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_id: Option<String>,
    /// The response's `request-id` (an HTTP request); for a `$batch` item, the batch's.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
    /// The client's end of the TCP connection the request came on (ip:port), so that
    /// connection reuse (keep-alive) shows; absent for `$batch` items.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub connection: Option<String>,
    /// The HTTP version the request came with ("HTTP/1.1", "HTTP/2.0").
    #[serde(skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// Graph's service time charged for it (ms): the service time, times a `$batch`'s longest
    /// `dependsOn` chain; absent when there is none.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub service_ms: Option<u64>,
    /// Served, and its answer held back by a fault rule (`hold`).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub held: bool,
    /// The chaos fault this request got (`chaos::FaultKind` names).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fault: Option<&'static str>,
}

impl LogEntry {
    /// An entry for a request served at the HTTP level (sequence number set by `World::record`).
    pub fn served(method: &str, host: &str, path: &str, status: u16) -> LogEntry {
        LogEntry {
            seq: 0,
            time: super::state::now_iso(),
            method: method.to_string(),
            host: host.to_string(),
            path: path.to_string(),
            query: None,
            status,
            batch: false,
            tenant_id: None,
            client_id: None,
            request_id: None,
            connection: None,
            version: None,
            service_ms: None,
            held: false,
            fault: None,
        }
    }
}

/// A fault injected through the control API (`POST /_emulator/faults`).
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct FaultRule {
    #[serde(default)]
    pub id: u64,
    /// Only requests with this method (any if absent).
    #[serde(default)]
    pub method: Option<String>,
    /// Only requests whose path contains this text (any if absent).
    #[serde(default)]
    pub path_contains: Option<String>,
    /// Answer with this status (5xx or 429) instead of serving the request.
    #[serde(default)]
    pub status: Option<u16>,
    /// Retry-After seconds to send with `status`.
    #[serde(default)]
    pub retry_after: Option<u64>,
    /// Delay before serving (or failing) the request.
    #[serde(default)]
    pub delay_ms: u64,
    /// Drop the connection instead of answering.
    #[serde(default)]
    pub drop_connection: bool,
    /// Serve the request, then drop the connection instead of sending the answer (the client
    /// cannot know whether it was done).
    #[serde(default)]
    pub drop_response: bool,
    /// Serve the request, log it with `held: true`, then hold the answer back (10 minutes,
    /// then drop the connection): the client waits, as for a slow service, while a test kills it
    /// right after the write.
    #[serde(default)]
    pub hold: bool,
    /// Let this many matching requests through untouched before the rule applies.
    #[serde(default)]
    pub skip: u64,
    /// Answer a token request with this AADSTS error (50076 MFA, 50079, 53003 Conditional
    /// Access, 65001 consent, 7000222 expired secret, 700082 expired refresh token): what a real
    /// tenant's policies produce and the emulator cannot otherwise reach.
    #[serde(default)]
    pub aadsts: Option<u32>,
    /// How many requests the rule applies to (forever if absent).
    #[serde(default)]
    pub count: Option<u64>,
}

pub struct World {
    pub config: EmulatorConfig,
    pub tenants: Mutex<Vec<Tenant>>,
    pub signing: RsaCredential,
    pub signing_kid: String,
    pub log: Mutex<Vec<LogEntry>>,
    /// Every client secret addPassword has made, removed ones too: what a leak scanner looks
    /// for (`GET /_emulator/secrets`). Throwaway secrets of emulated tenants.
    pub issued_secrets: Mutex<Vec<String>>,
    pub faults: Mutex<Vec<FaultRule>>,
    /// Seeded chaos, when on (`PUT /_emulator/chaos`).
    pub chaos: Mutex<Option<super::chaos::Chaos>>,
    /// The live TCP connections, which a chaos fault can reset.
    pub connections: std::sync::Arc<super::chaos::Connections>,
    pub throttle_rate: Mutex<f64>,
    pub service_time: Mutex<Duration>,
    pub replication_lag: Mutex<Duration>,
    /// Default page size now (starts as `config.page_size`).
    pub page_size: Mutex<usize>,
    /// EWS propagation delay now (starts as `config.ews_propagation`).
    pub ews_propagation: Mutex<Duration>,
    /// RBAC for Applications propagation delay now (starts as `config.rbac_propagation`).
    pub rbac_propagation: Mutex<Duration>,
    pub next_seq: AtomicU64,
    /// The `X-IDENTITY-HEADER` value the managed-identity endpoint expects.
    pub identity_header: String,
    /// Base URL, known once the listener is bound.
    pub url: Mutex<String>,
}

impl World {
    pub fn new(config: EmulatorConfig) -> Result<World, String> {
        let signing = RsaCredential::generate("Kodo emulator token signing", 365)?;
        let signing_kid = super::pki::x5t_sha1(&signing.cert_der);
        let world = World {
            throttle_rate: Mutex::new(config.throttle_rate),
            service_time: Mutex::new(config.service_time),
            replication_lag: Mutex::new(config.replication_lag),
            page_size: Mutex::new(config.page_size.clamp(1, EmulatorConfig::MAX_PAGE_SIZE)),
            ews_propagation: Mutex::new(config.ews_propagation),
            rbac_propagation: Mutex::new(config.rbac_propagation),
            config,
            tenants: Mutex::new(Vec::new()),
            signing,
            signing_kid,
            log: Mutex::new(Vec::new()),
            issued_secrets: Mutex::new(Vec::new()),
            faults: Mutex::new(Vec::new()),
            chaos: Mutex::new(None),
            connections: Default::default(),
            next_seq: AtomicU64::new(1),
            identity_header: new_id(),
            url: Mutex::new(String::new()),
        };
        // One bootstrap certificate for every tenant's bootstrap app, made once per run: an RSA
        // key costs about 0.3 s to generate on a test machine, so a key per tenant made a
        // 1 000-tenant emulator take about 5 minutes to start. A certificate is only a public key
        // in an app's keyCredentials: one credential signing in to many tenants is what a
        // multi-tenant app does (Azure.Identity's AdditionallyAllowedTenants, "to acquire tokens
        // for any tenant in which the application is installed":
        // https://learn.microsoft.com/dotnet/api/azure.identity.clientcertificatecredentialoptions.additionallyallowedtenants).
        // The same certificate on separate apps of separate tenants: Entra documents no
        // uniqueness rule for keyCredentials across apps, UNCONFIRMED that none exists. Each
        // tenant's app still has its own client id and secret, and a sign-in names its tenant.
        let bootstrap_cert = RsaCredential::generate("Kodo emulator bootstrap", 365)?;
        for n in 1..=world.config.tenants {
            let mut tenant = world.create_tenant(n, &bootstrap_cert)?;
            for i in 1..=world.config.extra_apps {
                super::generated::line_of_business_app(
                    &mut tenant,
                    &format!("Line-of-business app {i:04}"),
                    None,
                    true,
                );
            }
            super::generated::fill(&mut tenant, n, world.config.directory_size)?;
            world.tenants.lock().push(tenant);
        }
        Ok(world)
    }

    pub fn lag(&self) -> Duration {
        *self.replication_lag.lock()
    }

    pub fn service_time(&self) -> Duration {
        *self.service_time.lock()
    }

    pub fn page_size(&self) -> usize {
        *self.page_size.lock()
    }

    pub fn ews_propagation(&self) -> Duration {
        *self.ews_propagation.lock()
    }

    pub fn rbac_propagation(&self) -> Duration {
        *self.rbac_propagation.lock()
    }

    fn create_tenant(&self, n: usize, cred: &RsaCredential) -> Result<Tenant, String> {
        let id = new_id();
        // Names are the emulator's own (no real tenant is named); the shape is Entra's.
        let label = format!("kodoemu{n}");
        let initial_domain = format!("{label}.onmicrosoft.com");
        let display_name = format!("Kodo Emulator Tenant {n}");
        let mut service_principals: Vec<ServicePrincipal> = FIRST_PARTY.all().into_iter().map(first_party_sp).collect();
        let graph_sp = service_principals[0].obj.id().to_string();
        let spo_sp = service_principals[1].obj.id().to_string();
        let exo_sp = service_principals[2].obj.id().to_string();

        // The bootstrap app: what the admin's own identity can do, as an app with a secret and
        // a certificate (so every sign-in flow can be tried; the certificate is the run's one
        // bootstrap certificate, see `World::new`).
        let secret = generate_secret();
        let app_id = new_id();
        let mut app = application_json(&app_id, "Kodo emulator bootstrap admin", &initial_domain, &[]);
        // "Allow public client flows", so that device-code sign-in works through it.
        app.insert("isFallbackPublicClient".into(), true.into());
        // A loopback redirect for the browser sign-in through it (`http://localhost`, the value
        // Microsoft recommends for system-browser apps: docs/signin-research.md §7.1).
        app.insert("publicClient".into(), json!({ "redirectUris": ["http://localhost"] }));
        let key_id = new_id();
        let (nb, na) = super::pki::validity_of(&cred.cert_der)?;
        app.insert(
            "keyCredentials".into(),
            json!([{
                "customKeyIdentifier": cred.thumbprint(),
                "displayName": "CN=Kodo emulator bootstrap",
                "endDateTime": unix_to_iso(na),
                // Graph returns `key` only when keyCredentials is $select-ed (facts.md §3.3).
                "key": b64(&cred.cert_der),
                "keyId": new_id(),
                "startDateTime": unix_to_iso(nb),
                "type": "AsymmetricX509Cert",
                "usage": "Verify",
            }]),
        );
        // Made the day before (the tenant's admin app was there before Kodo): a clock offset
        // of up to a day back (`clockOffsetMs`) leaves it valid.
        app.insert(
            "passwordCredentials".into(),
            json!([{
                "customKeyIdentifier": null, "displayName": "bootstrap", "endDateTime": iso_after(365),
                "hint": &secret[..3], "keyId": key_id, "secretText": null, "startDateTime": iso_after(-1)
            }]),
        );
        let app = Application {
            obj: Stored::new(app, Duration::ZERO),
            secrets: vec![Secret { key_id, text: secret.clone() }],
            owner: None,
        };
        let sp = ServicePrincipal {
            obj: Stored::new(
                service_principal_json(&app_id, "Kodo emulator bootstrap admin", &id, "Application"),
                Duration::ZERO,
            ),
            first_party: None,
        };
        let bootstrap_sp = sp.obj.id().to_string();
        service_principals.push(sp);

        // The Automation account's managed identity.
        let mi_client_id = new_id();
        let mi = ServicePrincipal {
            obj: Stored::new(
                service_principal_json(&mi_client_id, "kodo-automation", &id, "ManagedIdentity"),
                Duration::ZERO,
            ),
            first_party: None,
        };
        let mi_sp = mi.obj.id().to_string();
        service_principals.push(mi);

        let mut assignments = Vec::new();
        for principal in [&bootstrap_sp, &mi_sp] {
            for (resource, fixture, roles) in [
                (&graph_sp, &FIRST_PARTY.graph, BOOTSTRAP_GRAPH_ROLES),
                (&spo_sp, &FIRST_PARTY.sharepoint, BOOTSTRAP_SHAREPOINT_ROLES),
                (&exo_sp, &FIRST_PARTY.exchange, BOOTSTRAP_EXCHANGE_ROLES),
            ] {
                for role in roles {
                    let role_id = role_id(fixture, role).ok_or_else(|| format!("fixture lacks role {role}"))?;
                    assignments.push(Stored::new(
                        assignment_json(
                            principal,
                            "ServicePrincipal",
                            "",
                            resource,
                            fixture["displayName"].as_str().unwrap_or(""),
                            &role_id,
                        ),
                        Duration::ZERO,
                    ));
                }
            }
        }

        // Both hold Exchange Administrator, so that they can run Set-OrganizationConfig
        // (docs/exchange-research.md §4, Option 1).
        let directory_roles = [&bootstrap_sp, &mi_sp]
            .into_iter()
            .map(|p| DirectoryRoleMember {
                role_template_id: EXCHANGE_ADMINISTRATOR_ROLE.into(),
                principal_id: p.clone(),
            })
            .collect();

        // Two EWS apps of the tenant's own (a mail archiver and a migration tool), holding
        // full_access_as_app: what an allow list pre-populated by Microsoft names (facts.md §8.4).
        let mut applications = vec![app];
        let full_access =
            role_id(&FIRST_PARTY.exchange, "full_access_as_app").ok_or("fixture lacks full_access_as_app")?;
        let mut ews_app_ids = Vec::new();
        for name in EWS_APP_NAMES {
            let app_id = new_id();
            applications.push(Application {
                obj: Stored::new(application_json(&app_id, name, &initial_domain, &[]), Duration::ZERO),
                secrets: Vec::new(),
                owner: None,
            });
            let sp = service_principal_json(&app_id, name, &id, "Application");
            let sp_id = sp["id"].as_str().unwrap_or("").to_string();
            service_principals.push(ServicePrincipal { obj: Stored::new(sp, Duration::ZERO), first_party: None });
            assignments.push(Stored::new(
                assignment_json(
                    &sp_id,
                    "ServicePrincipal",
                    name,
                    &exo_sp,
                    FIRST_PARTY.exchange["displayName"].as_str().unwrap_or(""),
                    &full_access,
                ),
                Duration::ZERO,
            ));
            ews_app_ids.push(app_id);
        }
        let ews = match self.config.ews {
            EwsPreset::NeverSet => EwsSettings::default(),
            EwsPreset::Off => EwsSettings { ews_enabled: Some(false), ..Default::default() },
            EwsPreset::OnEmpty => EwsSettings { ews_enabled: Some(true), ..Default::default() },
            EwsPreset::OnListed => EwsSettings {
                ews_enabled: Some(true),
                ews_allowed_app_ids: Some(ews_app_ids.join(",")),
                ..Default::default()
            },
        };

        let pem_path = self.config.state_dir.join(format!("tenant-{n}-bootstrap.pem"));
        std::fs::write(&pem_path, format!("{}{}", cred.cert_pem, cred.key_pem))
            .map_err(|e| format!("{}: {e}", pem_path.display()))?;
        restrict_permissions(&pem_path);

        // The admin, the Microsoft demo-tenant personas (mailbox users) and one administrative
        // unit holding two of them.
        let admin = User::new(&format!("admin@{initial_domain}"), "Emulator Admin");
        let mut users = vec![admin.clone()];
        users.extend(DEMO_USERS.iter().map(|(alias, name)| User::new(&format!("{alias}@{initial_domain}"), name)));
        let pilot = AdministrativeUnit {
            id: new_id(),
            display_name: PILOT_AU_NAME.into(),
            description: None,
            visibility: None,
            members: users[1..=2].iter().map(|u| u.id.clone()).collect(),
        };

        Ok(Tenant {
            admin,
            users,
            administrative_units: vec![pilot],
            groups: Vec::new(),
            rbac: ExchangeRbac::default(),
            sharepoint: SharePointSettings {
                // New tenants have legacy auth protocols enabled by default (the SharePoint
                // admin centre's default); the seed turns it on explicitly.
                legacy_auth_protocols_enabled: true,
                object_identity: format!("{}|908bed80-a04a-4433-b4a0-883d9847d11d:{}\nTenant", new_id(), id),
                tenant_properties: {
                    let mut p = SPO_TENANT_DEFAULTS.clone();
                    p.insert("RootSiteUrl".into(), format!("https://{label}.sharepoint.com").into());
                    p
                },
            },
            bootstrap: Bootstrap {
                client_id: app_id,
                client_secret: secret,
                certificate_pem_path: pem_path.display().to_string(),
                certificate_thumbprint: cred.thumbprint(),
            },
            managed_identity_sp: mi_sp,
            managed_identity_client_id: mi_client_id,
            exchange: ExchangeOrg::new(ews),
            directory_roles,
            app_policy: super::apppolicy::preset(&self.config.app_policy),
            id,
            initial_domain,
            display_name,
            created: now_iso(),
            applications,
            service_principals,
            assignments,
            grants: Vec::new(),
            device_codes: Vec::new(),
            sign_ins: Vec::new(),
            admin_consents: Vec::new(),
            delegated_admin_relationships: Vec::new(),
            auth_codes: Vec::new(),
            refresh_tokens: Vec::new(),
        })
    }

    /// Index of the tenant named by id or domain (case-insensitive).
    pub fn tenant_index(&self, tenants: &[Tenant], name: &str) -> Option<usize> {
        tenants.iter().position(|t| t.id.eq_ignore_ascii_case(name) || t.initial_domain.eq_ignore_ascii_case(name))
    }

    pub fn record(&self, mut entry: LogEntry) {
        entry.seq = self.next_seq.fetch_add(1, Ordering::Relaxed);
        self.log.lock().push(entry);
    }
}

/// The demo users seeded into every tenant (alias at the initial domain, display name): the
/// Microsoft demo-tenant personas. The first two are members of [`PILOT_AU_NAME`].
pub const DEMO_USERS: [(&str, &str); 5] = [
    ("adelev", "Adele Vance"),
    ("alexw", "Alex Wilber"),
    ("meganb", "Megan Bowen"),
    ("nestorw", "Nestor Wilke"),
    ("leeg", "Lee Gu"),
];

/// The administrative unit seeded into every tenant (members: AdeleV and AlexW).
pub const PILOT_AU_NAME: &str = "KODO backup pilot";

/// Display names of the two EWS apps seeded into every tenant (the `on-listed` allow list).
pub const EWS_APP_NAMES: [&str; 2] = ["Mail archiver (EWS)", "Mail migration (EWS)"];

/// A new client secret: 40 characters, as current Entra secrets are (facts.md §3.7 allows 16–64).
pub fn generate_secret() -> String {
    use rand::Rng;
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789~._-";
    let mut rng = rand::rng();
    (0..40).map(|_| ALPHABET[rng.random_range(0..ALPHABET.len())] as char).collect()
}

pub fn unix_to_iso(secs: i64) -> String {
    chrono::DateTime::from_timestamp(secs, 0).unwrap_or_default().to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// The application object Graph creates (facts.md §3.2 response shape).
pub fn application_json(
    app_id: &str,
    display_name: &str,
    publisher_domain: &str,
    tags: &[String],
) -> Map<String, Value> {
    let v = json!({
        "id": new_id(),
        "deletedDateTime": null,
        "appId": app_id,
        "applicationTemplateId": null,
        "identifierUris": [],
        "createdDateTime": now_iso(),
        "description": null,
        "displayName": display_name,
        "notes": null,
        "publisherDomain": publisher_domain,
        "signInAudience": "AzureADMyOrg",
        "tags": tags,
        "api": { "requestedAccessTokenVersion": null, "acceptMappedClaims": null, "knownClientApplications": [], "oauth2PermissionScopes": [], "preAuthorizedApplications": [] },
        "appRoles": [],
        "isFallbackPublicClient": false,
        "info": { "termsOfServiceUrl": null, "supportUrl": null, "privacyStatementUrl": null, "marketingUrl": null, "logoUrl": null },
        "keyCredentials": [],
        "parentalControlSettings": { "countriesBlockedForMinors": [], "legalAgeGroupRule": "Allow" },
        "passwordCredentials": [],
        "publicClient": { "redirectUris": [] },
        "requiredResourceAccess": [],
        "web": { "redirectUris": [], "homePageUrl": null, "logoutUrl": null,
                 "implicitGrantSettings": { "enableIdTokenIssuance": false, "enableAccessTokenIssuance": false } }
    });
    match v {
        Value::Object(m) => m,
        _ => Map::new(),
    }
}

/// An appRoleAssignment (facts.md §3.9 response shape).
pub fn assignment_json(
    principal_id: &str,
    principal_type: &str,
    principal_name: &str,
    resource_id: &str,
    resource_name: &str,
    app_role_id: &str,
) -> Map<String, Value> {
    let v = json!({
        "id": assignment_id(principal_id),
        "deletedDateTime": null,
        "appRoleId": app_role_id,
        "createdDateTime": now_iso(),
        "principalDisplayName": principal_name,
        "principalId": principal_id,
        "principalType": principal_type,
        "resourceDisplayName": resource_name,
        "resourceId": resource_id,
    });
    match v {
        Value::Object(m) => m,
        _ => Map::new(),
    }
}

#[cfg(unix)]
fn restrict_permissions(path: &std::path::Path) {
    use std::os::unix::fs::PermissionsExt;
    let _ = std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600));
}

#[cfg(not(unix))]
fn restrict_permissions(_path: &std::path::Path) {}
