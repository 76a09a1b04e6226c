//! The AWS actions StepScale calls, in one list, and the least-privilege IAM policy for one
//! configuration: ECS on the one service, S3 on the state prefix, each probe on its own
//! resource. `stepscale iam` prints it; the table in live/README.md is checked against [`ACTIONS`].

use serde_json::{json, Value};
use stepscale_engine::config::secret_ref::{SecretRef, SecretStore};
use stepscale_engine::config::QueueConfig;
use stepscale_engine::Config;

/// Every AWS action StepScale calls, with the part that calls it.
pub const ACTIONS: &[(&str, &str)] = &[
    ("ecs", "ecs:DescribeServices"),
    ("ecs", "ecs:UpdateService"),
    ("s3-state", "s3:GetObject"),
    ("s3-state", "s3:PutObject"),
    ("s3-state", "s3:ListBucket"),
    ("sqs", "sqs:GetQueueAttributes"),
    ("sqs", "sqs:GetQueueUrl"),
    ("sns", "sns:GetTopicAttributes"),
    ("kinesis", "kinesis:ListShards"),
    ("kinesis", "kinesis:GetShardIterator"),
    ("kinesis", "kinesis:GetRecords"),
    ("kafka", "kafka:GetBootstrapBrokers"),
    ("amazon-mq", "mq:DescribeBroker"),
    ("cloudwatch", "cloudwatch:GetMetricData"),
    ("password-secret", "secretsmanager:GetSecretValue"),
    ("password-secret", "ssm:GetParameter"),
    ("calibrate", "ecs:ListTasks"),
    ("calibrate", "ecs:DescribeTasks"),
    ("calibrate", "kafka:DescribeCluster"),
];

/// Why a policy cannot be written for a configuration.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum IamError {
    /// A key the policy's resources are built from is missing.
    #[error("{0} is not set: the IAM policy names the resource it grants")]
    Missing(&'static str),
    /// A value the policy's resources are built from is not usable.
    #[error("{0}")]
    Invalid(String),
}

fn actions(part: &str) -> Vec<&'static str> {
    ACTIONS
        .iter()
        .filter(|(p, _)| *p == part)
        .map(|(_, a)| *a)
        .collect()
}

fn statement(sid: &str, actions: &[&str], resources: &[String]) -> Value {
    json!({ "Sid": sid, "Effect": "Allow", "Action": actions, "Resource": resources })
}

/// The queue name in an SQS queue URL (its last path segment, without query or fragment);
/// the SQS probe uses it for CloudWatch's `QueueName` too.
pub(crate) fn sqs_name(url: &str) -> Option<&str> {
    let rest = url.split_once("://").map_or(url, |(_, rest)| rest);
    let (_host, path) = rest.split(['?', '#']).next()?.split_once('/')?;
    let name = path.trim_end_matches('/').rsplit('/').next()?;
    (!name.is_empty()).then_some(name)
}

/// The least-privilege policy document for `config`, in `region` and `account` (`*` when the
/// account is not known: the resources still name the service, queue, stream or bucket).
pub fn policy_for(config: &Config, region: &str, account: &str) -> Result<Value, IamError> {
    policy_with(config, region, account, false)
}

/// [`policy_for`], and with `calibrate` the reads of `stepscale calibrate` on top: the
/// service's tasks (`ecs:ListTasks` on its cluster, `ecs:DescribeTasks` on its tasks), the
/// queue's CloudWatch history (`cloudwatch:GetMetricData`; MSK's also `kafka:DescribeCluster`
/// on its cluster), and the Lambda's record objects
/// (`s3:GetObject`, `s3:ListBucket` on `record_s3_prefix`), which the runner's grants hold
/// already.
pub fn policy_with(
    config: &Config,
    region: &str,
    account: &str,
    calibrate: bool,
) -> Result<Value, IamError> {
    let id = config
        .service
        .identity(Some(region))
        .map_err(IamError::Missing)?;
    let aws = id.partition();
    let mut statements = vec![statement(
        "EcsOneService",
        &actions("ecs"),
        &[id.arn(account)],
    )];
    if let Some(bucket) = &config.state.s3_bucket {
        let prefix = &config.state.key_prefix;
        statements.push(statement(
            "StateObjects",
            &["s3:GetObject", "s3:PutObject"],
            &[format!("arn:{aws}:s3:::{bucket}/{prefix}/*")],
        ));
        // Without ListBucket a missing state object reads as AccessDenied, not NotFound.
        let mut list = statement(
            "StateListing",
            &["s3:ListBucket"],
            &[format!("arn:{aws}:s3:::{bucket}")],
        );
        let mut listed = vec![format!("{prefix}/*")];
        if let Some(record) = &config.state.record_s3_prefix {
            // The Lambda's trace objects (`record_s3_prefix`): read, then appended to.
            statements.push(statement(
                "RecordObjects",
                &["s3:GetObject", "s3:PutObject"],
                &[format!("arn:{aws}:s3:::{bucket}/{record}/*")],
            ));
            listed.push(format!("{record}/*"));
        }
        list["Condition"] = json!({ "StringLike": { "s3:prefix": listed } });
        statements.push(list);
    }
    let mut metrics = false;
    for (i, q) in config.queues.iter().enumerate() {
        let sid = |name: &str| format!("Queue{i}{name}");
        match q {
            QueueConfig::Sqs(s) => {
                let name = s
                    .queue_url
                    .as_deref()
                    .and_then(sqs_name)
                    .or(s.queue_name.as_deref())
                    .ok_or(IamError::Missing("queue_url or queue_name (SQS_QUEUE_URL)"))?;
                let mut acts = vec!["sqs:GetQueueAttributes"];
                if s.queue_url.is_none() {
                    acts.push("sqs:GetQueueUrl");
                }
                statements.push(statement(
                    &sid("Sqs"),
                    &acts,
                    &[format!("arn:{aws}:sqs:{region}:{account}:{name}")],
                ));
                metrics |= s.cloudwatch_metrics;
            }
            QueueConfig::Sns(t) => {
                let arn = t
                    .topic_arn
                    .clone()
                    .ok_or(IamError::Missing("topic_arn (SNS_TOPIC_ARN)"))?;
                statements.push(statement(&sid("Sns"), &actions("sns"), &[arn]));
                metrics = true;
            }
            QueueConfig::Kinesis(k) => {
                let stream = k
                    .stream_name
                    .as_deref()
                    .ok_or(IamError::Missing("stream_name (KINESIS_STREAM_NAME)"))?;
                statements.push(statement(
                    &sid("Kinesis"),
                    &actions("kinesis"),
                    &[format!(
                        "arn:{aws}:kinesis:{region}:{account}:stream/{stream}"
                    )],
                ));
                metrics = true;
            }
            QueueConfig::Kafka(k) => {
                if let Some(arn) = &k.cluster_arn {
                    statements.push(statement(
                        &sid("Msk"),
                        &actions("kafka"),
                        std::slice::from_ref(arn),
                    ));
                }
            }
            QueueConfig::AmazonMq(m) => {
                let broker = m
                    .broker_id
                    .as_deref()
                    .ok_or(IamError::Missing("broker_id (AMQ_BROKER_ID)"))?;
                statements.push(statement(
                    &sid("AmazonMq"),
                    &actions("amazon-mq"),
                    &[format!("arn:{aws}:mq:{region}:{account}:broker:*:{broker}")],
                ));
                metrics |= m.cloudwatch_fallback;
            }
            // A CloudWatch metric source reads GetMetricData alone.
            QueueConfig::Cloudwatch(_) => metrics = true,
            // RabbitMQ, Redis and Prometheus are read over their own protocols: no AWS action.
            _ => {}
        }
        // A password by reference: read once at start, this secret or parameter only.
        for (field, arn) in q.secret_refs() {
            let key = format!("queues[{i}].{field}");
            let reference =
                SecretRef::parse(&key, arn).map_err(|e| IamError::Invalid(e.to_string()))?;
            let name = match reference.store {
                SecretStore::SecretsManager => "PasswordSecret",
                SecretStore::ParameterStore => "PasswordParameter",
            };
            statements.push(statement(
                &sid(name),
                &[reference.action()],
                std::slice::from_ref(&reference.arn),
            ));
        }
    }
    if calibrate {
        let cluster = &id.cluster;
        let mut list = statement("CalibrateListTasks", &["ecs:ListTasks"], &["*".to_string()]);
        // ListTasks is scoped by its cluster, a condition key, not by a resource.
        list["Condition"] = json!({ "ArnEquals": {
            "ecs:cluster": format!("arn:{aws}:ecs:{region}:{account}:cluster/{cluster}")
        } });
        statements.push(list);
        statements.push(statement(
            "CalibrateDescribeTasks",
            &["ecs:DescribeTasks"],
            &[format!("arn:{aws}:ecs:{region}:{account}:task/{cluster}/*")],
        ));
        // `--since` reads the queue's history (SQS, Amazon MQ, Kinesis, MSK); Amazon MQ's
        // DescribeBroker is the runner's own already, MSK's DescribeCluster is not.
        metrics |= config
            .queues
            .iter()
            .any(QueueConfig::has_cloudwatch_history);
        for q in &config.queues {
            if let QueueConfig::Kafka(k) = q {
                if let Some(arn) = &k.cluster_arn {
                    statements.push(statement(
                        "CalibrateMskCluster",
                        &["kafka:DescribeCluster"],
                        std::slice::from_ref(arn),
                    ));
                }
            }
        }
    }
    if metrics {
        // GetMetricData has no resource-level permissions: AWS documents `*` here.
        statements.push(statement(
            "QueueMetrics",
            &actions("cloudwatch"),
            &["*".to_string()],
        ));
    }
    Ok(json!({ "Version": "2012-10-17", "Statement": statements }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(text: &str) -> Config {
        serde_json::from_str(text).unwrap()
    }

    #[test]
    fn calibrate_adds_the_service_s_tasks_and_the_queue_s_history_and_nothing_else() {
        let c = config(
            r#"{"service": {"cluster": "prod", "name": "worker"},
                "queues": [{"type": "sqs", "queue_url": "https://sqs.eu-west-1.amazonaws.com/123456789012/jobs"}]}"#,
        );
        let plain = policy_for(&c, "eu-west-1", "123456789012").unwrap();
        let with = policy_with(&c, "eu-west-1", "123456789012", true).unwrap();
        let (plain, with) = (plain.to_string(), with.to_string());
        for a in [
            "ecs:ListTasks",
            "ecs:DescribeTasks",
            "cloudwatch:GetMetricData",
        ] {
            assert!(!plain.contains(a) && with.contains(a), "{a}: {with}");
        }
        assert!(with.contains("arn:aws:ecs:eu-west-1:123456789012:task/prod/*"));
        assert!(with.contains(r#""ecs:cluster":"arn:aws:ecs:eu-west-1:123456789012:cluster/prod""#));
        // Amazon MQ's and Kinesis's history is CloudWatch's too.
        for queue in [
            r#"{"type": "amazon_mq", "broker_id": "b-1", "queue_name": "jobs", "username": "u"}"#,
            r#"{"type": "kinesis", "stream_name": "clicks"}"#,
            r#"{"type": "kafka", "cluster_arn": "arn:aws:kafka:eu-west-1:123456789012:cluster/c/1", "topic": "t", "consumer_group": "g"}"#,
        ] {
            let c = config(&format!(
                r#"{{"service": {{"cluster": "prod", "name": "worker"}}, "queues": [{queue}]}}"#
            ));
            let with = policy_with(&c, "eu-west-1", "123456789012", true)
                .unwrap()
                .to_string();
            assert!(with.contains("cloudwatch:GetMetricData"), "{with}");
        }
    }

    #[test]
    fn one_service_one_prefix_one_queue_and_no_wildcard_action() {
        let c = config(
            r#"{"service": {"cluster": "prod", "name": "worker"},
                "queues": [{"type": "sqs", "queue_url": "https://sqs.eu-west-1.amazonaws.com/123456789012/jobs", "cloudwatch_metrics": true}],
                "state": {"s3_bucket": "b", "key_prefix": "p"}}"#,
        );
        let p = policy_for(&c, "eu-west-1", "123456789012").unwrap();
        let text = p.to_string();
        assert!(text.contains("arn:aws:ecs:eu-west-1:123456789012:service/prod/worker"));
        assert!(text.contains("arn:aws:s3:::b/p/*"));
        assert!(text.contains("arn:aws:sqs:eu-west-1:123456789012:jobs"));
        for s in p["Statement"].as_array().unwrap() {
            for a in s["Action"].as_array().unwrap() {
                let a = a.as_str().unwrap();
                assert!(!a.contains('*'), "{a}");
                assert!(ACTIONS.iter().any(|(_, x)| *x == a), "{a} not in ACTIONS");
            }
        }
        assert!(
            !text.contains("sqs:GetQueueUrl"),
            "a URL needs no GetQueueUrl"
        );
    }

    #[test]
    fn the_arns_carry_the_regions_partition() {
        let c = config(
            r#"{"service": {"cluster": "prod", "name": "worker"},
                "queues": [{"type": "sqs", "queue_name": "jobs"}],
                "state": {"s3_bucket": "b", "key_prefix": "p"}}"#,
        );
        for (region, part) in [
            ("cn-north-1", "aws-cn"),
            ("us-gov-west-1", "aws-us-gov"),
            ("eu-west-1", "aws"),
            ("*", "aws"),
        ] {
            let text = policy_for(&c, region, "123456789012").unwrap().to_string();
            assert!(
                text.contains(&format!(
                    "arn:{part}:ecs:{region}:123456789012:service/prod/worker"
                )),
                "{region}: {text}"
            );
            assert!(text.contains(&format!("arn:{part}:s3:::b/p/*")), "{text}");
            assert!(
                text.contains(&format!("arn:{part}:sqs:{region}:")),
                "{text}"
            );
            if part != "aws" {
                assert!(!text.contains("arn:aws:"), "{region}: {text}");
            }
        }
    }

    #[test]
    fn a_reference_that_is_not_an_arn_is_named_not_called_missing() {
        let c = config(
            r#"{"service": {"cluster": "prod", "name": "worker"},
                "queues": [{"type": "redis", "queue_key": "k", "password_secret": "prod/redis"}]}"#,
        );
        let e = policy_for(&c, "us-east-1", "*").unwrap_err().to_string();
        assert!(
            e.contains("queues[0].password_secret") && e.contains("prod/redis"),
            "{e}"
        );
    }

    #[test]
    fn a_missing_name_is_an_error() {
        let c = config(r#"{"service": {"cluster": "prod"}}"#);
        assert!(policy_for(&c, "us-east-1", "*").is_err());
    }

    /// The deployment template (`live/deploy/template.json`), evaluated for one queue type:
    /// `Ref`, `Fn::Sub`, `Fn::GetAtt`, `Fn::If` and the template's conditions, with
    /// placeholder parameter values.
    struct Template {
        doc: Value,
        queue_type: &'static str,
        /// How the broker password is given: `clear`, `secret` or `parameter`.
        password: &'static str,
    }

    impl Template {
        fn param(&self, name: &str) -> String {
            match name {
                "QueueType" => self.queue_type.into(),
                "QueueName" => "jobs".into(),
                "EcsClusterName" => "prod".into(),
                "EcsServiceName" => "worker".into(),
                "MskClusterName" => "events".into(),
                "MskClusterUuid" => "0a1b2c3d-4".into(),
                "AmqBrokerId" => "b-1234".into(),
                "BrokerHost" => "broker.internal".into(),
                "BrokerUsername" => "scaler".into(),
                "BrokerPassword" if self.password == "clear" => "secret".into(),
                "BrokerPasswordSecretArn" if self.password == "secret" => {
                    "arn:aws:secretsmanager:us-east-1:123456789012:secret:broker-AbCdEf".into()
                }
                "BrokerPasswordParameterArn" if self.password == "parameter" => {
                    "arn:aws:ssm:us-east-1:123456789012:parameter/prod/broker".into()
                }
                "ConsumerGroup" => "workers".into(),
                "StateBucket" => "state-bucket".into(),
                "CodeS3Bucket" => "code-bucket".into(),
                "AWS::Region" => "us-east-1".into(),
                "AWS::AccountId" => "123456789012".into(),
                "AWS::Partition" => "aws".into(),
                "AWS::URLSuffix" => "amazonaws.com".into(),
                "StateBucket.Arn" => "arn:aws:s3:::state-bucket".into(),
                "LogGroup.Arn" => "arn:aws:logs:us-east-1:123456789012:log-group:x".into(),
                other if other.contains('.') => format!("arn:aws:test:::{other}"),
                other => match &self.doc["Parameters"][other]["Default"] {
                    Value::String(s) => s.clone(),
                    Value::Number(n) => n.to_string(),
                    _ => panic!("no value for {other}"),
                },
            }
        }

        fn condition(&self, name: &str) -> bool {
            self.holds(&self.doc["Conditions"][name])
        }

        fn holds(&self, c: &Value) -> bool {
            if let Some(name) = c.get("Condition").and_then(Value::as_str) {
                return self.condition(name);
            }
            if let Some(pair) = c.get("Fn::Equals").and_then(Value::as_array) {
                return self.eval(&pair[0]) == Some(Value::String(self.text(&pair[1])));
            }
            if let Some(not) = c.get("Fn::Not").and_then(Value::as_array) {
                return !self.holds(&not[0]);
            }
            if let Some(any) = c.get("Fn::Or").and_then(Value::as_array) {
                return any.iter().any(|x| self.holds(x));
            }
            if let Some(all) = c.get("Fn::And").and_then(Value::as_array) {
                return all.iter().all(|x| self.holds(x));
            }
            panic!("condition not understood: {c}");
        }

        fn text(&self, v: &Value) -> String {
            match self.eval(v) {
                Some(Value::String(s)) => s,
                other => panic!("not text: {other:?}"),
            }
        }

        /// The value of `v`; none for `AWS::NoValue`.
        fn eval(&self, v: &Value) -> Option<Value> {
            match v {
                Value::Object(m) if m.len() == 1 => {
                    let (k, arg) = m.iter().next().unwrap();
                    match k.as_str() {
                        "Ref" if arg == "AWS::NoValue" => None,
                        "Ref" => Some(Value::String(self.param(arg.as_str().unwrap()))),
                        "Fn::GetAtt" => {
                            let a = arg.as_array().unwrap();
                            let name =
                                format!("{}.{}", a[0].as_str().unwrap(), a[1].as_str().unwrap());
                            Some(Value::String(self.param(&name)))
                        }
                        "Fn::Sub" => {
                            let mut out = String::new();
                            let mut rest = arg.as_str().unwrap();
                            while let Some(i) = rest.find("${") {
                                out.push_str(&rest[..i]);
                                let end = rest[i..].find('}').unwrap() + i;
                                out.push_str(&self.param(&rest[i + 2..end]));
                                rest = &rest[end + 1..];
                            }
                            out.push_str(rest);
                            Some(Value::String(out))
                        }
                        "Fn::Join" => {
                            let a = arg.as_array().unwrap();
                            let sep = a[0].as_str().unwrap();
                            Some(Value::String(match self.eval(&a[1]) {
                                Some(Value::Array(items)) => items
                                    .iter()
                                    .map(|i| i.as_str().unwrap())
                                    .collect::<Vec<_>>()
                                    .join(sep),
                                Some(Value::String(one)) => one,
                                other => panic!("cannot join {other:?}"),
                            }))
                        }
                        "Fn::If" => {
                            let a = arg.as_array().unwrap();
                            let branch = if self.condition(a[0].as_str().unwrap()) {
                                &a[1]
                            } else {
                                &a[2]
                            };
                            self.eval(branch)
                        }
                        _ => Some(Value::Object(
                            m.iter()
                                .filter_map(|(k, v)| Some((k.clone(), self.eval(v)?)))
                                .collect(),
                        )),
                    }
                }
                Value::Object(m) => Some(Value::Object(
                    m.iter()
                        .filter_map(|(k, v)| Some((k.clone(), self.eval(v)?)))
                        .collect(),
                )),
                Value::Array(a) => Some(Value::Array(
                    a.iter().filter_map(|x| self.eval(x)).collect(),
                )),
                other => Some(other.clone()),
            }
        }
    }

    /// Each (action, resource) pair a policy document grants.
    fn grants(doc: &Value) -> std::collections::BTreeSet<(String, String)> {
        let mut out = std::collections::BTreeSet::new();
        for s in doc["Statement"].as_array().unwrap() {
            let list = |v: &Value| match v {
                Value::Array(a) => a.iter().map(|x| x.as_str().unwrap().to_string()).collect(),
                Value::String(x) => vec![x.clone()],
                other => panic!("{other}"),
            };
            for a in list(&s["Action"]) {
                for r in list(&s["Resource"]) {
                    out.insert((a.clone(), r));
                }
            }
        }
        out
    }

    /// The template's role grants, for every queue type it offers, exactly what `stepscale iam`
    /// prints for the configuration the template's own environment variables make (plus the
    /// function's own log writes, which are the Lambda's, not StepScale's).
    #[test]
    fn the_deployment_template_grants_what_iam_prints_for_each_queue_type() {
        let doc: Value = serde_json::from_str(include_str!("../deploy/template.json")).unwrap();
        let types = doc["Parameters"]["QueueType"]["AllowedValues"]
            .as_array()
            .unwrap()
            .clone();
        assert!(types.len() >= 6);
        let modes = ["clear", "secret", "parameter"];
        for (t, password) in types
            .iter()
            .flat_map(|t| modes.iter().map(move |m| (t.clone(), *m)))
        {
            let queue_type: &'static str =
                Box::leak(t.as_str().unwrap().to_string().into_boxed_str());
            let template = Template {
                doc: doc.clone(),
                queue_type,
                password,
            };
            let function = template
                .eval(&doc["Resources"]["Function"]["Properties"])
                .unwrap();
            let env: std::collections::BTreeMap<String, String> = function["Environment"]
                ["Variables"]
                .as_object()
                .unwrap()
                .iter()
                .map(|(k, v)| (k.clone(), v.as_str().unwrap().to_string()))
                .collect();
            let config =
                Config::from_env(&env).unwrap_or_else(|e| panic!("{queue_type}, {password}: {e}"));
            if ["amazon_mq", "rabbitmq", "redis"].contains(&queue_type) {
                // The password reaches the function in clear or by reference, never both.
                let refs = config.queues[0].secret_refs();
                assert_eq!(
                    refs.len(),
                    usize::from(password != "clear"),
                    "{queue_type}, {password}"
                );
                assert_eq!(
                    env.keys().any(|k| k.ends_with("_PASSWORD")),
                    password == "clear",
                    "{queue_type}, {password}: {env:?}"
                );
            }
            let expected = grants(&policy_for(&config, "us-east-1", "123456789012").unwrap());
            let role = template
                .eval(&doc["Resources"]["Role"]["Properties"])
                .unwrap();
            let got: std::collections::BTreeSet<_> = grants(&role["Policies"][0]["PolicyDocument"])
                .into_iter()
                .filter(|(a, _)| !a.starts_with("logs:"))
                .collect();
            assert_eq!(got, expected, "{queue_type}, {password}");
            for (action, _) in &got {
                assert!(ACTIONS.iter().any(|(_, a)| a == action), "{action}");
            }
        }
    }
}
