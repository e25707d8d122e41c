//! Event construction and encoding: building one Prefect event from an actor's prebuilt
//! labels, and serializing it to Prefect JSON, against the naive way (fresh label maps, two
//! UUIDs, a formatted timestamp, a `serde_json::Value`).

use std::hint::black_box;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion};
use serde_json::json;
use uuid::Uuid;
use workbus::events::prefect::{self, Changes, PoolLabels, Status};
use workbus::{Clock, TokioClock};

fn events(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let _guard = rt.enter();
    let clock = TokioClock::new();
    let pool = PoolLabels::new(Uuid::now_v7(), "etl-nightly", "process");
    let mut group = c.benchmark_group("events");
    group
        .sample_size(30)
        .measurement_time(Duration::from_secs(2))
        .warm_up_time(Duration::from_millis(500));

    group.bench_function("build/workbus_status", |b| {
        b.iter(|| {
            let now = clock.now();
            black_box(prefect::pool_status(
                &pool,
                Status::Ready,
                now,
                prefect::event_id(now),
                None,
            ))
        })
    });
    group.bench_function("build/workbus_updated", |b| {
        b.iter(|| {
            let now = clock.now();
            let mut changes = Changes::default();
            changes.push("description", json!(null), json!("nightly loads"));
            changes.push("concurrency_limit", json!(null), json!(4));
            black_box(prefect::pool_updated(
                &pool,
                changes,
                now,
                prefect::event_id(now),
            ))
        })
    });
    group.bench_function("build/naive_baseline", |b| {
        let pool_id = Uuid::now_v7();
        b.iter(|| {
            let now = std::time::SystemTime::now();
            let micros = now
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_micros();
            black_box(json!({
                "occurred": format!("{}.{:06}Z", micros / 1_000_000, micros % 1_000_000),
                "event": format!("prefect.work-pool.{}", "ready"),
                "resource": {
                    "prefect.resource.id": format!("prefect.work-pool.{pool_id}"),
                    "prefect.resource.name": "etl-nightly".to_string(),
                    "prefect.work-pool.type": "process".to_string(),
                },
                "related": [],
                "payload": {},
                "id": Uuid::new_v4().to_string(),
                "follows": Uuid::new_v4().to_string(),
            }))
        })
    });

    let now = clock.now();
    let status = prefect::pool_status(
        &pool,
        Status::Ready,
        now,
        prefect::event_id(now),
        Some(Uuid::now_v7()),
    );
    group.bench_function("encode/workbus_status", |b| {
        b.iter(|| black_box(status.to_json()))
    });
    let naive = serde_json::to_value(&status).unwrap();
    group.bench_function("encode/serde_json_value_baseline", |b| {
        b.iter(|| black_box(serde_json::to_vec(&naive).unwrap()))
    });
    let mut changes = Changes::default();
    changes.push("description", json!(null), json!("nightly loads"));
    changes.push("concurrency_limit", json!(null), json!(4));
    let updated = prefect::pool_updated(&pool, changes, now, prefect::event_id(now));
    group.bench_function("encode/workbus_updated", |b| {
        b.iter(|| black_box(updated.to_json()))
    });
    group.bench_function("decode/workbus_status", |b| {
        let bytes = status.to_json();
        b.iter(|| black_box(workbus::Event::from_json(&bytes).unwrap()))
    });
    group.finish();
}

/// Event ids: ours (a 12-bit counter and wyrand per thread) against uuid's own
/// `ContextV7` (a 42-bit counter, rand's generator) in a thread-local, and against
/// `Uuid::now_v7` (one context shared behind a lock, and a clock read).
fn ids(c: &mut Criterion) {
    thread_local! {
        static CTX: uuid::ContextV7 = const { uuid::ContextV7::new() };
    }
    let at = workbus::Timestamp::from_micros(1_700_000_000_123_456);
    let mut group = c.benchmark_group("ids");
    group
        .sample_size(30)
        .measurement_time(Duration::from_secs(2))
        .warm_up_time(Duration::from_millis(500));
    group.bench_function("workbus_event_id", |b| {
        b.iter(|| black_box(prefect::event_id(black_box(at))))
    });
    group.bench_function("uuid_context_v7_baseline", |b| {
        b.iter(|| {
            let micros = black_box(at).as_micros();
            let (secs, sub) = (micros.div_euclid(1_000_000), micros.rem_euclid(1_000_000));
            CTX.with(|ctx| {
                let ts = uuid::Timestamp::from_unix(ctx, secs as u64, sub as u32 * 1000);
                black_box(Uuid::new_v7(ts))
            })
        })
    });
    group.bench_function("uuid_now_v7_baseline", |b| {
        b.iter(|| black_box(Uuid::now_v7()))
    });
    group.finish();
}

criterion_group! {
    name = benches;
    // No HTML plots: criterion drew about 15 SVGs a benchmark, about 3 s each time,
    // 40% of what the fan-out bench took. The figures are the same without them.
    config = Criterion::default().without_plots();
    targets = events, ids
}
criterion_main!(benches);
