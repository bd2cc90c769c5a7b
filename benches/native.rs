//! Criterion benches of Kodo's hot native paths, without the network:
//!
//! - manifest resolution against the real 716-role Microsoft Graph service principal (plus
//!   Exchange and SharePoint), and declaring the permissions (the plan's diff against the app);
//! - JSON across the C boundary: a whole operation (start, events, result, free) through the
//!   exported functions;
//! - token work: signing a client assertion (RS256) and reading a JWT's claims.
//!
//! Run: `cargo bench --bench native` (figures in README, "Performance").

use criterion::{Criterion, criterion_group, criterion_main};
use kodo::ffi::*;
use kodo_core::graph::models::ServicePrincipal;
use kodo_core::manifest::parse_manifest;
use kodo_core::onboarding::{declare_permissions, resolve_manifest};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::ffi::{CString, c_char};
use std::hint::black_box;
use std::ptr;

fn read(path: &str) -> Value {
    let full = format!("{}/{path}", env!("CARGO_MANIFEST_DIR"));
    serde_json::from_str(&std::fs::read_to_string(&full).expect("fixture")).expect("JSON")
}

/// The resource APIs as a tenant serves them: the fixtures, with an object id each.
fn resource_sps() -> BTreeMap<String, Option<ServicePrincipal>> {
    let mut map = BTreeMap::new();
    for (file, id) in [
        ("crates/kodo-emulator/fixtures/msgraph-sp.json", "6f1f0f8e-0000-4000-8000-000000000001"),
        ("crates/kodo-emulator/fixtures/exchange-sp.json", "6f1f0f8e-0000-4000-8000-000000000002"),
        ("crates/kodo-emulator/fixtures/sharepoint-sp.json", "6f1f0f8e-0000-4000-8000-000000000003"),
        ("crates/kodo-emulator/fixtures/aadgraph-sp.json", "6f1f0f8e-0000-4000-8000-000000000004"),
    ] {
        let mut sp = read(file);
        sp["id"] = id.into();
        let app_id = sp["appId"].as_str().expect("appId").to_ascii_lowercase();
        let sp: ServicePrincipal = serde_json::from_value(sp).expect("a service principal");
        map.insert(app_id, Some(sp.compact()));
    }
    map
}

fn manifest_benches(c: &mut Criterion) {
    let seed = read("powershell/Kodo/Data/seed.json");
    let kodo43 = read("powershell/Kodo/Data/kodo-4.3.json");
    let sps = resource_sps();
    c.bench_function("parse_manifest (seed, 33 rows)", |b| b.iter(|| parse_manifest(black_box(&seed)).unwrap()));
    let manifest = parse_manifest(&seed).unwrap();
    c.bench_function("resolve_manifest (seed against Graph's 716 roles + Exchange + SharePoint)", |b| {
        b.iter(|| resolve_manifest(black_box(&manifest), black_box(&sps)))
    });
    let m43 = parse_manifest(&kodo43).unwrap();
    c.bench_function("resolve_manifest (KODO 4.3)", |b| b.iter(|| resolve_manifest(black_box(&m43), black_box(&sps))));
    let resolution = resolve_manifest(&manifest, &sps);
    assert!(resolution.missing.is_empty(), "the seed resolves against the fixtures");
    c.bench_function("declare_permissions (new app: plan the whole requiredResourceAccess)", |b| {
        b.iter(|| declare_permissions(black_box(&[]), &resolution.resolved))
    });
    let (done, _) = declare_permissions(&[], &resolution.resolved);
    c.bench_function("declare_permissions (app already complete: nothing to add)", |b| {
        b.iter(|| declare_permissions(black_box(&done), &resolution.resolved))
    });
}

/// One whole operation through the exported functions: start, read events until done, free.
fn run_op(session: *mut KodoSession, request: &CString) {
    let mut op = ptr::null_mut();
    assert_eq!(unsafe { kodo_op_start(session, request.as_ptr(), &mut op) }, KodoStatus::Ok);
    loop {
        let mut event: *mut c_char = ptr::null_mut();
        match unsafe { kodo_op_next_event(op, 1000, &mut event) } {
            KodoStatus::Ok => assert_eq!(kodo_string_free(event), KodoStatus::Ok),
            KodoStatus::Pending => continue,
            KodoStatus::Done => break,
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(kodo_op_free(op), KodoStatus::Ok);
}

fn boundary_benches(c: &mut Criterion) {
    let config = CString::new(r#"{"v":1}"#).unwrap();
    let mut session = ptr::null_mut();
    assert_eq!(unsafe { kodo_session_new(config.as_ptr(), &mut session) }, KodoStatus::Ok);
    let request = CString::new(r#"{"v":1,"kind":"version"}"#).unwrap();
    c.bench_function("C boundary: one operation (start, events until done, free)", |b| {
        b.iter(|| run_op(session, &request))
    });
    assert_eq!(kodo_session_free(session), KodoStatus::Ok);
    // A large request body crossing the boundary: a whole manifest, refused at validation
    // (unknown kind fields are rejected after the JSON is parsed).
    let big = CString::new(json!({ "v": 1, "kind": "permissions.grant", "appId": "not-a-guid", "manifest": read("powershell/Kodo/Data/kodo-4.3.json") }).to_string()).unwrap();
    let mut session = ptr::null_mut();
    assert_eq!(unsafe { kodo_session_new(config.as_ptr(), &mut session) }, KodoStatus::Ok);
    c.bench_function("C boundary: a 9 KB request parsed and answered", |b| b.iter(|| run_op(session, &big)));
    assert_eq!(kodo_session_free(session), KodoStatus::Ok);
}

fn token_benches(c: &mut Criterion) {
    let credential = kodo_emulator::pki::RsaCredential::generate("Kodo bench", 30).unwrap();
    let claims = json!({ "aud": "https://login.microsoftonline.com/tenant/oauth2/v2.0/token", "iss": "client", "sub": "client", "jti": "x", "nbf": 0, "exp": 4_000_000_000u64 });
    c.bench_function("client assertion: RS256 sign (2048-bit key)", |b| {
        b.iter(|| credential.sign_jwt(serde_json::Map::new(), black_box(&claims)))
    });
    let token = credential.sign_jwt(serde_json::Map::new(), &claims);
    c.bench_function("JWT claims read", |b| b.iter(|| kodo_emulator::pki::parse_jwt(black_box(&token)).unwrap()));
}

criterion_group!(benches, manifest_benches, boundary_benches, token_benches);
criterion_main!(benches);
