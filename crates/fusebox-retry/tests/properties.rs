//! Property: whatever the configuration, no wait exceeds the maximum delay and the waits of one
//! call never add up to more than its deadline.

use fusebox_core::{Event, EventKind};
use fusebox_retry::{Backoff, Jitter, RetryLayer};
use proptest::prelude::*;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tower::{service_fn, BoxError, Layer, ServiceExt};

fn backoffs() -> impl Strategy<Value = Backoff> {
    let ms = Duration::from_millis;
    let schedule = prop_oneof![
        (0u64..3_000).prop_map(move |d| Backoff::constant(ms(d))),
        (0u64..3_000, 0u64..3_000).prop_map(move |(a, b)| Backoff::linear(ms(a), ms(b))),
        (1u64..3_000, 1.0f64..5.0).prop_map(move |(b, m)| Backoff::exponential(ms(b), m)),
    ];
    let jitter = prop_oneof![
        Just(Jitter::None),
        Just(Jitter::Full),
        Just(Jitter::Equal),
        Just(Jitter::Decorrelated)
    ];
    (schedule, 1u64..20_000, jitter).prop_map(move |(b, max, j)| b.max_delay(ms(max)).jitter(j))
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn waits_respect_max_delay_and_deadline(
        backoff in backoffs(),
        attempts in 1u32..30,
        deadline_ms in 1u64..60_000,
        seed in any::<u64>(),
    ) {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .start_paused(true)
            .build()
            .unwrap();
        let delays = Arc::new(Mutex::new(Vec::new()));
        let sink = delays.clone();
        let deadline = Duration::from_millis(deadline_ms);
        let built = RetryLayer::builder("p")
            .backoff(backoff)
            .max_attempts(attempts)
            .deadline(deadline)
            .random_seed(seed)
            .on_event(move |e: &Event<'_>| {
                if let EventKind::RetryScheduled { delay, .. } = e.kind {
                    sink.lock().unwrap().push(delay);
                }
            })
            .build();
        let layer = match built {
            Ok(layer) => layer,
            // Decorrelated jitter needs a non-zero base, the only setting this strategy can
            // get wrong; any other rejection fails the property.
            Err(err) => {
                prop_assert_eq!(err.field(), "backoff_base", "{}", err);
                let decorrelated = format!("{backoff:?}").contains("Decorrelated");
                prop_assert!(decorrelated);
                prop_assert!(backoff.base_delay(1).is_zero());
                return Ok(());
            }
        };
        let failing = service_fn(|_: ()| async { Err::<(), BoxError>("down".into()) });
        runtime.block_on(async {
            let started = tokio::time::Instant::now();
            let _ = layer.layer(failing).oneshot(()).await;
            prop_assert!(tokio::time::Instant::now() - started <= deadline);
            Ok(())
        })?;
        let delays = delays.lock().unwrap();
        prop_assert!(delays.len() < attempts as usize);
        for d in delays.iter() {
            prop_assert!(*d <= backoff.max(), "{d:?} over {:?}", backoff.max());
        }
        prop_assert!(delays.iter().sum::<Duration>() <= deadline);
    }
}
