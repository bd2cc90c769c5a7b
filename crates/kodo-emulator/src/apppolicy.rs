//! App management policies: the tenant default policy (`GET /policies/defaultAppManagementPolicy`),
//! the custom policy collection (empty), and their enforcement on password and certificate
//! writes to applications. Sources: docs/app-policy-research.md (sections cited per item) and
//! facts.md §8.5.

use super::graph::{GResp, gerr};
use super::world::AppPolicyPreset;
use serde_json::{Map, Value, json};

/// The tenant default policy's id (docs/app-policy-research.md §1.1).
pub const DEFAULT_POLICY_ID: &str = "00000000-0000-0000-0000-000000000000";

/// Graph permissions that read app management policies (§2.3, roles and delegated scopes).
pub const POLICY_READ: &[&str] =
    &["Policy.Read.All", "Policy.Read.ApplicationConfiguration", "Policy.ReadWrite.ApplicationConfiguration"];

/// `appCredentialRestrictionType` (§1.3).
const PASSWORD_RESTRICTIONS: &[&str] = &[
    "passwordAddition",
    "passwordLifetime",
    "symmetricKeyAddition",
    "symmetricKeyLifetime",
    "customPasswordAddition",
    "unknownFutureValue",
];
/// `appKeyCredentialRestrictionType` in v1.0 (§1.3).
const KEY_RESTRICTIONS: &[&str] = &["asymmetricKeyLifetime", "unknownFutureValue"];

/// The documented default: disabled, nothing restricted (§1.1, G-GET; id, displayName and
/// description verbatim).
pub fn default_policy() -> Map<String, Value> {
    let v = json!({
        "id": DEFAULT_POLICY_ID,
        "displayName": "Default app management tenant policy",
        "description": "Default tenant policy that enforces app management restrictions on applications and service principals. To apply policy to targeted resources, create a new policy under appManagementPolicies collection.",
        "isEnabled": false,
        "applicationRestrictions": { "passwordCredentials": [], "keyCredentials": [] },
        "servicePrincipalRestrictions": { "passwordCredentials": [], "keyCredentials": [] },
    });
    match v {
        Value::Object(m) => m,
        _ => Map::new(),
    }
}

/// The default policy of a `--app-policy` preset. The restrictions apply to every app
/// (`restrictForAppsCreatedAfterDateTime` null: "To apply to all applications, enforcement
/// datetime would be `null`", §1.4).
pub fn preset(p: &AppPolicyPreset) -> Map<String, Value> {
    let mut policy = default_policy();
    let restriction = |kind: &str, max: Value| json!({ "restrictionType": kind, "maxLifetime": max, "restrictForAppsCreatedAfterDateTime": null, "state": "enabled" });
    let passwords = match p {
        AppPolicyPreset::None => return policy,
        AppPolicyPreset::NoSecrets => vec![restriction("passwordAddition", Value::Null)],
        AppPolicyPreset::SecretLifetime(d) => vec![restriction("passwordLifetime", d.clone().into())],
    };
    policy.insert("isEnabled".into(), true.into());
    policy.insert("applicationRestrictions".into(), json!({ "passwordCredentials": passwords, "keyCredentials": [] }));
    policy
}

/// An ISO 8601 duration of days, hours, minutes and seconds (`P90D`, `P4DT12H30M5S`, `PT36H`;
/// §1.4). Years, months and weeks are not taken (what Graph echoes for months is UNCONFIRMED).
pub fn parse_duration(s: &str) -> Option<chrono::Duration> {
    let rest = s.strip_prefix('P')?;
    if rest.is_empty() {
        return None;
    }
    let (date, time) = match rest.split_once('T') {
        Some((d, t)) if !t.is_empty() => (d, Some(t)),
        Some(_) => return None,
        None => (rest, None),
    };
    let mut millis: i64 = 0;
    let mut take = |part: &str, units: &[(char, i64)]| -> Option<()> {
        let mut number = String::new();
        let mut allowed = units.iter();
        for c in part.chars() {
            if c.is_ascii_digit() || c == '.' {
                number.push(c);
                continue;
            }
            // Each unit at most once, in order.
            let (_, ms) = allowed.find(|(u, _)| *u == c)?;
            let n: f64 = number.parse().ok()?;
            if c != 'S' && number.contains('.') {
                return None;
            }
            millis = millis.checked_add((n * *ms as f64) as i64)?;
            number.clear();
        }
        number.is_empty().then_some(())
    };
    take(date, &[('D', 86_400_000)])?;
    if let Some(t) = time {
        take(t, &[('H', 3_600_000), ('M', 60_000), ('S', 1_000)])?;
    }
    Some(chrono::Duration::milliseconds(millis))
}

fn parse_time(v: &str) -> Option<chrono::DateTime<chrono::Utc>> {
    chrono::DateTime::parse_from_rfc3339(v).ok().map(|t| t.with_timezone(&chrono::Utc))
}

/// Checks and normalizes a restriction list (§1.3): known `restrictionType` used once,
/// `maxLifetime` a duration where given (required for the lifetime types), the date RFC 3339 or
/// null, `state` `enabled`/`disabled`. A restriction written without `state` gets `enabled`
/// (the property is non-nullable; the value Graph gives it is UNCONFIRMED).
fn normalize_list(v: &Value, allowed: &[&str], what: &str) -> Result<Value, String> {
    let Some(list) = v.as_array() else { return Err(format!("{what} must be an array")) };
    let mut seen = Vec::new();
    let mut out = Vec::new();
    for r in list {
        let Some(r) = r.as_object() else { return Err(format!("{what}: every restriction must be an object")) };
        let kind = r.get("restrictionType").and_then(Value::as_str).unwrap_or("");
        if !allowed.contains(&kind) {
            return Err(format!("{what}: restrictionType '{kind}' is not one of {}", allowed.join(", ")));
        }
        if seen.contains(&kind) {
            // "Each value of restrictionType can be used only once per policy." (§1.4)
            return Err(format!("{what}: restrictionType '{kind}' is used more than once"));
        }
        seen.push(kind);
        let max = r.get("maxLifetime").cloned().unwrap_or(Value::Null);
        match &max {
            Value::Null if kind.ends_with("Lifetime") => {
                return Err(format!("{what}: maxLifetime is required for {kind}"));
            }
            Value::Null => {}
            Value::String(d) if parse_duration(d).is_some() => {}
            other => return Err(format!("{what}: maxLifetime {other} is not an ISO 8601 duration of days to seconds")),
        }
        let after = r.get("restrictForAppsCreatedAfterDateTime").cloned().unwrap_or(Value::Null);
        if !after.is_null() && after.as_str().and_then(parse_time).is_none() {
            return Err(format!("{what}: restrictForAppsCreatedAfterDateTime {after} is not a date and time"));
        }
        let state = r.get("state").cloned().unwrap_or_else(|| "enabled".into());
        if !matches!(state.as_str(), Some("enabled" | "disabled")) {
            return Err(format!("{what}: state {state} is not enabled or disabled"));
        }
        let mut n = Map::new();
        n.insert("restrictionType".into(), kind.into());
        n.insert("maxLifetime".into(), max);
        n.insert("restrictForAppsCreatedAfterDateTime".into(), after);
        n.insert("state".into(), state);
        if let Some(x) = r.get("excludeActors") {
            n.insert("excludeActors".into(), x.clone());
        }
        out.push(Value::Object(n));
    }
    Ok(Value::Array(out))
}

fn normalize_restrictions(v: &Value, what: &str) -> Result<Value, String> {
    let Some(o) = v.as_object() else { return Err(format!("{what} must be an object")) };
    if let Some(k) = o.keys().find(|k| *k != "passwordCredentials" && *k != "keyCredentials") {
        return Err(format!("{what}.{k} is not emulated (passwordCredentials and keyCredentials are)"));
    }
    let empty = json!([]);
    Ok(json!({
        "passwordCredentials": normalize_list(o.get("passwordCredentials").unwrap_or(&empty), PASSWORD_RESTRICTIONS, &format!("{what}.passwordCredentials"))?,
        "keyCredentials": normalize_list(o.get("keyCredentials").unwrap_or(&empty), KEY_RESTRICTIONS, &format!("{what}.keyCredentials"))?,
    }))
}

/// Applies a control-API PATCH (`isEnabled`, `applicationRestrictions`,
/// `servicePrincipalRestrictions`, `displayName`, `description`; restriction objects replace
/// wholesale). Nothing changes when the body is refused.
pub fn patch(policy: &mut Map<String, Value>, body: &Value) -> Result<(), String> {
    let Some(b) = body.as_object() else { return Err("the body must be a JSON object".into()) };
    let mut next = policy.clone();
    for (k, v) in b {
        match k.as_str() {
            "isEnabled" => {
                let Some(e) = v.as_bool() else { return Err("isEnabled must be true or false".into()) };
                next.insert(k.clone(), e.into());
            }
            "applicationRestrictions" | "servicePrincipalRestrictions" => {
                next.insert(k.clone(), normalize_restrictions(v, k)?);
            }
            "displayName" | "description" => {
                let Some(s) = v.as_str() else { return Err(format!("{k} must be a string")) };
                next.insert(k.clone(), s.into());
            }
            "id" if v.as_str() == Some(DEFAULT_POLICY_ID) => {}
            _ if k.starts_with('@') => {}
            _ => {
                return Err(format!(
                    "'{k}' is not a property of the tenant default app management policy the emulator keeps"
                ));
            }
        }
    }
    *policy = next;
    Ok(())
}

/// `GET /policies/defaultAppManagementPolicy` (§1.1: `@odata.context`, `@odata.id` with the
/// tenant id, then the policy).
pub fn graph_view(policy: &Map<String, Value>, tenant_id: &str, base: &str, select: Option<&str>) -> Value {
    let mut out = Map::new();
    out.insert(
        "@odata.context".into(),
        format!("{base}/v1.0/$metadata#policies/defaultAppManagementPolicy/$entity").into(),
    );
    out.insert(
        "@odata.id".into(),
        format!("https://graph.microsoft.com/v2/{tenant_id}/defaultAppManagementPolicy/{DEFAULT_POLICY_ID}").into(),
    );
    let wanted: Option<Vec<&str>> = select.map(|s| s.split(',').map(str::trim).collect());
    for (k, v) in policy {
        if wanted.as_ref().is_none_or(|w| w.iter().any(|x| x.eq_ignore_ascii_case(k))) {
            out.insert(k.clone(), v.clone());
        }
    }
    Value::Object(out)
}

/// The restrictions of `kind` (`passwordCredentials` or `keyCredentials`) that apply to an
/// application created at `app_created` (§4: the default policy's `applicationRestrictions`,
/// only while `isEnabled`; a restriction is skipped when `disabled` or when the app was
/// created before its `restrictForAppsCreatedAfterDateTime`). Custom policies are not emulated
/// (none can be created), so the tenant default is the only source.
fn in_force<'a>(policy: &'a Map<String, Value>, kind: &str, app_created: &str) -> Vec<&'a Map<String, Value>> {
    if policy.get("isEnabled") != Some(&Value::Bool(true)) {
        return Vec::new();
    }
    let created = parse_time(app_created);
    policy
        .get("applicationRestrictions")
        .and_then(|r| r.get(kind))
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_object)
        .filter(|r| r.get("state").and_then(Value::as_str) != Some("disabled"))
        .filter(|r| {
            match (r.get("restrictForAppsCreatedAfterDateTime").and_then(Value::as_str).and_then(parse_time), created) {
                (Some(after), Some(created)) => created >= after,
                _ => true,
            }
        })
        .collect()
}

/// 400 `CredentialTypeNotAllowedAsPerAppPolicy` (§3.2: message and code verbatim; the body
/// mirrors §3.1's envelope without `details`: UNCONFIRMED shape). Which id the message names
/// when the tenant default policy is the source is UNCONFIRMED; it names the default's id.
fn type_not_allowed(policy: &Map<String, Value>) -> GResp {
    let id = policy.get("id").and_then(Value::as_str).unwrap_or(DEFAULT_POLICY_ID);
    gerr(
        400,
        "CredentialTypeNotAllowedAsPerAppPolicy",
        &format!("Credential type not allowed as per assigned policy '{id}'."),
    )
}

/// 400 `CredentialInvalidLifetimeAsPerAppPolicy` with the `details` of §3.1 (verbatim shape).
fn lifetime_exceeded(policy: &Map<String, Value>) -> GResp {
    let id = policy.get("id").and_then(Value::as_str).unwrap_or(DEFAULT_POLICY_ID);
    let message = format!("Credential lifetime exceeds the max value allowed as per assigned policy '{id}'.");
    let mut r = gerr(400, "CredentialInvalidLifetimeAsPerAppPolicy", &message);
    if let Some(Value::Object(e)) = r.body.as_mut().and_then(|b| b.get_mut("error")) {
        let inner = e.remove("innerError");
        e.insert("details".into(), json!([{ "code": "InvalidKeyEndDate", "message": message, "target": "EndDate" }]));
        if let Some(inner) = inner {
            e.insert("innerError".into(), inner);
        }
    }
    r
}

fn too_long(restriction: &Map<String, Value>, start: &str, end: &str) -> bool {
    let max = restriction.get("maxLifetime").and_then(Value::as_str).and_then(parse_duration);
    match (max, parse_time(start), parse_time(end)) {
        // Measured from the credential's start (start defaults to now); whether Graph measures
        // a future-dated start from now instead is UNCONFIRMED (§4.5).
        (Some(max), Some(s), Some(e)) => e > s + max,
        _ => false,
    }
}

/// Checks a new password credential on an application created at `app_created`, with
/// `start`/`end` as it will be stored. `custom` is a client-supplied secret text (PATCH), which
/// `customPasswordAddition` restricts (§1.4; error body for it UNCONFIRMED, the §3.2 one used).
pub fn check_password(
    policy: &Map<String, Value>,
    app_created: &str,
    start: &str,
    end: &str,
    custom: bool,
) -> Option<GResp> {
    let rules = in_force(policy, "passwordCredentials", app_created);
    let kind = |r: &Map<String, Value>| r.get("restrictionType").and_then(Value::as_str).unwrap_or("").to_string();
    if rules.iter().any(|r| kind(r) == "passwordAddition" || (custom && kind(r) == "customPasswordAddition")) {
        return Some(type_not_allowed(policy));
    }
    if rules.iter().any(|r| kind(r) == "passwordLifetime" && too_long(r, start, end)) {
        return Some(lifetime_exceeded(policy));
    }
    None
}

/// Checks a new certificate (key credential) against `asymmetricKeyLifetime`. The error Graph
/// gives for a certificate is UNCONFIRMED (§3.3: one report of the lifetime text); the §3.1
/// body is used.
pub fn check_key(policy: &Map<String, Value>, app_created: &str, start: &str, end: &str) -> Option<GResp> {
    in_force(policy, "keyCredentials", app_created)
        .iter()
        .any(|r| {
            r.get("restrictionType").and_then(Value::as_str) == Some("asymmetricKeyLifetime") && too_long(r, start, end)
        })
        .then(|| lifetime_exceeded(policy))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse_days_to_seconds() {
        let d = |s: &str| parse_duration(s).map(|d| d.num_seconds());
        assert_eq!(d("P90D"), Some(90 * 86_400));
        assert_eq!(d("P4DT12H30M5S"), Some(4 * 86_400 + 12 * 3_600 + 30 * 60 + 5));
        assert_eq!(d("PT36H"), Some(36 * 3_600));
        assert_eq!(d("PT1.5S").map(|_| parse_duration("PT1.5S").unwrap().num_milliseconds()), Some(1_500));
        for bad in ["", "P", "PT", "90D", "P12M", "P1Y", "P1W", "PT5S4M", "P1DT", "P1.5D", "PXD"] {
            assert_eq!(parse_duration(bad), None, "{bad}");
        }
    }
}
