-- Why: posture findings. Use-case templates state the most a purpose justifies (scopes,
-- refresh tokens, bulk export, token lifetime, auth method); the rule-to-framework mapping is
-- data an auditor can read and export; accepted risks are recorded with an approver and an
-- end date.

CREATE TABLE use_case_template (
    key                          TEXT PRIMARY KEY CHECK (key <> ''),
    name                         TEXT NOT NULL,
    description                  TEXT NOT NULL,
    -- Space-separated identity kinds the template applies to.
    kinds                        TEXT NOT NULL,
    -- Space-separated SMART scopes the purpose justifies at most; NULL: no template limit.
    max_scopes                   TEXT,
    allow_offline_access         INTEGER NOT NULL CHECK (allow_offline_access IN (0, 1)),
    allow_bulk_export            INTEGER NOT NULL CHECK (allow_bulk_export IN (0, 1)),
    max_access_token_lifetime_s  INTEGER CHECK (max_access_token_lifetime_s > 0),
    -- The token endpoint auth method the template expects, if any.
    expected_auth_method         TEXT,
    updated_at                   TEXT NOT NULL
);

INSERT INTO use_case_template VALUES
('patient-engagement-readonly', 'Patient engagement, read-only',
 'A patient-facing app that shows the patient their own record and never changes it.',
 'patient_app',
 'openid fhirUser profile launch launch/patient patient/Patient.rs patient/Observation.rs patient/Condition.rs patient/AllergyIntolerance.rs patient/MedicationRequest.rs patient/MedicationStatement.rs patient/Immunization.rs patient/Procedure.rs patient/DiagnosticReport.rs patient/DocumentReference.rs patient/Encounter.rs patient/CarePlan.rs patient/Goal.rs patient/Device.rs',
 1, 0, 3600, NULL, '2026-11-28T00:00:00Z'),
('scheduling', 'Scheduling',
 'Books, moves and cancels appointments for a patient or on behalf of clinic staff.',
 'patient_app clinician_app',
 'openid fhirUser launch launch/patient patient/Patient.r patient/Appointment.cruds patient/Slot.rs patient/Schedule.rs patient/Practitioner.rs patient/Location.rs user/Patient.rs user/Appointment.cruds user/Slot.rs user/Schedule.rs user/Practitioner.rs user/Location.rs',
 0, 0, 3600, NULL, '2026-11-28T00:00:00Z'),
('clinical-decision-support', 'Clinical decision support',
 'Reads the chart in the clinician''s context to advise; writes nothing.',
 'clinician_app',
 'openid fhirUser launch launch/patient launch/encounter user/Patient.rs user/Observation.rs user/Condition.rs user/MedicationRequest.rs user/MedicationStatement.rs user/AllergyIntolerance.rs user/Encounter.rs user/Procedure.rs user/DiagnosticReport.rs',
 0, 0, 3600, NULL, '2026-11-28T00:00:00Z'),
('population-health-analytics', 'Population health and analytics',
 'A backend service that bulk-exports a cohort for quality measures and analytics.',
 'backend_service',
 'system/Patient.rs system/Group.rs system/Observation.rs system/Condition.rs system/Encounter.rs system/MedicationRequest.rs system/Procedure.rs system/Immunization.rs system/Coverage.rs',
 0, 1, 300, 'private_key_jwt', '2026-11-28T00:00:00Z'),
('research-integration', 'Research integration',
 'Feeds consented research participants'' data to a research platform.',
 'backend_service',
 'system/ResearchStudy.rs system/ResearchSubject.rs system/Patient.rs system/Observation.rs system/Condition.rs system/Specimen.rs system/Consent.rs',
 0, 1, 300, 'private_key_jwt', '2026-11-28T00:00:00Z'),
('hie-exchange', 'Health information exchange',
 'Publishes and retrieves clinical documents with a health information exchange.',
 'backend_service service_account',
 'system/Patient.rs system/DocumentReference.rs system/Binary.r system/Composition.rs system/Encounter.rs',
 0, 0, 300, 'private_key_jwt', '2026-11-28T00:00:00Z'),
('adt-feed', 'ADT feed',
 'Writes admissions, discharges and transfers from an interface engine.',
 'backend_service service_account',
 'system/Patient.rs system/Encounter.cud system/Location.rs',
 0, 0, 300, 'private_key_jwt', '2026-11-28T00:00:00Z'),
('custom', 'Custom',
 'No template limits: the identity relies on its approved scopes alone.',
 'patient_app clinician_app backend_service service_account',
 NULL, 1, 1, NULL, NULL, '2026-11-28T00:00:00Z');

CREATE TABLE framework_mapping (
    rule      TEXT NOT NULL,
    framework TEXT NOT NULL CHECK (framework IN ('OWASP NHI Top 10 2025', 'NIST CSF 2.0', 'NIST AI RMF 1.0')),
    control   TEXT NOT NULL,
    PRIMARY KEY (rule, framework, control)
) WITHOUT ROWID;

INSERT INTO framework_mapping VALUES
('granted-beyond-approved', 'OWASP NHI Top 10 2025', 'NHI5:2025'),
('granted-beyond-approved', 'NIST CSF 2.0', 'PR.AA-05'),
('beyond-template', 'OWASP NHI Top 10 2025', 'NHI5:2025'),
('beyond-template', 'NIST CSF 2.0', 'PR.AA-05'),
('unjustified-approval', 'NIST CSF 2.0', 'PR.AA-05'),
('unjustified-approval', 'NIST CSF 2.0', 'GV.RR-02'),
('owner-missing', 'OWASP NHI Top 10 2025', 'NHI1:2025'),
('owner-missing', 'NIST CSF 2.0', 'GV.RR-02'),
('owner-missing', 'NIST CSF 2.0', 'ID.AM-08'),
('owner-departed', 'OWASP NHI Top 10 2025', 'NHI1:2025'),
('owner-departed', 'NIST CSF 2.0', 'GV.RR-02'),
('owner-departed', 'NIST CSF 2.0', 'ID.AM-08'),
('purpose-missing', 'NIST CSF 2.0', 'ID.AM-02'),
('purpose-missing', 'NIST CSF 2.0', 'ID.AM-07'),
('token-lifetime', 'OWASP NHI Top 10 2025', 'NHI7:2025'),
('refresh-on-backend', 'OWASP NHI Top 10 2025', 'NHI7:2025'),
('offline-not-allowed', 'OWASP NHI Top 10 2025', 'NHI7:2025'),
('secret-auth', 'OWASP NHI Top 10 2025', 'NHI4:2025'),
('secret-auth', 'NIST CSF 2.0', 'PR.AA-01'),
('secret-stale', 'OWASP NHI Top 10 2025', 'NHI4:2025'),
('secret-stale', 'OWASP NHI Top 10 2025', 'NHI7:2025'),
('secret-stale', 'NIST CSF 2.0', 'PR.AA-01'),
('credential-reuse', 'OWASP NHI Top 10 2025', 'NHI8:2025'),
('credential-reuse', 'OWASP NHI Top 10 2025', 'NHI9:2025'),
('credential-reuse', 'NIST CSF 2.0', 'PR.IR-01'),
('client-id-reuse', 'OWASP NHI Top 10 2025', 'NHI8:2025'),
('client-id-reuse', 'OWASP NHI Top 10 2025', 'NHI9:2025'),
('client-id-reuse', 'NIST CSF 2.0', 'PR.IR-01'),
('review-overdue', 'NIST CSF 2.0', 'PR.AA-05'),
('review-overdue', 'NIST CSF 2.0', 'ID.RA-07'),
('never-reviewed', 'NIST CSF 2.0', 'PR.AA-05'),
('never-reviewed', 'NIST CSF 2.0', 'ID.RA-07'),
('dormant', 'OWASP NHI Top 10 2025', 'NHI1:2025'),
('dormant', 'OWASP NHI Top 10 2025', 'NHI5:2025'),
('revocation-path-missing', 'OWASP NHI Top 10 2025', 'NHI1:2025'),
('revocation-path-missing', 'NIST CSF 2.0', 'GV.SC-10');

CREATE TABLE finding_acceptance (
    id          INTEGER PRIMARY KEY,
    rule        TEXT NOT NULL,
    identity_id INTEGER NOT NULL REFERENCES identity (id),
    until       TEXT NOT NULL,
    reason      TEXT NOT NULL CHECK (reason <> ''),
    approver_id INTEGER NOT NULL REFERENCES person (id),
    created_at  TEXT NOT NULL
);
CREATE INDEX finding_acceptance_identity ON finding_acceptance (identity_id, rule);
