//! The built-in checks against real servers on 127.0.0.1, and the timeout `run_check` enforces.

use axum::{http::StatusCode, routing::get, Router};
use fusebox_core::{Circuit, CircuitState, Handle};
use fusebox_health::{
    run_check, CircuitCheck, FnCheck, HealthCheck, HttpCheck, Probe, Status, TcpCheck,
};
use std::sync::atomic::{AtomicU8, Ordering};
use std::time::Duration;

/// Real time is used where a real socket is: paused time would jump to the timeout while the
/// runtime waits for the server.
const GENEROUS: Duration = Duration::from_secs(10);

async fn serve(router: Router) -> std::net::SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, router).await });
    addr
}

#[tokio::test]
async fn tcp_passes_on_an_open_port_and_fails_on_a_closed_one() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let open = TcpCheck::new("db", listener.local_addr().unwrap().to_string());
    let result = run_check(&open, GENEROUS).await;
    assert_eq!(result.status(), Status::Pass, "{result:?}");
    assert_eq!(result.probe().observed_unit(), Some("ms"));
    assert!(result.probe().observed_value().unwrap() >= 0.0);

    let port = fusebox_testkit::free_port();
    let closed = TcpCheck::new("db", format!("127.0.0.1:{port}"));
    let result = run_check(&closed, GENEROUS).await;
    assert_eq!(result.status(), Status::Fail);
    let detail = result.probe().detail().unwrap();
    assert!(
        detail.starts_with(&format!("cannot connect to 127.0.0.1:{port}")),
        "{detail}"
    );
}

#[tokio::test]
async fn http_judges_the_status_and_the_body_and_a_hung_server_times_out() {
    let addr = serve(
        Router::new()
            .route("/ok", get(|| async { "status: green" }))
            .route(
                "/down",
                get(|| async { (StatusCode::SERVICE_UNAVAILABLE, "down") }),
            )
            .route("/teapot", get(|| async { StatusCode::IM_A_TEAPOT }))
            .route(
                "/big",
                get(|| async { format!("{}green", "x".repeat(10_000)) }),
            )
            .route(
                "/huge",
                get(|| async { "x".repeat(fusebox_health::MAX_CHECKED_BODY + 1) }),
            )
            .route("/hang", get(std::future::pending::<&'static str>)),
    )
    .await;
    let url = |path: &str| format!("http://{addr}{path}");

    let ok = HttpCheck::new("calendar", &url("/ok")).unwrap();
    let result = run_check(&ok, GENEROUS).await;
    assert_eq!(result.status(), Status::Pass, "{result:?}");
    assert_eq!(result.probe().observed_unit(), Some("ms"));

    let down = HttpCheck::new("calendar", &url("/down")).unwrap();
    let result = run_check(&down, GENEROUS).await;
    assert_eq!(result.status(), Status::Fail);
    let detail = result.probe().detail().unwrap();
    assert!(
        detail.contains("answered 503 Service Unavailable, expected 200..=299"),
        "{detail}"
    );
    assert!(
        result.probe().observed_value().is_some(),
        "the time to the response"
    );

    // Another range of statuses.
    let teapot = HttpCheck::new("kettle", &url("/teapot"))
        .unwrap()
        .expect_status(418..=418);
    assert_eq!(run_check(&teapot, GENEROUS).await.status(), Status::Pass);

    // The body, checked when asked.
    let green = HttpCheck::new("calendar", &url("/ok"))
        .unwrap()
        .body(|body| body.ends_with(b"green"));
    assert_eq!(run_check(&green, GENEROUS).await.status(), Status::Pass);
    let red = HttpCheck::new("calendar", &url("/ok"))
        .unwrap()
        .body(|body| body.ends_with(b"red"));
    let result = run_check(&red, GENEROUS).await;
    assert_eq!(result.status(), Status::Fail);
    assert!(result
        .probe()
        .detail()
        .unwrap()
        .contains("the body is not as expected"));
    // The predicate sees a body of up to 64 KiB whole; a longer one is not read past it.
    let big = HttpCheck::new("calendar", &url("/big"))
        .unwrap()
        .body(|body| body.len() == 10_005 && body.ends_with(b"green"));
    assert_eq!(run_check(&big, GENEROUS).await.status(), Status::Pass);
    let huge = HttpCheck::new("calendar", &url("/huge"))
        .unwrap()
        .body(|_| true);
    let result = run_check(&huge, GENEROUS).await;
    assert_eq!(result.status(), Status::Fail);
    let detail = result.probe().detail().unwrap();
    assert!(detail.contains("reading the body"), "{detail}");
    assert_eq!(fusebox_health::MAX_CHECKED_BODY, 65_536);

    // A server that never answers: the check fails at its timeout, not later.
    let hang = HttpCheck::new("calendar", &url("/hang")).unwrap();
    let timeout = Duration::from_millis(200);
    let result = run_check(&hang, timeout).await;
    assert_eq!(result.status(), Status::Fail);
    assert_eq!(result.probe().detail(), Some("timed out after 200ms"));
    assert!(result.latency() >= timeout, "{:?}", result.latency());

    // Nothing listening.
    let port = fusebox_testkit::free_port();
    let refused = HttpCheck::new("calendar", &format!("http://127.0.0.1:{port}/")).unwrap();
    let result = run_check(&refused, GENEROUS).await;
    assert_eq!(result.status(), Status::Fail);
    assert!(result
        .probe()
        .detail()
        .unwrap()
        .starts_with("GET http://127.0.0.1:"));
}

#[test]
fn an_http_check_needs_an_absolute_http_url() {
    for bad in [
        "not a url",
        "/relative",
        "ws://example.test/",
        "ftp://host/",
    ] {
        let err = HttpCheck::new("calendar", bad).unwrap_err();
        assert_eq!(err.field(), "url", "{bad}");
        assert!(err.to_string().contains(bad), "{err}");
    }
}

#[tokio::test(start_paused = true)]
async fn a_probe_that_never_finishes_fails_at_the_timeout() {
    let stuck = FnCheck::new("queue", std::future::pending::<Probe>);
    let result = run_check(&stuck, Duration::from_secs(3)).await;
    assert_eq!(result.status(), Status::Fail);
    assert_eq!(result.probe().detail(), Some("timed out after 3s"));
    assert_eq!(result.latency(), Duration::from_secs(3));

    let slow = FnCheck::new("queue", || async {
        tokio::time::sleep(Duration::from_millis(700)).await;
        Probe::warn("backlog").observed(4_000.0, "items")
    });
    let result = run_check(&slow, Duration::from_secs(3)).await;
    assert_eq!(result.status(), Status::Warn);
    assert_eq!(result.latency(), Duration::from_millis(700));
    assert_eq!(slow.name(), "queue");
}

struct Switch(AtomicU8);

impl Circuit for Switch {
    fn name(&self) -> &str {
        "payments"
    }
    fn key(&self) -> Option<&str> {
        Some("acme")
    }
    fn state(&self) -> CircuitState {
        match self.0.load(Ordering::SeqCst) {
            0 => CircuitState::Closed,
            1 => CircuitState::HalfOpen,
            2 => CircuitState::Open,
            3 => CircuitState::ForcedOpen,
            _ => CircuitState::Disabled,
        }
    }
}

#[tokio::test]
async fn a_circuit_s_state_is_its_health() {
    let switch: &'static Switch = Box::leak(Box::new(Switch(AtomicU8::new(0))));
    let check = CircuitCheck::new(Handle::Static(switch));
    assert_eq!(check.name(), "payments[acme]:circuit");
    let mut seen = Vec::new();
    for state in 0..5 {
        switch.0.store(state, Ordering::SeqCst);
        let result = run_check(&check, GENEROUS).await;
        seen.push((result.status(), result.probe().detail().map(str::to_owned)));
    }
    let statuses: Vec<Status> = seen.iter().map(|(s, _)| *s).collect();
    assert_eq!(
        statuses,
        [
            Status::Pass,
            Status::Warn,
            Status::Fail,
            Status::Fail,
            Status::Warn
        ]
    );
    assert_eq!(seen[0].1, None);
    assert!(seen[1].1.as_deref().unwrap().starts_with("half-open"));
    assert!(seen[4].1.as_deref().unwrap().starts_with("disabled"));
    assert!(seen[2].1.as_deref().unwrap().starts_with("open"));
    assert!(seen[3].1.as_deref().unwrap().contains("forced open"));
}

/// A real flaky server through the registry's schedule: healthy, failing, hung longer than
/// the timeout, recovered; each probe's status, detail and latency as it goes.
#[tokio::test]
async fn a_flaky_server_through_the_registry_healthy_failing_hung_recovered() {
    use fusebox_core::{Event, EventKind};
    use fusebox_health::{CheckSettings, HealthRegistry};
    use std::sync::Arc;
    const OK: u8 = 0;
    const DOWN: u8 = 1;
    const HUNG: u8 = 2;
    let mode = Arc::new(AtomicU8::new(OK));
    let server_mode = mode.clone();
    let addr = serve(Router::new().route(
        "/v1/user",
        get(move || {
            let mode = server_mode.load(Ordering::SeqCst);
            async move {
                match mode {
                    OK => (StatusCode::OK, "{}"),
                    DOWN => (StatusCode::SERVICE_UNAVAILABLE, "down"),
                    _ => std::future::pending().await,
                }
            }
        }),
    ))
    .await;
    let check = HttpCheck::new("calendar:responseTime", &format!("http://{addr}/v1/user")).unwrap();
    let probed = Arc::new(tokio::sync::Notify::new());
    let notify = probed.clone();
    let registry = HealthRegistry::builder()
        .check(
            check,
            CheckSettings::default()
                .interval(Duration::from_millis(20))
                .failing_interval(Duration::from_millis(20))
                .timeout(Duration::from_millis(300))
                .jitter(0.0),
        )
        .on_event(move |e: &Event<'_>| {
            if matches!(e.kind, EventKind::HealthProbed { .. }) {
                notify.notify_one();
            }
        })
        .build()
        .unwrap();
    let running = registry.start();
    // Waits for a probe whose result satisfies `done`.
    let until = |what: &'static str, done: fn(&fusebox_health::CheckResult) -> bool| {
        let (registry, probed) = (registry.clone(), probed.clone());
        async move {
            let wait = async {
                loop {
                    probed.notified().await;
                    let latest = registry.latest("calendar:responseTime").unwrap();
                    if done(&latest) {
                        return latest;
                    }
                }
            };
            tokio::time::timeout(GENEROUS, wait)
                .await
                .unwrap_or_else(|_| panic!("no probe {what} in 10 s"))
        }
    };

    let healthy = until("passing", |r| r.status() == Status::Pass).await;
    assert_eq!(healthy.probe().observed_unit(), Some("ms"));
    assert!(healthy.latency() < Duration::from_millis(300));
    mode.store(DOWN, Ordering::SeqCst);
    let down = until("answering 503", |r| r.status() == Status::Fail).await;
    let detail = down.probe().detail().unwrap().to_owned();
    assert!(
        detail.contains("answered 503 Service Unavailable"),
        "{detail}"
    );
    mode.store(HUNG, Ordering::SeqCst);
    let hung = until("timing out", |r| {
        r.probe().detail() == Some("timed out after 300ms")
    })
    .await;
    assert_eq!(hung.status(), Status::Fail);
    assert!(
        hung.latency() >= Duration::from_millis(300),
        "{:?}",
        hung.latency()
    );
    assert!(
        hung.latency() < Duration::from_secs(5),
        "the timeout ended it"
    );
    mode.store(OK, Ordering::SeqCst);
    until("passing again", |r| r.status() == Status::Pass).await;
    let stats = registry
        .stats("calendar:responseTime", Duration::from_secs(3_600))
        .unwrap();
    assert!(stats.failures >= 1 && stats.recoveries >= 1, "{stats:?}");
    running.stop().await;
}

/// A set of circuits whose states a test sets: (role, state) per circuit.
struct Set(std::sync::Mutex<Vec<(Option<&'static str>, &'static str, CircuitState)>>);

struct Member(Option<&'static str>, &'static str, CircuitState);

impl Circuit for Member {
    fn name(&self) -> &str {
        "calendar"
    }
    fn key(&self) -> Option<&str> {
        self.0
    }
    fn role(&self) -> fusebox_core::Role<'_> {
        match (self.0, self.1) {
            (Some(key), _) => fusebox_core::Role::Key(key),
            (None, "keyless") => fusebox_core::Role::Keyless,
            (None, "overflow") => fusebox_core::Role::Overflow,
            _ => fusebox_core::Role::Plain,
        }
    }
    fn state(&self) -> CircuitState {
        self.2
    }
}

impl fusebox_core::Circuits for Set {
    fn for_each_circuit(&self, visit: &mut dyn FnMut(&dyn Circuit)) {
        for &(key, role, state) in self.0.lock().unwrap().iter() {
            visit(&Member(key, role, state));
        }
    }
}

#[tokio::test]
async fn a_set_of_circuits_passes_warns_and_fails_by_how_many_reject() {
    use fusebox_health::CircuitsCheck;
    use CircuitState::{Closed, ForcedOpen, HalfOpen, Open};
    let set = std::sync::Arc::new(Set(std::sync::Mutex::new(Vec::new())));
    let check = CircuitsCheck::new("calendar:tenants", set.clone());
    assert_eq!(check.name(), "calendar:tenants");
    let probe = |members: Vec<(Option<&'static str>, &'static str, CircuitState)>| {
        *set.0.lock().unwrap() = members;
        let check = check.clone();
        async move { check.check().await }
    };
    let (a, b, c, d) = (Some("a"), Some("b"), Some("c"), Some("d"));
    // Idle shared circuits do not count; none rejects: pass, 0 observed.
    let p = probe(vec![
        (a, "", Closed),
        (b, "", Closed),
        (None, "keyless", Closed),
        (None, "overflow", Closed),
    ])
    .await;
    assert_eq!(
        (p.status(), p.observed_value(), p.detail()),
        (Status::Pass, Some(0.0), None)
    );
    // Every keyed circuit open, the idle shared ones left out: fail.
    let p = probe(vec![
        (a, "", Open),
        (b, "", ForcedOpen),
        (None, "keyless", Closed),
        (None, "overflow", Closed),
    ])
    .await;
    assert_eq!(p.status(), Status::Fail);
    assert_eq!(
        p.detail(),
        Some("2 of 2 circuits reject calls: calendar[a], calendar[b]")
    );
    assert_eq!(p.observed_value(), Some(2.0));
    // Half-open rejects all but its probes: it counts as rejecting.
    let p = probe(vec![(a, "", HalfOpen), (b, "", Closed)]).await;
    assert_eq!(p.status(), Status::Warn);
    // A shared circuit that rejects counts, by its role.
    let p = probe(vec![
        (a, "", Closed),
        (None, "keyless", Open),
        (None, "overflow", Open),
    ])
    .await;
    assert_eq!(p.status(), Status::Warn);
    assert_eq!(
        p.detail(),
        Some("2 of 3 circuits reject calls: calendar[keyless], calendar[overflow]")
    );
    // Three named at most, the rest elided.
    let p = probe(vec![
        (a, "", Open),
        (b, "", Open),
        (c, "", Open),
        (d, "", Open),
        (None, "plain", Closed),
    ])
    .await;
    assert_eq!(
        p.detail(),
        Some("4 of 5 circuits reject calls: calendar[a], calendar[b], calendar[c], …")
    );
    let p = probe(vec![
        (a, "", Open),
        (b, "", Open),
        (c, "", Open),
        (None, "plain", Closed),
    ])
    .await;
    assert_eq!(
        p.detail(),
        Some("3 of 4 circuits reject calls: calendar[a], calendar[b], calendar[c]")
    );
    let p = probe(vec![(None, "plain", Open)]).await;
    assert_eq!(
        (p.status(), p.detail()),
        (Status::Fail, Some("1 of 1 circuits reject calls: calendar"))
    );
    // An empty set has nothing rejecting.
    assert_eq!(probe(vec![]).await.status(), Status::Pass);
}
