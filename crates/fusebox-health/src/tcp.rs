//! [`TcpCheck`]: whether a TCP connection can be made.

use crate::check::{CheckFuture, HealthCheck, Probe};
use tokio::time::Instant;

/// Passes when a TCP connection to its address can be made (then closed at once), with the
/// time to connect as its observed value in milliseconds; fails with the connection's error.
///
/// ```
/// use fusebox_health::{HealthCheck, TcpCheck};
///
/// let postgres = TcpCheck::new("postgres", "127.0.0.1:5432");
/// assert_eq!(postgres.name(), "postgres");
/// ```
#[derive(Clone, Debug)]
pub struct TcpCheck {
    name: String,
    address: String,
}

impl TcpCheck {
    /// A check named `name` connecting to `address` (`host:port`, resolved at each probe).
    pub fn new(name: impl Into<String>, address: impl Into<String>) -> Self {
        TcpCheck {
            name: name.into(),
            address: address.into(),
        }
    }
}

impl HealthCheck for TcpCheck {
    fn name(&self) -> &str {
        &self.name
    }

    fn check(&self) -> CheckFuture<'_> {
        Box::pin(async move {
            let start = Instant::now();
            match tokio::net::TcpStream::connect(&self.address).await {
                Ok(stream) => {
                    drop(stream);
                    let ms = crate::check::millis(start.elapsed());
                    Probe::pass().observed(ms, "ms")
                }
                Err(e) => Probe::fail(format!("cannot connect to {}: {e}", self.address)),
            }
        })
    }
}
