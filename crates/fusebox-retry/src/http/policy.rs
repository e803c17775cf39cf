//! Which HTTP requests are sent again, and how they are copied.

use super::body::ReplayBody;
use crate::policy::ResendPolicy;
use fusebox_core::GiveUpReason;
use http::header::HeaderName;
use http::{HeaderMap, Method, Request};

/// Copies HTTP requests for retries, following HTTP's idempotency rules.
///
/// - Only idempotent methods (`GET`, `HEAD`, `OPTIONS`, `PUT`, `DELETE`, `TRACE`) are retried,
///   unless the request carries the opt-in header (`Idempotency-Key` by default) or the layer
///   opts in for every request with [`retry_non_idempotent`](Self::retry_non_idempotent).
/// - The body must have been buffered whole ([`BufferBodyLayer`](super::BufferBodyLayer)); a larger one is sent once.
/// - The correlation header (`x-request-id` by default) travels with every attempt, and its
///   value names the request in every event.
#[derive(Clone, Debug)]
pub struct HttpRequests {
    retry_non_idempotent: bool,
    opt_in_header: HeaderName,
    correlation_header: HeaderName,
}

impl Default for HttpRequests {
    fn default() -> Self {
        HttpRequests {
            retry_non_idempotent: false,
            opt_in_header: HeaderName::from_static("idempotency-key"),
            correlation_header: HeaderName::from_static("x-request-id"),
        }
    }
}

impl HttpRequests {
    /// The default rules.
    pub fn new() -> Self {
        Self::default()
    }

    /// Retries every method, `POST` and `PATCH` included. Only for services that deduplicate
    /// requests themselves.
    pub fn retry_non_idempotent(mut self, retry: bool) -> Self {
        self.retry_non_idempotent = retry;
        self
    }

    /// The header whose presence opts a request in to retries whatever its method.
    pub fn opt_in_header(mut self, name: HeaderName) -> Self {
        self.opt_in_header = name;
        self
    }

    /// The header carrying the request's correlation id.
    pub fn correlation_header(mut self, name: HeaderName) -> Self {
        self.correlation_header = name;
        self
    }

    fn may_retry(&self, method: &Method, headers: &HeaderMap) -> bool {
        self.retry_non_idempotent
            || matches!(
                *method,
                Method::GET
                    | Method::HEAD
                    | Method::OPTIONS
                    | Method::PUT
                    | Method::DELETE
                    | Method::TRACE
            )
            || headers.contains_key(&self.opt_in_header)
    }
}

impl<B> ResendPolicy<Request<ReplayBody<B>>> for HttpRequests {
    fn resend(
        &self,
        request: &Request<ReplayBody<B>>,
    ) -> Result<Request<ReplayBody<B>>, GiveUpReason> {
        if !self.may_retry(request.method(), request.headers()) {
            return Err(GiveUpReason::NotIdempotent);
        }
        let body = request
            .body()
            .try_clone()
            .ok_or(GiveUpReason::BodyTooLarge)?;
        let mut copy = Request::new(body);
        *copy.method_mut() = request.method().clone();
        *copy.uri_mut() = request.uri().clone();
        *copy.version_mut() = request.version();
        *copy.headers_mut() = request.headers().clone();
        *copy.extensions_mut() = request.extensions().clone();
        Ok(copy)
    }

    fn correlation_id<'a>(&self, request: &'a Request<ReplayBody<B>>) -> Option<&'a str> {
        request
            .headers()
            .get(&self.correlation_header)
            .and_then(|v| v.to_str().ok())
    }
}

impl<R> crate::RetryLayerBuilder<fusebox_core::ResultClassifier, R> {
    /// Retries HTTP requests: [`HttpClassifier`](fusebox_core::HttpClassifier) decides (408,
    /// 429, 502, 503, 504 and transport errors are retryable), and [`HttpRequests`](super::HttpRequests) copies
    /// requests. Put a [`BufferBodyLayer`](super::BufferBodyLayer) outside the retry layer.
    pub fn http(self) -> crate::RetryLayerBuilder<fusebox_core::HttpClassifier, HttpRequests> {
        self.classifier(fusebox_core::HttpClassifier::new())
            .requests(HttpRequests::default())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body::Body;

    fn request(method: Method, body: ReplayBody<String>) -> Request<ReplayBody<String>> {
        let mut r = Request::new(body);
        *r.method_mut() = method;
        r
    }

    #[test]
    fn only_idempotent_methods_are_resent_without_opt_in() {
        let p = HttpRequests::new();
        for m in [
            Method::GET,
            Method::HEAD,
            Method::OPTIONS,
            Method::PUT,
            Method::DELETE,
            Method::TRACE,
        ] {
            assert!(
                p.resend(&request(m.clone(), ReplayBody::buffered("")))
                    .is_ok(),
                "{m}"
            );
        }
        for m in [Method::POST, Method::PATCH] {
            assert_eq!(
                p.resend(&request(m.clone(), ReplayBody::buffered("")))
                    .unwrap_err(),
                GiveUpReason::NotIdempotent
            );
            let mut opted = request(m.clone(), ReplayBody::buffered("x"));
            opted
                .headers_mut()
                .insert("idempotency-key", "k1".parse().unwrap());
            assert!(p.resend(&opted).is_ok(), "{m} with Idempotency-Key");
            assert!(HttpRequests::new()
                .retry_non_idempotent(true)
                .resend(&request(m, ReplayBody::buffered("")))
                .is_ok());
        }
    }

    #[test]
    fn copies_keep_headers_and_body() {
        let mut r = request(Method::PUT, ReplayBody::buffered("payload"));
        r.headers_mut()
            .insert("x-request-id", "abc-1".parse().unwrap());
        *r.uri_mut() = "http://127.0.0.1/items/1".parse().unwrap();
        let p = HttpRequests::new();
        let copy = p.resend(&r).unwrap();
        assert_eq!(copy.uri(), r.uri());
        assert_eq!(copy.headers()["x-request-id"], "abc-1");
        assert_eq!(p.correlation_id(&copy), Some("abc-1"));
        assert_eq!(copy.body().size_hint().exact(), Some(7));
    }
}
