//! Browser sign-in in the tenant emulator: the authorize endpoint, its sign-in page, the
//! redirect to a loopback listener, and the code's redemption with PKCE
//! (docs/signin-research.md §7), driven over HTTPS without following redirects.

mod common;

use common::*;
use serde_json::Value;
use std::collections::HashMap;

const GRAPH_TOOLS: &str = "14d82eec-204b-4c2f-b7e8-296a70dab67e";
const SPO_SHELL: &str = "9bc3ab49-b65d-410a-85ad-de819febfddc";
const GRAPH_SCOPE: &str = "https://graph.microsoft.com/Application.ReadWrite.All offline_access openid";
// RFC 7636 Appendix B.
const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";

/// GET the authorize endpoint: (status, Location, body).
async fn authorize(
    emu: &Emu,
    client_id: &str,
    redirect: &str,
    scope: &str,
    extra: &[(&str, &str)],
) -> (u16, String, String) {
    let mut q = vec![
        ("client_id", client_id),
        ("response_type", "code"),
        ("redirect_uri", redirect),
        ("scope", scope),
        ("state", "s-123"),
        ("code_challenge", CHALLENGE),
        ("code_challenge_method", "S256"),
    ];
    for (k, v) in extra {
        match q.iter_mut().find(|(n, _)| n == k) {
            Some(p) => p.1 = v,
            None => q.push((k, v)),
        }
    }
    emu.open_page(&format!("{}/oauth2/v2.0/authorize", emu.tid(0)), &q).await
}

async fn redeem(emu: &Emu, code: &str, redirect: &str, verifier: Option<&str>) -> (u16, Value) {
    let mut form = vec![
        ("grant_type", "authorization_code"),
        ("client_id", GRAPH_TOOLS),
        ("code", code),
        ("redirect_uri", redirect),
        ("scope", GRAPH_SCOPE),
    ];
    if let Some(v) = verifier {
        form.push(("code_verifier", v));
    }
    emu.token_request(&emu.tid(0), &form).await
}

fn aadsts(body: &Value) -> String {
    body["error_description"].as_str().unwrap_or("").to_string()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_first_party_client_signs_in_through_the_page_and_redeems_with_its_verifier() {
    let emu = start(1, 0, 0.0).await;
    // The port of a localhost redirect is ignored when matching (§7.1).
    let redirect = "http://localhost:51234";
    let (s, _, page) = authorize(&emu, GRAPH_TOOLS, redirect, GRAPH_SCOPE, &[]).await;
    assert_eq!(s, 200, "{page}");
    assert!(page.contains("Microsoft Graph Command Line Tools"), "{page}");
    let location = emu.answer_page(&page, "accept").await;
    assert!(
        location.starts_with("http://localhost:51234/?code="),
        "a redirect without a path comes back with '/': {location}"
    );
    let q = query_of(&location);
    assert_eq!(q["state"], "s-123");
    let code = q["code"].clone();

    let (s, b) = redeem(&emu, &code, redirect, Some("not-the-verifier-but-43-characters-long-xxx")).await;
    assert_eq!((s, b["error"].as_str()), (400, Some("invalid_grant")));
    assert!(aadsts(&b).starts_with("AADSTS501481: The Code_Verifier does not match the code_challenge"), "{b}");
    let (_, b) = redeem(&emu, &code, redirect, None).await;
    assert!(aadsts(&b).starts_with("AADSTS50148: The code_verifier does not match"), "{b}");
    let (_, b) = redeem(&emu, &code, "http://localhost:9999", Some(VERIFIER)).await;
    assert_eq!(b["error"], "invalid_client");
    assert!(aadsts(&b).starts_with("AADSTS70002: Error validating credentials. AADSTS50011: The reply address"), "{b}");

    let (s, b) = redeem(&emu, &code, redirect, Some(VERIFIER)).await;
    assert_eq!(s, 200, "{b}");
    let claims = claims_of(b["access_token"].as_str().unwrap());
    assert_eq!(claims["appid"], GRAPH_TOOLS);
    assert_eq!(claims["scp"], "Application.ReadWrite.All");
    assert_eq!(claims["aud"], "https://graph.microsoft.com");
    assert!(b["refresh_token"].is_string());
    let (_, b) = redeem(&emu, &code, redirect, Some(VERIFIER)).await;
    assert!(aadsts(&b).starts_with("AADSTS54005: OAuth2 Authorization code was already redeemed"), "{b}");
}

#[tokio::test(flavor = "multi_thread")]
async fn what_entra_shows_on_its_page_and_what_it_redirects() {
    let emu = start(1, 0, 0.0).await;
    // Unknown client and unregistered redirect: the error page, never a redirect (§7.1, §7.5).
    let (s, loc, page) =
        authorize(&emu, "11111111-2222-3333-4444-555555555555", "http://localhost", GRAPH_SCOPE, &[]).await;
    assert_eq!((s, loc.as_str()), (400, ""));
    assert!(
        page.contains("AADSTS700016: Application with identifier '11111111-2222-3333-4444-555555555555'"),
        "{page}"
    );
    let (s, loc, page) = authorize(&emu, GRAPH_TOOLS, "http://127.0.0.1:5000", GRAPH_SCOPE, &[]).await;
    assert_eq!((s, loc.as_str()), (400, ""), "localhost and 127.0.0.1 are different hosts");
    assert!(page.contains("AADSTS50011: The redirect URI"), "{page}");
    // SharePoint Online Management Shell has no loopback redirect.
    let (s, _, page) =
        authorize(&emu, SPO_SHELL, "http://localhost:5000", "https://graph.microsoft.com/.default", &[]).await;
    assert_eq!(s, 400);
    assert!(page.contains("AADSTS50011"), "{page}");

    // A resource the first-party client is not pre-authorized for: redirected (§7.3).
    let (s, loc, _) =
        authorize(&emu, GRAPH_TOOLS, "http://localhost:5000", "https://outlook.office365.com/.default", &[]).await;
    assert_eq!(s, 302);
    let q = query_of(&loc);
    assert_eq!(q["error"], "invalid_request");
    assert!(q["error_description"].starts_with(&format!(
        "AADSTS65002: Consent between first party application '{GRAPH_TOOLS}' and first party resource '00000002-0000-0ff1-ce00-000000000000'"
    )));
    assert_eq!(q["error_uri"], "https://login.microsoftonline.com/error?code=65002");
    assert_eq!(q["state"], "s-123");

    // The user cancels (§7.1).
    let (_, _, page) = authorize(&emu, GRAPH_TOOLS, "http://localhost:5000", GRAPH_SCOPE, &[]).await;
    let q = query_of(&emu.answer_page(&page, "cancel").await);
    assert_eq!(q["error"], "access_denied");
    assert!(q["error_description"].starts_with("AADSTS65004: User declined to consent to access the app."));

    // Implicit response types: public clients get no implicit tokens; Entra's AADSTS700051
    // and AADSTS700054, `unsupported_response_type`, on the redirect.
    for (rt, code, text) in [
        ("token", 700051, "AADSTS700051: response_type 'token' is not enabled for the application."),
        ("id_token", 700054, "AADSTS700054: response_type 'id_token' is not enabled for the application."),
        ("code id_token", 700054, "AADSTS700054: response_type 'id_token' is not enabled for the application."),
    ] {
        let (s, loc, page) =
            authorize(&emu, GRAPH_TOOLS, "http://localhost:5000", GRAPH_SCOPE, &[("response_type", rt)]).await;
        assert_eq!(s, 302, "{rt}: {page}");
        let q = query_of(&loc);
        assert_eq!(q["error"], "unsupported_response_type", "{loc}");
        assert!(q["error_description"].starts_with(text), "{loc}");
        assert_eq!(q["error_uri"], format!("https://login.microsoftonline.com/error?code={code}"));
        assert_eq!(q["state"], "s-123");
    }
    // No response_type: AADSTS900144 on the page.
    let (s, loc, page) =
        authorize(&emu, GRAPH_TOOLS, "http://localhost:5000", GRAPH_SCOPE, &[("response_type", "")]).await;
    assert_eq!((s, loc.as_str()), (400, ""), "{page}");
    assert!(
        page.contains("AADSTS900144: The request body must contain the following parameter: 'response_type'."),
        "{page}"
    );

    // response_mode=fragment: the code after `#`.
    let (_, _, page) =
        authorize(&emu, GRAPH_TOOLS, "http://localhost:5000", GRAPH_SCOPE, &[("response_mode", "fragment")]).await;
    let back = emu.answer_page(&page, "accept").await;
    let (before, fragment) = back.split_once('#').unwrap();
    assert_eq!(before, "http://localhost:5000/");
    let f: HashMap<String, String> = form_urlencoded::parse(fragment.as_bytes()).into_owned().collect();
    assert!(f["code"].starts_with("1."), "{back}");
    assert_eq!(f["state"], "s-123");
    // response_mode=form_post: a page that posts the code to the redirect URI.
    let (_, _, page) =
        authorize(&emu, GRAPH_TOOLS, "http://localhost:5000", GRAPH_SCOPE, &[("response_mode", "form_post")]).await;
    let form = page.split("<form method=\"post\" action=\"").nth(1).unwrap().split('"').next().unwrap();
    let r = emu.browser().post(form).form(&[("action", "accept")]).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 200);
    let posted = r.text().await.unwrap();
    assert!(
        posted.contains("<form method=\"POST\" name=\"hiddenform\" action=\"http://localhost:5000/\">"),
        "{posted}"
    );
    assert!(posted.contains("<input type=\"hidden\" name=\"code\" value=\"1."), "{posted}");
    assert!(posted.contains("<input type=\"hidden\" name=\"state\" value=\"s-123\" />"), "{posted}");
    // An unknown response_mode: an error page, never a redirect in another shape.
    let (s, loc, page) =
        authorize(&emu, GRAPH_TOOLS, "http://localhost:5000", GRAPH_SCOPE, &[("response_mode", "web_message")]).await;
    assert_eq!((s, loc.as_str()), (400, ""), "{page}");
    assert!(page.contains("response_mode"), "{page}");
}
