//! The optional key label of [`MetricsLayer`](crate::MetricsLayer): a tenant, a route, a host.

use crate::call::CallMetrics;
use crate::names;
use std::borrow::Cow;
use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, RwLock};

/// What a request's key label is, for [`MetricsLayer::key_by`](crate::MetricsLayer::key_by):
/// a closure `Fn(&Request) -> Option<String>`, a header's value with [`HeaderKey`] (feature
/// `http`), or [`NoKey`], the default, which labels nothing.
pub trait MetricsKey<Request> {
    /// The key of `request`, if it has one; a request without one is counted unkeyed.
    fn key<'r>(&self, request: &'r Request) -> Option<Cow<'r, str>>;
}

/// No key label: every call is counted under its service only.
#[derive(Clone, Copy, Debug, Default)]
pub struct NoKey;

impl<Request> MetricsKey<Request> for NoKey {
    #[inline(always)]
    fn key<'r>(&self, _: &'r Request) -> Option<Cow<'r, str>> {
        None
    }
}

impl<Request, F> MetricsKey<Request> for F
where
    F: Fn(&Request) -> Option<String>,
{
    fn key<'r>(&self, request: &'r Request) -> Option<Cow<'r, str>> {
        self(request).map(Cow::Owned)
    }
}

/// The value of a request header as the key (borrowed: no allocation per call); a request
/// without the header, or with a value that is not visible ASCII, is counted unkeyed.
#[cfg(feature = "http")]
#[cfg_attr(docsrs, doc(cfg(feature = "http")))]
#[derive(Clone, Debug)]
pub struct HeaderKey(http::HeaderName);

#[cfg(feature = "http")]
impl HeaderKey {
    /// The key from header `name` (`x-tenant-id`, say).
    pub fn new(name: http::HeaderName) -> Self {
        HeaderKey(name)
    }
}

#[cfg(feature = "http")]
impl<B> MetricsKey<http::Request<B>> for HeaderKey {
    fn key<'r>(&self, request: &'r http::Request<B>) -> Option<Cow<'r, str>> {
        let value = request.headers().get(&self.0)?.to_str().ok()?;
        Some(Cow::Borrowed(value))
    }
}

/// Makes the handles of a service's key.
type MakeHandles = Box<dyn Fn(&str, &str) -> CallMetrics + Send + Sync>;

/// The handles of each key seen, up to a cap; later keys share the overflow key's.
pub(crate) struct KeyedMetrics {
    service: String,
    cap: usize,
    keys: RwLock<HashMap<Box<str>, Arc<CallMetrics>>>,
    overflow: Arc<CallMetrics>,
    /// Makes the handles of a new key (with the layer's SLO tracker, if any).
    make: MakeHandles,
}

impl fmt::Debug for KeyedMetrics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyedMetrics")
            .field("service", &self.service)
            .field("cap", &self.cap)
            .finish_non_exhaustive()
    }
}

impl KeyedMetrics {
    pub(crate) fn new(
        service: &str,
        cap: usize,
        make: impl Fn(&str, &str) -> CallMetrics + Send + Sync + 'static,
    ) -> Self {
        KeyedMetrics {
            service: service.to_owned(),
            cap,
            keys: RwLock::new(HashMap::new()),
            overflow: Arc::new(make(service, names::OVERFLOW_KEY_LABEL)),
            make: Box::new(make),
        }
    }

    /// How many keys get series of their own.
    pub(crate) fn cap(&self) -> usize {
        self.cap
    }

    /// Calls `f` with the handles of `key`: its own while the cap allows, else the overflow
    /// key's. The handles of a new key are resolved once, from the recorder installed then.
    #[inline]
    pub(crate) fn with<R>(&self, key: &str, f: impl FnOnce(&Arc<CallMetrics>) -> R) -> R {
        {
            let keys = self
                .keys
                .read()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            if let Some(metrics) = keys.get(key) {
                return f(metrics);
            }
            if keys.len() >= self.cap {
                return f(&self.overflow);
            }
        }
        let metrics = {
            let mut keys = self
                .keys
                .write()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            let full = keys.len() >= self.cap;
            match keys.get(key) {
                Some(metrics) => metrics.clone(),
                None if full => self.overflow.clone(),
                None => {
                    let metrics = Arc::new((self.make)(&self.service, key));
                    keys.insert(key.into(), metrics.clone());
                    metrics
                }
            }
        };
        f(&metrics)
    }
}
