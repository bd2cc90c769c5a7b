//! Typed Microsoft Graph v1.0 objects, as Kodo reads and writes them (property names from
//! Graph's metadata, facts.md §3: META `schemas/v1.0-Prod.csdl`). Every property is optional:
//! a read with `$select` returns only what it names, and an absent or null property is the same
//! to Graph. Serialized back, an object has the same property names, so it can travel up to
//! PowerShell unchanged.

use serde::{Deserialize, Serialize};

/// Graph's answer to a collection read: one page.
#[derive(Debug, Clone, Deserialize)]
pub struct Page<T> {
    #[serde(default = "Vec::new")]
    pub value: Vec<T>,
    #[serde(rename = "@odata.nextLink", default)]
    pub next_link: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Application {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub app_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sign_in_audience: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_date_time: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notes: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tags: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password_credentials: Option<Vec<PasswordCredential>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_credentials: Option<Vec<KeyCredential>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub required_resource_access: Option<Vec<RequiredResourceAccess>>,
}

impl Application {
    pub fn id(&self) -> &str {
        self.id.as_deref().unwrap_or("")
    }
    pub fn app_id(&self) -> &str {
        self.app_id.as_deref().unwrap_or("")
    }
    pub fn display_name(&self) -> &str {
        self.display_name.as_deref().unwrap_or("")
    }
    pub fn password_credentials(&self) -> &[PasswordCredential] {
        self.password_credentials.as_deref().unwrap_or(&[])
    }
    pub fn key_credentials(&self) -> &[KeyCredential] {
        self.key_credentials.as_deref().unwrap_or(&[])
    }
    pub fn required_resource_access(&self) -> &[RequiredResourceAccess] {
        self.required_resource_access.as_deref().unwrap_or(&[])
    }
    /// `'name' (appId …)`, how an app is named in a message.
    pub fn label(&self) -> String {
        format!("'{}' (appId {})", self.display_name(), self.app_id())
    }
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ServicePrincipal {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub app_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub app_owner_organization_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_principal_names: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub app_roles: Option<Vec<AppRole>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub oauth2_permission_scopes: Option<Vec<PermissionScope>>,
}

impl ServicePrincipal {
    pub fn id(&self) -> &str {
        self.id.as_deref().unwrap_or("")
    }
    pub fn app_roles(&self) -> &[AppRole] {
        self.app_roles.as_deref().unwrap_or(&[])
    }
    pub fn oauth2_permission_scopes(&self) -> &[PermissionScope] {
        self.oauth2_permission_scopes.as_deref().unwrap_or(&[])
    }
    /// What Kodo keeps of a resource API's service principal: its ids and, of each app role
    /// and delegated scope, the id, the name and who may hold it (not the descriptions, which
    /// are most of Microsoft Graph's 800 KB).
    pub fn compact(self) -> ServicePrincipal {
        ServicePrincipal {
            id: self.id,
            app_id: self.app_id,
            display_name: self.display_name,
            app_owner_organization_id: None,
            service_principal_names: None,
            app_roles: self.app_roles.map(|roles| {
                roles
                    .into_iter()
                    .map(|r| AppRole {
                        id: r.id,
                        value: r.value,
                        allowed_member_types: r.allowed_member_types,
                        ..Default::default()
                    })
                    .collect()
            }),
            oauth2_permission_scopes: self.oauth2_permission_scopes.map(|scopes| {
                scopes.into_iter().map(|s| PermissionScope { id: s.id, value: s.value, ..Default::default() }).collect()
            }),
        }
    }
}

/// An application permission a resource API offers.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AppRole {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allowed_member_types: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub is_enabled: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub origin: Option<String>,
}

impl AppRole {
    /// Whether an application (not only a user or group) may hold it.
    pub fn for_applications(&self) -> bool {
        self.allowed_member_types.as_deref().is_some_and(|m| m.iter().any(|x| x == "Application"))
    }
}

/// A delegated permission a resource API offers.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PermissionScope {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub admin_consent_display_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub admin_consent_description: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_consent_display_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_consent_description: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub is_enabled: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub origin: Option<String>,
}

/// An application permission granted (admin consent for an app role).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AppRoleAssignment {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub app_role_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub principal_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub principal_display_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub principal_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource_display_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_date_time: Option<String>,
}

impl AppRoleAssignment {
    /// (resource service principal id, app role id), lower-case: what makes an assignment.
    pub fn key(&self) -> (String, String) {
        (
            self.resource_id.as_deref().unwrap_or("").to_ascii_lowercase(),
            self.app_role_id.as_deref().unwrap_or("").to_ascii_lowercase(),
        )
    }
}

/// Delegated permissions granted (admin consent for all users when `consentType` is
/// `AllPrincipals`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OAuth2PermissionGrant {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub consent_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub principal_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
}

impl OAuth2PermissionGrant {
    pub fn for_all_principals(&self) -> bool {
        self.consent_type.as_deref() == Some("AllPrincipals")
    }
    pub fn is_for_resource(&self, resource_sp_id: &str) -> bool {
        self.resource_id.as_deref().is_some_and(|r| r.eq_ignore_ascii_case(resource_sp_id))
    }
    /// The scopes granted, as `scope` lists them (space-separated).
    pub fn scopes(&self) -> Vec<String> {
        self.scope.as_deref().unwrap_or("").split_whitespace().map(str::to_string).collect()
    }
}

/// A client secret (its text only in addPassword's answer).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PasswordCredential {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hint: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_date_time: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub end_date_time: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub custom_key_identifier: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_text: Option<String>,
}

/// A certificate credential. `keyCredentials` is replaced as a whole by PATCH (facts.md §3.4,
/// §3.8), so every property read is sent back.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct KeyCredential {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub usage: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub custom_key_identifier: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_date_time: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub end_date_time: Option<String>,
}

/// When a credential expires, if its end date can be read.
pub fn end_of(end_date_time: Option<&str>) -> Option<chrono::DateTime<chrono::Utc>> {
    end_date_time.and_then(|e| chrono::DateTime::parse_from_rfc3339(e).ok()).map(|e| e.with_timezone(&chrono::Utc))
}

/// The API permissions an app declares for one resource API.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RequiredResourceAccess {
    pub resource_app_id: String,
    #[serde(default)]
    pub resource_access: Vec<ResourceAccess>,
}

/// One declared permission: an app role (`Role`) or a delegated scope (`Scope`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ResourceAccess {
    pub id: String,
    #[serde(rename = "type")]
    pub kind: String,
}

/// One credential restriction of an app management policy (facts.md §8.5;
/// docs/app-policy-research.md §1.3: passwordCredentialConfiguration / keyCredentialConfiguration).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CredentialRestriction {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub restriction_type: Option<String>,
    /// ISO-8601 duration, e.g. `P90D`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_lifetime: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub restrict_for_apps_created_after_date_time: Option<String>,
    /// `enabled` or `disabled` (absent: enabled).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<String>,
}

/// The credential restrictions of a policy for applications.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AppRestrictions {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password_credentials: Option<Vec<CredentialRestriction>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_credentials: Option<Vec<CredentialRestriction>>,
}

/// The tenant's default app management policy (`/policies/defaultAppManagementPolicy`) or a
/// custom one (`/policies/appManagementPolicies`, `restrictions`), as far as Kodo reads them.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AppManagementPolicy {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub is_enabled: Option<bool>,
    /// The tenant default's restrictions for applications.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub application_restrictions: Option<AppRestrictions>,
    /// A custom policy's restrictions.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub restrictions: Option<AppRestrictions>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    /// The real first-party service principals (the emulator's fixtures, copies of
    /// `../shared/fixtures/`).
    const FIXTURES: [&str; 4] = [
        include_str!("../../../kodo-emulator/fixtures/msgraph-sp.json"),
        include_str!("../../../kodo-emulator/fixtures/exchange-sp.json"),
        include_str!("../../../kodo-emulator/fixtures/sharepoint-sp.json"),
        include_str!("../../../kodo-emulator/fixtures/aadgraph-sp.json"),
    ];

    /// Null and absent are the same to Graph: drop nulls before comparing.
    fn without_nulls(v: Value) -> Value {
        match v {
            Value::Object(m) => {
                Value::Object(m.into_iter().filter(|(_, v)| !v.is_null()).map(|(k, v)| (k, without_nulls(v))).collect())
            }
            Value::Array(a) => Value::Array(a.into_iter().map(without_nulls).collect()),
            other => other,
        }
    }

    #[test]
    fn the_real_resource_service_principals_round_trip_through_the_typed_model() {
        for text in FIXTURES {
            let original: Value = serde_json::from_str(text).unwrap();
            let sp: ServicePrincipal = serde_json::from_value(original.clone()).unwrap();
            assert!(!sp.app_roles().is_empty() || !sp.oauth2_permission_scopes().is_empty());
            let back = serde_json::to_value(&sp).unwrap();
            assert_eq!(without_nulls(back), without_nulls(original), "{}", sp.display_name.unwrap_or_default());
        }
    }

    #[test]
    fn microsoft_graph_offers_the_roles_and_scopes_the_seed_names() {
        let sp: ServicePrincipal = serde_json::from_str(FIXTURES[0]).unwrap();
        assert_eq!(sp.app_roles().len(), 716);
        let mail = sp.app_roles().iter().find(|r| r.value.as_deref() == Some("Mail.ReadWrite")).unwrap();
        assert!(mail.for_applications());
        // facts.md §1.2 / permissions-truth.csv: Mail.ReadWrite (application).
        assert_eq!(mail.id.as_deref(), Some("e2a3a72e-5f79-4c64-b1b1-878b674786c9"));
        let compact = sp.clone().compact();
        assert_eq!(compact.app_roles().len(), 716);
        assert!(compact.app_roles().iter().all(|r| r.description.is_none()));
    }

    #[test]
    fn applications_and_grants_round_trip() {
        let app = serde_json::json!({
            "id": "8f1d4a1c-0000-4000-8000-000000000001", "appId": "8f1d4a1c-0000-4000-8000-000000000002",
            "displayName": "KODO", "tags": ["KodoManaged"],
            "passwordCredentials": [{ "keyId": "k1", "displayName": "Kodo", "hint": "abc", "endDateTime": "2028-01-01T00:00:00Z", "startDateTime": "2026-01-01T00:00:00Z" }],
            "keyCredentials": [{ "keyId": "k2", "type": "AsymmetricX509Cert", "usage": "Verify", "key": "MII=", "customKeyIdentifier": "AB", "displayName": "CN=x", "startDateTime": "2026-01-01T00:00:00Z", "endDateTime": "2027-01-01T00:00:00Z" }],
            "requiredResourceAccess": [{ "resourceAppId": "00000003-0000-0000-c000-000000000000", "resourceAccess": [{ "id": "e2a3a72e-5f79-4c64-b1b1-878b674786c9", "type": "Role" }] }]
        });
        let typed: Application = serde_json::from_value(app.clone()).unwrap();
        assert_eq!(serde_json::to_value(&typed).unwrap(), app);
        let grant = serde_json::json!({ "id": "g", "clientId": "c", "consentType": "AllPrincipals", "principalId": null, "resourceId": "R", "scope": "User.Read  Sites.Read.All" });
        let typed: OAuth2PermissionGrant = serde_json::from_value(grant).unwrap();
        assert!(typed.for_all_principals() && typed.is_for_resource("r"));
        assert_eq!(typed.scopes(), ["User.Read", "Sites.Read.All"]);
    }
}
