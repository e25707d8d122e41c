//! How cost grows: fan-out over a grid of fleets (100 to 100,000 pools) and subscribers
//! (1 to 1,000). Each point's baseline, in the same run, is raw actix with the same shape:
//! as many actors as the fleet has pools, each forwarding an `Arc` to one registry actor
//! that forwards it to the same number of counting actors. (Raw actix with its registry
//! driven directly, the fan-out bench's baseline, is measured too: it shows what having
//! an actor per pool costs at all.)
//!
//! Each event is a pause or a resume of a pool, the pools taken in a stride that visits
//! every one before any twice, so a big fleet is touched all over, as real traffic would.
//! A point is the median of `SAMPLES` timed samples after one warm-up; a sample is about
//! `DELIVERIES` deliveries (events × subscribers). It is not a criterion bench: criterion
//! has no two-dimensional report, and the grid needs one fleet built per row, not per point.
//!
//! It prints the table (markdown) and writes it, with a plot of deliveries per second
//! against subscribers (thick: workbus, thin: raw actix, one colour per fleet size), to
//! `target/sweep/sweep.md` and `target/sweep/sweep.svg` (`docs/img/sweep.svg` is a copy).
//!
//! ```text
//! cargo bench --bench sweep
//! ```

mod support;

use std::fmt::Write as _;
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use actix::prelude::*;
use plotters::prelude::*;
use support::{drive_raw, until, Counter, Fleet, Payloads, Raw, RawCounter, RawRegistry};
use workbus::{Bus, SubscribeOptions};

const FLEETS: [usize; 4] = [100, 1_000, 10_000, 100_000];
const SUBSCRIBERS: [usize; 4] = [1, 10, 100, 1_000];
const SAMPLES: usize = 5;
const DELIVERIES: usize = 200_000;
/// A prime: coprime with every fleet size, so the stride visits every pool.
const STRIDE: usize = 7_919;

fn events_for(subscribers: usize) -> usize {
    (DELIVERIES / subscribers).clamp(200, 20_000)
}

/// One sample: `drive` (not started until now), then the wait until `per_sample` more
/// deliveries are counted; in deliveries per second.
async fn sample(count: &AtomicU64, per_sample: u64, drive: impl Future<Output = ()>) -> f64 {
    let start = count.load(Ordering::Relaxed);
    let t = Instant::now();
    drive.await;
    until(count, start + per_sample).await;
    per_sample as f64 / t.elapsed().max(Duration::from_nanos(1)).as_secs_f64()
}

/// The median of the samples after the first (the warm-up).
fn median(mut samples: Vec<f64>) -> f64 {
    samples.remove(0);
    samples.sort_by(f64::total_cmp);
    samples[samples.len() / 2]
}

/// The baseline's pool: a raw actix actor forwarding each message to the baseline registry.
struct RawPool(Recipient<Raw>);

impl Actor for RawPool {
    type Context = Context<Self>;
}

impl Handler<Raw> for RawPool {
    type Result = ();
    fn handle(&mut self, msg: Raw, _: &mut Context<Self>) {
        self.0.do_send(msg);
    }
}

/// Sends `events` messages of `payloads` through the baseline's pools, in the same stride as
/// the fleet's events, yielding every 256.
async fn drive_raw_pools(
    pools: &[Addr<RawPool>],
    payloads: &Payloads,
    next: &mut usize,
    events: usize,
) {
    for k in 0..events {
        pools[*next].do_send(payloads.message(k));
        *next = (*next + STRIDE) % pools.len();
        if k % 256 == 255 {
            tokio::task::yield_now().await;
        }
    }
}

/// The baseline for one fleet size: raw actix with as many forwarding actors in front of
/// its registry as the fleet has pools (none for `pools == 0`: the registry is driven
/// directly), its subscribers added row by row; deliveries per second at each number.
fn raw_row(pools: usize) -> Vec<f64> {
    let sys = System::new();
    sys.block_on(async move {
        let count = Arc::new(AtomicU64::new(0));
        let mut rates = Vec::new();
        let mut next = 0;
        for &n in &SUBSCRIBERS {
            // Raw actix cannot add a subscriber to a running registry: one per point.
            let subs = (0..n)
                .map(|_| RawCounter(count.clone()).start().recipient())
                .collect();
            let registry = RawRegistry(subs).start();
            let front: Vec<Addr<RawPool>> = (0..pools)
                .map(|_| RawPool(registry.clone().recipient()).start())
                .collect();
            let events = events_for(n);
            // The sweep measures how the transport grows: one event, shared, as before.
            let payloads = Payloads::shared();
            let per_sample = (events * n) as u64;
            let mut samples = Vec::new();
            for _ in 0..=SAMPLES {
                let t = if front.is_empty() {
                    sample(&count, per_sample, drive_raw(&registry, &payloads, events)).await
                } else {
                    sample(
                        &count,
                        per_sample,
                        drive_raw_pools(&front, &payloads, &mut next, events),
                    )
                    .await
                };
                samples.push(t);
            }
            rates.push(median(samples));
        }
        rates
    })
}

/// One fleet, its subscribers added row by row: deliveries per second at each number of subscribers.
fn row(pools: usize) -> Vec<f64> {
    let sys = System::new();
    sys.block_on(async move {
        let bus = Bus::start();
        let names = (0..pools).map(|p| format!("p{p}")).collect();
        let fleet = Fleet::create(&bus, names, STRIDE).await;
        let count = Arc::new(AtomicU64::new(0));
        let mut subscribed = 0;
        let mut rates = Vec::new();
        for &n in &SUBSCRIBERS {
            while subscribed < n {
                let addr = Counter(count.clone()).start();
                bus.subscribe(addr.recipient(), SubscribeOptions::new("count"))
                    .await
                    .unwrap()
                    .keep();
                subscribed += 1;
            }
            bus.flush().await.unwrap();
            let events = events_for(n);
            let mut samples = Vec::new();
            for _ in 0..=SAMPLES {
                let per_sample = (events * n) as u64;
                samples.push(sample(&count, per_sample, fleet.drive(&bus, events)).await);
            }
            rates.push(median(samples));
        }
        rates
    })
}

/// A sweep's figures: per fleet size, workbus and its baseline at each number of subscribers.
struct Row {
    pools: usize,
    workbus: Vec<f64>,
    raw: Vec<f64>,
}

fn table(rows: &[Row], direct: &[f64]) -> String {
    let mut t = String::new();
    let _ = writeln!(
        t,
        "| pools | contender | {} |",
        SUBSCRIBERS.map(|n| format!("{n} sub.")).join(" | ")
    );
    let _ = writeln!(t, "|---|---|{}", "---|".repeat(SUBSCRIBERS.len()));
    let cells = |v: &[f64]| -> String {
        v.iter()
            .map(|r| format!("{:.2} M", r / 1e6))
            .collect::<Vec<_>>()
            .join(" | ")
    };
    for row in rows {
        let ratios: Vec<String> = row
            .workbus
            .iter()
            .zip(&row.raw)
            .map(|(w, r)| format!("{:.2} M (**{:.2}**)", w / 1e6, w / r))
            .collect();
        let _ = writeln!(t, "| {} | workbus | {} |", row.pools, ratios.join(" | "));
        let _ = writeln!(
            t,
            "| {} | raw actix, {} forwarding actors | {} |",
            row.pools,
            row.pools,
            cells(&row.raw)
        );
    }
    let _ = writeln!(
        t,
        "| | raw actix, registry driven directly | {} |",
        cells(direct)
    );
    t
}

fn plot(path: &std::path::Path, rows: &[Row]) -> Result<(), String> {
    let top = rows
        .iter()
        .flat_map(|r| r.workbus.iter().chain(&r.raw))
        .fold(0.0f64, |a, &b| a.max(b / 1e6))
        * 1.15;
    let root = SVGBackend::new(path, (720, 420)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| e.to_string())?;
    let mut chart = ChartBuilder::on(&root)
        .caption(
            "fan-out: deliveries per second (millions)",
            ("sans-serif", 18),
        )
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(50)
        .build_cartesian_2d((1f64..1_000f64).log_scale(), 0f64..top)
        .map_err(|e| e.to_string())?;
    chart
        .configure_mesh()
        .x_desc("subscribers")
        .y_desc("M deliveries/s")
        .draw()
        .map_err(|e| e.to_string())?;
    let xs = SUBSCRIBERS.map(|n| n as f64);
    let colours = [&BLUE, &GREEN, &MAGENTA, &RED];
    for (row, colour) in rows.iter().zip(colours) {
        for (rates, width, who) in [(&row.workbus, 3, "workbus"), (&row.raw, 1, "raw actix")] {
            let style = colour.stroke_width(width);
            chart
                .draw_series(LineSeries::new(
                    xs.iter().zip(rates).map(|(&x, &r)| (x, r / 1e6)),
                    style,
                ))
                .map_err(|e| e.to_string())?
                .label(format!("{who}, {} pools", row.pools))
                .legend(move |(x, y)| PathElement::new([(x, y), (x + 20, y)], style));
        }
    }
    chart
        .configure_series_labels()
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .position(SeriesLabelPosition::LowerLeft)
        .draw()
        .map_err(|e| e.to_string())?;
    root.present().map_err(|e| e.to_string())
}

fn main() {
    // `cargo bench` passes `--bench`; `cargo test --benches` does not, and gets a quick pass.
    if !std::env::args().any(|a| a == "--bench") {
        println!("sweep: run with `cargo bench --bench sweep`");
        return;
    }
    let started = Instant::now();
    let direct = raw_row(0);
    let rows: Vec<Row> = FLEETS
        .iter()
        .map(|&pools| Row {
            pools,
            workbus: row(pools),
            raw: raw_row(pools),
        })
        .collect();
    let table = table(&rows, &direct);
    println!("sweep: deliveries per second (workbus's ratio to raw actix with as many actors in front, same run)\n\n{table}");
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target/sweep");
    let _ = std::fs::create_dir_all(&dir);
    let _ = std::fs::write(dir.join("sweep.md"), &table);
    match plot(&dir.join("sweep.svg"), &rows) {
        Ok(()) => println!("sweep: plot in {}", dir.join("sweep.svg").display()),
        Err(e) => println!("sweep: no plot: {e}"),
    }
    println!("sweep: {:.1} s in all", started.elapsed().as_secs_f64());
}
