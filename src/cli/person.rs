//! `steward person`: the people who own and review identities.

use std::path::PathBuf;

use clap::Subcommand;

use steward::api;
use steward::audit::Actor;
use steward::{time, Error, Store};

use super::{whoami_text, yes_no, Output};

#[derive(Subcommand)]
pub(super) enum PersonCommand {
    /// Everyone who owns or reviews identities.
    List,
    /// Add a person ("Name <email>" or an email), e.g. a reviewer who owns nothing.
    Add { person: String },
    /// Bind this OS account to a person (once): every change made here is then theirs.
    Bind { person: String },
    /// Mark a person as having left the organization: what they own gets a finding.
    Depart { person: String },
    /// Mark a departed person as back.
    Return { person: String },
    /// Import a roster CSV (name,email,active): adds who is new, marks who has left or is back.
    Import {
        file: PathBuf,
        /// Say what it would change, and write nothing.
        #[arg(long)]
        dry_run: bool,
    },
}

pub(super) async fn person(
    c: PersonCommand,
    store: &Store,
    now: time::Timestamp,
    actor: &Actor,
    out: &Output,
) -> Result<(), Error> {
    match c {
        PersonCommand::List => {
            let people = api::person_list(store).await?;
            out.table(
                &people,
                &["ID", "NAME", "EMAIL", "ACTIVE"],
                people.iter().map(|p| {
                    vec![
                        p.id.to_string(),
                        p.name.clone(),
                        p.email.clone(),
                        yes_no(p.active),
                    ]
                }),
            )
        }
        PersonCommand::Bind { person } => {
            let w = api::person_bind(store, now, actor, &person).await?;
            out.one(&w, || whoami_text(&w))
        }
        PersonCommand::Depart { person } => {
            let p = api::person_set_active(store, now, actor, &person, false).await?;
            out.one(&p, || {
                format!("{} <{}> has left the organization", p.name, p.email)
            })
        }
        PersonCommand::Return { person } => {
            let p = api::person_set_active(store, now, actor, &person, true).await?;
            out.one(&p, || format!("{} <{}> is back", p.name, p.email))
        }
        PersonCommand::Import { file, dry_run } => {
            let r = api::people_import_roster(store, now, actor, &file, dry_run).await?;
            out.one(&r, || {
                format!(
                    "{}: {} added, {} departed, {} back, {} unchanged{}",
                    file.display(),
                    r.added.len(),
                    r.departed.len(),
                    r.returned.len(),
                    r.unchanged,
                    if r.dry_run {
                        " (a preview: nothing was written)"
                    } else {
                        ""
                    }
                )
            })
        }
        PersonCommand::Add { person } => {
            let p = api::person_add(store, now, actor, &person).await?;
            out.one(&p, || format!("{} <{}> [{}]", p.name, p.email, p.id))
        }
    }
}
