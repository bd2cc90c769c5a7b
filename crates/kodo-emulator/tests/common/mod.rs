//! Shared by the integration tests: an in-process emulator and an HTTPS client that trusts
//! only its CA and sends production hostnames to it.
#![allow(dead_code)]

use kodo_emulator::server::{self, RunningEmulator};
use kodo_emulator::world::EmulatorConfig;
use serde_json::Value;
use std::time::Duration;

pub struct Emu {
    pub running: RunningEmulator,
    pub info: Value,
    pub client: reqwest::Client,
    _dir: TempDir,
}

pub struct TempDir(pub std::path::PathBuf);
impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

pub async fn start(tenants: usize, lag_ms: u64, throttle: f64) -> Emu {
    start_with(EmulatorConfig {
        tenants,
        replication_lag: Duration::from_millis(lag_ms),
        throttle_rate: throttle,
        latency: Duration::ZERO,
        auto_approve_device_codes: false,
        ..Default::default()
    })
    .await
}

/// Starts an emulator with `config` (its `state_dir` replaced by a fresh temp folder).
pub async fn start_with(mut config: EmulatorConfig) -> Emu {
    let dir = std::env::temp_dir().join(format!("kodo-test-{}", uuid::Uuid::new_v4()));
    config.state_dir = dir.clone();
    let running = server::start(config, "127.0.0.1:0".parse().unwrap()).await.expect("emulator starts");
    let info = running.announcement();
    let ca = std::fs::read(&running.ca_certificate).unwrap();
    let cert = reqwest::Certificate::from_pem(&ca).unwrap();
    let mut builder = reqwest::Client::builder().tls_certs_only([cert]).no_proxy();
    for t in info["tenants"].as_array().unwrap() {
        for h in [t["sharePointHost"].as_str().unwrap(), t["sharePointAdminHost"].as_str().unwrap()] {
            builder = builder.resolve(h, running.addr);
        }
    }
    for h in ["graph.microsoft.com", "login.microsoftonline.com", "outlook.office365.com"] {
        builder = builder.resolve(h, running.addr);
    }
    let client = builder.build().unwrap();
    Emu { running, info, client, _dir: TempDir(dir) }
}

impl Emu {
    pub fn url(&self) -> String {
        self.running.url.clone()
    }
    pub fn tenant(&self, i: usize) -> &Value {
        &self.info["tenants"][i]
    }
    pub fn tid(&self, i: usize) -> String {
        self.tenant(i)["tenantId"].as_str().unwrap().to_string()
    }
    pub fn port(&self) -> u16 {
        self.running.addr.port()
    }

    /// Starts a device-code sign-in of `client_id` for `scope` in `tenant`; returns the answer
    /// (device_code, user_code, ...).
    pub async fn device_code_start(&self, tenant: &str, client_id: &str, scope: &str) -> Value {
        self.client
            .post(format!("{}/{tenant}/oauth2/v2.0/devicecode", self.url()))
            .form(&[("client_id", client_id), ("scope", scope)])
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }

    /// A client that trusts the emulator's CA and does not follow redirects, as a test plays a
    /// browser.
    pub fn browser(&self) -> reqwest::Client {
        let ca = std::fs::read(&self.running.ca_certificate).unwrap();
        reqwest::Client::builder()
            .tls_certs_only([reqwest::Certificate::from_pem(&ca).unwrap()])
            .no_proxy()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap()
    }

    /// Opens a sign-in or consent page (`path` below the emulator's URL) as the browser does;
    /// returns (status, the redirect's address or "", the page).
    pub async fn open_page(&self, path: &str, query: &[(&str, &str)]) -> (u16, String, String) {
        let r = self.browser().get(format!("{}/{path}", self.url())).query(query).send().await.unwrap();
        let status = r.status().as_u16();
        let location = r.headers().get("location").map(|v| v.to_str().unwrap().to_string()).unwrap_or_default();
        (status, location, r.text().await.unwrap())
    }

    /// Answers a sign-in or consent page's form (`action`: accept or cancel); returns the
    /// redirect's address.
    pub async fn answer_page(&self, page: &str, action: &str) -> String {
        let form = page.split("<form method=\"post\" action=\"").nth(1).unwrap().split('"').next().unwrap();
        let r = self.browser().post(form).form(&[("action", action)]).send().await.unwrap();
        assert_eq!(r.status().as_u16(), 302);
        r.headers()["location"].to_str().unwrap().to_string()
    }

    /// POSTs a form to the tenant's token endpoint; returns (status, body).
    pub async fn token_request(&self, tenant: &str, form: &[(&str, &str)]) -> (u16, Value) {
        let r = self.client.post(format!("{}/{tenant}/oauth2/v2.0/token", self.url())).form(form).send().await.unwrap();
        let status = r.status().as_u16();
        (status, r.json().await.unwrap_or(Value::Null))
    }

    /// A client-credentials token of `app_id` with `secret` for `resource`, in tenant 0.
    pub async fn app_token(&self, app_id: &str, secret: &str, resource: &str) -> String {
        let scope = format!("{resource}/.default");
        let form =
            [("grant_type", "client_credentials"), ("client_id", app_id), ("client_secret", secret), ("scope", &scope)];
        let (s, b) = self.token_request(&self.tid(0), &form).await;
        assert_eq!(s, 200, "{b}");
        b["access_token"].as_str().unwrap().to_string()
    }

    /// client_credentials with a client assertion (a certificate credential).
    pub async fn assertion_token(&self, tenant: &str, client_id: &str, assertion: &str, scope: &str) -> (u16, Value) {
        self.token_request(
            tenant,
            &[
                ("grant_type", "client_credentials"),
                ("client_id", client_id),
                ("client_assertion_type", "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"),
                ("client_assertion", assertion),
                ("scope", scope),
            ],
        )
        .await
    }

    pub async fn bootstrap_token(&self, i: usize, resource: &str) -> String {
        let t = self.tenant(i);
        let scope = format!("{resource}/.default");
        let (status, body) = self
            .token_request(
                t["tenantId"].as_str().unwrap(),
                &[
                    ("grant_type", "client_credentials"),
                    ("client_id", t["bootstrapClientId"].as_str().unwrap()),
                    ("client_secret", t["bootstrapClientSecret"].as_str().unwrap()),
                    ("scope", &scope),
                ],
            )
            .await;
        assert_eq!(status, 200, "{body}");
        body["access_token"].as_str().unwrap().to_string()
    }

    pub async fn graph(
        &self,
        token: &str,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> (u16, Value, reqwest::header::HeaderMap) {
        let url = format!("{}/v1.0/{}", self.url(), path.trim_start_matches('/'));
        let mut req = self.client.request(method, url).bearer_auth(token);
        if let Some(b) = body {
            req = req.json(&b);
        }
        let r = req.send().await.unwrap();
        let status = r.status().as_u16();
        let headers = r.headers().clone();
        let text = r.text().await.unwrap();
        (status, serde_json::from_str(&text).unwrap_or(Value::Null), headers)
    }

    /// `POST /adminapi/beta/{tenant}/InvokeCommand` on the emulator's address; returns
    /// (status, body bytes, headers).
    pub async fn invoke(
        &self,
        token: &str,
        tenant: &str,
        cmdlet: &str,
        params: Value,
    ) -> (u16, Vec<u8>, reqwest::header::HeaderMap) {
        let url = format!("{}/adminapi/beta/{tenant}/InvokeCommand", self.url());
        let body = serde_json::json!({ "CmdletInput": { "CmdletName": cmdlet, "Parameters": params } });
        let r = self.client.post(url).bearer_auth(token).json(&body).send().await.unwrap();
        let (status, headers) = (r.status().as_u16(), r.headers().clone());
        (status, r.bytes().await.unwrap().to_vec(), headers)
    }

    /// An EWS `GetFolder` of `msgfolderroot` (docs/exchange-research.md §3.2) on the production
    /// host, impersonating `mailbox` when given; returns (status, body, headers).
    pub async fn ews_get_folder(
        &self,
        token: &str,
        mailbox: Option<&str>,
        user_agent: &str,
    ) -> (u16, String, reqwest::header::HeaderMap) {
        let header = mailbox
            .map(|m| {
                format!(
                    "<soap:Header><t:RequestServerVersion Version=\"Exchange2016\"/><t:ExchangeImpersonation><t:ConnectingSID><t:PrimarySmtpAddress>{m}</t:PrimarySmtpAddress></t:ConnectingSID></t:ExchangeImpersonation></soap:Header>"
                )
            })
            .unwrap_or_default();
        let body = format!(
            "<?xml version=\"1.0\" encoding=\"utf-8\"?><soap:Envelope xmlns:soap=\"http://schemas.xmlsoap.org/soap/envelope/\" xmlns:t=\"http://schemas.microsoft.com/exchange/services/2006/types\" xmlns:m=\"http://schemas.microsoft.com/exchange/services/2006/messages\">{header}<soap:Body><m:GetFolder><m:FolderShape><t:BaseShape>Default</t:BaseShape></m:FolderShape><m:FolderIds><t:DistinguishedFolderId Id=\"msgfolderroot\"/></m:FolderIds></m:GetFolder></soap:Body></soap:Envelope>"
        );
        let url = format!("https://outlook.office365.com:{}/EWS/Exchange.asmx", self.port());
        let mut req = self
            .client
            .post(url)
            .bearer_auth(token)
            .header("Content-Type", "text/xml; charset=utf-8")
            .header("User-Agent", user_agent)
            .body(body);
        if let Some(m) = mailbox {
            req = req.header("X-AnchorMailbox", m);
        }
        let r = req.send().await.unwrap();
        let (status, headers) = (r.status().as_u16(), r.headers().clone());
        (status, r.text().await.unwrap(), headers)
    }

    /// A control-API call under `/_emulator/`; returns (status, JSON body).
    pub async fn control(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> (u16, Value) {
        let mut req = self.client.request(method, format!("{}/_emulator/{path}", self.url()));
        if let Some(b) = body {
            req = req.json(&b);
        }
        let r = req.send().await.unwrap();
        let status = r.status().as_u16();
        (status, r.json().await.unwrap_or(Value::Null))
    }

    pub async fn requests(&self) -> Vec<Value> {
        let r = self.client.get(format!("{}/_emulator/requests", self.url())).send().await.unwrap();
        r.json::<Vec<Value>>().await.unwrap()
    }
}

/// (certificate DER, private key) of a PEM file holding both.
pub fn read_cert_and_key(path: &str) -> (Vec<u8>, rsa::RsaPrivateKey) {
    use rsa::pkcs8::DecodePrivateKey;
    let text = std::fs::read_to_string(path).unwrap();
    let cert_b64: String = text
        .split("-----BEGIN CERTIFICATE-----")
        .nth(1)
        .unwrap()
        .split("-----END CERTIFICATE-----")
        .next()
        .unwrap()
        .lines()
        .collect();
    let der = kodo_emulator::pki::b64_decode(cert_b64.trim()).unwrap();
    let key_pem = format!(
        "-----BEGIN PRIVATE KEY-----{}-----END PRIVATE KEY-----\n",
        text.split("-----BEGIN PRIVATE KEY-----").nth(1).unwrap().split("-----END PRIVATE KEY-----").next().unwrap()
    );
    (der, rsa::RsaPrivateKey::from_pkcs8_pem(&key_pem).unwrap())
}

/// A client assertion (facts.md §4.3): RS256 + x5t, or PS256 + x5t#S256.
pub fn client_assertion(
    der: &[u8],
    key: &rsa::RsaPrivateKey,
    client_id: &str,
    aud: &str,
    pss: bool,
    lifetime: i64,
) -> String {
    use kodo_emulator::pki::{b64url, x5t_sha1, x5t_sha256};
    use rsa::signature::{RandomizedSigner, SignatureEncoding, Signer};
    use sha2::Sha256;
    let header = if pss {
        serde_json::json!({ "alg": "PS256", "typ": "JWT", "x5t#S256": x5t_sha256(der) })
    } else {
        serde_json::json!({ "alg": "RS256", "typ": "JWT", "x5t": x5t_sha1(der) })
    };
    let now = chrono::Utc::now().timestamp();
    let claims = serde_json::json!({ "aud": aud, "iss": client_id, "sub": client_id, "jti": uuid::Uuid::new_v4().to_string(), "nbf": now, "exp": now + lifetime });
    let input = format!("{}.{}", b64url(header.to_string().as_bytes()), b64url(claims.to_string().as_bytes()));
    let sig = if pss {
        let signer = rsa::pss::BlindedSigningKey::<Sha256>::new(key.clone());
        signer.sign_with_rng(&mut rsa::rand_core::OsRng, input.as_bytes()).to_vec()
    } else {
        rsa::pkcs1v15::SigningKey::<Sha256>::new(key.clone()).sign(input.as_bytes()).to_vec()
    };
    format!("{input}.{}", b64url(&sig))
}

/// The query of a redirect's address, decoded.
pub fn query_of(location: &str) -> std::collections::HashMap<String, String> {
    let q = location.split_once('?').unwrap().1;
    form_urlencoded::parse(q.as_bytes()).into_owned().collect()
}

pub fn claims_of(token: &str) -> Value {
    kodo_emulator::pki::parse_jwt(token).unwrap().claims
}

/// The `kodo-emulator` binary running with `args`: its first output line (the announcement), a
/// client that trusts only its CA, and the process (killed when dropped).
pub struct Binary {
    pub child: std::process::Child,
    pub info: Value,
    pub client: reqwest::Client,
    _dir: TempDir,
}

impl Binary {
    pub fn start(args: &[&str]) -> Binary {
        use std::io::BufRead;
        let dir = TempDir(std::env::temp_dir().join(format!("kodo-bin-{}", uuid::Uuid::new_v4())));
        let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_kodo-emulator"))
            .args(["--listen", "127.0.0.1:0"])
            .args(args)
            .arg("--state-dir")
            .arg(&dir.0)
            .stdout(std::process::Stdio::piped())
            .spawn()
            .expect("the emulator binary starts");
        let mut line = String::new();
        std::io::BufReader::new(child.stdout.take().expect("stdout")).read_line(&mut line).expect("a first line");
        let info: Value = serde_json::from_str(&line).expect("the announcement is JSON");
        let ca = std::fs::read(info["caCertificate"].as_str().expect("a CA path")).expect("the CA file");
        let cert = reqwest::Certificate::from_pem(&ca).expect("PEM");
        let client = reqwest::Client::builder().tls_certs_only([cert]).no_proxy().build().expect("a client");
        Binary { child, info, client, _dir: dir }
    }

    /// `GET /_emulator/{path}` as JSON.
    pub async fn control(&self, path: &str) -> Value {
        let url = format!("{}/_emulator/{path}", self.info["url"].as_str().expect("url"));
        self.client.get(url).send().await.expect("an answer").json().await.expect("JSON")
    }
}

impl Drop for Binary {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
