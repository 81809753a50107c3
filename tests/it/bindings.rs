//! The TypeScript types in `ui/src/lib/bindings.ts` are generated from the Rust IPC types.
//! This test fails when that file is stale; `UPDATE_BINDINGS=1 cargo test bindings` rewrites it.

use steward::api::{
    AcceptRequest, AuditQuery, Count, Dashboard, DemoSummary, EnvironmentKinds, EvidenceFilter,
    IdentityEdit, IdentityRef, ImportSummary, NewIdentity, PosturePoint, ScopeDiff, ScopeInfo,
    TemplateEdit,
};
use steward::api::{
    AuditImportSummary, ClassCounts, EscalationSummary, IdentityTrace, IdentityUsage, ItemDetail,
    KeyInfo, Offender, TokenImportSummary, TraceClass, TraceReport, UsageCell,
};
use steward::audit::{AuditEntry, ChainStatus};
use steward::error::{ApiError, Code};
use steward::evidence::bag::{BagSummary, BagVerification, Check, CheckName};
use steward::evidence::Checkpoint;
use steward::inventory::import::Format;
use steward::inventory::{
    Approval, Credential, CredentialKind, Environment, Grant, Identity, IdentityDetail,
    IdentityFilter, IdentityPage, IdentitySort, Kind, OwnerRole, Person, ScopeSet, Status,
};
use steward::policy::template::Template;
use steward::policy::{Finding, FindingFilter, FindingStatus, Mapping, Severity};
use steward::review::{
    AttestRequest, Attestation, Campaign, CampaignFilter, CampaignState, DeadlineDefault,
    DecideRequest, DecisionRecord, Intervals, Item, ItemState, NewCampaign, PolicyEdit, Progress,
    ReviewDecision, ReviewPolicy, ReviewerProgress, Tier,
};
use steward::scope::{Context, Decision, RiskReason, RiskReport, RiskTrait};
use steward::store::review::ItemQuery;
use steward::usage::tokens::{TokenEvent, TokenEventKind};
use steward::usage::BadLine;
use ts_rs::{Config, TS};

fn generated() -> String {
    let cfg = Config::new().with_large_int("number");
    let decls = [
        Code::decl(&cfg),
        ApiError::decl(&cfg),
        Kind::decl(&cfg),
        Environment::decl(&cfg),
        Status::decl(&cfg),
        ScopeSet::decl(&cfg),
        CredentialKind::decl(&cfg),
        OwnerRole::decl(&cfg),
        Person::decl(&cfg),
        Identity::decl(&cfg),
        Approval::decl(&cfg),
        Credential::decl(&cfg),
        IdentitySort::decl(&cfg),
        IdentityFilter::decl(&cfg),
        IdentityPage::decl(&cfg),
        IdentityDetail::decl(&cfg),
        IdentityRef::decl(&cfg),
        NewIdentity::decl(&cfg),
        IdentityEdit::decl(&cfg),
        EvidenceFilter::decl(&cfg),
        AuditEntry::decl(&cfg),
        ChainStatus::decl(&cfg),
        AuditQuery::decl(&cfg),
        Format::decl(&cfg),
        ImportSummary::decl(&cfg),
        DemoSummary::decl(&cfg),
        Context::decl(&cfg),
        RiskTrait::decl(&cfg),
        RiskReason::decl(&cfg),
        RiskReport::decl(&cfg),
        ScopeInfo::decl(&cfg),
        ScopeDiff::decl(&cfg),
        Grant::decl(&cfg),
        Decision::decl(&cfg),
        Severity::decl(&cfg),
        FindingStatus::decl(&cfg),
        Finding::decl(&cfg),
        FindingFilter::decl(&cfg),
        Mapping::decl(&cfg),
        Template::decl(&cfg),
        TemplateEdit::decl(&cfg),
        AcceptRequest::decl(&cfg),
        Count::decl(&cfg),
        EnvironmentKinds::decl(&cfg),
        PosturePoint::decl(&cfg),
        Dashboard::decl(&cfg),
        BagSummary::decl(&cfg),
        CheckName::decl(&cfg),
        Check::decl(&cfg),
        BagVerification::decl(&cfg),
        Checkpoint::decl(&cfg),
        KeyInfo::decl(&cfg),
        Tier::decl(&cfg),
        ReviewDecision::decl(&cfg),
        ItemState::decl(&cfg),
        DeadlineDefault::decl(&cfg),
        CampaignState::decl(&cfg),
        Intervals::decl(&cfg),
        ReviewPolicy::decl(&cfg),
        PolicyEdit::decl(&cfg),
        CampaignFilter::decl(&cfg),
        NewCampaign::decl(&cfg),
        Progress::decl(&cfg),
        ReviewerProgress::decl(&cfg),
        Campaign::decl(&cfg),
        Attestation::decl(&cfg),
        Item::decl(&cfg),
        DecisionRecord::decl(&cfg),
        DecideRequest::decl(&cfg),
        AttestRequest::decl(&cfg),
        ItemQuery::decl(&cfg),
        ItemDetail::decl(&cfg),
        EscalationSummary::decl(&cfg),
        BadLine::decl(&cfg),
        AuditImportSummary::decl(&cfg),
        TokenImportSummary::decl(&cfg),
        TraceClass::decl(&cfg),
        ClassCounts::decl(&cfg),
        IdentityTrace::decl(&cfg),
        Offender::decl(&cfg),
        TraceReport::decl(&cfg),
        UsageCell::decl(&cfg),
        TokenEventKind::decl(&cfg),
        TokenEvent::decl(&cfg),
        IdentityUsage::decl(&cfg),
        steward::api::Whoami::decl(&cfg),
        steward::connect::ServerKind::decl(&cfg),
        steward::connect::Connection::decl(&cfg),
        steward::connect::Change::decl(&cfg),
        steward::api::ConnectAdd::decl(&cfg),
        steward::api::SyncReport::decl(&cfg),
        steward::api::Unread::decl(&cfg),
        steward::api::Enforced::decl(&cfg),
        steward::api::EnforceReport::decl(&cfg),
        steward::store::connect::Task::decl(&cfg),
        steward::connect::drill::Step::decl(&cfg),
        steward::connect::drill::Outcome::decl(&cfg),
        steward::api::DrillReport::decl(&cfg),
        steward::api::DrillOptions::decl(&cfg),
        steward::api::Registration::decl(&cfg),
        steward::connect::vault::SecretKind::decl(&cfg),
        steward::store::connect::HeldRow::decl(&cfg),
        steward::api::HeldCredential::decl(&cfg),
        steward::api::ImportChange::decl(&cfg),
        steward::api::StartState::decl(&cfg),
        steward::api::About::decl(&cfg),
        steward::api::QueueCounts::decl(&cfg),
        steward::api::RosterSummary::decl(&cfg),
    ];
    let mut out = String::from(
        "// Generated from the Rust IPC types by tests/it/bindings.rs; do not edit by hand.\n",
    );
    for d in decls {
        out.push_str("\nexport ");
        out.push_str(&d);
        out.push('\n');
    }
    out
}

#[test]
fn ui_bindings_match_the_rust_types() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/ui/src/lib/bindings.ts");
    let want = generated();
    if std::env::var_os("UPDATE_BINDINGS").is_some() {
        std::fs::write(path, &want).expect("write bindings");
        return;
    }
    let have = std::fs::read_to_string(path).unwrap_or_default();
    assert!(
        have == want,
        "ui/src/lib/bindings.ts is stale: run `UPDATE_BINDINGS=1 cargo test --test it bindings`"
    );
}
