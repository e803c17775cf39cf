use std::borrow::Cow;

/// Chooses the key of a request: which breaker guards it.
///
/// Implemented by [`key_fn`] closures, which borrow the key from the request, and, with the
/// `http` feature, by [`HeaderKey`], [`PathKey`] and [`HostKey`], which do too: none of them
/// allocates per call. Also implemented for closures `Fn(&Req) -> Option<String>`, for keys
/// that must be computed; the `String` is then allocated on every call. A request without a
/// key goes through the set's unkeyed breaker.
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

/// A key borrowed from the request by a closure: no allocation per call.
///
/// ```
/// use fusebox_breaker::{key_fn, Breaker, KeyedCircuitBreakerLayer};
/// use tower::{service_fn, Layer, ServiceExt};
///
/// struct Charge {
///     merchant: String,
///     cents: u64,
/// }
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), tower::BoxError> {
/// let merchants = Breaker::builder("payments").keyed().build()?;
/// let layer = KeyedCircuitBreakerLayer::new(
///     merchants.clone(),
///     key_fn(|charge: &Charge| Some(charge.merchant.as_str())),
/// );
/// let gateway = layer.layer(service_fn(|c: Charge| async move { Ok::<_, std::io::Error>(c.cents) }));
/// let charge = Charge { merchant: "acme".into(), cents: 1_250 };
/// assert_eq!(gateway.oneshot(charge).await?, 1_250);
/// assert_eq!(merchants.len(), 1, "one breaker, for acme");
/// assert_eq!(merchants.breakers()[0].key(), Some("acme"));
/// # Ok(())
/// # }
/// ```
pub fn key_fn<Req, F>(f: F) -> KeyFn<F>
where
    F: for<'r> Fn(&'r Req) -> Option<&'r str>,
{
    KeyFn(f)
}

/// A [`KeyExtractor`] made by [`key_fn`] from a closure that borrows the key from the request.
#[derive(Clone, Copy)]
pub struct KeyFn<F>(F);

impl<F> std::fmt::Debug for KeyFn<F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("KeyFn(..)")
    }
}

impl<Req, F> KeyExtractor<Req> for KeyFn<F>
where
    F: for<'r> Fn(&'r Req) -> Option<&'r str>,
{
    #[inline]
    fn extract<'r>(&self, request: &'r Req) -> Option<Cow<'r, str>> {
        (self.0)(request).map(Cow::Borrowed)
    }
}

#[cfg(feature = "http")]
pub use self::http_keys::{HeaderKey, HostKey, PathKey};

#[cfg(feature = "http")]
mod http_keys {
    use super::KeyExtractor;
    use http::header::{HeaderName, HeaderValue, HOST};
    use http::Request;
    use std::borrow::Cow;

    /// The value of a request header, such as `X-Tenant-ID`.
    ///
    /// The key is the value's bytes, never merged with another's: a value that is UTF-8 text
    /// (`acme`, or `müller` sent as UTF-8) is the key as it is, borrowed; any other bytes are
    /// kept too, escaped (`\xff`) after a U+0001 mark that no header's text can hold, so they
    /// cannot take a UTF-8 tenant's key. An empty or missing header has no key.
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
            header_key(request.headers().get(&self.name)?)
        }
    }

    /// A header value as a key, losing nothing (see [`HeaderKey`]).
    fn header_key(value: &HeaderValue) -> Option<Cow<'_, str>> {
        let bytes = value.as_bytes();
        if bytes.is_empty() {
            return None;
        }
        Some(match std::str::from_utf8(bytes) {
            Ok(text) => Cow::Borrowed(text),
            Err(_) => Cow::Owned(format!("\u{1}{}", bytes.escape_ascii())),
        })
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

    /// The host the request goes to: the URI's host, else the `Host` header (its bytes kept as
    /// [`HeaderKey`] keeps them).
    #[derive(Clone, Copy, Debug, Default)]
    pub struct HostKey;

    impl<B> KeyExtractor<Request<B>> for HostKey {
        fn extract<'r>(&self, request: &'r Request<B>) -> Option<Cow<'r, str>> {
            if let Some(host) = request.uri().host() {
                return Some(Cow::Borrowed(host));
            }
            header_key(request.headers().get(HOST)?)
        }
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        fn key_of(value: &[u8]) -> Option<String> {
            let request = Request::get("/")
                .header("x-tenant-id", HeaderValue::from_bytes(value).unwrap())
                .body(())
                .unwrap();
            HeaderKey::new(HeaderName::from_static("x-tenant-id"))
                .extract(&request)
                .map(Cow::into_owned)
        }

        #[test]
        fn a_route_is_keyed_by_its_path() {
            let request = Request::get("http://127.0.0.1/users/42?page=2")
                .body(())
                .unwrap();
            assert_eq!(PathKey.extract(&request).as_deref(), Some("/users/42"));
        }

        #[test]
        fn a_host_is_keyed_by_the_uri_s_host_else_the_host_header() {
            let absolute = Request::get("http://calendar.example:8443/v1/user")
                .header(HOST, "other.example")
                .body(())
                .unwrap();
            assert_eq!(
                HostKey.extract(&absolute).as_deref(),
                Some("calendar.example")
            );
            let relative = Request::get("/v1/user")
                .header(HOST, "api.example:8443")
                .body(())
                .unwrap();
            assert_eq!(
                HostKey.extract(&relative).as_deref(),
                Some("api.example:8443")
            );
            let neither = Request::get("/v1/user").body(()).unwrap();
            assert_eq!(HostKey.extract(&neither), None);
        }

        #[test]
        fn header_bytes_are_keys_and_never_merge() {
            assert_eq!(key_of(b"acme").as_deref(), Some("acme"));
            assert_eq!(key_of("müller".as_bytes()).as_deref(), Some("müller"));
            // Latin-1 "müller": not UTF-8, kept apart from every UTF-8 key.
            let latin1 = key_of(b"m\xfcller").unwrap();
            assert_eq!(latin1, "\u{1}m\\xfcller");
            assert_ne!(key_of(b"m\xfdller").unwrap(), latin1);
            assert_eq!(key_of(b""), None);
        }
    }
}
