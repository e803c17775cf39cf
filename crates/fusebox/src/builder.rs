use tower::ServiceBuilder;
#[cfg(any(feature = "breaker", feature = "retry"))]
use tower_layer::Stack;

mod sealed {
    pub trait Sealed {}
    impl<L> Sealed for tower::ServiceBuilder<L> {}
}

/// Adds one method per fusebox middleware to [`tower::ServiceBuilder`]; each takes the
/// middleware's layer, so the layer's own constructors (`CircuitBreakerLayer::http`,
/// `KeyedCircuitBreakerLayer::new`, `RetryLayer::builder`) say how it classifies, and a
/// [`Breaker`](fusebox_breaker::Breaker) given alone is a layer that counts every `Err`.
///
/// ```
/// use fusebox::breaker::{CircuitBreakerLayer, KeyedCircuitBreakerLayer};
/// use fusebox::{Breaker, RetryLayer, ServiceBuilderExt};
/// use tower::ServiceBuilder;
///
/// # fn main() -> Result<(), fusebox::ConfigError> {
/// let tenants = Breaker::builder("calendar").keyed().build()?;
/// let client = ServiceBuilder::new()
///     .retry_with(RetryLayer::builder("calendar").build()?)
///     .circuit_breaker(Breaker::builder("calendar-api").build()?)
///     .keyed_circuit_breaker(KeyedCircuitBreakerLayer::new(tenants, |t: &String| {
///         Some(t.clone())
///     }))
///     .service(tower::service_fn(|_: String| async { Ok::<_, std::io::Error>(()) }));
/// # let _ = client;
/// let http = ServiceBuilder::new()
///     .circuit_breaker(CircuitBreakerLayer::http(Breaker::builder("payments").build()?))
///     .service(tower::service_fn(|_: ()| async {
///         Ok::<_, std::io::Error>(http::Response::new(()))
///     }));
/// # let _ = http;
/// # Ok(())
/// # }
/// ```
///
/// Sealed: only `ServiceBuilder` implements it, so methods can be added without breaking anyone.
pub trait ServiceBuilderExt<L>: sealed::Sealed + Sized {
    /// Guards the services below with a circuit breaker: `layer` is a
    /// [`CircuitBreakerLayer`](fusebox_breaker::CircuitBreakerLayer) (its classifier decides
    /// what fails), or a [`Breaker`](fusebox_breaker::Breaker), which counts every `Err`.
    #[cfg(feature = "breaker")]
    #[cfg_attr(docsrs, doc(cfg(feature = "breaker")))]
    fn circuit_breaker<C>(
        self,
        layer: impl Into<fusebox_breaker::CircuitBreakerLayer<C>>,
    ) -> ServiceBuilder<Stack<fusebox_breaker::CircuitBreakerLayer<C>, L>>;

    /// Guards the services below with one breaker per key
    /// ([`KeyedCircuitBreakerLayer`](fusebox_breaker::KeyedCircuitBreakerLayer): a keyed set,
    /// a [`KeyExtractor`](fusebox_breaker::KeyExtractor) such as
    /// [`HeaderKey`](fusebox_breaker::HeaderKey) or a closure, and a classifier).
    #[cfg(feature = "breaker")]
    #[cfg_attr(docsrs, doc(cfg(feature = "breaker")))]
    fn keyed_circuit_breaker<K, C>(
        self,
        layer: fusebox_breaker::KeyedCircuitBreakerLayer<K, C>,
    ) -> ServiceBuilder<Stack<fusebox_breaker::KeyedCircuitBreakerLayer<K, C>, L>>;

    /// Guards the HTTP services below with a breaker whose classifier may wait for the end of
    /// the response body
    /// ([`StreamingCircuitBreakerLayer`](fusebox_breaker::StreamingCircuitBreakerLayer): a gRPC
    /// stream's status arrives in its trailers).
    #[cfg(all(feature = "breaker", feature = "http"))]
    #[cfg_attr(docsrs, doc(cfg(all(feature = "breaker", feature = "http"))))]
    fn streaming_circuit_breaker<C>(
        self,
        layer: fusebox_breaker::StreamingCircuitBreakerLayer<C>,
    ) -> ServiceBuilder<Stack<fusebox_breaker::StreamingCircuitBreakerLayer<C>, L>>;

    /// Re-sends requests to the services below as `layer` says (build it with
    /// [`RetryLayer::builder`](fusebox_retry::RetryLayer::builder)).
    ///
    /// Stacked outside a breaker (`.retry_with(..).circuit_breaker(..)`), the retry waits for
    /// the breaker's next probe instead of hammering an open circuit. (It is not called `retry`
    /// because tower's own `ServiceBuilder::retry` would shadow it.)
    #[cfg(feature = "retry")]
    #[cfg_attr(docsrs, doc(cfg(feature = "retry")))]
    fn retry_with<C, R>(
        self,
        layer: fusebox_retry::RetryLayer<C, R>,
    ) -> ServiceBuilder<Stack<fusebox_retry::RetryLayer<C, R>, L>>;

    /// Makes request bodies of up to `limit` bytes re-sendable
    /// ([`BufferBodyLayer`](fusebox_retry::http::BufferBodyLayer)), so that an HTTP retry
    /// below it (`.buffer_bodies(..).retry_with(RetryLayer::builder(..).http()...)`) can send
    /// a request again; a larger body is sent once, and the retry gives up with
    /// `body_too_large`.
    ///
    /// ```
    /// use fusebox::breaker::CircuitBreakerLayer;
    /// use fusebox::{Breaker, RetryLayer, ServiceBuilderExt};
    /// use fusebox::retry::http::ReplayBody;
    /// use tower::ServiceBuilder;
    ///
    /// # type Body = http_body_util::Full<bytes::Bytes>;
    /// let client = ServiceBuilder::new()
    ///     .buffer_bodies(64 * 1024)
    ///     .retry_with(RetryLayer::builder("payments").http().build()?)
    ///     .circuit_breaker(CircuitBreakerLayer::http(Breaker::builder("payments").build()?))
    ///     .service(tower::service_fn(|_: http::Request<ReplayBody<Body>>| async {
    ///         Ok::<_, std::io::Error>(http::Response::new(()))
    ///     }));
    /// # let _ = client;
    /// # Ok::<(), fusebox::ConfigError>(())
    /// ```
    #[cfg(all(feature = "retry", feature = "http"))]
    #[cfg_attr(docsrs, doc(cfg(all(feature = "retry", feature = "http"))))]
    fn buffer_bodies(
        self,
        limit: usize,
    ) -> ServiceBuilder<Stack<fusebox_retry::http::BufferBodyLayer, L>>;
}

impl<L> ServiceBuilderExt<L> for ServiceBuilder<L> {
    #[cfg(all(feature = "retry", feature = "http"))]
    fn buffer_bodies(
        self,
        limit: usize,
    ) -> ServiceBuilder<Stack<fusebox_retry::http::BufferBodyLayer, L>> {
        self.layer(fusebox_retry::http::BufferBodyLayer::new(limit))
    }

    #[cfg(feature = "retry")]
    fn retry_with<C, R>(
        self,
        layer: fusebox_retry::RetryLayer<C, R>,
    ) -> ServiceBuilder<Stack<fusebox_retry::RetryLayer<C, R>, L>> {
        self.layer(layer)
    }

    #[cfg(feature = "breaker")]
    fn circuit_breaker<C>(
        self,
        layer: impl Into<fusebox_breaker::CircuitBreakerLayer<C>>,
    ) -> ServiceBuilder<Stack<fusebox_breaker::CircuitBreakerLayer<C>, L>> {
        self.layer(layer.into())
    }

    #[cfg(feature = "breaker")]
    fn keyed_circuit_breaker<K, C>(
        self,
        layer: fusebox_breaker::KeyedCircuitBreakerLayer<K, C>,
    ) -> ServiceBuilder<Stack<fusebox_breaker::KeyedCircuitBreakerLayer<K, C>, L>> {
        self.layer(layer)
    }

    #[cfg(all(feature = "breaker", feature = "http"))]
    fn streaming_circuit_breaker<C>(
        self,
        layer: fusebox_breaker::StreamingCircuitBreakerLayer<C>,
    ) -> ServiceBuilder<Stack<fusebox_breaker::StreamingCircuitBreakerLayer<C>, L>> {
        self.layer(layer)
    }
}
