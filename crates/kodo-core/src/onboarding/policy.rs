//! App management policies (facts.md §8.5; docs/app-policy-research.md): a tenant can block
//! client secrets (`passwordAddition`) or cap their lifetime (`passwordLifetime`), tenant-wide
//! (`/policies/defaultAppManagementPolicy`) or for one app (`/applications/{id}/
//! appManagementPolicies`, which override the default for the restrictions they define). Kodo
//! reads them before it creates a credential, so that nothing is written that the policy will
//! refuse: a blocked secret is never attempted, a capped lifetime is used as the cap.

use crate::error::{ErrorCode, KodoError};
use crate::graph::models::{AppManagementPolicy, Application, CredentialRestriction, end_of};
use crate::graph::{Graph, Request, Response, Retry};
use chrono::{DateTime, Duration, Utc};
use serde::Serialize;

/// What the policies that apply to an app allow for client secrets.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SecretRules {
    /// The policy that blocks client secrets, if one does.
    pub blocked_by: Option<String>,
    /// The longest lifetime allowed, in days, and the policy that sets it.
    pub max_days: Option<u32>,
    pub capped_by: Option<String>,
    /// The longest certificate lifetime allowed (`asymmetricKeyLifetime`), in days, and the
    /// policy that sets it.
    pub certificate_max_days: Option<u32>,
    pub certificate_capped_by: Option<String>,
}

/// An ISO-8601 duration (`P90D`, `P4DT12H30M5S`, `P1Y`), as policies give `maxLifetime`. Years
/// count 365 days and months 30 (Graph's examples use days and times).
pub fn parse_duration(text: &str) -> Option<Duration> {
    let rest = text.strip_prefix('P')?;
    let (date, time) = rest.split_once('T').unwrap_or((rest, ""));
    let mut total = Duration::zero();
    let mut take = |part: &str, units: &[(char, i64)]| -> Option<()> {
        let mut number = String::new();
        for c in part.chars() {
            if c.is_ascii_digit() {
                number.push(c);
                continue;
            }
            let seconds = units.iter().find(|(u, _)| *u == c)?.1;
            total += Duration::seconds(number.parse::<i64>().ok()?.checked_mul(seconds)?);
            number.clear();
        }
        number.is_empty().then_some(())
    };
    take(date, &[('Y', 365 * 86_400), ('M', 30 * 86_400), ('W', 7 * 86_400), ('D', 86_400)])?;
    take(time, &[('H', 3_600), ('M', 60), ('S', 1)])?;
    (total > Duration::zero() || text == "PT0S").then_some(total)
}

/// Whether a restriction applies to an app created at `created` (None: a new app, created now).
fn applies(r: &CredentialRestriction, created: DateTime<Utc>) -> bool {
    let enabled = r.state.as_deref().is_none_or(|s| s.eq_ignore_ascii_case("enabled"));
    let after = r.restrict_for_apps_created_after_date_time.as_deref().and_then(|d| end_of(Some(d)));
    enabled && after.is_none_or(|a| created >= a)
}

impl SecretRules {
    /// The rules of `policies` for an app created at `created`: a custom policy (assigned to the
    /// app) first, the tenant default for what it does not define.
    pub fn from_policies(
        default: Option<&AppManagementPolicy>,
        custom: Option<&AppManagementPolicy>,
        created: DateTime<Utc>,
    ) -> SecretRules {
        let restrictions = |p: Option<&AppManagementPolicy>, custom: bool| -> Vec<(CredentialRestriction, String)> {
            let Some(p) = p.filter(|p| p.is_enabled == Some(true)) else { return Vec::new() };
            let set = if custom { p.restrictions.as_ref() } else { p.application_restrictions.as_ref() };
            let id = p.id.clone().unwrap_or_default();
            let passwords = set.and_then(|s| s.password_credentials.clone()).unwrap_or_default();
            let keys = set.and_then(|s| s.key_credentials.clone()).unwrap_or_default();
            passwords.into_iter().chain(keys).map(|r| (r, id.clone())).collect()
        };
        let custom_rules = restrictions(custom, true);
        let default_rules = restrictions(default, false);
        // A custom policy overrides the default for the restriction types it defines.
        let pick = |kind: &str| {
            custom_rules
                .iter()
                .find(|(r, _)| r.restriction_type.as_deref() == Some(kind))
                .or_else(|| default_rules.iter().find(|(r, _)| r.restriction_type.as_deref() == Some(kind)))
                .filter(|(r, _)| applies(r, created))
                .cloned()
        };
        let mut rules = SecretRules::default();
        if let Some((_, id)) = pick("passwordAddition") {
            rules.blocked_by = Some(id);
        }
        let days_of = |r: &CredentialRestriction| {
            r.max_lifetime.as_deref().and_then(parse_duration).map(|d| u32::try_from(d.num_days()).unwrap_or(u32::MAX))
        };
        if let Some((r, id)) = pick("passwordLifetime") {
            if let Some(days) = days_of(&r) {
                rules.max_days = Some(days);
                rules.capped_by = Some(id);
            }
        }
        if let Some((r, id)) = pick("asymmetricKeyLifetime") {
            if let Some(days) = days_of(&r) {
                rules.certificate_max_days = Some(days);
                rules.certificate_capped_by = Some(id);
            }
        }
        rules
    }

    /// The lifetime to ask for, given `wanted` days: the cap when it is shorter (a day less than
    /// the cap when the cap is not whole days, so that the end is within it).
    pub fn days(&self, wanted: u32) -> u32 {
        match self.max_days {
            Some(max) if max < wanted => max.max(1),
            _ => wanted,
        }
    }
}

impl SecretRules {
    /// A certificate valid from `not_before` to `not_after` (Unix seconds) under these rules:
    /// refused before anything is written when it is longer than the policy's cap (a policy
    /// measures a credential's lifetime from its start to its end).
    pub fn check_certificate(&self, not_before: i64, not_after: i64) -> Result<(), KodoError> {
        let (Some(max), Some(by)) = (self.certificate_max_days, &self.certificate_capped_by) else { return Ok(()) };
        let seconds = not_after - not_before;
        if seconds > i64::from(max) * 86_400 {
            return Err(KodoError::new(
                ErrorCode::PolicyBlocked,
                format!(
                    "The certificate is valid for {} days, and the tenant's app management policy {by} allows certificates of at most {max} days (asymmetricKeyLifetime). Nothing was changed. Use a shorter certificate (New-KodoApp -NewCertificate -CertificateLifetime {max}, or Invoke-KodoOnboarding -NewCertificate -NewCertificateLifetime {max}).",
                    (seconds + 86_399) / 86_400
                ),
            )
            .with_target(by.clone()));
        }
        Ok(())
    }
}

/// What to do about a client secret under the rules.
#[derive(Debug, Clone, PartialEq)]
pub struct SecretDecision {
    /// Make a secret valid for this many days (None: make none).
    pub days: Option<u32>,
    /// The plan's action for it.
    pub action: Option<String>,
    /// What the policy changed, for the result.
    pub note: Option<String>,
}

impl SecretRules {
    /// A secret of `wanted` days under these rules. `explicit`: the admin asked for a secret;
    /// `certificate`: the app has or gets a certificate that can serve instead. Blocked with no
    /// certificate is an error, before anything is written.
    /// As [`Self::decide_secret`], for a request that may want the certificate alone
    /// (`certificate_only`, -CredentialType Certificate): then no secret, whatever the policy.
    pub fn decide_secret_for(
        &self,
        wanted: u32,
        explicit: bool,
        certificate: bool,
        certificate_only: bool,
    ) -> Result<SecretDecision, KodoError> {
        if certificate_only && certificate && !explicit {
            return Ok(SecretDecision {
                days: None,
                action: None,
                note: Some(
                    "Certificate only (-CredentialType Certificate): no client secret was made; KODO signs in with the certificate."
                        .into(),
                ),
            });
        }
        self.decide_secret(wanted, explicit, certificate)
    }

    pub fn decide_secret(&self, wanted: u32, explicit: bool, certificate: bool) -> Result<SecretDecision, KodoError> {
        if let Some(blocker) = &self.blocked_by {
            if explicit || !certificate {
                return Err(KodoError::new(
                    ErrorCode::PolicyBlocked,
                    format!(
                        "This tenant's app management policy {blocker} blocks client secrets (passwordAddition){}. Nothing was changed. Give the app a certificate instead: New-KodoApp -NewCertificate -CertificatePassword <SecureString> [-CertificatePath kodo.pfx], or Invoke-KodoOnboarding -NewCertificate -NewCertificatePassword <SecureString>; KODO then signs in with the certificate.",
                        if explicit { ", so -NewSecret cannot be done" } else { ", and the app has no certificate" }
                    ),
                )
                .with_target(blocker.clone()));
            }
            return Ok(SecretDecision {
                days: None,
                action: None,
                note: Some(format!(
                    "Client secrets are blocked by the tenant's app management policy {blocker}: the app's credential is its certificate, and KODO signs in with it."
                )),
            });
        }
        let days = self.days(wanted);
        Ok(match &self.capped_by {
            Some(by) if days < wanted => SecretDecision {
                days: Some(days),
                action: Some(format!(
                    "Create a client secret valid for {days} days (capped by app management policy {by})"
                )),
                note: Some(format!(
                    "The tenant's app management policy {by} caps client secrets at {} days: the secret is valid for {days} days, not {wanted}.",
                    self.max_days.unwrap_or(days)
                )),
            },
            _ => SecretDecision {
                days: Some(wanted),
                action: Some(format!("Create a client secret valid for {wanted} days")),
                note: None,
            },
        })
    }
}

/// The read of the tenant's default app management policy (to go in a `$batch` with others).
pub fn default_policy_read() -> Request {
    Request::get("policies/defaultAppManagementPolicy", Retry::Idempotent)
}

/// The default policy from the answer to [`default_policy_read`]; an identity that may not read
/// it gets the error that says which permission Kodo needs.
pub fn default_policy_from(answer: Response, read: &Request) -> Result<AppManagementPolicy, KodoError> {
    if answer.status == 403 {
        return Err(KodoError::new(
            ErrorCode::PermissionDenied,
            "Kodo reads the tenant's app management policy before it creates a credential, so that it writes nothing the policy would refuse; the signed-in identity may not read it. Grant it the Microsoft Graph permission Policy.Read.All (or Policy.Read.ApplicationConfiguration) and run again. Nothing was changed.",
        )
        .with_target("policies/defaultAppManagementPolicy")
        .with_request_ids(answer.request_id.clone(), answer.client_request_id.clone()));
    }
    answer.json(read)
}

/// Reads the policies that apply to `app` (None: an app about to be created, "created now" on
/// Graph's clock, which the policies' dates are on) and what they allow for client secrets.
pub async fn secret_rules(graph: &Graph<'_>, app: Option<&Application>) -> Result<SecretRules, KodoError> {
    let mut reads = vec![default_policy_read()];
    if let Some(a) = app {
        reads.push(Request::get(format!("applications/{}/appManagementPolicies", a.id()), Retry::Idempotent));
    }
    let mut got = graph.batch(&reads).await?.into_iter();
    let default = default_policy_from(got.next().unwrap_or_default(), &reads[0])?;
    let custom: Vec<AppManagementPolicy> = match (app, got.next()) {
        (Some(_), Some(answer)) => graph.all_pages(answer, &reads[1]).await?,
        _ => Vec::new(),
    };
    let created = app.and_then(|a| end_of(a.created_date_time.as_deref())).unwrap_or_else(|| graph.service_now());
    Ok(SecretRules::from_policies(Some(&default), custom.first(), created))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn durations_read_as_graph_writes_them() {
        assert_eq!(parse_duration("P90D"), Some(Duration::days(90)));
        assert_eq!(parse_duration("P4DT12H30M5S"), Some(Duration::seconds(4 * 86_400 + 12 * 3_600 + 30 * 60 + 5)));
        assert_eq!(parse_duration("P1Y"), Some(Duration::days(365)));
        assert_eq!(parse_duration("PT36H"), Some(Duration::hours(36)));
        assert_eq!(parse_duration("90D"), None);
        assert_eq!(parse_duration("P9X"), None);
        assert_eq!(parse_duration("P"), None);
    }

    fn policy(v: serde_json::Value) -> AppManagementPolicy {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn the_documented_disabled_default_allows_everything() {
        // docs/app-policy-research.md §1.1.
        let default = policy(json!({ "id": "00000000-0000-0000-0000-000000000000", "isEnabled": false,
            "applicationRestrictions": { "passwordCredentials": [{ "restrictionType": "passwordAddition", "maxLifetime": null }], "keyCredentials": [] } }));
        assert_eq!(SecretRules::from_policies(Some(&default), None, Utc::now()), SecretRules::default());
    }

    #[test]
    fn blocks_and_caps_apply_to_apps_created_after_their_date() {
        let default = policy(json!({ "id": "00000000-0000-0000-0000-000000000000", "isEnabled": true,
            "applicationRestrictions": { "passwordCredentials": [
                { "restrictionType": "passwordAddition", "maxLifetime": null, "restrictForAppsCreatedAfterDateTime": "2021-01-01T10:37:00Z" },
                { "restrictionType": "passwordLifetime", "maxLifetime": "P4DT12H30M5S", "restrictForAppsCreatedAfterDateTime": "2017-01-01T10:37:00Z" }
            ] } }));
        let new = SecretRules::from_policies(Some(&default), None, Utc::now());
        assert_eq!(new.blocked_by.as_deref(), Some("00000000-0000-0000-0000-000000000000"));
        assert_eq!(new.max_days, Some(4));
        assert_eq!(new.days(730), 4);
        assert_eq!(new.days(2), 2);
        let old_app = end_of(Some("2019-06-01T00:00:00Z")).unwrap();
        let old = SecretRules::from_policies(Some(&default), None, old_app);
        assert_eq!(old.blocked_by, None, "created before the block's date");
        assert_eq!(old.max_days, Some(4));
    }

    #[test]
    fn a_certificate_longer_than_the_policy_allows_is_refused_before_writing() {
        let default = policy(json!({ "id": "p3", "isEnabled": true,
            "applicationRestrictions": { "passwordCredentials": [], "keyCredentials": [{ "restrictionType": "asymmetricKeyLifetime", "maxLifetime": "P30D" }] } }));
        let now = Utc::now();
        let rules = SecretRules::from_policies(Some(&default), None, now);
        assert_eq!(rules.certificate_max_days, Some(30));
        assert_eq!(rules.max_days, None);
        let start = now.timestamp() - 300;
        assert!(rules.check_certificate(start, start + 30 * 86_400).is_ok(), "exactly the cap");
        assert!(rules.check_certificate(start, start + 30 * 86_400 + 1).is_err());
        let e = rules.check_certificate(start, start + 365 * 86_400).unwrap_err();
        assert_eq!(e.code, ErrorCode::PolicyBlocked);
        assert!(e.message.contains("at most 30 days"), "{}", e.message);
    }

    #[test]
    fn a_blocked_secret_needs_a_certificate_and_a_cap_shortens_the_secret() {
        let blocked = SecretRules { blocked_by: Some("p1".into()), ..Default::default() };
        let e = blocked.decide_secret(730, false, false).unwrap_err();
        assert_eq!(e.code, ErrorCode::PolicyBlocked);
        assert!(
            e.message.contains("policy p1 blocks client secrets") && e.message.contains("-NewCertificate"),
            "{}",
            e.message
        );
        assert!(blocked.decide_secret(730, true, true).is_err(), "-NewSecret under a block");
        // -CredentialType Certificate: no secret, blocked or not; never without the certificate.
        let only = blocked.decide_secret_for(730, false, true, true).unwrap();
        assert!(only.action.is_none() && only.note.as_deref().is_some_and(|n| n.contains("Certificate only")));
        assert!(blocked.decide_secret_for(730, false, false, true).is_err(), "certificate-only without a certificate");
        let with_cert = blocked.decide_secret(730, false, true).unwrap();
        assert_eq!(with_cert.days, None);
        assert!(with_cert.note.unwrap().contains("certificate"));
        let capped = SecretRules { max_days: Some(90), capped_by: Some("p2".into()), ..Default::default() };
        let d = capped.decide_secret(730, false, false).unwrap();
        assert_eq!(d.days, Some(90));
        assert!(d.action.unwrap().contains("90 days (capped by app management policy p2)"));
        assert_eq!(capped.decide_secret(30, false, false).unwrap().note, None);
    }

    #[test]
    fn a_custom_policy_overrides_the_default_for_what_it_defines() {
        let default = policy(json!({ "id": "00000000-0000-0000-0000-000000000000", "isEnabled": true,
            "applicationRestrictions": { "passwordCredentials": [
                { "restrictionType": "passwordAddition" }, { "restrictionType": "passwordLifetime", "maxLifetime": "P30D" } ] } }));
        let custom = policy(json!({ "id": "db9d4b58-3488-4da4-9994-49773c454e33", "isEnabled": true,
            "restrictions": { "passwordCredentials": [{ "restrictionType": "passwordAddition", "state": "disabled" }] } }));
        let rules = SecretRules::from_policies(Some(&default), Some(&custom), Utc::now());
        assert_eq!(rules.blocked_by, None, "the custom policy exempts the app from the block");
        assert_eq!(rules.capped_by.as_deref(), Some("00000000-0000-0000-0000-000000000000"));
        assert_eq!(rules.max_days, Some(30));
    }
}
