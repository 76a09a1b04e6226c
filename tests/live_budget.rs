//! A shared budget live: one `stepscale run` with two services against moto (ECS) and Redis.
//! Both queues want far more tasks than the budget holds; the services' desired counts in ECS
//! never add up to more than the budget, and the higher priority ends with all but the
//! other's minimum.

mod support;

use std::path::Path;
use std::time::{Duration, Instant};

use support::live_run::{stepscale, LiveRun};

fn policy(dir: &Path, cluster: &str, service: &str, key: &str) -> String {
    let (host, port) = support::redis_address();
    let path = dir.join(format!("{service}.toml"));
    std::fs::write(
        &path,
        format!(
            r#"[service]
cluster = "{cluster}"
name = "{service}"

[[queues]]
type = "redis"
host = "{host}"
port = {port}
queue_key = "{key}"

[guards]
min_tasks = 2
max_tasks = 40
scale_out_cooldown_secs = 0
scale_in_cooldown_secs = 0

[policy]
kind = "target"
target_backlog_per_task = 10.0
"#
        ),
    )
    .unwrap();
    path.display().to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_services_never_exceed_their_budget_and_the_higher_priority_wins() {
    let sdk = support::aws::sdk().await;
    let hi = support::unique("orders");
    let lo = support::unique("reports");
    let cluster = support::aws::ecs_services(&sdk, &[hi.clone(), lo.clone()], 2).await;
    // 300 messages at 10 per task: each wants 30 tasks; the budget holds 20.
    let (hi_key, lo_key) = (support::unique("hi-jobs"), support::unique("lo-jobs"));
    support::redis_list(&hi_key, 300).await;
    support::redis_list(&lo_key, 300).await;
    let dir = tempfile::tempdir().unwrap();
    let hi_policy = policy(dir.path(), &cluster, &hi, &hi_key);
    let lo_policy = policy(dir.path(), &cluster, &lo, &lo_key);
    let budget = dir.path().join("budget.toml");
    std::fs::write(
        &budget,
        format!(
            "[[budget]]\nname = \"cluster\"\nmax_tasks = 20\n\n[[budget.members]]\nservice = \"{lo}\"\npriority = 0\n\n[[budget.members]]\nservice = \"{hi}\"\npriority = 5\n"
        ),
    )
    .unwrap();
    let state = dir.path().join("state");
    let cmd = stepscale(
        &[
            "--policy",
            &lo_policy,
            "--policy",
            &hi_policy,
            "--budget",
            budget.to_str().unwrap(),
            "--period-secs",
            "1",
            "--state-dir",
            state.to_str().unwrap(),
        ],
        &[("LOG_LEVEL", "info")],
    );
    let mut run = LiveRun::spawn(cmd);
    // Watch ECS while the loop runs: the sum never goes over; stop once the higher priority
    // holds all but the other's minimum of 2 (or after a deadline, and fail below). The higher
    // priority is read first: it only ever grows after the other has shrunk, so a pair read
    // in this order is never from two moments that could add up to more than ECS held.
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut seen = Vec::new();
    let mut settled = false;
    while Instant::now() < deadline {
        let h = support::aws::desired_count(&sdk, &cluster, &hi).await;
        let l = support::aws::desired_count(&sdk, &cluster, &lo).await;
        seen.push((h, l));
        assert!(
            h + l <= 20,
            "ECS held {h} + {l} tasks under a budget of 20; seen {seen:?}\n{}",
            run.log()
        );
        if (h, l) == (18, 2) {
            settled = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    run.terminate();
    run.wait(Duration::from_secs(20));
    let log = run.log();
    assert!(settled, "never reached 18 + 2; seen {seen:?}\n{log}");
    assert!(seen.iter().any(|&(h, l)| h + l == 20), "{seen:?}");
    assert!(log.contains("A shared budget cut the decision."), "{log}");
}

#[test]
fn a_budget_that_names_no_service_of_the_run_is_refused_before_anything_runs() {
    let dir = tempfile::tempdir().unwrap();
    let policy = policy(dir.path(), "c", "worker", "jobs");
    let budget = dir.path().join("budget.toml");
    std::fs::write(
        &budget,
        "[[budget]]\nname = \"cluster\"\nmax_tasks = 20\n[[budget.members]]\nservice = \"other\"\n",
    )
    .unwrap();
    let out = stepscale(
        &[
            "--once",
            "--policy",
            &policy,
            "--budget",
            budget.to_str().unwrap(),
        ],
        &[],
    )
    .output()
    .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        err.contains("budget[0].members[0].service") && err.contains("names no service"),
        "{err}"
    );
}
