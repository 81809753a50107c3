import type { Environment, Kind, RiskTrait, Status } from "../bindings";

export const KIND_LABEL: Record<Kind, string> = {
  patient_app: "Patient app",
  clinician_app: "Clinician app",
  backend_service: "Backend service",
  service_account: "Service account",
};

export const ENVIRONMENT_LABEL: Record<Environment, string> = {
  sandbox: "Sandbox",
  staging: "Staging",
  production: "Production",
};

export const STATUS_LABEL: Record<Status, string> = {
  pending: "Pending",
  active: "Active",
  suspended: "Suspended",
  revoked: "Revoked",
  retired: "Retired",
};

export const KINDS = Object.keys(KIND_LABEL) as Kind[];
export const ENVIRONMENTS = Object.keys(ENVIRONMENT_LABEL) as Environment[];
export const STATUSES = Object.keys(STATUS_LABEL) as Status[];

/** `2026-11-28T12:00:00Z` → `2026-11-28`; empty for none. */
export function day(timestamp: string | null): string {
  return timestamp ? timestamp.slice(0, 10) : "";
}

/** True when a due date has passed. */
export function overdue(due: string | null, now: Date = new Date()): boolean {
  return due !== null && new Date(due).getTime() < now.getTime();
}

/** Seconds as a short human duration: 300 → 5 min, 2592000 → 30 d. */
export function duration(seconds: number | null): string {
  if (seconds === null) return "—";
  if (seconds % 86400 === 0) return `${seconds / 86400} d`;
  if (seconds % 3600 === 0) return `${seconds / 3600} h`;
  if (seconds % 60 === 0) return `${seconds / 60} min`;
  return `${seconds} s`;
}

export const TRAIT_LABEL: Record<RiskTrait, string> = {
  bulk_export: "bulk export",
  system_level: "system-level",
  wildcard_resource: "wildcard",
  delete: "delete",
  write: "write",
  sensitive_unrestricted: "sensitive, unrestricted",
  refresh: "refresh token",
};
