//! The `stepscale-lambda` binary through the Lambda Runtime API, against moto: a test-side
//! server speaks the documented protocol (`GET .../invocation/next`, then `POST
//! .../{id}/response` or `.../{id}/error`), as Lambda's own runtime endpoint does. A v0.2-style
//! event scales out; a bad configuration is a non-retryable result; an unreachable AWS endpoint
//! is an invocation error and the desired count is unchanged.

use std::collections::VecDeque;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

const MOTO: &str = "http://127.0.0.1:5000";

/// What the function sent back for one invocation.
#[derive(Debug, Clone)]
enum Outcome {
    /// `POST /runtime/invocation/{id}/response`.
    Response(Value),
    /// `POST /runtime/invocation/{id}/error`, with `Lambda-Runtime-Function-Error-Type`.
    Error { error_type: String, body: Value },
    /// `POST /runtime/init/error`.
    InitError(Value),
}

#[derive(Default)]
struct Queue {
    events: VecDeque<(String, Value)>,
    outcomes: Vec<(String, Outcome)>,
}

/// A Runtime API endpoint: hands out `events` in order, then holds `next` open (as Lambda does
/// between invocations), and keeps what comes back.
struct RuntimeApi {
    addr: String,
    state: Arc<(Mutex<Queue>, Condvar)>,
}

impl RuntimeApi {
    fn start(events: Vec<Value>) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        let queue = Queue {
            events: events
                .into_iter()
                .enumerate()
                .map(|(i, e)| (format!("req-{i}"), e))
                .collect(),
            outcomes: Vec::new(),
        };
        let state = Arc::new((Mutex::new(queue), Condvar::new()));
        let shared = Arc::clone(&state);
        std::thread::spawn(move || {
            for conn in listener.incoming().flatten() {
                let shared = Arc::clone(&shared);
                std::thread::spawn(move || serve(conn, &shared));
            }
        });
        Self { addr, state }
    }

    /// Waits until `n` outcomes have come back.
    fn outcomes(&self, n: usize, limit: Duration) -> Vec<(String, Outcome)> {
        let (lock, cv) = &*self.state;
        let deadline = Instant::now() + limit;
        let mut q = lock.lock().unwrap();
        while q.outcomes.len() < n {
            let left = deadline.saturating_duration_since(Instant::now());
            assert!(!left.is_zero(), "only {:?} after {limit:?}", q.outcomes);
            q = cv.wait_timeout(q, left).unwrap().0;
        }
        q.outcomes.clone()
    }
}

/// One keep-alive connection: HTTP/1.1 requests with Content-Length or chunked bodies.
fn serve(conn: TcpStream, state: &(Mutex<Queue>, Condvar)) {
    let mut reader = BufReader::new(conn.try_clone().unwrap());
    let mut writer = conn;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 {
            return;
        }
        let mut parts = line.split_whitespace();
        let (method, path) = (
            parts.next().unwrap_or("").to_string(),
            parts.next().unwrap_or("").to_string(),
        );
        let mut headers = Vec::new();
        loop {
            let mut h = String::new();
            reader.read_line(&mut h).unwrap();
            let h = h.trim_end().to_string();
            if h.is_empty() {
                break;
            }
            if let Some((k, v)) = h.split_once(':') {
                headers.push((k.trim().to_ascii_lowercase(), v.trim().to_string()));
            }
        }
        let header = |name: &str| {
            headers
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.clone())
        };
        let mut body = Vec::new();
        if let Some(n) = header("content-length").and_then(|n| n.parse::<usize>().ok()) {
            body.resize(n, 0);
            reader.read_exact(&mut body).unwrap();
        } else if header("transfer-encoding").is_some_and(|t| t.contains("chunked")) {
            loop {
                let mut size = String::new();
                reader.read_line(&mut size).unwrap();
                let n = usize::from_str_radix(size.trim(), 16).unwrap();
                let mut chunk = vec![0; n + 2];
                reader.read_exact(&mut chunk).unwrap();
                if n == 0 {
                    break;
                }
                body.extend_from_slice(&chunk[..n]);
            }
        }
        let (lock, cv) = state;
        if method == "GET" && path.ends_with("/runtime/invocation/next") {
            let next = loop {
                let mut q = lock.lock().unwrap();
                if let Some(e) = q.events.pop_front() {
                    break e;
                }
                // No more events: hold the request, as Lambda does while idle.
                drop(q);
                std::thread::sleep(Duration::from_millis(100));
            };
            let text = next.1.to_string();
            let deadline = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_millis()
                + 60_000;
            write!(
                writer,
                "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nLambda-Runtime-Aws-Request-Id: {}\r\nLambda-Runtime-Deadline-Ms: {deadline}\r\nLambda-Runtime-Invoked-Function-Arn: arn:aws:lambda:us-east-1:123456789012:function:stepscale\r\nLambda-Runtime-Trace-Id: Root=1-00000000-000000000000000000000000\r\nContent-Length: {}\r\n\r\n{text}",
                next.0,
                text.len()
            )
            .unwrap();
        } else {
            let value: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
            let id = path
                .split("/invocation/")
                .nth(1)
                .and_then(|r| r.split('/').next())
                .unwrap_or("")
                .to_string();
            let outcome = if path.ends_with("/response") {
                Outcome::Response(value)
            } else if path.ends_with("/init/error") {
                Outcome::InitError(value)
            } else {
                Outcome::Error {
                    error_type: header("lambda-runtime-function-error-type").unwrap_or_default(),
                    body: value,
                }
            };
            lock.lock().unwrap().outcomes.push((id, outcome));
            cv.notify_all();
            writer
                .write_all(
                    b"HTTP/1.1 202 Accepted\r\nContent-Length: 16\r\n\r\n{\"status\":\"OK\"}\n",
                )
                .unwrap();
        }
        writer.flush().unwrap();
    }
}

/// The real binary, pointed at `api`, with `env` on top of a clean environment.
fn lambda(api: &RuntimeApi, env: &[(&str, &str)]) -> Child {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_stepscale-lambda"));
    cmd.env_clear()
        .env("AWS_LAMBDA_RUNTIME_API", &api.addr)
        .env("AWS_LAMBDA_FUNCTION_NAME", "stepscale")
        .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128")
        .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        .env("AWS_LAMBDA_LOG_STREAM_NAME", "test")
        .env("AWS_LAMBDA_LOG_GROUP_NAME", "/aws/lambda/stepscale")
        .env("AWS_ACCESS_KEY_ID", "test")
        .env("AWS_SECRET_ACCESS_KEY", "test")
        .env("AWS_REGION", "us-east-1")
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.spawn().expect("the lambda binary runs")
}

fn unique(prefix: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!("{prefix}-{}-{nanos}", std::process::id())
}

/// The SDK pointed at moto (`AWS_ENDPOINT_URL`, default 127.0.0.1:5000), built the way the
/// binary builds its own (rustls on ring, the same timeouts).
async fn moto() -> aws_config::SdkConfig {
    static ENV: std::sync::Once = std::sync::Once::new();
    ENV.call_once(|| {
        for (k, v) in [
            ("AWS_ENDPOINT_URL", MOTO),
            ("AWS_ACCESS_KEY_ID", "test"),
            ("AWS_SECRET_ACCESS_KEY", "test"),
        ] {
            if std::env::var_os(k).is_none() {
                std::env::set_var(k, v);
            }
        }
    });
    stepscale_live::aws::load(Some("us-east-1")).await
}

/// A cluster with one service at `desired`, and an SQS queue holding `messages`.
async fn fixtures(
    sdk: &aws_config::SdkConfig,
    desired: i32,
    messages: usize,
) -> (String, String, String) {
    let ecs = aws_sdk_ecs::Client::new(sdk);
    let (cluster, service, family) = (unique("cluster"), unique("worker"), unique("task"));
    ecs.create_cluster()
        .cluster_name(&cluster)
        .send()
        .await
        .unwrap();
    ecs.register_task_definition()
        .family(&family)
        .container_definitions(
            aws_sdk_ecs::types::ContainerDefinition::builder()
                .name("worker")
                .image("worker:latest")
                .memory(512)
                .build(),
        )
        .send()
        .await
        .unwrap();
    ecs.create_service()
        .cluster(&cluster)
        .service_name(&service)
        .task_definition(&family)
        .desired_count(desired)
        .send()
        .await
        .unwrap();
    let sqs = aws_sdk_sqs::Client::new(sdk);
    let url = sqs
        .create_queue()
        .queue_name(unique("jobs"))
        .send()
        .await
        .unwrap()
        .queue_url()
        .unwrap()
        .to_string();
    for i in 0..messages.div_ceil(10) {
        let mut batch = sqs.send_message_batch().queue_url(&url);
        for j in 0..10.min(messages - i * 10) {
            batch = batch.entries(
                aws_sdk_sqs::types::SendMessageBatchRequestEntry::builder()
                    .id(format!("m{j}"))
                    .message_body("job")
                    .build()
                    .unwrap(),
            );
        }
        batch.send().await.unwrap();
    }
    (cluster, service, url)
}

async fn desired(sdk: &aws_config::SdkConfig, cluster: &str, service: &str) -> i32 {
    aws_sdk_ecs::Client::new(sdk)
        .describe_services()
        .cluster(cluster)
        .services(service)
        .send()
        .await
        .unwrap()
        .services()[0]
        .desired_count()
}

/// An EventBridge scheduled event, as the template's schedule sends it, carrying v0.2's
/// `config` overrides.
fn scheduled_event(config: &Value) -> Value {
    json!({
        "version": "0",
        "id": "53dc4d37-cffa-4f76-80c9-8b7d4a4d2eaa",
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": "123456789012",
        "time": "2026-12-04T12:00:00Z",
        "region": "us-east-1",
        "resources": ["arn:aws:events:us-east-1:123456789012:rule/stepscale"],
        "detail": {},
        "config": config
    })
}

#[tokio::test]
async fn a_v02_event_scales_out_and_a_bad_configuration_is_not_retried() {
    let sdk = moto().await;
    let (cluster, service, url) = fixtures(&sdk, 1, 300).await;
    let api = RuntimeApi::start(vec![
        scheduled_event(&json!({"max_tasks": 20})),
        scheduled_event(&json!({"min_tasks": 9, "max_tasks": 2})),
    ]);
    let endpoint = std::env::var("AWS_ENDPOINT_URL").unwrap_or_else(|_| MOTO.into());
    let mut child = lambda(
        &api,
        &[
            ("AWS_ENDPOINT_URL", endpoint.as_str()),
            ("QUEUE_TYPE", "sqs"),
            ("SQS_QUEUE_URL", url.as_str()),
            ("ECS_CLUSTER", cluster.as_str()),
            ("SERVICE_NAME", service.as_str()),
            ("MIN_TASKS", "1"),
            ("MAX_TASKS", "5"),
        ],
    );
    let outcomes = api.outcomes(2, Duration::from_secs(60));
    let _ = child.kill();
    let _ = child.wait();
    // 300 messages: 1 + floor(300 × 0.01) = 4 tasks (the event raised max_tasks to 20).
    match &outcomes[0] {
        (id, Outcome::Response(r)) => {
            assert_eq!(id, "req-0");
            assert_eq!(r["ok"], true, "{r}");
            assert_eq!(r["action"], "scale_out", "{r}");
            assert_eq!(r["desired"], 4, "{r}");
        }
        (_, Outcome::InitError(e)) => panic!("the function failed to start: {e}"),
        other => panic!("{other:?}"),
    }
    assert_eq!(desired(&sdk, &cluster, &service).await, 4);
    match &outcomes[1] {
        (id, Outcome::Response(r)) => {
            assert_eq!(id, "req-1");
            assert_eq!(r["ok"], false, "{r}");
            assert_eq!(r["retryable"], false, "{r}");
            assert!(r["error"].as_str().unwrap().contains("min_tasks"), "{r}");
        }
        other => panic!("a bad configuration must be a result, not an error: {other:?}"),
    }
    assert_eq!(desired(&sdk, &cluster, &service).await, 4, "nothing scaled");
}

#[tokio::test]
async fn an_unreachable_aws_endpoint_is_an_invocation_error_and_nothing_scales() {
    let sdk = moto().await;
    let (cluster, service, url) = fixtures(&sdk, 2, 500).await;
    // A port nothing listens on.
    let dead = {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        format!("http://{}", l.local_addr().unwrap())
    };
    let api = RuntimeApi::start(vec![scheduled_event(&json!({}))]);
    let mut child = lambda(
        &api,
        &[
            ("AWS_ENDPOINT_URL", dead.as_str()),
            ("QUEUE_TYPE", "sqs"),
            ("SQS_QUEUE_URL", url.as_str()),
            ("ECS_CLUSTER", cluster.as_str()),
            ("SERVICE_NAME", service.as_str()),
        ],
    );
    let outcomes = api.outcomes(1, Duration::from_secs(90));
    let _ = child.kill();
    let _ = child.wait();
    match &outcomes[0] {
        (id, Outcome::Error { error_type, body }) => {
            assert_eq!(id, "req-0");
            assert!(!error_type.is_empty(), "{body}");
            let message = body["errorMessage"].as_str().unwrap_or_default();
            assert!(message.contains("AWS_ENDPOINT_URL"), "{body}");
        }
        (_, Outcome::InitError(e)) => panic!("the function failed to start: {e}"),
        other => panic!("an unreachable endpoint must be an invocation error: {other:?}"),
    }
    assert_eq!(desired(&sdk, &cluster, &service).await, 2, "nothing scaled");
}
