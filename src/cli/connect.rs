//! `steward connect`, `credential`, `register`, `sync`, `enforce` and `drill`: Steward and
//! the authorization servers.

use std::io::{IsTerminal, Read};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::AtomicBool;

use clap::{Args, Subcommand};

use steward::api::{self, ConnectAdd, CredentialSubject, CredentialValue, DrillOptions};
use steward::audit::Actor;
use steward::connect::vault::Secret;
use steward::connect::ServerKind;
use steward::inventory::Environment;
use steward::{time, Error, Store};

use super::{Output, Target};

#[derive(Subcommand)]
pub enum ConnectCommand {
    /// Read an environment's authorization server metadata and record it.
    Add {
        #[arg(long)]
        environment: Environment,
        /// The issuer: https://... (http only on this machine).
        #[arg(long)]
        issuer: String,
        /// oauth (RFC 7591/7592) or keycloak (its admin REST API).
        #[arg(long, default_value = "oauth")]
        kind: ServerKind,
        /// Keycloak: the realm.
        #[arg(long)]
        realm: Option<String>,
        /// The FHIR server's base URL, for the drill's last step.
        #[arg(long)]
        fhir_base: Option<String>,
        /// Keycloak: the admin (service account) client Steward signs in as.
        #[arg(long)]
        admin_client: Option<String>,
    },
    /// Every connection.
    List,
    /// Read an environment's server metadata again.
    Discover { environment: Environment },
}

#[derive(Subcommand)]
pub enum CredentialCommand {
    /// Hold an identity's client secret (from standard input) or private key (PEM file) for
    /// drills and management; with --connection, a Keycloak admin client's secret.
    Set {
        #[command(flatten)]
        subject: Subject,
        /// Read the client secret from standard input.
        #[arg(long, conflicts_with = "private_key")]
        client_secret_stdin: bool,
        /// The client's private key, PEM (RSA for RS384, P-384 for ES384).
        #[arg(long)]
        private_key: Option<PathBuf>,
        /// The key id the server knows the key by.
        #[arg(long, requires = "private_key")]
        kid: Option<String>,
    },
    /// What Steward holds for an identity (or a connection) and where; never the value.
    Show {
        #[command(flatten)]
        subject: Subject,
    },
}

#[derive(Args)]
pub struct Subject {
    /// The identity's id or client_id.
    #[arg(required_unless_present = "connection")]
    id: Option<String>,
    #[arg(long)]
    environment: Option<Environment>,
    /// The connection of this environment (its admin client), instead of an identity.
    #[arg(long, conflicts_with = "id")]
    connection: Option<Environment>,
}

impl Subject {
    fn subject(&self) -> CredentialSubject {
        match (&self.id, self.connection) {
            (_, Some(env)) => CredentialSubject::Connection(env),
            (Some(id), None) => CredentialSubject::Identity(api::IdentityRef {
                key: id.clone(),
                environment: self.environment,
            }),
            (None, None) => unreachable!("clap requires one"),
        }
    }
}

#[derive(Args)]
pub struct SyncArgs {
    environment: Environment,
    /// Show what differs without changing anything.
    #[arg(long)]
    dry_run: bool,
}

#[derive(Args)]
pub struct EnforceArgs {
    /// Only this environment's tasks.
    #[arg(long)]
    environment: Option<Environment>,
    /// Show the calls without making them.
    #[arg(long)]
    dry_run: bool,
}

#[derive(Args)]
pub struct DrillArgs {
    #[command(flatten)]
    target: Target,
    /// Drill a production client that is not marked drillable (audited).
    #[arg(long)]
    allow_production: bool,
    /// Seconds to wait for the revoked token to turn inactive.
    #[arg(long, default_value_t = 30)]
    bound: u64,
}

pub async fn connect(
    c: ConnectCommand,
    store: &Store,
    now: time::Timestamp,
    actor: &Actor,
    out: &Output,
) -> Result<(), Error> {
    let text = |c: &steward::connect::Connection| {
        format!(
            "{} {} ({})\n  token:         {}\n  revocation:    {}\n  introspection: {}\n  registration:  {}\n  discovered:    {} from {}\n  last sync:     {}",
            c.environment,
            c.issuer,
            c.kind,
            c.token_endpoint,
            c.revocation_endpoint.as_deref().unwrap_or("- (none published)"),
            c.introspection_endpoint.as_deref().unwrap_or("- (none published)"),
            c.registration_endpoint.as_deref().unwrap_or("-"),
            c.discovered_at,
            c.metadata_sources.join(", "),
            c.last_sync_at.as_deref().unwrap_or("never"),
        )
    };
    match c {
        ConnectCommand::Add {
            environment,
            issuer,
            kind,
            realm,
            fhir_base,
            admin_client,
        } => {
            let req = ConnectAdd {
                environment,
                issuer,
                kind: Some(kind),
                realm,
                fhir_base,
                admin_client_id: admin_client,
            };
            let c = api::connect_add(store, now, actor, &req).await?;
            out.one(&c, || text(&c))
        }
        ConnectCommand::List => {
            let list = api::connect_list(store).await?;
            out.table(
                &list,
                &[
                    "ENV",
                    "ISSUER",
                    "KIND",
                    "REVOCATION",
                    "INTROSPECTION",
                    "LAST SYNC",
                ],
                list.iter().map(|c| {
                    vec![
                        c.environment.to_string(),
                        c.issuer.clone(),
                        c.kind.to_string(),
                        c.revocation_endpoint.clone().unwrap_or_else(|| "-".into()),
                        c.introspection_endpoint
                            .clone()
                            .unwrap_or_else(|| "-".into()),
                        c.last_sync_at.clone().unwrap_or_else(|| "never".into()),
                    ]
                }),
            )
        }
        ConnectCommand::Discover { environment } => {
            let c = api::connect_discover(store, now, actor, environment).await?;
            out.one(&c, || text(&c))
        }
    }
}

pub async fn credential(
    c: CredentialCommand,
    store: &Store,
    now: time::Timestamp,
    actor: &Actor,
    out: &Output,
) -> Result<(), Error> {
    let text = |h: &api::HeldCredential| {
        let s = format!(
            "{} {}: fingerprint {}{}\n  kept in {}: {}\n  set {} by {}",
            h.held.subject,
            h.held.kind,
            h.held.fingerprint,
            h.held
                .kid
                .as_deref()
                .map(|k| format!(", kid {k}"))
                .unwrap_or_default(),
            h.held.store,
            h.held.location,
            h.held.set_at,
            h.held.set_by
        );
        s
    };
    match c {
        CredentialCommand::Set {
            subject,
            client_secret_stdin,
            private_key,
            kid,
        } => {
            let value = match (client_secret_stdin, private_key) {
                (true, _) => {
                    let mut buf = Vec::new();
                    std::io::stdin()
                        .read_to_end(&mut buf)
                        .map_err(|e| Error::io("standard input", e))?;
                    CredentialValue::ClientSecret(Secret::new(buf))
                }
                (false, Some(path)) => {
                    let pem = std::fs::read(&path).map_err(|e| Error::io(&path, e))?;
                    CredentialValue::PrivateKey {
                        pem: Secret::new(pem),
                        kid,
                    }
                }
                (false, None) => {
                    return Err(Error::invalid(
                        "credential",
                        "give --client-secret-stdin or --private-key PEM_FILE",
                    ))
                }
            };
            let h = api::credential_set(store, now, actor, &subject.subject(), value).await?;
            out.one(&h, || text(&h))
        }
        CredentialCommand::Show { subject } => {
            let list = api::credential_show(store, &subject.subject()).await?;
            if out.json {
                return out.one(&list, String::new);
            }
            if list.is_empty() {
                println!("nothing held");
                return Ok(());
            }
            let lines: Vec<String> = list.iter().map(text).collect();
            out.one(&list, || lines.join("\n"))
        }
    }
}

pub async fn register(
    target: Target,
    store: &Store,
    now: time::Timestamp,
    actor: &Actor,
    out: &Output,
) -> Result<(), Error> {
    let r = api::identity_register(store, now, actor, &target.reference()).await?;
    out.one(&r, || {
        format!(
            "registered identity {} as client {}\n  scopes: {}\n  managed at: {}",
            r.identity_id,
            r.client_id,
            r.scopes.join(" "),
            r.registration_client_uri.as_deref().unwrap_or("-")
        )
    })
}

pub async fn sync(
    a: SyncArgs,
    store: &Store,
    now: time::Timestamp,
    actor: &Actor,
    out: &Output,
) -> Result<(), Error> {
    let bar = std::io::stderr().is_terminal().then(|| {
        let b = indicatif::ProgressBar::new(0);
        b.set_message("reading clients");
        b
    });
    let progress = |done: usize, total: usize| {
        if let Some(b) = &bar {
            b.set_length(total as u64);
            b.set_position(done as u64);
        }
    };
    let cancel = AtomicBool::new(false);
    let r = api::connect_sync(
        store,
        now,
        actor,
        a.environment,
        a.dry_run,
        &progress,
        &cancel,
    )
    .await;
    if let Some(b) = bar {
        b.finish_and_clear();
    }
    let r = r?;
    out.one(&r, || {
        let mut s = format!(
            "{}: {} client(s) read{}\n",
            r.environment,
            r.clients_read,
            if r.applied {
                ", the server's view applied"
            } else {
                " (dry run: nothing changed)"
            }
        );
        for c in &r.changed {
            s.push_str(&format!(
                "  changed {} {}: inventory '{}', server '{}'\n",
                c.client_id, c.field, c.inventory, c.server
            ));
        }
        for c in &r.unknown_on_server {
            s.push_str(&format!("  unknown to the inventory: {c}\n"));
        }
        for c in &r.missing_on_server {
            s.push_str(&format!("  missing on the server: {c}\n"));
        }
        for u in &r.unread {
            s.push_str(&format!("  not read: {} ({})\n", u.client_id, u.reason));
        }
        if r.token_events > 0 {
            s.push_str(&format!(
                "  {} token event(s) into the token log\n",
                r.token_events
            ));
        }
        s.trim_end().to_string()
    })
}

pub async fn enforce(
    a: EnforceArgs,
    store: &Store,
    now: time::Timestamp,
    actor: &Actor,
    out: &Output,
) -> Result<ExitCode, Error> {
    let r = api::enforce(store, now, actor, a.environment, a.dry_run).await?;
    out.one(&r, || {
        if r.tasks.is_empty() {
            return "no enforcement task is pending".into();
        }
        let mut s = String::new();
        for t in &r.tasks {
            s.push_str(&format!(
                "task {} {} {} [{}]: {}\n",
                t.task_id,
                t.action,
                t.client_id,
                t.environment,
                match (&t.confirmed, &t.error) {
                    (Some(c), _) => format!("{} ({c})", t.state),
                    (None, Some(e)) => format!("still pending: {e}"),
                    _ => t.state.clone(),
                }
            ));
            for c in &t.calls {
                s.push_str(&format!("    {c}\n"));
            }
        }
        s.trim_end().to_string()
    })?;
    Ok(if r.failed > 0 {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

pub async fn drill(
    a: DrillArgs,
    store: &Store,
    now: time::Timestamp,
    actor: &Actor,
    out: &Output,
) -> Result<ExitCode, Error> {
    let opts = DrillOptions {
        allow_production: a.allow_production,
        bound_ms: Some(a.bound.saturating_mul(1000)),
    };
    let r = api::identity_drill(store, now, actor, &a.target.reference(), &opts).await?;
    out.one(&r, || {
        let mut s = format!(
            "drill of {} [{}] in {}: {}\n",
            r.client_id,
            r.identity_id,
            r.environment,
            r.outcome.as_str()
        );
        for st in &r.steps {
            s.push_str(&format!(
                "  {:<17} {:<6} {:>6} ms  {}{}\n",
                st.step,
                st.status,
                st.ms,
                st.http_status
                    .map(|h| format!("HTTP {h} "))
                    .unwrap_or_default(),
                st.detail.as_deref().unwrap_or("")
            ));
        }
        if let Some(ms) = r.revoke_to_inactive_ms {
            s.push_str(&format!("  revoked to inactive: {ms} ms\n"));
        }
        if let Some(e) = &r.error {
            s.push_str(&format!("  error: {e}\n"));
        }
        s.trim_end().to_string()
    })?;
    Ok(match r.outcome {
        steward::connect::drill::Outcome::Passed => ExitCode::SUCCESS,
        _ => ExitCode::from(1),
    })
}
