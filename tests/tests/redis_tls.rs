//! The store over TLS (`rediss://`, with a private CA and mutual TLS) and with a password,
//! against a real redis-server.

use fusebox::breaker::{Breaker, CircuitState};
use fusebox::redis::RedisStore;
use fusebox_testkit::{eventually, free_port, RedisServer};
use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
};
use std::path::PathBuf;
use std::time::Duration;

const BOUND: Duration = Duration::from_secs(5);

/// A CA, a server certificate for 127.0.0.1 and a client certificate, all PEM.
struct Pki {
    ca: String,
    server: (String, String),
    client: (String, String),
}

fn pki() -> Pki {
    let ca_key = KeyPair::generate().unwrap();
    let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.distinguished_name
        .push(DnType::CommonName, "fusebox test CA");
    let ca_cert = ca.self_signed(&ca_key).unwrap();
    let issuer = Issuer::new(ca, ca_key);
    let leaf = |purpose: ExtendedKeyUsagePurpose| {
        let key = KeyPair::generate().unwrap();
        let mut params = CertificateParams::new(vec!["127.0.0.1".to_owned()]).unwrap();
        params.extended_key_usages = vec![purpose];
        let cert = params.signed_by(&key, &issuer).unwrap();
        (cert.pem(), key.serialize_pem())
    };
    Pki {
        ca: ca_cert.pem(),
        server: leaf(ExtendedKeyUsagePurpose::ServerAuth),
        client: leaf(ExtendedKeyUsagePurpose::ClientAuth),
    }
}

/// A server with a plain port (for the harness) and a TLS port that requires client
/// certificates; returns it, the TLS port and the PKI.
fn tls_server() -> (RedisServer, u16, Pki, PathBuf) {
    let pki = pki();
    let tls_port = free_port();
    let dir = std::env::temp_dir().join(format!("fusebox-tls-{}-{tls_port}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let write = |name: &str, pem: &str| {
        let path = dir.join(name);
        std::fs::write(&path, pem).unwrap();
        path.to_string_lossy().into_owned()
    };
    let (ca, cert, key) = (
        write("ca.pem", &pki.ca),
        write("server.pem", &pki.server.0),
        write("server.key", &pki.server.1),
    );
    let server = RedisServer::start_with(
        free_port(),
        &[
            "--tls-port",
            &tls_port.to_string(),
            "--tls-cert-file",
            &cert,
            "--tls-key-file",
            &key,
            "--tls-ca-cert-file",
            &ca,
            "--tls-auth-clients",
            "yes",
        ],
    );
    (server, tls_port, pki, dir)
}

fn breaker() -> Breaker {
    Breaker::builder("email")
        .consecutive_failures(3)
        .open_duration(Duration::from_secs(30))
        .build()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn instances_share_state_over_mutual_tls() {
    let (_redis, tls_port, pki, dir) = tls_server();
    let url = format!("rediss://127.0.0.1:{tls_port}/");
    let store = || {
        RedisStore::builder(&url, "tls")
            .flush_interval(Duration::from_millis(20))
            .tls_root_certificates(pki.ca.clone())
            .tls_client_certificate(pki.client.0.clone(), pki.client.1.clone())
            .build()
            .unwrap()
    };
    let (a, b) = (store(), store());
    let (on_a, on_b) = (breaker(), breaker());
    on_a.share_with(&a);
    on_b.share_with(&b);
    for _ in 0..3 {
        on_a.try_acquire().unwrap().failure();
    }
    assert_eq!(on_a.state(), CircuitState::Open);
    eventually(
        "the trip reaches the other instance over TLS",
        BOUND,
        || on_b.state() == CircuitState::Open,
    )
    .await;
    assert!(!a.is_degraded() && !b.is_degraded());

    // Without a client certificate the server refuses the handshake: the store reports it,
    // and calls go on deciding locally.
    let anonymous = RedisStore::builder(&url, "tls")
        .flush_interval(Duration::from_millis(20))
        .tls_root_certificates(pki.ca.clone())
        .build()
        .unwrap();
    let local = breaker();
    local.share_with(&anonymous);
    eventually(
        "a store without a client certificate degrades",
        BOUND,
        || anonymous.is_degraded(),
    )
    .await;
    local.try_acquire().unwrap().success();
    assert_eq!(
        local.state(),
        CircuitState::Closed,
        "no shared state reached it"
    );
    let _ = std::fs::remove_dir_all(dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_certificate_from_an_unknown_ca_is_refused() {
    let (_redis, tls_port, pki, dir) = tls_server();
    // The system's roots do not include the test CA.
    let store = RedisStore::builder(format!("rediss://127.0.0.1:{tls_port}/"), "tls")
        .flush_interval(Duration::from_millis(20))
        .tls_client_certificate(pki.client.0.clone(), pki.client.1.clone())
        .build()
        .unwrap();
    let b = breaker();
    b.share_with(&store);
    eventually("an untrusted server degrades the store", BOUND, || {
        store.is_degraded()
    })
    .await;
    let _ = std::fs::remove_dir_all(dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_password_in_the_url_authenticates_and_a_wrong_one_degrades() {
    let port = free_port();
    let _redis = RedisServer::start_with(port, &["--requirepass", "s3cret"]);
    let store = |password: &str| {
        RedisStore::builder(format!("redis://:{password}@127.0.0.1:{port}/"), "auth")
            .flush_interval(Duration::from_millis(20))
            .build()
            .unwrap()
    };
    let (good, other, bad) = (store("s3cret"), store("s3cret"), store("wrong"));
    let (on_good, on_other, on_bad) = (breaker(), breaker(), breaker());
    on_good.share_with(&good);
    on_other.share_with(&other);
    on_bad.share_with(&bad);
    on_good.force_open();
    eventually(
        "a force-open reaches the other authenticated instance",
        BOUND,
        || on_other.state() == CircuitState::ForcedOpen,
    )
    .await;
    eventually("the wrong password degrades its store", BOUND, || {
        bad.is_degraded()
    })
    .await;
    assert!(!good.is_degraded());
    assert_eq!(on_bad.state(), CircuitState::Closed);
}

#[test]
fn certificates_need_a_tls_url() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let _guard = runtime.enter();
    let err = RedisStore::builder("redis://127.0.0.1:6379/", "tls")
        .tls_root_certificates(pki().ca)
        .build()
        .unwrap_err();
    assert_eq!(err.field(), "url");
    assert!(err.to_string().contains("rediss://"), "{err}");
}
