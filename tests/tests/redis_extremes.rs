//! Property: whatever duration a user gives the store (zero, one nanosecond, `u64::MAX`
//! nanoseconds, `Duration::MAX` or anything between), `build()` either fails with an error
//! naming the field or gives a store that runs without panicking. No Redis is needed: the
//! store is built against a port nothing listens on.

use fusebox::breaker::Breaker;
use fusebox::redis::RedisStore;
use proptest::prelude::*;
use std::time::Duration;

fn durations() -> impl Strategy<Value = Duration> {
    prop_oneof![
        Just(Duration::ZERO),
        Just(Duration::from_nanos(1)),
        Just(Duration::from_nanos(u64::MAX)),
        Just(Duration::MAX),
        any::<u64>().prop_map(Duration::from_nanos),
        (1u64..100_000).prop_map(Duration::from_millis),
    ]
}

const FIELDS: [&str; 5] = [
    "flush_interval",
    "poll_interval",
    "command_timeout",
    "window",
    "key_ttl",
];

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn extreme_durations_build_or_are_rejected_never_panic(
        flush in durations(),
        poll in durations(),
        timeout in durations(),
        window in durations(),
        ttl in durations(),
    ) {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async {
            let built = RedisStore::builder("redis://127.0.0.1:1/", "extremes")
                .flush_interval(flush)
                .poll_interval(poll)
                .command_timeout(timeout)
                .window(window)
                .key_ttl(ttl)
                .build();
            match built {
                Ok(store) => {
                    let b = Breaker::builder("b").build().unwrap();
                    b.share_with(&store);
                    b.try_acquire().unwrap().failure();
                    // Let the store's tasks run a little against the absent server.
                    tokio::task::yield_now().await;
                    prop_assert!(b.try_acquire().is_ok());
                }
                Err(err) => prop_assert!(FIELDS.contains(&err.field()), "{err}"),
            }
            Ok(())
        })?;
    }
}
