//! [`HealthRoutes`]: the registry over HTTP, as Kubernetes probes and people read it.

use crate::check::Status;
use crate::history::{Sample, Stats};
use crate::registry::{CheckView, HealthRegistry};
use axum::body::Body;
use axum::extract::{Path, RawQuery, State};
use axum::routing::get;
use axum::Router;
use bytes::Bytes;
use fusebox_core::sync::lock;
use fusebox_core::ConfigError;
use http::{header, HeaderMap, HeaderValue, Response, StatusCode};
use serde_json::{json, Map, Value};
use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};
use tokio::time::Instant;

/// The media type of the health responses (the IETF health check draft's).
pub const HEALTH_JSON: &str = "application/health+json";

/// A response is cached for less than this (a second): the cache smooths a storm of scrapes,
/// it must not hide a change from a probe that asks every second.
pub const MAX_CACHE_FOR: Duration = Duration::from_secs(1);

/// The longest history `/health/history/{name}` gives: a week, in minutes.
pub const MAX_HISTORY_MINUTES: u64 = 7 * 24 * 60;

/// The window of the statistics `/health/checks/{name}` gives.
const STATS_WINDOW: Duration = Duration::from_secs(3_600);

/// The HTTP face of a [`HealthRegistry`] (feature `axum`): an axum router with
///
/// | route | answers |
/// |---|---|
/// | `GET /health` | the service's status and every check, in the IETF `application/health+json` shape; `200`, or `503` when it fails |
/// | `GET /health/live` | liveness: always `200` while the process answers |
/// | `GET /health/ready` | readiness: `200`, or `503` while a critical check fails or has not run |
/// | `GET /health/startup` | startup: `503` until every critical check has run once |
/// | `GET /health/checks/{name}` | one check, with its last hour's statistics; `404` for an unknown name |
/// | `GET /health/history/{name}?minutes=N` | its samples of the last N minutes (60 by default, at most a week) |
/// | `GET /health/predictions` | every prediction |
///
/// With a [`bearer_token`](Self::bearer_token), details (observed values, outputs, scores,
/// statistics, history, predictions) need `Authorization: Bearer <token>`; without it the
/// status routes still answer with their status and status code, and history and predictions
/// answer `401`. Responses of the status routes are cached for
/// [`cache_for`](Self::cache_for) (250 ms by default, under 1 s), so a storm of scrapes
/// costs one rendering per period; probes never run on a request, only on their schedules.
///
/// ```
/// use fusebox_health::{CheckSettings, FnCheck, HealthRegistry, HealthRoutes, Probe};
/// use std::time::Duration;
///
/// # fn main() -> Result<(), fusebox_core::ConfigError> {
/// let registry = HealthRegistry::builder()
///     .check(FnCheck::new("queue", || async { Probe::pass() }), CheckSettings::default())
///     .build()?;
/// let app: axum::Router = HealthRoutes::new(registry)
///     .bearer_token("s3cret")
///     .cache_for(Duration::from_millis(500))
///     .build()?;
/// # let _ = app; Ok(()) }
/// ```
#[derive(Clone)]
pub struct HealthRoutes {
    registry: HealthRegistry,
    token: Option<String>,
    cache_for: Duration,
}

impl fmt::Debug for HealthRoutes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HealthRoutes")
            .field("registry", &self.registry)
            .field("token", &self.token.as_ref().map(|_| "…"))
            .field("cache_for", &self.cache_for)
            .finish()
    }
}

impl HealthRoutes {
    /// The routes of `registry`, open to all, cached for 250 ms.
    pub fn new(registry: HealthRegistry) -> Self {
        HealthRoutes {
            registry,
            token: None,
            cache_for: Duration::from_millis(250),
        }
    }

    /// Shows details only to requests with `Authorization: Bearer <token>`.
    #[must_use]
    pub fn bearer_token(mut self, token: impl Into<String>) -> Self {
        self.token = Some(token.into());
        self
    }

    /// Caches each status route's response for `period` (zero: not at all).
    #[must_use]
    pub fn cache_for(mut self, period: Duration) -> Self {
        self.cache_for = period;
        self
    }

    /// The router, or an error naming the setting that is wrong: a cache period of 1 s or more, or
    /// a token that is empty or not visible ASCII.
    pub fn build<S: Clone + Send + Sync + 'static>(self) -> Result<Router<S>, ConfigError> {
        if self.cache_for > MAX_CACHE_FOR {
            return Err(ConfigError::new("cache_for", "at most 1s", self.cache_for));
        }
        if let Some(token) = &self.token {
            if token.is_empty() || !token.bytes().all(|b| b.is_ascii_graphic()) {
                return Err(ConfigError::new(
                    "bearer_token",
                    "visible ASCII, not empty",
                    "(hidden)",
                ));
            }
        }
        let shared = Arc::new(Shared {
            registry: self.registry,
            token: self.token,
            cache_for: self.cache_for,
            cache: Mutex::new(HashMap::new()),
        });
        Ok(Router::new()
            .route("/health", get(overall))
            .route("/health/live", get(live))
            .route("/health/ready", get(ready))
            .route("/health/startup", get(startup))
            .route("/health/checks/{name}", get(one_check))
            .route("/health/history/{name}", get(history))
            .route("/health/predictions", get(predictions))
            .with_state(shared))
    }
}

struct Shared {
    registry: HealthRegistry,
    token: Option<String>,
    cache_for: Duration,
    /// At most two entries (with and without details) per status route and check.
    cache: Mutex<HashMap<(Route, usize, bool), Cached>>,
}

#[derive(Clone, Copy, PartialEq, Eq, Hash)]
enum Route {
    Overall,
    Ready,
    Startup,
    Check,
}

struct Cached {
    until: Instant,
    status: StatusCode,
    body: Bytes,
}

impl Shared {
    /// Whether the request shows the token (or none is needed). Compares in constant time.
    fn authorized(&self, headers: &HeaderMap) -> bool {
        let Some(token) = &self.token else {
            return true;
        };
        let given = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .unwrap_or("");
        given.len() == token.len()
            && given
                .bytes()
                .zip(token.bytes())
                .fold(0u8, |diff, (a, b)| diff | (a ^ b))
                == 0
    }

    /// The response for `key`, from the cache while fresh, else rendered by `render`.
    fn cached(
        &self,
        key: (Route, usize, bool),
        render: impl FnOnce() -> (StatusCode, Value),
    ) -> Response<Body> {
        let now = Instant::now();
        let caching = !self.cache_for.is_zero();
        if caching {
            if let Some(hit) = lock(&self.cache).get(&key).filter(|c| c.until > now) {
                return respond(hit.status, hit.body.clone());
            }
        }
        let (status, value) = render();
        let body = Bytes::from(value.to_string());
        if let Some(until) = now.checked_add(self.cache_for).filter(|_| caching) {
            let entry = Cached {
                until,
                status,
                body: body.clone(),
            };
            lock(&self.cache).insert(key, entry);
        }
        respond(status, body)
    }
}

fn respond(status: StatusCode, body: Bytes) -> Response<Body> {
    let mut response = Response::new(Body::from(body));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(HEALTH_JSON));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

fn unauthorized() -> Response<Body> {
    let mut response = respond(
        StatusCode::UNAUTHORIZED,
        Bytes::from(json!({ "error": "a bearer token is needed" }).to_string()),
    );
    response
        .headers_mut()
        .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
    response
}

fn error(status: StatusCode, message: String) -> Response<Body> {
    respond(status, Bytes::from(json!({ "error": message }).to_string()))
}

/// `404` for a check not registered.
fn unknown(name: &str) -> Response<Body> {
    error(StatusCode::NOT_FOUND, format!("no check named `{name}`"))
}

/// The output of a check or component degraded by a failing dependency.
fn degraded_by(cause: &str) -> String {
    format!("degraded: depends on `{cause}`, which fails")
}

/// `200` unless the status fails: `503`.
fn code(status: Status) -> StatusCode {
    if status == Status::Fail {
        StatusCode::SERVICE_UNAVAILABLE
    } else {
        StatusCode::OK
    }
}

/// A time as RFC 3339, to the millisecond, in UTC.
fn rfc3339(time: SystemTime) -> String {
    humantime::format_rfc3339_millis(time).to_string()
}

/// One check in the health JSON shape: its status and time always; with details its observed
/// value (the probe's, else its latency in ms), output, criticality and score.
fn check_json(view: &CheckView, details: bool) -> Value {
    let mut entry = Map::new();
    let status = view
        .latest
        .as_ref()
        .map_or(view.contribution, |r| r.status());
    entry.insert("status".into(), status.as_str().into());
    if let Some(result) = &view.latest {
        entry.insert("time".into(), rfc3339(result.time()).into());
    }
    if details {
        entry.insert("componentId".into(), crate::component_of(&view.name).into());
        if let Some(result) = &view.latest {
            let probe = result.probe();
            let (value, unit) = match (probe.observed_value(), probe.observed_unit()) {
                (Some(value), unit) => (value, unit.unwrap_or("").to_owned()),
                (None, _) => (crate::check::millis(result.latency()), "ms".to_owned()),
            };
            entry.insert("observedValue".into(), value.into());
            entry.insert("observedUnit".into(), unit.into());
        }
        let mut output: Vec<String> = Vec::new();
        match &view.latest {
            Some(result) => output.extend(result.probe().detail().map(str::to_owned)),
            None => output.push("not probed yet".to_owned()),
        }
        if let Some(cause) = &view.cause {
            output.push(degraded_by(cause));
        }
        if !output.is_empty() {
            entry.insert("output".into(), output.join("; ").into());
        }
        entry.insert("critical".into(), view.critical.into());
        if let Some(score) = view.score {
            entry.insert("score".into(), score.into());
        }
    }
    Value::Object(entry)
}

async fn overall(State(shared): State<Arc<Shared>>, headers: HeaderMap) -> Response<Body> {
    let details = shared.authorized(&headers);
    shared.cached((Route::Overall, 0, details), || {
        let registry = &shared.registry;
        let (views, components) = registry.snapshot();
        let status = views
            .iter()
            .map(|v| v.contribution)
            .max()
            .unwrap_or(Status::Pass);
        let mut checks = Map::new();
        for view in &views {
            checks.insert(view.name.clone(), json!([check_json(view, details)]));
        }
        // A component that depends on others: whether something it depends on fails.
        for component in components {
            if registry.dependencies(&component.name).is_empty() {
                continue;
            }
            let mut entry = Map::new();
            let degraded = component.cause.is_some();
            entry.insert(
                "status".into(),
                if degraded { "warn" } else { "pass" }.into(),
            );
            if details {
                entry.insert("componentId".into(), component.name.clone().into());
                entry.insert("componentType".into(), "component".into());
                if let Some(cause) = &component.cause {
                    entry.insert("output".into(), degraded_by(cause).into());
                }
            }
            checks.insert(
                format!("{}:dependencies", component.name),
                json!([Value::Object(entry)]),
            );
        }
        (
            code(status),
            json!({ "status": status.as_str(), "checks": checks }),
        )
    })
}

async fn live(State(shared): State<Arc<Shared>>) -> Response<Body> {
    let status = shared.registry.liveness();
    respond(
        code(status),
        Bytes::from(json!({ "status": status.as_str() }).to_string()),
    )
}

async fn ready(State(shared): State<Arc<Shared>>, headers: HeaderMap) -> Response<Body> {
    let details = shared.authorized(&headers);
    shared.cached((Route::Ready, 0, details), || {
        let status = shared.registry.status();
        let mut body = json!({ "status": status.as_str() });
        if details {
            let failing: Vec<String> = shared
                .registry
                .checks()
                .into_iter()
                // Only a critical check's contribution fails.
                .filter(|c| c.contribution == Status::Fail)
                .map(|c| c.name)
                .collect();
            if !failing.is_empty() {
                body["output"] = format!("failing: {}", failing.join(", ")).into();
            }
        }
        (code(status), body)
    })
}

async fn startup(State(shared): State<Arc<Shared>>) -> Response<Body> {
    shared.cached((Route::Startup, 0, false), || {
        let status = shared.registry.startup();
        (code(status), json!({ "status": status.as_str() }))
    })
}

async fn one_check(
    State(shared): State<Arc<Shared>>,
    Path(name): Path<String>,
    headers: HeaderMap,
) -> Response<Body> {
    let Some(index) = shared.registry.names().position(|n| n == name) else {
        return unknown(&name);
    };
    let details = shared.authorized(&headers);
    shared.cached((Route::Check, index, details), || {
        let registry = &shared.registry;
        let view = registry
            .checks()
            .into_iter()
            .nth(index)
            .expect("the index of a registered check");
        let status = view.contribution;
        let mut body = check_json(&view, details);
        body["name"] = view.name.clone().into();
        if details {
            if let Some(stats) = registry.stats(&view.name, STATS_WINDOW) {
                body["stats"] = stats_json(&stats);
            }
        }
        (code(status), body)
    })
}

fn millis(duration: Duration) -> Value {
    crate::check::millis(duration).into()
}

fn stats_json(stats: &Stats) -> Value {
    let latency = stats.latency.map(|l| {
        json!({
            "minMs": millis(l.min), "avgMs": millis(l.avg), "maxMs": millis(l.max),
            "p50Ms": millis(l.p50), "p95Ms": millis(l.p95), "p99Ms": millis(l.p99),
        })
    });
    let seconds = |d: Option<Duration>| d.map(|d| d.as_secs_f64());
    json!({
        "windowSeconds": STATS_WINDOW.as_secs(),
        "samples": stats.samples,
        "uptime": stats.uptime,
        "latency": latency,
        "currentFailureStreak": stats.current_failure_streak,
        "longestFailureStreak": stats.longest_failure_streak,
        "failures": stats.failures,
        "recoveries": stats.recoveries,
        "meanTimeToRecoverSeconds": seconds(stats.mean_time_to_recover),
        "maxTimeToRecoverSeconds": seconds(stats.max_time_to_recover),
        "mtbfSeconds": seconds(stats.mtbf),
        "latencyTrend": stats.latency_trend.as_str(),
        "failureTrend": stats.failure_trend.as_str(),
    })
}

/// `minutes` from the query: 60 when absent, else 1 to a week.
fn minutes(query: Option<&str>) -> Result<u64, String> {
    let Some(value) = query
        .into_iter()
        .flat_map(|q| q.split('&'))
        .find_map(|pair| pair.strip_prefix("minutes="))
    else {
        return Ok(60);
    };
    match value.parse::<u64>() {
        Ok(n) if (1..=MAX_HISTORY_MINUTES).contains(&n) => Ok(n),
        _ => Err(format!(
            "`minutes` must be a whole number from 1 to {MAX_HISTORY_MINUTES}, got `{value}`"
        )),
    }
}

async fn history(
    State(shared): State<Arc<Shared>>,
    Path(name): Path<String>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Response<Body> {
    if !shared.authorized(&headers) {
        return unauthorized();
    }
    let minutes = match minutes(query.as_deref()) {
        Ok(minutes) => minutes,
        Err(message) => return error(StatusCode::BAD_REQUEST, message),
    };
    let window = Duration::from_secs(minutes * 60);
    let registry = &shared.registry;
    let (Some(samples), Some(stats)) = (
        registry.history(&name, window),
        registry.stats(&name, window),
    ) else {
        return unknown(&name);
    };
    let samples: Vec<Value> = samples.iter().map(sample_json).collect();
    let mut stats = stats_json(&stats);
    stats["windowSeconds"] = window.as_secs().into();
    let body = json!({ "name": name, "minutes": minutes, "samples": samples, "stats": stats });
    respond(StatusCode::OK, Bytes::from(body.to_string()))
}

fn sample_json(sample: &Sample) -> Value {
    json!({
        "time": rfc3339(sample.at()),
        "status": sample.status().as_str(),
        "latencyMs": millis(sample.latency()),
    })
}

async fn predictions(State(shared): State<Arc<Shared>>, headers: HeaderMap) -> Response<Body> {
    if !shared.authorized(&headers) {
        return unauthorized();
    }
    let predictions: Vec<Value> = shared
        .registry
        .predictions()
        .into_iter()
        .map(|p| {
            json!({
                "check": p.check,
                "kind": p.kind.as_str(),
                "message": p.message,
                "recommendation": p.recommendation,
            })
        })
        .collect();
    respond(
        StatusCode::OK,
        Bytes::from(json!({ "predictions": predictions }).to_string()),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn minutes_default_to_an_hour_and_are_bounded() {
        assert_eq!(minutes(None), Ok(60));
        assert_eq!(minutes(Some("other=1")), Ok(60));
        assert_eq!(minutes(Some("a=b&minutes=5")), Ok(5));
        assert_eq!(minutes(Some("minutes=10080")), Ok(10_080));
        for bad in ["minutes=0", "minutes=10081", "minutes=-1", "minutes=x"] {
            assert!(
                minutes(Some(bad)).unwrap_err().contains("`minutes`"),
                "{bad}"
            );
        }
    }
}
