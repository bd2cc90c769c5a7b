//! Permission manifests: the seed's table (and KODO's newer lists) as data. One parser, and
//! one way to resolve a permission's name to its id in a tenant, used by grant and audit alike.

use crate::error::{ErrorCode, KodoError};
use crate::graph::models::ServicePrincipal;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::{BTreeMap, HashSet};

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ManifestRow {
    #[serde(default)]
    pub api: Option<String>,
    pub resource_app_id: String,
    pub permission: String,
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(default)]
    pub optional: bool,
    #[serde(default)]
    pub retired: Option<Value>,
    #[serde(default)]
    pub note: Option<String>,
}

impl ManifestRow {
    pub fn is_application(&self) -> bool {
        self.kind == "Application"
    }
    /// What makes a row unique: the resource, the name (case-insensitive) and the type.
    fn key(&self) -> (String, String, String) {
        (self.resource_app_id.to_ascii_lowercase(), self.permission.to_ascii_lowercase(), self.kind.clone())
    }
    /// How the row is named in a message.
    pub fn label(&self) -> String {
        format!(
            "{} {} ({})",
            self.api.clone().unwrap_or_else(|| self.resource_app_id.clone()),
            self.permission,
            self.kind
        )
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Manifest {
    pub schema: u32,
    #[serde(default)]
    pub name: Option<String>,
    pub permissions: Vec<ManifestRow>,
}

impl Manifest {
    /// The resource APIs the manifest names (lower-case appIds, in manifest order, once each).
    pub fn resources(&self) -> Vec<String> {
        let mut seen: Vec<String> = Vec::new();
        for r in &self.permissions {
            let id = r.resource_app_id.to_ascii_lowercase();
            if !seen.contains(&id) {
                seen.push(id);
            }
        }
        seen
    }

    /// The application permissions required of `resource` (not optional, not retired), each
    /// name once, sorted: what a token for that API must carry.
    pub fn required_roles(&self, resource_app_id: &str) -> Vec<String> {
        let mut v: Vec<String> = self
            .permissions
            .iter()
            .filter(|r| {
                r.is_application()
                    && !r.optional
                    && r.retired.is_none()
                    && r.resource_app_id.eq_ignore_ascii_case(resource_app_id)
            })
            .map(|r| r.permission.clone())
            .collect();
        v.sort_by_key(|p| p.to_ascii_lowercase());
        v.dedup_by(|a, b| a.eq_ignore_ascii_case(b));
        v
    }
}

/// Reads a manifest: the manifest itself as a JSON value, or a file as the host read it,
/// `{"file": path, "text": its text}` (parsed here, so an error names the file and the line and
/// column serde found it at). Every error names the row (1-based) it is about.
pub fn parse_manifest(v: &Value) -> Result<Manifest, KodoError> {
    let bad = |m: String| KodoError::new(ErrorCode::InvalidArgument, m);
    let file = v.get("text").and_then(Value::as_str).map(|text| (v.get("file").and_then(Value::as_str), text));
    let (what, parsed) = match file {
        Some((path, text)) => {
            let what = path.map_or_else(|| "The permission manifest".to_string(), |p| format!("The manifest '{p}'"));
            (what, serde_json::from_str::<Manifest>(text))
        }
        None => ("The permission manifest".to_string(), serde_json::from_value::<Manifest>(v.clone())),
    };
    let m = parsed.map_err(|e| bad(format!("{what} is not valid: {e}.")))?;
    if m.schema != 1 {
        return Err(bad(format!("{what} has schema {}; this Kodo reads schema 1.", m.schema)));
    }
    if m.permissions.is_empty() {
        return Err(bad(format!("{what} lists no permissions.")));
    }
    if m.permissions.len() > MAX_ROWS {
        return Err(bad(format!("{what} has {} rows; Kodo reads at most {MAX_ROWS}.", m.permissions.len())));
    }
    for (i, r) in m.permissions.iter().enumerate() {
        let n = i + 1;
        if uuid::Uuid::parse_str(&r.resource_app_id).is_err() {
            return Err(bad(format!("{what}, row {n}: resourceAppId '{}' is not a GUID.", r.resource_app_id)));
        }
        if r.permission.trim().is_empty() {
            return Err(bad(format!("{what}, row {n}: the permission name is empty.")));
        }
        // A permission's value in Entra is a short token (Mail.ReadWrite, full_access_as_app):
        // no spaces, quotes or control characters.
        if r.permission.chars().count() > 120
            || r.permission.chars().any(|c| c.is_whitespace() || c.is_control() || c == '\'' || c == '"')
        {
            return Err(bad(format!(
                "{what}, row {n}: '{}' is not a permission name (no spaces, quotes or control characters; at most 120 characters).",
                r.permission.chars().take(120).collect::<String>()
            )));
        }
        if r.kind != "Application" && r.kind != "Delegated" {
            return Err(bad(format!("{what}, row {n}: type '{}' is neither Application nor Delegated.", r.kind)));
        }
    }
    let resources = m.resources().len();
    if resources > MAX_RESOURCES {
        return Err(bad(format!(
            "{what} names {resources} resource APIs (resourceAppId); Kodo reads at most {MAX_RESOURCES}."
        )));
    }
    Ok(m)
}

/// The most rows a manifest may have (KODO's tables have 33 and 45; duplicates count).
pub const MAX_ROWS: usize = 10_000;
/// The most resource APIs a manifest may name: each is one read of its service principal.
pub const MAX_RESOURCES: usize = 50;

/// What became of a manifest row.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum RowStatus {
    Granted,
    AlreadyPresent,
    /// The API or permission is retired (the manifest says since when and what replaced it).
    Retired,
    /// This tenant's resource API does not offer the permission.
    NotOffered,
    /// The same permission appears earlier in the manifest.
    Duplicate,
    /// A dry run (or a declined step) would grant it.
    WouldGrant,
    /// Resolved, but its step was not approved.
    Skipped,
    /// A mailbox permission granted in Exchange Online, scoped (`-MailboxScope`), instead of
    /// tenant-wide in Microsoft Entra ID.
    ScopedInExchange,
}

/// One manifest row as resolved in a tenant, and later what became of it; serialized as the
/// rows Grant-KodoPermissions reports.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PermissionRow {
    /// 1-based row of the manifest (None for rows Kodo adds, such as the retired ACS grant).
    pub row: Option<usize>,
    pub api: String,
    pub resource_app_id: String,
    pub permission: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub note: Option<String>,
    /// The permission's id in this tenant.
    pub id: Option<String>,
    pub status: Option<RowStatus>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retired: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub offered: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub replacement_in_place: Option<bool>,
}

/// A row resolved to what grants it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resolved {
    /// Index into [`Resolution::rows`].
    pub row: usize,
    /// Lower-case appId of the resource API.
    pub resource_app_id: String,
    /// The resource API's service principal id in this tenant.
    pub resource_sp_id: String,
    /// Lower-case id of the app role or delegated scope.
    pub permission_id: String,
    /// An application permission (app role) rather than a delegated one.
    pub application: bool,
}

/// A manifest resolved by name against the tenant's resource APIs.
#[derive(Debug, Clone)]
pub struct Resolution {
    /// One row per manifest row (status set for duplicate, retired and missing rows).
    pub rows: Vec<PermissionRow>,
    /// The rows that can be granted.
    pub resolved: Vec<Resolved>,
    /// Required rows the tenant does not offer, named for a message.
    pub missing: Vec<String>,
}

/// The one rule that turns a permission's name into its id: an application permission is an
/// app role of the resource API that applications may hold; a delegated one is one of its
/// oauth2PermissionScopes. Names compare case-insensitively. Returns (id, the name as the API
/// spells it).
pub fn find_permission(sp: &ServicePrincipal, name: &str, application: bool) -> Option<(String, String)> {
    let hit = |value: &Option<String>| value.as_deref().is_some_and(|v| v.eq_ignore_ascii_case(name));
    if application {
        sp.app_roles()
            .iter()
            .find(|r| hit(&r.value) && r.for_applications())
            .map(|r| (r.id.clone().unwrap_or_default(), r.value.clone().unwrap_or_default()))
    } else {
        sp.oauth2_permission_scopes()
            .iter()
            .find(|s| hit(&s.value))
            .map(|s| (s.id.clone().unwrap_or_default(), s.value.clone().unwrap_or_default()))
    }
}

/// Resolves every manifest row against the resource APIs' service principals (by lower-case
/// appId; None when the tenant has no service principal for it). No I/O: benchmarked in
/// benches/native.rs.
pub fn resolve(manifest: &Manifest, resource_sps: &BTreeMap<String, Option<ServicePrincipal>>) -> Resolution {
    let mut rows = Vec::new();
    let mut missing = Vec::new();
    let mut seen: HashSet<(String, String, String)> = HashSet::new();
    let mut resolved = Vec::new();
    for (i, r) in manifest.permissions.iter().enumerate() {
        let key = r.key();
        // Borrowed: a resource service principal (Graph's has 716 app roles) is large to copy.
        let sp = resource_sps.get(&key.0).and_then(Option::as_ref);
        let api = r
            .api
            .clone()
            .or_else(|| sp.and_then(|s| s.display_name.clone()))
            .unwrap_or_else(|| r.resource_app_id.clone());
        let mut row = PermissionRow {
            row: Some(i + 1),
            api,
            resource_app_id: r.resource_app_id.clone(),
            permission: r.permission.clone(),
            kind: r.kind.clone(),
            note: r.note.clone(),
            id: None,
            status: None,
            retired: None,
            offered: None,
            replacement_in_place: None,
        };
        if !seen.insert(key) {
            row.status = Some(RowStatus::Duplicate);
            rows.push(row);
            continue;
        }
        let found = sp.and_then(|s| find_permission(s, &r.permission, r.is_application()));
        if let Some(retired) = &r.retired {
            row.status = Some(RowStatus::Retired);
            row.retired = Some(retired.clone());
            row.offered = Some(found.is_some());
            row.id = found.map(|(id, _)| id);
            rows.push(row);
            continue;
        }
        match (sp, found) {
            (Some(s), Some((id, name))) => {
                resolved.push(Resolved {
                    row: rows.len(),
                    resource_app_id: r.resource_app_id.to_ascii_lowercase(),
                    resource_sp_id: s.id().to_string(),
                    permission_id: id.to_ascii_lowercase(),
                    application: r.is_application(),
                });
                row.id = Some(id);
                row.permission = name;
            }
            _ => {
                row.status = Some(RowStatus::NotOffered);
                if !r.optional {
                    missing.push(format!("row {} {} {} ({})", i + 1, row.api, r.permission, r.kind));
                }
            }
        }
        rows.push(row);
    }
    Resolution { rows, resolved, missing }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn sp(text: &str, id: &str) -> ServicePrincipal {
        let mut sp: ServicePrincipal = serde_json::from_str(text).unwrap();
        sp.id = Some(id.into());
        sp.compact()
    }

    fn tenant() -> BTreeMap<String, Option<ServicePrincipal>> {
        let mut m = BTreeMap::new();
        m.insert(
            "00000003-0000-0000-c000-000000000000".into(),
            Some(sp(include_str!("../../kodo-emulator/fixtures/msgraph-sp.json"), "sp-graph")),
        );
        m.insert(
            "00000003-0000-0ff1-ce00-000000000000".into(),
            Some(sp(include_str!("../../kodo-emulator/fixtures/sharepoint-sp.json"), "sp-spo")),
        );
        m.insert(
            "00000002-0000-0ff1-ce00-000000000000".into(),
            Some(sp(include_str!("../../kodo-emulator/fixtures/exchange-sp.json"), "sp-exo")),
        );
        m.insert("00000002-0000-0000-c000-000000000000".into(), None);
        m
    }

    fn seed() -> Manifest {
        parse_manifest(&serde_json::from_str(include_str!("../../../powershell/Kodo/Data/seed.json")).unwrap()).unwrap()
    }

    /// The ids of `permissions-truth.csv` (real, with sources): (resource appId, name, type) -> id.
    fn truth() -> BTreeMap<(String, String, String), String> {
        include_str!("../../kodo-emulator/fixtures/permissions-truth.csv")
            .lines()
            .skip(1)
            .filter_map(|l| {
                let f: Vec<&str> = l.split(',').collect();
                (f.len() > 4).then(|| {
                    (
                        (f[1].to_ascii_lowercase(), f[2].to_ascii_lowercase(), f[3].to_string()),
                        f[4].to_ascii_lowercase(),
                    )
                })
            })
            .collect()
    }

    #[test]
    fn the_seed_resolves_to_the_real_ids() {
        let m = seed();
        let res = resolve(&m, &tenant());
        assert!(res.missing.is_empty(), "{:?}", res.missing);
        let truth = truth();
        assert!(!res.resolved.is_empty());
        for r in &res.resolved {
            let row = &res.rows[r.row];
            let key = (r.resource_app_id.clone(), row.permission.to_ascii_lowercase(), row.kind.clone());
            assert_eq!(truth.get(&key), Some(&r.permission_id), "{key:?}");
        }
        // The seed lists SharePoint User.ReadWrite.All (application) twice.
        assert_eq!(res.rows.iter().filter(|r| r.status == Some(RowStatus::Duplicate)).count(), 1);
        // Azure AD Graph is retired and the tenant has no service principal for it.
        let retired: Vec<_> = res.rows.iter().filter(|r| r.status == Some(RowStatus::Retired)).collect();
        assert_eq!(retired.len(), 4);
        assert!(retired.iter().all(|r| r.offered == Some(false) && r.id.is_none()));
    }

    #[test]
    fn names_match_case_insensitively_and_the_api_spelling_is_kept() {
        let m: Manifest = serde_json::from_value(json!({ "schema": 1, "permissions": [
            { "resourceAppId": "00000003-0000-0000-C000-000000000000", "permission": "mail.readwrite", "type": "Application" }
        ]}))
        .unwrap();
        let res = resolve(&m, &tenant());
        assert_eq!(res.rows[0].permission, "Mail.ReadWrite");
        assert_eq!(res.resolved[0].permission_id, "e2a3a72e-5f79-4c64-b1b1-878b674786c9");
        assert_eq!(res.rows[0].api, "Microsoft Graph");
    }

    #[test]
    fn a_delegated_only_name_is_not_an_application_permission() {
        // Graph's User.Read is a delegated scope; no app role of that name may be held by apps.
        let m: Manifest = serde_json::from_value(json!({ "schema": 1, "permissions": [
            { "resourceAppId": "00000003-0000-0000-c000-000000000000", "permission": "User.Read", "type": "Application" },
            { "resourceAppId": "00000003-0000-0000-c000-000000000000", "permission": "User.Read", "type": "Delegated" },
            { "resourceAppId": "00000003-0000-0000-c000-000000000000", "permission": "No.Such.Permission", "type": "Delegated", "optional": true }
        ]}))
        .unwrap();
        let res = resolve(&m, &tenant());
        assert_eq!(res.rows[0].status, Some(RowStatus::NotOffered));
        assert_eq!(res.missing.len(), 1);
        assert!(res.missing[0].starts_with("row 1 "));
        assert_eq!(res.resolved.len(), 1);
        assert!(!res.resolved[0].application);
        assert_eq!(res.rows[2].status, Some(RowStatus::NotOffered));
    }

    #[test]
    fn required_roles_are_the_granted_application_rows() {
        let m = seed();
        let exo = m.required_roles("00000002-0000-0ff1-ce00-000000000000");
        assert_eq!(exo, ["Exchange.ManageAsApp", "full_access_as_app"]);
        assert!(m.required_roles("00000002-0000-0000-c000-000000000000").is_empty());
    }

    #[test]
    fn a_manifest_file_is_parsed_here_and_its_errors_name_file_row_line_and_column() {
        let file = |text: &str| json!({ "file": "/tmp/m.json", "text": text });
        assert_eq!(
            parse_manifest(&file(include_str!("../../../powershell/Kodo/Data/seed.json"))).unwrap().permissions.len(),
            33
        );
        let e = parse_manifest(&file("{ \"schema\": 1,\n  \"permissions\": [ }")).unwrap_err();
        assert_eq!(e.code, ErrorCode::InvalidArgument);
        assert!(
            e.message.starts_with("The manifest '/tmp/m.json' is not valid: ") && e.message.contains("line 2 column"),
            "{}",
            e.message
        );
        let row = |p: &str| {
            format!(
                "{{\"schema\":1,\"permissions\":[{{\"resourceAppId\":\"00000003-0000-0000-c000-000000000000\",\"permission\":\"User.Read.All\",\"type\":\"Application\"}},{p}]}}"
            )
        };
        let e = parse_manifest(&file(&row(r#"{"resourceAppId":"graph","permission":"x","type":"Application"}"#)))
            .unwrap_err();
        assert!(e.message.contains("'/tmp/m.json', row 2: resourceAppId 'graph' is not a GUID"), "{}", e.message);
        let e = parse_manifest(&file(&row(
            r#"{"resourceAppId":"00000003-0000-0000-c000-000000000000","permission":"x' or 1 eq 1","type":"Application"}"#,
        )))
        .unwrap_err();
        assert!(e.message.contains("row 2: 'x' or 1 eq 1' is not a permission name"), "{}", e.message);
        let e = parse_manifest(&file(&row(
            r#"{"resourceAppId":"00000003-0000-0000-c000-000000000000","type":"Application"}"#,
        )))
        .unwrap_err();
        assert!(
            e.message.contains("missing field `permission`") && e.message.contains("line 1 column"),
            "{}",
            e.message
        );
        let e = parse_manifest(&file(r#"{"schema":2,"permissions":[]}"#)).unwrap_err();
        assert!(e.message.contains("'/tmp/m.json' has schema 2"), "{}", e.message);
    }
}
