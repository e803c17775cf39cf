use crate::stream::{Classified, ClassifyEos, ClassifyResponse};
use crate::{Classify, Outcome};
use http::{HeaderMap, Response};

/// The gRPC status codes the classifier distinguishes.
const DEADLINE_EXCEEDED: u16 = 4;
const RESOURCE_EXHAUSTED: u16 = 8;
const ABORTED: u16 = 10;
const INTERNAL: u16 = 13;
const UNAVAILABLE: u16 = 14;

/// The default classifier for gRPC responses, read from the `grpc-status` header.
///
/// | status | outcome |
/// |---|---|
/// | `UNAVAILABLE` (14), `RESOURCE_EXHAUSTED` (8) | retryable failure |
/// | `DEADLINE_EXCEEDED` (4) | failure, retryable only with [`retry_deadline_exceeded`](Self::retry_deadline_exceeded) |
/// | `ABORTED` (10), `INTERNAL` (13) | failure, not retryable |
/// | any other status, or none | success: the server answered |
/// | transport error (`Err`) | retryable failure |
///
/// A failed call usually ends in a *trailers-only* response, whose status is in the headers. A
/// response that streams messages carries its status in the trailers, after the body: as a
/// [`ClassifyResponse`] (what the breaker's streaming layer uses) the classifier then waits
/// for them ([`GrpcEos`]), without buffering the body; as a one-stage [`Classify`], which sees
/// only the headers, it counts such a response as a success.
///
/// ```
/// use fusebox_core::{Classify, GrpcClassifier, Outcome};
///
/// let unavailable = http::Response::builder().header("grpc-status", "14").body(()).unwrap();
/// assert!(GrpcClassifier::new().classify(Ok::<_, &()>(&unavailable)).is_retryable());
///
/// let late = http::Response::builder().header("grpc-status", "4").body(()).unwrap();
/// assert_eq!(GrpcClassifier::new().classify(Ok::<_, &()>(&late)), Outcome::permanent_failure());
/// assert!(GrpcClassifier::new()
///     .retry_deadline_exceeded(true)
///     .classify(Ok::<_, &()>(&late))
///     .is_retryable());
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct GrpcClassifier {
    retry_deadline_exceeded: bool,
}

impl GrpcClassifier {
    /// The default rules: `DEADLINE_EXCEEDED` is a failure but not retried.
    pub const fn new() -> Self {
        GrpcClassifier {
            retry_deadline_exceeded: false,
        }
    }

    /// Whether `DEADLINE_EXCEEDED` may be retried (only safe when the server did no work, or the
    /// method is idempotent).
    pub const fn retry_deadline_exceeded(mut self, retry: bool) -> Self {
        self.retry_deadline_exceeded = retry;
        self
    }

    /// Classifies a numeric gRPC status code.
    pub const fn classify_code(&self, code: u16) -> Outcome {
        match code {
            UNAVAILABLE | RESOURCE_EXHAUSTED => Outcome::retryable_failure(),
            DEADLINE_EXCEEDED if self.retry_deadline_exceeded => Outcome::retryable_failure(),
            DEADLINE_EXCEEDED | ABORTED | INTERNAL => Outcome::permanent_failure(),
            // OK (0), and every status that is the caller's mistake or the answer itself
            // (NOT_FOUND, INVALID_ARGUMENT, ...): the dependency is healthy.
            _ => Outcome::Success,
        }
    }
}

impl GrpcClassifier {
    /// The outcome a `grpc-status` value stands for, if there is one.
    fn classify_status(&self, headers: &HeaderMap) -> Option<Outcome> {
        headers
            .get("grpc-status")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u16>().ok())
            .map(|code| self.classify_code(code))
    }
}

impl<B, E> ClassifyResponse<B, E> for GrpcClassifier {
    type Eos = GrpcEos;

    fn classify_response(&self, response: &Response<B>) -> Classified<GrpcEos> {
        match self.classify_status(response.headers()) {
            Some(outcome) => Classified::Ready(outcome),
            None => Classified::AtEndOfStream(GrpcEos { rules: *self }),
        }
    }

    fn classify_error(&self, _: &E) -> Outcome {
        Outcome::retryable_failure()
    }
}

/// The end-of-stream stage of [`GrpcClassifier`]: the `grpc-status` trailer decides. A stream
/// that ends without one broke off before the server finished (gRPC requires the status), a
/// retryable failure.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct GrpcEos {
    rules: GrpcClassifier,
}

impl ClassifyEos for GrpcEos {
    fn classify_eos(self, trailers: Option<&HeaderMap>) -> Outcome {
        trailers
            .and_then(|t| self.rules.classify_status(t))
            .unwrap_or_else(Outcome::retryable_failure)
    }
}

impl<Req, B, E> crate::MakeClassifyResponse<Req, B, E> for GrpcClassifier {
    type Classify = GrpcClassifier;

    #[inline]
    fn make_classify_response(&self, _: &Req) -> GrpcClassifier {
        *self
    }
}

impl<Req, B, E> crate::MakeClassify<Req, Response<B>, E> for GrpcClassifier {
    type Classify = GrpcClassifier;

    #[inline]
    fn make_classify(&self, _: &Req) -> GrpcClassifier {
        *self
    }
}

impl<B, E> Classify<Response<B>, E> for GrpcClassifier {
    fn classify(&self, result: Result<&Response<B>, &E>) -> Outcome {
        match result {
            Ok(response) => self
                .classify_status(response.headers())
                .unwrap_or(Outcome::Success),
            Err(_) => Outcome::retryable_failure(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status(code: &str) -> Outcome {
        let r = Response::builder()
            .header("grpc-status", code)
            .body(())
            .unwrap();
        GrpcClassifier::new().classify(Ok::<_, &()>(&r))
    }

    #[test]
    fn codes_map_to_outcomes() {
        assert_eq!(status("0"), Outcome::Success);
        assert_eq!(
            status("5"),
            Outcome::Success,
            "NOT_FOUND is the caller's problem"
        );
        assert_eq!(status("14"), Outcome::retryable_failure());
        assert_eq!(status("8"), Outcome::retryable_failure());
        assert_eq!(status("4"), Outcome::permanent_failure());
        assert_eq!(status("10"), Outcome::permanent_failure());
        assert_eq!(status("13"), Outcome::permanent_failure());
        assert_eq!(status("garbage"), Outcome::Success);
        let none = Response::builder().body(()).unwrap();
        assert_eq!(
            GrpcClassifier::new().classify(Ok::<_, &()>(&none)),
            Outcome::Success
        );
    }

    #[test]
    fn each_call_s_classifier_keeps_the_deadline_rule() {
        use crate::{MakeClassify, MakeClassifyResponse};
        let late = Response::builder()
            .header("grpc-status", "4")
            .body(())
            .unwrap();
        let rules = GrpcClassifier::new().retry_deadline_exceeded(true);
        let per_call = MakeClassify::<(), Response<()>, ()>::make_classify(&rules, &());
        assert!(per_call.classify(Ok::<_, &()>(&late)).is_retryable());
        let per_call = MakeClassifyResponse::<(), (), ()>::make_classify_response(&rules, &());
        assert!(per_call.classify(Ok::<_, &()>(&late)).is_retryable());
    }

    #[test]
    fn a_streaming_response_is_decided_by_its_trailer() {
        let streaming = Response::builder().body(()).unwrap();
        let Classified::AtEndOfStream(eos) =
            ClassifyResponse::<(), ()>::classify_response(&GrpcClassifier::new(), &streaming)
        else {
            panic!("no grpc-status header: the trailers decide");
        };
        let trailer = |code: &'static str| {
            let mut t = HeaderMap::new();
            t.insert("grpc-status", http::HeaderValue::from_static(code));
            t
        };
        assert_eq!(eos.classify_eos(Some(&trailer("0"))), Outcome::Success);
        assert_eq!(
            eos.classify_eos(Some(&trailer("13"))),
            Outcome::permanent_failure()
        );
        assert_eq!(
            eos.classify_eos(None),
            Outcome::retryable_failure(),
            "a stream cut off before its status"
        );
        let trailers_only = Response::builder()
            .header("grpc-status", "14")
            .body(())
            .unwrap();
        assert_eq!(
            ClassifyResponse::<(), ()>::classify_response(&GrpcClassifier::new(), &trailers_only),
            Classified::Ready(Outcome::retryable_failure())
        );
    }
}
