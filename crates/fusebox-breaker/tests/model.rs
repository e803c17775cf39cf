//! Property test: random calls, outcomes and time steps drive the breaker and a small reference
//! model side by side; they must agree on every admission and every state.

use fusebox_breaker::{Breaker, CircuitState, Permit};
use fusebox_core::Outcome;
use proptest::prelude::*;
use std::collections::VecDeque;
use std::time::Duration;

#[derive(Clone, Copy, Debug)]
struct Params {
    consecutive: Option<u32>,
    rate: Option<(f64, u32, u32)>, // threshold, window, min calls
    open_ms: u64,
    probes: u32,
    successes: u32,
    max_wait_ms: u64,
}

#[derive(Clone, Copy, Debug)]
enum Op {
    Acquire,
    Complete { index: usize, outcome: u8 },
    Advance { ms: u64 },
}

fn params() -> impl Strategy<Value = Params> {
    (
        proptest::option::of(1u32..5),
        proptest::option::of((
            prop_oneof![Just(0.25), Just(0.5), Just(1.0)],
            1u32..8,
            1u32..8,
        )),
        1u64..50,
        1u32..4,
        1u32..4,
        1u64..80,
    )
        .prop_map(
            |(consecutive, rate, open_ms, probes, successes, max_wait_ms)| {
                let rate = rate.map(|(t, w, m)| (t, w, m.min(w)));
                let consecutive = if consecutive.is_none() && rate.is_none() {
                    Some(5)
                } else {
                    consecutive
                };
                Params {
                    consecutive,
                    rate,
                    open_ms,
                    probes,
                    successes,
                    max_wait_ms,
                }
            },
        )
}

fn ops() -> impl Strategy<Value = Vec<Op>> {
    proptest::collection::vec(
        prop_oneof![
            4 => Just(Op::Acquire),
            5 => (0usize..8, 0u8..3).prop_map(|(index, outcome)| Op::Complete { index, outcome }),
            2 => (1u64..40).prop_map(|ms| Op::Advance { ms }),
        ],
        1..150,
    )
}

fn outcome(code: u8) -> Outcome {
    match code {
        0 => Outcome::Success,
        1 => Outcome::retryable_failure(),
        _ => Outcome::Ignored,
    }
}

/// The reference: plain data, no atomics, the rules written out directly.
struct Model {
    p: Params,
    state: CircuitState,
    generation: u64,
    now: u64,
    open_until: u64,
    entered: u64,
    consecutive: u32,
    window: VecDeque<bool>,
    in_flight: u32,
    successes: u32,
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum Kind {
    Closed,
    Probe,
}

impl Model {
    fn new(p: Params) -> Self {
        Model {
            p,
            state: CircuitState::Closed,
            generation: 0,
            now: 0,
            open_until: 0,
            entered: 0,
            consecutive: 0,
            window: VecDeque::new(),
            in_flight: 0,
            successes: 0,
        }
    }

    fn open(&mut self) {
        self.state = CircuitState::Open;
        self.generation += 1;
        self.open_until = self.now + self.p.open_ms;
        self.entered = self.now;
    }

    fn advance(&mut self, ms: u64) {
        self.now += ms;
        if self.state == CircuitState::Open && self.now >= self.open_until {
            self.state = CircuitState::HalfOpen;
            self.generation += 1;
            self.entered = self.open_until;
            self.in_flight = 0;
            self.successes = 0;
        }
    }

    fn acquire(&mut self) -> Option<(u64, Kind)> {
        match self.state {
            CircuitState::Closed => Some((self.generation, Kind::Closed)),
            CircuitState::HalfOpen if self.in_flight < self.p.probes => {
                self.in_flight += 1;
                Some((self.generation, Kind::Probe))
            }
            CircuitState::HalfOpen => {
                if self.now >= self.entered + self.p.max_wait_ms {
                    self.open();
                }
                None
            }
            _ => None,
        }
    }

    fn complete(&mut self, generation: u64, kind: Kind, code: u8) {
        if generation != self.generation {
            return;
        }
        match (kind, code) {
            (Kind::Probe, 2) => self.in_flight -= 1,
            (Kind::Probe, 1) => self.open(),
            (Kind::Probe, _) => {
                self.in_flight -= 1;
                self.successes += 1;
                if self.successes >= self.p.successes {
                    self.state = CircuitState::Closed;
                    self.generation += 1;
                    self.consecutive = 0;
                    self.window.clear();
                }
            }
            (Kind::Closed, 2) => {}
            (Kind::Closed, code) => {
                let failed = code == 1;
                if let Some(threshold) = self.p.consecutive {
                    if failed {
                        self.consecutive += 1;
                        if self.consecutive >= threshold {
                            self.open();
                            return;
                        }
                    } else {
                        self.consecutive = 0;
                    }
                }
                if let Some((threshold, size, min)) = self.p.rate {
                    self.window.push_back(failed);
                    if self.window.len() > size as usize {
                        self.window.pop_front();
                    }
                    let calls = self.window.len() as u64;
                    let failures = self.window.iter().filter(|f| **f).count() as f64;
                    if failed && calls >= u64::from(min) && failures / calls as f64 >= threshold {
                        self.open();
                    }
                }
            }
        }
    }
}

fn build(p: &Params) -> Breaker {
    let mut b = Breaker::builder("model")
        .open_duration(Duration::from_millis(p.open_ms))
        .half_open_probes(p.probes)
        .half_open_successes(p.successes)
        .half_open_max_wait(Duration::from_millis(p.max_wait_ms));
    if let Some(n) = p.consecutive {
        b = b.consecutive_failures(n);
    }
    if let Some((threshold, size, min)) = p.rate {
        b = b.failure_rate(threshold).count_window(size).min_calls(min);
    }
    b.build().unwrap()
}

async fn run(p: Params, ops: Vec<Op>) -> Result<(), TestCaseError> {
    let breaker = build(&p);
    let mut model = Model::new(p);
    let mut held: Vec<(Permit, u64, Kind)> = Vec::new();
    for (step, op) in ops.into_iter().enumerate() {
        match op {
            Op::Acquire => {
                let real = breaker.try_acquire();
                let expected = model.acquire();
                prop_assert_eq!(real.is_ok(), expected.is_some(), "step {}: admission", step);
                if let (Ok(permit), Some((generation, kind))) = (real, expected) {
                    prop_assert_eq!(permit.is_probe(), kind == Kind::Probe, "step {}", step);
                    held.push((permit, generation, kind));
                }
            }
            Op::Complete {
                index,
                outcome: code,
            } => {
                if held.is_empty() {
                    continue;
                }
                let (permit, generation, kind) = held.remove(index % held.len());
                permit.record(outcome(code));
                model.complete(generation, kind, code);
            }
            Op::Advance { ms } => {
                tokio::time::advance(Duration::from_millis(ms)).await;
                for _ in 0..10 {
                    tokio::task::yield_now().await;
                }
                model.advance(ms);
            }
        }
        prop_assert_eq!(breaker.state(), model.state, "step {}: state", step);
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 512,
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn breaker_agrees_with_the_reference_model(p in params(), ops in ops()) {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .start_paused(true)
            .build()
            .unwrap();
        runtime.block_on(run(p, ops))?;
    }
}
