//! End to end: `stepscale backtest` on every shipped scenario against checked-in golden
//! summaries, byte-identical reruns whatever the thread count, and bad input refused whole.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn backtest(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_stepscale"));
    cmd.arg("backtest").args(args).current_dir(root());
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().expect("the stepscale binary runs")
}

fn scenarios() -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(root().join("scenarios"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .collect();
    v.sort();
    v
}

#[test]
fn every_scenario_matches_its_golden_summary() {
    let update = std::env::var_os("UPDATE_GOLDEN").is_some();
    let list = scenarios();
    assert!(list.len() >= 7, "the shipped scenarios: {list:?}");
    for scenario in list {
        let name = scenario.file_stem().unwrap().to_string_lossy().into_owned();
        let out_dir = tempfile::tempdir().unwrap();
        let out_path = out_dir.path().join(&name);
        let out = backtest(
            &[
                "--scenario",
                scenario.to_str().unwrap(),
                "--out",
                out_path.to_str().unwrap(),
            ],
            &[],
        );
        assert!(
            out.status.success(),
            "{name}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        for file in ["summary.json", "timeseries.csv", "plot.png", "plot.svg"] {
            assert!(out_path.join(file).is_file(), "{name}: {file} written");
        }
        let got = std::fs::read_to_string(out_path.join("summary.json")).unwrap();
        let golden = root()
            .join("tests/golden")
            .join(format!("{name}.summary.json"));
        if update {
            std::fs::write(&golden, &got).unwrap();
        }
        let want = std::fs::read_to_string(&golden)
            .unwrap_or_else(|_| panic!("{}: missing; run with UPDATE_GOLDEN=1", golden.display()));
        assert_eq!(
            got,
            want,
            "{name}: summary differs from {}",
            golden.display()
        );
        let summary: serde_json::Value = serde_json::from_str(&got).unwrap();
        let messages = summary["messages"].as_f64().unwrap();
        assert!(messages > 0.0, "{name}: messages arrived");
        assert!(
            (summary["processed"].as_f64().unwrap() - messages).abs() < 1e-6 * messages,
            "{name}: every message processed by the end of the drain"
        );
    }
}

fn files(dir: &Path) -> Vec<(String, Vec<u8>)> {
    ["summary.json", "timeseries.csv", "plot.png", "plot.svg"]
        .iter()
        .map(|f| ((*f).to_string(), std::fs::read(dir.join(f)).unwrap()))
        .collect()
}

#[test]
fn same_scenario_and_seed_give_byte_identical_outputs_at_any_thread_count() {
    let tmp = tempfile::tempdir().unwrap();
    for scenario in ["scenarios/azure-llm.toml", "scenarios/bursts.toml"] {
        let a = tmp.path().join("a");
        let b = tmp.path().join("b");
        let oa = backtest(
            &["--scenario", scenario, "--out", a.to_str().unwrap()],
            &[("POLARS_MAX_THREADS", "1")],
        );
        let ob = backtest(
            &["--scenario", scenario, "--out", b.to_str().unwrap()],
            &[("POLARS_MAX_THREADS", "2")],
        );
        assert!(oa.status.success() && ob.status.success());
        assert_eq!(files(&a), files(&b), "{scenario}: outputs differ");
        // Another seed gives another run.
        let c = tmp.path().join("c");
        let oc = backtest(
            &[
                "--scenario",
                scenario,
                "--seed",
                "999",
                "--out",
                c.to_str().unwrap(),
            ],
            &[],
        );
        assert!(oc.status.success());
        assert_ne!(files(&a)[0], files(&c)[0], "{scenario}: the seed matters");
    }
}

fn refused(args: &[&str], needles: &[&str]) {
    let tmp = tempfile::tempdir().unwrap();
    let out_dir = tmp.path().join("out");
    let mut all: Vec<&str> = args.to_vec();
    let out_str = out_dir.to_str().unwrap().to_string();
    all.extend(["--out", &out_str]);
    let out = backtest(&all, &[]);
    assert!(!out.status.success(), "{args:?} should fail");
    let err = String::from_utf8_lossy(&out.stderr);
    for n in needles {
        assert!(err.contains(n), "{args:?}: {n:?} missing from: {err}");
    }
    assert!(!err.contains("panicked"), "{err}");
    assert!(
        !out_dir.exists(),
        "{args:?}: no output folder after a failure"
    );
    let leftovers: Vec<_> = std::fs::read_dir(tmp.path()).unwrap().collect();
    assert!(
        leftovers.is_empty(),
        "{args:?}: staging left behind: {leftovers:?}"
    );
}

#[test]
fn bad_traces_are_refused_with_file_line_value_and_rule() {
    let tmp = tempfile::tempdir().unwrap();
    let write = |name: &str, text: &str| {
        let p = tmp.path().join(name);
        std::fs::write(&p, text).unwrap();
        p.to_str().unwrap().to_string()
    };
    let unsorted = write(
        "unsorted.csv",
        "time,count\n2026-01-01 00:01:00,5\n2026-01-01 00:00:00,3\n",
    );
    let negative = write(
        "negative.csv",
        "time,count\n2026-01-01 00:00:00,5\n2026-01-01 00:01:00,-3\n",
    );
    let text = write("text.csv", "time,count\n2026-01-01 00:00:00,five\n");
    let dup = write(
        "dup.csv",
        "time,count\n2026-01-01 00:00:00,5\n2026-01-01 00:00:00,6\n",
    );
    let badtime = write(
        "badtime.csv",
        "time,count\n2026-01-01 00:00:00,5\nlater,6\n",
    );
    let s = "scenarios/worldcup98.toml";
    let vc = ["--time-column", "time", "--value-column", "count"];
    for (trace, needles) in [
        (&unsorted, vec!["unsorted.csv", "line 3", "time order"]),
        (&negative, vec!["negative.csv", "line 3", "-3", ">= 0"]),
        (&text, vec!["text.csv", "line 2", "five", "number"]),
        (&dup, vec!["dup.csv", "line 3", "duplicate"]),
        (&badtime, vec!["badtime.csv", "line 3", "later"]),
    ] {
        let mut args = vec!["--scenario", s, "--trace", trace.as_str()];
        args.extend(vc);
        refused(&args, &needles);
    }
    let mut args = vec![
        "--scenario",
        s,
        "--trace",
        unsorted.as_str(),
        "--time-column",
        "when",
    ];
    args.extend(["--value-column", "count"]);
    refused(&args, &["no column `when`", "time, count"]);
}

#[test]
fn bad_scenarios_are_refused_with_key_value_and_rule() {
    let tmp = tempfile::tempdir().unwrap();
    let base = std::fs::read_to_string(root().join("scenarios/steady.toml")).unwrap();
    for (name, text, needles) in [
        (
            "unknown-key",
            base.replace("seed = 1", "seed = 1\nsead = 2"),
            vec!["sead", "unknown-key.toml"],
        ),
        (
            "zero-concurrency",
            base.replace("initial_tasks = 5", "initial_tasks = 5\nconcurrency = 0"),
            vec!["plant.concurrency", "0", "at least 1"],
        ),
        (
            "short-period",
            format!("{base}\n[controller]\nperiod_secs = 0.5\n"),
            vec!["controller.period_secs", "0.5", ">= 1"],
        ),
        (
            "bad-policy",
            base.replace(
                "target_backlog_per_task = 1.2",
                "target_backlog_per_task = -1.0",
            ),
            vec!["target_backlog_per_task", "-1", "> 0"],
        ),
    ] {
        let path = tmp.path().join(format!("{name}.toml"));
        std::fs::write(&path, text).unwrap();
        refused(&["--scenario", path.to_str().unwrap()], &needles);
    }
}

#[test]
fn compare_overlays_several_policies_in_one_table_and_plot() {
    let tmp = tempfile::tempdir().unwrap();
    let out_dir = tmp.path().join("cmp");
    let out = Command::new(env!("CARGO_BIN_EXE_stepscale"))
        .current_dir(root())
        .args([
            "compare",
            "--scenario",
            "scenarios/spike.toml",
            "--policy",
            "scenarios/policies/step.toml",
            "--policy",
            "scenarios/policies/target.toml",
            "--policy",
            "scenarios/policies/seed-v02.toml",
            "--out",
            out_dir.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let table = std::fs::read_to_string(out_dir.join("compare.csv")).unwrap();
    let rows: Vec<&str> = table.lines().collect();
    assert_eq!(rows.len(), 4, "a header and one row per policy: {table}");
    for (row, kind) in rows[1..].iter().zip(["step", "target", "seed"]) {
        assert!(row.split(',').nth(1) == Some(kind), "{row}");
    }
    // Different policies, different outcomes on the same arrivals.
    assert_ne!(
        rows[1].split(',').nth(6),
        rows[2].split(',').nth(6),
        "{table}"
    );
    for f in ["compare.png", "compare.svg"] {
        assert!(
            std::fs::metadata(out_dir.join(f)).unwrap().len() > 10_000,
            "{f} drawn"
        );
    }
    // Four panels: the policies' cumulative cost under the other three.
    assert_eq!(png_size(&out_dir.join("compare.png")), (1600, 1450));
    let svg = std::fs::read_to_string(out_dir.join("compare.svg")).unwrap();
    assert!(svg.contains("Cost so far"), "no cost panel");
    let printed = String::from_utf8_lossy(&out.stdout);
    assert!(
        printed.contains("step") && printed.contains("target"),
        "{printed}"
    );
    // The printed table: aligned columns, figures rounded to two decimals; the CSV keeps
    // full precision.
    let lines: Vec<&str> = printed.lines().take(4).collect();
    assert!(
        lines
            .iter()
            .all(|l| l.chars().count() == lines[0].chars().count()),
        "{printed}"
    );
    for cell in lines[1..].iter().flat_map(|l| l.split_whitespace()) {
        let decimals = cell.split_once('.').map_or(0, |(_, f)| f.len());
        assert!(decimals <= 2, "{cell} in {printed}");
    }
    assert!(
        rows[1..]
            .iter()
            .flat_map(|r| r.split(','))
            .any(|c| c.split_once('.').is_some_and(|(_, f)| f.len() > 2)),
        "compare.csv keeps full precision: {table}"
    );
}

#[test]
fn a_trace_given_with_trace_is_named_in_the_summary_and_the_plot_title() {
    let tmp = tempfile::tempdir().unwrap();
    let trace = tmp.path().join("my-trace.csv");
    // 2026-01-05T00:00:00Z, epoch seconds, one arrival a row.
    let csv: String = std::iter::once("time".to_string())
        .chain((0..3_000_u64).map(|i| (1_767_571_200 + i / 5).to_string()))
        .map(|l| l + "\n")
        .collect();
    std::fs::write(&trace, csv).unwrap();
    let out_path = tmp.path().join("out");
    let out = backtest(
        &[
            "--scenario",
            "scenarios/diurnal.toml",
            "--trace",
            trace.to_str().unwrap(),
            "--time-format",
            "epoch_seconds",
            "--out",
            out_path.to_str().unwrap(),
        ],
        &[],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let printed = String::from_utf8_lossy(&out.stdout);
    assert!(
        printed.starts_with("diurnal with trace my-trace.csv ("),
        "{printed}"
    );
    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out_path.join("summary.json")).unwrap())
            .unwrap();
    assert_eq!(summary["scenario"], "diurnal");
    assert_eq!(summary["trace"], "my-trace.csv");
    assert_eq!(summary["messages"], 3000.0);
    let svg = std::fs::read_to_string(out_path.join("plot.svg")).unwrap();
    assert!(
        svg.contains("diurnal with trace my-trace.csv"),
        "the plot title"
    );
}

#[test]
fn time_format_accepts_underscores_and_dashes() {
    for spelling in ["epoch-seconds", "epoch_seconds", "date_time"] {
        let tmp = tempfile::tempdir().unwrap();
        let out = backtest(
            &[
                "--scenario",
                "scenarios/worldcup98.toml",
                "--time-format",
                spelling,
                "--resolution",
                "86400",
                "--out",
                tmp.path().join("o").to_str().unwrap(),
            ],
            &[],
        );
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            !stderr.contains("expected auto, date-time or epoch-seconds"),
            "{spelling}: {stderr}"
        );
    }
    let out = backtest(
        &[
            "--scenario",
            "scenarios/spike.toml",
            "--time-format",
            "epochs",
            "--out",
            "/nonexistent/o",
        ],
        &[],
    );
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("expected auto, date-time or epoch-seconds")
    );
}

/// (width, height) from a PNG's IHDR chunk.
fn png_size(path: &Path) -> (u32, u32) {
    let bytes = std::fs::read(path).unwrap();
    assert_eq!(&bytes[1..4], b"PNG", "{} is not a PNG", path.display());
    let be =
        |at: usize| u32::from_be_bytes([bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]]);
    (be(16), be(20))
}

#[test]
fn plot_cost_adds_a_cumulative_cost_panel() {
    let tmp = tempfile::tempdir().unwrap();
    for (flag, height, panel) in [(None, 1100, false), (Some("--plot-cost"), 1450, true)] {
        let dir = tmp.path().join(if panel { "cost" } else { "plain" });
        let mut args = vec![
            "--scenario",
            "scenarios/spike.toml",
            "--out",
            dir.to_str().unwrap(),
        ];
        args.extend(flag);
        let out = backtest(&args, &[]);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(png_size(&dir.join("plot.png")), (1600, height));
        let svg = std::fs::read_to_string(dir.join("plot.svg")).unwrap();
        assert_eq!(svg.contains("Cost so far"), panel);
        // The panel changes the picture, never the figures.
        assert!(std::fs::read_to_string(dir.join("summary.json"))
            .unwrap()
            .contains("cost_usd"));
    }
    assert_eq!(
        std::fs::read(tmp.path().join("plain/summary.json")).unwrap(),
        std::fs::read(tmp.path().join("cost/summary.json")).unwrap()
    );
    assert_eq!(
        std::fs::read(tmp.path().join("plain/timeseries.csv")).unwrap(),
        std::fs::read(tmp.path().join("cost/timeseries.csv")).unwrap()
    );
}

#[test]
fn a_services_file_backtests_every_service_with_its_budget() {
    let tmp = tempfile::tempdir().unwrap();
    let out_dir = tmp.path().join("out");
    let out = backtest(
        &[
            "--scenario",
            "scenarios/services/budget.toml",
            "--out",
            out_dir.to_str().unwrap(),
        ],
        &[],
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("budget cluster"), "{stdout}");
    let summary: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out_dir.join("summary.json")).unwrap()).unwrap();
    let budget = &summary["budgets"][0];
    assert!(budget["peak"].as_f64().unwrap() <= budget["capacity"].as_f64().unwrap());
    for name in ["orders", "reports"] {
        for file in ["summary.json", "timeseries.csv", "plot.png", "plot.svg"] {
            assert!(
                out_dir.join(format!("{name}.{file}")).is_file(),
                "{name}.{file}"
            );
        }
    }
    assert_eq!(png_size(&out_dir.join("plot.png")), (1600, 1100));
    // A flag for one scenario is refused, and nothing is written.
    refused(
        &[
            "--scenario",
            "scenarios/services/budget.toml",
            "--policy",
            "scenarios/policies/slo.toml",
        ],
        &["--policy applies to one scenario", "services file"],
    );
}
