// Typed calls into the desktop shell. Every command is `noun_verb` on the Rust side; errors
// arrive as `{code, message}` and the UI branches on `code` only.
import { invoke } from "@tauri-apps/api/core";
import type {
  AcceptRequest,
  ApiError,
  BagSummary,
  BagVerification,
  Checkpoint,
  KeyInfo,
  Dashboard,
  Finding,
  FindingFilter,
  Template,
  TemplateEdit,
  AuditEntry,
  AuditQuery,
  ChainStatus,
  IdentityDetail,
  IdentityFilter,
  IdentityPage,
  IdentityRef,
  Person,
  Campaign,
  NewCampaign,
  Item,
  ItemQuery,
  ItemDetail,
  DecideRequest,
  AttestRequest,
  ReviewPolicy,
  AuditImportSummary,
  TokenImportSummary,
  TraceReport,
  IdentityUsage,
  Environment,
  Whoami,
  OwnerRole,
  StartState,
  RosterSummary,
  PolicyEdit,
  EscalationSummary,
  QueueCounts,
  NewIdentity,
  ImportSummary,
  Connection,
  ConnectAdd,
  SyncReport,
  Task,
  EnforceReport,
  DrillReport,
  DrillOptions,
} from "./bindings";

function isApiError(e: unknown): e is ApiError {
  return typeof e === "object" && e !== null && "code" in e && "message" in e;
}

async function call<T>(command: string, args?: Record<string, unknown>): Promise<T> {
  try {
    return await invoke<T>(command, args);
  } catch (e) {
    if (isApiError(e)) throw e;
    const failure: ApiError = { code: "storage", message: String(e) };
    throw failure;
  }
}

export const api = {
  startState: () => call<StartState>("start_state"),
  startDemo: () => call<StartState>("start_demo"),
  identityList: (filter: IdentityFilter) => call<IdentityPage>("identity_list", { filter }),
  identityShow: (reference: IdentityRef) => call<IdentityDetail>("identity_show", { reference }),
  personList: () => call<Person[]>("person_list"),
  whoami: () => call<Whoami>("whoami"),
  personBind: (spec: string) => call<Whoami>("person_bind", { spec }),
  auditLog: (query: AuditQuery) => call<AuditEntry[]>("audit_log", { query }),
  auditVerify: () => call<ChainStatus>("audit_verify"),
  dashboard: () => call<Dashboard>("dashboard"),
  findingsList: (filter: FindingFilter) => call<Finding[]>("findings_list", { filter }),
  findingAccept: (request: AcceptRequest) => call<Finding>("finding_accept", { request }),
  templateList: () => call<Template[]>("template_list"),
  templateEdit: (key: string, edit: TemplateEdit) => call<Template>("template_edit", { key, edit }),
  templateCreate: (key: string, edit: TemplateEdit) => call<Template>("template_create", { key, edit }),
  templateDelete: (key: string) => call<void>("template_delete", { key }),
  evidenceExport: (out: string) => call<BagSummary>("evidence_export", { out }),
  evidenceKey: () => call<KeyInfo>("evidence_key_show"),
  evidenceVerify: (dir: string) => call<BagVerification>("evidence_verify", { dir }),
  auditCheckpoint: () => call<Checkpoint>("audit_checkpoint"),
  auditCheckpoints: () => call<Checkpoint[]>("audit_checkpoints"),
  campaignList: () => call<Campaign[]>("campaign_list"),
  campaignCreate: (campaign: NewCampaign) => call<Campaign>("campaign_create", { campaign }),
  campaignClose: (id: number) => call<Campaign>("campaign_close", { id }),
  campaignReport: (id: number, out: string) => call<number>("campaign_report", { id, out }),
  reviewItems: (query: ItemQuery) => call<Item[]>("review_items", { query }),
  reviewItemShow: (id: number) => call<ItemDetail>("review_item_show", { id }),
  reviewDecide: (request: DecideRequest) => call<Item>("review_decide", { request }),
  reviewDraftSave: (id: number, draft: string | null, version: number | null) =>
    call<number>("review_draft_save", { id, draft, version }),
  identityAttest: (reference: IdentityRef, request: AttestRequest) =>
    call<IdentityDetail>("identity_attest", { reference, request }),
  identityAdd: (identity: NewIdentity) => call<IdentityDetail>("identity_add", { identity }),
  identityRetire: (reference: IdentityRef, reason: string | null) =>
    call<IdentityDetail>("identity_retire", { reference, reason }),
  personAdd: (spec: string) => call<Person>("person_add", { spec }),
  peopleImportRoster: (path: string, dryRun: boolean) =>
    call<RosterSummary>("people_import_roster", { path, dryRun }),
  personDesignations: () => call<[number, number][]>("person_designations"),
  personSetReviewer: (person: string, reviewer: string | null) =>
    call<Person>("person_set_reviewer", { person, reviewer }),
  reviewPolicyEdit: (edit: PolicyEdit) => call<ReviewPolicy>("review_policy_edit", { edit }),
  personSetActive: (spec: string, active: boolean) => call<Person>("person_set_active", { spec, active }),
  registrationsImport: (path: string, environment: Environment | null, dryRun: boolean) =>
    call<ImportSummary>("registrations_import", { path, environment, dryRun }),
  identitySetOwner: (reference: IdentityRef, role: OwnerRole, person: string) =>
    call<IdentityDetail>("identity_set_owner", { reference, role, person }),
  reviewPolicy: () => call<ReviewPolicy>("review_policy"),
  reviewEscalate: () => call<EscalationSummary>("review_escalate"),
  reviewQueueCounts: () => call<QueueCounts>("review_queue_counts"),
  usageImportAudit: (path: string, environment: Environment) =>
    call<AuditImportSummary>("usage_import_audit", { path, environment }),
  usageImportTokens: (path: string, environment: Environment) =>
    call<TokenImportSummary>("usage_import_tokens", { path, environment }),
  usageImportCancel: () => call<void>("usage_import_cancel"),
  trace: (days: number) => call<TraceReport>("trace", { days }),
  usageShow: (reference: IdentityRef, days: number) => call<IdentityUsage>("usage_show", { reference, days }),
  connectList: () => call<Connection[]>("connect_list"),
  connectAdd: (request: ConnectAdd) => call<Connection>("connect_add", { request }),
  connectDiscover: (environment: Environment) => call<Connection>("connect_discover", { environment }),
  connectSync: (environment: Environment, dryRun: boolean) =>
    call<SyncReport>("connect_sync", { environment, dryRun }),
  jobCancel: () => call<void>("job_cancel"),
  enforcementPending: (environment: Environment | null) =>
    call<Task[]>("enforcement_pending", { environment }),
  enforce: (environment: Environment | null, dryRun: boolean) =>
    call<EnforceReport>("enforce", { environment, dryRun }),
  identityDrill: (reference: IdentityRef, options: DrillOptions) =>
    call<DrillReport>("identity_drill", { reference, options }),
  identityDrills: (reference: IdentityRef) => call<DrillReport[]>("identity_drills", { reference }),
};

export function errorText(e: unknown): string {
  return isApiError(e) ? e.message : String(e);
}
