//! The directory's users and administrative units as the control API shows and changes them
//! (`/_emulator/tenants/{tenant}/directory`, `.../users`, `.../administrativeUnits`). Graph
//! serves them read-only (graph.rs).

use super::state::*;
use serde_json::{Value, json};

/// `GET /_emulator/tenants/{tenant}/directory`.
pub fn control_view(tenant: &Tenant) -> Value {
    let upn = |id: &String| tenant.users.iter().find(|u| &u.id == id).map(|u| u.user_principal_name.clone());
    json!({
        "users": tenant.users.iter().map(user_view).collect::<Vec<_>>(),
        "administrativeUnits": tenant.administrative_units.iter().map(|a| json!({
            "id": a.id,
            "displayName": a.display_name,
            "visibility": a.visibility,
            "members": a.members.iter().filter_map(upn).collect::<Vec<_>>(),
        })).collect::<Vec<_>>(),
    })
}

fn user_view(u: &User) -> Value {
    json!({ "id": u.id, "userPrincipalName": u.user_principal_name, "displayName": u.display_name, "mail": u.mail })
}

/// `POST /_emulator/tenants/{tenant}/users` with `{ "userPrincipalName", "displayName" }`.
pub fn add_user(tenant: &mut Tenant, body: &Value) -> Result<Value, String> {
    let Some(b) = body.as_object() else { return Err("the body must be a JSON object".into()) };
    if let Some(k) = b.keys().find(|k| !["userPrincipalName", "displayName"].contains(&k.as_str())) {
        return Err(format!("'{k}' is not a user property of the emulator (userPrincipalName, displayName)"));
    }
    let upn = b.get("userPrincipalName").and_then(Value::as_str).unwrap_or("").trim();
    let name = b.get("displayName").and_then(Value::as_str).unwrap_or("").trim();
    let Some((alias, domain)) = upn.rsplit_once('@') else {
        return Err("userPrincipalName must be alias@domain".into());
    };
    if alias.is_empty() || alias.contains(char::is_whitespace) || !domain.eq_ignore_ascii_case(&tenant.initial_domain) {
        return Err(format!(
            "userPrincipalName must be an alias at the tenant's initial domain {}",
            tenant.initial_domain
        ));
    }
    if name.is_empty() {
        return Err("displayName is required".into());
    }
    if tenant.user_by_address(upn).is_some() {
        return Err(format!("a user {upn} already exists"));
    }
    let user = User::new(upn, name);
    let view = user_view(&user);
    tenant.users.push(user);
    Ok(view)
}

/// `POST /_emulator/tenants/{tenant}/administrativeUnits` with `{ "displayName", "members":
/// [upn...], "visibility"?: null | "HiddenMembership" }`.
pub fn add_administrative_unit(tenant: &mut Tenant, body: &Value) -> Result<Value, String> {
    let Some(b) = body.as_object() else { return Err("the body must be a JSON object".into()) };
    if let Some(k) = b.keys().find(|k| !["displayName", "members", "visibility"].contains(&k.as_str())) {
        return Err(format!(
            "'{k}' is not an administrative unit property of the emulator (displayName, members, visibility)"
        ));
    }
    let name = b.get("displayName").and_then(Value::as_str).unwrap_or("").trim();
    if name.is_empty() {
        return Err("displayName is required".into());
    }
    let visibility = match b.get("visibility") {
        None | Some(Value::Null) => None,
        Some(Value::String(v)) if v == "HiddenMembership" => Some(v.clone()),
        Some(_) => return Err("visibility must be null or \"HiddenMembership\"".into()),
    };
    let upns: Vec<&str> = match b.get("members") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(a)) => a
            .iter()
            .map(|x| x.as_str().ok_or("members must be an array of userPrincipalNames"))
            .collect::<Result<_, _>>()?,
        Some(_) => return Err("members must be an array of userPrincipalNames".into()),
    };
    let mut members: Vec<String> = Vec::new();
    for upn in upns {
        let Some(u) = tenant.user(upn).filter(|u| u.user_principal_name.eq_ignore_ascii_case(upn)) else {
            return Err(format!("no user {upn}"));
        };
        if !members.contains(&u.id) {
            members.push(u.id.clone());
        }
    }
    let au =
        AdministrativeUnit { id: new_id(), display_name: name.to_string(), description: None, visibility, members };
    let upn_of = |id: &String| tenant.users.iter().find(|u| &u.id == id).map(|u| u.user_principal_name.clone());
    let view = json!({
        "id": au.id,
        "displayName": au.display_name,
        "visibility": au.visibility,
        "members": au.members.iter().filter_map(upn_of).collect::<Vec<_>>(),
    });
    tenant.administrative_units.push(au);
    Ok(view)
}
