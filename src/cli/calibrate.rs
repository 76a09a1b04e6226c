//! `stepscale calibrate`: a scenario fitted from recorded live runs (`stepscale run --record`).

use std::path::PathBuf;
use std::process::ExitCode;

use stepscale_sim::calibrate::{self, CalibrateInputs};

/// Arguments of `stepscale calibrate`.
#[derive(Debug, clap::Args)]
pub struct CalibrateArgs {
    /// A file `stepscale run --record` wrote; several (in time order) for one longer run; or
    /// `s3://BUCKET/PREFIX/`, the folder of the Lambda's day objects for one service.
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
    let fetched = Fetched::of(&args.records)?;
    let inputs = CalibrateInputs {
        records: fetched.records.clone(),
        arrivals: args.arrivals.clone(),
        policy: args.policy.clone(),
        concurrency: args.concurrency,
        service_sigma: args.service_sigma,
        metric_delay_secs: args.metric_delay_secs,
        name: args.name.clone(),
    };
    let mut c = calibrate::calibrate(&inputs)?;
    c.records.clone_from(&fetched.names);
    let mut read: Vec<PathBuf> = args.records.iter().filter(|r| !is_s3(r)).cloned().collect();
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
