//! The hot path as users call it: every contender's calls made with `ready().await` then
//! `call().await` and driven to completion, around the same opaque inner service, timed in
//! interleaved rounds in one run; figures, overheads over the bare service, and the ratios the
//! performance targets name, each taken round by round (see `fusebox_benches::harness`).
//!
//! ```text
//! cargo bench -p fusebox-benches --bench hot_path
//! FUSEBOX_BENCH_ROUNDS=11 FUSEBOX_BENCH_MS=300 cargo bench -p fusebox-benches --bench hot_path
//! ```

use fusebox_benches::contenders::*;
use fusebox_benches::harness::*;
use std::time::Duration;

fn main() {
    if only_checking_build() {
        return;
    }
    let rounds = Rounds::from_env();
    rounds.announce();
    let rt = current_thread();

    let open_counted = tripped(&rt, fusebox(consecutive(Handle::Counted), true));
    assert!(
        open_counted.breaker().state().may_reject(),
        "fusebox tripped"
    );
    let open_static = tripped(&rt, fusebox(consecutive(Handle::Static), true));

    let mut one = vec![
        Contender::one_task("bare service", &rt, inner(false)),
        Contender::one_task(
            "fusebox, consecutive failures, `build()`",
            &rt,
            fusebox(consecutive(Handle::Counted), false),
        ),
        Contender::one_task(
            "fusebox, consecutive failures, `build_static()`",
            &rt,
            fusebox(consecutive(Handle::Static), false),
        ),
        Contender::one_task(
            "fusebox, failure rate, count window of 10",
            &rt,
            fusebox(count_window(10, Handle::Counted), false),
        ),
        Contender::one_task(
            "fusebox, failure rate, count window of 100",
            &rt,
            fusebox(count_window(100, Handle::Counted), false),
        ),
        Contender::one_task(
            "fusebox, failure rate, count window of 160,000",
            &rt,
            fusebox(count_window(160_000, Handle::Counted), false),
        ),
        Contender::one_task(
            "fusebox, failure rate, time window of 10 s",
            &rt,
            fusebox(time_window(Duration::from_secs(10), Handle::Counted), false),
        ),
        Contender::one_task(
            "fusebox, failure rate, count window of 100, one call in 64 fails",
            &rt,
            fusebox_around(
                count_window(100, Handle::Counted),
                inner_failing_now_and_then(),
            ),
        ),
        Contender::one_task(
            "fusebox, failure rate, time window of 10 s, one call in 64 fails",
            &rt,
            fusebox_around(
                time_window(Duration::from_secs(10), Handle::Counted),
                inner_failing_now_and_then(),
            ),
        ),
        Contender::one_task(
            "recloser 1.4, count window of 100, one call in 64 fails",
            &rt,
            recloser_around(100, inner_failing_now_and_then()),
        ),
        Contender::one_task(
            "fusebox, consecutive failures, `build()`, one event listener",
            &rt,
            fusebox(listened(consecutive(Handle::Counted)), false),
        ),
        Contender::one_task(
            "fusebox, consecutive failures, `build_static()`, one event listener",
            &rt,
            fusebox(listened(consecutive(Handle::Static)), false),
        ),
        Contender::one_task(
            "recloser 1.4, count window of 100",
            &rt,
            recloser(100, false),
        ),
        Contender::one_task("failsafe 1.3, consecutive failures", &rt, failsafe(false)),
        Contender::one_task(
            "tower-resilience 0.14, consecutive failures",
            &rt,
            tower_resilience(false),
        ),
        // Rejections.
        Contender::one_task("fusebox rejects, `build()`", &rt, open_counted),
        Contender::one_task("fusebox rejects, `build_static()`", &rt, open_static),
        Contender::one_task("failsafe 1.3 rejects", &rt, tripped(&rt, failsafe(true))),
        Contender::one_task(
            "recloser 1.4 rejects",
            &rt,
            tripped(&rt, recloser(100, true)),
        ),
        Contender::one_task(
            "tower-resilience 0.14 rejects",
            &rt,
            tripped(&rt, tower_resilience(true)),
        ),
        // Keyed.
        Contender::one_task(
            "fusebox keyed, borrowed key, 1 key",
            &rt,
            keyed(Tenant { of: 1 }),
        ),
        Contender::one_task(
            "fusebox keyed, borrowed key, 1,000 keys",
            &rt,
            keyed(Tenant { of: 1_000 }),
        ),
        Contender::one_task(
            "fusebox keyed, `key_fn` closure, 1,000 keys",
            &rt,
            keyed(borrowing_closure_key(1_000)),
        ),
        Contender::one_task(
            "fusebox keyed, closure key (`String`), 1,000 keys",
            &rt,
            keyed(closure_key(1_000)),
        ),
        // Retry, nothing to retry.
        Contender::one_task(
            "fusebox retry, `build()`",
            &rt,
            retry(Handle::Counted, false, inner(false)),
        ),
        Contender::one_task(
            "fusebox retry, `build_static()`",
            &rt,
            retry(Handle::Static, false, inner(false)),
        ),
        Contender::one_task(
            "fusebox retry with a budget, `build()`",
            &rt,
            retry(Handle::Counted, true, inner(false)),
        ),
        Contender::one_task("tower `Retry`, 3 attempts", &rt, tower_retry(inner(false))),
    ];
    rounds.run(&mut one);
    let c = |name: &str| -> &Contender<'_> {
        one.iter()
            .find(|c| c.name == name)
            .unwrap_or_else(|| panic!("no contender {name}"))
    };
    let bare = c("bare service");
    let pick = |names: &[&str]| names.iter().map(|n| c(n)).collect::<Vec<_>>();
    print_table(
        "Closed breaker, one task",
        bare,
        &pick(&[
            "bare service",
            "fusebox, consecutive failures, `build()`",
            "fusebox, consecutive failures, `build_static()`",
            "fusebox, failure rate, count window of 10",
            "fusebox, failure rate, count window of 100",
            "fusebox, failure rate, count window of 160,000",
            "fusebox, failure rate, time window of 10 s",
            "recloser 1.4, count window of 100",
            "failsafe 1.3, consecutive failures",
            "tower-resilience 0.14, consecutive failures",
        ]),
    );
    print_table(
        "Closed breaker, one call in 64 fails, one task",
        bare,
        &pick(&[
            "bare service",
            "fusebox, failure rate, count window of 100, one call in 64 fails",
            "fusebox, failure rate, time window of 10 s, one call in 64 fails",
            "recloser 1.4, count window of 100, one call in 64 fails",
        ]),
    );
    print_table(
        "Closed breaker with one event listener, one task",
        bare,
        &pick(&[
            "fusebox, consecutive failures, `build()`",
            "fusebox, consecutive failures, `build_static()`",
            "fusebox, consecutive failures, `build()`, one event listener",
            "fusebox, consecutive failures, `build_static()`, one event listener",
        ]),
    );
    print_table(
        "Open breaker, every call rejected, one task",
        bare,
        &pick(&[
            "fusebox rejects, `build()`",
            "fusebox rejects, `build_static()`",
            "failsafe 1.3 rejects",
            "recloser 1.4 rejects",
            "tower-resilience 0.14 rejects",
        ]),
    );
    print_table(
        "Keyed breaker, one task",
        bare,
        &pick(&[
            "fusebox, consecutive failures, `build()`",
            "fusebox keyed, borrowed key, 1 key",
            "fusebox keyed, borrowed key, 1,000 keys",
            "fusebox keyed, `key_fn` closure, 1,000 keys",
            "fusebox keyed, closure key (`String`), 1,000 keys",
        ]),
    );
    print_table(
        "Retry, nothing to retry, one task",
        bare,
        &pick(&[
            "fusebox retry, `build()`",
            "fusebox retry, `build_static()`",
            "fusebox retry with a budget, `build()`",
            "tower `Retry`, 3 attempts",
        ]),
    );

    let rt2 = two_workers();
    let mut two = vec![
        Contender::two_tasks("bare service", &rt2, inner(false)),
        Contender::two_tasks(
            "fusebox, consecutive failures, `build()`",
            &rt2,
            fusebox(consecutive(Handle::Counted), false),
        ),
        Contender::two_tasks(
            "fusebox, consecutive failures, `build_static()`",
            &rt2,
            fusebox(consecutive(Handle::Static), false),
        ),
        Contender::two_tasks(
            "recloser 1.4, count window of 100",
            &rt2,
            recloser(100, false),
        ),
        Contender::two_tasks("failsafe 1.3, consecutive failures", &rt2, failsafe(false)),
        Contender::two_tasks(
            "tower-resilience 0.14, consecutive failures",
            &rt2,
            tower_resilience(false),
        ),
        Contender::two_tasks(
            "fusebox keyed, borrowed key, 1 key",
            &rt2,
            keyed(Tenant { of: 1 }),
        ),
        Contender::two_tasks(
            "fusebox keyed, borrowed key, 1,000 keys",
            &rt2,
            keyed(Tenant { of: 1_000 }),
        ),
    ];
    rounds.run(&mut two);
    let refs: Vec<&Contender<'_>> = two.iter().collect();
    print_table(
        "Closed breaker, two tasks on two worker threads, one shared breaker or keyed set (ns per call per task)",
        refs[0],
        &refs,
    );

    let peers = [
        c("recloser 1.4, count window of 100"),
        c("failsafe 1.3, consecutive failures"),
    ];
    let recloser = c("recloser 1.4, count window of 100");
    let plain = c("fusebox, consecutive failures, `build()`");
    println!("\n### Targets (overhead over the bare service, as a ratio, median of the rounds)\n");
    println!("| target | measured | limit | |\n|---|---:|---:|---|");
    print_target(
        "closed, `build()`, against the best of recloser and failsafe",
        overhead_ratio_to_best(plain, &peers, bare),
        0.5,
    );
    for window in ["10", "160,000"] {
        print_target(
            &format!("count window of {window}, against recloser's ring buffer"),
            overhead_ratio(
                c(&format!("fusebox, failure rate, count window of {window}")),
                recloser,
                bare,
            ),
            0.5,
        );
    }
    print_target(
        "time window, against recloser's ring buffer",
        overhead_ratio(
            c("fusebox, failure rate, time window of 10 s"),
            recloser,
            bare,
        ),
        0.5,
    );
    for keyed in [
        "fusebox keyed, borrowed key, 1,000 keys",
        "fusebox keyed, `key_fn` closure, 1,000 keys",
    ] {
        print_target(
            &format!("{keyed}, against the plain breaker"),
            overhead_ratio(c(keyed), plain, bare),
            2.0,
        );
    }
    print_target(
        "retry, `build()`, nothing to retry, against tower's `Retry`",
        overhead_ratio(
            c("fusebox retry, `build()`"),
            c("tower `Retry`, 3 attempts"),
            bare,
        ),
        2.0,
    );
    let reject_peers = [
        c("failsafe 1.3 rejects"),
        c("recloser 1.4 rejects"),
        c("tower-resilience 0.14 rejects"),
    ];
    print_target(
        "rejection, `build()`, against the best peer",
        overhead_ratio_to_best(c("fusebox rejects, `build()`"), &reject_peers, bare),
        0.5,
    );
    let two_peers = [refs[3], refs[4], refs[5]];
    print_target(
        "two tasks, `build()`, against the best peer",
        overhead_ratio_to_best(refs[1], &two_peers, refs[0]),
        0.5,
    );
}

/// `svc` (around a failing inner service) after 200 failed calls: tripped open, so every
/// further call is rejected.
fn tripped<S: tower::Service<u64>>(rt: &tokio::runtime::Runtime, mut svc: S) -> S {
    let tally = rt.block_on(drive(&mut svc, 200));
    assert_eq!(tally.err, 200, "a failing service's calls fail");
    svc
}
