//! An HTTP proxy that sends Microsoft's production hostnames to the emulator, so that tools
//! nobody here wrote (MSAL, the Graph SDKs, CLI for Microsoft 365) run unmodified against it
//! with `HTTPS_PROXY` set and the emulator's CA trusted.
//!
//! - `CONNECT host:443` for an emulated host: a TCP tunnel to the emulator's TLS port (its
//!   certificate names the production hostnames).
//! - Absolute-form requests (`GET https://graph.microsoft.com/v1.0/…` sent to the proxy in
//!   plain HTTP, as axios-based clients do): served in process by the emulator's router.
//! - Any other host is refused with 403: nothing leaves the machine.

use super::server::PRODUCTION_HOSTS;
use axum::body::Body;
use hyper::body::Incoming;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use std::net::SocketAddr;
use tower::ServiceExt;

/// True if `host` (no port) is one the emulator answers for.
pub fn is_emulated_host(host: &str) -> bool {
    let h = host.to_ascii_lowercase();
    PRODUCTION_HOSTS.iter().any(|p| match p.strip_prefix("*.") {
        Some(suffix) => h.ends_with(&format!(".{suffix}")) && !h[..h.len() - suffix.len() - 1].contains('.'),
        None => h == *p,
    })
}

fn refuse(host: &str) -> Response<Body> {
    Response::builder()
        .status(StatusCode::FORBIDDEN)
        .header("content-type", "text/plain")
        .header("connection", "close")
        .body(Body::from(format!(
            "kodo-emulator proxy: {host} is not an emulated host; nothing is forwarded off this machine\n"
        )))
        .unwrap_or_default()
}

/// Starts the proxy on `listen`; returns its address.
pub async fn start(listen: SocketAddr, emulator: SocketAddr, router: axum::Router) -> Result<SocketAddr, String> {
    if !listen.ip().is_loopback() {
        return Err(format!("the proxy listens on loopback only; {listen} is not a loopback address"));
    }
    let listener = tokio::net::TcpListener::bind(listen).await.map_err(|e| format!("{listen}: {e}"))?;
    let addr = listener.local_addr().map_err(|e| e.to_string())?;
    tokio::spawn(async move {
        loop {
            let Ok((stream, peer)) = listener.accept().await else { continue };
            let router = router.clone();
            tokio::spawn(async move {
                let service = hyper::service::service_fn(move |req: Request<Incoming>| {
                    let router = router.clone();
                    async move { Ok::<_, std::convert::Infallible>(handle(req, peer, emulator, router).await) }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .with_upgrades()
                    .await;
            });
        }
    });
    Ok(addr)
}

async fn handle(
    req: Request<Incoming>,
    peer: SocketAddr,
    emulator: SocketAddr,
    router: axum::Router,
) -> Response<Body> {
    if req.method() == Method::CONNECT {
        let authority = req.uri().authority().map(|a| a.to_string()).unwrap_or_default();
        let host = authority.split(':').next().unwrap_or("").to_string();
        if !is_emulated_host(&host) {
            return refuse(&host);
        }
        tokio::spawn(async move {
            if let Ok(upgraded) = hyper::upgrade::on(req).await {
                if let Ok(mut upstream) = tokio::net::TcpStream::connect(emulator).await {
                    let mut client = TokioIo::new(upgraded);
                    let _ = tokio::io::copy_bidirectional(&mut client, &mut upstream).await;
                }
            }
        });
        return Response::new(Body::empty());
    }
    // Absolute-form: the URI carries the host.
    let host = req
        .uri()
        .host()
        .map(str::to_string)
        .or_else(|| {
            req.headers()
                .get("host")
                .and_then(|h| h.to_str().ok())
                .map(|h| h.split(':').next().unwrap_or("").to_string())
        })
        .unwrap_or_default();
    if !is_emulated_host(&host) {
        return refuse(&host);
    }
    let (mut parts, body) = req.into_parts();
    if let Ok(v) = hyper::header::HeaderValue::from_str(&host) {
        parts.headers.insert(hyper::header::HOST, v);
    }
    // The request log names the client's connection to the proxy.
    parts.extensions.insert(axum::extract::ConnectInfo(peer));
    let req = Request::from_parts(parts, Body::new(body));
    match router.oneshot(req).await {
        Ok(r) => r,
        Err(never) => match never {},
    }
}

#[cfg(test)]
mod tests {
    use super::is_emulated_host;

    #[test]
    fn only_production_hosts_are_emulated() {
        assert!(is_emulated_host("graph.microsoft.com"));
        assert!(is_emulated_host("login.microsoftonline.com"));
        assert!(is_emulated_host("contoso-admin.sharepoint.com"));
        assert!(is_emulated_host("CONTOSO.SharePoint.com"));
        assert!(!is_emulated_host("a.b.sharepoint.com"));
        assert!(!is_emulated_host("sharepoint.com"));
        assert!(!is_emulated_host("example.com"));
        assert!(!is_emulated_host("graph.microsoft.com.evil.example"));
    }
}
