use std::time::Instant;
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;
use steward::api;
#[tokio::main(flavor = "current_thread")]
async fn main() {
    let path = std::env::args().nth(1).unwrap();
    let store = steward::Store::open(&path).await.unwrap();
    let now = steward::time::now();
    for _ in 0..2 {
        let t = Instant::now();
        let snap = steward::store::policy::snapshot(
            &steward::store::bulk::Bulk::open(store.path()).unwrap(),
            None,
        )
        .unwrap();
        eprintln!("snapshot {:?} {}", t.elapsed(), snap.subjects.len());
        let t = Instant::now();
        let f = api::findings_list(
            &store,
            now,
            &steward::policy::FindingFilter {
                include_accepted: true,
                ..Default::default()
            },
        )
        .await
        .unwrap();
        eprintln!("findings {:?} {}", t.elapsed(), f.len());
        let t = Instant::now();
        let i = api::review_items(&store, &Default::default())
            .await
            .unwrap();
        eprintln!("items {:?} {}", t.elapsed(), i.len());
        let t = Instant::now();
        let tr = api::trace(&store, None, None).await.unwrap();
        eprintln!("trace {:?} {}", t.elapsed(), tr.counts.total_calls);
    }
}
