//! A large directory, generated deterministically (`--directory-size N`): every tenant holds
//! exactly N users, groups, applications and service principals, its seeded objects made up
//! to N by generated ones, so that paging and list performance are real. The same N and
//! tenant number give the same names and object ids on every run.

use super::state::*;
use super::world::application_json;
use sha2::{Digest, Sha256};

/// The largest `--directory-size` (every object stays in memory).
pub const MAX_DIRECTORY_SIZE: usize = 100_000;

/// A GUID derived from (tenant number, kind, index): the same on every run.
fn stable_id(tenant: usize, kind: &str, i: usize) -> String {
    let digest = Sha256::digest(format!("kodo-emulator/{tenant}/{kind}/{i}").as_bytes());
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&digest[..16]);
    uuid::Builder::from_random_bytes(bytes).into_uuid().to_string()
}

/// Line-of-business apps nobody here made (no owner, no tag, no credentials), each with its
/// service principal when `with_sp`: the bulk of a real directory. Shared by `--extra-apps`.
pub fn line_of_business_app(tenant: &mut Tenant, name: &str, ids: Option<(usize, usize)>, with_sp: bool) {
    let app_id = match ids {
        Some((n, i)) => stable_id(n, "appId", i),
        None => new_id(),
    };
    let mut app = application_json(&app_id, name, &tenant.initial_domain, &[]);
    if let Some((n, i)) = ids {
        app.insert("id".into(), stable_id(n, "application", i).into());
    }
    tenant.applications.push(Application {
        obj: Stored::new(app, std::time::Duration::ZERO),
        secrets: Vec::new(),
        owner: None,
    });
    if with_sp {
        let mut sp = service_principal_json(&app_id, name, &tenant.id, "Application");
        if let Some((n, i)) = ids {
            sp.insert("id".into(), stable_id(n, "servicePrincipal", i).into());
        }
        tenant
            .service_principals
            .push(ServicePrincipal { obj: Stored::new(sp, std::time::Duration::ZERO), first_party: None });
    }
}

/// Makes tenant number `n` hold exactly `size` users, groups, applications and service
/// principals (nothing when `size` is 0). Generated apps beyond the service principals needed
/// have none (registered, never instantiated), as in real directories.
pub fn fill(tenant: &mut Tenant, n: usize, size: usize) -> Result<(), String> {
    if size == 0 {
        return Ok(());
    }
    let (users, groups, apps, sps) =
        (tenant.users.len(), tenant.groups.len(), tenant.applications.len(), tenant.service_principals.len());
    let seeded = users.max(groups).max(apps).max(sps);
    if size < seeded || size > MAX_DIRECTORY_SIZE {
        return Err(format!(
            "--directory-size must be between {seeded} (the seeded directory: {users} users, {apps} applications, {sps} service principals) and {MAX_DIRECTORY_SIZE}"
        ));
    }
    if sps < apps {
        return Err("the seeded directory has fewer service principals than applications".into());
    }
    let domain = tenant.initial_domain.clone();
    for i in 1..=size - users {
        let mut user = User::new(&format!("user{i:05}@{domain}"), &format!("User {i:05}"));
        user.id = stable_id(n, "user", i);
        tenant.users.push(user);
    }
    for i in 1..=size - groups {
        tenant.groups.push(Group {
            id: stable_id(n, "group", i),
            display_name: format!("Group {i:05}"),
            description: None,
            mail_nickname: format!("group{i:05}"),
            // Every other group a Microsoft 365 group, the rest security groups.
            unified: i % 2 == 1,
            created: now_iso(),
        });
    }
    let new_sps = size - sps;
    for i in 1..=size - apps {
        line_of_business_app(tenant, &format!("Line-of-business app {i:05}"), Some((n, i)), i <= new_sps);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::stable_id;

    #[test]
    fn ids_are_stable_guids() {
        let a = stable_id(1, "user", 7);
        assert_eq!(a, stable_id(1, "user", 7));
        assert_ne!(a, stable_id(2, "user", 7));
        assert_ne!(a, stable_id(1, "group", 7));
        let u = uuid::Uuid::parse_str(&a).unwrap();
        assert_eq!(u.get_version_num(), 4);
    }
}
