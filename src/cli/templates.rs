//! `steward templates`: the use-case templates.

use clap::{Args, Subcommand};

use steward::api::{self, TemplateEdit};
use steward::audit::Actor;
use steward::policy::template::Template;
use steward::{time, Error, Store};

use super::{yes_no, Output};

#[derive(Subcommand)]
pub(super) enum TemplatesCommand {
    /// Every template.
    List,
    /// One template.
    Show { key: String },
    /// Change a template (audited).
    Edit {
        key: String,
        #[command(flatten)]
        fields: TemplateFields,
    },
    /// Add a template (audited): KEY is lowercase letters, digits, '-' and '_'.
    Create {
        key: String,
        #[command(flatten)]
        fields: TemplateFields,
    },
    /// Remove a template no identity uses (audited).
    Delete { key: String },
}

/// A template's fields, as `templates edit` and `templates create` take them.
#[derive(Args)]
pub(super) struct TemplateFields {
    #[arg(long)]
    name: Option<String>,
    #[arg(long)]
    description: Option<String>,
    /// Space-separated scopes; "" removes the limit.
    #[arg(long)]
    max_scopes: Option<String>,
    #[arg(long)]
    allow_offline_access: Option<bool>,
    #[arg(long)]
    allow_bulk_export: Option<bool>,
    #[arg(long)]
    max_access_token_lifetime_s: Option<i64>,
    #[arg(long)]
    expected_auth_method: Option<String>,
}

impl TemplateFields {
    fn edit(self) -> TemplateEdit {
        TemplateEdit {
            name: self.name,
            description: self.description,
            kinds: None,
            max_scopes: self.max_scopes,
            allow_offline_access: self.allow_offline_access,
            allow_bulk_export: self.allow_bulk_export,
            max_access_token_lifetime_s: self.max_access_token_lifetime_s,
            expected_auth_method: self.expected_auth_method,
        }
    }
}

pub(super) async fn templates(
    t: TemplatesCommand,
    store: &Store,
    now: time::Timestamp,
    actor: &Actor,
    out: &Output,
) -> Result<(), Error> {
    let show = |t: &Template| {
        format!(
            "{} — {}\n  {}\n  kinds: {}\n  max scopes: {}\n  offline_access: {}, bulk export: {}\n  max access token lifetime: {}\n  expected auth method: {}\n  updated: {}",
            t.key,
            t.name,
            t.description,
            t.kinds.iter().map(|k| k.as_str()).collect::<Vec<_>>().join(", "),
            t.max_scopes.as_ref().map_or("no limit".to_string(), |s| s.join(" ")),
            yes_no(t.allow_offline_access),
            yes_no(t.allow_bulk_export),
            t.max_access_token_lifetime_s.map_or("policy default".to_string(), |v| format!("{v} s")),
            t.expected_auth_method.as_deref().unwrap_or("any"),
            t.updated_at
        )
    };
    match t {
        TemplatesCommand::List => {
            let list = api::template_list(store).await?;
            out.table(
                &list,
                &[
                    "KEY",
                    "NAME",
                    "KINDS",
                    "SCOPES",
                    "OFFLINE",
                    "BULK",
                    "MAX TOKEN S",
                ],
                list.iter().map(|t| {
                    vec![
                        t.key.clone(),
                        t.name.clone(),
                        t.kinds
                            .iter()
                            .map(|k| k.as_str())
                            .collect::<Vec<_>>()
                            .join(" "),
                        t.max_scopes
                            .as_ref()
                            .map_or("no limit".into(), |s| s.len().to_string()),
                        yes_no(t.allow_offline_access),
                        yes_no(t.allow_bulk_export),
                        t.max_access_token_lifetime_s
                            .map_or("-".into(), |v| v.to_string()),
                    ]
                }),
            )
        }
        TemplatesCommand::Show { key } => {
            let t = api::template_show(store, &key).await?;
            out.one(&t, || show(&t))
        }
        TemplatesCommand::Edit { key, fields } => {
            let t = api::template_edit(store, now, actor, &key, fields.edit()).await?;
            out.one(&t, || show(&t))
        }
        TemplatesCommand::Create { key, fields } => {
            let t = api::template_create(store, now, actor, &key, fields.edit()).await?;
            out.one(&t, || show(&t))
        }
        TemplatesCommand::Delete { key } => {
            api::template_delete(store, now, actor, &key).await?;
            out.one(&serde_json::json!({ "deleted": key }), || {
                format!("template '{key}' deleted")
            })
        }
    }
}
