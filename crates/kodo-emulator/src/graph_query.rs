//! Graph's query options on directory objects: which the emulator implements, and Graph's own
//! answer to everything else. Strict, never lenient: an option, `$filter` property or operator
//! that Graph refuses is refused with Graph's error; one that Graph supports and the emulator
//! does not implement is refused loudly (501), never answered with unfiltered data.
//!
//! Rules: Microsoft Learn "Advanced query capabilities on Microsoft Entra ID objects" and the
//! error texts in docs/graph-query-research.md (cited per item there).

use super::graph::{GResp, gerr};
use super::odata::{self, Expr};

/// How a request asks: `ConsistencyLevel: eventual` turns on advanced queries;
/// `Prefer: create-if-missing` makes a PATCH by alternate key an upsert.
#[derive(Clone, Copy, Debug, Default)]
pub struct Mode {
    pub eventual: bool,
    pub create_if_missing: bool,
}

impl Mode {
    /// From a request's (or a `$batch` item's) headers.
    pub fn from_headers<'a>(headers: impl IntoIterator<Item = (&'a str, &'a str)>) -> Mode {
        let mut mode = Mode::default();
        for (k, v) in headers {
            if k.eq_ignore_ascii_case("consistencylevel") && v.trim().eq_ignore_ascii_case("eventual") {
                mode.eventual = true;
            }
            if k.eq_ignore_ascii_case("prefer")
                && v.split(',').any(|p| p.trim().eq_ignore_ascii_case("create-if-missing"))
            {
                mode.create_if_missing = true;
            }
        }
        mode
    }
}

/// A filterable property of an entity set: its name, whether it is a collection of strings
/// (filtered with `any`), and what needs advanced query on it.
struct Prop {
    name: &'static str,
    collection: bool,
    /// `ge`/`le` (dates) are supported on it by default.
    ranges: bool,
    /// Filterable only as an advanced query (e.g. an application's description).
    advanced_only: bool,
}

const fn p(name: &'static str) -> Prop {
    Prop { name, collection: false, ranges: false, advanced_only: false }
}
const fn c(name: &'static str) -> Prop {
    Prop { name, collection: true, ranges: false, advanced_only: false }
}
const fn d(name: &'static str) -> Prop {
    Prop { name, collection: false, ranges: true, advanced_only: false }
}
const fn a(name: &'static str) -> Prop {
    Prop { name, collection: false, ranges: false, advanced_only: true }
}

/// The filterable properties of each entity set the emulator lists (the advanced-query doc's
/// tables, docs/graph-query-research.md §14).
fn filterable(entity: &str) -> &'static [Prop] {
    const APPLICATION: &[Prop] = &[
        p("id"),
        p("appId"),
        p("displayName"),
        c("identifierUris"),
        c("tags"),
        p("publisherDomain"),
        p("signInAudience"),
        d("createdDateTime"),
        a("description"),
    ];
    const SERVICE_PRINCIPAL: &[Prop] = &[
        p("id"),
        p("appId"),
        p("displayName"),
        c("servicePrincipalNames"),
        c("tags"),
        p("accountEnabled"),
        p("appOwnerOrganizationId"),
        p("servicePrincipalType"),
        p("publisherName"),
        c("alternativeNames"),
        a("appRoleAssignmentRequired"),
    ];
    const USER: &[Prop] = &[
        p("id"),
        p("userPrincipalName"),
        p("displayName"),
        p("mail"),
        p("mailNickname"),
        p("givenName"),
        p("surname"),
        p("accountEnabled"),
        p("userType"),
        c("proxyAddresses"),
        c("otherMails"),
        d("createdDateTime"),
    ];
    // The group resource doc's per-property notes (docs/group-research.md §3a); visibility
    // has none.
    const GROUP: &[Prop] = &[
        p("id"),
        p("displayName"),
        p("description"),
        p("mail"),
        p("mailNickname"),
        p("mailEnabled"),
        p("securityEnabled"),
        p("isAssignableToRole"),
        c("groupTypes"),
        c("proxyAddresses"),
        d("createdDateTime"),
    ];
    const ADMINISTRATIVE_UNIT: &[Prop] = &[p("id"), p("displayName"), p("description"), p("membershipType")];
    const GRANT: &[Prop] = &[p("clientId"), p("resourceId"), p("consentType"), p("principalId"), p("id")];
    match entity {
        "Application" => APPLICATION,
        "ServicePrincipal" => SERVICE_PRINCIPAL,
        "User" => USER,
        "Group" => GROUP,
        "AdministrativeUnit" => ADMINISTRATIVE_UNIT,
        "OAuth2PermissionGrant" => GRANT,
        _ => &[],
    }
}

fn unsupported(message: &str) -> GResp {
    gerr(400, "Request_UnsupportedQuery", message)
}

fn unsupported_clause(property: &str, entity: &str) -> GResp {
    unsupported(&format!(
        "Unsupported or invalid query filter clause specified for property '{property}' of resource '{entity}'."
    ))
}

/// Graph's refusal of an advanced operator without `ConsistencyLevel: eventual`.
fn needs_advanced(op: &str) -> GResp {
    unsupported(&format!(
        "Operator '{op}' is not supported because the required parameters might be missing. Try adding $count=true query parameter and ConsistencyLevel:eventual header. Refer to https://aka.ms/graph-docs/advanced-queries for more information"
    ))
}

/// The `$filter` of a list of `entity` (Graph's type name: Application, User, ...), parsed and
/// checked; `None` without a filter.
pub fn filter(entity: &str, text: Option<&str>, mode: Mode) -> Result<Option<Expr>, GResp> {
    let Some(text) = text else { return Ok(None) };
    // docs/graph-query-research.md §3 (MEDIUM for directory objects).
    let expr = odata::parse(text).map_err(|at| {
        gerr(400, "BadRequest", &format!("Invalid filter clause: Syntax error at position {at} in '{text}'."))
    })?;
    let mut used = Vec::new();
    odata::uses(&expr, &mut used);
    let props = filterable(entity);
    for (path, op) in used {
        // `not` and `ne` (and `endswith`) are advanced queries on directory objects.
        let base_op = op.trim_start_matches("any/");
        if matches!(base_op, "not" | "ne" | "endswith") && !mode.eventual {
            return Err(needs_advanced(base_op));
        }
        if path.is_empty() {
            continue;
        }
        let Some(prop) = props.iter().find(|p| p.name.eq_ignore_ascii_case(&path)) else {
            return Err(unsupported_clause(&path, entity));
        };
        let on_collection = op.starts_with("any/");
        if prop.collection != on_collection {
            return Err(unsupported_clause(&path, entity));
        }
        if matches!(base_op, "ge" | "le" | "gt" | "lt") && !prop.ranges && !mode.eventual {
            return Err(needs_advanced(base_op));
        }
        if prop.advanced_only && !mode.eventual {
            return Err(unsupported_clause(&path, entity));
        }
    }
    Ok(Some(expr))
}

/// The options a request may carry besides `$filter`, checked before anything is read:
/// `$top` in 1..999, `$count`, `$search` and `$orderby` only where Graph takes them, and no
/// option the emulator does not implement.
/// Graph's type name of the objects a path lists (for its error texts).
pub fn entity_of(first_segment: &str) -> &'static str {
    match first_segment.to_ascii_lowercase().as_str() {
        "applications" => "Application",
        "serviceprincipals" => "ServicePrincipal",
        "users" => "User",
        "groups" => "Group",
        "oauth2permissiongrants" => "OAuth2PermissionGrant",
        "directory" => "AdministrativeUnit",
        _ => "DirectoryObject",
    }
}

/// The navigation properties of each type, from Graph's v1.0 CSDL
/// (microsoftgraph/msgraph-metadata `clean_v10_metadata/cleanMetadata.xml`, commit
/// f54f11b60956ea7b185ca0447b2b80805836ec7b, 2026-08-20: each `EntityType`'s
/// `NavigationProperty` names; directoryObject and oAuth2PermissionGrant have none).
fn navigation_properties(entity: &str) -> &'static [&'static str] {
    match entity {
        "Application" => &[
            "appManagementPolicies",
            "createdOnBehalfOf",
            "extensionProperties",
            "federatedIdentityCredentials",
            "homeRealmDiscoveryPolicies",
            "owners",
            "synchronization",
            "tokenIssuancePolicies",
            "tokenLifetimePolicies",
        ],
        "ServicePrincipal" => &[
            "appManagementPolicies",
            "appRoleAssignedTo",
            "appRoleAssignments",
            "claimsMappingPolicies",
            "createdObjects",
            "delegatedPermissionClassifications",
            "endpoints",
            "federatedIdentityCredentials",
            "homeRealmDiscoveryPolicies",
            "memberOf",
            "oauth2PermissionGrants",
            "ownedObjects",
            "owners",
            "remoteDesktopSecurityConfiguration",
            "synchronization",
            "tokenIssuancePolicies",
            "tokenLifetimePolicies",
            "transitiveMemberOf",
        ],
        "Group" => &[
            "acceptedSenders",
            "appRoleAssignments",
            "calendar",
            "calendarView",
            "conversations",
            "createdOnBehalfOf",
            "drive",
            "drives",
            "events",
            "extensions",
            "groupLifecyclePolicies",
            "memberOf",
            "members",
            "membersWithLicenseErrors",
            "onenote",
            "onPremisesSyncBehavior",
            "owners",
            "permissionGrants",
            "photo",
            "photos",
            "planner",
            "rejectedSenders",
            "settings",
            "sites",
            "team",
            "threads",
            "transitiveMemberOf",
            "transitiveMembers",
        ],
        "User" => &[
            "activities",
            "adhocCalls",
            "agreementAcceptances",
            "appRoleAssignments",
            "authentication",
            "calendar",
            "calendarGroups",
            "calendars",
            "calendarView",
            "chats",
            "cloudClipboard",
            "cloudPCs",
            "contactFolders",
            "contacts",
            "createdObjects",
            "dataSecurityAndGovernance",
            "deviceManagementTroubleshootingEvents",
            "directReports",
            "drive",
            "drives",
            "employeeExperience",
            "events",
            "extensions",
            "followedSites",
            "inferenceClassification",
            "insights",
            "joinedTeams",
            "licenseDetails",
            "mailFolders",
            "managedAppRegistrations",
            "managedDevices",
            "manager",
            "memberOf",
            "messages",
            "oauth2PermissionGrants",
            "onenote",
            "onlineMeetings",
            "onPremisesSyncBehavior",
            "outlook",
            "ownedDevices",
            "ownedObjects",
            "people",
            "permissionGrants",
            "photo",
            "photos",
            "planner",
            "presence",
            "registeredDevices",
            "scopedRoleMemberOf",
            "settings",
            "solutions",
            "sponsorOf",
            "sponsors",
            "teamwork",
            "todo",
            "transitiveMemberOf",
        ],
        "AdministrativeUnit" => &["extensions", "members", "scopedRoleMembers"],
        _ => &[],
    }
}

/// Graph's (CSDL) name of a type, as its `$expand` error names it.
fn graph_type(entity: &str) -> &'static str {
    match entity {
        "Application" => "application",
        "ServicePrincipal" => "servicePrincipal",
        "Group" => "group",
        "User" => "user",
        "AdministrativeUnit" => "administrativeUnit",
        "OAuth2PermissionGrant" => "oAuth2PermissionGrant",
        _ => "directoryObject",
    }
}

pub fn check_options(query: &[(String, String)], mode: Mode, entity: &str) -> Result<(), GResp> {
    for (key, value) in query {
        let k = key.trim_start_matches('$').to_ascii_lowercase();
        match k.as_str() {
            "filter" | "select" | "skiptoken" => {}
            "top" => match value.parse::<i64>() {
                Ok(n) if (1..=999).contains(&n) => {}
                _ => {
                    return Err(unsupported(&format!(
                        "Invalid page size specified: '{value}'. Must be between 1 and 999 inclusive."
                    )));
                }
            },
            // The text for a non-Boolean $count is UNCONFIRMED (the emulator's own).
            "count" if !value.eq_ignore_ascii_case("true") && !value.eq_ignore_ascii_case("false") => {
                return Err(gerr(400, "BadRequest", &format!("Invalid value '{value}' for $count: true or false.")));
            }
            "count" => {}
            "search" => {
                if !mode.eventual {
                    return Err(unsupported(
                        "Request with $search query parameter only works through MSGraph with a special request header: 'ConsistencyLevel: eventual'",
                    ));
                }
                check_search(value)?;
            }
            "orderby" => {
                if !mode.eventual {
                    return Err(unsupported("Sorting not supported for current query."));
                }
                // displayName only (the emulator sorts by it); another property gets Graph's
                // "Unsupported sort property" (§6, HIGH).
                let (prop, dir) = value.trim().split_once(' ').unwrap_or((value.trim(), "asc"));
                if !prop.eq_ignore_ascii_case("displayName") {
                    return Err(unsupported(&format!("Unsupported sort property '{prop}' for '{entity}'.")));
                }
                if !matches!(dir.trim().to_ascii_lowercase().as_str(), "asc" | "desc") {
                    return Err(unsupported("Sorting not supported for current query."));
                }
            }
            "skip" => return Err(gerr(400, "Request_BadRequest", "'$skip' is not supported by the service.")),
            "expand" => {
                // The relationships the emulator expands (graph.rs `expand`); any other, or a
                // nested option, is refused loudly: Graph supports more than this.
                let implemented = |r: &str| match entity {
                    "Application" | "Group" => r.eq_ignore_ascii_case("owners"),
                    "ServicePrincipal" => {
                        r.eq_ignore_ascii_case("appRoleAssignments")
                            || r.eq_ignore_ascii_case("appRoleAssignedTo")
                            || r.eq_ignore_ascii_case("oauth2PermissionGrants")
                    }
                    _ => false,
                };
                // A name the type does not have is Graph's 400: "Parsing OData Select and Expand
                // failed: Could not find a property named 'passwordCredentials' on type
                // 'microsoft.graph.directoryObject'." (a real directory answer to an `$expand`,
                // microsoftgraph/msgraph-sdk-powershell#2103, 2023; its `code` is UNCONFIRMED,
                // `BadRequest` as Graph's "Parsing Select and Expand failed." in
                // microsoftgraph/microsoft-graph-explorer-v4#589). The type is the path's first
                // segment's (entity_of), also below it (UNCONFIRMED for sub-collections). A real
                // relationship the emulator does not model stays 501: Graph answers it, so no
                // error of Graph's fits.
                for item in value.split(',').map(str::trim) {
                    let name = item.split('(').next().unwrap_or("").trim();
                    if !navigation_properties(entity).iter().any(|n| n.eq_ignore_ascii_case(name)) {
                        return Err(gerr(
                            400,
                            "BadRequest",
                            &format!(
                                "Parsing OData Select and Expand failed: Could not find a property named '{name}' on type 'microsoft.graph.{}'.",
                                graph_type(entity)
                            ),
                        ));
                    }
                }
                if !value.split(',').map(str::trim).all(implemented) {
                    return Err(gerr(
                        501,
                        "NotImplemented",
                        &format!("The Kodo tenant emulator does not implement $expand ('{value}') on {entity}."),
                    ));
                }
            }
            // Graph's answer to an unknown system query option is not known (§11): the text is
            // the emulator's own, UNCONFIRMED; refusing beats ignoring.
            _ if key.starts_with('$') => {
                return Err(gerr(400, "BadRequest", &format!("The query parameter '{key}' is not supported.")));
            }
            // Parameters that are not OData system query options are ignored, as by Graph.
            _ => {}
        }
    }
    Ok(())
}

/// `$search="property:term"` (clauses joined by AND or OR): the term matches the start of a
/// word of the property's value, ignoring case, as directory search tokenizes.
pub fn search_matches(obj: &serde_json::Map<String, serde_json::Value>, search: &str) -> bool {
    let clause = |c: &str| {
        let c = c.trim().trim_matches('"');
        let Some((prop, term)) = c.split_once(':') else { return false };
        let term = term.trim().to_ascii_lowercase();
        let value = obj
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(prop.trim()))
            .and_then(|(_, v)| v.as_str())
            .unwrap_or("")
            .to_ascii_lowercase();
        value.split(|ch: char| !ch.is_alphanumeric()).any(|w| w.starts_with(&term))
    };
    search.split(" OR ").any(|alt| alt.split(" AND ").all(clause))
}

/// Checks a `$search` value's form: `"property:term"` clauses on properties Graph searches. The
/// text for another form is UNCONFIRMED (the emulator's own).
pub fn check_search(search: &str) -> Result<(), GResp> {
    for c in search.split(" OR ").flat_map(|a| a.split(" AND ")) {
        let c = c.trim();
        let quoted = c.len() >= 2 && c.starts_with('"') && c.ends_with('"');
        let prop = c.trim_matches('"').split_once(':').map(|(p, _)| p.trim().to_ascii_lowercase());
        let searchable = matches!(
            prop.as_deref(),
            Some(
                "displayname" | "description" | "mail" | "userprincipalname" | "mailnickname" | "givenname" | "surname"
            )
        );
        if !quoted || !searchable {
            return Err(gerr(
                400,
                "Request_UnsupportedQuery",
                &format!(
                    "The Kodo tenant emulator searches \"property:term\" on displayName, description, mail, userPrincipalName, mailNickname, givenName and surname only, not '{c}'."
                ),
            ));
        }
    }
    Ok(())
}
