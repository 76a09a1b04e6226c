//! The Prometheus source against a real Prometheus server (tests/services/prometheus.sh, `PROMETHEUS_URL`) scraping a /metrics endpoint each test serves; fails when none runs.
#![cfg(feature = "prometheus")]

mod support;

use std::io::{Read, Write};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use stepscale_engine::config::queue::{MetricMeaning, PrometheusQuery};
use stepscale_engine::config::{QueueConfig, Secret};
use stepscale_engine::QueueSample;
use stepscale_live::prometheus::PrometheusProbe;
use stepscale_live::{AnyProbe, Probe, ProbeContext, ProbeError};

fn prometheus_url() -> String {
    std::env::var("PROMETHEUS_URL").unwrap_or_else(|_| "http://127.0.0.1:19090".into())
}

/// A /metrics endpoint Prometheus scrapes every second, serving whatever `body` holds, listed
/// for Prometheus in its own file_sd file with a `tenant` label no other test uses.
struct Target {
    tenant: String,
    body: Arc<Mutex<String>>,
    file: std::path::PathBuf,
}

impl Target {
    fn start(body: &str) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let body = Arc::new(Mutex::new(body.to_string()));
        let served = Arc::clone(&body);
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { continue };
                let mut request = [0u8; 4096];
                let _ = stream.read(&mut request);
                let text = served.lock().unwrap().clone();
                let _ = write!(
                    stream,
                    "HTTP/1.1 200 OK\r\nContent-Type: text/plain; version=0.0.4\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{text}",
                    text.len()
                );
            }
        });
        let tenant = support::unique("t").replace('-', "_");
        let dir = std::env::var("PROMETHEUS_TARGETS_DIR")
            .unwrap_or_else(|_| "/var/tmp/stepscale-cache/prometheus/targets".into());
        let file = std::path::Path::new(&dir).join(format!("{tenant}.json"));
        let doc =
            format!(r#"[{{"targets": ["127.0.0.1:{port}"], "labels": {{"tenant": "{tenant}"}}}}]"#);
        // Written whole, then renamed: Prometheus never reads half a file.
        let part = file.with_extension("part");
        std::fs::write(&part, doc)
            .expect("the Prometheus targets folder (tests/services/prometheus.sh)");
        std::fs::rename(&part, &file).unwrap();
        Self { tenant, body, file }
    }

    fn serve(&self, body: &str) {
        *self.body.lock().unwrap() = body.to_string();
    }
}

impl Drop for Target {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.file);
    }
}

fn query(q: &str) -> PrometheusQuery {
    PrometheusQuery {
        url: Some(prometheus_url()),
        query: Some(q.to_string()),
        ..PrometheusQuery::default()
    }
}

/// Reads until `want` comes back (Prometheus scrapes every second; a busy machine may take
/// longer), at most a minute; the last result otherwise.
async fn read_until(
    probe: &PrometheusProbe,
    want: &QueueSample,
) -> Result<QueueSample, ProbeError> {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let got = probe.read().await;
        if got.as_ref().is_ok_and(|s| s == want) || Instant::now() > deadline {
            return got;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

fn backlog(visible: u64) -> QueueSample {
    QueueSample {
        visible,
        ..QueueSample::default()
    }
}

#[tokio::test]
async fn a_query_reads_the_scraped_value_and_follows_it() {
    let target = Target::start(
        "stepscale_test_pending{queue=\"orders\"} 42\nstepscale_test_pending{queue=\"billing\"} 7\n",
    );
    let t = &target.tenant;
    let orders = PrometheusProbe::new(&query(&format!(
        "stepscale_test_pending{{tenant=\"{t}\",queue=\"orders\"}}"
    )))
    .unwrap();
    assert_eq!(
        read_until(&orders, &backlog(42)).await.unwrap(),
        backlog(42)
    );

    target.serve(
        "stepscale_test_pending{queue=\"orders\"} 57.4\nstepscale_test_pending{queue=\"billing\"} 7\n",
    );
    assert_eq!(
        read_until(&orders, &backlog(57)).await.unwrap(),
        backlog(57)
    );

    // Through the enum the runner uses.
    let config = QueueConfig::Prometheus(query(&format!(
        "sum(stepscale_test_pending{{tenant=\"{t}\"}})"
    )));
    let reading = AnyProbe::from_config(&config, &ProbeContext::default())
        .unwrap()
        .reading()
        .await
        .unwrap();
    assert_eq!(reading.visible, 64);

    // Several series are refused, never summed or picked silently.
    let err = PrometheusProbe::new(&query(&format!("stepscale_test_pending{{tenant=\"{t}\"}}")))
        .unwrap()
        .read()
        .await
        .unwrap_err();
    assert!(
        err.to_string().contains("2 series") && err.to_string().contains("sum"),
        "{err}"
    );

    // A rate: the query's value in messages per second.
    let rate = PrometheusQuery {
        value: MetricMeaning::Rate,
        ..query(&format!(
            "sum(stepscale_test_pending{{tenant=\"{t}\"}}) / 32"
        ))
    };
    let sample = PrometheusProbe::new(&rate).unwrap().read().await.unwrap();
    assert_eq!(sample.visible, 0);
    let per_s = sample.arrival_rate_per_s.unwrap();
    assert!((per_s - 64.4 / 32.0).abs() < 1e-9, "{sample:?}");
    // A scalar answer is read too.
    let scalar = PrometheusProbe::new(&query("scalar(vector(12))"))
        .unwrap()
        .read()
        .await
        .unwrap();
    assert_eq!(scalar, backlog(12));

    // A negative value is no count.
    let err = PrometheusProbe::new(&query(&format!(
        "-1 * sum(stepscale_test_pending{{tenant=\"{t}\"}})"
    )))
    .unwrap()
    .read()
    .await
    .unwrap_err();
    assert!(err.to_string().contains("-64"), "{err}");
}

#[tokio::test]
async fn an_empty_answer_a_bad_query_and_an_unreachable_server_fail_and_the_engine_holds() {
    let missing = QueueConfig::Prometheus(query(
        "stepscale_test_pending{tenant=\"nobody-serves-this\"}",
    ));
    let probe = AnyProbe::from_config(&missing, &ProbeContext::default()).unwrap();
    let reading = probe.reading().await;
    assert!(
        reading
            .as_ref()
            .is_err_and(|e| e.message.contains("no series")),
        "{reading:?}"
    );
    support::assert_engine_holds_on(reading);

    let err = PrometheusProbe::new(&query("sum(("))
        .unwrap()
        .read()
        .await
        .unwrap_err();
    assert!(err.to_string().contains("bad_data"), "{err}");

    let down = PrometheusQuery {
        url: Some("http://127.0.0.1:1".into()),
        ..query("up")
    };
    let err = PrometheusProbe::new(&down)
        .unwrap()
        .read()
        .await
        .unwrap_err();
    assert!(matches!(err, ProbeError::Connect { .. }), "{err:?}");
    let reading = AnyProbe::from_config(&QueueConfig::Prometheus(down), &ProbeContext::default())
        .unwrap()
        .reading()
        .await;
    support::assert_engine_holds_on(reading);
}

#[test]
fn bad_settings_are_refused_before_any_call() {
    for config in [
        PrometheusQuery::default(),
        PrometheusQuery {
            url: Some("prometheus:9090".into()),
            ..query("up")
        },
        PrometheusQuery {
            url: Some("http://admin:hunter2@prometheus:9090".into()),
            ..query("up")
        },
        query(" "),
        PrometheusQuery {
            timeout_secs: 0,
            ..query("up")
        },
        PrometheusQuery {
            password: Some(Secret::new("hunter2")),
            ..query("up")
        },
    ] {
        let err = PrometheusProbe::new(&config).unwrap_err();
        assert!(matches!(err, ProbeError::Config(_)), "{err:?}");
        assert!(!err.to_string().contains("hunter2"), "{err}");
    }
}

#[test]
fn policy_file_keys_parse_and_typos_are_refused() {
    let parsed: QueueConfig = toml::from_str(
        r#"
        type = "prometheus"
        url = "http://prometheus:9090"
        query = "sum(rate(jobs_enqueued_total[2m]))"
        value = "rate"
        "#,
    )
    .unwrap();
    let QueueConfig::Prometheus(p) = parsed else {
        panic!("{parsed:?}")
    };
    assert_eq!(p.value, MetricMeaning::Rate);
    assert_eq!(p.timeout_secs, 5);
    let typo = toml::from_str::<QueueConfig>("type = \"prometheus\"\npromql = \"up\"\n");
    assert!(typo.is_err(), "{typo:?}");
}
