//! Arrivals over time: counts per bin (traces with a count column, synthetic generators) or
//! one timestamp per message (traces without one).

/// Microseconds since the Unix epoch.
pub type Micros = i64;

/// The arrival process a scenario replays.
#[derive(Debug, Clone, PartialEq)]
pub struct Arrivals {
    /// Start of the first bin (or the second the first event falls in).
    pub start_us: Micros,
    /// Bins or events.
    pub kind: ArrivalKind,
}

/// How arrivals are held.
#[derive(Debug, Clone, PartialEq)]
pub enum ArrivalKind {
    /// `counts[i]` messages arrive uniformly in `[start + i × bin, start + (i + 1) × bin)`.
    Binned {
        /// Bin width.
        bin_us: Micros,
        /// Messages per bin (fractional after scaling; the discrete mode rounds at random).
        counts: Vec<f64>,
    },
    /// One arrival per entry, sorted.
    Events {
        /// Arrival times.
        times_us: Vec<Micros>,
    },
    /// Synthetic arrivals per second, generated as they are read (never held whole): at second
    /// s, the generators' summed rate at s + 0.5, drawn as a Poisson count when `poisson`.
    Synthetic(SynthSpec),
}

/// The recipe of synthetic arrivals.
#[derive(Debug, Clone, PartialEq)]
pub struct SynthSpec {
    /// The generators, summed.
    pub generators: Vec<crate::synth::Generator>,
    /// Poisson counts (else the exact rate).
    pub poisson: bool,
    /// The generator's random stream at the first second.
    pub rng: crate::rng::SimRng,
    /// Seconds generated.
    pub seconds: u64,
}

impl SynthSpec {
    /// The per-second counts from the first second on.
    #[must_use]
    pub fn stream(&self) -> SynthStream<'_> {
        SynthStream {
            spec: self,
            rng: self.rng.clone(),
            next: 0,
        }
    }
}

/// Per-second synthetic counts, in order.
pub struct SynthStream<'a> {
    spec: &'a SynthSpec,
    rng: crate::rng::SimRng,
    next: u64,
}

impl Iterator for SynthStream<'_> {
    type Item = f64;

    fn next(&mut self) -> Option<f64> {
        if self.next >= self.spec.seconds {
            return None;
        }
        let t = self.next as f64 + 0.5;
        self.next += 1;
        let rate: f64 = self.spec.generators.iter().map(|g| g.rate_at(t)).sum();
        Some(if self.spec.poisson {
            self.rng.poisson(rate) as f64
        } else {
            rate
        })
    }
}

impl Arrivals {
    /// End of the arrival span (exclusive).
    #[must_use]
    pub fn end_us(&self) -> Micros {
        match &self.kind {
            ArrivalKind::Binned { bin_us, counts } => self.start_us + bin_us * counts.len() as i64,
            ArrivalKind::Events { times_us } => times_us
                .last()
                .map_or(self.start_us, |t| (t / 1_000_000 + 1) * 1_000_000),
            ArrivalKind::Synthetic(s) => self
                .start_us
                .saturating_add((s.seconds as Micros).saturating_mul(1_000_000)),
        }
    }

    /// The same arrivals held as bins (synthetic ones generated whole; the others as they are).
    #[must_use]
    pub fn materialized(&self) -> Self {
        match &self.kind {
            ArrivalKind::Synthetic(s) => Self {
                start_us: self.start_us,
                kind: ArrivalKind::Binned {
                    bin_us: 1_000_000,
                    counts: s.stream().collect(),
                },
            },
            _ => self.clone(),
        }
    }

    /// Total messages.
    #[must_use]
    pub fn total(&self) -> f64 {
        match &self.kind {
            ArrivalKind::Binned { counts, .. } => counts.iter().sum(),
            ArrivalKind::Events { times_us } => times_us.len() as f64,
            ArrivalKind::Synthetic(s) => s.stream().sum(),
        }
    }

    /// Messages per step of `step_us` from `start_us` for `steps` steps; bins are spread
    /// uniformly over their width.
    #[must_use]
    pub fn per_step(&self, step_us: Micros, steps: usize) -> Vec<f64> {
        let mut out = vec![0.0; steps];
        let synthetic_bins;
        let kind = match &self.kind {
            ArrivalKind::Synthetic(_) => {
                synthetic_bins = self.materialized().kind;
                &synthetic_bins
            }
            k => k,
        };
        match kind {
            // Materialized above.
            ArrivalKind::Synthetic(_) => {}
            ArrivalKind::Events { times_us } => {
                for &t in times_us {
                    let i = ((t - self.start_us) / step_us) as usize;
                    if let Some(slot) = out.get_mut(i) {
                        *slot += 1.0;
                    }
                }
            }
            ArrivalKind::Binned { bin_us, counts } => {
                if bin_us % step_us == 0 {
                    // The common case (minute bins, second steps): an even split, no overlaps.
                    let k = (bin_us / step_us) as usize;
                    let share = 1.0 / k as f64;
                    for (b, &c) in counts.iter().enumerate() {
                        let v = c * share;
                        let from = b * k;
                        if from >= steps {
                            break;
                        }
                        let to = (from + k).min(steps);
                        out[from..to].fill(v);
                    }
                } else {
                    for (b, &c) in counts.iter().enumerate() {
                        let b0 = b as i64 * bin_us;
                        let b1 = b0 + bin_us;
                        let mut s = (b0 / step_us) as usize;
                        while (s as i64) * step_us < b1 && s < steps {
                            let s0 = (s as i64 * step_us).max(b0);
                            let s1 = ((s as i64 + 1) * step_us).min(b1);
                            out[s] += c * (s1 - s0) as f64 / *bin_us as f64;
                            s += 1;
                        }
                    }
                }
            }
        }
        out
    }
}
