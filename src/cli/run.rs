//! `stepscale run`: the live loop. Reads the queues, decides, keeps state, sets the ECS
//! desired count; `--dry-run` decides and logs only; `--record` writes what it saw as a trace.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{bail, Context};
use stepscale_engine::Config;
use stepscale_live::record::TraceRecorder;
use stepscale_live::runner::{run_loop, LoopOptions, ServiceRunner, DEFAULT_READ_TIMEOUT};
use stepscale_live::state::{AnyStateStore, FileStateStore};
use stepscale_live::ProbeContext;

/// Arguments of `stepscale run`.
#[derive(Debug, clap::Args)]
pub struct RunArgs {
    /// Policy files, one per service (without any: the environment alone, as the Lambda reads it).
    #[arg(long = "policy")]
    policies: Vec<PathBuf>,
    /// Seconds between decisions (sub-minute periods are fine).
    #[arg(long, default_value_t = 60.0)]
    period_secs: f64,
    /// Decide once and exit.
    #[arg(long)]
    once: bool,
    /// Read the queues and the state, decide and log; never write the state and never change
    /// ECS (it still calls DescribeServices for the current count, unless --desired is given).
    #[arg(long)]
    dry_run: bool,
    /// With --dry-run: the service's current desired count, given instead of read from ECS.
    /// No credentials are then needed unless a source or the state is an AWS service (an
    /// unreadable state is taken as empty).
    #[arg(long, requires = "dry_run", value_name = "N")]
    desired: Option<u32>,
    /// Append what was observed to this CSV trace (one service only); `backtest` replays it.
    #[arg(long)]
    record: Option<PathBuf>,
    /// Folder for state files when no S3 bucket is configured.
    #[arg(long, default_value = "stepscale-state")]
    state_dir: PathBuf,
    /// Serve `/metrics` (Prometheus) and `/healthz` on this address, e.g. `0.0.0.0:9090`.
    #[arg(long, value_name = "HOST:PORT")]
    metrics_addr: Option<String>,
    /// Shared budgets over this run's services: a TOML file of `[[budget]]` tables, members
    /// named by their ECS service names.
    #[arg(long, value_name = "FILE")]
    budget: Option<PathBuf>,
}

/// The name a budget knows a service by: its ECS service name, as the runner logs it.
fn service_name(config: &Config) -> String {
    config
        .service
        .identity(config.region.as_deref())
        .map_or_else(
            |_| config.service.state_names().1.to_string(),
            |id| id.service,
        )
}

/// Reads `--budget` and checks it against the services of the run (by ECS service name).
fn load_budgets(
    path: &Path,
    configs: &[Config],
) -> anyhow::Result<Vec<stepscale_engine::BudgetSpec>> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("--budget {}: cannot be read", path.display()))?;
    let file: stepscale_engine::budget::BudgetsFile = toml::from_str(&text).map_err(|e| {
        anyhow::anyhow!(
            "--budget {}: not a budget file ([[budget]] tables): {}",
            path.display(),
            e.message()
        )
    })?;
    if file.budget.is_empty() {
        bail!(
            "--budget {}: holds no [[budget]] table; nothing was read or scaled",
            path.display()
        );
    }
    let names: Vec<String> = configs.iter().map(service_name).collect();
    for spec in &file.budget {
        for m in &spec.members {
            if names.iter().filter(|n| **n == m.service).count() > 1 {
                bail!(
                    "--budget {}: budget {:?} names service {:?}, which two --policy files run (in different clusters): a budget needs service names that are unique in the run",
                    path.display(),
                    spec.name,
                    m.service
                );
            }
        }
    }
    stepscale_engine::budget::validate(&file.budget, |s| {
        names
            .iter()
            .position(|n| n == s)
            .map(|i| configs[i].guards.min_tasks)
    })
    .map_err(|e| {
        anyhow::anyhow!(
            "--budget {}: {e}; nothing was read or scaled",
            path.display()
        )
    })?;
    Ok(file.budget)
}

/// The state store of a service, or of one of its shadow policies (`shadow`): S3 when a bucket
/// is configured (a shadow's under `{service}/shadow-{name}/`), else a file in `state_dir`.
fn store_for(
    config: &Config,
    ctx: &ProbeContext,
    state_dir: &Path,
    shadow: Option<&str>,
) -> anyhow::Result<AnyStateStore> {
    let (cluster, service) = config.service.state_names();
    if let Some(bucket) = &config.state.s3_bucket {
        #[cfg(feature = "s3-state")]
        {
            let Some(sdk) = ctx.aws.as_ref() else {
                bail!("S3 state needs the AWS configuration");
            };
            let service = match shadow {
                Some(name) => format!("{service}/shadow-{name}"),
                None => service.to_string(),
            };
            return Ok(AnyStateStore::S3(stepscale_live::state::S3StateStore::new(
                sdk,
                bucket,
                &config.state.key_prefix,
                cluster,
                &service,
            )));
        }
        #[cfg(not(feature = "s3-state"))]
        {
            let _ = (ctx, shadow);
            bail!("state bucket {bucket} configured, but this build has no `s3-state` feature");
        }
    }
    let file = match shadow {
        Some(name) => format!("{cluster}__{service}.shadow-{name}.json"),
        None => format!("{cluster}__{service}.json"),
    };
    Ok(AnyStateStore::File(FileStateStore::new(
        state_dir.join(file),
    )))
}

/// Exit code of `--once` when every metric read of a service failed and the engine held.
const BLIND: u8 = 3;

/// Runs the command.
pub fn run(args: &RunArgs) -> anyhow::Result<ExitCode> {
    if !(args.period_secs.is_finite() && args.period_secs >= 1.0) {
        bail!(
            "--period-secs {}: must be at least 1 second",
            args.period_secs
        );
    }
    let mut configs: Vec<Config> = if args.policies.is_empty() {
        vec![super::load_config(None)?]
    } else {
        args.policies
            .iter()
            .map(|p| super::load_config(Some(p)))
            .collect::<anyhow::Result<_>>()?
    };
    let budgets = match &args.budget {
        Some(path) => load_budgets(path, &configs)?,
        None => Vec::new(),
    };
    if args.record.is_some() && configs.len() > 1 {
        bail!("--record writes one service's trace: give a single --policy");
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    let period = Duration::from_secs_f64(args.period_secs);
    runtime
        .block_on(async {
            // The address is checked before anything is read or scaled.
            let metrics = match &args.metrics_addr {
                Some(addr) => {
                    let listener = stepscale_live::metrics::bind(addr)
                        .await
                        .map_err(anyhow::Error::msg)?;
                    let metrics = std::sync::Arc::new(stepscale_live::metrics::Metrics::new());
                    tokio::spawn(stepscale_live::metrics::serve(
                        listener,
                        std::sync::Arc::clone(&metrics),
                    ));
                    Some(metrics)
                }
                None => None,
            };
            let region = configs.first().and_then(|c| c.region.clone());
            let sdk = stepscale_live::aws::load(region.as_deref()).await;
            let ctx = ProbeContext {
                aws: Some(sdk.clone()),
            };
            // Passwords by reference: read once, before any probe is built.
            let secrets = stepscale_live::secret_store::SecretReader::new(&sdk);
            for config in &mut configs {
                secrets
                    .resolve(config)
                    .await
                    .context("nothing was read or scaled")?;
            }
            let mut runners = Vec::new();
            for config in &configs {
                let store = store_for(config, &ctx, &args.state_dir, None)?;
                let shadow_names: Vec<&str> =
                    config.shadow.iter().map(|s| s.name.as_str()).collect();
                let recorder = match &args.record {
                    Some(path) => Some(TraceRecorder::new(path, &shadow_names)?),
                    None => None,
                };
                // A read may take up to one period (at most the default), so a hanging queue
                // delays only its own service, by at most that much.
                let mut runner = ServiceRunner::new(config, &ctx, store, args.dry_run, recorder)?
                    .with_read_timeout(period.min(DEFAULT_READ_TIMEOUT));
                if let Some(desired) = args.desired {
                    runner = runner.with_given_desired(desired);
                }
                for spec in &config.shadow {
                    let store = store_for(config, &ctx, &args.state_dir, Some(&spec.name))?;
                    runner = runner.with_shadow(&spec.name, &config.for_shadow(spec), store);
                }
                runners.push(runner);
            }
            // After the configuration, so that a bad file is reported as such wherever it runs.
            // A dry run given the desired count needs AWS only for AWS sources, whose reads
            // then fail (and hold) on their own.
            if args.desired.is_none() {
                stepscale_live::aws::check_credentials(&sdk)
                    .await
                    .map_err(anyhow::Error::msg)?;
            }
            if !budgets.is_empty() {
                // Each member starts from the count ECS holds now.
                let mut now = std::collections::BTreeMap::new();
                for runner in &runners {
                    let desired = runner.current_desired().await.with_context(|| {
                        format!(
                            "reading {}'s desired count for the budget; nothing was scaled",
                            runner.name()
                        )
                    })?;
                    now.insert(runner.name().to_string(), desired);
                }
                let ledger = stepscale_engine::Budgets::new(&budgets, |s| {
                    let min = configs
                        .iter()
                        .find(|c| service_name(c) == s)
                        .map_or(0, |c| c.guards.min_tasks);
                    (min, now.get(s).copied().unwrap_or(0))
                });
                for u in ledger.usage() {
                    tracing::info!(budget = %u.name, used = u.used, capacity = u.capacity, "Budget: members' desired counts now.");
                }
                let governed: Vec<bool> = runners.iter().map(|r| ledger.governs(r.name())).collect();
                let shared = std::sync::Arc::new(tokio::sync::Mutex::new(ledger));
                runners = runners
                    .into_iter()
                    .zip(governed)
                    .map(|(r, under)| {
                        if under {
                            r.with_budget(std::sync::Arc::clone(&shared))
                        } else {
                            r
                        }
                    })
                    .collect();
            }
            let options = LoopOptions {
                period,
                once: args.once,
                metrics,
            };
            Ok::<_, anyhow::Error>(run_loop(runners, options).await)
        })
        .map(|outcome| {
            if outcome.failed > 0 {
                ExitCode::FAILURE
            } else if outcome.blind > 0 {
                ExitCode::from(BLIND)
            } else {
                ExitCode::SUCCESS
            }
        })
}
