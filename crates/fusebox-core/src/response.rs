//! A rejection as a `503 Service Unavailable` response, for axum handlers and routes.

use crate::circuit::{CircuitOpen, Role};
use axum_core::response::{IntoResponse, Response};
use http::{header, HeaderValue, StatusCode};
use std::time::{Duration, SystemTime};

/// A `503 Service Unavailable` with `Retry-After` (whole seconds, rounded up; none for a
/// forced-open circuit, which no wait ends) and a JSON body: `error`, `service`, `state`,
/// `retry_after` (an RFC 3339 date, or `null`), the key under its label (`"tenant_id": "acme"`)
/// and `"overflow": true` for the circuit a full keyed set shares among new keys.
impl IntoResponse for CircuitOpen {
    fn into_response(self) -> Response {
        let wait = self.retry_after();
        let mut body = serde_json::json!({
            "error": "circuit breaker is open",
            "service": self.name(),
            "state": self.state().as_str(),
            "retry_after": wait.map(|wait| rfc3339_after(SystemTime::now(), wait)),
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

    #[test]
    fn dates_past_year_9999_are_held_at_its_last_second() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000);
        assert_eq!(rfc3339_after(now, Duration::ZERO), "2027-01-15T08:00:00Z");
        let far = Duration::from_secs(20_000 * 366 * 86_400);
        assert_eq!(rfc3339_after(now, far), "9999-12-31T23:59:59Z");
        assert_eq!(rfc3339_after(now, Duration::MAX), "9999-12-31T23:59:59Z");
    }
}
