// Generated from the Rust IPC types by tests/it/bindings.rs; do not edit by hand.

export type Code = "not_found" | "ambiguous" | "invalid" | "import" | "conflict" | "forbidden" | "cancelled" | "integrity" | "storage" | "unavailable" | "internal" | "remote";

export type ApiError = { code: Code, message: string, };

export type Kind = "patient_app" | "clinician_app" | "backend_service" | "service_account";

export type Environment = "sandbox" | "staging" | "production";

export type Status = "pending" | "active" | "suspended" | "revoked" | "retired";

export type ScopeSet = "approved" | "granted";

export type CredentialKind = "secret" | "key" | "token";

export type OwnerRole = "business" | "technical";

export type Person = { id: number, name: string, email: string, 
/**
 * False once the person has left the organization.
 */
active: boolean, };

export type Identity = { id: number, client_id: string, name: string, kind: Kind, environment: Environment, status: Status, vendor: string | null, business_owner: Person | null, technical_owner: Person | null, purpose: string | null, use_case: string | null, approved_scopes: Array<string>, granted_scopes: Array<string>, 
/**
 * Risk of the granted scopes (see `scope::explain`).
 */
risk_score: number, 
/**
 * `low`, `medium` or `high`.
 */
risk_tier: string, 
/**
 * How often it is recertified (see `review::tier`).
 */
review_tier: Tier, auth_method: string | null, access_token_lifetime_s: number | null, refresh_token_lifetime_s: number | null, jwks_uri: string | null, revocation_endpoint: string | null, last_used_at: string | null, last_reviewed_at: string | null, next_review_due: string | null, created_at: string, updated_at: string, 
/**
 * An AI or autonomous agent (NIST AI RMF applies to its findings).
 */
ai_agent: boolean, 
/**
 * Why its certification expired on a change; cleared by the next review decision.
 */
reauth_reason: string | null, reauth_since: string | null, 
/**
 * A review date a registration file reported: history, never a certification.
 */
reviewed_elsewhere_at: string | null, };

export type Approval = { scope: string, justification: string | null, approved_by: Person | null, 
/**
 * Whether the granted scopes include this access.
 */
granted: boolean, info: ScopeInfo, };

export type Credential = { id: number, kind: CredentialKind, fingerprint: string, issued_at: string | null, expires_at: string | null, last_used_at: string | null, rotated_at: string | null, revoked_at: string | null, 
/**
 * Other identities holding the same fingerprint (credential reuse).
 */
reused_by: number, };

export type IdentitySort = "name" | "kind" | "environment" | "business_owner" | "technical_owner" | "purpose" | "granted_scopes" | "next_review_due" | "status";

export type IdentityFilter = { environment: Environment | null, kind: Kind | null, status: Status | null, 
/**
 * Case-insensitive text found in name, client_id, vendor, purpose or an owner's name.
 */
search: string | null, 
/**
 * Only identities this person (id) owns, as business or technical owner.
 */
owner: number | null, sort: IdentitySort, descending: boolean, limit: number | null, offset: number | null, };

export type IdentityPage = { total: number, rows: Array<Identity>, };

export type IdentityDetail = { approvals: Array<Approval>, grants: Array<Grant>, scope_diff: ScopeDiff, credentials: Array<Credential>, history: Array<AuditEntry>, id: number, client_id: string, name: string, kind: Kind, environment: Environment, status: Status, vendor: string | null, business_owner: Person | null, technical_owner: Person | null, purpose: string | null, use_case: string | null, approved_scopes: Array<string>, granted_scopes: Array<string>, 
/**
 * Risk of the granted scopes (see `scope::explain`).
 */
risk_score: number, 
/**
 * `low`, `medium` or `high`.
 */
risk_tier: string, 
/**
 * How often it is recertified (see `review::tier`).
 */
review_tier: Tier, auth_method: string | null, access_token_lifetime_s: number | null, refresh_token_lifetime_s: number | null, jwks_uri: string | null, revocation_endpoint: string | null, last_used_at: string | null, last_reviewed_at: string | null, next_review_due: string | null, created_at: string, updated_at: string, 
/**
 * An AI or autonomous agent (NIST AI RMF applies to its findings).
 */
ai_agent: boolean, 
/**
 * Why its certification expired on a change; cleared by the next review decision.
 */
reauth_reason: string | null, reauth_since: string | null, 
/**
 * A review date a registration file reported: history, never a certification.
 */
reviewed_elsewhere_at: string | null, };

export type IdentityRef = { key: string, environment: Environment | null, };

export type NewIdentity = { client_id: string, environment: Environment | null, name: string | null, kind: Kind | null, vendor: string | null, business_owner: string | null, technical_owner: string | null, purpose: string | null, use_case: string | null, 
/**
 * Space-separated.
 */
approved_scopes: string | null, 
/**
 * Space-separated.
 */
granted_scopes: string | null, auth_method: string | null, access_token_lifetime_s: number | null, refresh_token_lifetime_s: number | null, jwks_uri: string | null, revocation_endpoint: string | null, ai_agent: boolean | null, };

export type IdentityEdit = { name: string | null, kind: Kind | null, vendor: string | null, business_owner: string | null, technical_owner: string | null, purpose: string | null, use_case: string | null, 
/**
 * Space-separated.
 */
approved_scopes: string | null, 
/**
 * Space-separated.
 */
granted_scopes: string | null, auth_method: string | null, access_token_lifetime_s: number | null, refresh_token_lifetime_s: number | null, jwks_uri: string | null, revocation_endpoint: string | null, ai_agent: boolean | null, };

export type EvidenceFilter = { 
/**
 * Audit entries from this time (RFC 3339).
 */
since: string | null, 
/**
 * Audit entries up to this time (RFC 3339).
 */
until: string | null, environment: Environment | null, 
/**
 * Only this recertification campaign's reviews and decisions.
 */
campaign: number | null, };

export type AuditEntry = { seq: number, at: string, actor: string, action: string, subject: string, details: Record<string, unknown>, prev_hash: string, hash: string, };

export type ChainStatus = { entries: number, head_hash: string, 
/**
 * Signed checkpoints the chain was checked against (the database's and the file's).
 */
checkpoints: number, 
/**
 * The file of checkpoints kept outside the database that was read, if there is one.
 */
checkpoints_file: string | null, };

export type AuditQuery = { 
/**
 * Only entries about this subject (`identity:42`).
 */
subject: string | null, 
/**
 * At most this many, newest first (default: all).
 */
limit: number | null, 
/**
 * Only this action (`identity.create`), or every action under a prefix ending in `.`
 * (`review.`).
 */
action: string | null, 
/**
 * Only entries by this actor (an OS user or a database login).
 */
actor: string | null, 
/**
 * From this time (RFC 3339), inclusive.
 */
since: string | null, 
/**
 * Up to this time (RFC 3339), inclusive.
 */
until: string | null, };

export type Format = "steward_csv" | "rfc7591" | "keycloak_realm";

export type ImportSummary = { file: string, format: Format, records: number, created: number, updated: number, unchanged: number, skipped: Array<string>, warnings: Array<string>, 
/**
 * What each record does (or, in a preview, would do).
 */
changes: Array<ImportChange>, 
/**
 * A preview: nothing was written.
 */
dry_run: boolean, };

export type DemoSummary = { identities: number, people: number, scopes: number, credentials: number, 
/**
 * The demo recertification campaign, when there is production access to review.
 */
campaign: number | null, };

export type Context = "patient" | "user" | "system";

export type RiskTrait = "bulk_export" | "system_level" | "wildcard_resource" | "delete" | "write" | "sensitive_unrestricted" | "refresh";

export type RiskReason = { risk_trait: RiskTrait, points: number, scopes: Array<string>, };

export type RiskReport = { score: number, 
/**
 * `low`, `medium` or `high`.
 */
tier: string, reasons: Array<RiskReason>, };

export type ScopeInfo = { 
/**
 * As given.
 */
scope: string, valid: boolean, 
/**
 * `patient`, `user` or `system` for resource scopes; null otherwise.
 */
context: Context | null, 
/**
 * The resource type or `*`; for non-resource scopes the scope itself.
 */
resource: string | null, 
/**
 * Canonical letters in `cruds` order, for resource scopes.
 */
perms: string | null, query: string | null, error: string | null, 
/**
 * SMART v2 canonical spelling.
 */
canonical: string | null, explanation: string, traits: Array<RiskTrait>, };

export type ScopeDiff = { 
/**
 * Granted access no approved scope covers (canonical).
 */
beyond_approved: Array<string>, 
/**
 * Approved access the grant does not include.
 */
approved_not_granted: Array<string>, granted_risk: RiskReport, approved_risk: RiskReport, 
/**
 * Scope strings on either side that are not SMART scopes.
 */
invalid: Array<string>, };

export type Grant = { scope: string, approved: boolean, info: ScopeInfo, };

export type Decision = { allowed: boolean, 
/**
 * The scope(s) that allowed it, space-separated.
 */
by: string | null, reason: string, };

export type Severity = "low" | "medium" | "high" | "critical";

export type FindingStatus = "open" | "accepted";

export type Finding = { 
/**
 * Stable id: `<rule>:<identity_id>`.
 */
id: string, rule: string, severity: Severity, identity_id: number, client_id: string, environment: Environment, name: string, 
/**
 * What was seen, specifically.
 */
evidence: string, 
/**
 * What to do about it.
 */
remediation: string, 
/**
 * Control ids: `NHI5:2025`, `PR.AA-05`, ...
 */
frameworks: Array<string>, status: FindingStatus, accepted_until: string | null, };

export type FindingFilter = { identity_id: number | null, rule: string | null, severity: Severity | null, 
/**
 * Include accepted findings (default: open only).
 */
include_accepted: boolean, };

export type Mapping = { rule: string, framework: string, control: string, };

export type Template = { key: string, name: string, description: string, kinds: Array<Kind>, 
/**
 * The scopes the purpose justifies at most; `None`: no template limit (`custom`).
 */
max_scopes: Array<string> | null, allow_offline_access: boolean, allow_bulk_export: boolean, max_access_token_lifetime_s: number | null, expected_auth_method: string | null, updated_at: string, };

export type TemplateEdit = { name: string | null, description: string | null, kinds: Array<Kind> | null, 
/**
 * Space-separated SMART scopes; an empty string removes the limit.
 */
max_scopes: string | null, allow_offline_access: boolean | null, allow_bulk_export: boolean | null, max_access_token_lifetime_s: number | null, expected_auth_method: string | null, };

export type AcceptRequest = { finding: string, until: string, reason: string, 
/**
 * The signed-in person accepts; naming anyone else is refused.
 */
approver: string | null, };

export type Count = { label: string, count: number, };

export type EnvironmentKinds = { environment: Environment, kinds: Array<Count>, };

export type PosturePoint = { day: string, least_privilege_pct: number, open_findings: number, identities: number, };

export type Dashboard = { identities: number, open_findings: number, by_environment: Array<EnvironmentKinds>, findings_by_severity: Array<Count>, 
/**
 * Open findings per framework control, most first.
 */
findings_by_control: Array<Count>, reviews_overdue: number, reviews_due_30_days: number, 
/**
 * Share of evaluated identities with no least-privilege finding (granted beyond approval
 * or beyond their template), in percent.
 */
least_privilege_pct: number, history: Array<PosturePoint>, };

export type BagSummary = { dir: string, files: Array<string>, payload_bytes: number, key_fingerprint: string, };

export type CheckName = "key" | "signature" | "minisign" | "file_set" | "tag_checksums" | "payload_checksums" | "audit_chain" | "checkpoints";

export type Check = { name: CheckName, passed: boolean, 
/**
 * What is wrong, each naming the file.
 */
problems: Array<string>, };

export type BagVerification = { key_fingerprint: string, payload_files: number, audit_entries: number, checkpoints: number, 
/**
 * Every check, in the order VERIFY.md takes them.
 */
checks: Array<Check>, };

export type Checkpoint = { seq: number, head_hash: string, at: string, 
/**
 * The previous checkpoint's signature (hex), chaining checkpoints together.
 */
prev_signature: string | null, key_fingerprint: string, 
/**
 * Hex Ed25519 signature over [`Checkpoint::message`].
 */
signature: string, };

export type KeyInfo = { 
/**
 * `keychain` (the OS keychain) or `file` (a 0600 file beside the database).
 */
storage: string, 
/**
 * The file's path, or the keychain service and account.
 */
location: string, fingerprint: string, public_pem: string, 
/**
 * Every key that has signed here, newest last (rotation keeps old ones).
 */
known: Array<string>, };

export type Tier = "high" | "medium" | "low";

export type ReviewDecision = "certify" | "reduce" | "revoke" | "reassign" | "no_change";

export type ItemState = "open" | "escalated" | "decided";

export type DeadlineDefault = "no_change" | "revoke" | "recommendation";

export type CampaignState = "open" | "closed";

export type Intervals = { high_days: number, medium_days: number, low_days: number, };

export type ReviewPolicy = { intervals: Intervals, 
/**
 * Items still open this many days before the deadline get a reminder.
 */
remind_days: number, 
/**
 * Items still open this many days before the deadline go to the fallback reviewer.
 */
escalate_days: number, 
/**
 * Days a re-authorization item has before it is due.
 */
reauth_days: number, deadline_default: DeadlineDefault, fallback_reviewer: Person | null, 
/**
 * Days between revocation drills, by review tier.
 */
drill_intervals: Intervals, 
/**
 * The longest a risk acceptance may last, in days.
 */
acceptance_max_days: number, updated_at: string | null, };

export type PolicyEdit = { high_days: number | null, medium_days: number | null, low_days: number | null, remind_days: number | null, escalate_days: number | null, reauth_days: number | null, deadline_default: DeadlineDefault | null, 
/**
 * Email or person id.
 */
fallback_reviewer: string | null, drill_high_days: number | null, drill_medium_days: number | null, drill_low_days: number | null, acceptance_max_days: number | null, };

export type CampaignFilter = { environment: Environment | null, kind: Kind | null, tier: Tier | null, 
/**
 * Only identities whose review is due before this date (RFC 3339 or YYYY-MM-DD).
 */
due_before: string | null, 
/**
 * Only identities this person (email or id) owns, on either side.
 */
owner: string | null, vendor: string | null, };

export type NewCampaign = { name: string, 
/**
 * RFC 3339 or YYYY-MM-DD (end of that day, UTC).
 */
deadline: string, filter: CampaignFilter, 
/**
 * Email or id; default: the policy's fallback reviewer.
 */
fallback_reviewer: string | null, 
/**
 * Default: the policy's deadline default.
 */
deadline_default: DeadlineDefault | null, };

export type Progress = { total: number, open: number, escalated: number, decided: number, 
/**
 * Undecided items past their due date.
 */
overdue: number, certified: number, reduced: number, revoked: number, no_change: number, };

export type ReviewerProgress = { reviewer: Person | null, open: number, decided: number, };

export type Campaign = { id: number, name: string, filter: CampaignFilter, deadline: string, deadline_default: DeadlineDefault, fallback_reviewer: Person | null, state: CampaignState, created_at: string, created_by: string, closed_at: string | null, progress: Progress, reviewers: Array<ReviewerProgress>, };

export type Attestation = { person: Person, role: OwnerRole, purpose: string, 
/**
 * scope -> why, as the owner wrote them.
 */
justifications: { [key in string]: string }, at: string, };

export type Item = { id: number, campaign_id: number | null, campaign: string | null, identity_id: number, client_id: string, name: string, environment: Environment, kind: Kind, tier: Tier, 
/**
 * `campaign`, or why re-authorization is needed.
 */
reason: string, reviewer: Person | null, state: ItemState, due: string, created_at: string, reminded_at: string | null, escalated_at: string | null, decision: ReviewDecision | null, decided_at: string | null, 
/**
 * Whether an owner attested purpose and justifications since the item opened.
 */
attested: boolean, };

export type DecisionRecord = { id: number, item_id: number, decision: ReviewDecision, 
/**
 * None when the campaign's deadline default decided.
 */
reviewer: Person | null, comment: string, removed_scopes: Array<string>, new_owner: Person | null, at: string, };

export type DecideRequest = { item: number, decision: ReviewDecision, 
/**
 * Granted scopes to remove (`reduce`).
 */
remove_scopes: Array<string>, 
/**
 * Email or id of the new business owner (`reassign`).
 */
new_owner: string | null, comment: string, 
/**
 * Who decides is the signed-in person; naming anyone else here is refused.
 */
reviewer: string | null, 
/**
 * The item's version the decision was made from (see `ItemDetail::version`): refused if
 * the item changed since. `None` decides whatever the item's version.
 */
version: number | null, };

export type AttestRequest = { 
/**
 * Who attests is the signed-in person; naming anyone else here is refused.
 */
person: string | null, purpose: string, 
/**
 * (approved scope, why).
 */
justifications: Array<[string, string]>, };

export type ItemQuery = { campaign: number | null, reviewer: number | null, state: ItemState | null, identity: number | null, item: number | null, };

export type ItemDetail = { item: Item, identity: IdentityDetail, findings: Array<Finding>, 
/**
 * Granted scopes the wizard pre-selects for removal.
 */
recommended_removals: Array<string>, 
/**
 * Granted scopes beyond the use-case template.
 */
beyond_template: Array<string>, template: Template | null, attestation: Attestation | null, decisions: Array<DecisionRecord>, 
/**
 * The wizard's saved draft (JSON), if any.
 */
draft: string | null, 
/**
 * The item's version as shown: a draft saved or a decision made from it names it, and
 * is refused if someone changed the item meanwhile.
 */
version: number, 
/**
 * Granted scopes when the item opened.
 */
granted_at_start: Array<string>, };

export type EscalationSummary = { 
/**
 * Item ids that got a reminder.
 */
reminded: number[], 
/**
 * Item ids moved to the fallback reviewer.
 */
escalated: number[], 
/**
 * (item id, decision) where the deadline default applied.
 */
defaulted: [number, ReviewDecision][], };

export type BadLine = { line: number, message: string, };

export type AuditImportSummary = { file: string, environment: Environment, content_hash: string, 
/**
 * True when this content was imported before: nothing was written.
 */
already_imported: boolean, calls: number, 
/**
 * Distinct (client, day, context, type, interaction, outcome) rows written (none when
 * the content was imported before).
 */
aggregates: number, 
/**
 * Events that are not REST calls (logins, logouts, ...).
 */
not_rest: number, malformed: number, 
/**
 * The first malformed lines.
 */
bad: Array<BadLine>, 
/**
 * (client_id, calls) of clients the inventory does not know; "" is a call that named
 * no client.
 */
unknown_clients: [string, number][], };

export type TokenImportSummary = { file: string, 
/**
 * `keycloak` or `csv`.
 */
format: string, content_hash: string, already_imported: boolean, events: number, 
/**
 * Count per event kind.
 */
by_kind: Record<string, number>, 
/**
 * Events of clients the inventory does not know (kept, not tied to an identity).
 */
unknown_client: number, skipped: number, 
/**
 * (location, what is wrong).
 */
bad: [string, string][], };

export type TraceClass = "traced" | "unjustified" | "outside_grant" | "unowned" | "unknown_client";

export type ClassCounts = { total_calls: number, traced: number, unjustified: number, outside_grant: number, unowned: number, unknown_client: number, };

export type IdentityTrace = { identity_id: number | null, client_id: string, name: string | null, environment: Environment, total_calls: number, traced: number, unjustified: number, outside_grant: number, unowned: number, unknown_client: number, };

export type Offender = { identity_id: number | null, client_id: string, environment: Environment, context: Context, resource_type: string, interaction: string, class: TraceClass, calls: number, };

export type TraceReport = { since: string | null, until: string | null, 
/**
 * Share of calls traced, 0-100 (100 when there are no calls).
 */
traced_percent: number, 
/**
 * Calls whose event named no patient or person as its requestor, classed by the
 * context of the scopes their token was issued with.
 */
context_by_token: number, 
/**
 * Calls whose event named no patient or person as its requestor and whose token Steward
 * does not hold, classed by the context the calling identity's kind makes possible.
 */
context_by_identity: number, identities: Array<IdentityTrace>, 
/**
 * The largest untraced rows, most calls first.
 */
top: Array<Offender>, total_calls: number, traced: number, unjustified: number, outside_grant: number, unowned: number, unknown_client: number, };

export type UsageCell = { resource_type: string, interaction: string, context: Context, calls: number, failures: number, last_seen: string, };

export type TokenEventKind = "issued" | "refreshed" | "revoked" | "scope_changed" | "failed";

export type TokenEvent = { id: number, identity_id: number | null, client_id: string, environment: Environment, at: string, event: TokenEventKind, source: string, scopes: string | null, token_fingerprint: string | null, expires_in: number | null, error: string | null, };

export type IdentityUsage = { identity_id: number, since: string, days: number, calls: number, failures: number, last_used_at: string | null, cells: Array<UsageCell>, 
/**
 * The smallest scopes that allow every successful call of the window.
 */
used_scopes: Array<string>, granted_scopes: Array<string>, 
/**
 * Granted resource scopes no successful call of the window needed: the basis for
 * right-sizing (launch and identity scopes are not judged).
 */
granted_unused: Array<string>, approved_scopes: Array<string>, token_events: Array<TokenEvent>, };

export type Whoami = { 
/**
 * The bound person, or none while the account is unbound.
 */
person: Person | null, 
/**
 * The OS user (workstation) or the database login (team).
 */
os_user: string, roles: Array<string>, 
/**
 * `sqlite` or `postgres`.
 */
engine: string, };

export type ServerKind = "oauth" | "keycloak";

export type Connection = { id: number, environment: Environment, issuer: string, kind: ServerKind, realm: string | null, fhir_base: string | null, token_endpoint: string, revocation_endpoint: string | null, introspection_endpoint: string | null, registration_endpoint: string | null, grant_types: Array<string>, auth_methods: Array<string>, scopes_supported: Array<string>, metadata_sources: Array<string>, discovered_at: string, last_sync_at: string | null, 
/**
 * The Keycloak admin client (its client id) whose secret Steward holds.
 */
admin_client_id: string | null, };

export type Change = { client_id: string, field: string, inventory: string, server: string, };

export type ConnectAdd = { environment: Environment, issuer: string, kind: ServerKind | null, realm: string | null, fhir_base: string | null, 
/**
 * Keycloak: the client id of the admin (service account) client Steward signs in as.
 */
admin_client_id: string | null, };

export type SyncReport = { environment: string, clients_read: number, unknown_on_server: Array<string>, missing_on_server: Array<string>, changed: Array<Change>, 
/**
 * Clients Steward could not read (no registration access token, an error), with why.
 */
unread: Array<Unread>, token_events: number, applied: boolean, };

export type Unread = { client_id: string, reason: string, };

export type Enforced = { task_id: number, identity_id: number, client_id: string, environment: string, action: string, 
/**
 * The calls made (or planned): `PUT https://...`.
 */
calls: Array<string>, 
/**
 * `done`, `pending` (failed, will be tried again) or `planned` (dry run).
 */
state: string, confirmed: string | null, error: string | null, };

export type EnforceReport = { tasks: Array<Enforced>, done: number, failed: number, dry_run: boolean, };

export type Task = { id: number, identity_id: number, client_id: string, environment: Environment, decision_id: number | null, action: string, 
/**
 * The scopes the server should keep (`reduce`).
 */
scopes: string | null, state: string, attempts: number, last_error: string | null, confirmed: string | null, created_at: string, done_at: string | null, };

export type Step = { 
/**
 * `token`, `introspect`, `fhir_before`, `revoke`, `introspect_after`, `fhir_after`.
 */
step: string, at: string, 
/**
 * `ok`, `failed` (the server did what a working revocation must not) or `error`.
 */
status: string, 
/**
 * The HTTP status of the step's last answer.
 */
http_status: number | null, ms: number, detail: string | null, };

export type Outcome = "passed" | "failed" | "error";

export type DrillReport = { identity_id: number, client_id: string, environment: string, at: string, steps: Array<Step>, active_before: boolean | null, active_after: boolean | null, revoke_to_inactive_ms: number | null, outcome: Outcome, error: string | null, };

export type DrillOptions = { 
/**
 * Drill a production client that is not marked drillable (audited).
 */
allow_production: boolean, 
/**
 * How long to wait for the revoked token to turn inactive (default 30 s).
 */
bound_ms: number | null, };

export type Registration = { identity_id: number, client_id: string, registration_client_uri: string | null, scopes: Array<string>, };

export type SecretKind = "client_secret" | "private_key" | "registration_token" | "admin_secret";

export type HeldRow = { subject: string, kind: SecretKind, fingerprint: string, kid: string | null, 
/**
 * `keychain` or `file`.
 */
store: string, 
/**
 * The keychain account or the file.
 */
location: string, set_at: string, set_by: string, };

export type HeldCredential = { subject: string, kind: SecretKind, fingerprint: string, kid: string | null, 
/**
 * `keychain` or `file`.
 */
store: string, 
/**
 * The keychain account or the file.
 */
location: string, set_at: string, set_by: string, };

export type ImportChange = { client_id: string, environment: Environment, 
/**
 * `created`, `updated` or `unchanged`.
 */
outcome: string, 
/**
 * The fields it changes.
 */
fields: Array<string>, 
/**
 * Why review reopens (a purpose, use case or scope increase on a certified identity).
 */
reopens: string | null, };

export type StartState = { 
/**
 * The database holds nothing yet (no identity, no audit entry).
 */
empty: boolean, 
/**
 * The window works on the demo database.
 */
demo: boolean, 
/**
 * `sqlite` or `postgres`.
 */
engine: string, };

export type About = { 
/**
 * The version and the commit it was built from.
 */
version: string, 
/**
 * `sqlite` or `postgres`.
 */
engine: string, 
/**
 * The database's file, or the team database's URL without its password.
 */
database: string, 
/**
 * The newest schema migration applied to the database.
 */
schema: number, };

export type QueueCounts = { 
/**
 * Open items assigned to them (escalated ones included).
 */
open: number, 
/**
 * Open items due within the policy's reminder window.
 */
due_soon: number, 
/**
 * Open items past their due date.
 */
overdue: number, 
/**
 * Items escalated to them.
 */
escalated: number, };

export type RosterSummary = { 
/**
 * People added.
 */
added: Array<string>, 
/**
 * People the roster marks as gone (they have left the organization).
 */
departed: Array<string>, 
/**
 * People the roster marks as back.
 */
returned: Array<string>, unchanged: number, dry_run: boolean, };
