//! `steward team`: a team database's members, and copies into and out of it.

use std::path::PathBuf;

use clap::Subcommand;

use steward::api;
use steward::audit::Actor;
use steward::{time, Error, Store};

use super::Output;

#[derive(Subcommand)]
pub(super) enum TeamCommand {
    /// Add a member to the team database: a login of their own bound to a person, in one
    /// role. The password is read from standard input. Run by an admin.
    AddMember {
        /// The person ("Name <email>", an email or an id).
        person: String,
        /// The database login to create.
        #[arg(long)]
        login: String,
        /// reviewer, owner, auditor or admin.
        #[arg(long)]
        role: String,
    },
    /// Copy this workstation's inventory (--db PATH), with its whole audit chain and
    /// checkpoints, into an empty team database, and verify it there.
    Push {
        /// The team database: postgres://USER@HOST:PORT/DB.
        #[arg(long)]
        to: String,
    },
    /// Write a read-only SQLite snapshot of the team database (--db postgres://...) for an
    /// auditor or for travel.
    Pull {
        /// The new file.
        #[arg(long)]
        out: PathBuf,
    },
}

pub(super) async fn team(
    c: TeamCommand,
    store: &Store,
    now: time::Timestamp,
    actor: &Actor,
    out: &Output,
) -> Result<(), Error> {
    match c {
        TeamCommand::AddMember {
            person,
            login,
            role,
        } => {
            let mut password = String::new();
            std::io::stdin()
                .read_line(&mut password)
                .map_err(|e| Error::io("standard input", e))?;
            let password =
                zeroize::Zeroizing::new(password.trim_end_matches(['\r', '\n']).to_string());
            let w =
                api::team_add_member(store, now, actor, &person, &login, &role, &password).await?;
            out.one(&w, || format!("added {} as {}", w.os_user, role))
        }
        TeamCommand::Push { to } => {
            let t = api::team_push(store, now, actor, &to).await?;
            out.one(&t, || transfer_text("pushed", &t))
        }
        TeamCommand::Pull { out: file } => {
            let t = api::team_pull(store, &file).await?;
            out.one(&t, || {
                format!(
                    "{}\n{} is read-only: open it with --db {}",
                    transfer_text("pulled", &t),
                    file.display(),
                    file.display()
                )
            })
        }
    }
}

fn transfer_text(verb: &str, t: &api::Transfer) -> String {
    let rows: u64 = t.tables.values().sum();
    format!(
        "{verb} {rows} rows in {} tables; audit chain verified: {} entries, head {}; {} checkpoints verified",
        t.tables.len(),
        t.audit_entries,
        t.head_hash,
        t.checkpoints
    )
}
