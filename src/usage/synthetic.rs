//! Synthetic BALP-shaped AuditEvents, for the demo and the benchmark: each line is a full
//! FHIR R4 AuditEvent of about 1 KB, as a FHIR server following IHE BALP writes them.

use std::io::Write;

use crate::scope::{Context, Interaction};

/// One call to write.
pub struct SyntheticCall<'a> {
    pub client_id: &'a str,
    /// RFC 3339.
    pub recorded: &'a str,
    pub context: Context,
    pub resource_type: &'a str,
    pub interaction: Interaction,
    pub success: bool,
    pub patient: &'a str,
    pub request_id: u64,
}

/// The resource types the benchmark's clients work on.
const TYPES: [&str; 13] = [
    "Observation",
    "Patient",
    "Encounter",
    "Condition",
    "MedicationRequest",
    "Procedure",
    "DiagnosticReport",
    "Immunization",
    "AllergyIntolerance",
    "Appointment",
    "Practitioner",
    "DocumentReference",
    "Coverage",
];

/// The interactions the benchmark's clients make.
const INTERACTIONS: [Interaction; 5] = [
    Interaction::Read,
    Interaction::SearchType,
    Interaction::Create,
    Interaction::Update,
    Interaction::Vread,
];

/// The calls of the usage benchmark, the same for the same number of clients: each client
/// works in one context on a few (type, interaction) pairs, as real apps do, over 28 days.
pub struct Workload {
    rng: rand::rngs::StdRng,
    clients: Vec<String>,
    profiles: Vec<(Context, Vec<(&'static str, Interaction)>)>,
    made: u64,
}

/// One call of a [`Workload`].
pub struct WorkloadCall<'w> {
    pub client_id: &'w str,
    pub recorded: String,
    pub context: Context,
    pub resource_type: &'static str,
    pub interaction: Interaction,
    pub success: bool,
    pub patient: String,
    pub request_id: u64,
}

impl WorkloadCall<'_> {
    /// The call as [`write_event`] takes it.
    pub fn synthetic(&self) -> SyntheticCall<'_> {
        SyntheticCall {
            client_id: self.client_id,
            recorded: &self.recorded,
            context: self.context,
            resource_type: self.resource_type,
            interaction: self.interaction,
            success: self.success,
            patient: &self.patient,
            request_id: self.request_id,
        }
    }
}

impl Workload {
    /// `clients` clients (at least one), named `client-000` on.
    pub fn new(clients: usize) -> Self {
        use rand::{Rng, SeedableRng};
        let mut rng = rand::rngs::StdRng::seed_from_u64(11);
        let clients: Vec<String> = (0..clients.max(1))
            .map(|i| format!("client-{i:03}"))
            .collect();
        let contexts = [Context::Patient, Context::User, Context::System];
        let profiles = (0..clients.len())
            .map(|_| {
                let context = contexts[rng.gen_range(0..contexts.len())];
                let pairs = (0..rng.gen_range(2..7))
                    .map(|_| {
                        (
                            TYPES[rng.gen_range(0..TYPES.len())],
                            INTERACTIONS[rng.gen_range(0..INTERACTIONS.len())],
                        )
                    })
                    .collect();
                (context, pairs)
            })
            .collect();
        Workload {
            rng,
            clients,
            profiles,
            made: 0,
        }
    }

    /// The next call.
    pub fn call(&mut self) -> WorkloadCall<'_> {
        use rand::Rng;
        let rng = &mut self.rng;
        let c = rng.gen_range(0..self.clients.len());
        let (context, pairs) = &self.profiles[c];
        let (resource_type, interaction) = pairs[rng.gen_range(0..pairs.len())];
        let recorded = format!(
            "2026-11-{:02}T{:02}:{:02}:{:02}Z",
            rng.gen_range(1..=28),
            rng.gen_range(0..24),
            rng.gen_range(0..60),
            rng.gen_range(0..60)
        );
        let success = rng.gen_ratio(97, 100);
        let patient = format!("p-{}", rng.gen_range(0..50_000));
        let request_id = self.made;
        self.made += 1;
        WorkloadCall {
            client_id: &self.clients[c],
            recorded,
            context: *context,
            resource_type,
            interaction,
            success,
            patient,
            request_id,
        }
    }
}

fn action(i: Interaction) -> &'static str {
    match i {
        Interaction::Create => "C",
        Interaction::Update | Interaction::Patch => "U",
        Interaction::Delete => "D",
        Interaction::Read | Interaction::Vread | Interaction::HistoryInstance => "R",
        _ => "E",
    }
}

/// Writes one AuditEvent as one NDJSON line.
pub fn write_event(out: &mut impl Write, c: &SyntheticCall<'_>) -> std::io::Result<()> {
    let user = match c.context {
        Context::Patient => format!(r#"{{"reference":"Patient/{}"}}"#, c.patient),
        Context::User => r#"{"reference":"Practitioner/pr-1042","display":"Dr. Rivera"}"#.into(),
        Context::System => String::new(),
    };
    let user_agent = if user.is_empty() {
        String::new()
    } else {
        format!(
            r#",{{"type":{{"coding":[{{"system":"http://terminology.hl7.org/CodeSystem/v3-ParticipationType","code":"IRCP"}}]}},"who":{},"requestor":true,"policy":["urn:ietf:params:oauth:jti:{:016x}"]}}"#,
            user, c.request_id
        )
    };
    let target = if c.resource_type.is_empty() {
        String::new()
    } else if matches!(
        c.interaction,
        Interaction::SearchType | Interaction::Create | Interaction::HistoryType
    ) {
        format!(
            r#",{{"what":{{"reference":"{}"}},"type":{{"system":"http://terminology.hl7.org/CodeSystem/audit-entity-type","code":"2"}},"role":{{"system":"http://terminology.hl7.org/CodeSystem/object-role","code":"4"}}}}"#,
            c.resource_type
        )
    } else {
        format!(
            r#",{{"what":{{"reference":"{}/{:x}"}},"type":{{"system":"http://terminology.hl7.org/CodeSystem/audit-entity-type","code":"2"}},"role":{{"system":"http://terminology.hl7.org/CodeSystem/object-role","code":"4"}}}}"#,
            c.resource_type, c.request_id
        )
    };
    writeln!(
        out,
        r#"{{"resourceType":"AuditEvent","id":"ae-{rid:x}","type":{{"system":"http://terminology.hl7.org/CodeSystem/audit-event-type","code":"rest"}},"subtype":[{{"system":"http://hl7.org/fhir/restful-interaction","code":"{code}"}}],"action":"{action}","recorded":"{recorded}","outcome":"{outcome}","agent":[{{"type":{{"coding":[{{"system":"http://dicom.nema.org/resources/ontology/DCM","code":"110150"}}]}},"who":{{"identifier":{{"value":"{client}"}}}},"requestor":false,"network":{{"address":"10.20.30.40","type":"2"}}}}{user_agent}],"source":{{"site":"fhir.example.org","observer":{{"reference":"Device/fhir-server"}}}},"entity":[{{"what":{{"reference":"Patient/{patient}"}},"type":{{"system":"http://terminology.hl7.org/CodeSystem/audit-entity-type","code":"1"}},"role":{{"system":"http://terminology.hl7.org/CodeSystem/object-role","code":"1"}}}}{target},{{"what":{{"identifier":{{"value":"req-{rid:016x}"}}}},"type":{{"system":"https://profiles.ihe.net/ITI/BALP/CodeSystem/BasicAuditEntityType","code":"XrequestId"}}}}]}}"#,
        rid = c.request_id,
        code = c.interaction.as_str(),
        action = action(c.interaction),
        recorded = c.recorded,
        outcome = if c.success { "0" } else { "8" },
        client = c.client_id,
        patient = c.patient,
    )
}

/// Resource types a wildcard scope is exercised on in the demo.
const WILDCARD_TYPES: [&str; 4] = ["Observation", "Patient", "Condition", "Encounter"];

/// A demo log for some clients: calls their granted resource scopes allow over the 30 days
/// before `now`, plus, for one client in eight, calls beyond its grant (what a server that
/// enforces less than it records lets through), and calls of a client nobody registered.
pub fn demo_log(
    clients: &[(String, Vec<String>)],
    now: crate::time::Timestamp,
    seed: u64,
) -> Vec<u8> {
    use rand::{Rng, SeedableRng};
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed ^ 0x5eed_0a0d);
    let mut out = Vec::new();
    let mut rid = 0u64;
    let mut emit = |rng: &mut rand::rngs::StdRng,
                    out: &mut Vec<u8>,
                    client: &str,
                    context: Context,
                    rt: &str,
                    interaction: Interaction,
                    n: u32| {
        for _ in 0..n {
            rid += 1;
            let at = now
                - chrono::Duration::days(rng.gen_range(0..30))
                - chrono::Duration::minutes(rng.gen_range(0..1440));
            let recorded = crate::time::format(at);
            let patient = format!("p-{}", rng.gen_range(1..400));
            let call = SyntheticCall {
                client_id: client,
                recorded: &recorded,
                context,
                resource_type: rt,
                interaction,
                success: rng.gen_ratio(49, 50),
                patient: &patient,
                request_id: rid,
            };
            // Writing to a Vec cannot fail.
            let _ = write_event(out, &call);
        }
    };
    for (i, (client, granted)) in clients.iter().enumerate() {
        let set = crate::scope::ScopeSet::parse(&granted.join(" "));
        for r in set.resource_scopes() {
            let types: Vec<&str> = match &r.resource {
                crate::scope::Resource::Any => WILDCARD_TYPES.to_vec(),
                crate::scope::Resource::Type(t) => vec![*t],
            };
            for t in types {
                for (perm, interaction) in [
                    (crate::scope::Perms::R, Interaction::Read),
                    (crate::scope::Perms::S, Interaction::SearchType),
                    (crate::scope::Perms::C, Interaction::Create),
                    (crate::scope::Perms::U, Interaction::Update),
                ] {
                    // Some granted access goes unused: the basis for right-sizing.
                    if r.perms.contains(perm) && rng.gen_ratio(3, 4) {
                        let n = rng.gen_range(1..40);
                        emit(&mut rng, &mut out, client, r.context, t, interaction, n);
                    }
                }
            }
        }
        if i % 8 == 3 {
            emit(
                &mut rng,
                &mut out,
                client,
                Context::User,
                "Patient",
                Interaction::Update,
                3,
            );
        }
    }
    emit(
        &mut rng,
        &mut out,
        "legacy-report-runner",
        Context::System,
        "Observation",
        Interaction::SearchType,
        25,
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::usage::auditevent::{AuditEvent, Caller};

    #[test]
    fn a_synthetic_event_reads_back_as_the_call_it_describes() {
        let mut out = Vec::new();
        for (context, interaction, rt) in [
            (Context::User, Interaction::SearchType, "Observation"),
            (Context::Patient, Interaction::Read, "MedicationRequest"),
            (Context::System, Interaction::Create, "Claim"),
        ] {
            out.clear();
            write_event(
                &mut out,
                &SyntheticCall {
                    client_id: "app-7",
                    recorded: "2026-11-20T08:30:00Z",
                    context,
                    resource_type: rt,
                    interaction,
                    success: true,
                    patient: "p-1",
                    request_id: 42,
                },
            )
            .expect("write");
            serde_json::from_slice::<serde::de::IgnoredAny>(&out).expect("valid JSON");
            let e = AuditEvent::parse(std::str::from_utf8(&out).expect("UTF-8")).expect("parsed");
            let c = e.call().expect("a call");
            assert_eq!(c.caller, Caller::Client("app-7".into()));
            assert_eq!(
                (c.context.reading(), c.interaction, c.resource_type),
                (context, interaction, rt)
            );
            assert!(out.len() > 900, "about 1 KB: {}", out.len());
        }
    }
}
