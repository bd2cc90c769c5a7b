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

pub fn now_iso() -> String {
    // Graph timestamps: ISO 8601 UTC with 'Z' (facts.md §3.2 examples).
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

pub fn iso_after(days: i64) -> String {
    (chrono::Utc::now() + chrono::Duration::days(days)).to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
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
    /// `_ObjectIdentity_` of the CSOM Tenant object.
    pub object_identity: String,
}

/// The signed-in admin of device-code sign-ins (a Global Administrator).
#[derive(Clone, Debug)]
pub struct User {
    pub id: String,
    pub user_principal_name: String,
    pub display_name: String,
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
    pub refresh_tokens: Vec<RefreshToken>,
    pub admin: User,
    pub bootstrap: Bootstrap,
    /// Object id of the tenant's managed identity (Azure Automation account).
    pub managed_identity_sp: String,
    pub managed_identity_client_id: String,
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
];
/// SharePoint app roles of the bootstrap app (CSOM tenant settings need Sites.FullControl.All,
/// facts.md §5.1).
pub const BOOTSTRAP_SHAREPOINT_ROLES: &[&str] = &["Sites.FullControl.All"];

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
