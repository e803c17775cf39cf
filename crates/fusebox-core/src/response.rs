//! A rejection as a `503 Service Unavailable` response, for axum handlers and routes.

use crate::circuit::{CircuitOpen, Role};
use axum_core::response::{IntoResponse, Response};
use http::{header, HeaderValue, StatusCode};
use std::time::{Duration, SystemTime};

/// A `503 Service Unavailable` with `Retry-After` (whole seconds, rounded up; none for a
/// forced-open circuit, which no wait ends) and a JSON body: `error`, `service`, `state`,
/// `retry_after` (an RFC 3339 date, or `null`), `correlation_id` (the rejected call's, or
/// `null`), the key under its label (`"tenant_id": "acme"`) and `"overflow": true` for the
/// circuit a full keyed set shares among new keys.
impl IntoResponse for CircuitOpen {
    fn into_response(self) -> Response {
        let wait = self.retry_after();
        let mut body = serde_json::json!({
            "error": "circuit breaker is open",
            "service": self.name(),
            "state": self.state().as_str(),
            "retry_after": wait.map(|wait| rfc3339_after(SystemTime::now(), wait)),
            "correlation_id": self.correlation_id().map(|id| id.as_str()),
        });
        if let Some(key) = self.key() {
            body[self.key_label()] = key.into();
        }
        if self.role() == Role::Overflow {
            // Not that tenant's own breaker: the one a full set shares among new keys.
            body["overflow"] = true.into();
        }
        let mut response = (StatusCode::SERVICE_UNAVAILABLE, body.to_string()).into_response();
        let headers = response.headers_mut();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        if let Some(wait) = wait {
            let seconds = wait
                .as_secs()
                .saturating_add(u64::from(wait.subsec_nanos() > 0));
            headers.insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        response
    }
}

/// `now + wait` as an RFC 3339 date, held at the last second RFC 3339 can write
/// (9999-12-31T23:59:59Z) for a wait beyond it.
fn rfc3339_after(now: SystemTime, wait: Duration) -> String {
    const LAST: Duration = Duration::from_secs(253_402_300_799);
    let last = SystemTime::UNIX_EPOCH + LAST;
    let at = now.checked_add(wait).map_or(last, |at| at.min(last));
    humantime::format_rfc3339_seconds(at.max(SystemTime::UNIX_EPOCH)).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Circuit, CircuitState, CorrelationId, Handle};
    use http_body_util::BodyExt;
    use tokio::time::Instant;

    struct Tenant(Role<'static>);

    impl Circuit for Tenant {
        fn name(&self) -> &str {
            "calendar"
        }
        fn key(&self) -> Option<&str> {
            match self.0 {
                Role::Key(key) => Some(key),
                _ => None,
            }
        }
        fn key_label(&self) -> &str {
            "tenant_id"
        }
        fn role(&self) -> Role<'_> {
            self.0
        }
        fn state(&self) -> CircuitState {
            CircuitState::Open
        }
    }

    /// The response to a rejection by a circuit of `role`, `wait` from now (paused clock).
    async fn rejected(
        role: Role<'static>,
        state: CircuitState,
        wait: Option<Duration>,
    ) -> (Response, serde_json::Value) {
        let circuit: &'static dyn Circuit = Box::leak(Box::new(Tenant(role)));
        let circuit = Handle::Static(circuit);
        let at = wait.map(|wait| Instant::now() + wait);
        let open = CircuitOpen::new(circuit, state, at);
        let mut response = CorrelationId::current()
            .map_or(open.clone(), |id| open.with_correlation_id(Some(id)))
            .into_response();
        let body = response.body_mut().collect().await.unwrap().to_bytes();
        (response, serde_json::from_slice(&body).unwrap())
    }

    fn retry_after(response: &Response) -> Option<&str> {
        let value = response.headers().get(header::RETRY_AFTER)?;
        Some(value.to_str().unwrap())
    }

    #[tokio::test(start_paused = true)]
    async fn an_open_circuit_is_a_503_with_the_wait_in_whole_seconds_rounded_up() {
        for (wait, seconds) in [
            (Duration::from_millis(1_500), "2"),
            (Duration::from_secs(2), "2"),
            (Duration::from_nanos(2_000_000_001), "3"),
            (Duration::from_millis(1), "1"),
        ] {
            let (response, body) =
                rejected(Role::Key("acme"), CircuitState::Open, Some(wait)).await;
            assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
            assert_eq!(retry_after(&response), Some(seconds), "{wait:?}");
            assert_eq!(response.headers()[header::CONTENT_TYPE], "application/json");
            assert_eq!(body["error"], "circuit breaker is open");
            assert_eq!(body["service"], "calendar");
            assert_eq!(body["state"], "open");
            assert_eq!(body["tenant_id"], "acme");
            assert!(body["retry_after"].is_string(), "{body}");
            assert_eq!(body.get("overflow"), None, "a tenant's own circuit");
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_forced_open_circuit_gives_no_time_to_come_back() {
        let (response, body) = rejected(Role::Plain, CircuitState::ForcedOpen, None).await;
        assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(retry_after(&response), None);
        assert_eq!(body["state"], "forced_open");
        assert_eq!(body["retry_after"], serde_json::Value::Null);
        assert_eq!(body.get("tenant_id"), None, "a plain circuit has no key");
        assert_eq!(body["correlation_id"], serde_json::Value::Null);
    }

    #[tokio::test(start_paused = true)]
    async fn the_rejected_call_s_correlation_id_is_in_the_body() {
        let id = CorrelationId::new("req-7").unwrap();
        let wait = Some(Duration::from_secs(1));
        let (_, body) = id
            .scope(rejected(Role::Plain, CircuitState::Open, wait))
            .await;
        assert_eq!(body["correlation_id"], "req-7");
    }

    #[tokio::test(start_paused = true)]
    async fn the_circuit_a_full_set_shares_says_so() {
        let wait = Some(Duration::from_secs(1));
        let (_, body) = rejected(Role::Overflow, CircuitState::Open, wait).await;
        assert_eq!(body["overflow"], true);
        let (_, body) = rejected(Role::Keyless, CircuitState::Open, wait).await;
        assert_eq!(body.get("overflow"), None);
    }

    #[test]
    fn dates_past_year_9999_are_held_at_its_last_second() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000);
        assert_eq!(rfc3339_after(now, Duration::ZERO), "2027-01-15T08:00:00Z");
        let far = Duration::from_secs(20_000 * 366 * 86_400);
        assert_eq!(rfc3339_after(now, far), "9999-12-31T23:59:59Z");
        assert_eq!(rfc3339_after(now, Duration::MAX), "9999-12-31T23:59:59Z");
    }
}
