//! The generated Prometheus rules, checked by a real `promtool`: `check rules` accepts them,
//! and `test rules` fires the page alert for a fast burn, only the ticket for a slow one, and
//! nothing for a burn within budget.

use fusebox_metrics::{alert_name, BurnRatePolicy, BurnRateWindow, Slo};
use std::path::Path;
use std::process::Command;
use std::time::Duration;

fn promtool(args: &[&str], dir: &Path) -> String {
    let output = Command::new("promtool")
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap_or_else(|e| {
            panic!(
                "promtool does not run ({e}); install Prometheus (Debian/Ubuntu: apt-get install \
                 prometheus, which scripts/test does) and run the tests again"
            )
        });
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(output.status.success(), "promtool {args:?} failed:\n{text}");
    text
}

fn scratch(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("fusebox-rules-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn payments() -> Slo {
    Slo::builder("payments")
        .availability(0.999)
        .latency(Duration::from_secs(1), 0.99)
        .build()
        .unwrap()
}

#[test]
fn promtool_accepts_the_rules() {
    let dir = scratch("check");
    let calendar = Slo::builder("calendar")
        .availability(0.995)
        .build()
        .unwrap();
    let rules = BurnRatePolicy::default()
        .prometheus_rules(&[payments(), calendar])
        .unwrap();
    std::fs::write(dir.join("rules.yml"), &rules).unwrap();
    let out = promtool(&["check", "rules", "rules.yml"], &dir);
    // Five windows × three objectives, and two alerts for each of the three.
    assert!(out.contains("SUCCESS: 21 rules found"), "{out}");
    let _ = std::fs::remove_dir_all(dir);
}

/// `values` for a counter growing by `per_minute` for `minutes` minutes.
fn growing(per_minute: u32, minutes: u32) -> String {
    format!("0+{per_minute}x{minutes}")
}

/// An alert test: at `at`, `alert` is firing with these label sets (none: not firing).
fn expect(at: &str, alert: &str, firing: &[(&str, &str)]) -> String {
    let mut test =
        format!("      - eval_time: {at}\n        alertname: {alert}\n        exp_alerts:\n");
    for (severity, slo) in firing {
        let summary = match (*severity, *slo) {
            ("page", "availability") => "payments: the availability error budget burns 14.4x or 6x faster than its objective of 0.999 allows",
            ("page", "latency") => "payments: the latency error budget burns 14.4x or 6x faster than its objective of 0.99 allows",
            ("ticket", "availability") => "payments: the availability error budget burns 1x faster than its objective of 0.999 allows",
            _ => "payments: the latency error budget burns 1x faster than its objective of 0.99 allows",
        };
        test.push_str(&format!(
            "          - exp_labels: {{severity: {severity}, service: payments, slo: {slo}}}\n            exp_annotations: {{summary: \"{summary}\"}}\n"
        ));
    }
    if firing.is_empty() {
        test.push_str("          []\n");
    }
    test
}

/// A test case: `failures` and `slow` calls in every 1,000 for `minutes` minutes, then the
/// alert expectations.
fn case(failures: u32, slow: u32, minutes: u32, expectations: &[String]) -> String {
    let series = |name: &str, per_minute: u32| {
        format!(
            "      - series: '{name}'\n        values: '{}'\n",
            growing(per_minute, minutes)
        )
    };
    let mut test = String::from("  - interval: 1m\n    input_series:\n");
    test.push_str(&series(
        r#"fusebox_calls_total{service="payments",outcome="success"}"#,
        1_000 - failures,
    ));
    test.push_str(&series(
        r#"fusebox_calls_total{service="payments",outcome="failure"}"#,
        failures,
    ));
    test.push_str(&series(
        r#"fusebox_call_duration_seconds_bucket{service="payments",le="1"}"#,
        1_000 - slow,
    ));
    test.push_str(&series(
        r#"fusebox_call_duration_seconds_count{service="payments"}"#,
        1_000,
    ));
    test.push_str("    alert_rule_test:\n");
    for e in expectations {
        test.push_str(e);
    }
    test
}

#[test]
fn the_alerts_fire_for_a_fast_burn_a_slow_burn_and_not_within_budget() {
    let dir = scratch("test");
    let rules = BurnRatePolicy::default()
        .prometheus_rules(&[payments()])
        .unwrap();
    std::fs::write(dir.join("rules.yml"), &rules).unwrap();
    let page = alert_name("page");
    let ticket = alert_name("ticket");
    let tests = [
        // 10 % failures (100× the budget) and 10 % slow calls (10×): a page for both within
        // the hour, and a ticket for both.
        case(
            100,
            100,
            70,
            &[
                expect(
                    "60m",
                    &page,
                    &[("page", "availability"), ("page", "latency")],
                ),
                expect(
                    "60m",
                    &ticket,
                    &[("ticket", "availability"), ("ticket", "latency")],
                ),
            ],
        ),
        // 0.5 % failures: five times the budget, under both page rates; a ticket after 6 h.
        case(
            5,
            0,
            400,
            &[
                expect("390m", &page, &[]),
                expect("390m", &ticket, &[("ticket", "availability")]),
            ],
        ),
        // 0.05 % failures and 0.5 % slow calls: half of each budget, no alert.
        case(
            0,
            5,
            400,
            &[expect("390m", &page, &[]), expect("390m", &ticket, &[])],
        ),
    ];
    let file = format!(
        "rule_files:\n  - rules.yml\nevaluation_interval: 1m\ntests:\n{}",
        tests.concat()
    );
    std::fs::write(dir.join("tests.yml"), &file).unwrap();
    let out = promtool(&["test", "rules", "tests.yml"], &dir);
    assert!(out.contains("SUCCESS"), "{out}");
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn objectives_and_policies_are_checked() {
    let slo = payments();
    assert_eq!(slo.availability(), Some(0.999));
    assert_eq!(slo.latency(), Some((Duration::from_secs(1), 0.99)));
    let available = Slo::builder("sms").availability(0.99).build().unwrap();
    assert_eq!((available.service(), available.latency()), ("sms", None));
    let fast = Slo::builder("sms")
        .latency(Duration::from_millis(300), 0.95)
        .build()
        .unwrap();
    assert_eq!(fast.availability(), None);
    let refused = |b: fusebox_metrics::SloBuilder| b.build().unwrap_err().field().to_owned();
    assert_eq!(refused(Slo::builder("p").availability(1.0)), "availability");
    assert_eq!(refused(Slo::builder("p").availability(0.0)), "availability");
    assert_eq!(
        refused(Slo::builder("p").availability(f64::NAN)),
        "availability"
    );
    assert_eq!(
        refused(Slo::builder("p").latency(Duration::ZERO, 0.99)),
        "latency.threshold"
    );
    assert_eq!(
        refused(Slo::builder("p").latency(Duration::from_secs(1), 1.5)),
        "latency.target"
    );
    assert_eq!(refused(Slo::builder("p")), "slo");
    assert_eq!(refused(Slo::builder("a\"b").availability(0.9)), "service");
    assert_eq!(refused(Slo::builder("").availability(0.9)), "service");

    let twice = BurnRatePolicy::default().prometheus_rules(&[payments(), payments()]);
    assert_eq!(twice.unwrap_err().field(), "slos");
    let mut backwards = BurnRatePolicy::default();
    backwards.page[0] = BurnRateWindow {
        factor: 14.4,
        long: Duration::from_secs(300),
        short: Duration::from_secs(3_600),
    };
    assert_eq!(
        backwards
            .prometheus_rules(&[payments()])
            .unwrap_err()
            .field(),
        "page.short"
    );
    let with_short = |short: Duration, long: Duration| {
        let mut policy = BurnRatePolicy::default();
        policy.ticket[0].short = short;
        policy.ticket[0].long = long;
        policy
            .prometheus_rules(&[payments()])
            .map_err(|e| e.field().to_owned())
    };
    let ms = Duration::from_millis(1);
    assert!(with_short(ms, 2 * ms).is_ok(), "1ms, the shortest window");
    assert_eq!(
        with_short(Duration::from_micros(999), 2 * ms).unwrap_err(),
        "ticket.short"
    );
    assert_eq!(with_short(2 * ms, 2 * ms).unwrap_err(), "ticket.short");
    let mut zero = BurnRatePolicy::default();
    zero.ticket[0].factor = 0.0;
    assert_eq!(
        zero.prometheus_rules(&[payments()]).unwrap_err().field(),
        "ticket.factor"
    );
}

#[test]
fn names_follow_the_windows_and_severities() {
    assert_eq!(
        fusebox_metrics::error_ratio_rule(Duration::from_secs(259_200)),
        "fusebox:slo_error_ratio:rate3d"
    );
    assert_eq!(
        fusebox_metrics::error_ratio_rule(Duration::from_millis(1_500)),
        "fusebox:slo_error_ratio:rate1500ms"
    );
    assert_eq!(
        fusebox_metrics::error_ratio_rule(Duration::from_secs(90)),
        "fusebox:slo_error_ratio:rate90s"
    );
    assert_eq!(alert_name("page"), "FuseboxSloBurnRatePage");
}

#[cfg(feature = "prometheus")]
#[test]
fn the_rules_read_the_bucket_bounds_as_the_exporter_writes_them() {
    use fusebox_metrics::{MetricsLayer, PrometheusExporter};
    use tower::{service_fn, Layer, Service, ServiceExt};

    let (exporter, recorder) = PrometheusExporter::builder()
        .duration_buckets(&[0.25, 1.0, 2.5])
        .build()
        .unwrap();
    let layer = metrics::with_local_recorder(&recorder, || MetricsLayer::new("payments"));
    let mut service = layer.layer(service_fn(|()| async { Ok::<_, std::io::Error>(()) }));
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    runtime.block_on(async { service.ready().await.unwrap().call(()).await.unwrap() });
    let scrape = exporter.render();
    for (threshold, bound) in [
        (Duration::from_millis(250), "0.25"),
        (Duration::from_secs(1), "1"),
    ] {
        let slo = Slo::builder("payments")
            .latency(threshold, 0.99)
            .build()
            .unwrap();
        let rules = BurnRatePolicy::default().prometheus_rules(&[slo]).unwrap();
        let label = format!("le=\"{bound}\"");
        assert!(rules.contains(&label), "{rules}");
        assert!(scrape.contains(&label), "{scrape}");
    }
}
