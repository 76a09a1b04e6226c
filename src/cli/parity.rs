//! `stepscale parity`: replay a recorded live run through the simulator and compare decisions.

use std::path::PathBuf;
use std::process::ExitCode;

use stepscale_sim::parity::{self, ParityInputs};

/// Arguments of `stepscale parity`.
#[derive(Debug, clap::Args)]
pub struct ParityArgs {
    /// Scenario describing the live plant: service time, concurrency, start-up, period.
    #[arg(long)]
    scenario: PathBuf,
    /// The policy file the live run used (default: the scenario's).
    #[arg(long)]
    policy: Option<PathBuf>,
    /// The file `stepscale run --record` wrote.
    #[arg(long)]
    record: PathBuf,
    /// A log of the messages sent, one row per message with a `time` column (epoch seconds or
    /// RFC 3339). Without it, the record's `arrivals` column (a lower bound for probes that
    /// report no arrival rate).
    #[arg(long)]
    arrivals: Option<PathBuf>,
    /// Replay under this many plant seeds (the scenario's and the next ones) and report how
    /// often the live run stayed inside the replays' 90 % prediction interval (random plants: service and
    /// start-up times that vary); 1: the one replay, tick by tick.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=200))]
    seeds: u32,
    /// Output folder for parity.csv, parity.json and parity.png (same rules as `backtest`).
    #[arg(long)]
    out: Option<PathBuf>,
    /// Replace `--out` even when it is a file or a folder StepScale did not write.
    #[arg(long)]
    force: bool,
}

/// Runs `stepscale parity`.
pub fn run(args: &ParityArgs) -> anyhow::Result<ExitCode> {
    let inputs = ParityInputs {
        scenario: args.scenario.clone(),
        policy: args.policy.clone(),
        record: args.record.clone(),
        arrivals: args.arrivals.clone(),
        seeds: args.seeds,
    };
    let result = parity::run(&inputs)?;
    if let Some(out) = &args.out {
        result.write(out, args.force, &inputs)?;
    }
    let r = &result.report;
    println!(
        "parity {} ({} policy, arrivals from {}):",
        r.record, r.policy, r.arrivals
    );
    println!(
        "  ticks compared      {} ({} with failed reads not compared)",
        r.ticks, r.ticks_failed_reads
    );
    println!("  same action         {:.1} %", r.same_action_share * 100.0);
    println!(
        "  desired count gap   at most {} task(s) (first at {:.0} s)",
        r.max_desired_gap, r.max_desired_gap_at_s
    );
    println!(
        "  scale-outs / -ins   live {} / {}, simulated {} / {}",
        r.live_scale_out, r.live_scale_in, r.sim_scale_out, r.sim_scale_in
    );
    println!(
        "  backlog gap         mean {:.2} messages (live peak {})",
        r.mean_backlog_gap, r.live_backlog_max
    );
    println!(
        "  live tick interval  mean {:.1} ms, longest {:.1} ms",
        r.live_tick_interval_mean_ms, r.live_tick_interval_max_ms
    );
    if let Some(b) = &r.band {
        println!(
            "  inside the band     desired {:.1} %, backlog {:.1} % of ticks ({} replays; a run of this plant itself lands inside {:.1} % of the time)",
            b.desired_inside_share * 100.0,
            b.backlog_inside_share * 100.0,
            b.seeds,
            b.nominal_coverage * 100.0
        );
    }
    for sh in &r.shadows {
        let band = sh.desired_inside_share.map_or_else(String::new, |b| {
            format!(", {:.1} % inside the band", b * 100.0)
        });
        println!(
            "  shadow {:<12} {} ticks: same desired {:.1} %, gap at most {}{band}",
            sh.name,
            sh.ticks,
            sh.same_desired_share * 100.0,
            sh.max_desired_gap
        );
    }
    if !r.shadow_columns_not_compared.is_empty() {
        println!(
            "  not compared        {}: the policy (--policy) has no [[shadow]] of that name; give the live policy file the run used",
            r.shadow_columns_not_compared.join(", ")
        );
    }
    Ok(ExitCode::SUCCESS)
}
