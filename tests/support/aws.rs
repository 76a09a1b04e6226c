//! moto for the AWS tests: the SDK pointed at it, at another endpoint, or through a relay
//! that refuses CloudWatch as a role without `cloudwatch:GetMetricData` would be refused;
//! ECS services, state buckets and Amazon MQ brokers to act on.

use std::sync::Once;

use aws_config::SdkConfig;

use super::relay::Verdict;

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
    super::relay::start(|request| {
        if request.head.contains("/monitoring/aws4_request") {
            Verdict::Respond {
                status: 403,
                body: "",
            }
        } else {
            Verdict::Forward
        }
    })
}

/// `cmd` pointed at moto, with test credentials and a region, as a user's shell would be.
pub fn at_moto(cmd: &mut std::process::Command) -> &mut std::process::Command {
    cmd.env("AWS_ENDPOINT_URL", super::relay::moto_endpoint())
        .env("AWS_ACCESS_KEY_ID", "test")
        .env("AWS_SECRET_ACCESS_KEY", "test")
        .env("AWS_REGION", "us-east-1")
}

/// A new S3 bucket in moto, for state documents.
pub async fn bucket(sdk: &SdkConfig) -> String {
    let name = super::unique("stepscale-state");
    aws_sdk_s3::Client::from_conf(
        aws_sdk_s3::config::Builder::from(sdk)
            .force_path_style(true)
            .build(),
    )
    .create_bucket()
    .bucket(&name)
    .send()
    .await
    .expect("moto answers CreateBucket");
    name
}

/// A cluster with one ACTIVE service at `desired` tasks.
pub async fn ecs_service(sdk: &SdkConfig, desired: i32) -> (String, String) {
    let service = super::unique("worker");
    let cluster = ecs_services(sdk, std::slice::from_ref(&service), desired).await;
    (cluster, service)
}

/// A new cluster with one ACTIVE service per name, each at `desired` tasks; the cluster's name.
pub async fn ecs_services(sdk: &SdkConfig, names: &[String], desired: i32) -> String {
    let ecs = aws_sdk_ecs::Client::new(sdk);
    let cluster = super::unique("cluster");
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
        .expect("moto answers RegisterTaskDefinition");
    for name in names {
        ecs.create_service()
            .cluster(&cluster)
            .service_name(name)
            .task_definition(&family)
            .desired_count(desired)
            .send()
            .await
            .expect("moto answers CreateService");
    }
    cluster
}

/// The service's desired count, as ECS (moto) has it now.
pub async fn desired_count(sdk: &SdkConfig, cluster: &str, service: &str) -> i32 {
    let out = aws_sdk_ecs::Client::new(sdk)
        .describe_services()
        .cluster(cluster)
        .services(service)
        .send()
        .await
        .expect("moto answers DescribeServices");
    out.services()[0].desired_count()
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

/// One JSON 1.1 call to moto (`X-Amz-Target: target`), for the services the tests have no
/// SDK crate for (Secrets Manager, SSM): the parsed answer, or a panic naming the status.
pub fn moto_json(service: &str, target: &str, body: &serde_json::Value) -> serde_json::Value {
    use std::io::{Read, Write};
    let endpoint = super::relay::moto_endpoint();
    let host = endpoint
        .trim_start_matches("http://")
        .trim_end_matches('/')
        .to_string();
    let body = body.to_string();
    let request = format!(
        "POST / HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/x-amz-json-1.1\r\n\
X-Amz-Target: {target}\r\nAuthorization: AWS4-HMAC-SHA256 \
Credential=test/20261207/us-east-1/{service}/aws4_request, SignedHeaders=host, Signature=0\r\n\
Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let mut stream = std::net::TcpStream::connect(&host).expect("moto listens");
    stream.write_all(request.as_bytes()).unwrap();
    let mut reply = String::new();
    stream.read_to_string(&mut reply).unwrap();
    let (head, text) = reply.split_once("\r\n\r\n").unwrap_or((&reply, ""));
    assert!(
        head.starts_with("HTTP/1.1 200") || head.starts_with("HTTP/1.0 200"),
        "{target}: {head}\n{text}"
    );
    serde_json::from_str(text).unwrap_or_else(|e| panic!("{target}: {e}: {text}"))
}

/// A SecureString SSM parameter in moto holding `value`; its ARN.
pub fn ssm_secure_string(value: &str) -> String {
    let name = format!("/stepscale/{}", super::unique("param"));
    moto_json(
        "ssm",
        "AmazonSSM.PutParameter",
        &serde_json::json!({"Name": name, "Value": value, "Type": "SecureString"}),
    );
    format!("arn:aws:ssm:us-east-1:123456789012:parameter{name}")
}

/// An Amazon MQ broker of `engine` in moto (single instance): its id and name.
pub async fn mq_broker(sdk: &SdkConfig, engine: aws_sdk_mq::types::EngineType) -> (String, String) {
    use aws_sdk_mq::types::{DeploymentMode, User};
    let name = super::unique("stepscale-broker");
    let created = aws_sdk_mq::Client::new(sdk)
        .create_broker()
        .broker_name(&name)
        .engine_type(engine)
        .engine_version("5.17.6")
        .host_instance_type("mq.t3.micro")
        .deployment_mode(DeploymentMode::SingleInstance)
        .publicly_accessible(false)
        .auto_minor_version_upgrade(true)
        .users(
            User::builder()
                .username("admin")
                .password("admin-password-123")
                .build(),
        )
        .send()
        .await
        .expect("moto must run at AWS_ENDPOINT_URL (tests/services/moto.sh)");
    (created.broker_id().unwrap_or_default().to_string(), name)
}
