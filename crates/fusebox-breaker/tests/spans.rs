//! With `DEBUG` enabled, a call through a breaker's layer records the breaker, its key, whether
//! the call is a probe and its outcome in the span it runs in, and a rejection logs an event
//! naming the call's correlation id.
//!
//! The only test in its binary: tracing caches per-callsite interest process-wide, so a test
//! without a subscriber running beside it could hide these records.

use fusebox_breaker::{Breaker, CircuitBreakerLayer, KeyedCircuitBreakerLayer};
use fusebox_core::CorrelationId;
use tower::{service_fn, BoxError, Layer, ServiceExt};
use tracing::field::Empty;
use tracing::Instrument;

#[test]
fn a_call_records_its_breaker_in_its_span_and_a_rejection_logs_its_id() {
    let captured = fusebox_testkit::Captured::default();
    captured.block_on(tracing::Level::DEBUG, async {
        let span = || {
            tracing::debug_span!(
                "call",
                breaker = Empty,
                key = Empty,
                probe = Empty,
                outcome = Empty
            )
        };
        let inner = service_fn(|fail: bool| async move {
            if fail {
                Err::<(), BoxError>("declined".into())
            } else {
                Ok(())
            }
        });

        let breaker = Breaker::builder("payments")
            .consecutive_failures(1)
            .build()
            .unwrap();
        let svc = CircuitBreakerLayer::new(breaker).layer(inner);
        let ok = span();
        svc.clone()
            .oneshot(false)
            .instrument(ok.clone())
            .await
            .unwrap();
        tracing::debug!(parent: &ok, "after success");
        let failed = span();
        let _ = svc.clone().oneshot(true).instrument(failed.clone()).await;
        tracing::debug!(parent: &failed, "after failure");
        // Open now: the rejection names the call's id.
        let rejected = CorrelationId::new("req-7")
            .unwrap()
            .scope(svc.clone().oneshot(false))
            .await
            .unwrap_err();
        assert!(
            rejected.to_string().contains("(correlation id req-7)"),
            "{rejected}"
        );

        let tenants = Breaker::builder("calendar").keyed().build().unwrap();
        let keyed = KeyedCircuitBreakerLayer::new(tenants, |tenant: &&'static str| {
            Some((*tenant).to_owned())
        })
        .layer(service_fn(|_: &'static str| async {
            Ok::<(), BoxError>(())
        }));
        let acme = span();
        keyed
            .oneshot("acme")
            .instrument(acme.clone())
            .await
            .unwrap();
        tracing::debug!(parent: &acme, "after keyed");
    });
    let log = captured.text();
    let line = |marker: &str| {
        log.lines()
            .find(|l| l.contains(marker))
            .unwrap_or_else(|| panic!("no `{marker}` in {log}"))
            .to_owned()
    };
    assert!(
        line("after success")
            .contains("call{breaker=\"payments\" probe=false outcome=\"success\"}"),
        "{log}"
    );
    assert!(
        line("after failure").contains("outcome=\"failure\""),
        "{log}"
    );
    let rejected = line("call rejected");
    for field in [
        "breaker=\"payments\"",
        "state=open",
        "correlation_id=\"req-7\"",
    ] {
        assert!(rejected.contains(field), "missing {field}: {rejected}");
    }
    assert!(
        line("after keyed")
            .contains("call{breaker=\"calendar\" key=\"acme\" probe=false outcome=\"success\"}"),
        "{log}"
    );
}
