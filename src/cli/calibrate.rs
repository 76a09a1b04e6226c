//! `stepscale calibrate`: a scenario fitted from recorded live runs (`stepscale run --record`).

use std::path::PathBuf;
use std::process::ExitCode;

use stepscale_sim::calibrate::{self, CalibrateInputs};

/// Arguments of `stepscale calibrate`.
#[derive(Debug, clap::Args)]
pub struct CalibrateArgs {
    /// A file `stepscale run --record` wrote; several (in time order) for one longer run; or
    /// `s3://BUCKET/PREFIX/`, the folder of the Lambda's day objects for one service.
    #[arg(long = "record", num_args = 1.., required_unless_present = "since", conflicts_with = "since")]
    records: Vec<PathBuf>,
    /// Instead of records: this much CloudWatch history of the policy's one SQS, Amazon MQ
    /// (ActiveMQ), Kinesis or MSK queue (`90m`, `6h`, `14d`; at most 15 days, CloudWatch's
    /// one-minute retention), with the start-ups ECS reports for the service's tasks. Kinesis
    /// and MSK give arrivals only: state --service-secs.
    #[arg(long, value_name = "DURATION")]
    since: Option<String>,
    /// With --since: the start-up delay, stated, when ECS lists fewer than 5 started tasks.
    #[arg(long, requires = "since")]
    startup_secs: Option<f64>,
    /// With --since: the live run's period (history cannot tell it).
    #[arg(long, requires = "since", default_value_t = 60.0)]
    period_secs: f64,
    /// A log of the messages sent, one row per message with a `time` column (epoch seconds or
    /// RFC 3339): needed where the record's arrivals are estimated (probes without a rate).
    #[arg(long, conflicts_with = "since")]
    arrivals: Option<PathBuf>,
    /// The live policy file the run used: the scenario takes its policy and guards (and, for
    /// slo, its concurrency).
    #[arg(long)]
    policy: PathBuf,
    /// Messages one task works on at once (the record cannot tell; slo policies state it).
    #[arg(long)]
    concurrency: Option<u32>,
    /// The service time's spread as a lognormal σ, if known (default: exponential, assumed).
    #[arg(long)]
    service_sigma: Option<f64>,
    /// The mean service time in seconds, stated instead of fitted: for sources without an
    /// in-flight count (Kafka's lag, Kinesis), whose records cannot give it.
    #[arg(long)]
    service_secs: Option<f64>,
    /// How late the probe's data are, seconds. Default: fitted from a record and a log of the
    /// sends (--arrivals), else 0.
    #[arg(long)]
    metric_delay_secs: Option<f64>,
    /// The scenario's name (default `calibrated`).
    #[arg(long)]
    name: Option<String>,
    /// Output folder for scenario.toml, trace.csv, calibration.json and calibration.png (same
    /// rules as `backtest`).
    #[arg(long)]
    out: PathBuf,
    /// Replace `--out` even when it is a file or a folder StepScale did not write.
    #[arg(long)]
    force: bool,
}

/// What the command line states for either source: the policy and what data cannot tell.
fn stated(args: &CalibrateArgs) -> CalibrateInputs {
    CalibrateInputs {
        policy: args.policy.clone(),
        concurrency: args.concurrency,
        service_sigma: args.service_sigma,
        service_secs: args.service_secs,
        metric_delay_secs: args.metric_delay_secs,
        name: args.name.clone(),
        ..CalibrateInputs::default()
    }
}

/// Runs `stepscale calibrate`.
pub fn run(args: &CalibrateArgs) -> anyhow::Result<ExitCode> {
    if let Some(since) = &args.since {
        return from_history(args, since);
    }
    let fetched = Fetched::of(&args.records)?;
    let inputs = CalibrateInputs {
        records: fetched.records.clone(),
        arrivals: args.arrivals.clone(),
        ..stated(args)
    };
    let mut c = calibrate::calibrate(&inputs)?;
    c.records.clone_from(&fetched.names);
    let mut read: Vec<PathBuf> = args.records.iter().filter(|r| !is_s3(r)).cloned().collect();
    read.push(args.policy.clone());
    read.extend(args.arrivals.clone());
    c.write(&args.out, args.force, read)?;
    report(&c, &args.out);
    Ok(ExitCode::SUCCESS)
}

/// Prints what was fitted, stated and warned.
fn report(c: &calibrate::Calibration, out: &std::path::Path) {
    println!("calibrated {} from {}:", c.name, c.records.join(", "));
    for f in &c.fitted {
        println!(
            "  {:<46} {:>9.3}  (90 % interval {:.3} to {:.3}; {} samples)",
            f.parameter, f.estimate, f.interval_90[0], f.interval_90[1], f.samples
        );
    }
    for s in &c.stated {
        println!("  {:<46} {:>9}  ({})", s.parameter, s.value, s.source);
    }
    for w in &c.warnings {
        println!("  warning: {w}");
    }
    println!(
        "  wrote {}/{{scenario.toml,trace.csv,calibration.json,calibration.png}}",
        out.display()
    );
}

/// `90m`, `6h`, `14d` or seconds, up to 15 days.
fn parse_since(text: &str) -> anyhow::Result<std::time::Duration> {
    let (number, unit) = text.split_at(
        text.trim_end_matches(|c: char| c.is_ascii_alphabetic())
            .len(),
    );
    let n: f64 = number.parse().map_err(|_| {
        anyhow::anyhow!("--since {text:?}: expected a number and s, m, h or d (90m, 6h, 14d)")
    })?;
    let secs = n * match unit {
        "" | "s" => 1.0,
        "m" => 60.0,
        "h" => 3600.0,
        "d" => 86_400.0,
        _ => anyhow::bail!("--since {text:?}: the unit must be s, m, h or d"),
    };
    if !(secs.is_finite() && (1200.0..=15.0 * 86_400.0).contains(&secs)) {
        anyhow::bail!(
            "--since {text:?}: must be between 20 minutes (20 one-minute datapoints) and 15 days (CloudWatch keeps one-minute data that long)"
        );
    }
    Ok(std::time::Duration::from_secs_f64(secs))
}

/// `calibrate --since`: from CloudWatch history and ECS's tasks.
#[cfg(feature = "live")]
fn from_history(args: &CalibrateArgs, since: &str) -> anyhow::Result<ExitCode> {
    let window = parse_since(since)?;
    let config = super::load_config(Some(&args.policy))?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let history = runtime.block_on(async {
        let sdk = stepscale_live::aws::load(config.region.as_deref()).await;
        stepscale_live::history::queue_history(&sdk, &config, window).await
    });
    let history =
        history.map_err(|e| anyhow::anyhow!("--since {since}: {e}; nothing was written"))?;
    let series = history.series;
    let source = format!("{}, the last {since}; ECS task start-ups", series.source);
    let observed = calibrate::observe_history(&calibrate::History {
        sent: series.sent,
        deleted: series.deleted,
        in_flight: series.in_flight,
        startup_samples: history.startup_samples,
        startup_secs: args.startup_secs,
        period_secs: args.period_secs,
        initial_tasks: history.desired,
        source: source.clone(),
        arrivals_metric: series.arrivals_metric.to_string(),
        warnings: series.warnings,
    });
    let inputs = stated(args);
    let mut c = calibrate::build(observed, &inputs)?;
    c.records = vec![source];
    c.write(&args.out, args.force, vec![args.policy.clone()])?;
    report(&c, &args.out);
    Ok(ExitCode::SUCCESS)
}

#[cfg(not(feature = "live"))]
fn from_history(_args: &CalibrateArgs, since: &str) -> anyhow::Result<ExitCode> {
    // A bad duration is named first, as in a full build.
    parse_since(since)?;
    anyhow::bail!(
        "--since {since}: reading CloudWatch history needs a build with the `live` feature"
    )
}

fn is_s3(p: &std::path::Path) -> bool {
    p.to_str().is_some_and(|s| s.starts_with("s3://"))
}

/// The records as local files: `s3://` folders copied into a folder of StepScale's own, removed
/// when done.
struct Fetched {
    records: Vec<PathBuf>,
    /// Each record as the user would name it (the S3 object's location for fetched ones).
    names: Vec<String>,
    dir: Option<PathBuf>,
}

impl Fetched {
    fn of(records: &[PathBuf]) -> anyhow::Result<Self> {
        let mut out = Self {
            records: Vec::new(),
            names: Vec::new(),
            dir: None,
        };
        for r in records {
            if !is_s3(r) {
                out.records.push(r.clone());
                out.names.push(r.display().to_string());
                continue;
            }
            let url = r.display().to_string();
            let dir = out.dir.get_or_insert_with(|| {
                std::env::temp_dir().join(format!("stepscale-calibrate-{}", std::process::id()))
            });
            let sub = dir.join(out.records.len().to_string());
            std::fs::create_dir_all(&sub)?;
            for path in fetch(&url, &sub)? {
                let name = path
                    .file_name()
                    .map_or_else(String::new, |n| n.to_string_lossy().into_owned());
                out.names
                    .push(format!("{}/{name}", url.trim_end_matches('/')));
                out.records.push(path);
            }
        }
        Ok(out)
    }
}

impl Drop for Fetched {
    fn drop(&mut self) {
        if let Some(dir) = &self.dir {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

#[cfg(feature = "s3-state")]
fn fetch(url: &str, dir: &std::path::Path) -> anyhow::Result<Vec<PathBuf>> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let sdk = stepscale_live::aws::load(None).await;
        Ok(stepscale_live::record::fetch_from_s3(&sdk, url, dir).await?)
    })
}

#[cfg(not(feature = "s3-state"))]
fn fetch(url: &str, _dir: &std::path::Path) -> anyhow::Result<Vec<PathBuf>> {
    anyhow::bail!(
        "--record {url}: reading records from S3 needs a build with the `s3-state` feature"
    )
}
