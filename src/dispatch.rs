//! A request to the core call that serves it: the one place where protocol requests meet
//! `kodo_core`. Operations that need a connection take the session's.

use crate::engine::{LIBRARY_VERSION, PROFILE, Session, TARGET, version_info};
use crate::protocol::Request;
use kodo_core::context::{LogLevel, OpContext};
use kodo_core::error::KodoError;
use kodo_core::graph::Graph;
use kodo_core::{onboarding, sharepoint};
use serde_json::{Value, json};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

pub async fn run(session: &Session, request: Request, ctx: &OpContext) -> Result<Value, KodoError> {
    match request {
        Request::Version {} => {
            ctx.log(LogLevel::Debug, format!("kodo native library {LIBRARY_VERSION} ({TARGET}, {PROFILE})"));
            Ok(version_info())
        }
        Request::DebugSleep { ms, progress_every_ms } => {
            let step = progress_every_ms.clamp(1, 60_000);
            let mut slept = 0u64;
            while slept < ms {
                let chunk = step.min(ms - slept);
                tokio::time::sleep(Duration::from_millis(chunk)).await;
                slept += chunk;
                let percent = u8::try_from(slept.saturating_mul(100) / ms.max(1)).unwrap_or(100);
                ctx.progress("Sleeping", format!("{slept} of {ms} ms"), Some(percent));
            }
            Ok(json!({ "sleptMs": slept }))
        }
        Request::DebugFail { code, message, target } => {
            let mut e = KodoError::new(code, message);
            e.target = target;
            Err(e)
        }
        Request::DebugPanic { message, .. } => panic!("{message}"),
        Request::DebugEvents {} => {
            ctx.progress("Debug events", "halfway", Some(50));
            ctx.log(LogLevel::Verbose, "a verbose line");
            ctx.log(LogLevel::Debug, "a debug line");
            ctx.log(LogLevel::Information, "an information line");
            ctx.warn("a warning");
            ctx.prompt(
                "To sign in, use a web browser to open the page https://microsoft.com/devicelogin and enter the code DEBUG1234 to authenticate.".into(),
                json!({ "userCode": "DEBUG1234", "verificationUri": "https://microsoft.com/devicelogin" }),
            );
            Ok(json!({ "emitted": ["progress", "log", "log", "log", "warning", "prompt"] }))
        }
        Request::Connect { tenant_id, environment, credential } => {
            connect(session, ctx, tenant_id, environment, credential).await
        }
        Request::Disconnect {} => {
            let previous = session.connection.write().await.take();
            match previous {
                Some(c) => {
                    c.forget().await;
                    Ok(json!({ "disconnected": true, "tenantId": c.context()["tenantId"] }))
                }
                None => Ok(json!({ "disconnected": false })),
            }
        }
        Request::TokenInfo { resource } => {
            let connection = session.connected().await?;
            let resource = match resource.as_str() {
                "graph" => connection.env.graph.clone(),
                "exchange" => connection.env.exchange.clone(),
                other => other.to_string(),
            };
            let token = connection.token(ctx, &resource).await?;
            let claims = kodo_core::crypto::jwt_claims(&token);
            Ok(json!({
                "resource": resource,
                "audience": claims["aud"],
                "clientId": claims["appid"],
                "appOnly": claims["idtyp"] == "app",
                "roles": claims["roles"].as_array().cloned().unwrap_or_default(),
                "scopes": claims["scp"].as_str().map(|s| s.split_whitespace().collect::<Vec<_>>()).unwrap_or_default(),
                "authMethod": claims["appidacr"],
                "expiresOn": claims["exp"].as_i64().and_then(|e| chrono::DateTime::from_timestamp(e, 0)).map(|d| d.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)),
            }))
        }
        Request::EnsureApp(req) => {
            let connection = session.connected().await?;
            let graph = Graph::new(&connection, ctx);
            let mut result = onboarding::ensure_app(ctx, &graph, req).await?;
            result["tenantId"] = connection.context()["tenantId"].clone();
            Ok(result)
        }
        Request::ConfirmSecret(req) => {
            let connection = session.connected().await?;
            onboarding::delivery::confirm(&Graph::new(&connection, ctx), req).await
        }
        Request::GrantEws(req) => {
            let connection = session.connected().await?;
            onboarding::ews::grant_ews(&connection, ctx, req).await
        }
        Request::GrantPermissions(req) => {
            let connection = session.connected().await?;
            onboarding::grant_permissions(&connection, ctx, &Graph::new(&connection, ctx), req).await
        }
        Request::Onboard(req) => {
            let connection = session.connected().await?;
            onboarding::onboard(&connection, ctx, &Graph::new(&connection, ctx), req).await
        }
        Request::OnboardMany(req) => onboarding::onboard_many(ctx, req).await,
        Request::LedgerStatus(req) => kodo_core::ledger::status(req),
        Request::LedgerMerge(req) => kodo_core::ledger::merge(req, &|m| ctx.warn(m)),
        Request::TestApp(req) => {
            let connection = session.connected().await?;
            onboarding::test_app(&connection, ctx, &Graph::new(&connection, ctx), req).await
        }
        Request::ConsentLink(req) => {
            let connection = session.connected().await?;
            onboarding::multitenant::consent_link(&connection.env, ctx, req)
        }
        Request::TestConsent(req) => {
            let env = session.connected().await?.env.clone();
            onboarding::multitenant::test_consent(&env, ctx, req).await
        }
        Request::GrantConsentGdap(req) => {
            let connection = session.connected().await?;
            onboarding::multitenant::grant_consent_gdap(&connection, ctx, req).await
        }
        Request::TestGdap(req) => {
            let connection = session.connected().await?;
            onboarding::multitenant::test_gdap(&Graph::new(&connection, ctx), req).await
        }
        Request::FindApps(req) => {
            let connection = session.connected().await?;
            onboarding::find_apps(&connection, ctx, &Graph::new(&connection, ctx), req).await
        }
        Request::RemoveCredential(req) => {
            let connection = session.connected().await?;
            onboarding::remove_credential(ctx, &Graph::new(&connection, ctx), req).await
        }
        Request::RemoveApp(req) => {
            let connection = session.connected().await?;
            onboarding::remove_app(ctx, &Graph::new(&connection, ctx), req).await
        }
        Request::SharePointTenant { route, legacy_auth_protocols_enabled, approval } => {
            let connection = session.connected().await?;
            sharepoint::tenant(&connection, ctx, &route, legacy_auth_protocols_enabled, &approval).await
        }
        Request::SharePointVerify {} => {
            let connection = session.connected().await?;
            sharepoint::verify(&connection, ctx).await
        }
        Request::Context {} => Ok(session.connection.read().await.as_ref().map(|c| c.context()).unwrap_or(Value::Null)),
        Request::DebugStats { reset_peak } => {
            let stats = json!({
                "operationsStarted": crate::engine::OPS_STARTED.load(Ordering::Relaxed),
                // This operation itself is live while it runs.
                "operationsLive": crate::engine::OPS_LIVE.load(Ordering::Relaxed).saturating_sub(1),
                "operationsCancelled": crate::engine::OPS_CANCELLED.load(Ordering::Relaxed),
                // Tasks on the shared runtime (this operation's two included): a leak shows here.
                "runtimeTasks": tokio::runtime::Handle::current().metrics().num_alive_tasks(),
                // Handles and strings the C boundary handed out and that were not freed yet (this
                // operation's own handle included; its events are not handed out yet).
                "sessionHandles": crate::ffi::live_handles().0,
                "operationHandles": crate::ffi::live_handles().1,
                "stringsOutstanding": crate::ffi::outstanding_strings(),
                // The library's own heap (crate::memory): this operation's request and answer
                // included, a few kilobytes.
                "heapLiveBytes": crate::memory::live_bytes(),
                "heapPeakBytes": crate::memory::peak_bytes(),
            });
            if reset_peak {
                crate::memory::reset_peak();
            }
            Ok(stats)
        }
        Request::DebugAsk {} => {
            let answer = ctx.ask("debug", "a debug question", json!({})).await?;
            Ok(json!({ "answer": answer }))
        }
    }
}

/// `connect`: validates the input, signs in for Microsoft Graph, and keeps the connection.
async fn connect(
    session: &Session,
    ctx: &OpContext,
    tenant_id: Option<String>,
    environment: kodo_core::auth::EnvironmentSpec,
    credential: kodo_core::auth::CredentialSpec,
) -> Result<Value, KodoError> {
    let connection = match kodo_core::auth::connect(ctx, tenant_id, environment, credential).await {
        Ok(c) => c,
        Err(mut e) => {
            // The admin meant to leave the previous connection: a command after a failed
            // Connect-Kodo must not run against the tenant they were leaving (the wrong tenant).
            if let Some(previous) = session.connection.write().await.take() {
                let tenant = previous.context()["tenantId"].as_str().unwrap_or("?").to_string();
                previous.forget().await;
                e.message.push_str(&format!(" The previous connection (tenant {tenant}) was closed: connect again."));
            }
            return Err(e);
        }
    };
    let context = connection.context();
    *session.connection.write().await = Some(Arc::new(connection));
    Ok(context)
}
