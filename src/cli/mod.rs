//! Command-line parsing and dispatch; `anyhow` lives here, at the binary's edge.

mod backtest;
mod calibrate;
mod decide;
mod parity;
#[cfg(feature = "live")]
mod run;
mod signals;
mod tune;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Parser, Subcommand};
use stepscale_engine::Config;

/// StepScale: queue-driven autoscaling for ECS, backtested before it runs.
#[derive(Debug, Parser)]
#[command(name = "stepscale", version, about)]
struct Cli {
    /// Log format on stderr.
    #[arg(long, global = true, value_enum, default_value = "text")]
    log_format: LogFormat,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum LogFormat {
    Text,
    Json,
}

/// One example per command, shown under its `--help` (from the repository's root, on shipped
/// files; the test suite parses each of them).
mod examples {
    pub const DECIDE: &str = "Example:\n  $ echo '{\"visible\": 200, \"desired\": 10}' | stepscale decide --policy scenarios/policies/target.toml";
    pub const BACKTEST: &str = "Example:\n  $ stepscale backtest --scenario scenarios/worldcup98.toml --out out/worldcup98";
    pub const COMPARE: &str = "Example:\n  $ stepscale compare --scenario scenarios/spike.toml --policy scenarios/policies/slo-spike.toml --against aws,keda --out out/spike-compare";
    pub const TUNE: &str = "Example:\n  $ stepscale tune --scenario scenarios/diurnal.toml --space scenarios/spaces/target.toml --constraint 'wait_p99_s<=30' --out out/diurnal-tune";
    #[cfg(feature = "live")]
    pub const RUN: &str =
        "Example:\n  $ stepscale run --policy scenarios/policies/live/sqs.toml --dry-run --once";
    pub const PARITY: &str = "Example:\n  $ stepscale parity --scenario tests/parity/plant.toml --record observed.csv --out out/parity";
    pub const CALIBRATE: &str = "Example:\n  $ stepscale calibrate --record scenarios/records/parity-slo-redis.record.csv --arrivals scenarios/records/parity-slo-redis.arrivals.csv --policy scenarios/records/parity-slo-redis.toml --out out/calibrated";
    #[cfg(feature = "live")]
    pub const IAM: &str = "Example:\n  $ stepscale iam --policy scenarios/policies/live/sqs.toml --region eu-west-1 --account 123456789012";
    pub const CONFIG: &str =
        "Example:\n  $ stepscale config --policy scenarios/policies/live/redis.toml";
    pub const COMPLETIONS: &str = "Example:\n  $ stepscale completions bash > ~/.local/share/bash-completion/completions/stepscale";
    pub const MAN: &str = "Example:\n  $ stepscale man > stepscale.1 && man ./stepscale.1";
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the engine on observations given as JSON lines on stdin; one decision per line out.
    #[command(after_help = examples::DECIDE)]
    Decide(decide::DecideArgs),
    /// Replay a scenario against a modelled ECS fleet under a policy; write summary, time series and plots.
    #[command(after_help = examples::BACKTEST)]
    Backtest(backtest::BacktestArgs),
    /// Run several policies on the same scenario; one table and one overlay plot.
    #[command(after_help = examples::COMPARE)]
    Compare(backtest::CompareArgs),
    /// Search a policy space for the cheapest policy that meets the goals; write best.toml.
    #[command(after_help = examples::TUNE)]
    Tune(tune::TuneArgs),
    /// The live loop: read queues, decide, keep state, set the ECS desired count.
    #[cfg(feature = "live")]
    #[command(after_help = examples::RUN)]
    Run(run::RunArgs),
    /// Replay a recorded live run (`run --record`) in the simulator; compare the decisions.
    #[command(after_help = examples::PARITY)]
    Parity(parity::ParityArgs),
    /// Fit a scenario (plant, arrivals) to recorded live runs; write it with every fit's interval.
    #[command(after_help = examples::CALIBRATE)]
    Calibrate(calibrate::CalibrateArgs),
    /// Print the least-privilege IAM policy (JSON) for a configuration's service, state and queues.
    #[cfg(feature = "live")]
    #[command(after_help = examples::IAM)]
    Iam {
        /// Policy file (TOML); without it, the environment alone (as the Lambda reads it).
        #[arg(long)]
        policy: Option<PathBuf>,
        /// AWS region in the ARNs (default: the configuration's, AWS_REGION, else `*`).
        #[arg(long)]
        region: Option<String>,
        /// AWS account id in the ARNs (default `*`).
        #[arg(long, default_value = "*")]
        account: String,
        /// Also grant what `stepscale calibrate` reads: the service's ECS tasks and the SQS
        /// queue's CloudWatch history.
        #[arg(long)]
        calibrate: bool,
    },
    /// Print the resolved configuration (defaults < policy file < environment); secrets redacted.
    #[command(after_help = examples::CONFIG)]
    Config {
        /// Policy file (TOML); without it, the environment alone (as the Lambda reads it).
        #[arg(long)]
        policy: Option<PathBuf>,
    },
    /// Print a shell completion script for bash, zsh, fish, elvish or powershell.
    #[command(after_help = examples::COMPLETIONS)]
    Completions {
        /// The shell.
        shell: clap_complete::Shell,
    },
    /// Print the manual page (roff), generated from the same definitions as `--help`.
    #[command(after_help = examples::MAN)]
    Man,
}

/// Parses the command line and runs the command.
pub fn run() -> anyhow::Result<ExitCode> {
    let cli = Cli::parse();
    init_logging(cli.log_format);
    match cli.command {
        Command::Decide(args) => decide::run(&args),
        Command::Backtest(args) => {
            signals::install();
            backtest::run(&args)
        }
        Command::Compare(args) => {
            signals::install();
            backtest::compare(&args)
        }
        Command::Tune(args) => tune::run(&args),
        #[cfg(feature = "live")]
        Command::Run(args) => run::run(&args),
        Command::Parity(args) => {
            signals::install();
            parity::run(&args)
        }
        Command::Calibrate(args) => {
            signals::install();
            calibrate::run(&args)
        }
        #[cfg(feature = "live")]
        Command::Iam {
            policy,
            region,
            account,
            calibrate,
        } => {
            let config = load_config(policy.as_deref())?;
            let region = region
                .or_else(|| config.region.clone())
                .or_else(|| std::env::var("AWS_REGION").ok())
                .unwrap_or_else(|| "*".into());
            let doc = stepscale_live::iam::policy_with(&config, &region, &account, calibrate)?;
            println!(
                "{}",
                serde_json::to_string_pretty(&doc).context("rendering the policy")?
            );
            Ok(ExitCode::SUCCESS)
        }
        Command::Completions { shell } => {
            let mut command = <Cli as clap::CommandFactory>::command();
            clap_complete::generate(shell, &mut command, "stepscale", &mut std::io::stdout());
            Ok(ExitCode::SUCCESS)
        }
        Command::Man => {
            let command = <Cli as clap::CommandFactory>::command();
            let mut page = Vec::new();
            clap_mangen::Man::new(command)
                .render(&mut page)
                .context("rendering the manual page")?;
            std::io::Write::write_all(&mut std::io::stdout(), &page)
                .context("writing the manual page")?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Config { policy } => {
            let config = load_config(policy.as_deref())?;
            print!(
                "{}",
                toml::to_string(&config).context("rendering the configuration")?
            );
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn init_logging(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("RUST_LOG")
        .or_else(|_| {
            // By default warnings, and every change of a desired count (the actuator's info
            // line): a scaler that scales silently cannot be watched. The SDK's credential
            // chain warns once per provider it tries; StepScale says it in one line instead.
            let level = std::env::var(stepscale_engine::config::env::LOG_LEVEL)
                .unwrap_or_else(|_| "warn,stepscale_live::ecs=info,aws_config=error".into());
            tracing_subscriber::EnvFilter::try_new(level.to_ascii_lowercase())
        })
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    let builder = tracing_subscriber::fmt()
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = match format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder.json().try_init(),
    };
}

/// The v0.2 environment variables that are set, and nothing else; a value that is not UTF-8
/// is an error naming the variable.
pub fn stepscale_env() -> anyhow::Result<BTreeMap<String, String>> {
    stepscale_engine::config::collect_env(|n| std::env::var_os(n))
        .context("reading the environment")
}

/// The configuration from a policy file (with the environment on top) or from the
/// environment alone.
pub fn load_config(policy: Option<&std::path::Path>) -> anyhow::Result<Config> {
    let env = stepscale_env()?;
    Ok(match policy {
        Some(path) => stepscale_sim::policy_file::load(path, &env)?,
        None => Config::from_env(&env).context("configuration from the environment")?,
    })
}
