//! The platform as it is on the day Kodo runs: what Microsoft retired under KODO's procedure,
//! since when, what replaced it, and the dates still ahead (facts.md §8). One place for these
//! facts; every result and check that mentions one takes it from here.

use chrono::{DateTime, NaiveDate, Utc};
use serde::Serialize;

/// A step of KODO's procedure (or an API it names) that no longer works as the manual says.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Retirement {
    /// The manual's step(s), e.g. "12" or "15-16".
    pub step: &'static str,
    pub what: &'static str,
    pub since: &'static str,
    pub replacement: &'static str,
    pub source: &'static str,
}

/// Azure AD Graph (the seed's "Azure Active Directory Graph" rows).
pub const AZURE_AD_GRAPH: Retirement = Retirement {
    step: "12",
    what: "Azure AD Graph (graph.windows.net) permissions",
    since: "2025-08-31",
    replacement: "the same permissions on Microsoft Graph, which the manifest also requests",
    source: "facts.md §1.3, §8.1",
};

/// SharePoint Add-ins and Azure ACS app-only grants (appinv.aspx).
pub const SHAREPOINT_ACS: Retirement = Retirement {
    step: "15-16",
    what: "SharePoint app-only rights through appinv.aspx (SharePoint Add-ins, Azure ACS)",
    since: "2026-04-02",
    replacement: "SharePoint Sites.FullControl.All (application) on the Entra app, with a certificate credential",
    source: "facts.md §5.3, §8.2 (SharePoint/sp-dev-docs retirement announcement and FAQ)",
};

/// `Set-SPOTenant -LegacyAuthProtocolsEnabled $True` (IDCRL).
pub const LEGACY_AUTH: Retirement = Retirement {
    step: "17",
    what: "Set-SPOTenant -LegacyAuthProtocolsEnabled $True: legacy authentication (IDCRL) to SharePoint Online",
    since: "2026-05-01",
    replacement: "nothing to set: IDCRL is blocked for good and KODO reaches SharePoint with the app's certificate",
    source: "Message center MC1184649 (blocked by default 2026-02-16, permanently 2026-05-01); facts.md §8.3",
};

/// The retired steps of the seed procedure, in the manual's order.
pub fn retired_steps() -> Vec<Retirement> {
    vec![AZURE_AD_GRAPH, SHAREPOINT_ACS, LEGACY_AUTH]
}

/// Exchange Web Services in Exchange Online: phased disablement from 2026-10-01, off for good on
/// 2027-04-01 (Message center MC1227454; facts.md §8.4).
pub const EWS_DISABLEMENT_STARTS: &str = "2026-10-01";
pub const EWS_END: &str = "2027-04-01";
pub const EWS_SOURCE: &str = "Message center MC1227454; Exchange Team blog 2026-06-19 (facts.md §8.4)";

/// An audit warns about the EWS end from this many days before it.
pub const EWS_WARN_DAYS: i64 = 90;

fn day(text: &str) -> DateTime<Utc> {
    NaiveDate::parse_from_str(text, "%Y-%m-%d")
        .ok()
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map(|d| d.and_utc())
        .unwrap_or_default()
}

/// Days left until EWS stops for good (negative once it has).
pub fn days_until_ews_end(now: DateTime<Utc>) -> i64 {
    (day(EWS_END) - now).num_days()
}

/// The sentence every EWS result carries.
pub fn ews_end_notice(now: DateTime<Utc>) -> String {
    let left = days_until_ews_end(now);
    if left > 0 {
        format!(
            "Exchange Web Services stops for good in Exchange Online on {EWS_END} ({left} days from now; {EWS_SOURCE}): KODO needs a Microsoft Graph based mail backup by then."
        )
    } else {
        format!("Exchange Web Services stopped for good in Exchange Online on {EWS_END} ({EWS_SOURCE}).")
    }
}

/// The resource appIds of the APIs KODO's permissions are on (facts.md §1.1): Microsoft Graph,
/// Office 365 Exchange Online and SharePoint Online.
pub const GRAPH_APP_ID: &str = "00000003-0000-0000-c000-000000000000";
pub const EXCHANGE_APP_ID: &str = "00000002-0000-0ff1-ce00-000000000000";
pub const SHAREPOINT_APP_ID: &str = "00000003-0000-0ff1-ce00-000000000000";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_ews_end_is_counted_in_days_and_the_notice_says_it() {
        let now = day("2026-12-02");
        assert_eq!(days_until_ews_end(now), 120);
        assert!(ews_end_notice(now).contains("2027-04-01 (120 days from now"));
        assert!(days_until_ews_end(day("2027-01-01")) <= EWS_WARN_DAYS);
        assert!(ews_end_notice(day("2027-05-01")).contains("stopped for good"));
    }

    #[test]
    fn the_retired_steps_are_in_the_manuals_order_with_dates() {
        let steps: Vec<&str> = retired_steps().iter().map(|r| r.step).collect();
        assert_eq!(steps, ["12", "15-16", "17"]);
        assert!(retired_steps().iter().all(|r| r.since.len() == 10 && !r.source.is_empty()));
    }
}
