use std::collections::BTreeMap;

use serde::Serialize;
use ts_rs::TS;

use crate::inventory::{Environment, Kind, Status};
use crate::policy::Severity;
use crate::store::policy as db;
use crate::time::{self, Timestamp};
use crate::{Result, Store};

/// A labelled count for a chart.
#[derive(Debug, Clone, PartialEq, Serialize, TS)]
pub struct Count {
    pub label: String,
    #[ts(type = "number")]
    pub count: i64,
}

/// Identities of one environment, by kind.
#[derive(Debug, Clone, PartialEq, Serialize, TS)]
pub struct EnvironmentKinds {
    pub environment: Environment,
    pub kinds: Vec<Count>,
}

pub use crate::policy::PosturePoint;

/// The home screen.
#[derive(Debug, Clone, PartialEq, Serialize, TS)]
pub struct Dashboard {
    #[ts(type = "number")]
    pub identities: i64,
    #[ts(type = "number")]
    pub open_findings: i64,
    pub by_environment: Vec<EnvironmentKinds>,
    pub findings_by_severity: Vec<Count>,
    /// Open findings per framework control, most first.
    pub findings_by_control: Vec<Count>,
    #[ts(type = "number")]
    pub reviews_overdue: i64,
    #[ts(type = "number")]
    pub reviews_due_30_days: i64,
    /// Share of evaluated identities with no least-privilege finding (granted beyond approval
    /// or beyond their template), in percent.
    pub least_privilege_pct: f64,
    pub history: Vec<PosturePoint>,
}

/// Days of the posture series the dashboard shows.
const POSTURE_DAYS: usize = 366;

const LEAST_PRIVILEGE_RULES: [&str; 2] = ["granted-beyond-approved", "beyond-template"];

/// Computes the dashboard as of `now` and records today's point of the posture series.
pub async fn dashboard(store: &Store, now: Timestamp) -> Result<Dashboard> {
    // One read of the inventory gives the findings, the kinds and the reviews due; the posture
    // series is read meanwhile.
    let (tally, mut history) = tokio::try_join!(
        super::findings::findings_tally(
            store,
            now,
            now + chrono::Duration::days(30),
            &LEAST_PRIVILEGE_RULES
        ),
        async { db::posture_history(&mut store.read().await?, POSTURE_DAYS as i64).await },
    )?;
    let mut by_env: BTreeMap<Environment, Vec<Count>> = BTreeMap::new();
    let mut identities = 0;
    let mut evaluated = 0;
    for (&(env, kind, status), &count) in &tally.kinds {
        identities += count;
        if !matches!(status, Status::Retired | Status::Revoked) {
            evaluated += count;
        }
        let kinds = by_env.entry(env).or_default();
        let label = kind.as_str().to_string();
        match kinds.iter_mut().find(|c| c.label == label) {
            Some(c) => c.count += count,
            None => kinds.push(Count { label, count }),
        }
    }
    for kinds in by_env.values_mut() {
        kinds.sort_by_key(|c| Kind::ALL.iter().position(|k| k.as_str() == c.label));
    }
    let mut findings_by_control: Vec<Count> = tally
        .by_control
        .into_iter()
        .map(|(label, count)| Count { label, count })
        .collect();
    findings_by_control.sort_by(|a, b| b.count.cmp(&a.count).then(a.label.cmp(&b.label)));
    let least_privilege_pct = if evaluated == 0 {
        100.0
    } else {
        100.0 * (evaluated - tally.over_privileged) as f64 / evaluated as f64
    };
    let today = PosturePoint {
        day: time::format(now)[..10].to_string(),
        least_privilege_pct: (least_privilege_pct * 10.0).round() / 10.0,
        open_findings: tally.open,
        identities,
    };
    db::record_posture(&mut store.read().await?, &today).await?;
    // The series as read, with today's point as just recorded.
    match history.binary_search_by(|p| p.day.cmp(&today.day)) {
        Ok(i) => history[i] = today.clone(),
        Err(i) => history.insert(i, today.clone()),
    }
    let extra = history.len().saturating_sub(POSTURE_DAYS);
    history.drain(..extra);
    Ok(Dashboard {
        identities,
        open_findings: tally.open,
        by_environment: by_env
            .into_iter()
            .map(|(environment, kinds)| EnvironmentKinds { environment, kinds })
            .collect(),
        findings_by_severity: Severity::ALL
            .iter()
            .rev()
            .map(|s| Count {
                label: s.as_str().into(),
                count: tally.by_severity.get(s).copied().unwrap_or(0),
            })
            .collect(),
        findings_by_control,
        reviews_overdue: tally.reviews_overdue,
        reviews_due_30_days: tally.reviews_due_soon,
        least_privilege_pct: today.least_privilege_pct,
        history,
    })
}
