//! `steward identity`: list, show and change identities.

use clap::{Args, Subcommand};

use steward::api::{self, IdentityEdit, IdentityRef, NewIdentity};
use steward::audit::Actor;
use steward::inventory::{
    Environment, Identity, IdentityFilter, IdentitySort, Kind, OwnerRole, Status,
};
use steward::{time, Error, Store};

use super::{dash, Output};

#[derive(Args)]
pub(super) struct Target {
    /// The identity's id, or its client_id.
    id: String,
    /// The environment, when the client_id exists in more than one.
    #[arg(long)]
    environment: Option<Environment>,
}

impl Target {
    pub(super) fn reference(&self) -> IdentityRef {
        IdentityRef {
            key: self.id.clone(),
            environment: self.environment,
        }
    }
}

#[derive(Subcommand)]
pub(super) enum IdentityCommand {
    /// List identities, with search, filters and sort.
    List {
        #[arg(long)]
        environment: Option<Environment>,
        #[arg(long)]
        kind: Option<Kind>,
        #[arg(long)]
        status: Option<Status>,
        /// Text in the name, client_id, vendor, purpose or an owner's name.
        #[arg(long)]
        search: Option<String>,
        /// Only what this person owns (email or id), as business or technical owner.
        #[arg(long)]
        owner: Option<String>,
        /// name, kind, environment, business_owner, technical_owner, purpose,
        /// granted_scopes, next_review_due or status.
        #[arg(long, default_value = "name", value_parser = parse_sort)]
        sort: IdentitySort,
        #[arg(long)]
        desc: bool,
        #[arg(long)]
        limit: Option<i64>,
    },
    /// Show one identity: owners, purpose, scopes, credentials and history.
    Show(Target),
    /// Register an identity.
    Add(Box<AddArgs>),
    /// Change an identity's fields; what is not given keeps its value.
    Edit(Box<EditArgs>),
    /// Set the business or technical owner ("Name <email>", an email, or a person id).
    SetOwner {
        #[command(flatten)]
        target: Target,
        /// business or technical
        #[arg(long, default_value = "business")]
        role: OwnerRole,
        #[arg(long)]
        person: String,
    },
    /// Set the purpose statement.
    SetPurpose {
        #[command(flatten)]
        target: Target,
        #[arg(long)]
        purpose: String,
        #[arg(long)]
        use_case: Option<String>,
    },
    /// Retire an identity (it stays in the inventory and its history).
    Retire {
        #[command(flatten)]
        target: Target,
        #[arg(long)]
        reason: Option<String>,
    },
    /// Whether a revocation drill may use this production client (on or off; audited).
    Drillable {
        #[command(flatten)]
        target: Target,
        #[arg(value_parser = ["on", "off"])]
        state: String,
    },
}

#[derive(Args)]
pub(super) struct AddArgs {
    #[arg(long)]
    client_id: String,
    #[arg(long)]
    name: String,
    #[arg(long)]
    kind: Kind,
    #[arg(long)]
    environment: Environment,
    #[command(flatten)]
    fields: FieldArgs,
    /// The identity is an AI or autonomous agent (NIST AI RMF applies).
    #[arg(long)]
    ai_agent: bool,
}

#[derive(Args)]
pub(super) struct EditArgs {
    #[command(flatten)]
    target: Target,
    #[arg(long)]
    name: Option<String>,
    #[arg(long)]
    kind: Option<Kind>,
    #[command(flatten)]
    fields: FieldArgs,
    /// Whether the identity is an AI or autonomous agent.
    #[arg(long)]
    ai_agent: Option<bool>,
}

/// The fields `identity add` and `identity edit` share.
#[derive(Args)]
struct FieldArgs {
    #[arg(long)]
    vendor: Option<String>,
    /// "Name <email>" or an email.
    #[arg(long)]
    business_owner: Option<String>,
    /// "Name <email>" or an email.
    #[arg(long)]
    technical_owner: Option<String>,
    #[arg(long)]
    purpose: Option<String>,
    #[arg(long)]
    use_case: Option<String>,
    /// Space-separated scopes.
    #[arg(long)]
    approved_scopes: Option<String>,
    /// Space-separated scopes.
    #[arg(long)]
    granted_scopes: Option<String>,
    #[arg(long)]
    auth_method: Option<String>,
    #[arg(long)]
    access_token_lifetime_s: Option<i64>,
    #[arg(long)]
    refresh_token_lifetime_s: Option<i64>,
    #[arg(long)]
    jwks_uri: Option<String>,
    #[arg(long)]
    revocation_endpoint: Option<String>,
}

impl FieldArgs {
    fn edit(
        self,
        name: Option<String>,
        kind: Option<Kind>,
        ai_agent: Option<bool>,
    ) -> IdentityEdit {
        IdentityEdit {
            name,
            kind,
            vendor: self.vendor,
            business_owner: self.business_owner,
            technical_owner: self.technical_owner,
            purpose: self.purpose,
            use_case: self.use_case,
            approved_scopes: self.approved_scopes,
            granted_scopes: self.granted_scopes,
            auth_method: self.auth_method,
            access_token_lifetime_s: self.access_token_lifetime_s,
            refresh_token_lifetime_s: self.refresh_token_lifetime_s,
            jwks_uri: self.jwks_uri,
            revocation_endpoint: self.revocation_endpoint,
            ai_agent,
        }
    }
}

fn parse_sort(s: &str) -> Result<IdentitySort, String> {
    serde_json::from_value(serde_json::Value::String(s.to_string())).map_err(|_| {
        format!("'{s}' is not a sort column (name, kind, environment, business_owner, technical_owner, purpose, granted_scopes, next_review_due, status)")
    })
}

pub(super) async fn identity(
    c: IdentityCommand,
    store: &Store,
    now: time::Timestamp,
    actor: &Actor,
    out: &Output,
) -> Result<(), Error> {
    let detail = match c {
        IdentityCommand::List {
            environment,
            kind,
            status,
            search,
            owner,
            sort,
            desc,
            limit,
        } => {
            let owner = match owner {
                Some(spec) => Some(api::person_id(store, &spec).await?),
                None => None,
            };
            let filter = IdentityFilter {
                environment,
                kind,
                status,
                search,
                owner,
                sort,
                descending: desc,
                limit,
                offset: None,
            };
            let page = api::identity_list(store, &filter).await?;
            return out.table(&page.rows, LIST_HEADER, page.rows.iter().map(list_row));
        }
        IdentityCommand::Show(t) => api::identity_show(store, &t.reference()).await?,
        IdentityCommand::Add(a) => {
            let a = *a;
            let n = NewIdentity {
                client_id: a.client_id,
                environment: Some(a.environment),
                fields: a.fields.edit(Some(a.name), Some(a.kind), Some(a.ai_agent)),
            };
            api::identity_add(store, now, actor, n).await?
        }
        IdentityCommand::Edit(e) => {
            let e = *e;
            let edit = e.fields.edit(e.name, e.kind, e.ai_agent);
            api::identity_edit(store, now, actor, &e.target.reference(), edit).await?
        }
        IdentityCommand::SetOwner {
            target,
            role,
            person,
        } => api::identity_set_owner(store, now, actor, &target.reference(), role, &person).await?,
        IdentityCommand::SetPurpose {
            target,
            purpose,
            use_case,
        } => {
            api::identity_set_purpose(store, now, actor, &target.reference(), &purpose, use_case)
                .await?
        }
        IdentityCommand::Retire { target, reason } => {
            api::identity_retire(store, now, actor, &target.reference(), reason).await?
        }
        IdentityCommand::Drillable { target, state } => {
            let on = state == "on";
            api::identity_set_drillable(store, now, actor, &target.reference(), on).await?;
            return out.one(&serde_json::json!({ "drillable": on }), || {
                format!(
                    "identity {}: drills {}",
                    target.id,
                    if on { "allowed" } else { "not allowed" }
                )
            });
        }
    };
    out.one(&detail, || {
        let i = &detail.identity;
        let person = |p: &Option<steward::inventory::Person>| match p {
            Some(p) if p.active => format!("{} <{}>", p.name, p.email),
            Some(p) => format!("{} <{}> (departed)", p.name, p.email),
            None => "-".to_string(),
        };
        let mut s = format!(
            "{} [{}] {} / {} / {}\n  client_id:        {}\n  vendor:           {}\n  business owner:   {}\n  technical owner:  {}\n  purpose:          {}\n  use case:         {}\n  auth method:      {}\n  token lifetimes:  access {} s, refresh {}\n  next review due:  {} ({} review tier)\n",
            i.name,
            i.id,
            i.kind,
            i.environment,
            i.status,
            i.client_id,
            dash(&i.vendor),
            person(&i.business_owner),
            person(&i.technical_owner),
            dash(&i.purpose),
            dash(&i.use_case),
            dash(&i.auth_method),
            i.access_token_lifetime_s.map_or("-".into(), |v| v.to_string()),
            i.refresh_token_lifetime_s.map_or("none".into(), |v| format!("{v} s")),
            dash(&i.next_review_due),
            i.review_tier,
        );
        if let Some(why) = &i.reauth_reason {
            s.push_str(&format!(
                "  re-authorization: needed since {} ({why})\n",
                dash(&i.reauth_since)
            ));
        }
        s.push_str("  approved scopes:\n");
        for a in &detail.approvals {
            s.push_str(&format!(
                "    {:<40} {}\n",
                a.scope,
                a.justification.as_deref().unwrap_or("(no justification)")
            ));
        }
        s.push_str(&format!("  granted scopes:   {}\n", i.granted_scopes.join(" ")));
        s.push_str("  credentials:\n");
        for c in &detail.credentials {
            let reuse = if c.reused_by > 0 {
                format!("  REUSED by {} other identities", c.reused_by)
            } else {
                String::new()
            };
            s.push_str(&format!("    {:<6} {}{}\n", c.kind, c.fingerprint, reuse));
        }
        s.push_str("  history:\n");
        for e in &detail.history {
            s.push_str(&format!("    #{:<6} {} {} {}\n", e.seq, e.at, e.actor, e.action));
        }
        s.trim_end().to_string()
    })
}

const LIST_HEADER: &[&str] = &[
    "ID",
    "NAME",
    "KIND",
    "ENVIRONMENT",
    "BUSINESS OWNER",
    "TECHNICAL OWNER",
    "PURPOSE",
    "GRANTED",
    "NEXT REVIEW",
    "STATUS",
];

fn list_row(i: &Identity) -> Vec<String> {
    let name =
        |p: &Option<steward::inventory::Person>| p.as_ref().map_or("-".into(), |p| p.name.clone());
    vec![
        i.id.to_string(),
        i.name.clone(),
        i.kind.to_string(),
        i.environment.to_string(),
        name(&i.business_owner),
        name(&i.technical_owner),
        dash(&i.purpose),
        i.granted_scopes.len().to_string(),
        i.next_review_due
            .as_deref()
            .map_or("-".into(), |d| d[..10.min(d.len())].to_string()),
        i.status.to_string(),
    ]
}
