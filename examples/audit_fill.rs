//! Bench helper: appends synthetic audit entries to a Steward database until it holds the
//! requested number, through the library's own append path (hash chain intact).
//! Usage: cargo run --release --example audit_fill -- DB TOTAL

use serde_json::json;
use steward::audit::{Actor, Draft};
use steward::{store, time, Store};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let db = args.next().ok_or("usage: audit_fill DB TOTAL")?;
    let total: i64 = args.next().ok_or("usage: audit_fill DB TOTAL")?.parse()?;
    let store = Store::open(&db).await?;
    let actor = Actor("bench".into());
    let now = time::now();
    loop {
        let mut tx = store.begin_write().await?;
        let have = store::audit::head(&mut tx).await?.map_or(0, |(seq, _)| seq);
        if have >= total {
            break;
        }
        let n = (total - have).min(20_000);
        let drafts = (0..n)
            .map(|i| Draft {
                action: "identity.update",
                subject: format!("identity:{}", (have + i) % 100_000 + 1),
                details: json!({ "changes": { "last_used_at": { "from": null, "to": time::format(now) } } }),
            })
            .collect();
        steward::store::audit::append(&mut tx, now, &actor, drafts).await?;
        tx.commit().await?;
    }
    store.close().await;
    Ok(())
}
