//! The hand-written paths that stand in for a kept library, each against that library in the
//! same run, on the same input: the CSV writer (`export::csv`) against the `csv` crate; JSON
//! string spelling (`export::jsonl`) against `serde_json`. Prints each best-of-five time and
//! the ratio (a hand-written path earns its place at 1.3x or more).

use std::hint::black_box;
use std::time::{Duration, Instant};

use steward::export::csv::{starts_formula, Csv};
use steward::export::jsonl::push_json_string;

const N: usize = 1_000_000;

fn best(mut f: impl FnMut()) -> Duration {
    (0..5)
        .map(|_| {
            let t = Instant::now();
            f();
            t.elapsed()
        })
        .min()
        .unwrap_or_default()
}

fn report(what: &str, ours: Duration, library: Duration) {
    println!(
        "{what:<34} hand-written {:>8.1} ms   library {:>8.1} ms   library/hand-written {:.2}",
        ours.as_secs_f64() * 1e3,
        library.as_secs_f64() * 1e3,
        library.as_secs_f64() / ours.as_secs_f64()
    );
}

fn main() {
    // Audit entries' content: about 250 bytes each.
    let texts: Vec<String> = (0..N)
        .map(|i| {
            format!(
                r#"[{i},"2026-11-{:02}T08:{:02}:00Z","ana@example.org","identity.update","identity:{}",{{"changed":["purpose","scopes"],"scopes":"patient/Observation.rs user/Patient.r"}},"{:064x}"]"#,
                i % 28 + 1,
                i % 60,
                i % 5000,
                i
            )
        })
        .collect();
    // Inventory-like rows: nine cells, a few that need quotes or neutralizing.
    let rows: Vec<[String; 9]> = (0..N)
        .map(|i| {
            [
                format!("client-{i:06}"),
                ["production", "staging", "sandbox"][i % 3].to_string(),
                format!("App number {i}, the {}", i % 7),
                ["patient_app", "backend_service"][i % 2].to_string(),
                "active".to_string(),
                if i % 50 == 0 {
                    "=cmd()".into()
                } else {
                    "Ana Lima".into()
                },
                "ana@example.org".to_string(),
                "2026-11-05T08:00:00Z".to_string(),
                format!("Sends \"results\" to {}", i % 11),
            ]
        })
        .collect();
    let header = ["a", "b", "c", "d", "e", "f", "g", "h", "i"];
    let ours = best(|| {
        let mut w = Csv::new(Vec::with_capacity(150 << 20), &header).expect("csv");
        for r in &rows {
            for c in r {
                w.cell(c).expect("cell");
            }
            w.end_row().expect("row");
        }
        black_box(w.finish().expect("finish"));
    });
    let mut written = Vec::new();
    let library = best(|| {
        let mut w = csv::WriterBuilder::new()
            .terminator(csv::Terminator::Any(b'\n'))
            .from_writer(Vec::with_capacity(150 << 20));
        w.write_record(header).expect("header");
        for r in &rows {
            for c in r {
                if starts_formula(c.as_bytes()) {
                    w.write_field(format!("'{c}")).expect("cell");
                } else {
                    w.write_field(c).expect("cell");
                }
            }
            w.write_record(None::<&[u8]>).expect("row");
        }
        written = w.into_inner().expect("bytes");
    });
    let mut check = Csv::new(Vec::new(), &header).expect("csv");
    for r in &rows {
        for c in r {
            check.cell(c).expect("cell");
        }
        check.end_row().expect("row");
    }
    assert_eq!(check.finish().expect("finish"), written, "the same bytes");
    report("CSV of 1M rows x 9 cells", ours, library);

    // JSON strings as the audit lines carry them.
    let ours = best(|| {
        let mut out = Vec::with_capacity(300 << 20);
        for t in &texts {
            push_json_string(&mut out, t.as_bytes());
        }
        black_box(out);
    });
    let library = best(|| {
        let mut out = Vec::with_capacity(300 << 20);
        for t in &texts {
            serde_json::to_writer(&mut out, t).expect("json");
        }
        black_box(out);
    });
    report("JSON strings of 1M audit entries", ours, library);
}
