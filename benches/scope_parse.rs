//! Parse and canonicalize one million scope strings with the scope engine, and with a naive
//! regex-based parser kept here as the baseline, in the same run; prints both throughputs
//! (criterion) and the ratio.

use std::collections::HashSet;
use std::hint::black_box;
use std::time::Instant;

use criterion::{Criterion, Throughput};
use regex::Regex;
use steward::scope::fhir::R4_RESOURCE_TYPES;
use steward::scope::Scope;

const N: usize = 1_000_000;

/// A realistic mix: v2 and v1 resource scopes, wildcards, query restrictions, launch and
/// identity scopes, and about one in twenty invalid.
fn corpus() -> Vec<String> {
    let types = [
        "Observation",
        "Patient",
        "Condition",
        "MedicationRequest",
        "Encounter",
        "*",
    ];
    let contexts = ["patient", "user", "system"];
    let perms = ["rs", "r", "cruds", "cud", "s", "read", "write", "*"];
    let specials = [
        "openid",
        "fhirUser",
        "launch",
        "launch/patient",
        "offline_access",
    ];
    let invalid = [
        "patient/Observation.sr",
        "patient/Foo.rs",
        "__custom",
        "user/Patient.x",
    ];
    (0..N)
        .map(|i| match i % 20 {
            0 => invalid[i / 20 % invalid.len()].to_string(),
            1..=3 => specials[i % specials.len()].to_string(),
            4 => format!(
                "patient/Observation.rs?category=http://terminology.hl7.org/CodeSystem/observation-category|{}",
                if i % 2 == 0 { "laboratory" } else { "vital-signs" }
            ),
            _ => format!(
                "{}/{}.{}",
                contexts[i % 3],
                types[i / 3 % types.len()],
                perms[i / 7 % perms.len()]
            ),
        })
        .collect()
}

/// The baseline: one regex, a hash set of types, string rebuilding.
struct RegexParser {
    re: Regex,
    types: HashSet<&'static str>,
    specials: HashSet<&'static str>,
}

impl RegexParser {
    fn new() -> RegexParser {
        RegexParser {
            re: Regex::new(
                r"^(patient|user|system)/(\*|[A-Za-z]+)\.(read|write|\*|c?r?u?d?s?)(\?.+)?$",
            )
            .expect("valid regex"),
            types: R4_RESOURCE_TYPES.iter().copied().collect(),
            specials: [
                "openid",
                "fhirUser",
                "profile",
                "launch",
                "launch/patient",
                "launch/encounter",
                "offline_access",
                "online_access",
            ]
            .into_iter()
            .collect(),
        }
    }

    fn canonical(&self, s: &str) -> Option<String> {
        if self.specials.contains(s) {
            return Some(s.to_string());
        }
        let c = self.re.captures(s)?;
        let resource = &c[2];
        if resource != "*" && !self.types.contains(resource) {
            return None;
        }
        let perms = match &c[3] {
            "" => return None,
            "read" => "rs",
            "write" => "cud",
            "*" => "cruds",
            p => p,
        };
        let query = c.get(4).map_or("", |m| m.as_str());
        Some(format!("{}/{}.{}{}", &c[1], resource, perms, query))
    }
}

fn engine(corpus: &[String]) -> usize {
    corpus
        .iter()
        .filter_map(|s| Scope::parse(s).ok().map(|x| x.to_string()))
        .map(|s| s.len())
        .sum()
}

fn baseline(p: &RegexParser, corpus: &[String]) -> usize {
    corpus
        .iter()
        .filter_map(|s| p.canonical(s))
        .map(|s| s.len())
        .sum()
}

fn best_of_three(f: impl Fn() -> usize) -> f64 {
    (0..3)
        .map(|_| {
            let t = Instant::now();
            black_box(f());
            t.elapsed().as_secs_f64()
        })
        .fold(f64::INFINITY, f64::min)
}

fn main() {
    let corpus = corpus();
    let regex = RegexParser::new();
    let mut c = Criterion::default().sample_size(10).configure_from_args();
    let mut group = c.benchmark_group("parse_canonicalize_1M_scopes");
    group.throughput(Throughput::Elements(N as u64));
    group.bench_function("engine", |b| b.iter(|| black_box(engine(&corpus))));
    group.bench_function("regex_baseline", |b| {
        b.iter(|| black_box(baseline(&regex, &corpus)))
    });
    group.finish();
    c.final_summary();

    let e = best_of_three(|| engine(&corpus));
    let r = best_of_three(|| baseline(&regex, &corpus));
    println!(
        "1M scopes: engine {:.3} s ({:.1} M/s), regex baseline {:.3} s ({:.1} M/s): engine is {:.2}x the baseline's speed",
        e,
        N as f64 / e / 1e6,
        r,
        N as f64 / r / 1e6,
        r / e
    );
}
