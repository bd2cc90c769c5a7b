//! Interactive browser sign-in: authorization code + PKCE (RFC 7636, S256) with a loopback
//! redirect (RFC 8252 §7.3), as MSAL and `Connect-MgGraph` do at a desktop.
//!
//! Kodo listens on `127.0.0.1` (and `::1` when it can) at a free port, asks the host to open
//! the system browser at the authorize URL (a `browser` prompt), and waits for the browser to
//! come back to `http://localhost:<port>/` with the code (or an error) and the `state` it sent.
//! The code is redeemed by the caller with the verifier, which never leaves this process.
//! Facts: docs/signin-research.md §7.

use crate::context::OpContext;
use crate::error::{ErrorCode, KodoError};
use serde_json::json;
use std::collections::HashMap;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// How long the browser has to come back (the sign-in page itself expires sooner).
const WAIT: Duration = Duration::from_secs(300);

/// What the browser brought back: the code, and the redirect URI and verifier to redeem it.
pub struct Authorization {
    pub code: String,
    pub redirect_uri: String,
    pub verifier: String,
}

/// Where to sign in and as what.
pub struct AuthorizeRequest<'a> {
    /// `https://login.microsoftonline.com` (or the emulator's own address in emulator mode: the
    /// browser must reach it directly).
    pub authority: &'a str,
    pub tenant: &'a str,
    pub client_id: &'a str,
    pub scope: &'a str,
    /// The account of an earlier sign-in in this session, so that single sign-on picks it.
    pub login_hint: Option<&'a str>,
}

fn random_b64url(bytes: usize) -> String {
    use ring::rand::SecureRandom;
    let mut buf = vec![0u8; bytes];
    // SystemRandom only fails when the OS has no randomness at all.
    ring::rand::SystemRandom::new().fill(&mut buf).expect("the OS random number generator");
    crate::crypto::b64url(&buf)
}

/// The S256 challenge of a verifier (RFC 7636 §4.2).
pub fn challenge_of(verifier: &str) -> String {
    crate::crypto::b64url(ring::digest::digest(&ring::digest::SHA256, verifier.as_bytes()).as_ref())
}

fn failed(message: String) -> KodoError {
    KodoError::new(ErrorCode::AuthenticationFailed, message)
}

/// Runs the browser part of the sign-in and returns the authorization.
pub async fn authorize(ctx: &OpContext, request: &AuthorizeRequest<'_>) -> Result<Authorization, KodoError> {
    let v4 = TcpListener::bind(("127.0.0.1", 0)).await.map_err(|e| {
        failed(format!("Kodo could not listen on this computer's loopback address for the browser's answer: {e}"))
    })?;
    let port = v4.local_addr().map_err(|e| failed(e.to_string()))?.port();
    // `localhost` may resolve to ::1 first; listen there too when the system has IPv6.
    let v6 = TcpListener::bind(("::1", port)).await.ok();
    let redirect_uri = format!("http://localhost:{port}");
    let verifier = random_b64url(32);
    let state = random_b64url(16);
    // Built in a block: the serializer is not Send and must not live across an await.
    let url = {
        let mut query = form_urlencoded::Serializer::new(String::new());
        query
            .append_pair("client_id", request.client_id)
            .append_pair("response_type", "code")
            .append_pair("redirect_uri", &redirect_uri)
            .append_pair("response_mode", "query")
            .append_pair("scope", request.scope)
            .append_pair("state", &state)
            .append_pair("code_challenge", &challenge_of(&verifier))
            .append_pair("code_challenge_method", "S256");
        match request.login_hint {
            Some(hint) => query.append_pair("login_hint", hint),
            None => query.append_pair("prompt", "select_account"),
        };
        format!("{}/{}/oauth2/v2.0/authorize?{}", request.authority, request.tenant, query.finish())
    };
    ctx.prompt(
        format!("Sign in in the browser window that opened. If none opened, open this address in a browser on this computer: {url}"),
        json!({ "kind": "browser", "url": url, "redirectUri": redirect_uri, "expiresIn": WAIT.as_secs() }),
    );
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let accepted = tokio::time::timeout_at(deadline, async {
            match &v6 {
                Some(v6) => tokio::select! { a = v4.accept() => a, a = v6.accept() => a },
                None => v4.accept().await,
            }
        })
        .await;
        let mut stream = match accepted {
            Err(_) => {
                return Err(KodoError::new(
                    ErrorCode::Timeout,
                    format!(
                        "The browser did not come back within {} minutes. Run Connect-Kodo again, or use -UseDeviceCode where no browser can reach this computer.",
                        WAIT.as_secs() / 60
                    ),
                ));
            }
            Ok(Err(_)) => continue,
            Ok(Ok((s, _))) => s,
        };
        let Some(params) = read_redirect(&mut stream).await else {
            // Not the redirect (a favicon, a probe): answer and keep waiting.
            let _ = respond(&mut stream, "404 Not Found", "Not found.").await;
            continue;
        };
        if params.get("state").map(String::as_str) != Some(state.as_str()) {
            let _ = respond(&mut stream, "400 Bad Request", "This sign-in answer is not for Kodo's request.").await;
            continue;
        }
        if let Some(error) = params.get("error") {
            let _ = respond(&mut stream, "200 OK", "Kodo: the sign-in did not complete. Return to PowerShell.").await;
            let body = json!({ "error": error, "error_description": params.get("error_description").cloned().unwrap_or_default() });
            return Err(super::aadsts_error(&body, request.client_id, request.tenant));
        }
        let Some(code) = params.get("code").cloned() else {
            let _ = respond(&mut stream, "400 Bad Request", "The answer carries no code.").await;
            continue;
        };
        let _ = respond(
            &mut stream,
            "200 OK",
            "Kodo: you are signed in. You can close this window and return to PowerShell.",
        )
        .await;
        return Ok(Authorization { code, redirect_uri, verifier });
    }
}

/// Reads one HTTP request and returns the query of a `GET /?…`, or None for anything else.
async fn read_redirect(stream: &mut TcpStream) -> Option<HashMap<String, String>> {
    let mut buf = Vec::with_capacity(2048);
    let mut chunk = [0u8; 2048];
    // The request line and headers; the redirect has no body. Bounded in size and time.
    while !buf.windows(4).any(|w| w == b"\r\n\r\n") && buf.len() < 16 * 1024 {
        let n = tokio::time::timeout(Duration::from_secs(10), stream.read(&mut chunk)).await.ok()?.ok()?;
        if n == 0 {
            break;
        }
        buf.extend_from_slice(&chunk[..n]);
    }
    let text = String::from_utf8_lossy(&buf);
    let line = text.lines().next()?;
    let mut parts = line.split(' ');
    if parts.next()? != "GET" {
        return None;
    }
    let target = parts.next()?;
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    if path != "/" || query.is_empty() {
        return None;
    }
    Some(form_urlencoded::parse(query.as_bytes()).into_owned().collect())
}

async fn respond(stream: &mut TcpStream, status: &str, text: &str) -> std::io::Result<()> {
    let body = format!(
        "<!DOCTYPE html><html><head><meta charset=\"utf-8\"><title>Kodo</title></head><body><p>{text}</p></body></html>"
    );
    let head = format!(
        "HTTP/1.1 {status}\r\nContent-Type: text/html; charset=utf-8\r\nContent-Length: {}\r\nCache-Control: no-store\r\nConnection: close\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).await?;
    stream.write_all(body.as_bytes()).await?;
    stream.shutdown().await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_s256_challenge_is_rfc_7636s_example() {
        // RFC 7636 Appendix B.
        assert_eq!(
            challenge_of("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"),
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        );
    }
}
