//! A realistic synthetic inventory for demos and benchmarks, deliberately seeded with the
//! risks Steward exists to find: write scopes on read-only apps, `system/*.read` bulk clients,
//! refresh tokens on backend services, long-lived tokens, missing and departed owners, one
//! secret shared by sandbox and production, client_ids reused across environments, and
//! overdue reviews. Deterministic for a given seed and `now`.

use chrono::Duration;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use sha2::{Digest, Sha256};

use super::fingerprint::FingerprintKey;
use super::{CredentialKind, Environment, Kind, PersonInput, Status};
use crate::inventory::{IdentityRecord, NewCredential};
use crate::review::{self, Intervals};
use crate::scope::{self, ScopeSet};
use crate::time::{self, Timestamp};

/// A generated person; `departed` ones have left the organization.
pub struct DemoPerson {
    pub person: PersonInput,
    pub departed: bool,
}

/// A generated identity: its row (owners as indexes into the people), scopes, credential.
pub struct DemoIdentity {
    pub record: IdentityRecord,
    pub business_owner: Option<usize>,
    pub technical_owner: Option<usize>,
    /// (scope, justification)
    pub approved: Vec<(String, Option<String>)>,
    pub granted: Vec<String>,
    pub credential: Option<(CredentialKind, String)>,
}

/// The whole generated inventory.
pub struct Demo {
    pub people: Vec<DemoPerson>,
    pub identities: Vec<DemoIdentity>,
}

struct Archetype {
    stem: &'static str,
    kind: Kind,
    use_case: &'static str,
    purpose: &'static str,
    /// (scope, justification)
    approved: &'static [(&'static str, &'static str)],
    /// Scopes a careless grant adds beyond the approved set.
    risky_extra: &'static [&'static str],
    /// An AI or autonomous agent.
    ai_agent: bool,
}

const ARCHETYPES: &[Archetype] = &[
    Archetype {
        stem: "Patient Portal Companion",
        kind: Kind::PatientApp,
        use_case: "patient-engagement-readonly",
        purpose: "Lets patients view their results, conditions, medications and immunizations.",
        approved: &[
            ("openid", "Signs the patient in"),
            ("fhirUser", "Identifies the signed-in patient"),
            ("launch/patient", "Selects the patient record at launch"),
            (
                "patient/Patient.rs",
                "Shows demographics on the home screen",
            ),
            (
                "patient/Observation.rs",
                "Shows lab results and vital signs",
            ),
            ("patient/Condition.rs", "Shows the problem list"),
            ("patient/MedicationRequest.rs", "Shows current medications"),
            ("patient/Immunization.rs", "Shows the immunization record"),
        ],
        ai_agent: false,
        risky_extra: &["patient/Observation.write", "patient/*.cruds"],
    },
    Archetype {
        stem: "Appointment Scheduler",
        kind: Kind::PatientApp,
        use_case: "scheduling",
        purpose: "Books, moves and cancels appointments in open slots.",
        approved: &[
            ("openid", "Signs the patient in"),
            ("fhirUser", "Identifies the signed-in patient"),
            ("launch/patient", "Selects the patient record at launch"),
            (
                "patient/Appointment.cruds",
                "Books, moves and cancels appointments",
            ),
            ("patient/Slot.rs", "Finds open slots"),
            ("patient/Schedule.rs", "Shows clinic schedules"),
        ],
        ai_agent: false,
        risky_extra: &[
            "patient/*.read",
            "patient/MedicationRequest.write",
            "system/*.read",
        ],
    },
    Archetype {
        stem: "Sepsis Early Warning",
        kind: Kind::ClinicianApp,
        use_case: "clinical-decision-support",
        purpose: "Scores sepsis risk from vitals and labs inside the clinician's workflow.",
        approved: &[
            ("openid", "Signs the clinician in"),
            ("fhirUser", "Identifies the clinician"),
            ("launch", "Receives the EHR launch context"),
            ("user/Patient.rs", "Reads the patient in context"),
            (
                "user/Observation.rs",
                "Reads vitals and lab results for the score",
            ),
            ("user/Condition.rs", "Reads active problems for the score"),
        ],
        ai_agent: false,
        risky_extra: &["user/*.*", "user/Observation.write"],
    },
    Archetype {
        stem: "Medication Reconciliation",
        kind: Kind::ClinicianApp,
        use_case: "clinical-decision-support",
        purpose: "Compares home and inpatient medication lists at admission and discharge.",
        approved: &[
            ("openid", "Signs the clinician in"),
            ("fhirUser", "Identifies the clinician"),
            ("launch", "Receives the EHR launch context"),
            ("user/MedicationRequest.rs", "Reads medication orders"),
            ("user/MedicationStatement.rs", "Reads home medications"),
            ("user/AllergyIntolerance.rs", "Checks allergies"),
        ],
        ai_agent: false,
        risky_extra: &["user/MedicationRequest.cud", "offline_access"],
    },
    Archetype {
        stem: "Population Health Export",
        kind: Kind::BackendService,
        use_case: "population-health-analytics",
        purpose: "Nightly bulk export of the diabetes registry for quality measures.",
        approved: &[
            ("system/Patient.rs", "Registry demographics"),
            ("system/Observation.rs", "HbA1c and blood pressure results"),
            (
                "system/Condition.rs",
                "Diagnosis codes for cohort selection",
            ),
            ("system/Group.rs", "Reads the registry group to export"),
        ],
        ai_agent: false,
        risky_extra: &["system/*.read", "offline_access"],
    },
    Archetype {
        stem: "ADT Feed Bridge",
        kind: Kind::BackendService,
        use_case: "adt-feed",
        purpose: "Writes admissions, discharges and transfers from the legacy HL7v2 feed.",
        approved: &[
            (
                "system/Encounter.cud",
                "Creates and updates encounters from ADT messages",
            ),
            (
                "system/Patient.rs",
                "Matches patients before writing encounters",
            ),
        ],
        ai_agent: false,
        risky_extra: &["system/Patient.cud", "system/*.write"],
    },
    Archetype {
        stem: "Research Data Mart",
        kind: Kind::BackendService,
        use_case: "research-integration",
        purpose: "Feeds consented participants' data to the oncology research warehouse.",
        approved: &[
            ("system/ResearchStudy.rs", "Reads enrolled studies"),
            ("system/ResearchSubject.rs", "Reads consented participants"),
            ("system/Observation.rs", "Reads study measurements"),
        ],
        ai_agent: false,
        risky_extra: &["system/*.rs"],
    },
    Archetype {
        stem: "HIE Document Exchange",
        kind: Kind::BackendService,
        use_case: "hie-exchange",
        purpose: "Publishes and retrieves clinical documents with the regional HIE.",
        approved: &[
            ("system/DocumentReference.rs", "Finds documents to share"),
            ("system/Binary.r", "Retrieves document content"),
            ("system/Patient.rs", "Matches patients with the HIE"),
        ],
        ai_agent: false,
        risky_extra: &["system/DocumentReference.cud"],
    },
    Archetype {
        stem: "Integration Engine",
        kind: Kind::ServiceAccount,
        use_case: "custom",
        purpose: "Interface engine account that routes orders and results between systems.",
        approved: &[
            ("system/ServiceRequest.cruds", "Routes orders"),
            ("system/DiagnosticReport.cruds", "Routes results"),
        ],
        ai_agent: false,
        risky_extra: &["system/*.cruds"],
    },
    Archetype {
        stem: "Claims Reconciliation",
        kind: Kind::ServiceAccount,
        use_case: "custom",
        purpose: "Reconciles claims and coverage with the payer clearinghouse.",
        approved: &[
            ("system/Claim.rs", "Reads submitted claims"),
            ("system/Coverage.rs", "Reads coverage"),
            ("system/ExplanationOfBenefit.rs", "Reads remittances"),
        ],
        ai_agent: false,
        risky_extra: &["system/Patient.read"],
    },
    Archetype {
        stem: "Remote Monitoring",
        kind: Kind::PatientApp,
        use_case: "patient-engagement-readonly",
        purpose: "Shows home blood-pressure and glucose readings to the patient.",
        approved: &[
            ("openid", "Signs the patient in"),
            ("fhirUser", "Identifies the signed-in patient"),
            ("launch/patient", "Selects the patient record at launch"),
            ("patient/Observation.rs", "Shows readings"),
            ("patient/Device.rs", "Shows the paired devices"),
        ],
        ai_agent: false,
        risky_extra: &["patient/Observation.cud", "offline_access"],
    },
    Archetype {
        stem: "Prior Authorization Agent",
        kind: Kind::ServiceAccount,
        use_case: "custom",
        purpose: "An AI agent that assembles and submits prior authorization requests to payers.",
        approved: &[
            ("system/Patient.rs", "Identifies the patient on the request"),
            ("system/Coverage.rs", "Reads the payer and plan"),
            ("system/ServiceRequest.rs", "Reads the ordered service"),
            ("system/Claim.c", "Submits the prior authorization request"),
        ],
        risky_extra: &["system/*.rs"],
        ai_agent: true,
    },
];

const VENDORS: &[&str] = &[
    "Bluebird Health",
    "CareLoop",
    "Medisync Labs",
    "Northwind Analytics",
    "Atlas Clinical",
    "Harbor Informatics",
    "Quillon Systems",
    "In-house",
];

const FIRST: &[&str] = &[
    "Ana", "Ben", "Chloe", "Dev", "Elena", "Farid", "Grace", "Hiro", "Ines", "Jonas", "Kemi",
    "Liam", "Maya", "Noor", "Omar", "Priya", "Quinn", "Rosa", "Sami", "Tara",
];
const LAST: &[&str] = &[
    "Lima", "Okafor", "Nguyen", "Patel", "Schmidt", "Haddad", "Kowalski", "Tanaka", "Moreau",
    "Berg", "Adeyemi", "Walsh", "Cohen", "Rahman", "Silva", "Iyer", "Byrne", "Ortega",
];

const ENV_SUFFIX: [(Environment, &str); 3] = [
    (Environment::Production, "prod"),
    (Environment::Staging, "stg"),
    (Environment::Sandbox, "sbx"),
];

/// Generates `count` identities (and about 15 people, more for large inventories).
pub fn generate(count: usize, seed: u64, now: Timestamp, key: &FingerprintKey) -> Demo {
    let mut rng = StdRng::seed_from_u64(seed);
    let people_count = (15 + count / 40).min(FIRST.len() * LAST.len());
    let people: Vec<DemoPerson> = (0..people_count)
        .map(|i| {
            let (first, last) = (
                FIRST[i % FIRST.len()],
                LAST[(i + i / FIRST.len()) % LAST.len()],
            );
            let email = format!(
                "{}.{}{}@stewardhealth.example",
                first.to_lowercase(),
                last.to_lowercase(),
                if i >= FIRST.len() {
                    (i / FIRST.len()).to_string()
                } else {
                    String::new()
                }
            );
            DemoPerson {
                person: PersonInput {
                    name: format!("{first} {last}"),
                    email,
                },
                // Two people have left the organization but still own identities.
                departed: i % 9 == 4,
            }
        })
        .collect();

    let stamp = time::format(now);
    let mut identities = Vec::with_capacity(count);
    let mut app = 0usize;
    while identities.len() < count {
        let arch = &ARCHETYPES[app % ARCHETYPES.len()];
        let vendor = VENDORS[rng.gen_range(0..VENDORS.len())];
        let name = if app < ARCHETYPES.len() {
            arch.stem.to_string()
        } else {
            format!("{} {}", arch.stem, app / ARCHETYPES.len() + 1)
        };
        let slug: String = arch
            .stem
            .split_whitespace()
            .map(|w| w.chars().next().unwrap_or('x').to_ascii_lowercase())
            .collect::<String>()
            + &format!("-{app:05}");
        // The first apps carry each deliberate risk for certain; later ones by chance.
        let envs = match rng.gen_range(0..10) {
            _ if app == 3 => 3,
            0..=3 => 1,
            4..=6 => 2,
            _ => 3,
        };
        // One app in twelve reuses its client_id across environments.
        let reuse_client_id = rng.gen_ratio(1, 12);
        // One app in fourteen shares a secret between production and sandbox.
        let shared_secret = (app == 3 || rng.gen_ratio(1, 14)).then(|| random_token(&mut rng));
        let business = match app {
            2 => None,
            5 => Some(4),
            _ => pick_owner(&mut rng, people.len(), 14),
        };
        let technical = pick_owner(&mut rng, people.len(), 25);
        let risky = app == 0 || app == 4 || rng.gen_ratio(1, 4);
        let created = now - Duration::days(rng.gen_range(30..1500));
        for &(env, suffix) in ENV_SUFFIX.iter().take(envs) {
            if identities.len() == count {
                break;
            }
            let client_id = if reuse_client_id {
                slug.clone()
            } else {
                format!("{slug}-{suffix}")
            };
            let approved: Vec<(String, Option<String>)> = arch
                .approved
                .iter()
                .map(|(s, why)| {
                    let why = (!rng.gen_ratio(1, 12)).then(|| (*why).to_string());
                    (scope::stored_form(s), why)
                })
                .collect();
            let mut granted: Vec<String> = approved.iter().map(|(s, _)| s.clone()).collect();
            if risky {
                let extra = if app < ARCHETYPES.len() {
                    arch.risky_extra[0]
                } else {
                    arch.risky_extra[rng.gen_range(0..arch.risky_extra.len())]
                };
                // Risky grants often arrive in SMART v1 spelling; storage canonicalizes them.
                let extra = scope::stored_form(extra);
                if !granted.contains(&extra) {
                    granted.push(extra);
                }
            }
            let backend = matches!(arch.kind, Kind::BackendService | Kind::ServiceAccount);
            let refresh = if backend {
                (app == 4 || rng.gen_ratio(3, 10)).then_some(2_592_000)
            } else {
                rng.gen_ratio(1, 2).then_some(86_400 * 90)
            };
            if refresh.is_some() && backend && !granted.iter().any(|g| g == "offline_access") {
                granted.push("offline_access".into());
            }
            let access = match rng.gen_range(0..10) {
                _ if app == 1 => 86_400 * 30,
                0 => 86_400 * 30,
                1 => 86_400,
                _ if backend => 300,
                _ => 3600,
            };
            let auth_method = match arch.kind {
                Kind::PatientApp => "none",
                Kind::ClinicianApp => "client_secret_basic",
                _ if rng.gen_ratio(1, 4) => "client_secret_basic",
                _ => "private_key_jwt",
            };
            let credential = match auth_method {
                "none" => None,
                "private_key_jwt" => Some((
                    CredentialKind::Key,
                    format!(
                        "jwk-sha256:{}",
                        hex::encode(Sha256::digest(random_token(&mut rng)))
                    ),
                )),
                _ => {
                    let secret = match (&shared_secret, env) {
                        (Some(s), Environment::Production | Environment::Sandbox) => s.clone(),
                        _ => random_token(&mut rng),
                    };
                    Some((CredentialKind::Secret, key.secret(&secret)))
                }
            };
            let last_reviewed = (!rng.gen_ratio(1, 6))
                .then(|| now - Duration::days(rng.gen_range(5..520)))
                .filter(|t| *t > created);
            let status = match rng.gen_range(0..40) {
                0 => Status::Suspended,
                1 => Status::Retired,
                2 | 3 => Status::Pending,
                _ => Status::Active,
            };
            let record = IdentityRecord {
                id: 0,
                client_id,
                environment: env,
                name: if env == Environment::Production {
                    name.clone()
                } else {
                    format!("{name} ({env})")
                },
                kind: arch.kind,
                vendor: Some(vendor.to_string()),
                status,
                business_owner_id: None,
                technical_owner_id: None,
                purpose: (!rng.gen_ratio(1, 15)).then(|| arch.purpose.to_string()),
                use_case: Some(arch.use_case.to_string()),
                auth_method: Some(auth_method.to_string()),
                access_token_lifetime_s: Some(access),
                refresh_token_lifetime_s: refresh,
                jwks_uri: (auth_method == "private_key_jwt")
                    .then(|| format!("https://{}.example/.well-known/jwks.json", slug)),
                revocation_endpoint: (!rng.gen_ratio(1, 10))
                    .then(|| format!("https://auth.{suffix}.stewardhealth.example/oauth2/revoke")),
                last_used_at: (!rng.gen_ratio(1, 10))
                    .then(|| time::format(now - Duration::days(rng.gen_range(0..200)))),
                last_reviewed_at: last_reviewed.map(time::format),
                next_review_due: Some(time::format(review::next_due(
                    &Intervals::default(),
                    review::tier(env, &ScopeSet::parse(&granted.join(" "))),
                    last_reviewed,
                    created,
                    None,
                ))),
                created_at: time::format(created),
                updated_at: stamp.clone(),
                ai_agent: arch.ai_agent,
                reauth_reason: None,
                reauth_since: None,
                version: 1,
                reviewed_elsewhere_at: None,
            };
            identities.push(DemoIdentity {
                record,
                business_owner: business,
                technical_owner: technical,
                approved,
                granted,
                credential,
            });
        }
        app += 1;
    }
    identities.shuffle(&mut rng);
    Demo { people, identities }
}

/// An owner index, or none one time in `missing_one_in`.
fn pick_owner(rng: &mut StdRng, people: usize, missing_one_in: u32) -> Option<usize> {
    (!rng.gen_ratio(1, missing_one_in)).then(|| rng.gen_range(0..people))
}

fn random_token(rng: &mut StdRng) -> String {
    let bytes: [u8; 24] = rng.gen();
    hex::encode(bytes)
}

/// A credential row for a generated identity once its id is known.
pub fn credential_row(id: i64, issued: &str, cred: &(CredentialKind, String)) -> NewCredential {
    NewCredential {
        identity_id: id,
        kind: cred.0,
        fingerprint: cred.1.clone(),
        issued_at: Some(issued.to_string()),
        expires_at: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn demo(n: usize) -> Demo {
        let now = time::parse("2026-11-28T12:00:00Z").expect("time");
        generate(n, 7, now, &FingerprintKey::from_bytes([9; 32]))
    }

    #[test]
    fn exactly_the_requested_count_with_unique_keys() {
        let d = demo(500);
        assert_eq!(d.identities.len(), 500);
        let mut keys: Vec<_> = d
            .identities
            .iter()
            .map(|i| (&i.record.client_id, i.record.environment))
            .collect();
        keys.sort();
        keys.dedup();
        assert_eq!(keys.len(), 500, "(client_id, environment) must be unique");
    }

    #[test]
    fn the_default_demo_carries_every_deliberate_risk() {
        let d = demo(60);
        let ids = &d.identities;
        assert!(
            ids.iter().any(|i| i.business_owner.is_none()),
            "a missing owner"
        );
        assert!(
            ids.iter()
                .any(|i| i.business_owner.is_some_and(|p| d.people[p].departed)),
            "a departed owner"
        );
        assert!(
            ids.iter()
                .any(|i| i.granted.iter().any(|g| g == "system/*.rs")),
            "a bulk client"
        );
        assert!(
            ids.iter().any(|i| i.record.kind == Kind::BackendService
                && i.record.refresh_token_lifetime_s.is_some()),
            "refresh tokens on a backend service"
        );
        assert!(
            ids.iter()
                .any(|i| i.record.access_token_lifetime_s.unwrap_or(0) >= 86_400),
            "a long-lived token"
        );
        assert!(
            ids.iter()
                .any(|i| i.record.next_review_due.as_deref() < Some("2026-11-28")),
            "an overdue review"
        );
        let secret_fps: Vec<_> = ids
            .iter()
            .filter_map(|i| {
                i.credential
                    .as_ref()
                    .filter(|c| c.0 == CredentialKind::Secret)
            })
            .map(|c| &c.1)
            .collect();
        let mut unique = secret_fps.clone();
        unique.sort();
        unique.dedup();
        assert!(
            unique.len() < secret_fps.len(),
            "a secret shared across environments"
        );
    }

    #[test]
    fn same_seed_same_inventory() {
        let (a, b) = (demo(100), demo(100));
        let names = |d: &Demo| {
            d.identities
                .iter()
                .map(|i| i.record.client_id.clone())
                .collect::<Vec<_>>()
        };
        assert_eq!(names(&a), names(&b));
    }
}
