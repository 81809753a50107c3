//! Writes a synthetic BALP-shaped AuditEvent log for the usage benchmark: N events (about
//! 1 KB each) from about 400 clients over 13 resource types and 30 days, as NDJSON, and the
//! same calls as a flat CSV (what a user would load into sqlite3 without Steward).
//!
//! usage_gen EVENTS OUT.ndjson OUT.csv
//!
//! `USAGE_CLIENTS` (default 400) sets how many clients call: the distinct daily aggregates
//! grow with it (about 650,000 of them at 8,000 clients and 1,000,000 events).

use std::io::{BufWriter, Write};

use rand::{Rng, SeedableRng};
use steward::scope::{Context, Interaction};
use steward::usage::synthetic::{write_event, SyntheticCall};

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
const INTERACTIONS: [Interaction; 5] = [
    Interaction::Read,
    Interaction::SearchType,
    Interaction::Create,
    Interaction::Update,
    Interaction::Vread,
];

fn main() -> std::io::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    if args.len() != 4 {
        eprintln!("usage: usage_gen EVENTS OUT.ndjson OUT.csv");
        std::process::exit(2);
    }
    let n: u64 = args[1].parse().expect("EVENTS is a number");
    let mut nd = BufWriter::with_capacity(1 << 20, std::fs::File::create(&args[2])?);
    let mut csv = BufWriter::with_capacity(1 << 20, std::fs::File::create(&args[3])?);
    writeln!(
        csv,
        "client_id,day,context,resource_type,interaction,outcome,recorded"
    )?;
    let mut rng = rand::rngs::StdRng::seed_from_u64(11);
    let clients: usize = match std::env::var("USAGE_CLIENTS") {
        Ok(v) => v.parse().expect("USAGE_CLIENTS is a number"),
        Err(_) => 400,
    };
    let clients: Vec<String> = (0..clients.max(1))
        .map(|i| format!("client-{i:03}"))
        .collect();
    let contexts = [Context::Patient, Context::User, Context::System];
    // Each client works in one context on a few (type, interaction) pairs, as real apps do.
    let profiles: Vec<(Context, Vec<(&str, Interaction)>)> = (0..clients.len())
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
    let mut line = Vec::with_capacity(2048);
    for i in 0..n {
        let c = rng.gen_range(0..clients.len());
        let client = &clients[c];
        let (context, pairs) = &profiles[c];
        let context = *context;
        let (rt, interaction) = pairs[rng.gen_range(0..pairs.len())];
        let recorded = format!(
            "2026-11-{:02}T{:02}:{:02}:{:02}Z",
            rng.gen_range(1..=28),
            rng.gen_range(0..24),
            rng.gen_range(0..60),
            rng.gen_range(0..60)
        );
        let success = rng.gen_ratio(97, 100);
        let patient = format!("p-{}", rng.gen_range(0..50_000));
        line.clear();
        write_event(
            &mut line,
            &SyntheticCall {
                client_id: client,
                recorded: &recorded,
                context,
                resource_type: rt,
                interaction,
                success,
                patient: &patient,
                request_id: i,
            },
        )?;
        nd.write_all(&line)?;
        writeln!(
            csv,
            "{client},{},{},{rt},{},{},{recorded}",
            &recorded[..10],
            context.as_str(),
            interaction.as_str(),
            if success { "success" } else { "failure" }
        )?;
    }
    nd.flush()?;
    csv.flush()
}
