//! A breaker for HTTP services whose responses may be decided at the end of their body: the
//! classifier's second stage ([`ClassifyResponse`](fusebox_core::ClassifyResponse)). A gRPC
//! streaming response carries its status in the trailers, after every message; with this
//! layer a stream that ends in `grpc-status: 14` counts as a failure, recorded as the body
//! ends, without buffering it.
//!
//! ```
//! use fusebox_breaker::{Breaker, StreamingCircuitBreakerLayer};
//! use fusebox_core::HttpClassifier;
//! use http_body_util::Empty;
//! use tower::{service_fn, ServiceBuilder, ServiceExt};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
//! let breaker = Breaker::builder("search").build()?;
//! let client = ServiceBuilder::new()
//!     .layer(StreamingCircuitBreakerLayer::new(breaker.clone(), HttpClassifier::new()))
//!     .service(service_fn(|_: ()| async {
//!         Ok::<_, std::io::Error>(http::Response::new(Empty::<bytes::Bytes>::new()))
//!     }));
//! let response = client.oneshot(()).await?;
//! assert_eq!(response.status(), 200);
//! assert_eq!(breaker.metrics().successes, 1, "decided from the head");
//! # Ok(())
//! # }
//! ```

mod future;
mod layer;
mod service;

pub use future::StreamingResponseFuture;
pub use layer::StreamingCircuitBreakerLayer;
pub use service::StreamingCircuitBreaker;

use crate::breaker::Permit;
use fusebox_core::{Outcome, RecordOutcome};

/// A call whose outcome waits for the end of its response body.
impl RecordOutcome for Permit {
    fn record_outcome(self, outcome: Outcome) {
        self.record(outcome);
    }
}
