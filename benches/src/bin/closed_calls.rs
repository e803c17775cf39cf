//! Makes `N` calls through a closed breaker the way users call a service (`ready().await`, then
//! `call().await`, on a current-thread Tokio runtime), for counting the instructions a call
//! costs with `valgrind --tool=callgrind`: run it with `N` and with 0, and divide the difference
//! by `N`. Instruction counts repeat exactly run after run, unlike timings on a busy machine.
//!
//! ```text
//! closed_calls <N> [counted]
//! ```
//!
//! `counted` uses a breaker made by `build()` (reference-counted) instead of `build_static()`.

use fusebox::breaker::{Breaker, CircuitBreakerLayer};
use tower::{service_fn, Layer, Service, ServiceExt};

fn main() {
    let mut args = std::env::args().skip(1);
    let calls: u64 = match args.next().map(|n| n.parse()) {
        Some(Ok(n)) => n,
        _ => {
            eprintln!("usage: closed_calls <calls> [counted]");
            std::process::exit(2);
        }
    };
    let counted = args.next().as_deref() == Some("counted");
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a current-thread runtime");
    runtime.block_on(async {
        let builder = Breaker::builder("closed");
        let breaker = if counted {
            builder.build()
        } else {
            builder.build_static()
        }
        .expect("the default settings are valid");
        // A function pointer: an inner service the optimizer cannot see through.
        let inner: fn(u64) -> std::future::Ready<Result<u64, std::io::Error>> =
            |x| std::future::ready(Ok(x));
        let mut service = CircuitBreakerLayer::new(breaker).layer(service_fn(inner));
        let mut sum = 0u64;
        for i in 0..calls {
            let ready = service.ready().await.expect("always ready");
            sum = sum.wrapping_add(ready.call(i).await.expect("never fails"));
        }
        println!("{sum}");
    });
}
