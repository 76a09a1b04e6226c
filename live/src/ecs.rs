//! The ECS actuator: DescribeServices for the counts, UpdateService(desiredCount) only when a
//! decision changes the count, and no scale-in while a deployment is in progress.

use aws_config::SdkConfig;
use aws_sdk_ecs::Client;
use stepscale_engine::{Action, Decision, ServiceState};

use crate::aws::describe;

/// Why the ECS service could not be read or changed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum EcsError {
    /// The service does not exist in the cluster (or the cluster does not exist).
    #[error("ECS service {service} not found in cluster {cluster} ({reason}): check ECS_CLUSTER and SERVICE_NAME")]
    Missing {
        /// Cluster.
        cluster: String,
        /// Service.
        service: String,
        /// ECS's reason (MISSING, ...).
        reason: String,
    },
    /// The service exists but is not ACTIVE (DRAINING, INACTIVE): it cannot be scaled.
    #[error(
        "ECS service {service} in cluster {cluster} is {status}, not ACTIVE: nothing to scale"
    )]
    Inactive {
        /// Cluster.
        cluster: String,
        /// Service.
        service: String,
        /// Its status.
        status: String,
    },
    /// An API call failed after its retries.
    #[error("ECS {action} for {service}: {detail}")]
    Api {
        /// DescribeServices or UpdateService.
        action: &'static str,
        /// Service.
        service: String,
        /// The cause.
        detail: String,
    },
    /// ECS answered with a count that cannot be a count (negative): nothing is decided on it.
    #[error("ECS DescribeServices for {service}: {field} = {value} in the reply is not a task count; nothing was scaled")]
    BadReply {
        /// Service.
        service: String,
        /// desiredCount, runningCount or pendingCount.
        field: &'static str,
        /// What ECS sent.
        value: i32,
    },
    /// The configuration lacks the cluster or service name.
    #[error(
        "{0} is not set: it names the ECS service to scale (or set [service] in the policy file)"
    )]
    NotConfigured(&'static str),
}

/// The service as described.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ServiceView {
    /// Desired, running and pending counts.
    pub state: ServiceState,
    /// A deployment other than the primary is rolling, or the primary is still rolling out.
    pub deployment_in_progress: bool,
}

/// What applying a decision did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Applied {
    /// UpdateService set this desired count.
    Updated(u32),
    /// Nothing to do: the count does not change.
    Unchanged,
    /// A scale-in was suppressed because a deployment is in progress (as AWS does).
    SuppressedDuringDeployment,
    /// Dry run: logged, not sent.
    DryRun(u32),
    /// Another invocation claimed the state first: this one did nothing.
    StoodDown,
}

/// A deployment is in progress while the service has more than one deployment (the new
/// PRIMARY and the ACTIVE ones it replaces), as Application Auto Scaling judges it. The
/// primary's `rolloutState` is not used: it stays `IN_PROGRESS` on services without the
/// deployment circuit breaker.
#[must_use]
pub fn deployment_in_progress(deployments: &[aws_sdk_ecs::types::Deployment]) -> bool {
    deployments.len() > 1
}

/// One ECS service.
#[derive(Debug, Clone)]
pub struct EcsService {
    client: Client,
    cluster: String,
    service: String,
}

impl EcsService {
    /// The service `service` in `cluster`.
    #[must_use]
    pub fn new(sdk: &SdkConfig, cluster: impl Into<String>, service: impl Into<String>) -> Self {
        Self {
            client: Client::new(sdk),
            cluster: cluster.into(),
            service: service.into(),
        }
    }

    /// The service's name.
    #[must_use]
    pub fn name(&self) -> &str {
        &self.service
    }

    /// DescribeServices: the counts and whether a deployment is rolling.
    pub async fn describe(&self) -> Result<ServiceView, EcsError> {
        let out = self
            .client
            .describe_services()
            .cluster(&self.cluster)
            .services(&self.service)
            .customize()
            .interceptor(RequireCounts)
            .send()
            .await
            .map_err(|e| EcsError::Api {
                action: "DescribeServices",
                service: self.service.clone(),
                detail: describe(&e),
            })?;
        let Some(svc) = out.services().first() else {
            let reason = out
                .failures()
                .first()
                .and_then(|f| f.reason())
                .unwrap_or("no service returned")
                .to_string();
            return Err(EcsError::Missing {
                cluster: self.cluster.clone(),
                service: self.service.clone(),
                reason,
            });
        };
        let status = svc.status().unwrap_or("UNKNOWN");
        if status != "ACTIVE" {
            return Err(EcsError::Inactive {
                cluster: self.cluster.clone(),
                service: self.service.clone(),
                status: status.to_string(),
            });
        }
        // A negative count is a broken reply, never 0 tasks. (The SDK reads an absent count
        // as 0, ECS's documented default; it cannot be told apart here.)
        let count = |field: &'static str, n: i32| {
            u32::try_from(n).map_err(|_| EcsError::BadReply {
                service: self.service.clone(),
                field,
                value: n,
            })
        };
        let deployment_in_progress = deployment_in_progress(svc.deployments());
        Ok(ServiceView {
            state: ServiceState {
                desired: count("desiredCount", svc.desired_count())?,
                running: count("runningCount", svc.running_count())?,
                pending: count("pendingCount", svc.pending_count())?,
            },
            deployment_in_progress,
        })
    }

    /// Sets the desired count.
    pub async fn set_desired(&self, desired: u32) -> Result<(), EcsError> {
        let count = i32::try_from(desired).unwrap_or(i32::MAX);
        self.client
            .update_service()
            .cluster(&self.cluster)
            .service(&self.service)
            .desired_count(count)
            .send()
            .await
            .map_err(|e| EcsError::Api {
                action: "UpdateService",
                service: self.service.clone(),
                detail: describe(&e),
            })?;
        Ok(())
    }

    /// Applies a decision: UpdateService only when the count changes, never a scale-in while
    /// a deployment is in progress, nothing at all in a dry run.
    pub async fn apply(
        &self,
        view: &ServiceView,
        decision: &Decision,
        dry_run: bool,
    ) -> Result<Applied, EcsError> {
        if !decision.changes() {
            return Ok(Applied::Unchanged);
        }
        if decision.action == Action::ScaleIn && view.deployment_in_progress {
            tracing::info!(service = %self.service, from = decision.previous, to = decision.desired, "Scale-in suppressed: a deployment is in progress.");
            return Ok(Applied::SuppressedDuringDeployment);
        }
        if dry_run {
            tracing::info!(service = %self.service, from = decision.previous, to = decision.desired, "Dry run: would scale.");
            return Ok(Applied::DryRun(decision.desired));
        }
        self.set_desired(decision.desired).await?;
        tracing::info!(service = %self.service, from = decision.previous, to = decision.desired, reason = %decision.reason, "Scaled service.");
        Ok(Applied::Updated(decision.desired))
    }
}

#[cfg(test)]
mod tests {
    use aws_sdk_ecs::types::Deployment;

    use super::*;

    #[test]
    fn two_deployments_mean_a_deployment_in_progress() {
        let primary = Deployment::builder().status("PRIMARY").build();
        let old = Deployment::builder().status("ACTIVE").build();
        assert!(!deployment_in_progress(std::slice::from_ref(&primary)));
        assert!(deployment_in_progress(&[primary, old]));
    }
}

/// Refuses a DescribeServices reply in which a service lacks one of its counts: the SDK would
/// read an absent count as 0, and 0 running tasks is a decision, not a missing value.
#[derive(Debug)]
struct RequireCounts;

impl aws_sdk_ecs::config::Intercept for RequireCounts {
    fn name(&self) -> &'static str {
        "RequireCounts"
    }

    // After deserialization the body has been read into memory (before it, it may still be a
    // stream), so it can be looked at here.
    fn read_after_deserialization(
        &self,
        context: &aws_sdk_ecs::config::interceptors::AfterDeserializationInterceptorContextRef<'_>,
        _components: &aws_sdk_ecs::config::RuntimeComponents,
        _cfg: &mut aws_sdk_ecs::config::ConfigBag,
    ) -> Result<(), aws_sdk_ecs::error::BoxError> {
        let response = context.response();
        if !response.status().is_success() {
            return Ok(());
        }
        match response.body().bytes().and_then(missing_count) {
            Some(field) => Err(format!(
                "the reply gives no {field} for the service; nothing is decided on a missing count"
            )
            .into()),
            None => Ok(()),
        }
    }
}

/// The first count missing (or not an integer) in a DescribeServices reply body.
fn missing_count(body: &[u8]) -> Option<&'static str> {
    let reply: serde_json::Value = serde_json::from_slice(body).ok()?;
    reply.get("services")?.as_array()?.iter().find_map(|svc| {
        ["desiredCount", "runningCount", "pendingCount"]
            .into_iter()
            .find(|key| svc.get(*key).and_then(serde_json::Value::as_i64).is_none())
    })
}

#[cfg(test)]
mod count_tests {
    use super::missing_count;

    #[test]
    fn a_reply_without_a_count_is_caught() {
        let full = br#"{"services":[{"desiredCount":1,"runningCount":1,"pendingCount":0}]}"#;
        assert_eq!(missing_count(full), None);
        let partial = br#"{"services":[{"desiredCount":1,"pendingCount":0}]}"#;
        assert_eq!(missing_count(partial), Some("runningCount"));
        assert_eq!(missing_count(br#"{"services":[],"failures":[]}"#), None);
    }
}
