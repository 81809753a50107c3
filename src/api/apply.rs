//! Applying what a source says about an identity: create or update, owners, scopes and
//! credential fingerprints, and the audit draft that records exactly what changed.

use crate::store::Db;
use serde_json::{json, Map, Value};

use crate::audit::Draft;
use crate::inventory::fingerprint::FingerprintKey;
use crate::inventory::{CredentialKind, IdentityInput, ScopeSet, Status};
use crate::review;
use crate::store::identity::{self as db, IdentityRecord, NewCredential};
use crate::store::person;
use crate::time::{self, Timestamp};
use crate::{Error, Result};

/// What applying an input did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Created,
    Updated,
    Unchanged,
}

/// The result of [`apply`]: the identity, what happened, and the audit draft (none when
/// nothing changed); `reopened` records a re-authorization item opened by the change.
pub struct Applied {
    pub id: i64,
    pub outcome: Outcome,
    pub draft: Option<Draft>,
    pub reopened: Option<Draft>,
}

impl Applied {
    /// The audit drafts, in order.
    pub fn drafts(self) -> Vec<Draft> {
        self.draft.into_iter().chain(self.reopened).collect()
    }
}

/// Creates the identity keyed by (client_id, environment) or updates it with every field the
/// input sets. `update_action` names the audit action of an update (`identity.update`,
/// `identity.set_owner`, ...). Fails with [`Error::Invalid`] naming the field.
pub async fn apply(
    conn: &mut Db,
    now: Timestamp,
    key: &FingerprintKey,
    input: IdentityInput,
    update_action: &'static str,
) -> Result<Applied> {
    let client_id = input.client_id.trim().to_string();
    if client_id.is_empty() {
        return Err(Error::invalid("client_id", "must not be empty"));
    }
    let env = input
        .environment
        .ok_or_else(|| Error::invalid("environment", "is required"))?;
    if let Some(key) = input.use_case.as_deref() {
        if crate::store::policy::template(conn, key).await?.is_none() {
            let keys: Vec<String> = crate::store::policy::templates(conn)
                .await?
                .into_iter()
                .map(|t| t.key)
                .collect();
            return Err(Error::invalid(
                "use_case",
                format!("'{key}' is not a use-case template ({})", keys.join(", ")),
            ));
        }
    }
    let existing = db::by_client_id(conn, &client_id, Some(env))
        .await?
        .into_iter()
        .next();
    let stamp = time::format(now);

    let business_owner_id = match &input.business_owner {
        Some(p) => Some(person::ensure(conn, p).await?.id),
        None => existing.as_ref().and_then(|e| e.business_owner_id),
    };
    let technical_owner_id = match &input.technical_owner {
        Some(p) => Some(person::ensure(conn, p).await?.id),
        None => existing.as_ref().and_then(|e| e.technical_owner_id),
    };

    let mut rec = match &existing {
        Some(e) => e.clone(),
        None => IdentityRecord {
            id: 0,
            client_id: client_id.clone(),
            environment: env,
            name: input
                .name
                .clone()
                .ok_or_else(|| Error::invalid("name", "is required"))?,
            kind: input
                .kind
                .ok_or_else(|| Error::invalid("kind", "is required"))?,
            vendor: None,
            status: Status::Active,
            business_owner_id: None,
            technical_owner_id: None,
            purpose: None,
            use_case: None,
            auth_method: None,
            access_token_lifetime_s: None,
            refresh_token_lifetime_s: None,
            jwks_uri: None,
            revocation_endpoint: None,
            last_used_at: None,
            last_reviewed_at: None,
            next_review_due: None,
            created_at: stamp.clone(),
            updated_at: stamp.clone(),
            ai_agent: false,
            reauth_reason: None,
            reauth_since: None,
            version: 1,
            reviewed_elsewhere_at: None,
        },
    };
    set(&mut rec.name, input.name);
    set(&mut rec.kind, input.kind);
    set(&mut rec.status, input.status);
    set(&mut rec.ai_agent, input.ai_agent);
    set_opt(&mut rec.vendor, input.vendor);
    set_opt(&mut rec.purpose, input.purpose);
    set_opt(&mut rec.use_case, input.use_case);
    set_opt(&mut rec.auth_method, input.auth_method);
    set_opt(
        &mut rec.access_token_lifetime_s,
        input.access_token_lifetime_s,
    );
    set_opt(
        &mut rec.refresh_token_lifetime_s,
        input.refresh_token_lifetime_s,
    );
    set_opt(&mut rec.jwks_uri, input.jwks_uri);
    set_opt(&mut rec.revocation_endpoint, input.revocation_endpoint);
    set_opt(&mut rec.last_used_at, input.last_used_at.map(time::format));
    set_opt(
        &mut rec.last_reviewed_at,
        input.last_reviewed_at.map(time::format),
    );
    // A review date from a file is history ("reviewed elsewhere on DATE"), never a
    // certification: only a decision in Steward sets last_reviewed_at.
    set_opt(
        &mut rec.reviewed_elsewhere_at,
        input.reviewed_elsewhere_at.map(time::format),
    );
    rec.business_owner_id = business_owner_id;
    rec.technical_owner_id = technical_owner_id;
    for (field, value) in [("name", &rec.name), ("client_id", &rec.client_id)] {
        if value.trim().is_empty() {
            return Err(Error::invalid(field, "must not be empty"));
        }
    }
    for (field, value) in [
        ("access_token_lifetime_s", rec.access_token_lifetime_s),
        ("refresh_token_lifetime_s", rec.refresh_token_lifetime_s),
    ] {
        if value.is_some_and(|v| v < 0) {
            return Err(Error::invalid(field, "must not be negative"));
        }
    }
    let stored = match &existing {
        Some(e) => db::scopes(conn, e.id).await?,
        None => Vec::new(),
    };
    let stored_list = |set: ScopeSet| -> Vec<String> {
        stored
            .iter()
            .filter(|s| s.scope_set == set)
            .map(|s| s.scope.clone())
            .collect()
    };
    let (old_approved, old_granted) = (
        stored_list(ScopeSet::Approved),
        stored_list(ScopeSet::Granted),
    );
    let new_granted = input
        .granted_scopes
        .clone()
        .unwrap_or_else(|| old_granted.clone());

    // A decision clears a pending re-authorization (a file never does: its review date is
    // history); a change to a certified identity's purpose, use case or scopes (upwards)
    // needs one.
    let mut reopen: Option<String> = None;
    if input.last_reviewed_at.is_some() {
        rec.reauth_reason = None;
        rec.reauth_since = None;
    } else if let Some(old) = existing.as_ref().filter(|e| e.last_reviewed_at.is_some()) {
        let new_approved = input
            .approved_scopes
            .clone()
            .unwrap_or_else(|| old_approved.clone());
        reopen = review::reauth_reason(
            old.purpose != rec.purpose,
            old.use_case != rec.use_case,
            &old_granted,
            &new_granted,
            &old_approved,
            &new_approved,
        );
        if let Some(why) = &reopen {
            rec.reauth_reason = Some(match &old.reauth_reason {
                Some(before) => format!("{before}; {why}"),
                None => why.clone(),
            });
            rec.reauth_since.get_or_insert_with(|| stamp.clone());
        }
    }
    let created = time::parse(&rec.created_at).unwrap_or(now);
    let reviewed = rec
        .last_reviewed_at
        .as_deref()
        .and_then(|t| time::parse(t).ok());
    let intervals = crate::store::review::intervals(conn).await?;
    rec.next_review_due = Some(time::format(review::next_due(
        &intervals,
        review::tier(env, &crate::scope::ScopeSet::parse(&new_granted.join(" "))),
        reviewed,
        created,
        rec.reauth_since
            .as_deref()
            .and_then(|t| time::parse(t).ok()),
    )));

    let mut changes = diff(existing.as_ref(), &rec);
    let id = match &existing {
        Some(e)
            if changes.is_empty()
                && (&e.reauth_reason, &e.next_review_due)
                    == (&rec.reauth_reason, &rec.next_review_due) =>
        {
            e.id
        }
        Some(e) => {
            rec.updated_at = stamp.clone();
            db::update(conn, &rec).await?;
            e.id
        }
        None => db::insert(conn, std::slice::from_ref(&rec)).await?[0],
    };

    for (set, wanted) in [
        (ScopeSet::Approved, input.approved_scopes),
        (ScopeSet::Granted, input.granted_scopes),
    ] {
        let Some(wanted) = wanted else { continue };
        let have: Vec<&String> = stored
            .iter()
            .filter(|s| s.scope_set == set)
            .map(|s| &s.scope)
            .collect();
        let added: Vec<String> = wanted
            .iter()
            .filter(|s| !have.contains(s))
            .cloned()
            .collect();
        let removed: Vec<String> = have
            .iter()
            .filter(|s| !wanted.contains(s))
            .map(|s| (*s).clone())
            .collect();
        if added.is_empty() && removed.is_empty() {
            continue;
        }
        db::delete_scopes(conn, id, set, &removed).await?;
        let rows: Vec<_> = added.iter().map(|s| (id, set, s.clone(), None)).collect();
        db::insert_scopes(conn, &rows).await?;
        changes.insert(
            format!("{set}_scopes"),
            json!({ "added": added, "removed": removed }),
        );
    }

    let mut creds: Vec<NewCredential> = Vec::new();
    if let Some(secret) = input.client_secret.filter(|s| !s.is_empty()) {
        creds.push(NewCredential {
            identity_id: id,
            kind: CredentialKind::Secret,
            fingerprint: key.secret(&secret),
            issued_at: Some(stamp.clone()),
            expires_at: None,
        });
    }
    for fp in input.key_fingerprints {
        creds.push(NewCredential {
            identity_id: id,
            kind: CredentialKind::Key,
            fingerprint: fp,
            issued_at: Some(stamp.clone()),
            expires_at: None,
        });
    }
    if db::insert_credentials(conn, &creds).await? > 0 {
        // Only fingerprints reach the audit log.
        let fps: Vec<&str> = creds.iter().map(|c| c.fingerprint.as_str()).collect();
        changes.insert("credentials".into(), json!({ "fingerprints": fps }));
    }

    let outcome = match (&existing, changes.is_empty()) {
        (None, _) => Outcome::Created,
        (Some(_), true) => Outcome::Unchanged,
        (Some(_), false) => Outcome::Updated,
    };
    let draft = (outcome != Outcome::Unchanged).then(|| Draft {
        action: if outcome == Outcome::Created {
            "identity.create"
        } else {
            update_action
        },
        subject: format!("identity:{id}"),
        details: json!({
            "client_id": rec.client_id,
            "environment": rec.environment,
            "changes": Value::Object(changes),
        }),
    });
    let reopened = match reopen {
        Some(why) => Some(open_reauthorization(conn, now, &rec, id, &why).await?),
        None => None,
    };
    Ok(Applied {
        id,
        outcome,
        draft,
        reopened,
    })
}

/// Opens a re-authorization item for a certified identity that changed, unless one is open.
async fn open_reauthorization(
    conn: &mut Db,
    now: Timestamp,
    rec: &IdentityRecord,
    id: i64,
    why: &str,
) -> Result<Draft> {
    let (item, reviewer) = match crate::store::review::open_reauth_item(conn, id).await? {
        Some(item) => (item, None),
        None => {
            let policy = crate::store::review::policy(conn).await?;
            let reviewer = crate::store::review::assign_reviewer(
                conn,
                rec.business_owner_id,
                rec.technical_owner_id,
                &[policy.fallback_reviewer.as_ref().map(|p| p.id)],
            )
            .await?;
            let stamp = time::format(now);
            let due = time::format(now + chrono::Duration::days(policy.reauth_days));
            let snapshot = crate::store::review::snapshot(conn, id).await?;
            let ids = crate::store::review::insert_items(
                conn,
                &[crate::store::review::NewItem {
                    campaign_id: None,
                    identity_id: id,
                    reason: why,
                    snapshot,
                    reviewer_id: reviewer.as_ref().map(|r| r.id),
                    due: &due,
                    created_at: &stamp,
                }],
            )
            .await?;
            (ids[0], reviewer)
        }
    };
    Ok(Draft {
        action: "review.reopen",
        subject: format!("review_item:{item}"),
        details: json!({
            "identity_id": id,
            "client_id": rec.client_id,
            "environment": rec.environment,
            "reason": why,
            "reviewer": reviewer.map(|r| r.email),
        }),
    })
}

fn set<T>(slot: &mut T, value: Option<T>) {
    if let Some(v) = value {
        *slot = v;
    }
}

fn set_opt<T>(slot: &mut Option<T>, value: Option<T>) {
    if value.is_some() {
        *slot = value;
    }
}

/// Field-by-field changes as `{field: {from, to}}`; every field of a new identity.
fn diff(old: Option<&IdentityRecord>, new: &IdentityRecord) -> Map<String, Value> {
    const IGNORED: [&str; 7] = [
        "id",
        "version",
        "created_at",
        "updated_at",
        "next_review_due",
        "reauth_reason",
        "reauth_since",
    ];
    let to = serde_json::to_value(new).unwrap_or_default();
    let from = old.map(|o| serde_json::to_value(o).unwrap_or_default());
    let mut out = Map::new();
    if let Value::Object(fields) = to {
        for (k, v) in fields {
            if IGNORED.contains(&k.as_str()) {
                continue;
            }
            let before = from
                .as_ref()
                .and_then(|f| f.get(&k))
                .cloned()
                .unwrap_or(Value::Null);
            if before != v && !(old.is_none() && v.is_null()) {
                out.insert(k, json!({ "from": before, "to": v }));
            }
        }
    }
    out
}

/// Leaves the task that carries a decision cutting access to the authorization server
/// (`steward enforce`), and its audit draft.
pub(crate) async fn enforcement_task(
    tx: &mut Db,
    identity: i64,
    decision_id: impl Into<Option<i64>>,
    action: &str,
    keep: Option<&[String]>,
    stamp: &str,
) -> Result<Draft> {
    let scopes = keep.map(|k| k.join(" "));
    let decision_id = decision_id.into();
    let task = crate::store::connect::add_task(
        tx,
        identity,
        decision_id,
        action,
        scopes.as_deref(),
        stamp,
    )
    .await?;
    Ok(Draft {
        action: "enforcement.task",
        subject: format!("identity:{identity}"),
        details: json!({"task": task, "action": action, "scopes": scopes, "decision": decision_id}),
    })
}
