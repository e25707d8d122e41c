//! The HTTP bench's heartbeat route (`benches/http.rs`), for counting instructions with
//! callgrind rather than timing: the real server or the bare actix-web baseline, the
//! bench's own load generator, `REQUESTS` heartbeats at `IN_FLIGHT` (8 unless given).
//!
//! Client and server run in this one process, so a count is both sides'; the client's
//! part is the same for both servers, and the difference between them is what the
//! server does beyond bare actix-web. Run it at two request counts and divide the
//! difference in instructions by the difference in requests: setup cancels out.
//!
//! ```text
//! cargo build --release --example http_instructions
//! for who in bare workbus; do for n in 2000 6000; do
//!   valgrind --tool=callgrind --callgrind-out-file=/tmp/cg.http.$who.$n \
//!     target/release/examples/http_instructions $who $n 2>&1 | grep Collected
//! done; done
//! ```

#[path = "../benches/support/mod.rs"]
mod support;

use support::http::{heartbeat_path, load, start_bare, start_workbus};

fn main() {
    let mut args = std::env::args().skip(1);
    let who = args.next().unwrap_or_default();
    let requests: u64 = args.next().and_then(|n| n.parse().ok()).unwrap_or(2_000);
    let in_flight: usize = args.next().and_then(|n| n.parse().ok()).unwrap_or(8);
    let addr = match who.as_str() {
        "bare" => start_bare(),
        "workbus" => start_workbus(),
        other => panic!("bare or workbus, not {other:?}"),
    };
    let took = actix::System::new().block_on(load(
        format!("http://{addr}"),
        requests,
        in_flight,
        heartbeat_path,
        None,
    ));
    eprintln!("{requests} heartbeats answered in {took:?}");
}
