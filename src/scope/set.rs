//! Canonical scope sets: union semantics, coverage, difference and normalization.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use super::grammar::{Context, Perms, Query, Resource, ResourceScope, Scope, ScopeError, Special};

/// A set of scopes with union semantics: `Observation.r` + `Observation.s` is
/// `Observation.rs`. Strings that do not parse are kept, verbatim, in `invalid`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ScopeSet {
    resources: BTreeMap<(Context, Resource, Option<Query>), Perms>,
    special: BTreeSet<Special>,
    invalid: Vec<ScopeError>,
}

impl ScopeSet {
    /// Parses a space-separated scope string; bad scopes are kept in [`ScopeSet::invalid`].
    pub fn parse(raw: &str) -> ScopeSet {
        let mut set = ScopeSet::default();
        for token in raw.split_whitespace() {
            match Scope::parse(token) {
                Ok(s) => set.insert(s),
                Err(e) => {
                    if !set.invalid.iter().any(|i| i.scope == e.scope) {
                        set.invalid.push(e)
                    }
                }
            }
        }
        set
    }

    /// Adds a scope, merging permissions with a scope of the same context, type and query.
    pub fn insert(&mut self, scope: Scope) {
        match scope {
            Scope::Special(s) => {
                self.special.insert(s);
            }
            Scope::Resource(r) => {
                let slot = self
                    .resources
                    .entry((r.context, r.resource, r.query))
                    .or_default();
                *slot = slot.union(r.perms);
            }
        }
    }

    /// The valid scopes, canonical, in a stable order.
    pub fn scopes(&self) -> Vec<Scope> {
        let mut out: Vec<Scope> = self.special.iter().map(|s| Scope::Special(*s)).collect();
        out.extend(self.resource_scopes().map(Scope::Resource));
        out
    }

    /// The valid resource scopes, canonical.
    pub fn resource_scopes(&self) -> impl Iterator<Item = ResourceScope> + '_ {
        self.resources
            .iter()
            .map(|((context, resource, query), perms)| ResourceScope {
                context: *context,
                resource: resource.clone(),
                query: query.clone(),
                perms: *perms,
            })
    }

    /// Whether a non-resource scope is in the set.
    /// The one context the set's resource scopes grant, when they grant resources in exactly
    /// one context.
    pub fn only_context(&self) -> Option<Context> {
        let mut contexts = self.resources.keys().map(|(c, _, _)| *c);
        let first = contexts.next()?;
        contexts.all(|c| c == first).then_some(first)
    }

    pub fn has(&self, special: Special) -> bool {
        self.special.contains(&special)
    }

    /// Scope strings that did not parse, with why.
    pub fn invalid(&self) -> &[ScopeError] {
        &self.invalid
    }

    pub fn is_empty(&self) -> bool {
        self.resources.is_empty() && self.special.is_empty() && self.invalid.is_empty()
    }

    /// The permissions of `target` that no scope of this set grants.
    fn uncovered(&self, target: &ResourceScope, skip: Option<&ResourceScope>) -> Perms {
        let mut left = target.perms;
        for s in self.resource_scopes() {
            if Some(&s) == skip {
                continue;
            }
            if s.context == target.context
                && s.resource.covers(&target.resource)
                && (s.query.is_none() || s.query == target.query)
            {
                left = left.minus(s.perms);
            }
        }
        left
    }

    /// True when this set allows everything `scope` allows.
    pub fn covers_scope(&self, scope: &Scope) -> bool {
        match scope {
            Scope::Special(s) => self.special.contains(s),
            Scope::Resource(r) => self.uncovered(r, None).is_empty(),
        }
    }

    /// True when this set allows everything `other` allows (invalid scopes are ignored).
    pub fn covers(&self, other: &ScopeSet) -> bool {
        other.scopes().iter().all(|s| self.covers_scope(s))
    }

    /// Everything in either set.
    pub fn union(&self, other: &ScopeSet) -> ScopeSet {
        let mut out = self.clone();
        for s in other.scopes() {
            out.insert(s);
        }
        for e in &other.invalid {
            if !out.invalid.contains(e) {
                out.invalid.push(e.clone());
            }
        }
        out
    }

    /// What this set allows beyond `other`: each scope with the permissions `other` does not
    /// grant (a wildcard is beyond any set of named types). Used for granted minus approved.
    pub fn difference(&self, other: &ScopeSet) -> ScopeSet {
        let mut out = ScopeSet::default();
        for s in &self.special {
            if !other.special.contains(s) {
                out.special.insert(*s);
            }
        }
        for mut r in self.resource_scopes() {
            r.perms = other.uncovered(&r, None);
            if !r.perms.is_empty() {
                out.insert(Scope::Resource(r));
            }
        }
        out
    }

    /// The same access with no redundancy: permissions that other scopes of the set already
    /// grant are removed, and scopes left with none are dropped.
    pub fn normalized(&self) -> ScopeSet {
        let mut out = ScopeSet {
            special: self.special.clone(),
            ..ScopeSet::default()
        };
        let mut kept: Vec<ResourceScope> = Vec::new();
        // Broadest first, so a wildcard absorbs the named types and not the other way round.
        let mut all: Vec<ResourceScope> = self.resource_scopes().collect();
        all.sort_by_key(|r| (!matches!(r.resource, Resource::Any), r.query.is_some()));
        for r in all {
            let mut left = r.perms;
            for k in &kept {
                if k.context == r.context
                    && k.resource.covers(&r.resource)
                    && (k.query.is_none() || k.query == r.query)
                {
                    left = left.minus(k.perms);
                }
            }
            if !left.is_empty() {
                kept.push(ResourceScope { perms: left, ..r });
            }
        }
        for k in kept {
            out.insert(Scope::Resource(k));
        }
        out
    }
}

impl fmt::Display for ScopeSet {
    /// Canonical scopes, space-separated, then invalid ones verbatim.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut first = true;
        let scopes = self.scopes();
        let words = scopes
            .iter()
            .map(|s| s.to_string())
            .chain(self.invalid.iter().map(|e| e.scope.clone()));
        for w in words {
            if !first {
                f.write_str(" ")?;
            }
            first = false;
            f.write_str(&w)?;
        }
        Ok(())
    }
}
