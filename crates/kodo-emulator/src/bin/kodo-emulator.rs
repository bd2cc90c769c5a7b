//! `kodo-emulator`: a local HTTPS emulator of Entra ID, Microsoft Graph, SharePoint Online and
//! Exchange Online (admin REST, EWS) for trying Kodo without a tenant and for tests. Prints one JSON line (URL, CA certificate,
//! tenants and their bootstrap credentials), then serves until stopped (Ctrl+C or SIGTERM).

use clap::Parser;
use kodo_emulator::server;
use kodo_emulator::world::{AppPolicyPreset, EmulatorConfig, EwsPreset};
use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

#[derive(Parser, Debug)]
#[command(
    name = "kodo-emulator",
    version,
    about = "Local emulator of Entra ID, Microsoft Graph and SharePoint Online (loopback HTTPS)"
)]
struct Args {
    /// Address to listen on; loopback only. Port 0 picks a free port.
    #[arg(long, default_value = "127.0.0.1:0")]
    listen: SocketAddr,
    /// Number of tenants to create.
    #[arg(long, default_value_t = 1)]
    tenants: usize,
    /// New directory objects stay invisible to other replicas for this long (ms).
    #[arg(long, default_value_t = 0)]
    replication_lag_ms: u64,
    /// Fraction (0..1) of Graph requests answered 429 with Retry-After.
    #[arg(long, default_value_t = 0.0)]
    throttle_rate: f64,
    /// Latency added to every response (ms): the round trip of one HTTP request.
    #[arg(long, default_value_t = 0)]
    latency_ms: u64,
    /// Graph's time to serve one request or one `$batch` item (ms). A batch's items run
    /// concurrently unless `dependsOn` orders them: it takes this times its longest chain.
    /// Changeable later as `serviceTimeMs` in /_emulator/settings.
    #[arg(long, default_value_t = 0)]
    service_time_ms: u64,
    /// Approve device codes without a call to the control API.
    #[arg(long)]
    auto_approve_device_codes: bool,
    /// Also run an HTTP proxy here that sends login.microsoftonline.com, graph.microsoft.com,
    /// *.sharepoint.com (and the other clouds' hosts) to the emulator: CONNECT tunnels and
    /// absolute-form requests. Loopback only.
    #[arg(long)]
    proxy_listen: Option<SocketAddr>,
    /// Objects per page of a Graph list without `$top` (1..999; Graph's default is 100).
    /// Changeable later as `pageSize` through PATCH /_emulator/settings.
    #[arg(long, default_value_t = EmulatorConfig::DEFAULT_PAGE_SIZE)]
    page_size: usize,
    /// Seed every tenant with this many untagged line-of-business apps ("Line-of-business app
    /// 0001" ...), each with its service principal, so that lists run past one page.
    #[arg(long, default_value_t = 0)]
    extra_apps: usize,
    /// Every tenant holds exactly N users, groups, applications and service principals: its
    /// seeded objects made up to N by generated ones ("User 00001", "Group 00001",
    /// "Line-of-business app 00001"), with the same names and ids on every run. 0: the seeded
    /// directory alone.
    #[arg(long, default_value_t = 0)]
    directory_size: usize,
    /// The EWS settings every tenant starts with: never-set (EwsEnabled $null), off (false),
    /// on-empty (true, no allowed app ids), on-listed (true, two other apps of the tenant
    /// allowed). Changeable per tenant through /_emulator/tenants/{tenant}/exchange.
    #[arg(long, default_value = "on-listed")]
    ews: EwsPreset,
    /// EWS enforces organization settings as they were this long ago (ms); Get-OrganizationConfig
    /// shows a write at once. Changeable later as `ewsPropagationMs` in /_emulator/settings.
    #[arg(long, default_value_t = 0)]
    ews_propagation_ms: u64,
    /// Exchange RBAC for Applications role assignments reach EWS this long after they are made
    /// or re-scoped (ms; the real cache takes 30 minutes to 2 hours). Changeable later as
    /// `rbacPropagationMs` in /_emulator/settings.
    #[arg(long, default_value_t = 0)]
    rbac_propagation_ms: u64,
    /// The tenant default app management policy of every tenant: none (the documented
    /// disabled default), no-secrets (password addition blocked), secret-lifetime=<ISO 8601
    /// duration> (e.g. secret-lifetime=P90D). Changeable per tenant through
    /// /_emulator/tenants/{tenant}/appManagementPolicy.
    #[arg(long, default_value = "none")]
    app_policy: AppPolicyPreset,
    /// How far the services' clock is ahead of this machine's (ms; negative: behind), up to a
    /// day either way: every time the emulator stamps or checks, and its `Date` header.
    /// Changeable later as `clockOffsetMs` in /_emulator/settings.
    #[arg(long, default_value_t = 0, allow_negative_numbers = true)]
    clock_offset_ms: i64,
    /// Folder for the CA certificate and the bootstrap certificates (default: a new temp folder).
    #[arg(long)]
    state_dir: Option<PathBuf>,
}

/// A bound on `--extra-apps` (per tenant; every app and its SP stay in memory).
const MAX_EXTRA_APPS: usize = 100_000;

fn main() {
    let args = Args::parse();
    if !(0.0..=1.0).contains(&args.throttle_rate) {
        eprintln!("kodo-emulator: --throttle-rate must be between 0 and 1");
        std::process::exit(2);
    }
    if args.tenants == 0 || args.tenants > 10_000 {
        eprintln!("kodo-emulator: --tenants must be between 1 and 10000");
        std::process::exit(2);
    }
    if !(1..=EmulatorConfig::MAX_PAGE_SIZE).contains(&args.page_size) {
        eprintln!("kodo-emulator: --page-size must be between 1 and {}", EmulatorConfig::MAX_PAGE_SIZE);
        std::process::exit(2);
    }
    if args.extra_apps > MAX_EXTRA_APPS {
        eprintln!("kodo-emulator: --extra-apps must be at most {MAX_EXTRA_APPS}");
        std::process::exit(2);
    }
    if args.directory_size > kodo_emulator::generated::MAX_DIRECTORY_SIZE {
        eprintln!("kodo-emulator: --directory-size must be at most {}", kodo_emulator::generated::MAX_DIRECTORY_SIZE);
        std::process::exit(2);
    }
    if args.clock_offset_ms.unsigned_abs() > 86_400_000 {
        eprintln!("kodo-emulator: --clock-offset-ms must be at most a day (86400000) either way");
        std::process::exit(2);
    }
    kodo_emulator::state::set_clock_offset_ms(args.clock_offset_ms);
    let state_dir = args
        .state_dir
        .clone()
        .unwrap_or_else(|| std::env::temp_dir().join(format!("kodo-emulator-{}", std::process::id())));
    let config = EmulatorConfig {
        tenants: args.tenants,
        replication_lag: Duration::from_millis(args.replication_lag_ms),
        throttle_rate: args.throttle_rate,
        latency: Duration::from_millis(args.latency_ms),
        service_time: Duration::from_millis(args.service_time_ms),
        auto_approve_device_codes: args.auto_approve_device_codes,
        state_dir,
        page_size: args.page_size,
        extra_apps: args.extra_apps,
        directory_size: args.directory_size,
        ews: args.ews.clone(),
        ews_propagation: Duration::from_millis(args.ews_propagation_ms),
        app_policy: args.app_policy.clone(),
        rbac_propagation: Duration::from_millis(args.rbac_propagation_ms),
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("kodo-emulator: {e}");
            std::process::exit(1);
        }
    };
    runtime.block_on(async move {
        let running = match server::start_with_proxy(config, args.listen, args.proxy_listen).await {
            Ok(r) => r,
            Err(e) => {
                eprintln!("kodo-emulator: {e}");
                std::process::exit(1);
            }
        };
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "{}", running.announcement());
        let _ = out.flush();
        drop(out);
        wait_for_stop().await;
        running.shutdown();
    });
}

async fn wait_for_stop() {
    #[cfg(unix)]
    {
        let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(s) => s,
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
                return;
            }
        };
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
