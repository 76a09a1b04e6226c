//! Oracle: the discrete mode against Erlang C (M/M/c mean wait and probability of waiting).

use std::io::Write;

use stepscale_sim::{Backtest, Overrides};

/// Erlang C: probability that an arrival waits, for c servers at offered load a = λ/μ.
fn erlang_c(c: u32, a: f64) -> f64 {
    let rho = a / f64::from(c);
    let mut term = 1.0;
    let mut sum = 1.0;
    for k in 1..c {
        term *= a / f64::from(k);
        sum += term;
    }
    let last = term * a / f64::from(c) / (1.0 - rho);
    last / (sum + last)
}

/// Runs an M/M/c scenario (fixed fleet: min = max = c) and returns (mean wait, P(wait > 0)).
fn simulate(lambda: f64, mean_service: f64, c: u32, seed: u64, secs: u64) -> (f64, f64) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("mmc.toml");
    let text = format!(
        r#"
name = "mmc"
seed = {seed}
fidelity = "discrete"
duration_secs = {secs}
drain_limit_secs = 3600

[arrivals]
poisson = true
[[arrivals.synthetic]]
kind = "constant"
rate_per_s = {lambda}

[plant]
initial_tasks = {c}
service_time = {{ kind = "exponential", mean_secs = {mean_service} }}

[scaler.guards]
min_tasks = {c}
max_tasks = {c}
"#
    );
    std::fs::File::create(&path)
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let backtest = Backtest::prepare(&path, &Overrides::default()).unwrap();
    let (outcome, _) = backtest.simulate();
    let waited = 1.0 - outcome.waits.fraction_at_most_us(0);
    (outcome.waits.mean_secs(), waited)
}

#[test]
fn discrete_mode_matches_erlang_c() {
    // (λ per s, mean service s, servers): light, moderate and heavy load.
    for (lambda, mean_service, c) in [(8.0, 1.0, 10), (4.0, 0.5, 3), (16.0, 1.0, 18)] {
        let mu = 1.0 / mean_service;
        let a = lambda / mu;
        let pw = erlang_c(c, a);
        let wq = pw / (f64::from(c) * mu - lambda);
        let seeds = [11u64, 22, 33, 44, 55];
        let runs: Vec<(f64, f64)> = seeds
            .iter()
            .map(|&s| simulate(lambda, mean_service, c, s, 20_000))
            .collect();
        let n = runs.len() as f64;
        let mean_w = runs.iter().map(|r| r.0).sum::<f64>() / n;
        let mean_p = runs.iter().map(|r| r.1).sum::<f64>() / n;
        let se_w =
            (runs.iter().map(|r| (r.0 - mean_w).powi(2)).sum::<f64>() / (n - 1.0) / n).sqrt();
        let se_p =
            (runs.iter().map(|r| (r.1 - mean_p).powi(2)).sum::<f64>() / (n - 1.0) / n).sqrt();
        // Four standard errors plus 2 % of the value: fails on a model error, not on noise.
        let tol_w = 4.0 * se_w + 0.02 * wq;
        let tol_p = 4.0 * se_p + 0.02 * pw;
        assert!(
            (mean_w - wq).abs() <= tol_w,
            "λ={lambda} c={c}: mean wait {mean_w:.4} s vs Erlang C {wq:.4} s (tolerance {tol_w:.4})"
        );
        assert!(
            (mean_p - pw).abs() <= tol_p,
            "λ={lambda} c={c}: P(wait) {mean_p:.4} vs Erlang C {pw:.4} (tolerance {tol_p:.4})"
        );
    }
}
