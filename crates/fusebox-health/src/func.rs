//! [`FnCheck`]: a check written as an async closure.

use crate::check::{CheckFuture, HealthCheck, Probe};
use std::fmt;
use std::future::Future;

/// A check written as an async closure returning a [`Probe`]: a database's `SELECT 1`, a
/// queue's depth, anything the built-in checks do not cover.
///
/// ```
/// use fusebox_health::{FnCheck, HealthCheck, Probe};
///
/// let db = FnCheck::new("database", || async {
///     // run `SELECT 1` on a pooled connection here
///     match Ok::<i64, String>(1) {
///         Ok(1) => Probe::pass(),
///         Ok(other) => Probe::fail(format!("SELECT 1 returned {other}")),
///         Err(e) => Probe::fail(e),
///     }
/// });
/// assert_eq!(db.name(), "database");
/// ```
pub struct FnCheck<F> {
    name: String,
    probe: F,
}

impl<F> fmt::Debug for FnCheck<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FnCheck")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

impl<F, Fut> FnCheck<F>
where
    F: Fn() -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Probe> + Send + 'static,
{
    /// A check named `name` that runs `probe`.
    pub fn new(name: impl Into<String>, probe: F) -> Self {
        FnCheck {
            name: name.into(),
            probe,
        }
    }
}

impl<F, Fut> HealthCheck for FnCheck<F>
where
    F: Fn() -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Probe> + Send + 'static,
{
    fn name(&self) -> &str {
        &self.name
    }

    fn check(&self) -> CheckFuture<'_> {
        Box::pin((self.probe)())
    }
}
