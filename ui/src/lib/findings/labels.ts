import type { Severity } from "../bindings";

export const SEVERITIES: Severity[] = ["critical", "high", "medium", "low"];

export const RULE_LABEL: Record<string, string> = {
  "granted-beyond-approved": "Granted beyond approval",
  "beyond-template": "Beyond its purpose template",
  "unjustified-approval": "Approved without justification",
  "owner-missing": "Owner missing",
  "owner-departed": "Owner has left",
  "purpose-missing": "No purpose statement",
  "token-lifetime": "Token lifetime above policy",
  "refresh-on-backend": "Refresh tokens on a backend service",
  "offline-not-allowed": "offline_access not allowed",
  "secret-auth": "Client secret where a key is expected",
  "secret-stale": "Secret not rotated or expired",
  "credential-reuse": "Credential shared across environments",
  "client-id-reuse": "client_id shared across environments",
  "review-overdue": "Review overdue",
  "never-reviewed": "Never reviewed",
  dormant: "Dormant",
  "revocation-path-missing": "No revocation path",
  "unknown-use-case": "Unknown use case",
  "reauthorization-pending": "Re-authorization pending",
  "revocation-ineffective": "Revocation does not take effect",
  "revocation-untested": "Revocation not drilled",
  "unregistered-client": "Client unknown to the inventory",
  "missing-on-server": "Client gone from the server",
  "server-no-revocation": "Server cannot revoke tokens",
  "server-no-introspection": "Server cannot introspect tokens",
};

export function ruleLabel(rule: string): string {
  return RULE_LABEL[rule] ?? rule;
}
