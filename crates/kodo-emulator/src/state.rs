//! The emulated directory: tenants, their applications, service principals, app role
//! assignments, delegated permission grants and SharePoint settings.
//!
//! Objects are kept in their Graph JSON form (what Graph returns), with the few things Graph
//! never returns (secret texts, creation instants for replication lag) kept beside them.

use serde_json::{Map, Value, json};
use std::sync::{Arc, LazyLock};
use std::time::{Duration, Instant};
use uuid::Uuid;

/// The first-party service principals, from `fixtures/` (real dumps; see SOURCES.md there).
pub struct FirstParty {
    pub graph: Value,
    pub sharepoint: Value,
    pub exchange: Value,
    pub aad_graph: Value,
}

/// The CSOM Tenant object's properties every tenant starts with (fixtures/SOURCES.md).
pub static SPO_TENANT_DEFAULTS: LazyLock<Map<String, Value>> = LazyLock::new(|| {
    serde_json::from_str(include_str!("../fixtures/spo-tenant-defaults.json")).expect("spo tenant fixture")
});

pub static FIRST_PARTY: LazyLock<FirstParty> = LazyLock::new(|| FirstParty {
    graph: serde_json::from_str(include_str!("../fixtures/msgraph-sp.json")).expect("msgraph fixture"),
    sharepoint: serde_json::from_str(include_str!("../fixtures/sharepoint-sp.json")).expect("sharepoint fixture"),
    exchange: serde_json::from_str(include_str!("../fixtures/exchange-sp.json")).expect("exchange fixture"),
    aad_graph: serde_json::from_str(include_str!("../fixtures/aadgraph-sp.json")).expect("aad graph fixture"),
});

/// Microsoft Graph's appId (facts.md §1.1).
pub const GRAPH_APP_ID: &str = "00000003-0000-0000-c000-000000000000";
/// Office 365 SharePoint Online's appId (facts.md §1.1).
pub const SHAREPOINT_APP_ID: &str = "00000003-0000-0ff1-ce00-000000000000";
/// Office 365 Exchange Online's appId (facts.md §1.1; docs/exchange-research.md §3.2, §4).
pub const EXCHANGE_APP_ID: &str = "00000002-0000-0ff1-ce00-000000000000";

/// Entra role template id of Exchange Administrator (docs/exchange-research.md §4).
pub const EXCHANGE_ADMINISTRATOR_ROLE: &str = "29232cdf-9323-42fd-ade2-1d097af3e4de";
/// Entra role template id of Global Administrator (the `wids` of the emulator's admin).
pub const GLOBAL_ADMINISTRATOR_ROLE: &str = "62e90394-69f5-4237-9190-012177145e10";

impl FirstParty {
    pub fn all(&self) -> [&Value; 4] {
        [&self.graph, &self.sharepoint, &self.exchange, &self.aad_graph]
    }
}

/// Value of an appRole of a first-party resource, by name.
pub fn role_id(resource: &Value, value: &str) -> Option<String> {
    resource["appRoles"]
        .as_array()?
        .iter()
        .find(|r| r["value"] == value)
        .and_then(|r| r["id"].as_str())
        .map(str::to_string)
}

/// How far the services' clock is ahead of this machine's, in milliseconds (negative: behind).
/// Microsoft's servers keep their own time and an admin's machine may be off it; every time the
/// emulator stamps or checks (createdDateTime, token lifetimes, the `Date` header) is read
/// through [`now`]. One per process (the emulator serves one world); `clockOffsetMs` in
/// `/_emulator/settings`.
static CLOCK_OFFSET_MS: std::sync::atomic::AtomicI64 = std::sync::atomic::AtomicI64::new(0);

/// The services' time: this machine's, moved by the clock offset.
pub fn now() -> chrono::DateTime<chrono::Utc> {
    chrono::Utc::now() + chrono::Duration::milliseconds(clock_offset_ms())
}

pub fn clock_offset_ms() -> i64 {
    CLOCK_OFFSET_MS.load(std::sync::atomic::Ordering::Relaxed)
}

pub fn set_clock_offset_ms(ms: i64) {
    CLOCK_OFFSET_MS.store(ms, std::sync::atomic::Ordering::Relaxed);
}

pub fn now_iso() -> String {
    // Graph timestamps: ISO 8601 UTC with 'Z' (facts.md §3.2 examples).
    now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

pub fn iso_after(days: i64) -> String {
    (now() + chrono::Duration::days(days)).to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// A directory object with the instant it becomes visible to every replica.
#[derive(Clone, Debug)]
pub struct Stored {
    pub json: Map<String, Value>,
    pub visible_at: Instant,
}

impl Stored {
    pub fn new(json: Map<String, Value>, lag: Duration) -> Self {
        Stored { json, visible_at: Instant::now() + lag }
    }
    pub fn visible(&self) -> bool {
        Instant::now() >= self.visible_at
    }
    pub fn id(&self) -> &str {
        self.json.get("id").and_then(Value::as_str).unwrap_or("")
    }
    pub fn str(&self, key: &str) -> &str {
        self.json.get(key).and_then(Value::as_str).unwrap_or("")
    }
}

/// A client secret as the directory keeps it (Graph never returns `secretText` again).
#[derive(Clone, Debug)]
pub struct Secret {
    pub key_id: String,
    pub text: String,
}

#[derive(Clone, Debug)]
pub struct Application {
    pub obj: Stored,
    pub secrets: Vec<Secret>,
    /// Object id of the service principal that created it (Application.ReadWrite.OwnedBy).
    pub owner: Option<String>,
}

#[derive(Clone, Debug)]
pub struct ServicePrincipal {
    pub obj: Stored,
    /// For first-party resources: their fixture (appRoles and scopes are served from it).
    pub first_party: Option<&'static Value>,
}

/// A device code waiting for the user (facts.md §4.1).
#[derive(Clone, Debug)]
pub struct DeviceCode {
    pub device_code: String,
    pub user_code: String,
    pub client_id: String,
    pub scope: String,
    pub expires_at: Instant,
    pub approved: bool,
    pub declined: bool,
}

/// A browser sign-in waiting on the emulator's sign-in page (the stand-in for
/// login.microsoftonline.com's), from `GET /{tenant}/oauth2/v2.0/authorize`.
#[derive(Clone, Debug)]
pub struct PendingSignIn {
    pub id: String,
    pub client_id: String,
    pub redirect_uri: String,
    pub scope: String,
    pub state: Option<String>,
    pub code_challenge: Option<String>,
    pub code_challenge_method: String,
    /// `query`, `fragment` or `form_post`: how the answer goes back to the client.
    pub response_mode: String,
    pub expires_at: Instant,
}

/// An admin consent page waiting for the admin's answer (adminconsent.rs), from
/// `GET /{tenant}/v2.0/adminconsent` or the v1 `GET /{tenant}/adminconsent`.
#[derive(Clone, Debug)]
pub struct PendingAdminConsent {
    pub id: String,
    pub client_id: String,
    pub redirect_uri: String,
    /// The v2 `scope` as sent (empty for v1, which works as `/.default`).
    pub scope: String,
    pub state: Option<String>,
    /// The v1 endpoint: its success redirect carries no `scope`.
    pub v1: bool,
    /// `organizations` or `common` in the path: the tenant is the signing-in admin's.
    pub any_tenant: bool,
    pub expires_at: Instant,
}

/// An authorization code issued to a browser sign-in (docs/signin-research.md §7.1-7.2).
#[derive(Clone, Debug)]
pub struct AuthCode {
    pub code: String,
    pub client_id: String,
    pub redirect_uri: String,
    pub scope: String,
    pub code_challenge: Option<String>,
    pub code_challenge_method: String,
    pub expires_at: Instant,
    pub redeemed: bool,
}

/// A refresh token (user + client bound, not resource bound: facts.md §4.4).
#[derive(Clone, Debug)]
pub struct RefreshToken {
    pub token: String,
    pub client_id: String,
    pub scopes: Vec<String>,
}

/// SharePoint tenant settings that Kodo reads and writes (facts.md §5.1–5.2).
#[derive(Clone, Debug)]
pub struct SharePointSettings {
    pub legacy_auth_protocols_enabled: bool,
    /// The CSOM Tenant object's other properties (`fixtures/spo-tenant-defaults.json`), as
    /// `Set-SPOTenant` and CLI for Microsoft 365 read and set them.
    pub tenant_properties: Map<String, Value>,
    /// `_ObjectIdentity_` of the CSOM Tenant object.
    pub object_identity: String,
}

/// The EWS settings of the Exchange Online organization (`Get/Set-OrganizationConfig`,
/// docs/exchange-research.md §2). `None` is PowerShell's `$null` ("not configured").
#[derive(Clone, Debug, Default, PartialEq)]
pub struct EwsSettings {
    pub ews_enabled: Option<bool>,
    /// One comma-joined string, as written and read back (§2.1, §2.2).
    pub ews_allowed_app_ids: Option<String>,
    /// `EnforceAllowList` or `EnforceBlockList`.
    pub ews_application_access_policy: Option<String>,
    /// User-agent patterns (`*` wildcards).
    pub ews_allow_list: Option<Vec<String>>,
    pub ews_block_list: Option<Vec<String>>,
}

impl EwsSettings {
    /// The app ids of `EwsAllowedAppIDs`, split on commas, trimmed, empty ones dropped.
    pub fn allowed_app_ids(&self) -> Vec<String> {
        self.ews_allowed_app_ids
            .as_deref()
            .unwrap_or("")
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_string)
            .collect()
    }
}

/// The Exchange Online organization: what was written (what Get-OrganizationConfig shows at
/// once) and what EWS enforces, which lags behind by the emulator's EWS propagation delay
/// ("Changes to `EwsAllowedAppIDs` can take up to 24 hours to take effect", §2.1).
#[derive(Clone, Debug)]
pub struct ExchangeOrg {
    /// The organization object's `Guid` (its own id, not the tenant id).
    pub guid: String,
    pub written: EwsSettings,
    pub effective: EwsSettings,
    /// Written settings not yet in force, oldest first, with the instant they were written.
    pub pending: Vec<(Instant, EwsSettings)>,
    /// `EwsEnabled` `$null` blocks EWS (the rollout from 2026-10-01 reached the tenant,
    /// facts.md §8.4); false: `$null` still allows EWS.
    pub null_blocked: bool,
}

impl ExchangeOrg {
    pub fn new(settings: EwsSettings) -> Self {
        ExchangeOrg {
            guid: new_id(),
            written: settings.clone(),
            effective: settings,
            pending: Vec::new(),
            null_blocked: true,
        }
    }

    /// Records a write: shown at once, enforced after the propagation delay.
    pub fn write(&mut self, settings: EwsSettings) {
        self.written = settings.clone();
        self.pending.push((Instant::now(), settings));
    }

    /// The settings EWS enforces now, given the propagation delay.
    pub fn effective_now(&mut self, delay: Duration) -> &EwsSettings {
        let now = Instant::now();
        while self.pending.first().is_some_and(|(at, _)| *at + delay <= now) {
            let (_, s) = self.pending.remove(0);
            self.effective = s;
        }
        &self.effective
    }

    /// Puts everything written into force at once.
    pub fn make_effective(&mut self) {
        self.effective = self.written.clone();
        self.pending.clear();
    }
}

/// A member of an Entra directory role (by role template id), e.g. a service principal
/// holding Exchange Administrator.
#[derive(Clone, Debug, PartialEq)]
pub struct DirectoryRoleMember {
    pub role_template_id: String,
    pub principal_id: String,
}

/// A user with a mailbox: the signed-in admin of device-code sign-ins (a Global
/// Administrator) and the seeded demo users.
#[derive(Clone, Debug)]
pub struct User {
    pub id: String,
    pub user_principal_name: String,
    pub display_name: String,
    /// The primary SMTP address (the emulator gives every user mail = UPN).
    pub mail: String,
    pub given_name: Option<String>,
    pub surname: Option<String>,
}

impl User {
    pub fn new(user_principal_name: &str, display_name: &str) -> User {
        let (given, sur) = match display_name.split_once(' ') {
            Some((g, s)) => (Some(g.to_string()), Some(s.to_string())),
            None => (None, None),
        };
        User {
            id: new_id(),
            user_principal_name: user_principal_name.to_string(),
            display_name: display_name.to_string(),
            mail: user_principal_name.to_string(),
            given_name: given,
            surname: sur,
        }
    }

    /// True if `address` is this user's UPN or mail (case-insensitive).
    pub fn has_address(&self, address: &str) -> bool {
        self.user_principal_name.eq_ignore_ascii_case(address) || self.mail.eq_ignore_ascii_case(address)
    }
}

/// An Entra administrative unit (Graph `administrativeUnit`: id, displayName, description,
/// visibility; docs/exchange-rbac-research.md §4.1). Members are user object ids.
#[derive(Clone, Debug)]
pub struct AdministrativeUnit {
    pub id: String,
    pub display_name: String,
    pub description: Option<String>,
    /// `null` (public) or `HiddenMembership`.
    pub visibility: Option<String>,
    pub members: Vec<String>,
}

/// An Entra group, read-only through Graph (docs/group-research.md): a security group, or a
/// Microsoft 365 group (`groupTypes` ["Unified"], mail-enabled).
#[derive(Clone, Debug)]
pub struct Group {
    pub id: String,
    pub display_name: String,
    pub description: Option<String>,
    pub mail_nickname: String,
    /// A Microsoft 365 group (else a security group).
    pub unified: bool,
    pub created: String,
}

/// An Exchange Online service principal: a pointer to an Entra service principal
/// (`New-ServicePrincipal`, docs/exchange-rbac-research.md §1.1, §2).
#[derive(Clone, Debug)]
pub struct ExoServicePrincipal {
    /// The pointer's Identity: the Entra SP object id (UNCONFIRMED: Exchange's own form).
    pub identity: String,
    pub app_id: String,
    pub object_id: String,
    pub display_name: String,
}

/// A management role assignment of an application role to a pointer
/// (`New-ManagementRoleAssignment -App`, docs/exchange-rbac-research.md §2).
#[derive(Clone, Debug)]
pub struct RbacAssignment {
    pub name: String,
    /// The role's name as the emulator knows it (canonical spelling).
    pub role: String,
    /// The pointer's object id.
    pub assignee: String,
    /// The administrative unit it is scoped to; `None`: the organization.
    pub au_scope: Option<String>,
    /// When it was made (or last re-scoped): it is in force after the RBAC propagation delay.
    pub created_at: Instant,
}

/// RBAC for Applications state of the Exchange organization.
#[derive(Clone, Debug, Default)]
pub struct ExchangeRbac {
    pub service_principals: Vec<ExoServicePrincipal>,
    pub assignments: Vec<RbacAssignment>,
}

pub struct Tenant {
    pub id: String,
    pub initial_domain: String,
    pub display_name: String,
    pub created: String,
    pub applications: Vec<Application>,
    pub service_principals: Vec<ServicePrincipal>,
    pub assignments: Vec<Stored>,
    pub grants: Vec<Stored>,
    pub sharepoint: SharePointSettings,
    pub device_codes: Vec<DeviceCode>,
    pub sign_ins: Vec<PendingSignIn>,
    /// Admin consent pages waiting for the customer admin's answer (adminconsent.rs).
    pub admin_consents: Vec<PendingAdminConsent>,
    /// GDAP: this (partner) tenant's delegated admin relationships (gdap.rs).
    pub delegated_admin_relationships: Vec<Map<String, Value>>,
    pub auth_codes: Vec<AuthCode>,
    pub refresh_tokens: Vec<RefreshToken>,
    pub admin: User,
    /// Every user with a mailbox (the admin included, with the same id).
    pub users: Vec<User>,
    pub administrative_units: Vec<AdministrativeUnit>,
    pub groups: Vec<Group>,
    /// Exchange RBAC for Applications: service principal pointers and role assignments.
    pub rbac: ExchangeRbac,
    pub bootstrap: Bootstrap,
    /// Object id of the tenant's managed identity (Azure Automation account).
    pub managed_identity_sp: String,
    pub managed_identity_client_id: String,
    /// Exchange Online organization settings (EWS).
    pub exchange: ExchangeOrg,
    /// Directory role members that are service principals (the admin user's roles are in
    /// its tokens' `wids`).
    pub directory_roles: Vec<DirectoryRoleMember>,
    /// The tenant default app management policy (`tenantAppManagementPolicy`,
    /// docs/app-policy-research.md §1), without `@odata` annotations.
    pub app_policy: Map<String, Value>,
}

/// The credentials the emulator prints for each tenant: an app standing in for the admin.
#[derive(Clone, Debug)]
pub struct Bootstrap {
    pub client_id: String,
    pub client_secret: String,
    pub certificate_pem_path: String,
    pub certificate_thumbprint: String,
}

/// Graph app roles the bootstrap app (and the managed identity) hold: what an admin running
/// Kodo needs (facts.md §3.1), plus reading the org and sites.
pub const BOOTSTRAP_GRAPH_ROLES: &[&str] = &[
    "Application.ReadWrite.All",
    "AppRoleAssignment.ReadWrite.All",
    "DelegatedPermissionGrant.ReadWrite.All",
    "Organization.Read.All",
    "Sites.Read.All",
    "SharePointTenantSettings.ReadWrite.All",
    // Reading app management policies (docs/app-policy-research.md §2.3).
    "Policy.Read.All",
    // -MailboxScope: the administrative unit, its members and the tenant's users
    // (docs/exchange-rbac-research.md §4.1).
    "AdministrativeUnit.Read.All",
    "User.Read.All",
    // Reading groups, as an admin does (CLI for Microsoft 365's `entra group list`).
    "Group.Read.All",
];
/// SharePoint app roles of the bootstrap app (CSOM tenant settings need Sites.FullControl.All,
/// facts.md §5.1).
pub const BOOTSTRAP_SHAREPOINT_ROLES: &[&str] = &["Sites.FullControl.All"];
/// Exchange app roles of the bootstrap app and the managed identity: Exchange Online
/// PowerShell app-only (docs/exchange-research.md §4).
pub const BOOTSTRAP_EXCHANGE_ROLES: &[&str] = &["Exchange.ManageAsApp"];

pub fn new_id() -> String {
    Uuid::new_v4().to_string()
}

/// .NET `Guid.ToByteArray` order (first three fields little-endian), as Graph's ids use.
pub fn guid_bytes_le(guid: &str) -> [u8; 16] {
    let u = Uuid::parse_str(guid).unwrap_or_default();
    let b = *u.as_bytes();
    [b[3], b[2], b[1], b[0], b[5], b[4], b[7], b[6], b[8], b[9], b[10], b[11], b[12], b[13], b[14], b[15]]
}

/// appRoleAssignment id: base64url of principalId (bytes_le) + 16 opaque bytes (facts.md §3.9,
/// observed format).
pub fn assignment_id(principal_id: &str) -> String {
    let mut bytes = guid_bytes_le(principal_id).to_vec();
    bytes.extend_from_slice(Uuid::new_v4().as_bytes());
    super::pki::b64url(&bytes)
}

/// oauth2PermissionGrant id for AllPrincipals: base64url(clientId_le ‖ resourceId_le)
/// (facts.md §3.10, observed format).
pub fn grant_id(client_id: &str, resource_id: &str) -> String {
    let mut bytes = guid_bytes_le(client_id).to_vec();
    bytes.extend_from_slice(&guid_bytes_le(resource_id));
    super::pki::b64url(&bytes)
}

impl Tenant {
    pub fn label(&self) -> &str {
        self.initial_domain.split('.').next().unwrap_or("")
    }
    pub fn sharepoint_host(&self) -> String {
        format!("{}.sharepoint.com", self.label())
    }
    pub fn sharepoint_admin_host(&self) -> String {
        format!("{}-admin.sharepoint.com", self.label())
    }

    pub fn app_by_app_id(&self, app_id: &str) -> Option<&Application> {
        self.applications.iter().find(|a| a.obj.str("appId").eq_ignore_ascii_case(app_id))
    }
    pub fn sp_by_app_id(&self, app_id: &str) -> Option<&ServicePrincipal> {
        self.service_principals.iter().find(|s| s.obj.str("appId").eq_ignore_ascii_case(app_id))
    }
    pub fn sp_by_id(&self, id: &str) -> Option<&ServicePrincipal> {
        self.service_principals.iter().find(|s| s.obj.id().eq_ignore_ascii_case(id))
    }

    /// Values of the app roles `principal_id` holds on the resource SP `resource_id`.
    pub fn roles_of(&self, principal_id: &str, resource_id: &str) -> Vec<String> {
        let Some(resource) = self.sp_by_id(resource_id) else { return Vec::new() };
        let roles = resource.first_party.and_then(|f| f["appRoles"].as_array());
        self.assignments
            .iter()
            .filter(|a| a.str("principalId") == principal_id && a.str("resourceId") == resource_id)
            .filter_map(|a| {
                roles?
                    .iter()
                    .find(|r| r["id"] == a.json["appRoleId"])
                    .and_then(|r| r["value"].as_str())
                    .map(str::to_string)
            })
            .collect()
    }

    /// True if `principal_id` (a service principal) holds any of the directory roles `templates`.
    pub fn holds_directory_role(&self, principal_id: &str, templates: &[&str]) -> bool {
        self.directory_roles.iter().any(|m| {
            m.principal_id.eq_ignore_ascii_case(principal_id)
                && templates.iter().any(|t| t.eq_ignore_ascii_case(&m.role_template_id))
        })
    }

    /// Object ids of the service principals holding Exchange Administrator.
    pub fn exchange_administrators(&self) -> Vec<String> {
        self.directory_roles
            .iter()
            .filter(|m| m.role_template_id == EXCHANGE_ADMINISTRATOR_ROLE)
            .map(|m| m.principal_id.clone())
            .collect()
    }

    /// The user whose object id or UPN is `key` (case-insensitive).
    pub fn user(&self, key: &str) -> Option<&User> {
        self.users.iter().find(|u| u.id.eq_ignore_ascii_case(key) || u.user_principal_name.eq_ignore_ascii_case(key))
    }

    /// The user whose UPN or mail is `address`.
    pub fn user_by_address(&self, address: &str) -> Option<&User> {
        self.users.iter().find(|u| u.has_address(address))
    }

    pub fn administrative_unit(&self, id: &str) -> Option<&AdministrativeUnit> {
        self.administrative_units.iter().find(|a| a.id.eq_ignore_ascii_case(id))
    }

    /// Drops the Exchange pointers whose Entra service principal is gone, with their role
    /// assignments ("Deleted service principals in Microsoft Entra are also removed in Exchange
    /// automatically. This removal deletes any assignments", docs/exchange-rbac-research.md
    /// §1.1, HIGH). Done lazily, before every read of the pointers.
    pub fn prune_rbac(&mut self) {
        let gone: Vec<String> = self
            .rbac
            .service_principals
            .iter()
            .filter(|p| self.sp_by_id(&p.object_id).is_none())
            .map(|p| p.object_id.clone())
            .collect();
        if gone.is_empty() {
            return;
        }
        self.rbac.service_principals.retain(|p| !gone.contains(&p.object_id));
        self.rbac.assignments.retain(|a| !gone.iter().any(|g| g.eq_ignore_ascii_case(&a.assignee)));
    }

    /// Delegated scopes granted tenant-wide (AllPrincipals) to a client on a resource.
    pub fn granted_scopes(&self, client_sp_id: &str, resource_id: &str) -> Vec<String> {
        self.grants
            .iter()
            .filter(|g| g.str("clientId") == client_sp_id && g.str("resourceId") == resource_id)
            .flat_map(|g| g.str("scope").split_whitespace().map(str::to_string).collect::<Vec<_>>())
            .collect()
    }
}

/// Builds a service principal object for an application (facts.md §3.5 shape).
pub fn service_principal_json(app_id: &str, display_name: &str, owner_tenant: &str, kind: &str) -> Map<String, Value> {
    let mut m = Map::new();
    m.insert("id".into(), new_id().into());
    m.insert("deletedDateTime".into(), Value::Null);
    m.insert("accountEnabled".into(), true.into());
    m.insert("appDisplayName".into(), display_name.into());
    m.insert("appId".into(), app_id.into());
    m.insert("appOwnerOrganizationId".into(), owner_tenant.into());
    m.insert("appRoleAssignmentRequired".into(), false.into());
    m.insert("displayName".into(), display_name.into());
    m.insert("servicePrincipalNames".into(), json!([app_id]));
    m.insert("servicePrincipalType".into(), kind.into());
    m.insert("signInAudience".into(), "AzureADMyOrg".into());
    m.insert("tags".into(), json!([]));
    m.insert("appRoles".into(), json!([]));
    m.insert("keyCredentials".into(), json!([]));
    m.insert("oauth2PermissionScopes".into(), json!([]));
    m.insert("passwordCredentials".into(), json!([]));
    m
}

/// A first-party service principal object in a tenant: fixture fields, tenant-specific id.
pub fn first_party_sp(fixture: &'static Value) -> ServicePrincipal {
    let mut m = Map::new();
    m.insert("id".into(), new_id().into());
    m.insert("deletedDateTime".into(), Value::Null);
    m.insert("accountEnabled".into(), true.into());
    for key in ["appId", "displayName", "appOwnerOrganizationId", "servicePrincipalNames"] {
        m.insert(key.into(), fixture[key].clone());
    }
    m.insert("appDisplayName".into(), fixture["displayName"].clone());
    m.insert("servicePrincipalType".into(), "Application".into());
    m.insert("tags".into(), json!([]));
    ServicePrincipal { obj: Stored::new(m, Duration::ZERO), first_party: Some(fixture) }
}

/// The JSON Graph returns for a service principal (first-party ones with their roles/scopes).
pub fn sp_view(sp: &ServicePrincipal) -> Map<String, Value> {
    let mut m = sp.obj.json.clone();
    if let Some(f) = sp.first_party {
        m.insert("appRoles".into(), f["appRoles"].clone());
        m.insert("oauth2PermissionScopes".into(), f["oauth2PermissionScopes"].clone());
    }
    m
}

pub type Shared<T> = Arc<parking_lot::Mutex<T>>;
