//! FHIR REST requests and whether a scope set allows them.
//!
//! What each interaction needs:
//!
//! | request | needs |
//! |---|---|
//! | `GET Type/id`, `GET Type/id/_history[/vid]` | `r` on Type |
//! | `GET Type[?q]`, `POST Type/_search`, `GET Type/_history` | `s` on Type |
//! | `GET [?q]`, `POST _search`, `GET _history` (whole system) | `s` on every `_type` given, else on `*` |
//! | `POST Type` | `c` on Type |
//! | `PUT`/`PATCH Type/id` or `Type?q` | `u` on Type |
//! | `DELETE Type/id` or `Type?q` | `d` on Type |
//! | `GET $export`, `GET Patient/$export`, `GET Group/id/$export` | `r` and `s` on every `_type` given, else on `*`; a Group export also `r` on Group |
//!
//! Bulk export is checked in the context asked for, `system` when none is given: it is a
//! backend interaction. Other operations (`$everything`, `$validate`, ...) are not mapped to
//! scopes and are denied with that reason. A query-restricted scope allows a search only
//! when the search carries every restricting parameter with the same value, and never a
//! read or a write, whose target cannot be checked against the restriction.

use serde::Serialize;
use ts_rs::TS;

use super::fhir::resource_type;
use super::grammar::{Context, Perms, Query, Resource, ResourceScope, Scope};
use super::set::ScopeSet;

/// What a request does, as far as scopes are concerned.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, TS)]
#[serde(rename_all = "snake_case")]
pub enum Interaction {
    Read,
    Vread,
    HistoryInstance,
    HistoryType,
    HistorySystem,
    SearchType,
    SearchSystem,
    Create,
    Update,
    Patch,
    Delete,
    Export,
    Operation,
}

impl Interaction {
    /// Every interaction.
    pub const ALL: [Interaction; 13] = [
        Interaction::Read,
        Interaction::Vread,
        Interaction::HistoryInstance,
        Interaction::HistoryType,
        Interaction::HistorySystem,
        Interaction::SearchType,
        Interaction::SearchSystem,
        Interaction::Create,
        Interaction::Update,
        Interaction::Patch,
        Interaction::Delete,
        Interaction::Export,
        Interaction::Operation,
    ];

    /// The stored spelling (the FHIR restful-interaction code where there is one).
    pub fn as_str(self) -> &'static str {
        match self {
            Interaction::Read => "read",
            Interaction::Vread => "vread",
            Interaction::HistoryInstance => "history-instance",
            Interaction::HistoryType => "history-type",
            Interaction::HistorySystem => "history-system",
            Interaction::SearchType => "search-type",
            Interaction::SearchSystem => "search-system",
            Interaction::Create => "create",
            Interaction::Update => "update",
            Interaction::Patch => "patch",
            Interaction::Delete => "delete",
            Interaction::Export => "export",
            Interaction::Operation => "operation",
        }
    }

    /// The interaction a stored spelling names.
    pub fn from_code(code: &str) -> Option<Interaction> {
        Interaction::ALL.into_iter().find(|i| i.as_str() == code)
    }

    /// How a reviewer would name it.
    pub fn describe(self) -> &'static str {
        match self {
            Interaction::Read => "read",
            Interaction::Vread => "version read",
            Interaction::HistoryInstance => "instance history",
            Interaction::HistoryType => "type history",
            Interaction::HistorySystem => "system-wide history",
            Interaction::SearchType => "search",
            Interaction::SearchSystem => "system-wide search",
            Interaction::Create => "create",
            Interaction::Update => "update",
            Interaction::Patch => "patch",
            Interaction::Delete => "delete",
            Interaction::Export => "bulk export",
            Interaction::Operation => "operation",
        }
    }

    /// The one permission letter an interaction needs (export needs two: see the table).
    pub fn perm(self) -> Perms {
        match self {
            Interaction::Read | Interaction::Vread | Interaction::HistoryInstance => Perms::R,
            Interaction::HistoryType
            | Interaction::HistorySystem
            | Interaction::SearchType
            | Interaction::SearchSystem => Perms::S,
            Interaction::Create => Perms::C,
            Interaction::Update | Interaction::Patch => Perms::U,
            Interaction::Delete => Perms::D,
            Interaction::Export => Perms::R.union(Perms::S),
            Interaction::Operation => Perms::NONE,
        }
    }
}

/// A parsed `METHOD PATH` request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    pub method: String,
    pub interaction: Interaction,
    /// The resource type in the path, or `None` for whole-system interactions.
    pub resource: Option<&'static str>,
    /// The types named by `_type` (system search and export); empty means all.
    pub types: Vec<&'static str>,
    pub params: Vec<(String, String)>,
    /// The operation name for `$` operations.
    pub operation: Option<String>,
}

impl Request {
    /// Parses `GET Observation?patient=1`, `PUT Patient/1`, `GET Group/g1/$export`, ...
    pub fn parse(text: &str) -> Result<Request, String> {
        let text = text.trim();
        let (method, path) = text
            .split_once(char::is_whitespace)
            .ok_or_else(|| format!("'{text}' is not 'METHOD PATH'"))?;
        let method = method.to_ascii_uppercase();
        if !["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD"].contains(&method.as_str()) {
            return Err(format!("'{method}' is not an HTTP method FHIR uses"));
        }
        let path = path.trim().trim_start_matches('/');
        let (path, query) = match path.split_once('?') {
            Some((p, q)) => (p, Some(q)),
            None => (path, None),
        };
        let params: Vec<(String, String)> = query
            .unwrap_or("")
            .split('&')
            .filter(|p| !p.is_empty())
            .map(|p| match p.split_once('=') {
                Some((k, v)) => (k.to_string(), v.to_string()),
                None => (p.to_string(), String::new()),
            })
            .collect();
        let segments: Vec<&str> = if path.is_empty() {
            Vec::new()
        } else {
            path.split('/').collect()
        };
        if segments.iter().any(|s| s.is_empty()) {
            return Err(format!("'{path}' has an empty path segment"));
        }
        let get = matches!(method.as_str(), "GET" | "HEAD");
        let op = |s: &str| s.strip_prefix('$').map(String::from);
        let typed = |t: &str| match resource_type(t) {
            Some(known) => Ok(Some(known)),
            None => Err(format!("'{t}' is not a FHIR R4 resource type")),
        };
        let (interaction, resource, operation) = match (method.as_str(), segments.as_slice()) {
            (_, []) if get => (Interaction::SearchSystem, None, None),
            ("POST", ["_search"]) => (Interaction::SearchSystem, None, None),
            (_, ["_history"]) if get => (Interaction::HistorySystem, None, None),
            (_, [o]) if o.starts_with('$') => (operation_kind(o), None, op(o)),
            ("POST", [t]) => (Interaction::Create, typed(t)?, None),
            ("PUT", [t]) => (Interaction::Update, typed(t)?, None),
            ("PATCH", [t]) => (Interaction::Patch, typed(t)?, None),
            ("DELETE", [t]) => (Interaction::Delete, typed(t)?, None),
            (_, [t]) if get => (Interaction::SearchType, typed(t)?, None),
            ("POST", [t, "_search"]) => (Interaction::SearchType, typed(t)?, None),
            (_, [t, "_history"]) if get => (Interaction::HistoryType, typed(t)?, None),
            (_, [t, o]) if o.starts_with('$') => (operation_kind(o), typed(t)?, op(o)),
            (_, [t, _id]) if get => (Interaction::Read, typed(t)?, None),
            ("PUT", [t, _id]) => (Interaction::Update, typed(t)?, None),
            ("PATCH", [t, _id]) => (Interaction::Patch, typed(t)?, None),
            ("DELETE", [t, _id]) => (Interaction::Delete, typed(t)?, None),
            (_, [t, _id, "_history"]) if get => (Interaction::HistoryInstance, typed(t)?, None),
            (_, [t, _id, "_history", _v]) if get => (Interaction::Vread, typed(t)?, None),
            (_, [t, _id, o]) if o.starts_with('$') => (operation_kind(o), typed(t)?, op(o)),
            _ => return Err(format!("'{method} {path}' is not a FHIR REST interaction")),
        };
        if interaction == Interaction::Export
            && !matches!(resource, None | Some("Patient" | "Group"))
        {
            return Err("$export is defined on the system, Patient and Group only".into());
        }
        let mut types = Vec::new();
        if let Some((_, list)) = params.iter().find(|(k, _)| k == "_type") {
            for t in list.split(',').map(str::trim).filter(|t| !t.is_empty()) {
                let known = resource_type(t)
                    .ok_or_else(|| format!("_type names '{t}', not a FHIR R4 resource type"))?;
                types.push(known);
            }
        }
        Ok(Request {
            method,
            interaction,
            resource,
            types,
            params,
            operation,
        })
    }

    /// The (resource, permission) pairs this request needs, in the order they are checked.
    pub fn needs(&self) -> Vec<(Resource, Perms)> {
        let listed_types = || -> Vec<Resource> {
            if self.types.is_empty() {
                vec![Resource::Any]
            } else {
                self.types.iter().map(|t| Resource::Type(t)).collect()
            }
        };
        match self.interaction {
            Interaction::SearchSystem | Interaction::HistorySystem => {
                listed_types().into_iter().map(|t| (t, Perms::S)).collect()
            }
            Interaction::Export => {
                let mut needs: Vec<(Resource, Perms)> = Vec::new();
                if self.resource == Some("Group") {
                    needs.push((Resource::Type("Group"), Perms::R));
                }
                for t in listed_types() {
                    needs.push((t.clone(), Perms::R));
                    needs.push((t, Perms::S));
                }
                needs
            }
            Interaction::Operation => Vec::new(),
            i => {
                let t = self.resource.map(Resource::Type).unwrap_or(Resource::Any);
                vec![(t, i.perm())]
            }
        }
    }
}

fn operation_kind(op: &str) -> Interaction {
    if op == "$export" {
        Interaction::Export
    } else {
        Interaction::Operation
    }
}

/// The answer to "may this set make this request?".
#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS)]
pub struct Decision {
    pub allowed: bool,
    /// The scope(s) that allowed it, space-separated.
    pub by: Option<String>,
    pub reason: String,
}

fn verb(p: Perms) -> &'static str {
    match p {
        Perms::C => "create",
        Perms::R => "read",
        Perms::U => "update",
        Perms::D => "delete",
        _ => "search",
    }
}

/// Whether a restricted scope's query is satisfied by a search's parameters.
fn query_satisfied(query: &Option<Query>, req: &Request) -> bool {
    match query {
        None => true,
        Some(q) => {
            matches!(req.interaction, Interaction::SearchType)
                && q.0
                    .iter()
                    .all(|(k, v)| req.params.iter().any(|(rk, rv)| rk == k && rv == v))
        }
    }
}

/// Decides a request against a scope set, in `context` (any context when `None`; bulk export
/// defaults to `system`).
pub fn allows(set: &ScopeSet, context: Option<Context>, req: &Request) -> Decision {
    let context = match (context, req.interaction) {
        (None, Interaction::Export) => Some(Context::System),
        (c, _) => c,
    };
    if req.interaction == Interaction::Operation {
        let op = req.operation.as_deref().unwrap_or("?");
        return Decision {
            allowed: false,
            by: None,
            reason: format!(
                "operation ${op} is not mapped to SMART scopes; it needs a server-specific policy"
            ),
        };
    }
    let in_context = |s: &ResourceScope| context.is_none_or(|c| s.context == c);
    let mut by: Vec<String> = Vec::new();
    for (resource, perm) in req.needs() {
        let found = set.resource_scopes().find(|s| {
            in_context(s)
                && s.resource.covers(&resource)
                && s.perms.contains(perm)
                && query_satisfied(&s.query, req)
        });
        match found {
            Some(s) => {
                let text = s.to_string();
                if !by.contains(&text) {
                    by.push(text);
                }
            }
            None => {
                let where_ = context.map_or("any".to_string(), |c| c.as_str().to_string());
                let target = match &resource {
                    Resource::Any => "every resource type (*)".to_string(),
                    Resource::Type(t) => t.to_string(),
                };
                let mut reason = format!(
                    "no granted scope allows {} on {target} in {where_} context",
                    verb(perm)
                );
                let restricted: Vec<String> = set
                    .resource_scopes()
                    .filter(|s| {
                        in_context(s)
                            && s.resource.covers(&resource)
                            && s.perms.contains(perm)
                            && s.query.is_some()
                    })
                    .map(|s| s.to_string())
                    .collect();
                if !restricted.is_empty() {
                    reason.push_str(&format!(
                        "; {} only allow searches that carry their query parameters",
                        restricted.join(", ")
                    ));
                } else if let Some(other) = set.resource_scopes().find(|s| {
                    !in_context(s) && s.resource.covers(&resource) && s.perms.contains(perm)
                }) {
                    reason.push_str(&format!(
                        "; {other} is in another context, and scopes never cross contexts"
                    ));
                }
                return Decision {
                    allowed: false,
                    by: None,
                    reason,
                };
            }
        }
    }
    let what = match &req.resource {
        Some(t) => format!("{} of {t}", req.interaction.describe()),
        None => req.interaction.describe().to_string(),
    };
    Decision {
        allowed: true,
        reason: format!("{what} allowed by {}", by.join(" ")),
        by: Some(by.join(" ")),
    }
}

/// The narrowest set of canonical v2 scopes that allows every observed request in its
/// context: exactly the permissions used, on exactly the types used, no wildcards beyond
/// what whole-system interactions themselves need.
pub fn minimal_cover<'a>(observed: impl IntoIterator<Item = (Context, &'a Request)>) -> ScopeSet {
    let mut set = ScopeSet::default();
    for (context, req) in observed {
        for (resource, perms) in req.needs() {
            set.insert(Scope::Resource(ResourceScope {
                context,
                resource,
                query: None,
                perms,
            }));
        }
    }
    set
}
