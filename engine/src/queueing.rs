//! The M/M/c queueing model (Erlang B and C) as pure, bounded functions for the `slo` policy.
//!
//! With Poisson arrivals at rate λ, c identical servers, exponential service at rate μ per
//! server and offered load a = λ/μ (in servers), the queue is stable only when c > a. Then:
//! - Erlang B, by the stable recursion B(0) = 1, B(k) = a·B(k−1) / (k + a·B(k−1));
//! - Erlang C, the probability that an arrival waits: C(c, a) = c·B / (c − a·(1 − B));
//! - the waiting time's tail: P(W > t) = C(c, a) · exp(−(cμ − λ)·t).
//!
//! Every function is total: NaN, infinite, zero and negative inputs give a documented answer
//! (the conservative one where there is a choice), never a panic, and every loop is bounded.
//! The recursion stops once B underflows to 0 (C is then 0 too), and for large loads it starts
//! at k₀ = a − 10·√a from the overload approximation B ≈ 1 − k₀/a instead of at 0: below the
//! load the recursion contracts by k/a per step, so the start's error is damped by about
//! exp(−10²/2) ≈ 2e−22 by the time k reaches a. The cost is then O(√a), not O(a), so a wild
//! arrival rate cannot stall a decision.

/// Loads above this start the recursion near the load (see the module doc); below it the
/// recursion starts at B(0) = 1, exactly as written.
const SHIFTED_START_LOAD: f64 = 100.0;

/// Standard deviations (√a) below the load at which a shifted recursion starts.
const SHIFTED_START_SIGMAS: f64 = 10.0;

/// Where the Erlang B recursion for load `a` starts when it must reach `c`: (k₀, B(k₀)).
fn recursion_start(c: u32, a: f64) -> (u32, f64) {
    if a <= SHIFTED_START_LOAD {
        return (0, 1.0);
    }
    let start = a.min(f64::from(c)) - SHIFTED_START_SIGMAS * a.sqrt();
    if start < 1.0 {
        return (0, 1.0);
    }
    // 1 <= `start` < c <= u32::MAX, so the truncating cast is floor(start).
    let k0 = start as u32;
    (k0, 1.0 - f64::from(k0) / a)
}

/// Erlang B: the probability that an arrival finds all `c` servers busy in M/M/c/c at load
/// `a` (λ/μ). 1 for c = 0 (a > 0); 0 for a <= 0; 1 for a NaN (conservative).
#[must_use]
pub fn erlang_b(c: u32, a: f64) -> f64 {
    if a.is_nan() {
        return 1.0;
    }
    if a <= 0.0 {
        return if c == 0 { 1.0 } else { 0.0 };
    }
    if a.is_infinite() {
        return 1.0;
    }
    let (k0, mut b) = recursion_start(c, a);
    for k in k0.saturating_add(1)..=c {
        b = a * b / (f64::from(k) + a * b);
        if b == 0.0 {
            // Underflowed: every later term is 0 as well.
            break;
        }
    }
    b
}

/// Erlang C: the probability that an arrival waits in M/M/c at load `a` (λ/μ). 1 when c <= a
/// (the queue is unstable: everyone waits) or a is NaN; 0 when a <= 0.
#[must_use]
pub fn erlang_c(c: u32, a: f64) -> f64 {
    if a.is_nan() {
        return 1.0;
    }
    if a <= 0.0 {
        return 0.0;
    }
    let servers = f64::from(c);
    if servers <= a {
        return 1.0;
    }
    let b = erlang_b(c, a);
    (servers * b / (servers - a * (1.0 - b))).clamp(0.0, 1.0)
}

/// P(W > t) in M/M/c with `c` servers, arrival rate `lambda` and service rate `mu` per server
/// (both per second), `t` in seconds: C(c, λ/μ) · exp(−(cμ − λ)·t).
///
/// 1 when the queue is unstable (c·μ <= λ), when t < 0 (every wait exceeds it), when μ <= 0
/// or when any input is NaN; 0 when λ <= 0.
#[must_use]
pub fn wait_tail_prob(c: u32, lambda: f64, mu: f64, t: f64) -> f64 {
    if lambda.is_nan() || mu.is_nan() || t.is_nan() {
        return 1.0;
    }
    if lambda <= 0.0 {
        return 0.0;
    }
    if mu <= 0.0 || t < 0.0 {
        return 1.0;
    }
    let a = lambda / mu;
    if f64::from(c) <= a {
        return 1.0;
    }
    let waits = erlang_c(c, a);
    if waits == 0.0 {
        // μ = ∞ lands here too, where (cμ − λ)·t would be ∞·0.
        return 0.0;
    }
    // c > a here, so the decay rate is positive; t = ∞ gives exp(−∞) = 0.
    let decay = (f64::from(c) - a) * mu * t;
    (waits * (-decay).exp()).clamp(0.0, 1.0)
}

/// The fewest servers c with P(W > t) <= `p_max` in M/M/c (arrival rate `lambda`, service
/// rate `mu` per server, both per second; `t` in seconds), c > λ/μ. `u32::MAX` when no count
/// fits a u32 or no count can meet it.
///
/// - λ <= 0: 0 (nothing arrives). μ = ∞ (λ > 0): 1 (one server, no wait).
/// - `p_max` >= 1: the smallest stable count, floor(a) + 1.
/// - NaN inputs, μ <= 0, `p_max` <= 0, λ = ∞ or a >= u32::MAX: `u32::MAX`, which the guards
///   then clamp to the maximum task count.
/// - t < 0 or NaN is taken as t = 0 (no wait at all: P(W > 0) = C(c, a)).
///
/// The search sweeps c upward from floor(a) + 1, carrying R(k) = 1/B(k) = 1 + (k/a)·R(k−1)
/// (the Erlang B recursion without a division). The condition C·exp(…) <= p is tested as
/// k·exp(…) <= p·(R·(k − a) + a), so no step divides, and a polynomial lower bound of the
/// exponential settles most steps without calling exp. A sweep beats galloping + bisection
/// here: each probe of a bisection would redo the O(c) recursion, while the sweep reuses it,
/// for O(c*) in all. It is bounded: it stops no
/// later than where C(k, a) alone drops below `p_max`, about a + √(2a·ln(1/p)) + ln(1/p)
/// steps, and never past `u32::MAX`.
#[must_use]
pub fn min_servers_for_wait_quantile(lambda: f64, mu: f64, t: f64, p_max: f64) -> u32 {
    if lambda.is_nan() || mu.is_nan() || p_max.is_nan() {
        return u32::MAX;
    }
    if lambda <= 0.0 {
        return 0;
    }
    if mu <= 0.0 || p_max <= 0.0 {
        return u32::MAX;
    }
    let a = lambda / mu;
    if a == 0.0 {
        return 1;
    }
    // NaN when λ and μ are both infinite.
    if a.is_nan() || a >= f64::from(u32::MAX) {
        return u32::MAX;
    }
    // 0 < a < u32::MAX, so the truncation is floor(a) (no libm call) and floor(a) + 1 fits.
    let first = a as u32 + 1;
    if p_max >= 1.0 {
        return first;
    }
    let mu_t = if t.is_nan() || t <= 0.0 { 0.0 } else { mu * t };

    // Often the smallest stable count already meets the goal, and a lower bound of R proves it
    // without the O(a) recursion: R(k) = 1 + (k/a)·R(k − 1) >= 1 + k/a, as every R >= 1. The
    // sweep's test below holds wherever this stricter one does (a relative margin of 1e-9
    // covers the rounding), so the answer is the same.
    {
        let kf = f64::from(first);
        let allowed = p_max * ((1.0 + kf * (1.0 / a)) * (kf - a) + a);
        let decay = (kf - a) * mu_t;
        let taylor = 1.0 + decay * (1.0 + decay * (0.5 + decay * (1.0 / 6.0)));
        let need = kf * (1.0 + 1e-9);
        if need <= allowed * taylor || need * (-decay).exp() <= allowed {
            return first;
        }
    }

    let (k0, b0) = recursion_start(first, a);
    let mut r = 1.0 / b0;
    let inv_a = 1.0 / a;
    for k in k0 + 1..first {
        r = 1.0 + f64::from(k) * inv_a * r;
    }
    // The test is k·exp(−x) <= allowed with x = (k − a)·μt >= 0 (`decay`). Since e^x >= 1 + x +
    // x²/2 + x³/6, k <= allowed·(that sum) proves it without an exp; only when that bound is not
    // enough is exp(−x) computed. Under a goal many service times long, almost no sweep needs
    // one. (An underflow of exp to 0 only means the tail is negligible, which the test accepts.)
    let mut k = first;
    loop {
        let kf = f64::from(k);
        r = 1.0 + kf * inv_a * r;
        if r.is_infinite() {
            return k;
        }
        let allowed = p_max * (r * (kf - a) + a);
        let decay = (kf - a) * mu_t;
        let taylor = 1.0 + decay * (1.0 + decay * (0.5 + decay * (1.0 / 6.0)));
        if kf <= allowed * taylor || kf * (-decay).exp() <= allowed {
            return k;
        }
        if k == u32::MAX {
            return u32::MAX;
        }
        k += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Published Erlang C values (and the exact rational sums, checked with Python's
    /// `fractions`): C(2, 1) = 1/3, C(10, 8) = 0.40918…, C(5, 4) = 0.55411…
    #[test]
    fn erlang_c_matches_published_values() {
        let cases = [
            (2, 1.0, 1.0 / 3.0),
            (10, 8.0, 0.409_180_150_796_443_5),
            (5, 4.0, 0.554_112_554_112_554_1),
            (1, 0.5, 0.5),
            (3, 2.0, 0.444_444_444_444_444_4),
            (20, 15.0, 0.160_429_387_416_923_6),
            (100, 90.0, 0.216_940_480_906_366_4),
            (50, 10.0, 1.865_908_407_221_855_2e-19),
        ];
        for (c, a, expected) in cases {
            let got = erlang_c(c, a);
            assert!(
                (got - expected).abs() <= 1e-12 * expected,
                "C({c}, {a}) = {got}, expected {expected}"
            );
        }
    }

    #[test]
    fn erlang_b_matches_its_closed_form() {
        // B(2, 1) = (1/2) / (1 + 1 + 1/2) = 0.2.
        assert!((erlang_b(2, 1.0) - 0.2).abs() < 1e-15);
        assert!((erlang_b(0, 3.0) - 1.0).abs() < 1e-15);
    }

    /// The shifted start for large loads agrees with the recursion from B(0) = 1.
    #[test]
    fn shifted_start_agrees_with_the_full_recursion() {
        for a in [150.0, 1_000.0, 12_345.6, 100_000.0] {
            let centre = a as u32;
            let spread = (12.0 * f64::sqrt(a)) as u32;
            for c in (centre - spread..centre + spread).step_by(29) {
                let mut b = 1.0;
                for k in 1..=c {
                    b = a * b / (f64::from(k) + a * b);
                }
                let fast = erlang_b(c, a);
                assert!(
                    (fast - b).abs() <= 1e-12 * b.max(1e-300),
                    "B({c}, {a}): {fast} vs {b}"
                );
            }
        }
    }

    #[test]
    fn large_loads_stay_cheap_and_sane() {
        let c = erlang_c(4_000_000_000, 3_999_000_000.0);
        assert!((0.0..=1.0).contains(&c), "{c}");
        let n = min_servers_for_wait_quantile(3.0e9, 1.0, 1.0, 0.01);
        assert!(n > 3_000_000_000 && n < 3_001_000_000, "{n}");
        // Huge server counts at a small load: the recursion stops once B underflows.
        assert!(erlang_c(u32::MAX, 1.0) <= 0.0);
    }

    // The edge answers are exact constants, so they compare exactly.
    #[allow(clippy::float_cmp)]
    #[test]
    fn edge_inputs_never_panic_and_stay_conservative() {
        assert_eq!(erlang_c(3, f64::NAN), 1.0);
        assert_eq!(erlang_c(3, -1.0), 0.0);
        assert_eq!(erlang_c(3, 0.0), 0.0);
        assert_eq!(erlang_c(0, 1.0), 1.0);
        assert_eq!(erlang_c(3, 3.0), 1.0);
        assert_eq!(erlang_c(3, f64::INFINITY), 1.0);

        assert_eq!(wait_tail_prob(3, f64::NAN, 1.0, 1.0), 1.0);
        assert_eq!(wait_tail_prob(3, 1.0, 0.0, 1.0), 1.0);
        assert_eq!(wait_tail_prob(3, 0.0, 1.0, 1.0), 0.0);
        assert_eq!(wait_tail_prob(3, 1.0, 1.0, -1.0), 1.0);
        assert_eq!(wait_tail_prob(3, 1.0, 1.0, f64::INFINITY), 0.0);
        assert_eq!(wait_tail_prob(3, 1.0, f64::INFINITY, 0.0), 0.0);
        assert_eq!(wait_tail_prob(2, 5.0, 1.0, 1.0), 1.0);

        for bad in [f64::NAN, -1.0, 0.0] {
            assert_eq!(min_servers_for_wait_quantile(1.0, bad, 1.0, 0.01), u32::MAX);
            assert_eq!(min_servers_for_wait_quantile(1.0, 1.0, 1.0, bad), u32::MAX);
        }
        assert_eq!(
            min_servers_for_wait_quantile(f64::NAN, 1.0, 1.0, 0.01),
            u32::MAX
        );
        assert_eq!(
            min_servers_for_wait_quantile(f64::INFINITY, 1.0, 1.0, 0.01),
            u32::MAX
        );
        assert_eq!(min_servers_for_wait_quantile(0.0, 1.0, 1.0, 0.01), 0);
        assert_eq!(min_servers_for_wait_quantile(-5.0, 1.0, 1.0, 0.01), 0);
        assert_eq!(
            min_servers_for_wait_quantile(5.0, f64::INFINITY, 0.0, 0.01),
            1
        );
        assert_eq!(min_servers_for_wait_quantile(7.5, 1.0, 1.0, 1.0), 8);
        // NaN and negative waits are taken as 0.
        let at_zero = min_servers_for_wait_quantile(8.0, 1.0, 0.0, 0.5);
        assert_eq!(
            min_servers_for_wait_quantile(8.0, 1.0, f64::NAN, 0.5),
            at_zero
        );
        assert_eq!(min_servers_for_wait_quantile(8.0, 1.0, -3.0, 0.5), at_zero);
        // An infinite wait is met by any stable count.
        assert_eq!(
            min_servers_for_wait_quantile(8.0, 1.0, f64::INFINITY, 1e-9),
            9
        );
        // The smallest normal p still ends, where B(k, 8) underflows (k ≈ 280).
        let n = min_servers_for_wait_quantile(8.0, 1.0, 0.0, f64::MIN_POSITIVE);
        assert!((250..300).contains(&n), "{n}");
    }

    /// Fleet sizes computed independently (exact sums in Python, linear search).
    #[test]
    fn min_servers_matches_an_independent_search() {
        let cases = [
            ((20.0, 1.0, 30.0, 0.01), 21),
            ((20.0, 1.0, 1.0, 0.01), 24),
            ((20.0, 1.0, 0.1, 0.01), 30),
            ((100.0, 2.0, 0.5, 0.001), 56),
            ((8.0, 1.0, 0.0, 0.5), 10),
            ((0.5, 1.0, 0.0, 0.01), 4),
            ((1_000.0, 1.0, 5.0, 0.01), 1_001),
        ];
        for ((lambda, mu, t, p), expected) in cases {
            assert_eq!(
                min_servers_for_wait_quantile(lambda, mu, t, p),
                expected,
                "λ={lambda} μ={mu} t={t} p={p}"
            );
        }
    }

    /// The search's answer is the boundary of `wait_tail_prob`: it meets p, one fewer does not.
    #[test]
    fn min_servers_is_the_boundary_of_the_tail() {
        for lambda in [0.3, 1.0, 7.7, 42.0, 250.0, 3_000.0] {
            for t in [0.0, 0.5, 2.0, 30.0] {
                for p in [0.5, 0.05, 0.01, 0.001] {
                    let mu = 0.8;
                    let c = min_servers_for_wait_quantile(lambda, mu, t, p);
                    assert!(wait_tail_prob(c, lambda, mu, t) <= p * (1.0 + 1e-9));
                    let fewer = c - 1;
                    if f64::from(fewer) > lambda / mu {
                        assert!(
                            wait_tail_prob(fewer, lambda, mu, t) > p * (1.0 - 1e-9),
                            "λ={lambda} t={t} p={p}: {c} is not the fewest"
                        );
                    }
                }
            }
        }
    }
}
