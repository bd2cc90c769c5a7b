//! The emulator under load (issue 17): 200 concurrent clients, each on a connection of its own,
//! send a realistic mix (token requests, Graph GETs with `$filter`, `$batch`, writes, Exchange's
//! admin API) and every answer must be the one a healthy service gives: no 5xx, no connection
//! error, no unexpected status. No fault is injected, so any error is the emulator's own.
//!
//! - Fast tier (`cargo test`): a burst of a few seconds, unpaced, 200 clients.
//! - Long tier (`#[ignore]`; `pwsh ./build.ps1 -Task Reliability`, or `cargo test -p
//!   kodo-emulator --test load -- --ignored --nocapture`): one minute paced at 12 000 requests a
//!   minute (each client one request a second). With `KODO_LOAD_EMULATOR` naming an emulator
//!   program (build.ps1 passes the one it built), it runs against that program in a process of
//!   its own, whose peak memory is then the emulator's alone; otherwise in-process.
//!
//! Each prints one line: requests, requests/min, p50/p99 latency, errors, and the peak resident
//! memory (`VmHWM`) of the emulator's process (in-process: the test's, clients included).

mod common;

use common::*;
use serde_json::{Value, json};
use std::time::{Duration, Instant};

const CLIENTS: usize = 200;
const TENANTS: usize = 4;
const GRAPH: &str = "https://graph.microsoft.com";

#[derive(Default)]
struct Tally {
    latencies_us: Vec<u64>,
    /// Per kind of request: (count, total microseconds).
    kinds: std::collections::BTreeMap<String, (u64, u64)>,
    requests: u64,
    errors: Vec<String>,
}

struct Client {
    http: reqwest::Client,
    base: String,
    tenant: String,
    client_id: String,
    secret: String,
    tally: Tally,
    /// Parse the next answer's JSON.
    parse: bool,
}

impl Client {
    /// Sends one request and records it: anything but the expected status is an error.
    async fn send(&mut self, what: &str, req: reqwest::RequestBuilder, expect: &[u16]) -> Option<Value> {
        let started = Instant::now();
        let answer = match req.send().await {
            Ok(r) => {
                let status = r.status().as_u16();
                match r.bytes().await {
                    Ok(body) => Ok((status, body)),
                    Err(e) => Err(format!("{what}: body failed: {e}")),
                }
            }
            Err(e) => Err(format!("{what}: connection error: {e}")),
        };
        let us = started.elapsed().as_micros() as u64;
        self.tally.latencies_us.push(us);
        let k = self.tally.kinds.entry(what.to_string()).or_default();
        k.0 += 1;
        k.1 += us;
        self.tally.requests += 1;
        match answer {
            // Parsed only where the client reads it (the clients' own CPU is not the emulator's).
            Ok((status, body)) if expect.contains(&status) => {
                Some(if self.parse { serde_json::from_slice(&body).unwrap_or(Value::Null) } else { Value::Null })
            }
            Ok((status, body)) => {
                let text = String::from_utf8_lossy(&body);
                self.tally.errors.push(format!("{what}: HTTP {status}: {}", &text[..text.len().min(300)]));
                None
            }
            Err(e) => {
                self.tally.errors.push(e);
                None
            }
        }
    }

    async fn token(&mut self, scope: &str) -> Option<String> {
        let form = [
            ("grant_type", "client_credentials"),
            ("client_id", self.client_id.as_str()),
            ("client_secret", self.secret.as_str()),
            ("scope", scope),
        ];
        let req = self.http.post(format!("{}/{}/oauth2/v2.0/token", self.base, self.tenant)).form(&form);
        self.parse = true;
        let b = self.send("token", req, &[200]).await;
        self.parse = false;
        let b = b?;
        b["access_token"].as_str().map(str::to_string)
    }

    fn graph(&self, method: reqwest::Method, path: &str, token: &str) -> reqwest::RequestBuilder {
        self.http.request(method, format!("{}/v1.0/{path}", self.base)).bearer_auth(token)
    }
}

/// One client's session: a token, its own app, then the mix until `until`, paced at `every`
/// (None: as fast as it can), then the app deleted.
async fn session(mut c: Client, index: usize, until: Instant, every: Option<Duration>) -> Tally {
    let Some(graph) = c.token(&format!("{GRAPH}/.default")).await else { return c.tally };
    let Some(exchange) = c.token("https://outlook.office365.com/.default").await else { return c.tally };
    let name = format!("Load client {index:03}");
    c.parse = true;
    let created = c
        .send(
            "POST applications",
            c.graph(reqwest::Method::POST, "applications", &graph)
                .json(&json!({ "displayName": name, "signInAudience": "AzureADMyOrg", "tags": ["LoadTest"] })),
            &[201],
        )
        .await;
    c.parse = false;
    let (app_object, app_id) = match &created {
        Some(a) => (a["id"].as_str().unwrap_or("").to_string(), a["appId"].as_str().unwrap_or("").to_string()),
        None => return c.tally,
    };
    let mut step: usize = index;
    let mut next = Instant::now();
    while Instant::now() < until {
        if let Some(every) = every {
            next += every;
            tokio::time::sleep_until(next.into()).await;
        }
        step += 1;
        match step % 10 {
            0 => {
                let _ = c.token(&format!("{GRAPH}/.default")).await;
            }
            1 | 6 => {
                let path =
                    "applications?$filter=startswith(displayName,'Load client')&$select=id,appId,displayName&$top=50";
                let req = c.graph(reqwest::Method::GET, path, &graph);
                let _ = c.send("GET applications $filter", req, &[200]).await;
            }
            2 => {
                let path =
                    "servicePrincipals?$filter=appId eq '00000003-0000-0000-c000-000000000000'&$select=id,appRoles";
                let req = c.graph(reqwest::Method::GET, path, &graph);
                let _ = c.send("GET servicePrincipals $filter", req, &[200]).await;
            }
            3 | 8 => {
                let body = json!({ "requests": [
                    { "id": "1", "method": "GET", "url": format!("/applications/{app_object}?$select=id,tags") },
                    { "id": "2", "method": "GET", "url": "/servicePrincipals?$filter=tags/any(t:t eq 'WindowsAzureActiveDirectoryIntegratedApp')&$select=id&$top=5" },
                    { "id": "3", "method": "GET", "url": format!("/applications?$filter=appId eq '{app_id}'&$select=id") },
                ]});
                let req = c.graph(reqwest::Method::POST, "$batch", &graph).json(&body);
                c.parse = true;
                let answer = c.send("POST $batch", req, &[200]).await;
                c.parse = false;
                if let Some(b) = answer {
                    let statuses: Vec<u64> = b["responses"]
                        .as_array()
                        .map(|r| r.iter().filter_map(|i| i["status"].as_u64()).collect())
                        .unwrap_or_default();
                    if statuses.len() != 3 || statuses.iter().any(|s| *s != 200) {
                        c.tally.errors.push(format!("$batch items: {statuses:?}"));
                    }
                }
            }
            4 => {
                let body = json!({ "tags": ["LoadTest", format!("step{step}")] });
                let req = c.graph(reqwest::Method::PATCH, &format!("applications/{app_object}"), &graph).json(&body);
                let _ = c.send("PATCH application", req, &[204]).await;
            }
            5 => {
                let req = c.graph(reqwest::Method::GET, "organization?$select=id,displayName", &graph);
                let _ = c.send("GET organization", req, &[200]).await;
            }
            7 => {
                let body = json!({ "CmdletInput": { "CmdletName": "Get-OrganizationConfig", "Parameters": { "RetrieveEwsOperationAccessPolicy": true } } });
                let req = c
                    .http
                    .post(format!("{}/adminapi/beta/{}/InvokeCommand", c.base, c.tenant))
                    .bearer_auth(&exchange)
                    .json(&body);
                let _ = c.send("Exchange Get-OrganizationConfig", req, &[200]).await;
            }
            _ => {
                let req = c.graph(
                    reqwest::Method::GET,
                    &format!("applications(appId='{app_id}')?$select=id,displayName"),
                    &graph,
                );
                let _ = c.send("GET applications(appId=)", req, &[200]).await;
            }
        }
    }
    let req = c.graph(reqwest::Method::DELETE, &format!("applications/{app_object}"), &graph);
    let _ = c.send("DELETE application", req, &[204]).await;
    c.tally
}

/// The emulator under test: in this process, or a program of its own.
struct Target {
    base: String,
    ca: Vec<u8>,
    tenants: Vec<Value>,
    /// The emulator's own process (None: in-process).
    child: Option<std::process::Child>,
    _in_process: Option<Emu>,
    _dir: Option<TempDir>,
}

impl Target {
    async fn start(program: Option<String>) -> Target {
        let Some(program) = program else {
            let emu = start(TENANTS, 0, 0.0).await;
            let ca = std::fs::read(&emu.running.ca_certificate).unwrap();
            let tenants = emu.info["tenants"].as_array().unwrap().clone();
            return Target { base: emu.url(), ca, tenants, child: None, _in_process: Some(emu), _dir: None };
        };
        use std::io::BufRead;
        // The clients' TLS (in-process, the emulator installs it).
        let _ = rustls::crypto::ring::default_provider().install_default();
        let dir = std::env::temp_dir().join(format!("kodo-load-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).unwrap();
        let mut child = std::process::Command::new(&program)
            .args(["--listen", "127.0.0.1:0", "--tenants", &TENANTS.to_string(), "--state-dir"])
            .arg(&dir)
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("{program}: {e}"));
        let mut line = String::new();
        std::io::BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
        let info: Value = serde_json::from_str(&line).expect("the emulator's announcement");
        let ca = std::fs::read(info["caCertificate"].as_str().unwrap()).unwrap();
        let tenants = info["tenants"].as_array().unwrap().clone();
        let base = info["url"].as_str().unwrap().to_string();
        Target { base, ca, tenants, child: Some(child), _in_process: None, _dir: Some(TempDir(dir)) }
    }

    fn client(&self) -> reqwest::Client {
        // A client of its own: its own connection (HTTP/1.1 keep-alive, one at a time).
        reqwest::Client::builder()
            .tls_certs_only([reqwest::Certificate::from_pem(&self.ca).unwrap()])
            .no_proxy()
            .http1_only()
            .pool_max_idle_per_host(1)
            .timeout(Duration::from_secs(30))
            .build()
            .unwrap()
    }

    /// Peak resident memory (Linux `VmHWM`) of the emulator's process, in MiB.
    fn peak_memory_mib(&self) -> Option<f64> {
        let path = match &self.child {
            Some(c) => format!("/proc/{}/status", c.id()),
            None => "/proc/self/status".to_string(),
        };
        let status = std::fs::read_to_string(path).ok()?;
        let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
        let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
        Some(kib / 1024.0)
    }
}

impl Drop for Target {
    fn drop(&mut self) {
        if let Some(c) = self.child.as_mut() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

fn percentile(sorted: &[u64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i] as f64 / 1000.0
}

/// Runs 200 clients for `duration` (paced at `every` each, or unpaced) and answers
/// (requests, requests per minute); panics on any error.
async fn run(tier: &str, program: Option<String>, duration: Duration, every: Option<Duration>) -> (u64, f64) {
    let target = Target::start(program.clone()).await;
    let started = Instant::now();
    let until = started + duration;
    let mut tasks = Vec::new();
    for i in 0..CLIENTS {
        let t = &target.tenants[i % TENANTS];
        let c = Client {
            http: target.client(),
            base: target.base.clone(),
            tenant: t["tenantId"].as_str().unwrap().to_string(),
            client_id: t["bootstrapClientId"].as_str().unwrap().to_string(),
            secret: t["bootstrapClientSecret"].as_str().unwrap().to_string(),
            tally: Tally::default(),
            parse: false,
        };
        tasks.push(tokio::spawn(session(c, i, until, every)));
    }
    let mut all = Tally::default();
    for t in tasks {
        let t = t.await.expect("a client task panicked");
        all.requests += t.requests;
        all.latencies_us.extend(t.latencies_us);
        all.errors.extend(t.errors);
        for (k, (n, us)) in t.kinds {
            let e = all.kinds.entry(k).or_default();
            e.0 += n;
            e.1 += us;
        }
    }
    let elapsed = started.elapsed();
    // Every client used a connection of its own: the request log shows 200 or more.
    let log: Value =
        target.client().get(format!("{}/_emulator/requests", target.base)).send().await.unwrap().json().await.unwrap();
    let connections: std::collections::HashSet<String> = log
        .as_array()
        .map(|l| l.iter().filter_map(|e| e["connection"].as_str().map(str::to_string)).collect())
        .unwrap_or_default();
    let served_5xx =
        log.as_array().map(|l| l.iter().filter(|e| e["status"].as_u64().unwrap_or(0) >= 500).count()).unwrap_or(0);
    all.latencies_us.sort_unstable();
    let per_minute = all.requests as f64 / elapsed.as_secs_f64() * 60.0;
    println!(
        "emulator load ({tier}; {}): {CLIENTS} clients on {} connections, {} requests in {:.1} s = {:.0} requests/min; latency p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms; errors {} (5xx in the emulator's log: {served_5xx}); peak memory of the {} {} MiB",
        program.as_deref().map(|p| format!("emulator program {p}")).unwrap_or_else(|| "in-process".into()),
        connections.len(),
        all.requests,
        elapsed.as_secs_f64(),
        per_minute,
        percentile(&all.latencies_us, 0.50),
        percentile(&all.latencies_us, 0.99),
        percentile(&all.latencies_us, 1.0),
        all.errors.len(),
        if target.child.is_some() { "emulator's process" } else { "test process (emulator and clients)" },
        target.peak_memory_mib().map(|m| format!("{m:.0}")).unwrap_or_else(|| "?".into()),
    );
    for (k, (n, us)) in &all.kinds {
        println!("  {k}: {n} requests, mean {:.1} ms", *us as f64 / *n as f64 / 1000.0);
    }
    let shown: Vec<&String> = all.errors.iter().take(10).collect();
    assert!(all.errors.is_empty(), "{} errors, the first: {shown:#?}", all.errors.len());
    assert_eq!(served_5xx, 0);
    assert!(connections.len() >= CLIENTS, "only {} connections for {CLIENTS} clients", connections.len());
    (all.requests, per_minute)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_hundred_clients_in_a_burst_get_no_error() {
    let (requests, _) = run("fast tier, unpaced burst", None, Duration::from_secs(4), None).await;
    assert!(requests >= 2 * CLIENTS as u64, "{requests} requests");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "long tier: one minute; pwsh ./build.ps1 -Task Reliability"]
async fn two_hundred_clients_for_a_minute_at_ten_thousand_requests_a_minute() {
    let program = std::env::var("KODO_LOAD_EMULATOR").ok().filter(|p| !p.is_empty());
    let (_, per_minute) =
        run("long tier, one minute paced", program, Duration::from_secs(60), Some(Duration::from_secs(1))).await;
    assert!(per_minute >= 10_000.0, "{per_minute:.0} requests/min");
}
