//! The public client an administrator signs in through when they name none: for each
//! resource, the first-party client of Microsoft's own admin tool for it (facts.md §8.6;
//! docs/signin-research.md §7.3-11.4). Each may get tokens only for the resource Microsoft
//! pre-authorized it for, so Kodo picks per resource:
//! - Microsoft Graph: Microsoft Graph Command Line Tools (`Connect-MgGraph`'s client), which
//!   takes dynamic consent to the delegated scopes Kodo asks for;
//! - Exchange Online: Microsoft Exchange REST API Based Powershell (`Connect-ExchangeOnline`'s);
//! - SharePoint: SharePoint Online Management Shell (`Connect-SPOService`'s).
//!
//! An admin who prefers a client of their own (`Connect-Kodo -ClientId`) uses it for every
//! resource instead.

use super::cloud::Environment;

/// Microsoft Graph Command Line Tools (facts.md §8.6).
pub const GRAPH_COMMAND_LINE_TOOLS: &str = "14d82eec-204b-4c2f-b7e8-296a70dab67e";
/// Microsoft Exchange REST API Based Powershell (facts.md §8.6).
pub const EXCHANGE_POWERSHELL: &str = "fb78d390-0c51-40cd-8e17-fdbfab77341b";
/// SharePoint Online Management Shell (facts.md §8.6, secondary).
pub const SHAREPOINT_SHELL: &str = "9bc3ab49-b65d-410a-85ad-de819febfddc";

/// The client for `resource` (no trailing slash) in `env`.
pub fn default_client(env: &Environment, resource: &str) -> &'static str {
    let host = resource.trim_start_matches("https://").split('/').next().unwrap_or("").to_ascii_lowercase();
    if resource.eq_ignore_ascii_case(env.exchange.trim_end_matches('/')) {
        EXCHANGE_POWERSHELL
    } else if host.ends_with(&format!(".{}", env.sharepoint_suffix)) {
        SHAREPOINT_SHELL
    } else {
        GRAPH_COMMAND_LINE_TOOLS
    }
}

/// Whether the client takes a loopback (`http://localhost:<port>`) redirect, so the browser
/// flow can bring its code back to Kodo.
pub fn takes_loopback_redirect(client_id: &str) -> bool {
    !client_id.eq_ignore_ascii_case(SHAREPOINT_SHELL)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_resource_gets_its_own_first_party_client() {
        let env = Environment::builtin("Global").unwrap();
        assert_eq!(default_client(&env, "https://graph.microsoft.com"), GRAPH_COMMAND_LINE_TOOLS);
        assert_eq!(default_client(&env, "https://outlook.office365.com"), EXCHANGE_POWERSHELL);
        assert_eq!(default_client(&env, "https://contoso-admin.sharepoint.com"), SHAREPOINT_SHELL);
        assert_eq!(default_client(&env, "https://contoso.sharepoint.com"), SHAREPOINT_SHELL);
        let gov = Environment::builtin("USGov").unwrap();
        assert_eq!(default_client(&gov, "https://outlook.office365.us"), EXCHANGE_POWERSHELL);
        assert_eq!(default_client(&gov, "https://contoso-admin.sharepoint.us"), SHAREPOINT_SHELL);
    }
}
