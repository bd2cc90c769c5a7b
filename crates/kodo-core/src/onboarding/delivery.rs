//! Secrets delivered, or not. A client secret's text exists once, in addPassword's answer: a run
//! killed after that write and before its result reached the admin leaves a live secret that
//! nobody holds. So a secret is made in three steps:
//!
//! 1. the app is marked first (`KodoSecretPending:<nonce>` among its tags, written with the app
//!    when it is created, else by a PATCH of its tags);
//! 2. the secret (or a certificate Kodo generated) is added, its display name ending in
//!    `#<nonce>`;
//! 3. once the host has handed the result to the admin (written it to the pipeline, the
//!    certificate's PFX or store, or the sink the admin chose), the mark is cleared
//!    ([`confirm`], the `app.secret.confirm` request).
//!
//! A re-run that finds a mark removes the secrets it names (made, never reported: orphans) and
//! makes a new one. Killed anywhere, the next run converges: one working secret that the admin
//! holds, and no orphan. Killed after step 3's write is sent but before it lands, the re-run
//! replaces a secret the admin may hold: it reports the new one, so the admin still ends up
//! holding a working credential.

use crate::error::KodoError;
use crate::graph::models::Application;
use crate::graph::{Graph, Request, Retry};
use serde::Deserialize;
use serde_json::{Value, json};

/// The tag prefix of a pending secret's mark.
pub(crate) const PENDING_TAG: &str = "KodoSecretPending:";

/// A fresh nonce for a secret's mark (8 hex digits).
pub(crate) fn new_nonce() -> String {
    uuid::Uuid::new_v4().simple().to_string()[..8].to_string()
}

/// The mark of `nonce`.
pub(crate) fn mark(nonce: &str) -> String {
    format!("{PENDING_TAG}{nonce}")
}

/// The display name of a secret made under `nonce`.
pub(crate) fn secret_name(date: &str, nonce: &str) -> String {
    format!("Kodo {date} #{nonce}")
}

/// The nonces of the app's marks: secrets made and never reported (or about to be made).
pub(crate) fn pending(app: Option<&Application>) -> Vec<String> {
    app.and_then(|a| a.tags.as_ref())
        .map(|tags| tags.iter().filter_map(|t| t.strip_prefix(PENDING_TAG)).map(str::to_string).collect())
        .unwrap_or_default()
}

/// Every nonce that the app's marks and its Kodo-named credentials carry: for an app that an
/// interrupted run made moments ago and whose marks this run's create overwrote (the app was
/// still replicating when this run looked for it), where no credential can be known delivered.
pub(crate) fn all_nonces(app: Option<&Application>) -> Vec<String> {
    let mut nonces = pending(app);
    if let Some(app) = app {
        let names = app.password_credentials().iter().map(|c| c.display_name.as_deref());
        let names = names.chain(app.key_credentials().iter().map(|c| c.display_name.as_deref()));
        for (_, nonce) in names.flatten().filter(|n| n.starts_with("Kodo ")).filter_map(|n| n.rsplit_once(" #")) {
            if !nonces.iter().any(|x| x == nonce) {
                nonces.push(nonce.to_string());
            }
        }
    }
    nonces
}

/// True if a credential's display name carries one of `nonces`.
fn marked(display_name: Option<&str>, nonces: &[String]) -> bool {
    display_name.and_then(|n| n.rsplit_once(" #")).is_some_and(|(_, nonce)| nonces.iter().any(|x| x == nonce))
}

/// The keyIds among `credentials` (display name, keyId) that carry one of `nonces`.
fn marked_ids<'a>(
    credentials: impl Iterator<Item = (Option<&'a str>, Option<&'a String>)>,
    nonces: &[String],
) -> Vec<String> {
    credentials.filter(|(name, _)| marked(*name, nonces)).filter_map(|(_, id)| id.cloned()).collect()
}

/// The keyIds of the app's secrets that carry one of `nonces`: made by an interrupted run and
/// never reported.
pub(crate) fn orphans(app: Option<&Application>, nonces: &[String]) -> Vec<String> {
    let Some(app) = app else { return Vec::new() };
    marked_ids(app.password_credentials().iter().map(|c| (c.display_name.as_deref(), c.key_id.as_ref())), nonces)
}

/// The keyIds of the app's certificates that carry one of `nonces`: added by an interrupted
/// run whose private key never reached the admin (no PFX written, nothing in the store).
pub(crate) fn orphan_keys(app: Option<&Application>, nonces: &[String]) -> Vec<String> {
    let Some(app) = app else { return Vec::new() };
    marked_ids(app.key_credentials().iter().map(|c| (c.display_name.as_deref(), c.key_id.as_ref())), nonces)
}

/// The app's tags without any mark.
pub(crate) fn unmarked(tags: &[String]) -> Vec<String> {
    tags.iter().filter(|t| !t.starts_with(PENDING_TAG)).cloned().collect()
}

/// Writes the app's tags (`tags`, the whole collection).
pub(crate) async fn write_tags(graph: &Graph<'_>, app_object_id: &str, tags: &[String]) -> Result<(), KodoError> {
    let request = Request::patch(format!("applications/{app_object_id}"), json!({ "tags": tags }), Retry::Idempotent);
    graph.call(&request).await?;
    Ok(())
}

/// What the host sends back once the secret is in the admin's hands.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ConfirmSecret {
    pub app_object_id: String,
    /// The app's tags without the mark, as the run last wrote them (used only without `nonce`).
    pub tags: Vec<String>,
    /// The run's nonce: its mark goes (with `marks`), from the tags as they are now.
    #[serde(default)]
    pub nonce: Option<String>,
    /// The marks the run saw on the app and dealt with (an interrupted run's, whose credentials
    /// it removed): they go too. A mark another run added meanwhile stays.
    #[serde(default)]
    pub marks: Vec<String>,
}

/// What a result carries for the host to confirm once it has delivered the secret.
pub(crate) fn confirmation(app_object_id: &str, tags: &[String], nonce: &str) -> Value {
    let marks: Vec<&String> = tags.iter().filter(|t| t.starts_with(PENDING_TAG)).collect();
    json!({ "appObjectId": app_object_id, "tags": unmarked(tags), "nonce": nonce, "marks": marks })
}

/// How many read-modify-writes of the tags are tried before giving up.
const TAG_WRITE_ATTEMPTS: u32 = 3;

/// `app.secret.confirm`: the secret reached the admin; the mark goes.
///
/// `tags` is a collection PATCH replaces whole, so the confirmation is a guarded
/// read-modify-write: the tags are read afresh (what another run or an admin wrote since this
/// run's own write stays), only this run's mark is taken out, and they are read again after the
/// write to check that the mark is gone (tried [`TAG_WRITE_ATTEMPTS`] times). The marks of
/// interrupted runs this run dealt with go as well; a mark another run added meanwhile stays. The fresh read also
/// shows whether the secret is still there: another run that found the mark before it was
/// cleared took the secret for an orphan and replaced it (`replaced: true`; the host warns).
pub async fn confirm(graph: &Graph<'_>, req: ConfirmSecret) -> Result<Value, KodoError> {
    super::check_guid("appObjectId", &req.app_object_id)?;
    if req.tags.iter().any(|t| t.starts_with(PENDING_TAG)) {
        return Err(KodoError::new(
            crate::error::ErrorCode::InvalidArgument,
            "The tags to confirm a secret with still carry a pending mark.",
        ));
    }
    let Some(nonce) = req.nonce.filter(|n| !n.is_empty()) else {
        write_tags(graph, &req.app_object_id, &req.tags).await?;
        return Ok(json!({ "confirmed": true }));
    };
    let mut clear: Vec<String> = req.marks.into_iter().filter(|m| m.starts_with(PENDING_TAG)).collect();
    clear.push(mark(&nonce));
    let read_request = || {
        Request::get(
            format!("applications/{}?$select=id,tags,passwordCredentials,keyCredentials", req.app_object_id),
            Retry::Replication,
        )
    };
    let read = || async {
        let request = read_request();
        graph.send(&request).await?.json::<Application>(&request)
    };
    let mut app = read().await?;
    let names: Vec<Option<&str>> = app
        .password_credentials()
        .iter()
        .map(|c| c.display_name.as_deref())
        .chain(app.key_credentials().iter().map(|c| c.display_name.as_deref()))
        .collect();
    let replaced = !names.into_iter().any(|n| marked(n, std::slice::from_ref(&nonce)));
    for _ in 0..TAG_WRITE_ATTEMPTS {
        let tags = app.tags.clone().unwrap_or_default();
        if !tags.iter().any(|t| clear.contains(t)) {
            return Ok(json!({ "confirmed": true, "replaced": replaced }));
        }
        let kept: Vec<String> = tags.into_iter().filter(|t| !clear.contains(t)).collect();
        // The write and its read-back in one `$batch` (the read `dependsOn` the write). Either
        // did not succeed there (throttled, say): each again on its own, with its own retries.
        let write =
            Request::patch(format!("applications/{}", req.app_object_id), json!({ "tags": kept }), Retry::Idempotent);
        // The `$batch` itself failing (a dropped connection, a gateway timeout: it is sent
        // without retries) is the same: each again on its own (the PATCH carries the whole list,
        // so sending it twice is harmless).
        let answers = match graph.batch_chain(&[write, read_request()]).await {
            Ok(answers) => answers,
            Err(e) if e.code == crate::error::ErrorCode::Cancelled => return Err(e),
            Err(_) => Vec::new(),
        };
        let mut answers = answers.into_iter();
        let (written, read_back) = (answers.next().unwrap_or_default(), answers.next().unwrap_or_default());
        if !written.ok() {
            write_tags(graph, &req.app_object_id, &kept).await?;
            app = read().await?;
        } else if read_back.ok() {
            app = read_back.json::<Application>(&read_request())?;
        } else {
            app = read().await?;
        }
    }
    if app.tags.as_deref().unwrap_or_default().iter().any(|t| clear.contains(t)) {
        return Err(KodoError::new(
            crate::error::ErrorCode::ServiceError,
            "The app's tags kept changing while Kodo cleared the mark of the delivered secret.",
        ));
    }
    Ok(json!({ "confirmed": true, "replaced": replaced }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn app(tags: &[&str], secrets: &[(&str, &str)]) -> Application {
        serde_json::from_value(json!({
            "id": "6a3c1e2e-0000-4000-8000-000000000001", "appId": "6a3c1e2e-0000-4000-8000-000000000002",
            "displayName": "KODO", "tags": tags,
            "passwordCredentials": secrets.iter().map(|(k, n)| json!({ "keyId": k, "displayName": n })).collect::<Vec<_>>(),
        }))
        .unwrap()
    }

    #[test]
    fn a_mark_names_the_secrets_an_interrupted_run_never_reported() {
        let a = app(
            &["KodoManaged", "KodoSecretPending:0badf00d"],
            &[("k1", "Kodo 2026-01-01"), ("k2", "Kodo 2026-12-03 #0badf00d"), ("k3", "Kodo 2026-12-03 #12345678")],
        );
        let nonces = pending(Some(&a));
        assert_eq!(nonces, ["0badf00d"]);
        assert_eq!(orphans(Some(&a), &nonces), ["k2"]);
        assert_eq!(unmarked(a.tags.as_deref().unwrap()), ["KodoManaged"]);
        assert!(orphans(Some(&a), &[]).is_empty());
        let n = new_nonce();
        assert_eq!(n.len(), 8);
        assert_eq!(orphans(Some(&app(&[], &[("k", &secret_name("2026-12-03", &n))])), &[n]), ["k"]);
    }
}
