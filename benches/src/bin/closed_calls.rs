//! Makes `N` calls through a contender the way users call a service (`ready().await`, then
//! `call().await`, on a current-thread Tokio runtime), for counting the instructions a call
//! costs with `valgrind --tool=callgrind`: run it with `N` and with 0, and divide the difference
//! by `N`. Instruction counts repeat exactly run after run, unlike timings on a busy machine.
//!
//! ```text
//! closed_calls <N> [static|counted|count-window|time-window|bare|recloser|failsafe|
//!                    retry|retry-static|tower-retry|keyed|keyed-fn|keyed-closure]
//! ```
//!
//! The default is a closed breaker made by `build_static()`; `counted` uses `build()`.

use fusebox_benches::contenders::{
    borrowing_closure_key, closure_key, consecutive, count_window, failsafe, fusebox, keyed,
    recloser, retry, time_window, tower_retry, Handle, Tenant,
};
use fusebox_benches::harness::{current_thread, drive, inner};

fn main() {
    let mut args = std::env::args().skip(1);
    let calls: u64 = match args.next().map(|n| n.parse()) {
        Some(Ok(n)) => n,
        _ => {
            eprintln!("usage: closed_calls <calls> [contender]");
            std::process::exit(2);
        }
    };
    let contender = args.next().unwrap_or_else(|| "static".to_owned());
    let rt = current_thread();
    let tally = match contender.as_str() {
        "static" => rt.block_on(drive(
            &mut fusebox(consecutive(Handle::Static), false),
            calls,
        )),
        "counted" => rt.block_on(drive(
            &mut fusebox(consecutive(Handle::Counted), false),
            calls,
        )),
        "bare" => rt.block_on(drive(&mut inner(false), calls)),
        "retry" => rt.block_on(drive(
            &mut retry(Handle::Counted, false, inner(false)),
            calls,
        )),
        "retry-static" => rt.block_on(drive(
            &mut retry(Handle::Static, false, inner(false)),
            calls,
        )),
        "tower-retry" => rt.block_on(drive(&mut tower_retry(inner(false)), calls)),
        "recloser" => rt.block_on(drive(&mut recloser(100, false), calls)),
        "failsafe" => rt.block_on(drive(&mut failsafe(false), calls)),
        "count-window" => rt.block_on(drive(
            &mut fusebox(count_window(100, Handle::Counted), false),
            calls,
        )),
        "time-window" => rt.block_on(drive(
            &mut fusebox(
                time_window(std::time::Duration::from_secs(10), Handle::Counted),
                false,
            ),
            calls,
        )),
        "keyed" => rt.block_on(drive(&mut keyed(Tenant { of: 1_000 }), calls)),
        "keyed-closure" => rt.block_on(drive(&mut keyed(closure_key(1_000)), calls)),
        "keyed-fn" => rt.block_on(drive(&mut keyed(borrowing_closure_key(1_000)), calls)),
        other => {
            eprintln!("unknown contender {other:?}");
            std::process::exit(2);
        }
    };
    assert_eq!(tally.ok, calls, "every call succeeds");
    println!("{}", tally.ok);
}
