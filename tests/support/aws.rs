//! moto for the AWS tests: the SDK pointed at it, at another endpoint, or through a relay
//! that refuses CloudWatch as a role without `cloudwatch:GetMetricData` would be refused.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::Once;

use aws_config::SdkConfig;

static ENV: Once = Once::new();

/// The SDK pointed at moto (`AWS_ENDPOINT_URL`, default 127.0.0.1:5000) with test credentials.
pub async fn sdk() -> SdkConfig {
    ENV.call_once(|| {
        for (k, v) in [
            ("AWS_ENDPOINT_URL", "http://127.0.0.1:5000"),
            ("AWS_ACCESS_KEY_ID", "test"),
            ("AWS_SECRET_ACCESS_KEY", "test"),
            ("AWS_REGION", "us-east-1"),
        ] {
            if std::env::var_os(k).is_none() {
                std::env::set_var(k, v);
            }
        }
    });
    stepscale_live::aws::load(None).await
}

/// The test SDK configuration sent to `endpoint` instead: same HTTP client (rustls on ring),
/// timeouts and retries. Set through the loader, since an endpoint set on a built
/// `SdkConfig` loses to `AWS_ENDPOINT_URL` in each client.
pub async fn sdk_at(
    endpoint: &str,
    credentials: Option<aws_sdk_ecs::config::Credentials>,
) -> SdkConfig {
    let base = sdk().await;
    let mut loader = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .endpoint_url(endpoint)
        .http_client(
            base.http_client()
                .expect("the SDK configuration has an HTTP client"),
        );
    if let Some(timeouts) = base.timeout_config() {
        loader = loader.timeout_config(timeouts.clone());
    }
    if let Some(retries) = base.retry_config() {
        loader = loader.retry_config(retries.clone());
    }
    if let Some(credentials) = credentials {
        loader = loader.credentials_provider(credentials);
    }
    loader.load().await
}

/// An HTTP relay to moto that answers every CloudWatch call (signed for service
/// `monitoring`, whatever the protocol) with 403, as a role without
/// `cloudwatch:GetMetricData` would get; everything else goes through. Its base URL.
pub fn cloudwatch_denying_proxy() -> String {
    let upstream = std::env::var("AWS_ENDPOINT_URL").unwrap();
    let upstream = upstream
        .trim_start_matches("http://")
        .trim_end_matches('/')
        .to_string();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        for client in listener.incoming().flatten() {
            let upstream = upstream.clone();
            std::thread::spawn(move || relay(client, &upstream));
        }
    });
    url
}

/// One request: read it whole, then refuse it or forward it with `Connection: close` and
/// copy the reply back.
pub fn relay(mut client: TcpStream, upstream: &str) -> std::io::Result<()> {
    let mut request = Vec::new();
    let mut chunk = [0_u8; 8192];
    let head_end = loop {
        let n = client.read(&mut chunk)?;
        if n == 0 {
            return Ok(());
        }
        request.extend_from_slice(&chunk[..n]);
        if let Some(i) = request.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
    };
    let head = String::from_utf8_lossy(&request[..head_end]).to_string();
    let length: usize = head
        .lines()
        .find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case("content-length")
                .then(|| v.trim().parse().ok())?
        })
        .unwrap_or(0);
    while request.len() < head_end + length {
        let n = client.read(&mut chunk)?;
        if n == 0 {
            break;
        }
        request.extend_from_slice(&chunk[..n]);
    }
    if head.contains("/monitoring/aws4_request") {
        return client.write_all(
            b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
        );
    }
    let mut headers = String::new();
    for line in head.split("\r\n") {
        if !line.is_empty() && !line.to_ascii_lowercase().starts_with("connection:") {
            headers.push_str(line);
            headers.push_str("\r\n");
        }
    }
    let mut server = TcpStream::connect(upstream)?;
    server.write_all(headers.as_bytes())?;
    server.write_all(b"Connection: close\r\n\r\n")?;
    server.write_all(&request[head_end..])?;
    let mut reply = Vec::new();
    server.read_to_end(&mut reply)?;
    client.write_all(&reply)
}

/// A cluster with one ACTIVE service at `desired` tasks.
pub async fn ecs_service(sdk: &SdkConfig, desired: i32) -> (String, String) {
    let ecs = aws_sdk_ecs::Client::new(sdk);
    let cluster = super::unique("cluster");
    let service = super::unique("worker");
    ecs.create_cluster()
        .cluster_name(&cluster)
        .send()
        .await
        .expect("moto answers CreateCluster");
    let family = super::unique("task");
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
    (cluster, service)
}

/// One CloudWatch datapoint, `secs_ago` seconds ago, with the given dimensions: moto has no
/// built-in service metrics, so tests put the ones a probe reads.
pub async fn put_metric(
    sdk: &SdkConfig,
    namespace: &str,
    metric: &str,
    dimensions: &[(&str, &str)],
    value: f64,
    secs_ago: u64,
) {
    use aws_sdk_cloudwatch::primitives::DateTime;
    use aws_sdk_cloudwatch::types::{Dimension, MetricDatum};
    let mut datum = MetricDatum::builder()
        .metric_name(metric)
        .value(value)
        .timestamp(DateTime::from(
            std::time::SystemTime::now() - std::time::Duration::from_secs(secs_ago),
        ));
    for (name, value) in dimensions {
        datum = datum.dimensions(Dimension::builder().name(*name).value(*value).build());
    }
    aws_sdk_cloudwatch::Client::new(sdk)
        .put_metric_data()
        .namespace(namespace)
        .metric_data(datum.build())
        .send()
        .await
        .expect("moto takes PutMetricData");
}
