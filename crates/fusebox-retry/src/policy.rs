//! How a request is copied for another attempt.

use fusebox_core::GiveUpReason;

/// Makes the copy of a request that a later attempt sends, or says why there can be none.
///
/// [`CloneRequest`] serves any `Clone` request; `HttpRequests` (feature `http`) adds the
/// idempotency rules and buffered bodies of HTTP.
pub trait ResendPolicy<Req> {
    /// A copy of `request` for another attempt, or why it cannot be sent again (the first
    /// attempt is sent anyway; a retryable failure is then returned as is).
    fn resend(&self, request: &Req) -> Result<Req, GiveUpReason>;

    /// The correlation id the request carries, which every attempt keeps and every event
    /// names.
    fn correlation_id<'a>(&self, request: &'a Req) -> Option<&'a str> {
        let _ = request;
        None
    }
}

/// Retries any `Clone` request by cloning it.
#[derive(Clone, Copy, Debug, Default)]
pub struct CloneRequest;

impl<Req: Clone> ResendPolicy<Req> for CloneRequest {
    fn resend(&self, request: &Req) -> Result<Req, GiveUpReason> {
        Ok(request.clone())
    }
}
