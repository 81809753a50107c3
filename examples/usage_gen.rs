//! Writes a synthetic BALP-shaped AuditEvent log for the usage benchmark: N events (about
//! 1 KB each) from about 400 clients over 13 resource types and 30 days, as NDJSON, and the
//! same calls as a flat CSV (what a user would load into sqlite3 without Steward).
//!
//! usage_gen EVENTS OUT.ndjson OUT.csv
//!
//! `USAGE_CLIENTS` (default 400) sets how many clients call: the distinct daily aggregates
//! grow with it (about 650,000 of them at 8,000 clients and 1,000,000 events).

use std::io::{BufWriter, Write};

use steward::usage::synthetic::{write_event, Workload};

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
    let clients: usize = match std::env::var("USAGE_CLIENTS") {
        Ok(v) => v.parse().expect("USAGE_CLIENTS is a number"),
        Err(_) => 400,
    };
    let mut workload = Workload::new(clients);
    let mut line = Vec::with_capacity(2048);
    for _ in 0..n {
        let call = workload.call();
        line.clear();
        write_event(&mut line, &call.synthetic())?;
        nd.write_all(&line)?;
        writeln!(
            csv,
            "{},{},{},{},{},{},{}",
            call.client_id,
            &call.recorded[..10],
            call.context.as_str(),
            call.resource_type,
            call.interaction.as_str(),
            if call.success { "success" } else { "failure" },
            call.recorded
        )?;
    }
    nd.flush()?;
    csv.flush()
}
