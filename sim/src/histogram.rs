//! A weighted log-linear histogram of waits (relative error below 0.1 %), exact mean and max.

/// Sub-buckets per power of two.
const SUB_BITS: u32 = 10;
const SUB: u64 = 1 << SUB_BITS;

/// Waits in microseconds, each with a weight (fluid mode records fractions of messages).
#[derive(Debug, Clone, Default)]
pub struct WaitHistogram {
    buckets: Vec<f64>,
    total_weight: f64,
    weighted_sum_us: f64,
    max_us: i64,
}

fn bucket_of(us: u64) -> usize {
    if us < SUB {
        us as usize
    } else {
        let exp = us.ilog2() - SUB_BITS;
        let mantissa = (us >> exp) - SUB;
        ((u64::from(exp) + 1) * SUB + mantissa) as usize
    }
}

fn bucket_mid(b: usize) -> f64 {
    let b = b as u64;
    if b < SUB {
        b as f64
    } else {
        let exp = b / SUB - 1;
        let mantissa = b % SUB + SUB;
        let low = (mantissa << exp) as f64;
        low + ((1u64 << exp) as f64 - 1.0) / 2.0
    }
}

impl WaitHistogram {
    /// Records `weight` messages that waited `us`.
    #[inline]
    pub fn record(&mut self, us: i64, weight: f64) {
        let us = us.max(0);
        let b = bucket_of(us as u64);
        if b >= self.buckets.len() {
            self.buckets.resize(b + 1, 0.0);
        }
        self.buckets[b] += weight;
        self.total_weight += weight;
        self.weighted_sum_us += us as f64 * weight;
        self.max_us = self.max_us.max(us);
    }

    /// Messages recorded.
    #[must_use]
    pub fn count(&self) -> f64 {
        self.total_weight
    }

    /// Sum of waits in seconds.
    #[must_use]
    pub fn sum_secs(&self) -> f64 {
        self.weighted_sum_us / 1e6
    }

    /// Mean wait in seconds.
    #[must_use]
    pub fn mean_secs(&self) -> f64 {
        if self.total_weight > 0.0 {
            self.weighted_sum_us / self.total_weight / 1e6
        } else {
            0.0
        }
    }

    /// Longest wait in seconds.
    #[must_use]
    pub fn max_secs(&self) -> f64 {
        self.max_us as f64 / 1e6
    }

    /// Fraction of the recorded weight with a wait of at most `us` (bucket resolution).
    #[must_use]
    pub fn fraction_at_most_us(&self, us: u64) -> f64 {
        if self.total_weight <= 0.0 {
            return 0.0;
        }
        let last = bucket_of(us);
        let below: f64 = self.buckets.iter().take(last + 1).sum();
        below / self.total_weight
    }

    /// The `q` quantile (0..=1) in seconds.
    #[must_use]
    pub fn quantile_secs(&self, q: f64) -> f64 {
        if self.total_weight <= 0.0 {
            return 0.0;
        }
        let target = q * self.total_weight;
        let mut acc = 0.0;
        for (b, &w) in self.buckets.iter().enumerate() {
            acc += w;
            if acc >= target && w > 0.0 {
                return (bucket_mid(b) / 1e6).min(self.max_secs());
            }
        }
        self.max_secs()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_are_within_a_tenth_of_a_percent() {
        let mut h = WaitHistogram::default();
        for i in 1..=100_000i64 {
            h.record(i * 1000, 1.0);
        }
        for (q, want) in [(0.5, 50.0), (0.9, 90.0), (0.99, 99.0)] {
            let got = h.quantile_secs(q);
            assert!((got - want).abs() / want < 0.001, "q{q}: {got} vs {want}");
        }
        assert!((h.mean_secs() - 50.0005).abs() < 1e-9);
        assert!((h.max_secs() - 100.0).abs() < 1e-12);
    }
}
