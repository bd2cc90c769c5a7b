//! Sign-in: the token flows and the token cache of a [`Connection`], and [`connect`]. The
//! clouds are in [`cloud`], what a sign-in is made with in [`credential`], and the errors that
//! say what went wrong in [`errors`].
//!
//! Flows (facts.md §4): client credentials with a secret or a certificate assertion (signed here
//! from a PEM key, or by the host when the key lives in the Windows certificate store), device
//! code and the system browser (authorization code + PKCE, [`browser`]) with refresh tokens,
//! through the admin's own public client or Microsoft's for each resource ([`clients`]), managed identity (Azure Automation / App Service endpoint, IMDS),
//! and a supplied access token. Tokens are cached per resource and refreshed 5 minutes before
//! they expire. No secret or token is ever put in an event, an error or a log line.

pub mod browser;
pub mod clients;
pub mod cloud;
pub mod credential;
pub mod errors;

pub use cloud::{Environment, EnvironmentSpec};
pub use credential::{CredentialSpec, DELEGATED_GRAPH_SCOPES, Secret};
pub use errors::aadsts_error;

use crate::context::{LogLevel, OpContext};
use crate::error::{ErrorCode, KodoError};
use credential::parse_pem;
use errors::connection_error;
use serde_json::{Value, json};
use std::collections::HashMap;
use std::time::Duration;

#[derive(Clone, Copy, PartialEq, Eq)]
enum Flow {
    DeviceCode,
    Browser,
}

enum Signer {
    Local(Box<crate::crypto::RsaSigningKey>),
    Host,
}

enum Cred {
    Secret(Secret),
    Certificate {
        der: Vec<u8>,
        signer: Signer,
    },
    /// An administrator: `own_client` is the public client they named, or none for
    /// Microsoft's per resource ([`clients::default_client`]).
    Delegated {
        flow: Flow,
        own_client: Option<String>,
        scopes: Vec<String>,
    },
    ManagedIdentity {
        client_id: Option<String>,
        endpoint: Option<String>,
        header: Option<Secret>,
        imds: String,
    },
    AccessToken(Secret),
}

#[derive(Clone)]
struct Cached {
    token: Secret,
    expires_at: i64,
}

/// A signed-in connection: what Get-KodoContext describes.
pub struct Connection {
    pub env: Environment,
    pub tenant: String,
    pub client_id: String,
    pub kind: &'static str,
    cred: Cred,
    http: reqwest::Client,
    cache: tokio::sync::Mutex<HashMap<String, Cached>>,
    /// Refresh tokens of a delegated sign-in, per client (a refresh token is bound to its
    /// client, facts.md §4.4).
    refresh: tokio::sync::Mutex<HashMap<String, Secret>>,
    pub thumbprint: Option<String>,
    /// Claims of the first Graph token (who we are, what we may do).
    pub claims: parking_lot::Mutex<Value>,
}

fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

/// How far this machine's clock may be from Microsoft's before a supplied token's `exp` is
/// judged here: the default clock skew of Microsoft's token validators
/// (`TokenValidationParameters.DefaultClockSkew`, 300 seconds,
/// https://learn.microsoft.com/dotnet/api/microsoft.identitymodel.tokens.tokenvalidationparameters.defaultclockskew).
const CLOCK_SKEW_SECS: i64 = 300;

/// A supplied token's `exp` is past even if this machine's clock (`now`) is up to
/// [`CLOCK_SKEW_SECS`] ahead of Microsoft's.
fn expired_beyond_skew(exp: i64, now: i64) -> bool {
    exp.saturating_add(CLOCK_SKEW_SECS) <= now
}

/// A token endpoint's answer: the access token, when it expires (expires_in may be a number or
/// a string), and the refresh token if any.
fn token_of(body: &Value) -> Result<(String, i64, Option<String>), KodoError> {
    let token = body["access_token"].as_str().unwrap_or("").to_string();
    if token.is_empty() {
        return Err(KodoError::new(
            ErrorCode::ServiceError,
            "Entra ID's token endpoint answered without an access token: try again in a moment.",
        ));
    }
    let expires_in = body["expires_in"]
        .as_i64()
        .or_else(|| body["expires_in"].as_str().and_then(|s| s.parse().ok()))
        .unwrap_or(3599);
    Ok((token, now() + expires_in, body["refresh_token"].as_str().map(str::to_string)))
}

fn jwt_claims(token: &str) -> Option<Value> {
    crate::crypto::parse_jwt(token).map(|j| j.claims)
}

impl Connection {
    pub fn new(tenant: Option<String>, env: Environment, spec: CredentialSpec) -> Result<Connection, KodoError> {
        let bad = |m: String| KodoError::new(ErrorCode::InvalidArgument, m);
        let http = crate::transport::client(env.ca_pem.as_deref(), env.resolve_to, env.request_timeout)
            .map_err(|e| KodoError::new(ErrorCode::InvalidArgument, e))?;
        let spec_kind = match &spec {
            CredentialSpec::DeviceCode { .. } => SpecKind::DeviceCode,
            _ => SpecKind::Other,
        };
        let (client_id, kind, cred, thumbprint) = match spec {
            CredentialSpec::ClientSecret { client_id, secret } => {
                if secret.expose().is_empty() {
                    return Err(bad("The client secret is empty.".into()));
                }
                (client_id, "ClientSecret", Cred::Secret(secret), None)
            }
            CredentialSpec::CertificatePem { client_id, pem } => {
                let (der, key) = parse_pem(pem.expose())?;
                let tp = crate::crypto::sha1_hex(&der);
                (client_id, "Certificate", Cred::Certificate { der, signer: Signer::Local(Box::new(key)) }, Some(tp))
            }
            CredentialSpec::HostCertificate { client_id, certificate } => {
                let der = crate::crypto::b64_decode(&certificate)
                    .ok_or_else(|| bad("The certificate is not base64 DER.".into()))?;
                crate::crypto::validity_of(&der).map_err(|e| bad(format!("The certificate cannot be read: {e}")))?;
                let tp = crate::crypto::sha1_hex(&der);
                (client_id, "Certificate", Cred::Certificate { der, signer: Signer::Host }, Some(tp))
            }
            CredentialSpec::DeviceCode { client_id: own_client, scopes }
            | CredentialSpec::Browser { client_id: own_client, scopes } => {
                let (flow, kind) = match &spec_kind {
                    SpecKind::DeviceCode => (Flow::DeviceCode, "DeviceCode"),
                    _ => (Flow::Browser, "Browser"),
                };
                let scopes = scopes.unwrap_or_else(|| DELEGATED_GRAPH_SCOPES.iter().map(|s| s.to_string()).collect());
                let shown = own_client.clone().unwrap_or_else(|| clients::GRAPH_COMMAND_LINE_TOOLS.to_string());
                (shown, kind, Cred::Delegated { flow, own_client, scopes }, None)
            }
            CredentialSpec::ManagedIdentity { client_id, endpoint, header, imds_endpoint } => {
                let imds =
                    imds_endpoint.unwrap_or_else(|| "http://169.254.169.254/metadata/identity/oauth2/token".into());
                if env.resolve_to.is_some() {
                    // Emulator mode never leaves this machine: the identity endpoint must be the
                    // emulator's (or another loopback one), never Azure's instance metadata.
                    let target = match &endpoint {
                        Some(e) if header.is_some() => e.as_str(),
                        _ => imds.as_str(),
                    };
                    if let Err(address) = crate::transport::emulator_target_allowed(target) {
                        return Err(bad(format!(
                            "In emulator mode Kodo sends nothing off this machine, and the managed identity endpoint is {address}. Set IDENTITY_ENDPOINT and IDENTITY_HEADER to the emulator's (Start-KodoEmulator's IdentityEndpoint and IdentityHeader)."
                        )));
                    }
                }
                (
                    client_id.clone().unwrap_or_default(),
                    "ManagedIdentity",
                    Cred::ManagedIdentity { client_id, endpoint, header, imds },
                    None,
                )
            }
            CredentialSpec::AccessToken { token } => {
                let claims = jwt_claims(token.expose()).ok_or_else(|| bad("The access token is not a JWT.".into()))?;
                let client = claims["appid"].as_str().or(claims["azp"].as_str()).unwrap_or("").to_string();
                (client, "AccessToken", Cred::AccessToken(token), None)
            }
        };
        for id in [&client_id] {
            if !id.is_empty() && uuid::Uuid::parse_str(id).is_err() {
                return Err(bad(format!(
                    "The client id '{id}' is not a GUID (the Application (client) ID of the app registration)."
                )));
            }
        }
        let tenant = tenant.unwrap_or_default();
        Ok(Connection {
            env,
            tenant,
            client_id,
            kind,
            cred,
            http,
            cache: tokio::sync::Mutex::new(HashMap::new()),
            refresh: tokio::sync::Mutex::new(HashMap::new()),
            thumbprint,
            claims: parking_lot::Mutex::new(Value::Null),
        })
    }

    pub fn http(&self) -> &reqwest::Client {
        &self.http
    }

    fn token_endpoint(&self) -> String {
        format!("{}/{}/oauth2/v2.0/token", self.env.login, self.authority_tenant())
    }

    /// The tenant to sign in to: the one named, or after a sign-in to `organizations` the one
    /// the admin signed in to (so a second client's sign-in lands in the same tenant).
    fn authority_tenant(&self) -> String {
        let named = self.tenant.to_ascii_lowercase();
        if named.is_empty() || named == "organizations" || named == "common" {
            if let Some(tid) = self.claims.lock()["tid"].as_str() {
                return tid.to_string();
            }
        }
        self.tenant.clone()
    }

    /// An access token for `resource` (e.g. `https://graph.microsoft.com`), from the cache when
    /// it has more than 5 minutes left.
    pub async fn token(&self, ctx: &OpContext, resource: &str) -> Result<String, KodoError> {
        let resource = resource.trim_end_matches('/').to_string();
        {
            let cache = self.cache.lock().await;
            if let Some(c) = cache.get(&resource) {
                if c.expires_at - now() > 300 {
                    return Ok(c.token.expose().to_string());
                }
            }
        }
        let (token, expires_at) = self.acquire(ctx, &resource).await?;
        self.cache.lock().await.insert(resource, Cached { token: Secret::new(token.clone()), expires_at });
        Ok(token)
    }

    async fn acquire(&self, ctx: &OpContext, resource: &str) -> Result<(String, i64), KodoError> {
        match &self.cred {
            Cred::Secret(secret) => {
                let scope = format!("{resource}/.default");
                let form = vec![
                    ("grant_type", "client_credentials".to_string()),
                    ("client_id", self.client_id.clone()),
                    ("client_secret", secret.expose().to_string()),
                    ("scope", scope),
                ];
                self.post_token(&self.client_id, &form).await.map(|(t, e, _)| (t, e))
            }
            Cred::Certificate { der, signer } => {
                let assertion = self.assertion(ctx, der, signer).await?;
                let scope = format!("{resource}/.default");
                let form = vec![
                    ("grant_type", "client_credentials".to_string()),
                    ("client_id", self.client_id.clone()),
                    ("client_assertion_type", "urn:ietf:params:oauth:client-assertion-type:jwt-bearer".to_string()),
                    ("client_assertion", assertion),
                    ("scope", scope),
                ];
                self.post_token(&self.client_id, &form).await.map(|(t, e, _)| (t, e))
            }
            Cred::Delegated { flow, own_client, scopes } => {
                let client =
                    own_client.clone().unwrap_or_else(|| clients::default_client(&self.env, resource).to_string());
                let scope = if resource.eq_ignore_ascii_case(&self.env.graph) {
                    delegated_scope_string(resource, scopes)
                } else {
                    format!("{resource}/.default offline_access")
                };
                let refresh = self.refresh.lock().await.get(&client.to_ascii_lowercase()).cloned();
                let (token, expires_at, new_refresh) = match refresh {
                    Some(rt) => {
                        let form = vec![
                            ("grant_type", "refresh_token".to_string()),
                            ("client_id", client.clone()),
                            ("refresh_token", rt.expose().to_string()),
                            ("scope", scope),
                        ];
                        self.post_token(&client, &form).await?
                    }
                    None if *flow == Flow::Browser && clients::takes_loopback_redirect(&client) => {
                        self.browser(ctx, &client, &scope).await?
                    }
                    None => {
                        if *flow == Flow::Browser {
                            ctx.warn(format!(
                                "{resource}: its sign-in client ({client}) cannot send a browser sign-in back to this computer, so this one sign-in uses a device code."
                            ));
                        }
                        self.device_code(ctx, &client, &scope).await?
                    }
                };
                if let Some(rt) = new_refresh {
                    self.refresh.lock().await.insert(client.to_ascii_lowercase(), Secret::new(rt));
                }
                Ok((token, expires_at))
            }
            Cred::ManagedIdentity { client_id, endpoint, header, imds } => {
                self.managed_identity(resource, client_id.as_deref(), endpoint.as_deref(), header.as_ref(), imds).await
            }
            Cred::AccessToken(token) => {
                let claims = jwt_claims(token.expose()).unwrap_or(Value::Null);
                let aud = claims["aud"].as_str().unwrap_or("").trim_end_matches('/').to_string();
                let exp = claims["exp"].as_i64().unwrap_or(0);
                let graph_ids = [crate::platform::GRAPH_APP_ID];
                let matches = aud.eq_ignore_ascii_case(resource)
                    || (resource.eq_ignore_ascii_case(&self.env.graph) && graph_ids.contains(&aud.as_str()));
                if !matches {
                    return Err(KodoError::new(
                        ErrorCode::AuthenticationFailed,
                        format!(
                            "The supplied access token is for '{aud}', not '{resource}'. An access token is for one resource and cannot be refreshed: connect with a credential, or supply a token for {resource}."
                        ),
                    ));
                }
                // `exp` is on Microsoft's clock and `now()` on this machine's: only a token
                // expired by more than the skew is refused here; nearer its end, the service
                // judges it (an expired token gets Graph's 401, "Lifetime validation failed").
                if expired_beyond_skew(exp, now()) {
                    return Err(KodoError::new(
                        ErrorCode::AuthenticationFailed,
                        "The supplied access token has expired. Get a new one and run Connect-Kodo -AccessToken again, or connect with a credential that Kodo can refresh.",
                    ));
                }
                Ok((token.expose().to_string(), exp))
            }
        }
    }

    /// A client assertion (facts.md §4.3): RS256 with x5t, aud = the token endpoint.
    async fn assertion(&self, ctx: &OpContext, der: &[u8], signer: &Signer) -> Result<String, KodoError> {
        use crate::crypto::{b64, b64url, x5t_sha1};
        let header = json!({ "alg": "RS256", "typ": "JWT", "x5t": x5t_sha1(der) });
        let t = now();
        let claims = json!({ "aud": self.token_endpoint(), "iss": self.client_id, "sub": self.client_id, "jti": uuid::Uuid::new_v4().to_string(), "nbf": t, "iat": t, "exp": t + 600 });
        let input = format!("{}.{}", b64url(header.to_string().as_bytes()), b64url(claims.to_string().as_bytes()));
        let signature = match signer {
            Signer::Local(key) => key.sign_rs256(input.as_bytes()).map_err(|e| {
                KodoError::new(
                    ErrorCode::AuthenticationFailed,
                    format!("The certificate's private key did not sign the client assertion: {e}"),
                )
            })?,
            Signer::Host => {
                let answer = ctx
                    .ask(
                        "sign",
                        "Signing a client assertion with the certificate's private key.",
                        json!({ "algorithm": "RS256", "data": b64(input.as_bytes()), "thumbprint": crate::crypto::sha1_hex(der) }),
                    )
                    .await?;
                answer["signature"].as_str().and_then(crate::crypto::b64_decode).ok_or_else(|| {
                    KodoError::new(
                        ErrorCode::AuthenticationFailed,
                        "The certificate's private key did not sign the client assertion.",
                    )
                })?
            }
        };
        Ok(format!("{input}.{}", b64url(&signature)))
    }

    /// POSTs a form to an Entra endpoint; the HTTP status and the JSON body (Null if none).
    async fn post_form<F: serde::Serialize + ?Sized>(&self, url: String, form: &F) -> Result<(u16, Value), KodoError> {
        let response =
            self.http.post(url).form(form).send().await.map_err(|e| connection_error(&self.env.login, &e))?;
        let status = response.status().as_u16();
        // An answer cut off mid-body is no answer (never an empty token).
        let bytes = response.bytes().await.map_err(|e| connection_error(&self.env.login, &e))?;
        Ok((status, serde_json::from_slice(&bytes).unwrap_or(Value::Null)))
    }

    async fn post_token(
        &self,
        client_id: &str,
        form: &[(&str, String)],
    ) -> Result<(String, i64, Option<String>), KodoError> {
        self.post_token_to(self.token_endpoint(), client_id, form).await
    }

    async fn post_token_to(
        &self,
        endpoint: String,
        client_id: &str,
        form: &[(&str, String)],
    ) -> Result<(String, i64, Option<String>), KodoError> {
        let (status, body) = self.post_form(endpoint, form).await?;
        if status == 429 || status >= 500 {
            let code = if status == 429 { ErrorCode::Throttled } else { ErrorCode::ServiceError };
            return Err(KodoError::new(
                code,
                format!(
                    "Entra ID's token endpoint answered HTTP {status} (not a sign-in error): try again in a moment."
                ),
            ));
        }
        if status != 200 {
            return Err(aadsts_error(&body, client_id, &self.tenant));
        }
        token_of(&body)
    }

    /// True for an administrator's sign-in (device code or browser), whose refresh token can be
    /// redeemed at other tenants' authorities ([`Connection::delegated_token_at`]).
    pub fn is_delegated(&self) -> bool {
        matches!(self.cred, Cred::Delegated { .. })
    }

    /// A token of the signed-in administrator for `resource` (Graph, or Exchange Online) with
    /// `scope` (space-separated, full scope URIs) at the authority of `tenant` (None: the
    /// connection's own tenant), from the refresh token of the connection's sign-in client for
    /// that resource (signing in for it first if it has none): a partner's admin reaching a customer
    /// tenant under GDAP, as CIPP does (KelvinTegelaar/CIPP-API `Get-GraphToken`: a
    /// `refresh_token` grant to `https://login.microsoftonline.com/{customerTenantId}/oauth2/v2.0/token`
    /// with the partner's refresh token). Not cached; the rotated refresh token is kept only
    /// when it came from the connection's own tenant.
    pub async fn delegated_token_at(
        &self,
        ctx: &OpContext,
        tenant: Option<&str>,
        resource: &str,
        scope: &str,
    ) -> Result<String, KodoError> {
        let Cred::Delegated { own_client, .. } = &self.cred else {
            return Err(KodoError::new(
                ErrorCode::InvalidArgument,
                "This needs an administrator's own sign-in (Connect-Kodo -UseDeviceCode or the browser sign-in): an app's sign-in (secret, certificate, managed identity, access token) cannot act under GDAP.",
            ));
        };
        let resource = resource.trim_end_matches('/').to_string();
        let client = own_client.clone().unwrap_or_else(|| clients::default_client(&self.env, &resource).to_string());
        let key = client.to_ascii_lowercase();
        if !self.refresh.lock().await.contains_key(&key) {
            // Signs in (or refreshes) for the resource first: that leaves the refresh token.
            self.token(ctx, &resource).await?;
        }
        let Some(rt) = self.refresh.lock().await.get(&key).cloned() else {
            return Err(KodoError::new(
                ErrorCode::AuthenticationFailed,
                "The sign-in returned no refresh token, so Kodo cannot sign in to another tenant as this administrator. Connect again.",
            ));
        };
        let authority = tenant.map(str::to_string).unwrap_or_else(|| self.authority_tenant());
        let endpoint = format!("{}/{authority}/oauth2/v2.0/token", self.env.login);
        let form = vec![
            ("grant_type", "refresh_token".to_string()),
            ("client_id", client.clone()),
            ("refresh_token", rt.expose().to_string()),
            ("scope", scope.to_string()),
        ];
        let (token, _, new_refresh) = self.post_token_to(endpoint, &client, &form).await?;
        if tenant.is_none() {
            if let Some(r) = new_refresh {
                self.refresh.lock().await.insert(key, Secret::new(r));
            }
        }
        Ok(token)
    }

    /// The system browser's sign-in ([`browser`]), then the code's redemption with its verifier.
    async fn browser(
        &self,
        ctx: &OpContext,
        client: &str,
        scope: &str,
    ) -> Result<(String, i64, Option<String>), KodoError> {
        // In emulator mode the browser goes to the emulator itself: nothing leaves loopback.
        let authority = match self.env.resolve_to {
            Some(addr) => format!("https://{addr}"),
            None => self.env.login.clone(),
        };
        let tenant = self.authority_tenant();
        let claims = self.claims.lock().clone();
        let hint = claims["upn"].as_str().or(claims["preferred_username"].as_str()).map(str::to_string);
        let request = browser::AuthorizeRequest {
            authority: &authority,
            tenant: &tenant,
            client_id: client,
            scope,
            login_hint: hint.as_deref(),
        };
        let authorization = browser::authorize(ctx, &request).await?;
        let form = vec![
            ("grant_type", "authorization_code".to_string()),
            ("client_id", client.to_string()),
            ("code", authorization.code),
            ("redirect_uri", authorization.redirect_uri),
            ("code_verifier", authorization.verifier),
            ("scope", scope.to_string()),
        ];
        self.post_token(client, &form).await
    }

    /// Device code flow (facts.md §4.1): the prompt reaches the user as an event; polls every
    /// `interval` seconds until approved, declined or expired; cancellable.
    async fn device_code(
        &self,
        ctx: &OpContext,
        client: &str,
        scope: &str,
    ) -> Result<(String, i64, Option<String>), KodoError> {
        let url = format!("{}/{}/oauth2/v2.0/devicecode", self.env.login, self.authority_tenant());
        let (status, body) = self.post_form(url, &[("client_id", client), ("scope", scope)]).await?;
        if status != 200 {
            return Err(aadsts_error(&body, client, &self.tenant));
        }
        let device_code = body["device_code"].as_str().unwrap_or("").to_string();
        let interval = body["interval"].as_u64().unwrap_or(5).max(1);
        let expires_in = body["expires_in"].as_u64().unwrap_or(900);
        ctx.prompt(
            body["message"].as_str().unwrap_or("Sign in with the device code.").to_string(),
            json!({ "kind": "deviceCode", "userCode": body["user_code"], "verificationUri": body["verification_uri"], "expiresIn": expires_in }),
        );
        let deadline = now() + expires_in as i64;
        let mut wait = interval;
        loop {
            tokio::time::sleep(Duration::from_secs(wait)).await;
            let form = [
                ("grant_type", "urn:ietf:params:oauth:grant-type:device_code"),
                ("client_id", client),
                ("device_code", device_code.as_str()),
            ];
            let (status, body) = self.post_form(self.token_endpoint(), &form).await?;
            if status == 200 {
                return token_of(&body);
            }
            match body["error"].as_str() {
                Some("authorization_pending") if now() < deadline => {}
                // RFC 8628 §3.5: add 5 seconds (facts.md §4.1: not listed by Microsoft, handled anyway).
                Some("slow_down") => wait += 5,
                _ => return Err(aadsts_error(&body, client, &self.tenant)),
            }
        }
    }

    /// Managed identity: Azure Automation / App Service (`IDENTITY_ENDPOINT` + `X-IDENTITY-HEADER`,
    /// api-version 2019-08-01), else IMDS (api-version 2018-02-01). facts.md §4.5.
    async fn managed_identity(
        &self,
        resource: &str,
        client_id: Option<&str>,
        endpoint: Option<&str>,
        header: Option<&Secret>,
        imds: &str,
    ) -> Result<(String, i64), KodoError> {
        let mut query = vec![("resource", resource.to_string())];
        if let Some(c) = client_id.filter(|c| !c.is_empty()) {
            query.push(("client_id", c.to_string()));
        }
        let request = match (endpoint, header) {
            (Some(e), Some(h)) => {
                query.push(("api-version", "2019-08-01".into()));
                self.http.get(e).query(&query).header("X-IDENTITY-HEADER", h.expose()).header("Metadata", "true")
            }
            _ => {
                query.push(("api-version", "2018-02-01".into()));
                self.http.get(imds).query(&query).header("Metadata", "true").timeout(Duration::from_secs(3))
            }
        };
        let response = request.send().await.map_err(|_| {
            KodoError::new(
                ErrorCode::AuthenticationFailed,
                "No managed identity endpoint answered. In Azure Automation, turn on the account's system-assigned identity (Account Settings > Identity) so that IDENTITY_ENDPOINT and IDENTITY_HEADER are set; on a VM, enable its managed identity.",
            )
        })?;
        let status = response.status().as_u16();
        let bytes = response.bytes().await.map_err(|e| connection_error(&self.env.login, &e))?;
        let body: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        if status != 200 {
            let detail = body["Message"]
                .as_str()
                .or(body["message"].as_str())
                .or(body["error_description"].as_str())
                .unwrap_or("no detail")
                .to_string();
            return Err(KodoError::new(
                ErrorCode::AuthenticationFailed,
                format!(
                    "The managed identity endpoint refused the token request (HTTP {status}: {detail}). Check that the identity is enabled{}.",
                    if client_id.is_some() {
                        " and that -ClientId names a user-assigned identity attached to this resource"
                    } else {
                        ""
                    }
                ),
            ));
        }
        let token = body["access_token"].as_str().unwrap_or("").to_string();
        if token.is_empty() {
            return Err(KodoError::new(
                ErrorCode::ServiceError,
                "The managed identity endpoint answered without an access token: try again in a moment.",
            ));
        }
        // expires_on is epoch seconds as a string (facts.md §4.5).
        let exp = body["expires_on"]
            .as_str()
            .and_then(|s| s.parse().ok())
            .or_else(|| body["expires_on"].as_i64())
            .unwrap_or(now() + 3599);
        Ok((token, exp))
    }

    /// Drops cached tokens and the refresh token.
    pub async fn forget(&self) {
        self.cache.lock().await.clear();
        self.refresh.lock().await.clear();
    }

    /// Describes the connection for Get-KodoContext: never a token.
    pub fn context(&self) -> Value {
        let claims = self.claims.lock().clone();
        let app_only = claims["idtyp"] == "app" || claims.get("roles").is_some() && claims.get("scp").is_none();
        let expires = claims["exp"]
            .as_i64()
            .and_then(|e| chrono::DateTime::from_timestamp(e, 0))
            .map(|d| d.to_rfc3339_opts(chrono::SecondsFormat::Secs, true));
        json!({
            "tenantId": claims["tid"],
            "environment": self.env.name,
            "identityKind": self.kind,
            "clientId": claims["appid"].as_str().or(claims["azp"].as_str()).unwrap_or(&self.client_id),
            "servicePrincipalId": if app_only { claims["oid"].clone() } else { Value::Null },
            "account": claims["upn"].as_str().or(claims["preferred_username"].as_str()),
            "appOnly": app_only,
            "roles": claims["roles"].as_array().cloned().unwrap_or_default(),
            "scopes": claims["scp"].as_str().map(|s| s.split_whitespace().collect::<Vec<_>>()).unwrap_or_default(),
            "tokenExpiresOn": expires,
            "certificateThumbprint": self.thumbprint,
            "graphEndpoint": self.env.graph,
            "loginEndpoint": self.env.login,
        })
    }
}

/// A tenant as -TenantId names it: a GUID (any form `uuid` reads, given on hyphenated) or a
/// domain name (labels of letters, digits and hyphens, such as contoso.onmicrosoft.com). It
/// becomes a segment of the sign-in URL, so nothing else gets through. Err: why not, for a
/// message that names the value.
pub fn check_tenant(value: &str) -> Result<String, &'static str> {
    let t = value.trim();
    if t.is_empty() {
        return Err("is empty");
    }
    if let Ok(u) = uuid::Uuid::parse_str(t) {
        return Ok(if t.len() == 36 { t.to_string() } else { u.hyphenated().to_string() });
    }
    let labels: Vec<&str> = t.split('.').collect();
    let label_ok = |l: &&str| {
        !l.is_empty()
            && l.len() <= 63
            && !l.starts_with('-')
            && !l.ends_with('-')
            && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
    };
    if t.len() <= 253 && labels.len() >= 2 && labels.iter().all(label_ok) {
        return Ok(t.to_string());
    }
    Err("is neither a GUID nor a domain name such as contoso.onmicrosoft.com")
}

/// Checks the sign-in request, signs in (the first Graph token) and returns the connection.
pub async fn connect(
    ctx: &OpContext,
    tenant_id: Option<String>,
    environment: EnvironmentSpec,
    credential: CredentialSpec,
) -> Result<Connection, KodoError> {
    let env = environment.resolve()?;
    let needs_tenant = matches!(
        credential,
        CredentialSpec::ClientSecret { .. }
            | CredentialSpec::CertificatePem { .. }
            | CredentialSpec::HostCertificate { .. }
    );
    let tenant = match tenant_id.filter(|t| !t.trim().is_empty()) {
        Some(t) => Some(check_tenant(&t).map_err(|reason| {
            KodoError::new(ErrorCode::InvalidArgument, format!("The tenant '{}' {reason}.", t.trim()))
                .with_target(t.trim().to_string())
        })?),
        None if needs_tenant => {
            return Err(KodoError::new(
                ErrorCode::InvalidArgument,
                "-TenantId is required with a client secret or a certificate.",
            ));
        }
        None if matches!(credential, CredentialSpec::DeviceCode { .. } | CredentialSpec::Browser { .. }) => {
            Some("organizations".to_string())
        }
        None => None,
    };
    let connection = Connection::new(tenant, env, credential)?;
    ctx.progress("Connect-Kodo", format!("Signing in ({})", connection.kind), None);
    let graph = connection.env.graph.clone();
    let token = connection.token(ctx, &graph).await?;
    *connection.claims.lock() = crate::crypto::jwt_claims(&token);
    let context = connection.context();
    ctx.log(
        LogLevel::Verbose,
        format!(
            "Connected to tenant {} ({}) as {} {}",
            context["tenantId"].as_str().unwrap_or("?"),
            connection.env.name,
            connection.kind,
            context["clientId"].as_str().unwrap_or("")
        ),
    );
    Ok(connection)
}

enum SpecKind {
    DeviceCode,
    Other,
}

fn delegated_scope_string(graph: &str, scopes: &[String]) -> String {
    let mut s: Vec<String> =
        scopes.iter().map(|x| if x.contains("://") { x.clone() } else { format!("{graph}/{x}") }).collect();
    s.extend(["offline_access".to_string(), "openid".to_string(), "profile".to_string()]);
    s.join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_supplied_token_is_refused_here_only_when_expired_beyond_the_clock_skew() {
        let now = 1_800_000_000;
        assert!(!expired_beyond_skew(now + 60, now), "valid");
        assert!(!expired_beyond_skew(now - 60, now), "past by this clock, within the skew: the service judges");
        assert!(!expired_beyond_skew(now - CLOCK_SKEW_SECS + 1, now));
        assert!(expired_beyond_skew(now - CLOCK_SKEW_SECS, now));
        assert!(expired_beyond_skew(0, now), "no exp claim");
        assert!(!expired_beyond_skew(i64::MAX, now));
    }
}
