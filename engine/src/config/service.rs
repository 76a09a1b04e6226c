//! Which ECS service a policy scales: the target as configured, and its identity (cluster,
//! service, region, partition) that the actuator, the IAM policy and the Lambda all take.

use serde::{Deserialize, Serialize};

/// The ECS service a policy scales (live only; the simulator ignores it).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ServiceTarget {
    /// Cluster name or ARN (`ECS_CLUSTER`).
    pub cluster: Option<String>,
    /// Service name (`SERVICE_NAME`).
    pub name: Option<String>,
}

impl ServiceTarget {
    /// The cluster and service names that key the state (S3 keys, state files, record
    /// objects): `default` and `service` where unset, as fast-autoscaler v0.2 keyed them.
    #[must_use]
    pub fn state_names(&self) -> (&str, &str) {
        (
            self.cluster.as_deref().unwrap_or("default"),
            self.name.as_deref().unwrap_or("service"),
        )
    }
}

impl ServiceTarget {
    /// The service's identity in `region` (`*` when it is not known), or the key that is
    /// missing, as the user would set it.
    pub fn identity(&self, region: Option<&str>) -> Result<ServiceId, &'static str> {
        let cluster = self
            .cluster
            .clone()
            .ok_or("service.cluster (ECS_CLUSTER)")?;
        let service = self.name.clone().ok_or("service.name (SERVICE_NAME)")?;
        Ok(ServiceId {
            cluster,
            service,
            region: region.unwrap_or("*").to_string(),
        })
    }
}

/// One ECS service: its cluster (a name or an ARN, as configured), its name and its region.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceId {
    /// The cluster as configured: a name or an ARN (both are accepted by ECS).
    pub cluster: String,
    /// The service's name.
    pub service: String,
    /// The region, `*` when it is not known.
    pub region: String,
}

impl ServiceId {
    /// The cluster's name: the last segment of an ARN, or the name as given.
    #[must_use]
    pub fn cluster_name(&self) -> &str {
        self.cluster.rsplit('/').next().unwrap_or(&self.cluster)
    }

    /// The ARN partition of its region.
    #[must_use]
    pub fn partition(&self) -> &'static str {
        partition(&self.region)
    }

    /// The service's ARN in `account` (`*` when it is not known).
    #[must_use]
    pub fn arn(&self, account: &str) -> String {
        format!(
            "arn:{}:ecs:{}:{account}:service/{}/{}",
            self.partition(),
            self.region,
            self.cluster_name(),
            self.service
        )
    }
}

/// The ARN partition of `region`: `aws-cn` for China, `aws-us-gov` for GovCloud, `aws-iso`
/// and `aws-iso-b` for the isolated regions, else `aws` (also for `*`), as CloudFormation's
/// `AWS::Partition` gives it.
#[must_use]
pub fn partition(region: &str) -> &'static str {
    if region.starts_with("cn-") {
        "aws-cn"
    } else if region.starts_with("us-gov-") {
        "aws-us-gov"
    } else if region.starts_with("us-isob-") {
        "aws-iso-b"
    } else if region.starts_with("us-iso-") {
        "aws-iso"
    } else {
        "aws"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_identity_names_what_is_missing_and_builds_the_arn() {
        let target = ServiceTarget {
            cluster: Some("arn:aws-cn:ecs:cn-north-1:123456789012:cluster/prod".into()),
            name: Some("worker".into()),
        };
        let id = target.identity(Some("cn-north-1")).unwrap();
        assert_eq!(id.cluster_name(), "prod");
        assert_eq!(
            id.arn("123456789012"),
            "arn:aws-cn:ecs:cn-north-1:123456789012:service/prod/worker"
        );
        assert_eq!(
            target.identity(None).unwrap().arn("*"),
            "arn:aws:ecs:*:*:service/prod/worker"
        );
        let nameless = ServiceTarget {
            name: None,
            ..target
        };
        assert_eq!(
            nameless.identity(None).unwrap_err(),
            "service.name (SERVICE_NAME)"
        );
        assert_eq!(partition("us-isob-east-1"), "aws-iso-b");
    }
}
