//! What a missing feature refuses is refused at `build()`, with an error naming the setting.
//! `scripts/test` runs this file without default features (the checks below need the feature
//! off); with the features on, `tls.rs` and `cluster.rs` test the same settings working.

#[cfg(not(feature = "tls"))]
#[test]
fn a_tls_url_needs_the_tls_feature() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let _inside = runtime.enter();
    let err = fusebox_redis::RedisStore::builder("rediss://127.0.0.1:1/", "x")
        .build()
        .unwrap_err();
    assert_eq!(err.field(), "url");
    assert_eq!(
        err.to_string(),
        "url must be a redis:// URL (rediss:// needs fusebox-redis's `tls` feature), got \"rediss://127.0.0.1:1/\""
    );
}

#[cfg(not(feature = "tls"))]
#[test]
fn a_plain_url_works_without_the_tls_feature() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let _inside = runtime.enter();
    assert!(
        fusebox_redis::RedisStore::builder("redis://127.0.0.1:1/", "x")
            .build()
            .is_ok()
    );
}
