//! Every attempt runs in a `retry_attempt` span naming the retry, the attempt and the
//! request's correlation id, so what the inner service logs says which attempt it belongs to.
//!
//! The only test in its binary: tracing caches per-callsite interest process-wide, so a test
//! without a subscriber running beside it could hide these spans.

use fusebox_core::GiveUpReason;
use fusebox_retry::{Backoff, ResendPolicy, RetryLayer};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tower::{service_fn, BoxError, Layer, ServiceExt};

/// Requests that are their own correlation id.
#[derive(Clone, Copy)]
struct Tagged;

impl ResendPolicy<&'static str> for Tagged {
    fn resend(&self, request: &&'static str) -> Result<&'static str, GiveUpReason> {
        Ok(*request)
    }
    fn correlation_id<'a>(&self, request: &'a &'static str) -> Option<&'a str> {
        Some(request)
    }
}

#[test]
fn each_attempt_runs_in_a_span_with_its_number_and_correlation_id() {
    let captured = fusebox_testkit::Captured::default();
    let calls = Arc::new(AtomicU32::new(0));
    let seen = calls.clone();
    let inner = service_fn(move |_: &'static str| {
        let n = seen.fetch_add(1, Ordering::SeqCst);
        async move {
            tracing::info!("sending");
            if n == 0 {
                Err::<u32, BoxError>("unavailable".into())
            } else {
                Ok(n)
            }
        }
    });
    let layer = RetryLayer::builder("calendar")
        .backoff(Backoff::constant(Duration::from_millis(10)))
        .requests(Tagged)
        .build()
        .unwrap();
    let answer = captured
        .block_on(tracing::Level::DEBUG, layer.layer(inner).oneshot("req-42"))
        .unwrap();
    assert_eq!(answer, 1);
    let log = captured.text();
    let sending: Vec<&str> = log.lines().filter(|l| l.ends_with("sending")).collect();
    assert_eq!(sending.len(), 2, "{log}");
    for (line, attempt) in sending.iter().zip(1..) {
        let span = format!(
            "retry_attempt{{retry=\"calendar\" attempt={attempt} correlation_id=\"req-42\"}}"
        );
        assert!(line.contains(&span), "missing {span}: {line}");
    }
}
