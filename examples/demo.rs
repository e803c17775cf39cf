//! fusebox demo: a flaky upstream, a client behind retry and a circuit breaker, and what they do.
//!
//! Starts an HTTP server on 127.0.0.1 that is healthy for 3 seconds, fails for 5, then recovers,
//! and calls it every 100 ms through a retry layer stacked on a breaker. Prints each call, each
//! retry with its delay, each state transition with its reason, and a summary. Runs about 13
//! seconds; needs nothing but cargo.
//!
//! ```text
//! cargo run --example demo
//! ```

use axum::{http::StatusCode, routing::get, Router};
use fusebox::breaker::{Breaker, CircuitBreakerError, CircuitBreakerLayer, CircuitOpen};
use fusebox::retry::{Backoff, Jitter, RetryLayer};
use fusebox::{Event, EventKind, HttpClassifier, Outcome};
use std::time::{Duration, Instant};
use tower::{service_fn, ServiceBuilder, ServiceExt};

const HEALTHY_UNTIL: Duration = Duration::from_secs(3);
const FAILING_UNTIL: Duration = Duration::from_secs(8);
const RUN_FOR: Duration = Duration::from_secs(13);

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    let started = Instant::now();
    let addr = start_flaky_upstream(started).await?;
    println!("upstream on http://{addr}: healthy until 3s, failing until 8s, then recovered\n");

    let breaker = Breaker::builder("quotes")
        .failure_rate(0.5)
        .count_window(10)
        .min_calls(5)
        .open_duration_backoff(Duration::from_secs(1), 2.0, Duration::from_secs(4))
        .half_open_successes(2)
        .on_event(move |e: &Event<'_>| {
            if let EventKind::StateTransition { from, to, reason } = e.kind {
                println!(
                    "[{:>5.1}s] *** breaker `{}`: {from} -> {to} ({reason})",
                    started.elapsed().as_secs_f64(),
                    e.source
                );
            }
        })
        .build()?;

    let http = reqwest::Client::builder().no_proxy().build()?;
    let url = format!("http://{addr}/quote");
    let retry = RetryLayer::builder("quotes")
        .classifier(classify::<CircuitBreakerError<reqwest::Error>>)
        .backoff(
            Backoff::exponential(Duration::from_millis(20), 2.0)
                .max_delay(Duration::from_millis(200))
                .jitter(Jitter::Full),
        )
        .max_attempts(3)
        .deadline(Duration::from_millis(500))
        .on_event(move |e: &Event<'_>| {
            let at = started.elapsed().as_secs_f64();
            match e.kind {
                EventKind::RetryScheduled {
                    attempt,
                    delay,
                    server_hint,
                } => {
                    let why = if server_hint {
                        "server hint"
                    } else {
                        "backoff"
                    };
                    println!(
                        "[{at:>5.1}s]     retry: attempt {attempt} in {} ms ({why})",
                        delay.as_millis()
                    )
                }
                EventKind::RetryGaveUp { attempts, reason } => {
                    println!(
                        "[{at:>5.1}s]     retry: gave up after {attempts} attempt(s): {reason}"
                    )
                }
                _ => {}
            }
        })
        .build()?;
    let client = ServiceBuilder::new()
        .layer(retry)
        .layer(CircuitBreakerLayer::new(breaker.clone()).classifier(classify::<reqwest::Error>))
        .service(service_fn(move |url: String| {
            let http = http.clone();
            async move { http.get(url).send().await }
        }));

    let mut ticker = tokio::time::interval(Duration::from_millis(100));
    while started.elapsed() < RUN_FOR {
        ticker.tick().await;
        let at = started.elapsed().as_secs_f64();
        match client.clone().oneshot(url.clone()).await {
            Ok(response) => {
                let status = response.status();
                let verdict = if classify::<()>(Ok(&response)).is_failure() {
                    "failure"
                } else {
                    "success"
                };
                println!("[{at:>5.1}s] GET /quote -> {} ({verdict})", status.as_u16());
            }
            Err(e) => match e.downcast_ref::<CircuitOpen>() {
                Some(open) => println!("[{at:>5.1}s] rejected: {open}"),
                None => println!("[{at:>5.1}s] error: {e}"),
            },
        }
    }

    let m = breaker.metrics();
    println!("\nsummary for breaker `{}`", breaker.name());
    println!("  final state        {}", m.state);
    println!("  calls sent         {}", m.calls);
    println!("  successes          {}", m.successes);
    println!("  failures           {}", m.failures);
    println!("  rejected (spared)  {}", m.rejections);
    if let Some(t) = m.last_transition {
        println!("  last transition    {} -> {} ({})", t.from, t.to, t.reason);
    }
    Ok(())
}

/// reqwest's responses are not `http::Response`s: classify their status by the same rules.
fn classify<E>(result: Result<&reqwest::Response, &E>) -> Outcome {
    match result {
        Ok(response) => {
            HttpClassifier::new().classify_status(response.status(), response.headers())
        }
        Err(_) => Outcome::retryable_failure(),
    }
}

async fn start_flaky_upstream(
    started: Instant,
) -> Result<std::net::SocketAddr, Box<dyn std::error::Error + Send + Sync>> {
    let app = Router::new().route(
        "/quote",
        get(move || async move {
            let t = started.elapsed();
            if t < HEALTHY_UNTIL || t >= FAILING_UNTIL {
                (StatusCode::OK, "42.00")
            } else {
                (StatusCode::SERVICE_UNAVAILABLE, "quote engine down")
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    tokio::spawn(async move { axum::serve(listener, app).await });
    Ok(addr)
}
