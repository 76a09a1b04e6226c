#!/usr/bin/env python3
"""StepScale against what AWS or KEDA would do, on every shipped scenario: the table in sim/README.md.

For each scenario it runs `stepscale compare --against all` (StepScale's `slo` untuned and the
reference policies at their documented defaults, derived from the scenario), then `stepscale
tune` over each kind's own parameters (the cheapest that keeps the p99 wait within the
scenario's SLO), and backtests every policy file so that every figure comes from a
`summary.json`. Writes OUT/table.md (the table in sim/README.md), OUT/table.csv and every run's folder.

    python3 benches/references.py [--bin target/release/stepscale] [--out DIR] [--budget N]
"""

import argparse
import csv
import json
import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
KINDS = ["slo", "aws_target_tracking", "aws_step_scaling", "keda"]
COLUMNS = [
    "cost_usd",
    "wait_p99_s",
    "slo_violation_s",
    "direction_flips",
    "reaction_mean_s",
]


def run(binary, *args, ok=(0,)):
    done = subprocess.run([binary, *args], cwd=ROOT, capture_output=True, text=True)
    if done.returncode not in ok:
        sys.exit(f"{' '.join(args)}: exit {done.returncode}\n{done.stderr}")
    return done.returncode


def summary(binary, scenario, policy, out):
    args = ["backtest", "--scenario", str(scenario), "--out", str(out), "--force"]
    if policy is not None:
        args += ["--policy", str(policy)]
    run(binary, *args)
    return json.loads((out / "summary.json").read_text())


def ranged(text, key, make):
    """Replaces `key = <number>` lines with the range `make(number)` returns."""

    def sub(m):
        return f"{m.group(1)} = {make(float(m.group(2)))}"

    return re.sub(rf"^({key}) = ([0-9.eE+-]+)$", sub, text, flags=re.M)


def log_range(v):
    return f"{{ min = {v / 20:.6g}, max = {v * 2:.6g}, log = true }}"


STEPS = "{ min = 0, max = 600, step = 60 }"


def space(kind, derived):
    """The search space over the kind's own parameters, around its derived defaults."""
    text = derived
    if kind == "slo":
        # The wait goal the policy sizes for may sit below the scenario's SLO.
        text = ranged(text, "wait_secs", lambda v: f"{{ min = {v / 10:.6g}, max = {v:.6g}, log = true }}")
        text = ranged(text, "quantile", lambda v: "{ min = 0.5, max = 0.999 }")
        text = ranged(text, "scale_in_stabilization_secs", lambda v: "{ min = 0, max = 1800, step = 60 }")
        text = ranged(text, "scale_in_cooldown_secs", lambda v: STEPS)
    elif kind == "aws_target_tracking":
        text = ranged(text, "target_value", log_range)
        text = ranged(text, "scale_out_cooldown_secs", lambda v: STEPS)
        text = ranged(text, "scale_in_cooldown_secs", lambda v: STEPS)
    elif kind == "aws_step_scaling":
        text = ranged(text, "scale_out_threshold", log_range)
        text = ranged(text, "scale_in_threshold", lambda v: f"{{ min = 0, max = {v:.6g} }}")
        text = ranged(text, "scale_out_cooldown_secs", lambda v: STEPS)
        text = ranged(text, "scale_in_cooldown_secs", lambda v: STEPS)
    elif kind == "keda":
        text = ranged(text, "queue_length", log_range)
        text = ranged(text, "polling_interval_secs", lambda v: "{ values = [5, 15, 30] }")
        text = ranged(text, "cooldown_period_secs", lambda v: STEPS)
        text = ranged(text, "scale_down_stabilization_secs", lambda v: STEPS)
    return text


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    target = Path(os.environ.get("CARGO_TARGET_DIR", ROOT / "target"))
    ap.add_argument("--bin", default=str(target / "release" / "stepscale"))
    ap.add_argument("--out", default="/tmp/stepscale-references")
    ap.add_argument("--budget", type=int, default=100)
    a = ap.parse_args()
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    rows = []
    for scenario in sorted((ROOT / "scenarios").glob("*.toml")):
        name = scenario.stem
        base = out / name
        base.mkdir(exist_ok=True)
        cmp = base / "compare"
        run(a.bin, "compare", "--scenario", str(scenario), "--against", "all", "--out", str(cmp), "--force")
        own = summary(a.bin, scenario, None, base / "scenario")
        slo = own["slo_wait_s"]
        rows.append((name, "scenario's own", "as shipped", own))
        for kind in KINDS:
            derived = cmp / f"{kind}.toml"
            rows.append((name, kind, "defaults", summary(a.bin, scenario, derived, base / f"{kind}-defaults")))
            sp = base / f"{kind}-space.toml"
            sp.write_text(space(kind, derived.read_text()))
            tuned = base / f"{kind}-tune"
            code = run(
                a.bin, "tune", "--scenario", str(scenario), "--space", str(sp),
                "--constraint", f"wait_p99_s<={slo}", "--budget", str(a.budget),
                "--threads", "2", "--out", str(tuned), "--force", ok=(0, 2),
            )
            s = summary(a.bin, scenario, tuned / "best.toml", base / f"{kind}-tuned")
            rows.append((name, kind, "tuned" if code == 0 else "tuned (none met p99)", s))
            print(f"{name} {kind} done", file=sys.stderr)
    with open(out / "table.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["scenario", "policy", "setting", *COLUMNS, "messages", "processed"])
        for name, kind, setting, s in rows:
            w.writerow([name, kind, setting, *(s[c] for c in COLUMNS), s["messages"], s["processed"]])
    lines = [
        "| scenario | policy | setting | cost $ | p99 wait s | SLO violated s | never served | flips | burst → first task s |",
        "|---|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    for name, kind, setting, s in rows:
        unserved = max(0.0, s["messages"] - s["processed"])
        reaction = f"{s['reaction_mean_s']:.0f}" if s["bursts_answered"] else "–"
        if s["bursts_unanswered"]:
            reaction += f" ({s['bursts_unanswered']} unanswered)"
        lines.append(
            f"| {name} | {kind} | {setting} | {s['cost_usd']:.2f} | {s['wait_p99_s']:.1f} | "
            f"{s['slo_violation_s']:.0f} | {unserved:.0f} | {s['direction_flips']} | {reaction} |"
        )
    (out / "table.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
