//! A real Prometheus server scrapes a real axum server's `/metrics`: the series it stores are
//! the calls, trips and states the breaker and the metrics layer saw.

use fusebox::breaker::{Breaker, CircuitState};
use fusebox::metrics::{MetricsLayer, PrometheusExporter};
use fusebox_testkit::PrometheusServer;
use std::time::{Duration, Instant};
use tower::{service_fn, Layer, ServiceExt};

/// The value of the one series `query` returns, once Prometheus has it; `None` after 30 s.
async fn value_of(prometheus: &PrometheusServer, query: &str) -> Option<(f64, serde_json::Value)> {
    let client = reqwest::Client::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut last = serde_json::Value::Null;
    while Instant::now() < deadline {
        let url = reqwest::Url::parse_with_params(
            &format!("{}/api/v1/query", prometheus.url()),
            [("query", query)],
        )
        .unwrap();
        let text = client
            .get(url)
            .send()
            .await
            .expect("Prometheus answers")
            .text()
            .await
            .expect("an answer");
        let answer: serde_json::Value = serde_json::from_str(&text).expect("a JSON answer");
        if let Some(value) = answer["data"]["result"][0]["value"][1].as_str() {
            return Some((value.parse().expect("a number"), answer));
        }
        last = answer;
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("Prometheus has no series for {query} after 30 s; its last answer: {last}");
}

/// Waits until `query`'s value is `expected` (a scrape after the change has been stored).
async fn wait_for(prometheus: &PrometheusServer, query: &str, expected: f64) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (value, answer) = value_of(prometheus, query).await.unwrap();
        if value == expected {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{query} is {value}, not {expected}, after 30 s: {answer}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prometheus_stores_the_calls_trips_and_states_it_scraped() {
    let exporter = PrometheusExporter::install().expect("the only recorder of this test binary");
    let breaker = Breaker::builder("payments")
        .consecutive_failures(2)
        .open_duration(Duration::from_secs(600))
        .build()
        .unwrap();
    let _subscription = breaker.subscribe(exporter.events().clone());
    let service = MetricsLayer::new("payments").layer(service_fn(|ok: bool| async move {
        if ok {
            Ok(())
        } else {
            Err(std::io::Error::other("card declined"))
        }
    }));

    // Five calls through the metrics layer; three trips of the breaker, two of them reset.
    for _ in 0..5 {
        service.clone().oneshot(true).await.unwrap();
    }
    service.clone().oneshot(false).await.unwrap_err();
    for trip in 0..3 {
        for _ in 0..2 {
            breaker.try_acquire().unwrap().failure();
        }
        assert_eq!(breaker.state(), CircuitState::Open);
        if trip < 2 {
            breaker.reset();
        }
    }
    for _ in 0..4 {
        breaker.try_acquire().unwrap_err();
    }

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let target = listener.local_addr().unwrap().to_string();
    let app: axum::Router = exporter.router();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    let prometheus = PrometheusServer::start(&[target], Duration::from_millis(200));

    let breaker_label = r#"breaker="payments""#;
    wait_for(
        &prometheus,
        &format!(r#"fusebox_breaker_transitions_total{{{breaker_label},from="closed",to="open"}}"#),
        3.0,
    )
    .await;
    wait_for(
        &prometheus,
        &format!(r#"fusebox_breaker_transitions_total{{{breaker_label},from="open",to="closed"}}"#),
        2.0,
    )
    .await;
    wait_for(
        &prometheus,
        r#"fusebox_calls_total{service="payments",outcome="success"}"#,
        5.0,
    )
    .await;
    wait_for(
        &prometheus,
        r#"fusebox_calls_total{service="payments",outcome="failure"}"#,
        1.0,
    )
    .await;
    wait_for(
        &prometheus,
        r#"fusebox_call_duration_seconds_count{service="payments"}"#,
        6.0,
    )
    .await;
    wait_for(
        &prometheus,
        &format!(r#"fusebox_breaker_calls_total{{{breaker_label},kind="rejected"}}"#),
        4.0,
    )
    .await;
    wait_for(
        &prometheus,
        &format!(r#"fusebox_breaker_state{{{breaker_label},state="open"}}"#),
        1.0,
    )
    .await;
    wait_for(
        &prometheus,
        &format!(r#"sum(fusebox_breaker_state{{{breaker_label}}})"#),
        1.0,
    )
    .await;
    wait_for(
        &prometheus,
        &format!(r#"fusebox_breaker_state_code{{{breaker_label}}}"#),
        2.0,
    )
    .await;
    // The open period goes on: its seconds grow from one scrape to the next.
    let open_seconds = format!(r#"fusebox_breaker_state_seconds{{{breaker_label},state="open"}}"#);
    let (first, _) = value_of(&prometheus, &open_seconds).await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (now, answer) = value_of(&prometheus, &open_seconds).await.unwrap();
        if now > first {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "open seconds stuck at {now}: {answer}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
