//! Retrying HTTP requests: idempotency rules, re-sendable bodies, correlation ids.
//!
//! HTTP requests are not `Clone`, and their bodies may stream. [`BufferBodyLayer`] reads a
//! request's body into memory, up to a size limit, and hands the inner service a request whose
//! [`ReplayBody`] can be sent again; a body over the limit streams through once and is not
//! retried. [`HttpRequests`] then copies requests for later attempts, only for idempotent methods
//! unless the request or the layer opts in:
//!
//! ```
//! use fusebox_retry::http::{BufferBodyLayer, ReplayBody};
//! use fusebox_retry::RetryLayer;
//! use http::{Request, Response};
//! use tower::{service_fn, BoxError, ServiceBuilder, ServiceExt};
//!
//! # #[tokio::main(flavor = "current_thread", start_paused = true)]
//! # async fn main() -> Result<(), BoxError> {
//! // A client taking re-sendable bodies (a hyper client would be `Client<_, ReplayBody<B>>`).
//! let client = service_fn(|request: Request<ReplayBody<String>>| async move {
//!     Ok::<_, BoxError>(Response::new(request.method().to_string()))
//! });
//! let service = ServiceBuilder::new()
//!     .layer(BufferBodyLayer::new(64 * 1024))
//!     .layer(RetryLayer::builder("api").http().build()?)
//!     .service(client);
//! let response = service.oneshot(Request::get("http://127.0.0.1/").body(String::new())?).await?;
//! assert_eq!(response.body(), "GET");
//! # Ok(())
//! # }
//! ```

mod body;
mod future;
mod layer;
mod policy;
mod service;

pub use body::ReplayBody;
pub use future::BufferFuture;
pub use layer::BufferBodyLayer;
pub use policy::HttpRequests;
pub use service::BufferBody;

type BoxError = Box<dyn std::error::Error + Send + Sync>;
