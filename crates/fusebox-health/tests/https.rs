//! `HttpCheck` over TLS against a real HTTPS server on 127.0.0.1 (rustls, a certificate made
//! for the test): it passes with the server's CA trusted, and fails, saying why, without it.

use fusebox_health::{run_check, HttpCheck, Status};
use rcgen::{CertificateParams, KeyPair};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use std::sync::Arc;
use std::time::Duration;

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// An HTTPS server answering `200 green` on every path, and its certificate.
async fn https_server() -> (std::net::SocketAddr, CertificateDer<'static>) {
    let key = KeyPair::generate().unwrap();
    let cert = CertificateParams::new(vec!["127.0.0.1".to_owned()])
        .unwrap()
        .self_signed(&key)
        .unwrap();
    let der = cert.der().clone();
    let config = rustls::ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(
            vec![der.clone()],
            PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der())),
        )
        .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                return;
            };
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                // A handshake the client refuses ends here.
                let Ok(tls) = acceptor.accept(stream).await else {
                    return;
                };
                let service = hyper::service::service_fn(|_request| async {
                    Ok::<_, std::convert::Infallible>(hyper::Response::new(
                        http_body_util::Full::new(bytes::Bytes::from_static(b"green")),
                    ))
                });
                let io = hyper_util::rt::TokioIo::new(tls);
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(io, service)
                    .await;
            });
        }
    });
    (addr, der)
}

fn trusting(cert: CertificateDer<'static>) -> rustls::ClientConfig {
    let mut roots = rustls::RootCertStore::empty();
    roots.add(cert).unwrap();
    rustls::ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth()
}

#[tokio::test]
async fn https_passes_with_the_ca_trusted_and_fails_without_it() {
    let (addr, cert) = https_server().await;
    let url = format!("https://{addr}/v1/user");
    let check = HttpCheck::new("calendar:responseTime", &url)
        .unwrap()
        .tls(trusting(cert))
        .body(|body| body == b"green");
    let result = run_check(&check, Duration::from_secs(10)).await;
    assert_eq!(result.status(), Status::Pass, "{result:?}");
    assert_eq!(result.probe().observed_unit(), Some("ms"));

    // Another certificate's CA: the handshake fails, and the detail says so.
    let other = KeyPair::generate().unwrap();
    let stranger = CertificateParams::new(vec!["127.0.0.1".to_owned()])
        .unwrap()
        .self_signed(&other)
        .unwrap();
    let untrusting = HttpCheck::new("calendar:responseTime", &url)
        .unwrap()
        .tls(trusting(stranger.der().clone()));
    let result = run_check(&untrusting, Duration::from_secs(10)).await;
    assert_eq!(result.status(), Status::Fail);
    let detail = result.probe().detail().unwrap();
    assert!(detail.starts_with(&format!("GET {url} failed")), "{detail}");
}

#[test]
fn other_schemes_are_refused_by_name() {
    for bad in ["ftp://127.0.0.1/", "https:///nohost", "127.0.0.1:80"] {
        let error = HttpCheck::new("c", bad).unwrap_err();
        assert_eq!(error.field(), "url", "{bad}");
        assert!(error.to_string().contains("http:// or https://"), "{error}");
    }
}
