use tower::ServiceBuilder;
#[cfg(any(feature = "breaker", feature = "retry"))]
use tower_layer::Stack;

mod sealed {
    pub trait Sealed {}
    impl<L> Sealed for tower::ServiceBuilder<L> {}
}

/// Adds one method per fusebox middleware to [`tower::ServiceBuilder`].
///
/// Sealed: only `ServiceBuilder` implements it, so methods can be added without breaking anyone.
pub trait ServiceBuilderExt<L>: sealed::Sealed + Sized {
    /// Guards the services below with `breaker`, counting every `Err` as a failure.
    #[cfg(feature = "breaker")]
    #[cfg_attr(docsrs, doc(cfg(feature = "breaker")))]
    fn circuit_breaker(
        self,
        breaker: fusebox_breaker::Breaker,
    ) -> ServiceBuilder<Stack<fusebox_breaker::CircuitBreakerLayer, L>>;

    /// Guards the services below with one breaker per key, picked from `breakers` by
    /// `extractor` (a [`KeyExtractor`](fusebox_breaker::KeyExtractor) such as
    /// [`HeaderKey`](fusebox_breaker::HeaderKey), or a closure); every `Err` is a failure.
    #[cfg(feature = "breaker")]
    #[cfg_attr(docsrs, doc(cfg(feature = "breaker")))]
    fn keyed_circuit_breaker<K>(
        self,
        breakers: fusebox_breaker::KeyedBreakers,
        extractor: K,
    ) -> ServiceBuilder<Stack<fusebox_breaker::KeyedCircuitBreakerLayer<K>, L>>;

    /// Like [`keyed_circuit_breaker`](Self::keyed_circuit_breaker), for HTTP services: 5xx,
    /// 408, 429 and transport errors are failures.
    #[cfg(all(feature = "breaker", feature = "http"))]
    #[cfg_attr(docsrs, doc(cfg(all(feature = "breaker", feature = "http"))))]
    fn http_keyed_circuit_breaker<K>(
        self,
        breakers: fusebox_breaker::KeyedBreakers,
        extractor: K,
    ) -> ServiceBuilder<
        Stack<fusebox_breaker::KeyedCircuitBreakerLayer<K, fusebox_core::HttpClassifier>, L>,
    >;

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

    /// Guards the HTTP services below with `breaker`: 5xx, 408, 429 and transport errors are
    /// failures.
    #[cfg(all(feature = "breaker", feature = "http"))]
    #[cfg_attr(docsrs, doc(cfg(all(feature = "breaker", feature = "http"))))]
    fn http_circuit_breaker(
        self,
        breaker: fusebox_breaker::Breaker,
    ) -> ServiceBuilder<Stack<fusebox_breaker::CircuitBreakerLayer<fusebox_core::HttpClassifier>, L>>;

    /// Makes request bodies of up to `limit` bytes re-sendable
    /// ([`BufferBodyLayer`](fusebox_retry::http::BufferBodyLayer)), so that an HTTP retry
    /// below it (`.buffer_bodies(..).retry_with(RetryLayer::builder(..).http()...)`) can send
    /// a request again; a larger body is sent once, and the retry gives up with
    /// `body_too_large`.
    ///
    /// ```
    /// use fusebox::{Breaker, RetryLayer, ServiceBuilderExt};
    /// use fusebox::retry::http::ReplayBody;
    /// use tower::ServiceBuilder;
    ///
    /// # type Body = http_body_util::Full<bytes::Bytes>;
    /// let client = ServiceBuilder::new()
    ///     .buffer_bodies(64 * 1024)
    ///     .retry_with(RetryLayer::builder("payments").http().build()?)
    ///     .http_circuit_breaker(Breaker::builder("payments").build()?)
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
    fn circuit_breaker(
        self,
        breaker: fusebox_breaker::Breaker,
    ) -> ServiceBuilder<Stack<fusebox_breaker::CircuitBreakerLayer, L>> {
        self.layer(fusebox_breaker::CircuitBreakerLayer::new(breaker))
    }

    #[cfg(all(feature = "breaker", feature = "http"))]
    fn http_circuit_breaker(
        self,
        breaker: fusebox_breaker::Breaker,
    ) -> ServiceBuilder<Stack<fusebox_breaker::CircuitBreakerLayer<fusebox_core::HttpClassifier>, L>>
    {
        self.layer(fusebox_breaker::CircuitBreakerLayer::http(breaker))
    }

    #[cfg(feature = "breaker")]
    fn keyed_circuit_breaker<K>(
        self,
        breakers: fusebox_breaker::KeyedBreakers,
        extractor: K,
    ) -> ServiceBuilder<Stack<fusebox_breaker::KeyedCircuitBreakerLayer<K>, L>> {
        self.layer(fusebox_breaker::KeyedCircuitBreakerLayer::new(
            breakers, extractor,
        ))
    }

    #[cfg(all(feature = "breaker", feature = "http"))]
    fn http_keyed_circuit_breaker<K>(
        self,
        breakers: fusebox_breaker::KeyedBreakers,
        extractor: K,
    ) -> ServiceBuilder<
        Stack<fusebox_breaker::KeyedCircuitBreakerLayer<K, fusebox_core::HttpClassifier>, L>,
    > {
        self.layer(fusebox_breaker::KeyedCircuitBreakerLayer::http(
            breakers, extractor,
        ))
    }
}
