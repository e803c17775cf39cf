//! fusebox demo: two upstreams, one flaky; clients behind metrics, retry and circuit breakers
//! from a registry; and what they all do.
//!
//! Starts an HTTP server on 127.0.0.1 with two routes: `/quote`, healthy for 3 seconds, failing
//! for 5, then recovered; and `/rate`, always healthy. A `checkout` feature depends on both.
//! Every 100 ms the demo calls each route through a metrics layer, a retry layer and that
//! dependency's breaker. It prints one line per state transition (with its reason), per retry
//! decision and per change of `checkout`'s health, a one-line summary per service each second,
//! and a table per service at the end, with each service's objectives as its in-process SLO
//! tracker computed them (availability, p99, error budget left, burn rate, alerts), and a table
//! of each health check (status, score, uptime, p95, trends: both breakers' states and a probe
//! of each route; `checkout` depends on both, so a failing root is named as its cause). While
//! it runs, Prometheus can scrape its metrics, and its health routes answer, at the URLs it
//! prints first. Runs about 13 seconds; needs nothing but cargo.
//!
//! ```text
//! cargo run --example demo
//! ```

use axum::{http::StatusCode, routing::get, Router};
use fusebox::breaker::{Breaker, BreakerRegistry, CircuitBreakerError, CircuitBreakerLayer};
use fusebox::health::{CheckSettings, HealthRegistry, HealthRoutes, HttpCheck};
use fusebox::metrics::{
    EventMetrics, History, MetricsLayer, PrometheusExporter, Slo, SloAlert, SloReport, SloTracker,
};
use fusebox::retry::{Backoff, Jitter, RetryLayer};
use fusebox::{Event, EventKind, EventListener, GiveUpReason, HttpClassifier, Outcome};
use std::time::{Duration, Instant};
use tower::{service_fn, BoxError, Service, ServiceBuilder, ServiceExt};

const HEALTHY_UNTIL: Duration = Duration::from_secs(3);
const FAILING_UNTIL: Duration = Duration::from_secs(8);
const RUN_FOR: Duration = Duration::from_secs(13);

#[tokio::main]
async fn main() -> Result<(), BoxError> {
    // The recorder first: metric handles are resolved when layers are made.
    let exporter = PrometheusExporter::install()?;
    let metrics_at = serve_metrics(&exporter).await?;
    println!("metrics: http://{metrics_at}/metrics (Prometheus text, while the demo runs)");
    let started = Instant::now();
    let addr = start_upstreams(started).await?;
    println!(
        "upstreams on http://{addr}: /quote healthy until 3s, failing until 8s, then recovered; \
         /rate always healthy\n"
    );

    // One breaker per dependency, each with its own settings, made on first use.
    let events = exporter.events().clone();
    let to_metrics = events.clone();
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
        builder.on_event(to_metrics.clone())
    });
    // One line per transition; and the transitions kept, for the patterns of the trips.
    registry.on_transition(move |e: &Event<'_>| {
        if let EventKind::StateTransition { from, to, reason } = e.kind {
            println!(
                "[{:>5.1}s] breaker `{}`: {from} -> {to} ({reason})",
                started.elapsed().as_secs_f64(),
                e.source
            );
        }
    });
    let history = History::new();
    registry.on_transition(history.clone());

    // Each service's objectives, tracked in process: 99 % of calls succeed, 99 % within 250 ms,
    // and an open breaker closes again within 3 s.
    let tracker = |name: &str| -> Result<SloTracker, BoxError> {
        let slo = Slo::builder(name)
            .availability(0.99)
            .latency(Duration::from_millis(250), 0.99)
            .recovery(Duration::from_secs(3))
            .build()?;
        let tracker = SloTracker::builder(slo).build()?;
        registry.get(name)?.subscribe(tracker.clone()).detach();
        Ok(tracker)
    };
    let trackers = [tracker("quotes")?, tracker("rates")?];

    // Health: each breaker's state read every second, a probe of each route, and `checkout`
    // depending on both, so a failing root is named as the cause of its degradation.
    let probe = |path: &str| HttpCheck::new(component(path), &format!("http://{addr}{path}"));
    let every = CheckSettings::default()
        .interval(Duration::from_millis(500))
        .failing_interval(Duration::from_millis(250))
        .timeout(Duration::from_millis(250))
        .latency_target(Duration::from_millis(50));
    let health = HealthRegistry::builder()
        .circuit(registry.get("quotes")?, true)
        .circuit(registry.get("rates")?, true)
        .check(probe("/quote")?, every)
        .check(probe("/rate")?, every)
        .depends_on("checkout", ["quotes", "rates"])
        .on_event(events.clone())
        .build()?;
    let probing = health.start();
    let health_at = serve(HealthRoutes::new(health.clone()).build()?).await?;
    println!(
        "health: http://{health_at}/health (and /health/ready, /health/checks/quotes:circuit, …)\n"
    );

    let http = reqwest::Client::builder().no_proxy().build()?;
    let quotes = client(
        "quotes",
        registry.get("quotes")?,
        &trackers[0],
        &http,
        &events,
        started,
    )?;
    let rates = client(
        "rates",
        registry.get("rates")?,
        &trackers[1],
        &http,
        &events,
        started,
    )?;
    let (quote_url, rate_url) = (
        format!("http://{addr}/quote"),
        format!("http://{addr}/rate"),
    );

    let mut ticker = tokio::time::interval(Duration::from_millis(100));
    let mut last_health = String::from("pass");
    let mut last_second = 0;
    let mut seen = [Counts::default(), Counts::default()];
    while started.elapsed() < RUN_FOR {
        ticker.tick().await;
        // Outcomes are in the metrics and the summaries; errors need no line of their own.
        let _ = quotes.clone().oneshot(quote_url.clone()).await;
        let _ = rates.clone().oneshot(rate_url.clone()).await;
        let health = checkout(&health);
        if health != last_health {
            println!(
                "[{:>5.1}s] checkout: {health}",
                started.elapsed().as_secs_f64()
            );
            last_health = health;
        }
        let second = started.elapsed().as_secs();
        if second > last_second {
            last_second = second;
            let line: Vec<String> = ["quotes", "rates"]
                .iter()
                .zip(&mut seen)
                .map(|(name, seen)| {
                    let breaker = registry.find(name).expect("made above");
                    let now = Counts::of(&breaker);
                    let step = now.since(seen);
                    *seen = now;
                    format!(
                        "{name}: {} calls, {} failed, {} rejected, {}",
                        step.calls,
                        step.failures,
                        step.rejections,
                        breaker.state()
                    )
                })
                .collect();
            println!(
                "[{:>5.1}s] last second: {}",
                started.elapsed().as_secs_f64(),
                line.join(" | ")
            );
        }
    }

    println!(
        "\n| service | calls | failures | failure rate | rejected | opened | longest open \
         | availability | p99 | budget left | burn (5 min) | alerts |"
    );
    println!("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|");
    let patterns = history.patterns();
    for status in registry.list() {
        let m = &status.metrics;
        let pattern = patterns.iter().find(|p| p.breaker == status.name);
        let longest = pattern
            .and_then(|p| p.max_time_open)
            .map_or_else(|| "-".to_owned(), |d| format!("{:.1}s", d.as_secs_f64()));
        let slo = trackers
            .iter()
            .find(|t| t.slo().service() == status.name)
            .map(|t| t.publish());
        println!(
            "| {} | {} | {} | {:.1} % | {} | {} | {longest} | {} |",
            status.name,
            m.calls,
            m.failures,
            100.0 * ratio(m.failures, m.calls),
            m.rejections,
            pattern.map_or(0, |p| p.times_opened),
            slo.as_ref()
                .map_or_else(|| "- | - | - | - | -".to_owned(), slo_columns),
        );
    }
    println!("\n| health check | status | score | uptime | p95 | latency trend | failure trend |");
    println!("|---|---|---:|---:|---:|---|---|");
    for check in health.checks() {
        let stats = health.stats(&check.name, Duration::from_secs(3_600));
        let status = check.latest.as_ref().map_or("-", |r| r.status().as_str());
        let score = check
            .score
            .map_or_else(|| "-".to_owned(), |s| s.to_string());
        let (uptime, p95, latency_trend, failure_trend) = match &stats {
            Some(s) => (
                s.uptime
                    .map_or_else(|| "-".to_owned(), |u| format!("{:.1} %", 100.0 * u)),
                s.latency.map_or_else(
                    || "-".to_owned(),
                    |l| format!("{:.1}ms", l.p95.as_secs_f64() * 1e3),
                ),
                s.latency_trend.as_str(),
                s.failure_trend.as_str(),
            ),
            None => ("-".to_owned(), "-".to_owned(), "-", "-"),
        };
        println!(
            "| {} | {status} | {score} | {uptime} | {p95} | {latency_trend} | {failure_trend} |",
            check.name
        );
    }
    println!("\ncheckout: {}", checkout(&health));
    probing.stop().await;
    Ok(())
}

/// The health check's name of a route: `quotes:responseTime` for `/quote`.
fn component(path: &str) -> String {
    format!("{}s:responseTime", path.trim_start_matches('/'))
}

/// `checkout`'s health in a few words: its status, and the failing root if any.
fn checkout(health: &HealthRegistry) -> String {
    let Some(checkout) = health.component("checkout") else {
        return "unknown".to_owned();
    };
    match (checkout.status(), checkout.cause) {
        (_, Some(cause)) => format!("degraded: depends on `{cause}`, which fails"),
        (Some(status), None) => status.to_string(),
        // No check of its own, and nothing it depends on fails.
        (None, None) => "pass".to_owned(),
    }
}

/// A breaker's lifetime counts, to print what changed in a second.
#[derive(Clone, Copy, Default)]
struct Counts {
    calls: u64,
    failures: u64,
    rejections: u64,
}

impl Counts {
    fn of(breaker: &Breaker) -> Self {
        let m = breaker.metrics();
        Counts {
            calls: m.calls,
            failures: m.failures,
            rejections: m.rejections,
        }
    }

    fn since(&self, earlier: &Counts) -> Counts {
        Counts {
            calls: self.calls.saturating_sub(earlier.calls),
            failures: self.failures.saturating_sub(earlier.failures),
            rejections: self.rejections.saturating_sub(earlier.rejections),
        }
    }
}

/// The report's columns of the final table: availability, p99, error budget left, the 5-minute
/// burn rate of availability, and the kinds of the alerts.
fn slo_columns(report: &SloReport) -> String {
    let percent = |share: Option<f64>| {
        share.map_or_else(|| "-".to_owned(), |s| format!("{:.1} %", 100.0 * s))
    };
    let availability = report.availability.as_ref();
    let p99 = report.latency.as_ref().and_then(|l| l.p99_seconds);
    let burn = report
        .burn_rates
        .iter()
        .find(|r| r.objective == "availability" && r.short_window_seconds == 300.0)
        .and_then(|r| r.short_rate);
    let mut alerts: Vec<String> = Vec::new();
    for alert in &report.alerts {
        // Named as in the report's JSON; a burn rate by its severity, once.
        let json = serde_json::to_value(alert).unwrap_or_default();
        let name = match alert {
            SloAlert::BurnRate { severity, .. } => format!("burn_rate ({severity})"),
            _ => json["kind"].as_str().unwrap_or("alert").to_owned(),
        };
        if !alerts.contains(&name) {
            alerts.push(name);
        }
    }
    format!(
        "{} | {} | {} | {} | {}",
        percent(availability.and_then(|a| a.actual)),
        p99.map_or_else(|| "-".to_owned(), |s| format!("{:.0} ms", s * 1e3)),
        percent(availability.and_then(|a| a.error_budget_remaining)),
        burn.map_or_else(|| "-".to_owned(), |b| format!("{b:.1}×")),
        if alerts.is_empty() {
            "-".to_owned()
        } else {
            alerts.join(", ")
        },
    )
}

fn ratio(part: u64, whole: u64) -> f64 {
    if whole == 0 {
        0.0
    } else {
        part as f64 / whole as f64
    }
}

/// Serves the exporter's `/metrics` on a free 127.0.0.1 port.
async fn serve_metrics(exporter: &PrometheusExporter) -> Result<std::net::SocketAddr, BoxError> {
    serve(exporter.router()).await
}

/// Serves `app` on a free port of 127.0.0.1 while the demo runs.
async fn serve(app: Router) -> Result<std::net::SocketAddr, BoxError> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    tokio::spawn(async move { axum::serve(listener, app).await });
    Ok(addr)
}

/// A client for one dependency: its metrics, then retry with jittered backoff, outside that
/// dependency's breaker.
fn client(
    name: &'static str,
    breaker: Breaker,
    slo: &SloTracker,
    http: &reqwest::Client,
    events: &EventMetrics,
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
        .on_event({
            let events = events.clone();
            move |e: &Event<'_>| {
                events.on_event(e);
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
                            "[{at:>5.1}s] retry `{}`: attempt {attempt} in {} ms ({why})",
                            e.source,
                            delay.as_millis()
                        );
                    }
                    // A call the breaker rejected is in the summaries; other give-ups get a line.
                    EventKind::RetryGaveUp {
                        reason: GiveUpReason::CircuitOpen,
                        ..
                    } => {}
                    EventKind::RetryGaveUp { attempts, reason } => println!(
                        "[{at:>5.1}s] retry `{}`: gave up after {attempts} attempt(s): {reason}",
                        e.source
                    ),
                    _ => {}
                }
            }
        })
        .build()?;
    let http = http.clone();
    Ok(ServiceBuilder::new()
        .layer(
            MetricsLayer::new(name)
                .classifier(classify::<BoxError>)
                .slo(slo),
        )
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
