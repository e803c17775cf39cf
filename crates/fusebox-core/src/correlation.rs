//! Correlation ids: the one id every layer, log line, span, event and error of a call names.
//!
//! A call's id lives in its task while the call runs ([`CorrelationId::scope`]), so a breaker
//! or a retry reads it whatever the request type; the HTTP [`CorrelationLayer`] (feature
//! `http`) picks it from the request, generates it when absent, puts it on the request for the
//! upstream, and runs the rest of the stack inside its scope.

use std::fmt;
use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

tokio::task_local! {
    static CURRENT: CorrelationId;
}

/// Whether any call ever ran with an id: until then, [`CorrelationId::current`] is one load,
/// not a thread-local look-up, so a process that uses no ids pays nothing on a rejection.
static EVER_SCOPED: AtomicBool = AtomicBool::new(false);

/// The longest correlation id taken from a request, in bytes; a longer one is replaced by a
/// generated id, so a caller cannot make every log line and error of a call arbitrarily large.
pub const MAX_CORRELATION_ID_LEN: usize = 128;

/// A call's correlation id: cheap to clone (one pointer), shown as its text.
///
/// ```
/// use fusebox_core::CorrelationId;
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// let id = CorrelationId::new("req-7").unwrap();
/// let seen = id.clone().scope(async { CorrelationId::current() }).await;
/// assert_eq!(seen.as_deref(), Some("req-7"));
/// assert_eq!(CorrelationId::current(), None); // outside the call's scope
/// # }
/// ```
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct CorrelationId(
    // A thin pointer: a rejection carrying an id stays small (see `CircuitOpen`).
    Arc<Box<str>>,
);

impl CorrelationId {
    /// The id `text`, if it is one: 1 to [`MAX_CORRELATION_ID_LEN`] bytes of visible ASCII
    /// (what an HTTP header carries unescaped and a log line shows as is).
    pub fn new(text: &str) -> Option<Self> {
        let valid = !text.is_empty()
            && text.len() <= MAX_CORRELATION_ID_LEN
            && text.bytes().all(|byte| byte.is_ascii_graphic());
        valid.then(|| CorrelationId(Arc::new(text.into())))
    }

    /// A new random id: 32 lowercase hexadecimal digits, the shape of a W3C trace id, so it
    /// can start a trace too.
    pub fn generate() -> Self {
        // Zero is not a valid trace id.
        let bits = fastrand::u128(1..);
        CorrelationId(Arc::new(format!("{bits:032x}").into_boxed_str()))
    }

    /// The trace id of a W3C `traceparent` header value (`00-<trace id>-<parent id>-<flags>`),
    /// if it is a valid one: version `00` (or a later version's first four fields), lowercase
    /// hexadecimal, trace and parent ids not all zeros.
    ///
    /// ```
    /// use fusebox_core::CorrelationId;
    ///
    /// let id = CorrelationId::from_traceparent(
    ///     "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
    /// );
    /// assert_eq!(id.as_deref(), Some("4bf92f3577b34da6a3ce929d0e0e4736"));
    /// assert_eq!(CorrelationId::from_traceparent("00-00000000000000000000000000000000-00f067aa0ba902b7-01"), None);
    /// ```
    pub fn from_traceparent(value: &str) -> Option<Self> {
        trace_id(value).and_then(CorrelationId::new)
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The id of the call the current task is running, if it runs inside a
    /// [`scope`](Self::scope) (as every layer under a [`CorrelationLayer`] does).
    #[inline]
    pub fn current() -> Option<Self> {
        if EVER_SCOPED.load(Ordering::Relaxed) {
            CURRENT.try_with(Clone::clone).ok()
        } else {
            None
        }
    }

    /// Runs `future` as the call with this id: [`current`](Self::current) returns it while
    /// the future is polled.
    pub fn scope<F: Future>(self, future: F) -> tokio::task::futures::TaskLocalFuture<Self, F> {
        EVER_SCOPED.store(true, Ordering::Relaxed);
        CURRENT.scope(self, future)
    }

    /// Runs `f` as the call with this id, for the synchronous part of a call (a service's
    /// `call`).
    pub fn sync_scope<R>(self, f: impl FnOnce() -> R) -> R {
        EVER_SCOPED.store(true, Ordering::Relaxed);
        CURRENT.sync_scope(self, f)
    }
}

impl std::ops::Deref for CorrelationId {
    type Target = str;

    fn deref(&self) -> &str {
        self.as_str()
    }
}

impl fmt::Display for CorrelationId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for CorrelationId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

/// The trace id field of a `traceparent` value, checked as the W3C Trace Context asks.
fn trace_id(value: &str) -> Option<&str> {
    let mut fields = value.trim().split('-');
    let (version, trace, parent, flags) = (
        fields.next()?,
        fields.next()?,
        fields.next()?,
        fields.next()?,
    );
    let hex = |field: &str, len: usize| {
        field.len() == len
            && field
                .bytes()
                .all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
    };
    let nonzero = |field: &str| field.bytes().any(|b| b != b'0');
    // Version ff is forbidden; version 00 has exactly four fields, later ones may add more.
    let known = version == "00" && fields.next().is_none();
    let later = version != "00" && version != "ff";
    let valid = hex(version, 2)
        && (known || later)
        && hex(trace, 32)
        && nonzero(trace)
        && hex(parent, 16)
        && nonzero(parent)
        && hex(flags, 2);
    valid.then_some(trace)
}

#[cfg(feature = "http")]
pub use self::http_layer::{Correlation, CorrelationLayer};

#[cfg(feature = "http")]
mod http_layer {
    use super::CorrelationId;
    use http::{HeaderName, HeaderValue, Request};
    use std::task::{Context, Poll};
    use tokio::task::futures::TaskLocalFuture;
    use tower_layer::Layer;
    use tower_service::Service;
    use tracing::instrument::{Instrument, Instrumented};

    const TRACEPARENT: HeaderName = HeaderName::from_static("traceparent");

    /// Gives every HTTP request a correlation id and runs the layers below it as that call.
    ///
    /// The id is, in this order: the trace id of a valid W3C `traceparent` header (so logs,
    /// errors and traces name the same id); the correlation header (`x-request-id` unless
    /// [`header`](Self::header) chose another), if valid (see [`CorrelationId::new`]); the id
    /// of the call this task is already running (an outbound request made while serving one
    /// keeps the incoming id); else a generated one. The header is set to the id when it was
    /// missing or invalid, so the upstream sees it on every attempt; the id is put in the
    /// request's extensions; and the inner service's `call` and future run inside
    /// [`CorrelationId::scope`], where breakers, retries and metrics read it.
    ///
    /// They also run in a `fusebox_call` span at `DEBUG`, with the `correlation_id`, in which
    /// a breaker below records `breaker`, `key`, `probe` and `outcome` (a retry's attempts
    /// open spans of their own inside it). With OpenTelemetry, the span is a child of the
    /// span current when the request was called, as any `tracing` span is; see the tracing
    /// guide.
    ///
    /// ```
    /// use fusebox_core::{CorrelationId, CorrelationLayer};
    /// use http::Request;
    /// use tower::{service_fn, Layer, Service, ServiceExt};
    ///
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let mut svc = CorrelationLayer::new().layer(service_fn(|req: Request<()>| async move {
    ///     let header = req.headers()["x-request-id"].to_str().unwrap().to_owned();
    ///     assert_eq!(CorrelationId::current().as_deref(), Some(header.as_str()));
    ///     Ok::<_, std::convert::Infallible>(header)
    /// }));
    /// let request = Request::builder().header("x-request-id", "req-7").body(()).unwrap();
    /// let seen = svc.ready().await.unwrap().call(request).await.unwrap();
    /// assert_eq!(seen, "req-7");
    /// # }
    /// ```
    #[derive(Clone, Debug)]
    pub struct CorrelationLayer {
        header: HeaderName,
        traceparent: bool,
    }

    impl Default for CorrelationLayer {
        fn default() -> Self {
            CorrelationLayer::new()
        }
    }

    impl CorrelationLayer {
        /// Correlation through `x-request-id`, with `traceparent`'s trace id first.
        pub fn new() -> Self {
            CorrelationLayer {
                header: HeaderName::from_static("x-request-id"),
                traceparent: true,
            }
        }

        /// Reads and writes the id in `header` instead of `x-request-id`.
        pub fn header(mut self, header: HeaderName) -> Self {
            self.header = header;
            self
        }

        /// Whether a `traceparent` header's trace id is the id (default `true`); when
        /// `false`, only the correlation header is read.
        pub fn use_traceparent(mut self, yes: bool) -> Self {
            self.traceparent = yes;
            self
        }

        /// The correlation id of `request`, set on it (header and extension) when missing.
        fn assign<B>(&self, request: &mut Request<B>) -> CorrelationId {
            let headers = request.headers();
            let text = |name: &HeaderName| headers.get(name).and_then(|v| v.to_str().ok());
            let from_trace = self
                .traceparent
                .then(|| text(&TRACEPARENT).and_then(CorrelationId::from_traceparent))
                .flatten();
            let given = text(&self.header).and_then(CorrelationId::new);
            let id = from_trace
                .or_else(|| given.clone())
                .or_else(CorrelationId::current)
                .unwrap_or_else(CorrelationId::generate);
            if given.is_none() {
                // A valid id is visible ASCII, always a valid header value.
                if let Ok(value) = HeaderValue::from_str(id.as_str()) {
                    request.headers_mut().insert(self.header.clone(), value);
                }
            }
            request.extensions_mut().insert(id.clone());
            id
        }
    }

    impl<S> Layer<S> for CorrelationLayer {
        type Service = Correlation<S>;

        fn layer(&self, inner: S) -> Correlation<S> {
            Correlation {
                inner,
                layer: self.clone(),
            }
        }
    }

    /// A service whose calls run with a correlation id; built by [`CorrelationLayer`].
    #[derive(Clone, Debug)]
    pub struct Correlation<S> {
        inner: S,
        layer: CorrelationLayer,
    }

    impl<S> Correlation<S> {
        crate::define_inner_service_accessors!();
    }

    impl<S, B> Service<Request<B>> for Correlation<S>
    where
        S: Service<Request<B>>,
    {
        type Response = S::Response;
        type Error = S::Error;
        type Future = TaskLocalFuture<CorrelationId, Instrumented<S::Future>>;

        fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
            self.inner.poll_ready(cx)
        }

        fn call(&mut self, mut request: Request<B>) -> Self::Future {
            let id = self.layer.assign(&mut request);
            let span = tracing::debug_span!(
                "fusebox_call",
                correlation_id = id.as_str(),
                breaker = tracing::field::Empty,
                key = tracing::field::Empty,
                probe = tracing::field::Empty,
                outcome = tracing::field::Empty,
            );
            let future = id
                .clone()
                .sync_scope(|| span.in_scope(|| self.inner.call(request)));
            id.scope(future.instrument(span))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const VALID: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

    #[test]
    fn a_traceparent_gives_its_trace_id_only_when_valid() {
        assert_eq!(trace_id(VALID), Some("4bf92f3577b34da6a3ce929d0e0e4736"));
        assert_eq!(trace_id(&format!(" {VALID} ")), trace_id(VALID));
        // A later version may add fields; version 00 may not; ff is forbidden.
        let later = "01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra";
        assert_eq!(trace_id(later), Some("4bf92f3577b34da6a3ce929d0e0e4736"));
        for bad in [
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra",
            "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "0-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e473-00f067aa0ba902b7-01",
            "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-1",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7",
            "00-4bf92f3577b34da6a3ce929d0e0e473g-00f067aa0ba902b7-01",
            "",
        ] {
            assert_eq!(trace_id(bad), None, "{bad}");
        }
    }

    #[test]
    fn an_id_is_visible_ascii_of_bounded_length() {
        assert!(CorrelationId::new("a").is_some());
        assert!(CorrelationId::new(&"a".repeat(MAX_CORRELATION_ID_LEN)).is_some());
        assert!(CorrelationId::new(&"a".repeat(MAX_CORRELATION_ID_LEN + 1)).is_none());
        assert!(CorrelationId::new("").is_none());
        assert!(CorrelationId::new("two words").is_none());
        assert!(CorrelationId::new("caf\u{e9}").is_none());
        assert!(CorrelationId::new("line\nbreak").is_none());
    }

    #[test]
    fn a_generated_id_is_a_valid_trace_id_and_new_each_time() {
        let (a, b) = (CorrelationId::generate(), CorrelationId::generate());
        assert_ne!(a, b);
        let parent = format!("00-{a}-00f067aa0ba902b7-01");
        assert_eq!(trace_id(&parent), Some(a.as_str()));
    }

    #[test]
    fn an_id_is_one_pointer() {
        assert_eq!(
            std::mem::size_of::<Option<CorrelationId>>(),
            std::mem::size_of::<usize>()
        );
    }

    #[tokio::test]
    async fn the_current_id_is_the_innermost_scope_s() {
        let outer = CorrelationId::new("outer").unwrap();
        let inner = CorrelationId::new("inner").unwrap();
        let seen = outer
            .scope(async move {
                let before = CorrelationId::current();
                let nested = inner.scope(async { CorrelationId::current() }).await;
                let after = CorrelationId::current();
                (before, nested, after)
            })
            .await;
        assert_eq!(seen.0.as_deref(), Some("outer"));
        assert_eq!(seen.1.as_deref(), Some("inner"));
        assert_eq!(seen.2.as_deref(), Some("outer"));
        assert_eq!(CorrelationId::current(), None);
        let sync = CorrelationId::new("sync")
            .unwrap()
            .sync_scope(CorrelationId::current);
        assert_eq!(sync.as_deref(), Some("sync"));
    }
}
