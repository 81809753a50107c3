//! A revocation drill: a token by client credentials, introspected active, revoked, then
//! introspected until inactive (within a bound); where a FHIR base URL is known, a request
//! with the revoked token must be refused. Each step is timed and kept.

use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use ts_rs::TS;
use url::Url;

use super::http::{Answer, Call, Http};
use super::oauth::{self, ClientAuth};
use crate::time;

/// How long to wait for a revoked token to turn inactive, unless told.
pub const DEFAULT_BOUND: Duration = Duration::from_secs(30);
/// Between two introspections of a revoked token.
const POLL: Duration = Duration::from_millis(200);

/// One step of a drill.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS)]
pub struct Step {
    /// `token`, `introspect`, `fhir_before`, `revoke`, `introspect_after`, `fhir_after`.
    pub step: String,
    pub at: String,
    /// `ok`, `failed` (the server did what a working revocation must not) or `error`.
    pub status: String,
    /// The HTTP status of the step's last answer.
    pub http_status: Option<u16>,
    #[ts(type = "number")]
    pub ms: u64,
    pub detail: Option<String>,
}

/// `passed`, `failed` (revocation did not take effect) or `error` (the drill could not run).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, TS)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    Passed,
    Failed,
    Error,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Passed => "passed",
            Outcome::Failed => "failed",
            Outcome::Error => "error",
        }
    }
}

/// What a drill found.
#[derive(Debug, Clone, PartialEq, Serialize, TS)]
pub struct Run {
    pub steps: Vec<Step>,
    pub active_before: Option<bool>,
    pub active_after: Option<bool>,
    #[ts(type = "number | null")]
    pub revoke_to_inactive_ms: Option<u64>,
    pub outcome: Outcome,
    pub error: Option<String>,
}

/// Where and how to drill.
pub struct Target<'a> {
    pub token_endpoint: Url,
    pub introspection_endpoint: Option<Url>,
    pub revocation_endpoint: Option<Url>,
    pub fhir_base: Option<Url>,
    pub auth: ClientAuth<'a>,
    pub scope: String,
    pub bound: Duration,
}

struct Log {
    steps: Vec<Step>,
}

impl Log {
    fn push(
        &mut self,
        step: &str,
        started: Instant,
        status: &str,
        answer: Option<&Answer>,
        detail: Option<String>,
    ) {
        self.steps.push(Step {
            step: step.into(),
            at: time::format(time::now()),
            status: status.into(),
            http_status: answer.map(|a| a.status.as_u16()),
            ms: started.elapsed().as_millis() as u64,
            detail,
        });
    }
}

/// A GET of `{fhir_base}/metadata`-independent resource with the token: `Patient?_count=1`.
async fn fhir_get(http: &Http, base: &Url, token: &str) -> crate::Result<Answer> {
    let url = Url::parse(&format!(
        "{}/Patient?_count=1",
        base.as_str().trim_end_matches('/')
    ))
    .map_err(|e| crate::Error::invalid("fhir_base", e.to_string()))?;
    http.send(Call::get(&url).bearer(token)).await
}

/// Runs the drill. Never returns an error: what went wrong is the outcome `error` with the
/// step where it happened.
pub async fn run(http: &Http, t: &Target<'_>) -> Run {
    let mut log = Log { steps: Vec::new() };
    let mut run = Run {
        steps: Vec::new(),
        active_before: None,
        active_after: None,
        revoke_to_inactive_ms: None,
        outcome: Outcome::Error,
        error: None,
    };
    let result = drill(http, t, &mut log, &mut run).await;
    run.steps = log.steps;
    match result {
        Ok(outcome) => run.outcome = outcome,
        Err(e) => {
            run.outcome = Outcome::Error;
            run.error = Some(e.to_string());
        }
    }
    run
}

async fn drill(
    http: &Http,
    t: &Target<'_>,
    log: &mut Log,
    run: &mut Run,
) -> crate::Result<Outcome> {
    let Some(introspection) = &t.introspection_endpoint else {
        return Err(crate::Error::invalid(
            "introspection_endpoint",
            "the server publishes no introspection endpoint: a drill cannot see a token die",
        ));
    };
    let Some(revocation) = &t.revocation_endpoint else {
        return Err(crate::Error::invalid(
            "revocation_endpoint",
            "the server publishes no revocation endpoint",
        ));
    };

    let s = Instant::now();
    let token = match oauth::client_credentials(http, &t.token_endpoint, &t.auth, &t.scope).await {
        Ok((token, a)) => {
            log.push("token", s, "ok", Some(&a), None);
            token
        }
        Err(e) => {
            log.push("token", s, "error", None, Some(e.to_string()));
            return Err(e);
        }
    };

    let s = Instant::now();
    let (active, a) = step(
        log,
        "introspect",
        s,
        oauth::introspect(http, introspection, &t.auth, &token).await,
    )?;
    run.active_before = Some(active);
    if !active {
        log.mark_last("error", "a fresh token is not active");
        return Err(crate::Error::remote(
            &a.url,
            "a fresh token introspects as inactive",
        ));
    }
    log.mark_last("ok", "active");

    if let Some(base) = &t.fhir_base {
        let s = Instant::now();
        let a = fhir_get(http, base, &token).await;
        let a = step(log, "fhir_before", s, a.map(|a| ((), a)))?.1;
        if !a.status.is_success() {
            log.mark_last("error", "the FHIR server refused a fresh token");
            return Err(crate::Error::remote(
                &a.url,
                format!("refused a fresh token ({})", a.status.as_u16()),
            ));
        }
        log.mark_last("ok", "accepted");
    }

    let s = Instant::now();
    let revoked_at = Instant::now();
    step(
        log,
        "revoke",
        s,
        oauth::revoke(http, revocation, &t.auth, &token)
            .await
            .map(|a| ((), a)),
    )?;
    log.mark_last("ok", "revoked");

    let s = Instant::now();
    let mut polls = 0;
    let active_after = loop {
        polls += 1;
        let (active, a) = match oauth::introspect(http, introspection, &t.auth, &token).await {
            Ok(x) => x,
            Err(e) => {
                log.push("introspect_after", s, "error", None, Some(e.to_string()));
                return Err(e);
            }
        };
        if !active {
            run.revoke_to_inactive_ms = Some(revoked_at.elapsed().as_millis() as u64);
            log.push(
                "introspect_after",
                s,
                "ok",
                Some(&a),
                Some(format!("inactive after {polls} introspection(s)")),
            );
            break false;
        }
        if s.elapsed() >= t.bound {
            log.push(
                "introspect_after",
                s,
                "failed",
                Some(&a),
                Some(format!("still active after {} ms", t.bound.as_millis())),
            );
            break true;
        }
        tokio::time::sleep(POLL).await;
    };
    run.active_after = Some(active_after);

    let mut fhir_accepted = false;
    if let Some(base) = &t.fhir_base {
        let s = Instant::now();
        let a = fhir_get(http, base, &token).await;
        let a = step(log, "fhir_after", s, a.map(|a| ((), a)))?.1;
        match a.status.as_u16() {
            401 | 403 => log.mark_last("ok", &format!("refused ({})", a.status.as_u16())),
            200..=299 => {
                fhir_accepted = true;
                log.mark_last("failed", "the FHIR server accepted the revoked token");
            }
            other => {
                log.mark_last("error", &format!("the FHIR server answered {other}"));
                return Err(a.failure());
            }
        }
    }
    Ok(if active_after || fhir_accepted {
        Outcome::Failed
    } else {
        Outcome::Passed
    })
}

/// Records a step whose call returned; an error is recorded and passed on.
fn step<T>(
    log: &mut Log,
    name: &str,
    started: Instant,
    r: crate::Result<(T, Answer)>,
) -> crate::Result<(T, Answer)> {
    match r {
        Ok((v, a)) => {
            log.push(name, started, "ok", Some(&a), None);
            Ok((v, a))
        }
        Err(e) => {
            log.push(name, started, "error", None, Some(e.to_string()));
            Err(e)
        }
    }
}

impl Log {
    fn mark_last(&mut self, status: &str, detail: &str) {
        if let Some(s) = self.steps.last_mut() {
            s.status = status.into();
            s.detail = Some(detail.into());
        }
    }
}
