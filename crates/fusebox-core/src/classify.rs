use std::time::Duration;

/// What one call's result means for the health of the dependency it went to.
///
/// A classifier turns a result into an `Outcome`; the breaker counts failures, the retry layer
/// retries retryable failures and honours `retry_after`, and metrics label calls by it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Outcome {
    /// The dependency answered properly (this includes a client error such as `404`: the
    /// dependency is healthy, the request was wrong).
    Success,
    /// The dependency failed.
    Failure {
        /// Whether sending the same request again may succeed.
        retryable: bool,
        /// How long the dependency asked callers to wait (`Retry-After`), already capped.
        retry_after: Option<Duration>,
    },
    /// Neither success nor failure: not counted (for example a call cancelled by its caller).
    Ignored,
}

impl Outcome {
    /// The lowercase name used in logs and spans: `"success"`, `"failure"` (or
    /// `"permanent_failure"` when not retryable), `"ignored"`.
    ///
    /// ```
    /// use fusebox_core::Outcome;
    ///
    /// assert_eq!(Outcome::retryable_failure().as_str(), "failure");
    /// assert_eq!(Outcome::Success.as_str(), "success");
    /// ```
    pub const fn as_str(&self) -> &'static str {
        match self {
            Outcome::Success => "success",
            Outcome::Failure {
                retryable: true, ..
            } => "failure",
            Outcome::Failure { .. } => "permanent_failure",
            Outcome::Ignored => "ignored",
        }
    }

    /// A failure that may be retried, with no wait hint.
    pub const fn retryable_failure() -> Self {
        Outcome::Failure {
            retryable: true,
            retry_after: None,
        }
    }

    /// A failure that must not be retried.
    pub const fn permanent_failure() -> Self {
        Outcome::Failure {
            retryable: false,
            retry_after: None,
        }
    }

    /// Whether this is a [`Outcome::Success`].
    pub const fn is_success(&self) -> bool {
        matches!(self, Outcome::Success)
    }

    /// Whether this is a [`Outcome::Failure`].
    pub const fn is_failure(&self) -> bool {
        matches!(self, Outcome::Failure { .. })
    }

    /// Whether this is a failure that may be retried.
    pub const fn is_retryable(&self) -> bool {
        matches!(
            self,
            Outcome::Failure {
                retryable: true,
                ..
            }
        )
    }

    /// The wait the dependency asked for, if this is a failure that carried one.
    pub const fn retry_after(&self) -> Option<Duration> {
        match self {
            Outcome::Failure { retry_after, .. } => *retry_after,
            _ => None,
        }
    }
}

/// Decides what a call's result means: the one classifier every fusebox layer shares.
///
/// Implemented for closures, so a custom rule is one line:
///
/// ```
/// use fusebox_core::{Classify, Outcome};
///
/// // Treat "not found" errors as ignored, everything else by the usual rule.
/// let classify = |r: Result<&u32, &String>| match r {
///     Ok(_) => Outcome::Success,
///     Err(e) if e.contains("not found") => Outcome::Ignored,
///     Err(_) => Outcome::retryable_failure(),
/// };
/// let missing: Result<u32, String> = Err("user not found".into());
/// assert_eq!(classify.classify(missing.as_ref()), Outcome::Ignored);
/// ```
pub trait Classify<T, E> {
    /// Classifies one result, by reference, so the caller still owns it.
    fn classify(&self, result: Result<&T, &E>) -> Outcome;
}

impl<T, E, F> Classify<T, E> for F
where
    F: Fn(Result<&T, &E>) -> Outcome,
{
    fn classify(&self, result: Result<&T, &E>) -> Outcome {
        self(result)
    }
}

/// The classifier's per-request stage: makes the classifier for one call from its request, so
/// a rule can depend on what was sent (its method, its idempotency, a header), as
/// tower-http's `MakeClassifier` does.
///
/// Every classifier is one already: [`ResultClassifier`], `HttpClassifier`, `GrpcClassifier`
/// and closures give themselves for every request (a copy, or a clone of the closure);
/// [`EveryRequest`] does the same for a classifier type of your own. [`PerRequest`] makes one
/// from each request:
///
/// ```
/// use fusebox_core::{Classify, MakeClassify, Outcome, PerRequest, ResultClassifier};
///
/// // A failed health probe says nothing about the dependency's real traffic: ignore it.
/// let per_request = PerRequest::new(|path: &&str| {
///     let probe = path.starts_with("/health");
///     move |r: Result<&u32, &String>| {
///         if probe { Outcome::Ignored } else { ResultClassifier.classify(r) }
///     }
/// });
/// let failed: Result<u32, String> = Err("timeout".into());
/// let for_probe = MakeClassify::<&str, u32, String>::make_classify(&per_request, &"/health");
/// assert_eq!(for_probe.classify(failed.as_ref()), Outcome::Ignored);
/// let for_call = MakeClassify::<&str, u32, String>::make_classify(&per_request, &"/v1/pay");
/// assert!(for_call.classify(failed.as_ref()).is_failure());
/// ```
pub trait MakeClassify<Req, T, E> {
    /// The classifier of one call.
    type Classify: Classify<T, E>;

    /// The classifier for the call that sends `request`, made before it is sent.
    fn make_classify(&self, request: &Req) -> Self::Classify;
}

/// A closure classifier classifies every request the same way.
impl<Req, T, E, F> MakeClassify<Req, T, E> for F
where
    F: Fn(Result<&T, &E>) -> Outcome + Clone,
{
    type Classify = F;

    #[inline]
    fn make_classify(&self, _: &Req) -> F {
        self.clone()
    }
}

/// Makes each call's classifier from its request with a closure `Fn(&Req) -> impl Classify`.
#[derive(Clone, Copy, Debug)]
pub struct PerRequest<F>(F);

impl<F> PerRequest<F> {
    /// Makes each call's classifier with `make`.
    pub fn new(make: F) -> Self {
        PerRequest(make)
    }

    /// The classifier for `request`.
    #[inline]
    pub(crate) fn make<Req, C>(&self, request: &Req) -> C
    where
        F: Fn(&Req) -> C,
    {
        (self.0)(request)
    }
}

impl<Req, T, E, F, C> MakeClassify<Req, T, E> for PerRequest<F>
where
    F: Fn(&Req) -> C,
    C: Classify<T, E>,
{
    type Classify = C;

    #[inline]
    fn make_classify(&self, request: &Req) -> C {
        self.make(request)
    }
}

/// The same classifier, cloned, for every request: what makes a classifier type of your own
/// (a struct implementing [`Classify`]) usable where a [`MakeClassify`] is taken.
#[derive(Clone, Copy, Debug, Default)]
pub struct EveryRequest<C>(pub C);

impl<Req, T, E, C> MakeClassify<Req, T, E> for EveryRequest<C>
where
    C: Classify<T, E> + Clone,
{
    type Classify = C;

    #[inline]
    fn make_classify(&self, _: &Req) -> C {
        self.0.clone()
    }
}

/// The classifier for plain `Result`s: `Ok` is a success, every `Err` a retryable failure.
///
/// ```
/// use fusebox_core::{Classify, Outcome, ResultClassifier};
///
/// let r: Result<(), std::io::Error> = Err(std::io::ErrorKind::ConnectionReset.into());
/// assert_eq!(ResultClassifier.classify(r.as_ref()), Outcome::retryable_failure());
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ResultClassifier;

impl<T, E> Classify<T, E> for ResultClassifier {
    fn classify(&self, result: Result<&T, &E>) -> Outcome {
        match result {
            Ok(_) => Outcome::Success,
            Err(_) => Outcome::retryable_failure(),
        }
    }
}

impl<Req, T, E> MakeClassify<Req, T, E> for ResultClassifier {
    type Classify = ResultClassifier;

    #[inline]
    fn make_classify(&self, _: &Req) -> ResultClassifier {
        *self
    }
}

#[cfg(feature = "http")]
pub use self::http_impl::{parse_retry_after, HttpClassifier};

#[cfg(feature = "http")]
mod http_impl {
    use super::{Classify, Outcome};
    use http::{header::RETRY_AFTER, HeaderMap, Response, StatusCode};
    use std::time::{Duration, SystemTime};

    /// The default classifier for HTTP responses.
    ///
    /// | result | outcome |
    /// |---|---|
    /// | transport error (`Err`) | retryable failure |
    /// | `5xx` | failure; `502`, `503`, `504` retryable |
    /// | `408`, `429` | retryable failure |
    /// | other `4xx`, `1xx`–`3xx` | success: the dependency answered |
    ///
    /// `Retry-After` (delta-seconds or HTTP-date) on a failure is read as the server sent it,
    /// however long; a malformed value is ignored with a warning. The one cap on how long a
    /// caller waits is the retry layer's (`max_retry_after`), which gives up on a longer hint
    /// rather than retry sooner than asked.
    ///
    /// ```
    /// use fusebox_core::{Classify, HttpClassifier, Outcome};
    /// use std::time::Duration;
    ///
    /// let busy = http::Response::builder()
    ///     .status(503)
    ///     .header("retry-after", "2")
    ///     .body(())
    ///     .unwrap();
    /// let outcome = HttpClassifier::new().classify(Ok::<_, &()>(&busy));
    /// assert!(outcome.is_retryable());
    /// assert_eq!(outcome.retry_after(), Some(Duration::from_secs(2)));
    ///
    /// let missing = http::Response::builder().status(404).body(()).unwrap();
    /// assert_eq!(HttpClassifier::new().classify(Ok::<_, &()>(&missing)), Outcome::Success);
    /// ```
    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    pub struct HttpClassifier {
        _private: (),
    }

    impl Default for HttpClassifier {
        fn default() -> Self {
            Self::new()
        }
    }

    impl HttpClassifier {
        /// The default rules.
        pub const fn new() -> Self {
            Self { _private: () }
        }

        /// Classifies a status code and its headers.
        pub fn classify_status(&self, status: StatusCode, headers: &HeaderMap) -> Outcome {
            let retryable = match status.as_u16() {
                408 | 429 | 502 | 503 | 504 => true,
                500..=599 => false,
                _ => return Outcome::Success,
            };
            let retry_after = headers.get(RETRY_AFTER).and_then(Self::retry_after);
            Outcome::Failure {
                retryable,
                retry_after,
            }
        }
    }

    impl HttpClassifier {
        /// Reads a `Retry-After` value; a malformed one is ignored with a warning.
        fn retry_after(value: &http::HeaderValue) -> Option<Duration> {
            let parsed = value
                .to_str()
                .ok()
                .and_then(|v| parse_retry_after(v, SystemTime::now()));
            match parsed {
                Some(wait) => Some(wait),
                None => {
                    tracing::warn!(value = ?value, "ignoring a malformed Retry-After header");
                    None
                }
            }
        }
    }

    impl<Req, B, E> super::MakeClassify<Req, Response<B>, E> for HttpClassifier {
        type Classify = HttpClassifier;

        #[inline]
        fn make_classify(&self, _: &Req) -> HttpClassifier {
            *self
        }
    }

    impl<B, E> Classify<Response<B>, E> for HttpClassifier {
        fn classify(&self, result: Result<&Response<B>, &E>) -> Outcome {
            match result {
                Ok(response) => self.classify_status(response.status(), response.headers()),
                Err(_) => Outcome::retryable_failure(),
            }
        }
    }

    /// Parses a `Retry-After` value: delta-seconds (`"120"`) or an HTTP-date, relative to `now`.
    ///
    /// Returns `None` for a malformed value; a date in the past means "retry now" (`0s`). A
    /// number of seconds too large for a [`Duration`] (RFC 9110 allows any number of digits)
    /// is [`Duration::MAX`]: longer than any cap, never ignored.
    ///
    /// ```
    /// use fusebox_core::parse_retry_after;
    /// use std::time::{Duration, SystemTime};
    ///
    /// assert_eq!(parse_retry_after("7", SystemTime::now()), Some(Duration::from_secs(7)));
    /// assert_eq!(parse_retry_after("soon", SystemTime::now()), None);
    /// ```
    pub fn parse_retry_after(value: &str, now: SystemTime) -> Option<Duration> {
        let value = value.trim();
        if !value.is_empty() && value.bytes().all(|b| b.is_ascii_digit()) {
            return Some(
                value
                    .parse::<u64>()
                    .map_or(Duration::MAX, Duration::from_secs),
            );
        }
        let at = httpdate::parse_http_date(value).ok()?;
        Some(at.duration_since(now).unwrap_or(Duration::ZERO))
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        fn response(status: u16, retry_after: Option<&str>) -> Response<()> {
            let mut b = Response::builder().status(status);
            if let Some(v) = retry_after {
                b = b.header(RETRY_AFTER, v);
            }
            b.body(()).unwrap()
        }

        fn classify(status: u16) -> Outcome {
            HttpClassifier::new().classify(Ok::<_, &()>(&response(status, None)))
        }

        #[test]
        fn server_errors_and_throttling_are_failures() {
            for s in [500, 501, 505, 599] {
                assert_eq!(classify(s), Outcome::permanent_failure(), "status {s}");
            }
            for s in [408, 429, 502, 503, 504] {
                assert_eq!(classify(s), Outcome::retryable_failure(), "status {s}");
            }
        }

        #[test]
        fn client_errors_and_successes_do_not_count_as_failures() {
            for s in [200, 201, 204, 301, 304, 400, 401, 403, 404, 409, 422] {
                assert_eq!(classify(s), Outcome::Success, "status {s}");
            }
        }

        #[test]
        fn transport_errors_are_retryable_failures() {
            let err = std::io::Error::from(std::io::ErrorKind::ConnectionRefused);
            let r: Result<&Response<()>, _> = Err(&err);
            assert_eq!(
                HttpClassifier::new().classify(r),
                Outcome::retryable_failure()
            );
        }

        #[test]
        fn retry_after_is_read_as_sent() {
            let c = HttpClassifier::new();
            let o = c.classify(Ok::<_, &()>(&response(429, Some("3"))));
            assert_eq!(o.retry_after(), Some(Duration::from_secs(3)));
            let o = c.classify(Ok::<_, &()>(&response(503, Some("86400"))));
            assert_eq!(o.retry_after(), Some(Duration::from_secs(86_400)));
            let o = c.classify(Ok::<_, &()>(&response(503, Some("-1"))));
            assert_eq!(o.retry_after(), None);
            let o = c.classify(Ok::<_, &()>(&response(
                503,
                Some("99999999999999999999999"),
            )));
            assert_eq!(
                o.retry_after(),
                Some(Duration::MAX),
                "valid delay-seconds, too long for a Duration"
            );
        }

        #[test]
        fn retry_after_accepts_http_dates() {
            let now = httpdate::parse_http_date("Sun, 06 Nov 1994 08:49:37 GMT").unwrap();
            assert_eq!(
                parse_retry_after("Sun, 06 Nov 1994 08:50:37 GMT", now),
                Some(Duration::from_secs(60))
            );
            assert_eq!(
                parse_retry_after("Sun, 06 Nov 1994 08:00:00 GMT", now),
                Some(Duration::ZERO)
            );
            assert_eq!(parse_retry_after("", now), None);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_outcome_says_what_it_is() {
        let cases = [
            (Outcome::Success, (true, false, false)),
            (Outcome::retryable_failure(), (false, true, true)),
            (Outcome::permanent_failure(), (false, true, false)),
        ];
        for (outcome, (success, failure, retryable)) in cases {
            assert_eq!(outcome.is_success(), success, "{outcome:?}");
            assert_eq!(outcome.is_failure(), failure, "{outcome:?}");
            assert_eq!(outcome.is_retryable(), retryable, "{outcome:?}");
        }
    }
}
