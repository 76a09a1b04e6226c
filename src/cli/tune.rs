//! `stepscale tune` and `stepscale tune merge`: search a policy space, or join a search's shards.

use std::io::IsTerminal as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::{AtomicUsize, Ordering};

use anyhow::{bail, Context};
use stepscale_sim::staged::OutputRules;
use stepscale_sim::timefmt::{self, TimeFormat};
use stepscale_sim::tune::{self, report, Constraint, Goals, Plan, Search, Space, TuneSpec};
use stepscale_sim::Backtest;

use super::backtest::ScenarioArgs;
use super::signals;

/// Exit code when no candidate meets the constraints.
const NO_FEASIBLE: u8 = 2;
/// Exit code when the search was stopped (SIGINT/SIGTERM) and its partial results written.
const STOPPED: u8 = 130;

/// Arguments of `stepscale tune`.
#[derive(Debug, clap::Args)]
#[command(args_conflicts_with_subcommands = true, subcommand_negates_reqs = true)]
pub struct TuneArgs {
    #[command(subcommand)]
    merge: Option<TuneCommand>,
    #[command(flatten)]
    scenario: Option<ScenarioArgs>,
    /// The space: a policy file in which numbers may be ranges ({ min, max [, log | step] }
    /// or { values = [...] }).
    #[arg(long, required = true)]
    space: Option<PathBuf>,
    /// A numeric key of summary.json to minimise (mean over seeds).
    #[arg(long, default_value = "cost_usd")]
    objective: String,
    /// KEY<=VALUE (also <, >=, >) over summary.json keys; repeatable; holds on the worst seed.
    #[arg(long = "constraint")]
    constraints: Vec<String>,
    /// Number of candidates.
    #[arg(long, default_value_t = 200)]
    budget: usize,
    /// Plant seeds per candidate (the scenario's seed and the next ones).
    #[arg(long, default_value_t = 1)]
    seeds: u32,
    /// random, grid or refine (random first, then rounds around the best; not shardable).
    #[arg(long, default_value = "refine", value_parser = parse_search)]
    search: Search,
    /// Tune on arrivals before this time (RFC 3339 or epoch seconds); report the part after it
    /// as a hold-out.
    #[arg(long)]
    train_until: Option<String>,
    /// Evaluate only shard I of N (I from 0), or auto/N to take I from
    /// AWS_BATCH_JOB_ARRAY_INDEX or JOB_COMPLETION_INDEX; join shards with `tune merge`.
    #[arg(long)]
    shard: Option<String>,
    /// Worker threads (default: one per core). Outputs do not depend on it.
    #[arg(long)]
    threads: Option<usize>,
    /// With a services file as --scenario: the pipeline stage to tune, on the arrivals the
    /// stages before it send (simulated once). The last stage of a chain, under no budget.
    #[arg(long, value_name = "NAME")]
    service: Option<String>,
}

/// The scenario to tune: `--scenario` itself, or with a services file the stage `--service`
/// as the chain feeds it. Returns the backtest and the files it reads.
fn tuned_backtest(
    s: &ScenarioArgs,
    service: Option<&str>,
) -> anyhow::Result<(Backtest, Vec<PathBuf>)> {
    if !stepscale_sim::multi::is_services_file(&s.scenario) {
        if let Some(name) = service {
            bail!(
                "--service {name}: picks a stage of a services file ([[services]]), and {} is one scenario; leave --service out",
                s.scenario.display()
            );
        }
        let backtest = Backtest::prepare(&s.scenario, &s.overrides(None))?;
        let inputs = backtest.inputs();
        return Ok((backtest, inputs));
    }
    let Some(name) = service else {
        bail!(
            "{} is a services file ([[services]]): name the stage to tune with --service",
            s.scenario.display()
        );
    };
    if let Some(flag) = s.one_scenario_flag() {
        bail!(
            "{flag} applies to one scenario, and {} is a services file: set it in the stage's scenario",
            s.scenario.display()
        );
    }
    let multi = stepscale_sim::multi::MultiBacktest::prepare(&s.scenario, s.seed)?;
    let backtest = multi.stage(name)?;
    Ok((backtest, multi.inputs()))
}

#[derive(Debug, clap::Subcommand)]
enum TuneCommand {
    /// Join the folders of `tune --shard I/N` runs into the files one run would write.
    Merge {
        /// Shard folders.
        #[arg(required = true)]
        dirs: Vec<PathBuf>,
        /// Output folder.
        #[arg(long)]
        out: PathBuf,
        /// Replace `--out` even when StepScale did not write it.
        #[arg(long)]
        force: bool,
    },
}

fn parse_search(s: &str) -> Result<Search, String> {
    match s {
        "random" => Ok(Search::Random),
        "grid" => Ok(Search::Grid),
        "refine" => Ok(Search::Refine),
        _ => Err(format!("{s:?}: expected random, grid or refine")),
    }
}

/// Parses `I/N` or `auto/N`.
fn parse_shard(s: &str) -> anyhow::Result<(usize, usize)> {
    let Some((i, n)) = s.split_once('/') else {
        bail!("--shard {s}: expected I/N (for example 0/4) or auto/N");
    };
    let n: usize = n
        .trim()
        .parse()
        .ok()
        .filter(|n| *n >= 1)
        .with_context(|| format!("--shard {s}: N must be a whole number of at least 1"))?;
    let i = if i.trim() == "auto" {
        let (var, value) = ["AWS_BATCH_JOB_ARRAY_INDEX", "JOB_COMPLETION_INDEX"]
            .iter()
            .find_map(|v| std::env::var(v).ok().map(|x| (*v, x)))
            .with_context(|| {
                format!("--shard {s}: neither AWS_BATCH_JOB_ARRAY_INDEX nor JOB_COMPLETION_INDEX is set")
            })?;
        value
            .trim()
            .parse()
            .ok()
            .with_context(|| format!("--shard {s}: {var} = {value:?} is not a whole number"))?
    } else {
        i.trim()
            .parse()
            .ok()
            .with_context(|| format!("--shard {s}: I must be a whole number"))?
    };
    if i >= n {
        bail!("--shard {s}: the index {i} must be below the shard count {n}");
    }
    Ok((i, n))
}

/// Prints progress: a bar on a terminal, otherwise a line at every tenth.
fn progress(total: usize) -> (impl Fn() + Sync, Option<indicatif::ProgressBar>) {
    let bar = std::io::stderr().is_terminal().then(|| {
        let b = indicatif::ProgressBar::new(total as u64);
        if let Ok(style) = indicatif::ProgressStyle::with_template(
            "{elapsed_precise} [{bar:40}] {pos}/{len} candidates ({per_sec}, eta {eta})",
        ) {
            b.set_style(style.progress_chars("=> "));
        }
        b
    });
    let done = AtomicUsize::new(0);
    let b = bar.clone();
    let tick = move || {
        let n = done.fetch_add(1, Ordering::Relaxed) + 1;
        if let Some(b) = &b {
            b.inc(1);
        } else {
            let step = total.div_ceil(10).max(1);
            if n.is_multiple_of(step) || n == total {
                eprintln!("tune: {n}/{total} candidates evaluated");
            }
        }
    };
    (tick, bar)
}

/// Runs `tune` (or `tune merge`).
pub fn run(args: &TuneArgs) -> anyhow::Result<ExitCode> {
    if let Some(TuneCommand::Merge { dirs, out, force }) = &args.merge {
        // An interrupt removes the staging folder instead of leaving it behind.
        signals::install();
        return merge(dirs, out, *force);
    }
    let (Some(s), Some(space_path)) = (&args.scenario, &args.space) else {
        bail!("tune needs --scenario, --space and --out (or `tune merge`)");
    };
    // Everything the user gave is checked before any simulation runs.
    let constraints = args
        .constraints
        .iter()
        .map(|c| Constraint::parse(c).map_err(|rule| anyhow::anyhow!("--constraint {c:?}: {rule}")))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let goals = Goals::new(&args.objective, constraints)
        .map_err(|rule| anyhow::anyhow!("--objective {}: {rule}", args.objective))?;
    if args.budget == 0 || args.budget > 1_000_000 {
        bail!("--budget {}: must be between 1 and 1000000", args.budget);
    }
    if args.seeds == 0 || args.seeds > 100 {
        bail!("--seeds {}: must be between 1 and 100", args.seeds);
    }
    let shard = args.shard.as_deref().map(parse_shard).transpose()?;
    if shard.is_some() && args.search == Search::Refine {
        bail!("--shard needs --search random or grid: refine's rounds depend on each other");
    }
    let space = Space::load(space_path)?;
    let (backtest, mut inputs) = tuned_backtest(s, args.service.as_deref())?;
    inputs.push(space_path.clone());
    let rules = OutputRules {
        force: s.force,
        inputs,
    };
    stepscale_sim::staged::check_target(&s.out, &rules)?;
    let train_until_us = args
        .train_until
        .as_deref()
        .map(|t| {
            timefmt::parse(t, TimeFormat::Auto)
                .map_err(|rule| anyhow::anyhow!("--train-until {t:?}: {rule}"))
        })
        .transpose()?;
    let plan = Plan::new(&backtest, args.seeds, train_until_us)?;
    let spec = TuneSpec {
        scenario: backtest.scenario.name.clone(),
        space_path: space_path.display().to_string(),
        space_text: std::fs::read_to_string(space_path)
            .with_context(|| format!("reading {}", space_path.display()))?,
        goals,
        budget: args.budget,
        seeds: args.seeds,
        search: args.search,
        train_until: train_until_us.map(stepscale_engine::time::rfc3339_secs),
        seed: backtest.scenario.seed,
    };
    let total = shard.map_or(args.budget, |(i, n)| (i..args.budget).step_by(n).count());
    let (tick, bar) = progress(total);
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(args.threads.unwrap_or(0))
        .build()
        .context("starting the worker threads")?;
    signals::install();
    signals::set_graceful(true);
    let result =
        pool.install(|| tune::run(&plan, &space, spec, shard, signals::stop_flag(), &tick));
    signals::set_graceful(false);
    if let Some(b) = bar {
        b.finish_and_clear();
    }
    if shard.is_some() {
        report::write_shard(&result, &s.out, &rules)?;
        println!(
            "shard {}: {} candidates evaluated{}; wrote {}/{}",
            args.shard.as_deref().unwrap_or_default(),
            result.evaluated.len(),
            if result.complete {
                ""
            } else {
                " (stopped early)"
            },
            &s.out.display(),
            report::SHARD_FILE
        );
        return Ok(if result.complete {
            ExitCode::SUCCESS
        } else {
            ExitCode::from(STOPPED)
        });
    }
    finish(&result, &space, &s.out, &rules)
}

fn finish(
    result: &tune::TuneRun,
    space: &Space,
    out: &Path,
    rules: &OutputRules,
) -> anyhow::Result<ExitCode> {
    let rep = report::write(result, space, out, rules)?;
    print!("{}", rep.text);
    println!(
        "wrote {}/{{results.csv,pareto.csv,pareto.png,pareto.svg,best.toml,best.json}}",
        out.display()
    );
    Ok(if !rep.complete {
        ExitCode::from(STOPPED)
    } else if rep.feasible {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(NO_FEASIBLE)
    })
}

fn merge(dirs: &[PathBuf], out: &Path, force: bool) -> anyhow::Result<ExitCode> {
    let mut shards = Vec::new();
    let mut inputs = Vec::new();
    for d in dirs {
        let file = d.join(report::SHARD_FILE);
        let text = std::fs::read_to_string(&file).with_context(|| {
            format!(
                "reading {} (is {} a `tune --shard` folder?)",
                file.display(),
                d.display()
            )
        })?;
        let run: tune::TuneRun = serde_json::from_str(&text).with_context(|| {
            format!(
                "{}: not a shard written by `stepscale tune --shard`",
                file.display()
            )
        })?;
        shards.push(run);
        inputs.push(file);
    }
    let merged = tune::merge(shards)?;
    let space = Space::parse(&merged.spec.space_text, Path::new(&merged.spec.space_path))?;
    finish(&merged, &space, out, &OutputRules { force, inputs })
}
