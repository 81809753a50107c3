//! The use cases, `noun_verb`, shared by the CLI and the desktop shell. Each takes the
//! [`Store`](crate::Store), and `now` and the [`Actor`](crate::audit::Actor) where it writes;
//! each write commits together with its audit entries or not at all.

mod apply;
mod audit;
mod connect;
mod dashboard;
mod demo;
mod evidence;
mod findings;
mod identity;
mod import;
mod review;
mod team;
mod usage;
mod who;

pub use crate::scope::report::{scope_diff, scope_info, ScopeDiff, ScopeInfo};
pub use audit::{
    audit_checkpoints, audit_log, audit_verify, audit_verify_with, checkpoints_file, AuditQuery,
    VerifyOptions,
};
pub use connect::{
    connect_add, connect_discover, connect_list, connect_sync, credential_set, credential_show,
    enforce, enforcement_pending, identity_drill, identity_drills, identity_register,
    identity_set_drillable, ConnectAdd, CredentialSubject, CredentialValue, DrillOptions,
    DrillReport, EnforceReport, Enforced, HeldCredential, Registration, SyncReport, Unread,
};
pub use dashboard::{dashboard, Count, Dashboard, EnvironmentKinds, PosturePoint};
pub use demo::{
    about, demo_seed, demo_seed_if_empty, start_state, About, DemoOptions, DemoSummary, StartState,
};
pub use evidence::{
    audit_checkpoint, audit_verify_checkpoint, evidence_export, evidence_inspect,
    evidence_key_rotate, evidence_key_show, evidence_key_use_file, evidence_verify, EvidenceFilter,
    KeyInfo,
};
pub use findings::{
    finding_accept, finding_accept_request, findings_list, framework_mapping, template_create,
    template_delete, template_edit, template_list, template_show, AcceptRequest, TemplateEdit,
};
pub use identity::{
    identity_add, identity_edit, identity_list, identity_retire, identity_set_owner,
    identity_set_purpose, identity_show, people_import_roster, person_add, person_list,
    person_set_active, IdentityEdit, IdentityRef, NewIdentity, RosterSummary,
};
pub use import::{registrations_import, ImportChange, ImportSummary};
pub use review::{
    campaign_close, campaign_create, campaign_list, campaign_report, campaign_show,
    identity_attest, person_designations, person_id, person_set_reviewer, review_decide,
    review_draft_save, review_escalate, review_item_show, review_items, review_policy,
    review_policy_edit, review_queue_counts, EscalationSummary, ItemDetail, QueueCounts,
};
pub use team::{team_pull, team_push, Transfer};
pub use usage::{
    no_control, trace, usage_import_audit, usage_import_tokens, usage_show, AuditImportSummary,
    ClassCounts, IdentityTrace, IdentityUsage, Offender, TokenImportSummary, TraceClass,
    TraceReport, UsageCell,
};
pub use who::{person_bind, session_actor, team_add_member, whoami, Whoami, ROLES};
