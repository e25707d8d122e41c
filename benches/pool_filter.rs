//! Listing pools with a filter, as `POST /api/work_pools/filter` does: by exact
//! name, and the first page of everything, at 1,000 and 100,000 pools, against
//! reading one pool (one actor round trip) and, at 1,000 pools, against asking
//! every pool's actor (what the route did before it went through the tables).

use std::time::{Duration, Instant};

use actix::prelude::*;
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use workbus::{Bus, CreatePool};

fn fleet(sys: &SystemRunner, n: usize) -> Bus {
    sys.block_on(async {
        let bus = Bus::start();
        for p in 0..n {
            bus.create_pool(CreatePool::new(format!("pool-{p:06}"), "process"))
                .await
                .unwrap();
        }
        bus
    })
}

fn timed<F: std::future::Future<Output = ()>>(
    sys: &SystemRunner,
    iters: u64,
    mut f: impl FnMut() -> F,
) -> Duration {
    sys.block_on(async {
        let t = Instant::now();
        for _ in 0..iters {
            f().await;
        }
        t.elapsed()
    })
}

fn pool_filter(c: &mut Criterion) {
    let mut group = c.benchmark_group("pool_filter");
    group
        .sample_size(10)
        .measurement_time(Duration::from_secs(3))
        .warm_up_time(Duration::from_millis(500));
    for n in [1_000usize, 100_000] {
        let sys = System::new();
        let bus = fleet(&sys, n);
        let name = format!("pool-{:06}", n / 2);
        group.bench_function(BenchmarkId::new("read_one_baseline", n), |b| {
            b.iter_custom(|iters| {
                timed(&sys, iters, || async {
                    bus.pool(&name).await.unwrap();
                })
            })
        });
        group.bench_function(BenchmarkId::new("exact_name", n), |b| {
            b.iter_custom(|iters| {
                timed(&sys, iters, || async {
                    let page = bus
                        .find_pools(Some(&[name.as_str()]), |_| true, 0, 200)
                        .await;
                    assert_eq!(page.len(), 1);
                })
            })
        });
        group.bench_function(BenchmarkId::new("first_page_limit_1", n), |b| {
            b.iter_custom(|iters| {
                timed(&sys, iters, || async {
                    let page = bus.find_pools(None, |_| true, 0, 1).await;
                    assert_eq!(page.len(), 1);
                })
            })
        });
        if n <= 1_000 {
            group.bench_function(BenchmarkId::new("every_actor_asked", n), |b| {
                b.iter_custom(|iters| {
                    timed(&sys, iters, || async {
                        let all = bus.pools().await;
                        assert_eq!(all.iter().filter(|p| p.name == name).count(), 1);
                    })
                })
            });
        }
    }
    group.finish();
}

criterion_group! {
    name = benches;
    // No HTML plots: criterion drew about 15 SVGs a benchmark, about 3 s each time,
    // 40% of what the fan-out bench took. The figures are the same without them.
    config = Criterion::default().without_plots();
    targets = pool_filter
}
criterion_main!(benches);
