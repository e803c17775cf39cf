//! fusebox demo: two upstreams, one flaky; clients behind retry and circuit breakers from a
//! registry; and what they all do.
//!
//! Starts an HTTP server on 127.0.0.1 with two routes: `/quote`, healthy for 3 seconds, failing
//! for 5, then recovered; and `/rate`, always healthy. A `checkout` feature depends on both.
//! Every 100 ms the demo calls each route through a retry layer stacked on that dependency's
//! breaker, and prints each quote call, each retry with its delay, each state transition with its
//! reason, the health of `checkout` while a dependency is down, and a closing summary from the
//! registry. Runs about 13 seconds; needs nothing but cargo.
//!
//! ```text
//! cargo run --example demo
//! ```

use axum::{http::StatusCode, routing::get, Router};
use fusebox::breaker::{
    Breaker, BreakerRegistry, CircuitBreakerError, CircuitBreakerLayer, CircuitOpen,
};
use fusebox::retry::{Backoff, Jitter, RetryLayer};
use fusebox::{Event, EventKind, HttpClassifier, Outcome};
use std::time::{Duration, Instant};
use tower::{service_fn, BoxError, Service, ServiceBuilder, ServiceExt};

const HEALTHY_UNTIL: Duration = Duration::from_secs(3);
const FAILING_UNTIL: Duration = Duration::from_secs(8);
const RUN_FOR: Duration = Duration::from_secs(13);

#[tokio::main]
async fn main() -> Result<(), BoxError> {
    let started = Instant::now();
    let addr = start_upstreams(started).await?;
    println!(
        "upstreams on http://{addr}: /quote healthy until 3s, failing until 8s, then recovered; \
         /rate always healthy\n"
    );

    // One breaker per dependency, each with its own settings, made on first use.
    let registry = BreakerRegistry::new(move |name| {
        let builder = match name {
            "quotes" => Breaker::builder(name)
                .failure_rate(0.5)
                .count_window(10)
                .min_calls(5)
                .open_duration_backoff(Duration::from_secs(1), 2.0, Duration::from_secs(4))
                .half_open_successes(2),
            _ => Breaker::builder(name).consecutive_failures(3),
        };
        builder.on_event(move |e: &Event<'_>| {
            if let EventKind::StateTransition { from, to, reason } = e.kind {
                println!(
                    "[{:>5.1}s] *** breaker `{}`: {from} -> {to} ({reason})",
                    started.elapsed().as_secs_f64(),
                    e.source
                );
            }
        })
    });
    registry.depends_on("checkout", ["quotes", "rates"]);
    // The transitions of every breaker the registry makes, and the patterns of their trips.
    let history = fusebox::metrics::History::new();
    registry.on_transition(history.clone());

    let http = reqwest::Client::builder().no_proxy().build()?;
    let quotes = client("quotes", registry.get("quotes")?, &http, started)?;
    let rates = client("rates", registry.get("rates")?, &http, started)?;
    let (quote_url, rate_url) = (
        format!("http://{addr}/quote"),
        format!("http://{addr}/rate"),
    );

    let mut ticker = tokio::time::interval(Duration::from_millis(100));
    let mut last_health = String::from("healthy");
    while started.elapsed() < RUN_FOR {
        ticker.tick().await;
        let at = started.elapsed().as_secs_f64();
        match quotes.clone().oneshot(quote_url.clone()).await {
            Ok(response) => {
                let verdict = if classify::<()>(Ok(&response)).is_failure() {
                    "failure"
                } else {
                    "success"
                };
                println!(
                    "[{at:>5.1}s] GET /quote -> {} ({verdict})",
                    response.status().as_u16()
                );
            }
            Err(e) => match e.downcast_ref::<CircuitOpen>() {
                Some(open) => println!("[{at:>5.1}s] rejected: {open}"),
                None => println!("[{at:>5.1}s] error: {e}"),
            },
        }
        if let Err(e) = rates.clone().oneshot(rate_url.clone()).await {
            println!("[{at:>5.1}s] GET /rate failed: {e}");
        }
        let health = registry.health("checkout").to_string();
        if health != last_health {
            println!("[{at:>5.1}s] === checkout is {health}");
            last_health = health;
        }
    }

    println!("\nregistry summary");
    let summary = registry.summary();
    println!(
        "  {} breakers: {} closed, {} open, {} half-open; degraded: {:?}",
        summary.total, summary.closed, summary.open, summary.half_open, summary.degraded
    );
    for status in registry.list() {
        let m = &status.metrics;
        println!(
            "  {:<8} {:<10} calls {:>4}  successes {:>4}  failures {:>3}  rejected {:>3}",
            status.name, status.state, m.calls, m.successes, m.failures, m.rejections
        );
    }
    for p in history.patterns() {
        let seconds = |d: Option<std::time::Duration>| {
            d.map_or_else(|| "-".to_owned(), |d| format!("{:.1}s", d.as_secs_f64()))
        };
        println!(
            "  {:<8} opened {} time(s), time open: mean {}, longest {}",
            p.breaker,
            p.times_opened,
            seconds(p.mean_time_open),
            seconds(p.max_time_open)
        );
    }
    println!("  checkout: {}", registry.health("checkout"));
    Ok(())
}

/// A client for one dependency: retry with jittered backoff, outside that dependency's breaker.
fn client(
    name: &'static str,
    breaker: Breaker,
    http: &reqwest::Client,
    started: Instant,
) -> Result<
    impl Service<String, Response = reqwest::Response, Error = BoxError, Future: Send> + Clone,
    BoxError,
> {
    let retry = RetryLayer::builder(name)
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
                        "[{at:>5.1}s]     retry `{}`: attempt {attempt} in {} ms ({why})",
                        e.source,
                        delay.as_millis()
                    );
                }
                EventKind::RetryGaveUp { attempts, reason } => println!(
                    "[{at:>5.1}s]     retry `{}`: gave up after {attempts} attempt(s): {reason}",
                    e.source
                ),
                _ => {}
            }
        })
        .build()?;
    let http = http.clone();
    Ok(ServiceBuilder::new()
        .layer(retry)
        .layer(CircuitBreakerLayer::new(breaker).classifier(classify::<reqwest::Error>))
        .service(service_fn(move |url: String| {
            let http = http.clone();
            async move { http.get(url).send().await }
        })))
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

async fn start_upstreams(started: Instant) -> Result<std::net::SocketAddr, BoxError> {
    let app = Router::new()
        .route(
            "/quote",
            get(move || async move {
                let t = started.elapsed();
                if t < HEALTHY_UNTIL || t >= FAILING_UNTIL {
                    (StatusCode::OK, "42.00")
                } else {
                    (StatusCode::SERVICE_UNAVAILABLE, "quote engine down")
                }
            }),
        )
        .route("/rate", get(|| async { "1.0842" }));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    tokio::spawn(async move { axum::serve(listener, app).await });
    Ok(addr)
}
