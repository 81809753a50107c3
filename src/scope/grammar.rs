//! SMART App Launch 2.2 scope grammar: parsing any v1 or v2 spelling into one canonical form.

use std::fmt;

use serde::{Deserialize, Serialize};
use ts_rs::TS;

use super::fhir::resource_type;

/// Whose data a resource scope reaches.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, TS)]
#[serde(rename_all = "snake_case")]
pub enum Context {
    /// The patient in context (`patient/`).
    Patient,
    /// Whatever the signed-in user may see (`user/`).
    User,
    /// Any data, for a backend client (`system/`).
    System,
}

impl Context {
    pub fn as_str(self) -> &'static str {
        match self {
            Context::Patient => "patient",
            Context::User => "user",
            Context::System => "system",
        }
    }
}

impl std::str::FromStr for Context {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "patient" => Ok(Context::Patient),
            "user" => Ok(Context::User),
            "system" => Ok(Context::System),
            other => Err(format!(
                "'{other}' is not a SMART context (patient, user, system)"
            )),
        }
    }
}

/// A set of SMART v2 permissions; printed in `cruds` order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Perms(u8);

impl Perms {
    pub const C: Perms = Perms(1);
    pub const R: Perms = Perms(2);
    pub const U: Perms = Perms(4);
    pub const D: Perms = Perms(8);
    pub const S: Perms = Perms(16);
    pub const NONE: Perms = Perms(0);
    pub const ALL: Perms = Perms(31);
    const LETTERS: [(char, Perms); 5] = [
        ('c', Perms::C),
        ('r', Perms::R),
        ('u', Perms::U),
        ('d', Perms::D),
        ('s', Perms::S),
    ];

    pub fn contains(self, other: Perms) -> bool {
        self.0 & other.0 == other.0
    }
    pub fn union(self, other: Perms) -> Perms {
        Perms(self.0 | other.0)
    }
    pub fn minus(self, other: Perms) -> Perms {
        Perms(self.0 & !other.0)
    }
    pub fn is_empty(self) -> bool {
        self.0 == 0
    }
    /// Each single permission in this set, in `cruds` order.
    pub fn bits(self) -> impl Iterator<Item = Perms> {
        Perms::LETTERS
            .into_iter()
            .map(|(_, p)| p)
            .filter(move |p| self.contains(*p))
    }

    /// Parses v2 letters (a non-empty subset of `cruds`, in that order) or a v1 word.
    fn parse(text: &str) -> Result<(Perms, bool), String> {
        match text {
            "read" => return Ok((Perms::R.union(Perms::S), true)),
            "write" => return Ok((Perms::C.union(Perms::U).union(Perms::D), true)),
            "*" => return Ok((Perms::ALL, true)),
            _ => {}
        }
        let bad = || {
            format!(
                "'{text}' is not a permission: use read, write or * (SMART v1), or a non-empty \
                 subset of c, r, u, d, s in that order (SMART v2)"
            )
        };
        let mut perms = Perms::NONE;
        let mut next = 0;
        for ch in text.chars() {
            let at = Perms::LETTERS[next..]
                .iter()
                .position(|(l, _)| *l == ch)
                .ok_or_else(bad)?;
            perms = perms.union(Perms::LETTERS[next + at].1);
            next += at + 1;
        }
        if perms.is_empty() {
            return Err(bad());
        }
        Ok((perms, false))
    }
}

impl fmt::Display for Perms {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (letter, p) in Perms::LETTERS {
            if self.contains(p) {
                write!(f, "{letter}")?;
            }
        }
        Ok(())
    }
}

/// A resource type or `*` (every type, now and future).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Resource {
    Any,
    /// Always one of [`super::fhir::R4_RESOURCE_TYPES`].
    Type(&'static str),
}

impl Resource {
    pub fn covers(&self, other: &Resource) -> bool {
        matches!(self, Resource::Any) || self == other
    }
}

impl fmt::Display for Resource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Resource::Any => f.write_str("*"),
            Resource::Type(t) => f.write_str(t),
        }
    }
}

/// The query restriction of a v2 scope, its parameters sorted so spellings compare equal.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Query(pub Vec<(String, String)>);

impl Query {
    fn parse(text: &str) -> Result<Query, String> {
        let mut params = Vec::new();
        for part in text.split('&') {
            match part.split_once('=') {
                Some((k, v)) if !k.is_empty() && !v.is_empty() => {
                    params.push((k.to_string(), v.to_string()))
                }
                _ => return Err(format!("'{part}' in the query is not name=value")),
            }
        }
        params.sort();
        params.dedup();
        Ok(Query(params))
    }
}

impl fmt::Display for Query {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, (k, v)) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("&")?;
            }
            write!(f, "{k}={v}")?;
        }
        Ok(())
    }
}

/// A resource scope in canonical SMART v2 form.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ResourceScope {
    pub context: Context,
    pub resource: Resource,
    pub query: Option<Query>,
    pub perms: Perms,
}

impl ResourceScope {
    /// True when every request this scope allows, `self` allows too.
    pub fn covers(&self, other: &ResourceScope) -> bool {
        self.context == other.context
            && self.resource.covers(&other.resource)
            && self.perms.contains(other.perms)
            && (self.query.is_none() || self.query == other.query)
    }
}

impl fmt::Display for ResourceScope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}/{}.{}",
            self.context.as_str(),
            self.resource,
            self.perms
        )?;
        if let Some(q) = &self.query {
            write!(f, "?{q}")?;
        }
        Ok(())
    }
}

/// Scopes that are not about resources.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Special {
    OpenId,
    FhirUser,
    Profile,
    Launch,
    LaunchPatient,
    LaunchEncounter,
    OfflineAccess,
    OnlineAccess,
}

impl Special {
    pub const ALL: [Special; 8] = [
        Special::OpenId,
        Special::FhirUser,
        Special::Profile,
        Special::Launch,
        Special::LaunchPatient,
        Special::LaunchEncounter,
        Special::OfflineAccess,
        Special::OnlineAccess,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Special::OpenId => "openid",
            Special::FhirUser => "fhirUser",
            Special::Profile => "profile",
            Special::Launch => "launch",
            Special::LaunchPatient => "launch/patient",
            Special::LaunchEncounter => "launch/encounter",
            Special::OfflineAccess => "offline_access",
            Special::OnlineAccess => "online_access",
        }
    }
}

/// One parsed SMART scope.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Scope {
    Resource(ResourceScope),
    Special(Special),
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Scope::Resource(r) => r.fmt(f),
            Scope::Special(s) => f.write_str(s.as_str()),
        }
    }
}

/// A scope string Steward does not accept, and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{scope}: {message}")]
pub struct ScopeError {
    pub scope: String,
    pub message: String,
}

/// Longest scope string accepted; anything longer is refused before it is looked at.
const MAX_LEN: usize = 2048;

impl Scope {
    /// Parses one scope, v1 or v2, into canonical form.
    pub fn parse(raw: &str) -> Result<Scope, ScopeError> {
        let fail = |message: String| ScopeError {
            scope: raw.to_string(),
            message,
        };
        if raw.len() > MAX_LEN {
            return Err(fail(format!("longer than {MAX_LEN} bytes")));
        }
        if raw.is_empty() || raw.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(fail("a scope is one non-empty token without spaces".into()));
        }
        if let Some(s) = Special::ALL.iter().find(|s| s.as_str() == raw) {
            return Ok(Scope::Special(*s));
        }
        let Some((context, rest)) = raw.split_once('/') else {
            return Err(fail("not a recognized SMART scope".into()));
        };
        if context == "launch" {
            return Err(fail(format!(
                "'launch/{rest}' is not a SMART launch scope (launch/patient, launch/encounter)"
            )));
        }
        let context = context
            .parse::<Context>()
            .map_err(|_| fail("not a recognized SMART scope".into()))?;
        let (body, query) = match rest.split_once('?') {
            Some((b, q)) => (b, Some(q)),
            None => (rest, None),
        };
        let (resource, perms) = body
            .rsplit_once('.')
            .ok_or_else(|| fail("expected Resource.permissions after the context".into()))?;
        let resource = match resource {
            "*" => Resource::Any,
            t => match resource_type(t) {
                Some(known) => Resource::Type(known),
                None => return Err(fail(format!("'{t}' is not a FHIR R4 resource type"))),
            },
        };
        let (perms, v1) = Perms::parse(perms).map_err(fail)?;
        let query = match query {
            None => None,
            Some(_) if v1 => {
                return Err(fail(
                    "a query restriction needs SMART v2 permissions (e.g. .rs)".into(),
                ))
            }
            Some(q) => Some(Query::parse(q).map_err(fail)?),
        };
        Ok(Scope::Resource(ResourceScope {
            context,
            resource,
            query,
            perms,
        }))
    }
}
