use crate::store::Db;
use serde::Deserialize;
use serde_json::json;
use ts_rs::TS;

use super::apply::{apply, Outcome};
use crate::audit::{self, Actor};
use crate::inventory::{
    Approval, Environment, Grant, IdentityDetail, IdentityFilter, IdentityInput, IdentityPage,
    Kind, OwnerRole, Person, PersonInput, ScopeSet, Status,
};
use crate::scope;
use crate::scope::report::{scope_diff, scope_info};
use crate::store::identity::{self as db, IdentityRecord};
use crate::store::person;
use crate::time::Timestamp;
use crate::{Error, Result, Store};

/// Names one identity: its numeric id, or its client_id (with the environment when the
/// client_id exists in more than one).
#[derive(Debug, Clone, Deserialize, TS)]
pub struct IdentityRef {
    pub key: String,
    pub environment: Option<Environment>,
}

impl IdentityRef {
    pub fn id(id: i64) -> IdentityRef {
        IdentityRef {
            key: id.to_string(),
            environment: None,
        }
    }
}

/// A new identity from the CLI or a form: the client_id and environment that name it, and
/// its fields (a name and a kind are required). Owners are `Name <email>` or an email.
#[derive(Debug, Clone, Default, Deserialize, TS)]
#[serde(default)]
pub struct NewIdentity {
    pub client_id: String,
    pub environment: Option<Environment>,
    #[serde(flatten)]
    #[ts(flatten)]
    pub fields: IdentityEdit,
}

pub(crate) async fn resolve(conn: &mut Db, r: &IdentityRef) -> Result<IdentityRecord> {
    let key = r.key.trim();
    if r.environment.is_none() {
        if let Ok(id) = key.parse::<i64>() {
            if let Some(rec) = db::get(conn, id).await? {
                return Ok(rec);
            }
        }
    }
    let mut found = db::by_client_id(conn, key, r.environment).await?;
    match found.len() {
        0 => Err(Error::NotFound(match r.environment {
            Some(env) => format!("identity '{key}' in {env}"),
            None => format!("identity '{key}'"),
        })),
        1 => Ok(found.remove(0)),
        _ => {
            let envs: Vec<&str> = found.iter().map(|f| f.environment.as_str()).collect();
            Err(Error::Ambiguous(format!(
                "client_id '{key}' exists in {}; pass --environment to choose",
                envs.join(", ")
            )))
        }
    }
}

/// One page of the inventory.
pub async fn identity_list(store: &Store, filter: &IdentityFilter) -> Result<IdentityPage> {
    db::list(&mut store.read().await?, filter).await
}

/// Everything about one identity: owners, scopes with justifications, credentials, history.
pub async fn identity_show(store: &Store, r: &IdentityRef) -> Result<IdentityDetail> {
    let mut conn = store.read().await?;
    let rec = resolve(&mut conn, r).await?;
    let identity = db::view(&mut conn, rec.id)
        .await?
        .ok_or_else(|| Error::NotFound(format!("identity {}", rec.id)))?;
    let approved_set = scope::ScopeSet::parse(&identity.approved_scopes.join(" "));
    let granted_set = scope::ScopeSet::parse(&identity.granted_scopes.join(" "));
    let covered_by = |set: &scope::ScopeSet, raw: &str| {
        scope::Scope::parse(raw).is_ok_and(|s| set.covers_scope(&s))
    };
    let mut approvals = Vec::new();
    for s in db::scopes(&mut conn, rec.id).await? {
        if s.scope_set != ScopeSet::Approved {
            continue;
        }
        let approved_by = match s.approved_by {
            Some(id) => person::get(&mut conn, id).await?,
            None => None,
        };
        approvals.push(Approval {
            granted: covered_by(&granted_set, &s.scope),
            info: scope_info(&s.scope),
            scope: s.scope,
            justification: s.justification,
            approved_by,
        });
    }
    let grants = identity
        .granted_scopes
        .iter()
        .map(|g| Grant {
            scope: g.clone(),
            approved: covered_by(&approved_set, g),
            info: scope_info(g),
        })
        .collect();
    let scope_diff = scope_diff(
        &identity.approved_scopes.join(" "),
        &identity.granted_scopes.join(" "),
    );
    let credentials = db::credentials(&mut conn, rec.id).await?;
    drop(conn);
    let subject = format!("identity:{}", rec.id);
    let history = crate::store::audit::list(
        &mut store.read().await?,
        &crate::store::audit::Filter {
            subject: Some(&subject),
            limit: Some(200),
            ..Default::default()
        },
    )
    .await?;
    Ok(IdentityDetail {
        identity,
        approvals,
        grants,
        scope_diff,
        credentials,
        history,
    })
}

/// Applies one input in its own transaction with its audit entry.
async fn write_one(
    store: &Store,
    now: Timestamp,
    actor: &Actor,
    input: IdentityInput,
    action: &'static str,
    expect_new: bool,
) -> Result<IdentityDetail> {
    let mut tx = store.begin_write().await?;
    if expect_new {
        let env = input
            .environment
            .ok_or_else(|| Error::invalid("environment", "is required"))?;
        if !db::by_client_id(&mut tx, &input.client_id, Some(env))
            .await?
            .is_empty()
        {
            return Err(Error::Conflict(format!(
                "identity '{}' already exists in {env}",
                input.client_id
            )));
        }
    }
    let applied = apply(&mut tx, now, store.fingerprint_key(), input, action).await?;
    let id = applied.id;
    let drafts = applied.drafts();
    if !drafts.is_empty() {
        crate::store::audit::append(&mut tx, now, actor, drafts).await?;
    }
    tx.commit().await?;
    identity_show(store, &IdentityRef::id(id)).await
}

fn person_spec(field: &str, spec: Option<&str>) -> Result<Option<PersonInput>> {
    spec.filter(|s| !s.trim().is_empty())
        .map(|s| PersonInput::parse(s).map_err(|m| Error::invalid(field, m)))
        .transpose()
}

fn nonempty(s: Option<String>) -> Option<String> {
    s.map(|s| s.trim().to_string()).filter(|s| !s.is_empty())
}

/// Changes to an identity's fields from the CLI or a form: a field left out (or blank) keeps
/// its value. The client_id and environment name the identity and do not change.
#[derive(Debug, Clone, Default, Deserialize, TS)]
#[serde(default)]
pub struct IdentityEdit {
    pub name: Option<String>,
    pub kind: Option<Kind>,
    pub vendor: Option<String>,
    pub business_owner: Option<String>,
    pub technical_owner: Option<String>,
    pub purpose: Option<String>,
    pub use_case: Option<String>,
    /// Space-separated.
    pub approved_scopes: Option<String>,
    /// Space-separated.
    pub granted_scopes: Option<String>,
    pub auth_method: Option<String>,
    #[ts(type = "number | null")]
    pub access_token_lifetime_s: Option<i64>,
    #[ts(type = "number | null")]
    pub refresh_token_lifetime_s: Option<i64>,
    pub jwks_uri: Option<String>,
    pub revocation_endpoint: Option<String>,
    pub ai_agent: Option<bool>,
}

impl IdentityEdit {
    /// The input that applies these changes to the identity `key` names; an owner is
    /// validated as `set-owner` validates it.
    async fn input(self, conn: &mut Db, key: IdentityInput) -> Result<IdentityInput> {
        let business = person_spec("business_owner", self.business_owner.as_deref())?;
        let technical = person_spec("technical_owner", self.technical_owner.as_deref())?;
        for (field, owner) in [
            ("business_owner", &business),
            ("technical_owner", &technical),
        ] {
            if let Some(owner) = owner {
                if let Some(p) = person::by_email(conn, &owner.email).await? {
                    if !p.active {
                        return Err(Error::invalid(
                            field,
                            format!("{} has left the organization", p.email),
                        ));
                    }
                }
            }
        }
        Ok(IdentityInput {
            name: nonempty(self.name),
            kind: self.kind,
            vendor: nonempty(self.vendor),
            business_owner: business,
            technical_owner: technical,
            purpose: nonempty(self.purpose),
            use_case: nonempty(self.use_case),
            approved_scopes: self.approved_scopes.as_deref().map(scope::stored_set),
            granted_scopes: self.granted_scopes.as_deref().map(scope::stored_set),
            auth_method: nonempty(self.auth_method),
            access_token_lifetime_s: self.access_token_lifetime_s,
            refresh_token_lifetime_s: self.refresh_token_lifetime_s,
            jwks_uri: nonempty(self.jwks_uri),
            revocation_endpoint: nonempty(self.revocation_endpoint),
            ai_agent: self.ai_agent,
            ..key
        })
    }
}

/// Registers a new identity; fails if (client_id, environment) exists.
pub async fn identity_add(
    store: &Store,
    now: Timestamp,
    actor: &Actor,
    n: NewIdentity,
) -> Result<IdentityDetail> {
    if n.fields.name.as_deref().is_none_or(|n| n.trim().is_empty()) {
        return Err(Error::invalid("name", "must not be empty"));
    }
    if n.fields.kind.is_none() {
        return Err(Error::invalid("kind", "is required"));
    }
    let key = IdentityInput {
        client_id: n.client_id.trim().to_string(),
        environment: Some(
            n.environment
                .ok_or_else(|| Error::invalid("environment", "is required"))?,
        ),
        ..IdentityInput::default()
    };
    let input = n.fields.input(&mut store.read().await?, key).await?;
    write_one(store, now, actor, input, "identity.create", true).await
}

/// Changes an identity's fields, validated as `add` validates them, in one audited
/// transaction; a change that widens a certified identity's access opens re-authorization.
pub async fn identity_edit(
    store: &Store,
    now: Timestamp,
    actor: &Actor,
    r: &IdentityRef,
    edit: IdentityEdit,
) -> Result<IdentityDetail> {
    if edit.name.as_deref().is_some_and(|n| n.trim().is_empty()) {
        return Err(Error::invalid("name", "must not be empty"));
    }
    let mut conn = store.read().await?;
    let rec = resolve(&mut conn, r).await?;
    if rec.status == Status::Retired {
        return Err(Error::Conflict(format!("identity {} is retired", rec.id)));
    }
    let input = edit.input(&mut conn, keyed(&rec)).await?;
    drop(conn);
    write_one(store, now, actor, input, "identity.update", false).await
}

fn keyed(rec: &IdentityRecord) -> IdentityInput {
    IdentityInput {
        client_id: rec.client_id.clone(),
        environment: Some(rec.environment),
        ..IdentityInput::default()
    }
}

/// Sets the business or technical owner. `person` is an email, `Name <email>`, or the id of
/// a known person.
pub async fn identity_set_owner(
    store: &Store,
    now: Timestamp,
    actor: &Actor,
    r: &IdentityRef,
    role: OwnerRole,
    person_ref: &str,
) -> Result<IdentityDetail> {
    let mut conn = store.read().await?;
    let rec = resolve(&mut conn, r).await?;
    let owner = match person_ref.trim().parse::<i64>() {
        Ok(id) => {
            let p = person::get(&mut conn, id)
                .await?
                .ok_or_else(|| Error::NotFound(format!("person {id}")))?;
            PersonInput {
                name: p.name,
                email: p.email,
            }
        }
        Err(_) => PersonInput::parse(person_ref).map_err(|m| Error::invalid("owner", m))?,
    };
    if let Some(existing) = person::by_email(&mut conn, &owner.email).await? {
        if !existing.active {
            return Err(Error::invalid(
                "owner",
                format!("{} has left the organization", existing.email),
            ));
        }
    }
    drop(conn);
    let mut input = keyed(&rec);
    match role {
        OwnerRole::Business => input.business_owner = Some(owner),
        OwnerRole::Technical => input.technical_owner = Some(owner),
    }
    write_one(store, now, actor, input, "identity.set_owner", false).await
}

/// Sets the purpose statement (and optionally the use case).
pub async fn identity_set_purpose(
    store: &Store,
    now: Timestamp,
    actor: &Actor,
    r: &IdentityRef,
    purpose: &str,
    use_case: Option<String>,
) -> Result<IdentityDetail> {
    let purpose = purpose.trim();
    if purpose.is_empty() {
        return Err(Error::invalid("purpose", "must not be empty"));
    }
    let mut conn = store.read().await?;
    let rec = resolve(&mut conn, r).await?;
    drop(conn);
    let input = IdentityInput {
        purpose: Some(purpose.to_string()),
        use_case: nonempty(use_case),
        ..keyed(&rec)
    };
    write_one(store, now, actor, input, "identity.set_purpose", false).await
}

/// Retires an identity: it stays in the inventory and its history, with status `retired`.
pub async fn identity_retire(
    store: &Store,
    now: Timestamp,
    actor: &Actor,
    r: &IdentityRef,
    reason: Option<String>,
) -> Result<IdentityDetail> {
    let mut tx = store.begin_write().await?;
    let rec = resolve(&mut tx, r).await?;
    if rec.status == Status::Retired {
        return Err(Error::Conflict(format!(
            "identity {} is already retired",
            rec.id
        )));
    }
    let input = IdentityInput {
        status: Some(Status::Retired),
        ..keyed(&rec)
    };
    let applied = apply(
        &mut tx,
        now,
        store.fingerprint_key(),
        input,
        "identity.retire",
    )
    .await?;
    debug_assert_eq!(applied.outcome, Outcome::Updated);
    let task = super::apply::enforcement_task(
        &mut tx,
        rec.id,
        None,
        "retire",
        None,
        &crate::time::format(now),
    )
    .await?;
    let mut drafts = vec![task];
    if let Some(mut draft) = applied.draft {
        draft.details["reason"] = json!(nonempty(reason));
        drafts.push(draft);
    }
    crate::store::audit::append(&mut tx, now, actor, drafts).await?;
    tx.commit().await?;
    identity_show(store, &IdentityRef::id(rec.id)).await
}

/// A known person named by id or email (or `Name <email>`); `field` names the input in errors.
/// Someone who has left the organization is refused.
pub(crate) async fn active_person(conn: &mut Db, field: &str, spec: &str) -> Result<Person> {
    let found = match spec.trim().parse::<i64>() {
        Ok(id) => person::get(conn, id).await?,
        Err(_) => {
            let p = PersonInput::parse(spec).map_err(|m| Error::invalid(field, m))?;
            person::by_email(conn, &p.email).await?
        }
    }
    .ok_or_else(|| Error::NotFound(format!("person '{}'", spec.trim())))?;
    if !found.active {
        return Err(Error::invalid(
            field,
            format!("{} has left the organization", found.email),
        ));
    }
    Ok(found)
}

/// Adds a person (a reviewer who owns nothing yet, say); an existing email is an error.
pub async fn person_add(
    store: &Store,
    now: Timestamp,
    actor: &Actor,
    spec: &str,
) -> Result<Person> {
    let input = PersonInput::parse(spec).map_err(|m| Error::invalid("person", m))?;
    let mut tx = store.begin_write().await?;
    if let Some(p) = person::by_email(&mut tx, &input.email).await? {
        return Err(Error::Conflict(format!(
            "{} already exists (id {})",
            p.email, p.id
        )));
    }
    let p = person::ensure(&mut tx, &input).await?;
    crate::store::audit::record(
        &mut tx,
        now,
        actor,
        "person.create",
        format!("person:{}", p.id),
        json!({ "name": p.name, "email": p.email }),
    )
    .await?;
    tx.commit().await?;
    Ok(p)
}

/// Everyone who owns or reviews something.
/// Marks a person as having left the organization (or as back): the identities they own get
/// an owner-departed finding, and they can no longer be chosen as an owner or reviewer.
pub async fn person_set_active(
    store: &Store,
    now: Timestamp,
    actor: &Actor,
    spec: &str,
    active: bool,
) -> Result<Person> {
    let mut tx = store.begin_write().await?;
    let found = match spec.trim().parse::<i64>() {
        Ok(id) => person::get(&mut tx, id).await?,
        Err(_) => {
            let p = PersonInput::parse(spec).map_err(|m| Error::invalid("person", m))?;
            person::by_email(&mut tx, &p.email).await?
        }
    }
    .ok_or_else(|| Error::NotFound(format!("person '{}'", spec.trim())))?;
    if found.active == active {
        return Ok(found);
    }
    let stamp = crate::time::format(now);
    person::set_active(
        &mut tx,
        found.id,
        active,
        (!active).then_some(stamp.as_str()),
    )
    .await?;
    crate::store::audit::record(
        &mut tx,
        now,
        actor,
        if active {
            "person.return"
        } else {
            "person.depart"
        },
        format!("person:{}", found.id),
        json!({ "email": found.email }),
    )
    .await?;
    tx.commit().await?;
    Ok(Person { active, ..found })
}

/// What a roster import does (or, in a preview, would do).
#[derive(Debug, Clone, Default, serde::Serialize, TS)]
pub struct RosterSummary {
    /// People added.
    pub added: Vec<String>,
    /// People the roster marks as gone (they have left the organization).
    pub departed: Vec<String>,
    /// People the roster marks as back.
    pub returned: Vec<String>,
    #[ts(type = "number")]
    pub unchanged: usize,
    pub dry_run: bool,
}

/// Imports a roster CSV (`name,email,active`, a header line first): adds who is new, and marks
/// who has left (`active` false) and who is back, in one audited transaction. Errors name the
/// file, the line and the field; a preview (`dry_run`) writes nothing.
pub async fn people_import_roster(
    store: &Store,
    now: Timestamp,
    actor: &Actor,
    path: &std::path::Path,
    dry_run: bool,
) -> Result<RosterSummary> {
    let file = path.display().to_string();
    let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    let bad = |line: usize, field: &str, message: String| Error::Import {
        file: file.clone(),
        location: format!("line {line}"),
        field: field.into(),
        message,
    };
    let mut reader = csv::ReaderBuilder::new()
        .trim(csv::Trim::All)
        .from_reader(&bytes[..]);
    let headers = reader
        .headers()
        .map_err(|e| bad(1, "header", e.to_string()))?
        .clone();
    let col = |name: &str| {
        headers
            .iter()
            .position(|h| h.eq_ignore_ascii_case(name))
            .ok_or_else(|| {
                bad(
                    1,
                    name,
                    "missing column (expected name,email,active)".into(),
                )
            })
    };
    let (name_at, email_at, active_at) = (col("name")?, col("email")?, col("active")?);
    let mut rows = Vec::new();
    for (i, record) in reader.records().enumerate() {
        let line = i + 2;
        let r = record.map_err(|e| bad(line, "record", e.to_string()))?;
        let get = |at: usize| r.get(at).unwrap_or("").to_string();
        let active = match get(active_at).to_ascii_lowercase().as_str() {
            "true" | "yes" | "1" | "active" => true,
            "false" | "no" | "0" | "inactive" | "departed" | "left" => false,
            other => {
                return Err(bad(
                    line,
                    "active",
                    format!("'{other}' is not true or false"),
                ))
            }
        };
        let spec = format!("{} <{}>", get(name_at), get(email_at));
        let input = PersonInput::parse(&spec).map_err(|m| bad(line, "email", m))?;
        rows.push((input, active));
    }
    let mut summary = RosterSummary {
        dry_run,
        ..RosterSummary::default()
    };
    let mut tx = store.begin_write().await?;
    let stamp = crate::time::format(now);
    let mut drafts = Vec::new();
    for (input, active) in rows {
        let existing = person::by_email(&mut tx, &input.email).await?;
        let p = match existing {
            Some(p) => p,
            None => {
                let p = person::ensure(&mut tx, &input).await?;
                summary.added.push(p.email.clone());
                drafts.push(audit::Draft {
                    action: "person.create",
                    subject: format!("person:{}", p.id),
                    details: json!({ "name": p.name, "email": p.email, "source": file }),
                });
                p
            }
        };
        if p.active == active {
            if !summary.added.contains(&p.email) {
                summary.unchanged += 1;
            }
            continue;
        }
        person::set_active(&mut tx, p.id, active, (!active).then_some(stamp.as_str())).await?;
        if active {
            summary.returned.push(p.email.clone());
        } else {
            summary.departed.push(p.email.clone());
        }
        drafts.push(audit::Draft {
            action: if active {
                "person.return"
            } else {
                "person.depart"
            },
            subject: format!("person:{}", p.id),
            details: json!({ "email": p.email, "source": file }),
        });
    }
    if dry_run {
        return Ok(summary);
    }
    crate::store::audit::append(&mut tx, now, actor, drafts).await?;
    tx.commit().await?;
    Ok(summary)
}

pub async fn person_list(store: &Store) -> Result<Vec<Person>> {
    let mut conn = store.read().await?;
    person::list(&mut conn).await
}
