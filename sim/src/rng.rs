//! One seeded random number generator (xoshiro256++) and the distributions the plant draws from.
//!
//! Written here rather than taken from a crate so that a seed gives the same stream on every
//! machine and every future build: the simulator's outputs are byte-identical by contract.

/// xoshiro256++ seeded through splitmix64.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SimRng {
    s: [u64; 4],
}

impl SimRng {
    /// A generator for `seed`; the same seed always gives the same stream.
    #[must_use]
    pub fn new(seed: u64) -> Self {
        let mut x = seed;
        let mut next = || {
            x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let mut z = x;
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            z ^ (z >> 31)
        };
        Self {
            s: [next(), next(), next(), next()],
        }
    }

    /// An independent stream for a named purpose, so adding draws to one part of the model
    /// does not shift another's.
    #[must_use]
    pub fn fork(&self, stream: u64) -> Self {
        Self::new(self.s[0] ^ stream.wrapping_mul(0xA076_1D64_78BD_642F))
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        let result = self.s[0]
            .wrapping_add(self.s[3])
            .rotate_left(23)
            .wrapping_add(self.s[0]);
        let t = self.s[1] << 17;
        self.s[2] ^= self.s[0];
        self.s[3] ^= self.s[1];
        self.s[1] ^= self.s[2];
        self.s[0] ^= self.s[3];
        self.s[2] ^= t;
        self.s[3] = self.s[3].rotate_left(45);
        result
    }

    /// Uniform in [0, 1).
    pub fn uniform(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }

    /// Uniform in (0, 1], safe for logarithms.
    pub fn uniform_open(&mut self) -> f64 {
        1.0 - self.uniform()
    }

    /// Exponential with the given mean.
    pub fn exponential(&mut self, mean: f64) -> f64 {
        -mean * self.uniform_open().ln()
    }

    /// Standard normal (Box-Muller; one of the pair is discarded for simplicity of state).
    pub fn normal(&mut self) -> f64 {
        let u1 = self.uniform_open();
        let u2 = self.uniform();
        (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
    }

    /// Poisson with mean `lambda`: inversion for small means, a normal approximation above 500.
    pub fn poisson(&mut self, lambda: f64) -> u64 {
        if lambda <= 0.0 {
            return 0;
        }
        if lambda > 500.0 {
            let x = lambda + lambda.sqrt() * self.normal();
            return x.round().max(0.0) as u64;
        }
        // Inversion by sequential search, started in the middle to keep it short.
        let mut k = 0u64;
        let mut p = (-lambda).exp();
        let mut cdf = p;
        let u = self.uniform();
        while u > cdf {
            k += 1;
            p *= lambda / k as f64;
            cdf += p;
            if p < 1e-300 && cdf >= 1.0 - 1e-12 {
                break;
            }
        }
        k
    }

    /// Rounds `x` up or down at random so that the expectation is `x`.
    pub fn stochastic_round(&mut self, x: f64) -> u64 {
        let floor = x.floor();
        let extra = u64::from(self.uniform() < x - floor);
        floor as u64 + extra
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_same_stream() {
        let mut a = SimRng::new(7);
        let mut b = SimRng::new(7);
        for _ in 0..100 {
            assert_eq!(a.next_u64(), b.next_u64());
        }
    }

    #[test]
    fn exponential_and_poisson_have_the_right_mean() {
        let mut r = SimRng::new(1);
        let n = 200_000;
        let mean_exp: f64 = (0..n).map(|_| r.exponential(2.0)).sum::<f64>() / f64::from(n);
        assert!((mean_exp - 2.0).abs() < 0.03, "{mean_exp}");
        let mean_poi: f64 = (0..n).map(|_| r.poisson(3.5) as f64).sum::<f64>() / f64::from(n);
        assert!((mean_poi - 3.5).abs() < 0.03, "{mean_poi}");
    }
}
