use std::borrow::Cow;

/// Chooses the key of a request: which breaker guards it.
///
/// Implemented for closures `Fn(&Req) -> Option<String>`, and, with the `http` feature, by
/// [`HeaderKey`], [`PathKey`] and [`HostKey`], which borrow the key from the request without
/// allocating. A request without a key goes through the set's unkeyed breaker.
pub trait KeyExtractor<Req> {
    /// The key of `request`, if it has one.
    fn extract<'r>(&self, request: &'r Req) -> Option<Cow<'r, str>>;
}

impl<Req, F> KeyExtractor<Req> for F
where
    F: Fn(&Req) -> Option<String>,
{
    fn extract<'r>(&self, request: &'r Req) -> Option<Cow<'r, str>> {
        self(request).map(Cow::Owned)
    }
}

#[cfg(feature = "http")]
pub use self::http_keys::{HeaderKey, HostKey, PathKey};

#[cfg(feature = "http")]
mod http_keys {
    use super::KeyExtractor;
    use http::header::{HeaderName, HOST};
    use http::Request;
    use std::borrow::Cow;

    /// The value of a request header, such as `X-Tenant-ID`.
    ///
    /// ```
    /// use fusebox_breaker::{HeaderKey, KeyExtractor};
    ///
    /// let tenant = HeaderKey::new(http::HeaderName::from_static("x-tenant-id"));
    /// let request = http::Request::get("/").header("x-tenant-id", "acme").body(()).unwrap();
    /// assert_eq!(tenant.extract(&request).as_deref(), Some("acme"));
    /// ```
    #[derive(Clone, Debug)]
    pub struct HeaderKey {
        name: HeaderName,
    }

    impl HeaderKey {
        /// Keys requests by the header `name`.
        pub fn new(name: HeaderName) -> Self {
            HeaderKey { name }
        }
    }

    impl<B> KeyExtractor<Request<B>> for HeaderKey {
        fn extract<'r>(&self, request: &'r Request<B>) -> Option<Cow<'r, str>> {
            let value = request.headers().get(&self.name)?.to_str().ok()?;
            (!value.is_empty()).then_some(Cow::Borrowed(value))
        }
    }

    /// The route: axum's matched route template (`/users/{id}`) when there is one (feature
    /// `axum`, on `route_layer`), otherwise the request path.
    #[derive(Clone, Copy, Debug, Default)]
    pub struct PathKey;

    impl<B> KeyExtractor<Request<B>> for PathKey {
        fn extract<'r>(&self, request: &'r Request<B>) -> Option<Cow<'r, str>> {
            #[cfg(feature = "axum")]
            if let Some(path) = request.extensions().get::<axum::extract::MatchedPath>() {
                return Some(Cow::Borrowed(path.as_str()));
            }
            Some(Cow::Borrowed(request.uri().path()))
        }
    }

    /// The host the request goes to: the URI's host, else the `Host` header.
    #[derive(Clone, Copy, Debug, Default)]
    pub struct HostKey;

    impl<B> KeyExtractor<Request<B>> for HostKey {
        fn extract<'r>(&self, request: &'r Request<B>) -> Option<Cow<'r, str>> {
            if let Some(host) = request.uri().host() {
                return Some(Cow::Borrowed(host));
            }
            let host = request.headers().get(HOST)?.to_str().ok()?;
            Some(Cow::Borrowed(host))
        }
    }
}
