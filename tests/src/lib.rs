//! Helpers for fusebox's integration tests: real servers on 127.0.0.1.

use std::net::SocketAddr;
use tokio::net::TcpListener;

/// Serves `router` on a free 127.0.0.1 port in the background and returns its address.
pub async fn serve(router: axum::Router) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind a free port on 127.0.0.1");
    let addr = listener.local_addr().expect("a bound address");
    tokio::spawn(async move {
        axum::serve(listener, router)
            .await
            .expect("the test server runs until the test ends");
    });
    addr
}

/// An HTTP client that talks only to 127.0.0.1 and never goes through a proxy.
pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .build()
        .expect("a reqwest client")
}
