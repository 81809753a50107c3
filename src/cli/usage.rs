//! `steward import audit|tokens`, `steward trace` and `steward usage`.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::sync::atomic::AtomicBool;

use clap::Args;

use steward::api::{self, IdentityRef};
use steward::audit::Actor;
use steward::inventory::Environment;
use steward::usage::Control;
use steward::{time, Error, Store};

use super::{parse_time, Output};

#[derive(Args)]
pub struct UsageImportArgs {
    #[arg(required = true)]
    files: Vec<PathBuf>,
    /// The environment whose authorization server wrote the log (default production).
    #[arg(long, default_value = "production")]
    environment: Environment,
    /// Fail on the first malformed line instead of reporting it.
    #[arg(long)]
    strict: bool,
}

#[derive(Args)]
pub struct TraceArgs {
    /// From this day (RFC 3339 or YYYY-MM-DD; default: all).
    #[arg(long, value_parser = parse_time)]
    since: Option<time::Timestamp>,
    /// Up to this day, inclusive.
    #[arg(long, value_parser = parse_time)]
    until: Option<time::Timestamp>,
}

#[derive(Args)]
pub struct UsageArgs {
    #[command(flatten)]
    target: super::Target,
    /// The window, in days before now.
    #[arg(long, default_value_t = 90)]
    days: i64,
}

fn progress_bar(file: &std::path::Path) -> Option<indicatif::ProgressBar> {
    if !std::io::stderr().is_terminal() {
        return None;
    }
    let size = std::fs::metadata(file).map(|m| m.len()).unwrap_or(0);
    let bar = indicatif::ProgressBar::new(size);
    if let Ok(style) = indicatif::ProgressStyle::with_template(
        "{msg} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} eta {eta}",
    ) {
        bar.set_style(style.progress_chars("=> "));
    }
    bar.set_message(
        file.file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default(),
    );
    Some(bar)
}

pub async fn import_audit(
    a: UsageImportArgs,
    store: &Store,
    now: time::Timestamp,
    actor: &Actor,
    out: &Output,
) -> Result<(), Error> {
    let cancel = AtomicBool::new(false);
    let mut all = Vec::new();
    for file in &a.files {
        let bar = progress_bar(file);
        let progress = |done: u64, _total: u64| {
            if let Some(b) = &bar {
                b.set_position(done);
            }
        };
        let control = Control {
            cancel: &cancel,
            progress: &progress,
        };
        let s = api::usage_import_audit(store, now, actor, file, a.environment, a.strict, &control)
            .await;
        if let Some(b) = &bar {
            b.finish_and_clear();
        }
        let s = s?;
        for b in &s.bad {
            eprintln!("note: {}: line {}: {}", s.file, b.line, b.message);
        }
        if s.malformed as usize > s.bad.len() {
            eprintln!(
                "note: {}: {} more malformed lines not listed",
                s.file,
                s.malformed as usize - s.bad.len()
            );
        }
        if !out.json {
            if s.already_imported {
                say!(
                    "{}: already imported (content {}); nothing counted",
                    s.file,
                    s.content_hash
                );
            } else {
                say!(
                    "{}: {} calls in {} aggregates ({}), {} not REST, {} malformed; {} unknown clients",
                    s.file,
                    s.calls,
                    s.aggregates,
                    s.environment,
                    s.not_rest,
                    s.malformed,
                    s.unknown_clients.len()
                );
                for (client, calls) in s.unknown_clients.iter().take(10) {
                    let name = if client.is_empty() {
                        "(no client named)"
                    } else {
                        client
                    };
                    say!("  unknown client {name}: {calls} calls");
                }
            }
        }
        all.push(s);
    }
    if out.json {
        out.one(&all, String::new)?;
    }
    Ok(())
}

pub async fn import_tokens(
    a: UsageImportArgs,
    store: &Store,
    now: time::Timestamp,
    actor: &Actor,
    out: &Output,
) -> Result<(), Error> {
    let mut all = Vec::new();
    for file in &a.files {
        let s = api::usage_import_tokens(store, now, actor, file, a.environment, a.strict).await?;
        for (location, message) in &s.bad {
            eprintln!("note: {}: {location}: {message}", s.file);
        }
        if !out.json {
            if s.already_imported {
                say!("{}: already imported; nothing recorded", s.file);
            } else {
                let kinds: Vec<String> =
                    s.by_kind.iter().map(|(k, n)| format!("{n} {k}")).collect();
                say!(
                    "{}: {} token events ({}): {}; {} of unknown clients, {} skipped, {} malformed",
                    s.file,
                    s.events,
                    s.format,
                    if kinds.is_empty() {
                        "none".into()
                    } else {
                        kinds.join(", ")
                    },
                    s.unknown_client,
                    s.skipped,
                    s.bad.len()
                );
            }
        }
        all.push(s);
    }
    if out.json {
        out.one(&all, String::new)?;
    }
    Ok(())
}

pub async fn trace(a: TraceArgs, store: &Store, out: &Output) -> Result<(), Error> {
    let t = api::trace(store, a.since, a.until).await?;
    out.one(&t, || {
        let c = &t.counts;
        let pct = |n: i64| {
            if c.total_calls == 0 {
                0.0
            } else {
                n as f64 * 100.0 / c.total_calls as f64
            }
        };
        let mut s = format!(
            "{} API calls ({} to {}): {:.1} % traceable to a justified need\n  traced          {:>10}  {:5.1} %\n  unjustified     {:>10}  {:5.1} %\n  outside grant   {:>10}  {:5.1} %\n  unowned         {:>10}  {:5.1} %\n  unknown client  {:>10}  {:5.1} %",
            c.total_calls,
            t.since.as_deref().unwrap_or("the start"),
            t.until.as_deref().unwrap_or("now"),
            t.traced_percent,
            c.traced, pct(c.traced),
            c.unjustified, pct(c.unjustified),
            c.outside_grant, pct(c.outside_grant),
            c.unowned, pct(c.unowned),
            c.unknown_client, pct(c.unknown_client),
        );
        if t.context_by_token + t.context_by_identity > 0 {
            s.push_str(&format!(
                "\n  of which the log named no patient or person as requestor, classed by\n    \
                 the scopes of the call's token  {:>10}\n    the kind of the identity       {:>10}",
                t.context_by_token, t.context_by_identity,
            ));
        }
        if !t.top.is_empty() {
            s.push_str("\ntop untraced:");
            for o in &t.top {
                s.push_str(&format!(
                    "\n  {:>8}  {:<14} {} [{}] {} {} {}",
                    o.calls,
                    o.class.as_str(),
                    if o.client_id.is_empty() { "(no client named)" } else { &o.client_id },
                    o.identity_id.map_or("unknown".into(), |i| i.to_string()),
                    o.context.as_str(),
                    if o.resource_type.is_empty() { "(system)" } else { &o.resource_type },
                    o.interaction
                ));
            }
        }
        s
    })
}

pub async fn usage(
    a: UsageArgs,
    store: &Store,
    now: time::Timestamp,
    out: &Output,
) -> Result<(), Error> {
    let r: IdentityRef = a.target.reference();
    let u = api::usage_show(store, now, &r, a.days).await?;
    out.one(&u, || {
        let mut s = format!(
            "identity {}: {} calls since {} ({} failed); last used {}\n",
            u.identity_id,
            u.calls,
            u.since,
            u.failures,
            u.last_used_at.as_deref().unwrap_or("never")
        );
        for c in &u.cells {
            s.push_str(&format!(
                "  {:>8}  {} {} {}\n",
                c.calls,
                c.context.as_str(),
                if c.resource_type.is_empty() {
                    "(system)"
                } else {
                    &c.resource_type
                },
                c.interaction
            ));
        }
        s.push_str(&format!("  used (minimal):  {}\n", u.used_scopes.join(" ")));
        s.push_str(&format!(
            "  granted:         {}\n",
            u.granted_scopes.join(" ")
        ));
        s.push_str(&format!(
            "  granted, unused: {}\n",
            u.granted_unused.join(" ")
        ));
        s.push_str(&format!(
            "  approved:        {}",
            u.approved_scopes.join(" ")
        ));
        s
    })
}
