//! The classifier's second stage: responses whose outcome is known only at the end of their
//! body, from its trailers (gRPC puts a streaming call's status there), recorded as the body
//! ends, without buffering it.

use crate::classify::{HttpClassifier, Outcome};
use http::{HeaderMap, Response};
use http_body::{Body, Frame, SizeHint};
use pin_project_lite::pin_project;
use std::fmt;
use std::pin::Pin;
use std::task::{ready, Context, Poll};

/// What a classifier made of a response's head: the outcome, or what decides it at the end of
/// the body.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Classified<C> {
    /// The outcome is known now.
    Ready(Outcome),
    /// The outcome waits for the end of the body: `C` reads the trailers then.
    AtEndOfStream(C),
}

/// Decides a response's outcome at the end of its body.
pub trait ClassifyEos {
    /// The outcome once the body has ended, given its trailers (`None` when it ended without
    /// any).
    fn classify_eos(self, trailers: Option<&HeaderMap>) -> Outcome;

    /// The outcome when reading the body failed before its end: a retryable failure unless
    /// overridden.
    fn classify_body_error(self) -> Outcome
    where
        Self: Sized,
    {
        Outcome::retryable_failure()
    }
}

/// Never waits: the end-of-stream stage of classifiers that decide from the head alone.
impl ClassifyEos for std::convert::Infallible {
    fn classify_eos(self, _: Option<&HeaderMap>) -> Outcome {
        match self {}
    }
}

/// A classifier of HTTP responses in two stages, as tower-http's: the head decides at once, or
/// hands over to an end-of-stream stage that reads the trailers.
///
/// [`HttpClassifier`] always decides from the head; [`GrpcClassifier`](crate::GrpcClassifier)
/// decides from a trailers-only response's `grpc-status` header, and otherwise waits for the
/// `grpc-status` trailer.
///
/// ```
/// # #[cfg(feature = "grpc")] {
/// use fusebox_core::{Classified, ClassifyEos, ClassifyResponse, GrpcClassifier, Outcome};
///
/// let streaming = http::Response::builder().header("content-type", "application/grpc").body(()).unwrap();
/// let Classified::AtEndOfStream(eos) =
///     ClassifyResponse::<(), ()>::classify_response(&GrpcClassifier::new(), &streaming)
/// else {
///     panic!("the status of a streaming response is in its trailers");
/// };
/// let mut trailers = http::HeaderMap::new();
/// trailers.insert("grpc-status", "14".parse().unwrap());
/// assert_eq!(eos.classify_eos(Some(&trailers)), Outcome::retryable_failure());
/// # }
/// ```
pub trait ClassifyResponse<B, E> {
    /// The end-of-stream stage.
    type Eos: ClassifyEos;

    /// Classifies a response from its head (status and headers).
    fn classify_response(&self, response: &Response<B>) -> Classified<Self::Eos>;

    /// Classifies a call that failed without a response (a transport error).
    fn classify_error(&self, error: &E) -> Outcome;
}

impl<B, E> ClassifyResponse<B, E> for HttpClassifier {
    type Eos = std::convert::Infallible;

    fn classify_response(&self, response: &Response<B>) -> Classified<Self::Eos> {
        Classified::Ready(self.classify_status(response.status(), response.headers()))
    }

    fn classify_error(&self, _: &E) -> Outcome {
        Outcome::retryable_failure()
    }
}

/// The per-request stage of a two-stage classifier: makes each call's [`ClassifyResponse`] from
/// its request, as [`MakeClassify`](crate::MakeClassify) does for one-stage classifiers.
/// `HttpClassifier` and `GrpcClassifier` give themselves for every request;
/// [`PerRequest`](crate::PerRequest) makes one from each request.
pub trait MakeClassifyResponse<Req, B, E> {
    /// The classifier of one call.
    type Classify: ClassifyResponse<B, E>;

    /// The classifier for the call that sends `request`, made before it is sent.
    fn make_classify_response(&self, request: &Req) -> Self::Classify;
}

impl<Req, B, E> MakeClassifyResponse<Req, B, E> for HttpClassifier {
    type Classify = HttpClassifier;

    #[inline]
    fn make_classify_response(&self, _: &Req) -> HttpClassifier {
        *self
    }
}

impl<Req, B, E, F, C> MakeClassifyResponse<Req, B, E> for crate::PerRequest<F>
where
    F: Fn(&Req) -> C,
    C: ClassifyResponse<B, E>,
{
    type Classify = C;

    #[inline]
    fn make_classify_response(&self, request: &Req) -> C {
        self.make(request)
    }
}

/// Classifies a call's `result` with both stages of `classifier`: an error or a response whose
/// head decides is recorded through `record` now, and the response comes back with its body
/// untouched; otherwise the body comes back wrapped in a [`ClassifiedBody`] that records the
/// outcome when it ends. What a middleware with a two-stage classifier (a breaker, metrics)
/// does with each response.
pub fn record_response<B, E, C, R>(
    classifier: &C,
    result: Result<Response<B>, E>,
    record: R,
) -> Result<Response<ClassifiedBody<B, C::Eos, R>>, E>
where
    B: Body,
    C: ClassifyResponse<B, E>,
    R: RecordOutcome,
{
    match result {
        Ok(response) => match classifier.classify_response(&response) {
            Classified::Ready(outcome) => {
                record.record_outcome(outcome);
                Ok(response.map(ClassifiedBody::decided))
            }
            Classified::AtEndOfStream(eos) => {
                Ok(response.map(|body| ClassifiedBody::new(body, eos, record)))
            }
        },
        Err(error) => {
            record.record_outcome(classifier.classify_error(&error));
            Err(error)
        }
    }
}

/// Takes the outcome of a call whose response body [`ClassifiedBody`] watches. Dropping it
/// without an outcome must count the call as ignored (a breaker's `Permit` does).
pub trait RecordOutcome {
    /// Records `outcome`; called at most once.
    fn record_outcome(self, outcome: Outcome);
}

pin_project! {
    /// A response body that records the call's outcome when it ends: from its trailers, from
    /// their absence, or as a failure if reading it fails. Frames pass through untouched and
    /// nothing is buffered. A body dropped before its end records nothing, so the call counts
    /// as ignored (the caller stopped reading; the dependency did not fail).
    pub struct ClassifiedBody<B, C, R> {
        #[pin]
        inner: B,
        pending: Option<(C, R)>,
    }
}

impl<B: Body, C: ClassifyEos, R: RecordOutcome> ClassifiedBody<B, C, R> {
    /// Watches `inner`, recording on `record` what `eos` makes of its end. A body that is
    /// already at its end is classified now, since its reader may never poll it.
    pub fn new(inner: B, eos: C, record: R) -> Self {
        if inner.is_end_stream() {
            record.record_outcome(eos.classify_eos(None));
            return ClassifiedBody::decided(inner);
        }
        ClassifiedBody {
            inner,
            pending: Some((eos, record)),
        }
    }
}

impl<B, C, R> ClassifiedBody<B, C, R> {
    /// A body whose outcome is already recorded: frames only pass through.
    pub fn decided(inner: B) -> Self {
        ClassifiedBody {
            inner,
            pending: None,
        }
    }

    /// Whether the outcome still waits for the end of the body.
    pub fn is_pending(&self) -> bool {
        self.pending.is_some()
    }

    /// The body inside.
    pub fn get_ref(&self) -> &B {
        &self.inner
    }
}

impl<B: fmt::Debug, C, R> fmt::Debug for ClassifiedBody<B, C, R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClassifiedBody")
            .field("inner", &self.inner)
            .field("pending", &self.pending.is_some())
            .finish()
    }
}

/// How a body ended.
enum End<'a> {
    Trailers(&'a HeaderMap),
    Failed,
    Done,
}

impl<B, C, R> Body for ClassifiedBody<B, C, R>
where
    B: Body,
    C: ClassifyEos,
    R: RecordOutcome,
{
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        let this = self.project();
        let frame = ready!(this.inner.poll_frame(cx));
        let end = match &frame {
            Some(Ok(frame)) => frame.trailers_ref().map(End::Trailers),
            Some(Err(_)) => Some(End::Failed),
            None => Some(End::Done),
        };
        if let Some(end) = end {
            if let Some((eos, record)) = this.pending.take() {
                record.record_outcome(match end {
                    End::Trailers(trailers) => eos.classify_eos(Some(trailers)),
                    End::Failed => eos.classify_body_error(),
                    End::Done => eos.classify_eos(None),
                });
            }
        }
        Poll::Ready(frame)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};

    /// Keeps what it was given, and says when it was dropped unrecorded.
    #[derive(Clone, Default)]
    struct Log(Arc<Mutex<Vec<String>>>);

    struct Recorder(Log, bool);

    impl RecordOutcome for Recorder {
        fn record_outcome(mut self, outcome: Outcome) {
            self.1 = true;
            self.0 .0.lock().unwrap().push(format!("{outcome:?}"));
        }
    }

    impl Drop for Recorder {
        fn drop(&mut self) {
            if !self.1 {
                self.0 .0.lock().unwrap().push("dropped".to_owned());
            }
        }
    }

    /// Trailers `status: <n>`: 0 is a success, anything else a failure.
    struct Status;

    impl ClassifyEos for Status {
        fn classify_eos(self, trailers: Option<&HeaderMap>) -> Outcome {
            match trailers.and_then(|t| t.get("status")) {
                Some(v) if v == "0" => Outcome::Success,
                Some(_) => Outcome::retryable_failure(),
                None => Outcome::permanent_failure(),
            }
        }
    }

    /// A body of the given frames, one per poll.
    struct Frames(std::collections::VecDeque<Result<Frame<&'static [u8]>, &'static str>>);

    impl Body for Frames {
        type Data = &'static [u8];
        type Error = &'static str;

        fn poll_frame(
            mut self: Pin<&mut Self>,
            _: &mut Context<'_>,
        ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
            Poll::Ready(self.0.pop_front())
        }

        fn is_end_stream(&self) -> bool {
            self.0.is_empty()
        }

        fn size_hint(&self) -> SizeHint {
            SizeHint::with_exact(self.0.len() as u64)
        }
    }

    fn trailers(status: &'static str) -> Frame<&'static [u8]> {
        let mut map = HeaderMap::new();
        map.insert("status", http::HeaderValue::from_static(status));
        Frame::trailers(map)
    }

    /// Reads `body` to its end, or `frames` frames of it; returns the log.
    fn read(frames: Vec<Result<Frame<&'static [u8]>, &'static str>>, take: usize) -> Vec<String> {
        let log = Log::default();
        let mut body = Box::pin(ClassifiedBody::new(
            Frames(frames.into()),
            Status,
            Recorder(log.clone(), false),
        ));
        let mut cx = Context::from_waker(std::task::Waker::noop());
        for _ in 0..take {
            if let Poll::Ready(None) = body.as_mut().poll_frame(&mut cx) {
                break;
            }
        }
        drop(body);
        let seen = log.0.lock().unwrap().clone();
        seen
    }

    #[test]
    fn the_outcome_is_recorded_once_from_the_trailers() {
        let data = || Ok(Frame::data(&b"message"[..]));
        assert_eq!(
            read(vec![data(), data(), Ok(trailers("14"))], 9),
            ["Failure { retryable: true, retry_after: None }"]
        );
        assert_eq!(read(vec![data(), Ok(trailers("0"))], 9), ["Success"]);
    }

    #[test]
    fn an_end_without_trailers_an_error_and_an_early_drop_each_decide_once() {
        let data = || Ok(Frame::data(&b"message"[..]));
        assert_eq!(
            read(vec![data()], 9),
            ["Failure { retryable: false, retry_after: None }"],
            "no trailers at all"
        );
        assert_eq!(
            read(vec![data(), Err("reset"), Ok(trailers("0"))], 9),
            ["Failure { retryable: true, retry_after: None }"],
            "the body failed"
        );
        assert_eq!(
            read(vec![data(), data(), Ok(trailers("0"))], 1),
            ["dropped"],
            "the reader stopped early: ignored"
        );
        assert_eq!(
            read(vec![], 0),
            ["Failure { retryable: false, retry_after: None }"],
            "an empty body is classified at once, before anyone polls it"
        );
    }

    #[test]
    fn the_body_passes_its_end_and_size_through_and_says_while_it_waits() {
        let log = Log::default();
        let frames = vec![Ok(Frame::data(&b"message"[..])), Ok(trailers("0"))];
        let mut body = Box::pin(ClassifiedBody::new(
            Frames(frames.into()),
            Status,
            Recorder(log.clone(), false),
        ));
        assert!(body.is_pending() && !body.is_end_stream());
        assert_eq!(body.size_hint().exact(), Some(2));
        let mut cx = Context::from_waker(std::task::Waker::noop());
        while let Poll::Ready(Some(_)) = body.as_mut().poll_frame(&mut cx) {}
        assert!(!body.is_pending() && body.is_end_stream());
        assert_eq!(body.size_hint().exact(), Some(0));
        assert_eq!(*log.0.lock().unwrap(), ["Success"]);
    }

    /// Decides from the head when a response carries `status`, else at the end of its body.
    struct HeadOrTrailers;

    impl<B> ClassifyResponse<B, &'static str> for HeadOrTrailers {
        type Eos = Status;

        fn classify_response(&self, response: &Response<B>) -> Classified<Status> {
            match response.headers().get("status") {
                Some(v) if v == "0" => Classified::Ready(Outcome::Success),
                Some(_) => Classified::Ready(Outcome::retryable_failure()),
                None => Classified::AtEndOfStream(Status),
            }
        }

        fn classify_error(&self, _: &&'static str) -> Outcome {
            Outcome::permanent_failure()
        }
    }

    #[test]
    fn a_response_is_recorded_from_its_head_its_body_or_its_error() {
        let log = Log::default();
        let recorder = || Recorder(log.clone(), false);
        let seen = || std::mem::take(&mut *log.0.lock().unwrap());

        let head = Response::builder()
            .header("status", "14")
            .body(Frames(Default::default()))
            .unwrap();
        let decided = record_response(&HeadOrTrailers, Ok::<_, &str>(head), recorder()).unwrap();
        assert_eq!(seen(), ["Failure { retryable: true, retry_after: None }"]);
        assert!(!decided.body().is_pending(), "nothing left to decide");

        let error = record_response(
            &HeadOrTrailers,
            Err::<Response<Frames>, _>("reset"),
            recorder(),
        );
        assert_eq!(error.map(drop).unwrap_err(), "reset");
        assert_eq!(seen(), ["Failure { retryable: false, retry_after: None }"]);

        let streamed = Response::new(Frames(vec![Ok(trailers("0"))].into()));
        let waiting = record_response(&HeadOrTrailers, Ok(streamed), recorder()).unwrap();
        assert!(waiting.body().is_pending());
        assert_eq!(
            seen(),
            Vec::<String>::new(),
            "decided at the end of the body"
        );
        let mut body = Box::pin(waiting.into_body());
        let mut cx = Context::from_waker(std::task::Waker::noop());
        while let Poll::Ready(Some(_)) = body.as_mut().poll_frame(&mut cx) {}
        assert_eq!(seen(), ["Success"]);
    }
}
