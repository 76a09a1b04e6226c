//! `stepscale calibrate`: a scenario fitted from recorded live runs (`stepscale run --record`).

use std::path::PathBuf;
use std::process::ExitCode;

use stepscale_sim::calibrate::{self, CalibrateInputs};

/// Arguments of `stepscale calibrate`.
#[derive(Debug, clap::Args)]
pub struct CalibrateArgs {
    /// A file `stepscale run --record` wrote; several (in time order) for one longer run.
    #[arg(long = "record", required = true, num_args = 1..)]
    records: Vec<PathBuf>,
    /// A log of the messages sent, one row per message with a `time` column (epoch seconds or
    /// RFC 3339): needed where the record's arrivals are estimated (probes without a rate).
    #[arg(long)]
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
    /// How late the probe's data are, seconds (the record cannot tell; default 0).
    #[arg(long, default_value_t = 0.0)]
    metric_delay_secs: f64,
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

/// Runs `stepscale calibrate`.
pub fn run(args: &CalibrateArgs) -> anyhow::Result<ExitCode> {
    let inputs = CalibrateInputs {
        records: args.records.clone(),
        arrivals: args.arrivals.clone(),
        policy: args.policy.clone(),
        concurrency: args.concurrency,
        service_sigma: args.service_sigma,
        metric_delay_secs: args.metric_delay_secs,
        name: args.name.clone(),
    };
    let c = calibrate::calibrate(&inputs)?;
    let mut read = args.records.clone();
    read.push(args.policy.clone());
    read.extend(args.arrivals.clone());
    c.write(&args.out, args.force, read)?;
    println!("calibrated {} from {} record(s):", c.name, c.records.len());
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
        args.out.display()
    );
    Ok(ExitCode::SUCCESS)
}
