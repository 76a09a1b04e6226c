//! The seasonal profile of the arrival rate: one exponentially weighted mean per slot of the
//! season, kept in [`ScalerState`](crate::ScalerState) and compact enough for a small state
//! document.
//!
//! Time t (milliseconds since the Unix epoch live, the trace's clock in the simulator) falls
//! in absolute slot ⌊t / slot⌋ and in profile slot ⌊t / slot⌋ mod (season / slot). A weekly
//! season therefore starts on Thursday 00:00 UTC (the epoch's weekday), a daily one at
//! midnight UTC. The samples of one visit to a slot (the decisions between its start and its
//! end) are averaged; when the first sample of another slot arrives the visit closes and its
//! mean m enters the slot's value: v ← v + w·(m − v), w = `season_weight`, or v = m on the
//! first visit. So the weight of a season decays by (1 − w) per later season, however many
//! decisions fall in a slot. A slot no decision visited (an outage) stays empty.
//!
//! Values are rounded to [`SIGNIFICANT_DIGITS`] significant digits: the JSON stays short, and
//! a short decimal parses back to the same f64 with any JSON parser, so the state replays
//! identically. Rates below [`MIN_STORED_RATE`] are stored as 0.

use serde::{Deserialize, Serialize};

use crate::clock::Millis;

/// Significant digits kept per slot (relative error at most 0.05 %).
pub const SIGNIFICANT_DIGITS: i32 = 4;

/// Rates below this many messages per second (about one a week) are stored as 0.
pub const MIN_STORED_RATE: f64 = 1e-6;

/// Rates above this (a billion messages a second) are stored as this: no fleet serves more,
/// and the cap keeps every stored number short (at most 12 characters of JSON).
pub const MAX_STORED_RATE: f64 = 1e9;

/// The visit to a slot in progress: its samples so far.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SlotVisit {
    /// Absolute slot number, ⌊t / slot⌋.
    pub slot: i64,
    /// Sum of the arrival-rate samples, messages per second.
    pub sum_per_s: f64,
    /// Samples taken.
    pub samples: u32,
}

/// The profile: one smoothed arrival rate per slot of the season (see the module doc).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SeasonalProfile {
    /// The season, seconds. A profile of another layout is discarded, not misread.
    pub season_secs: i64,
    /// One slot, seconds.
    pub slot_secs: i64,
    /// Time of the first sample: the history starts here.
    pub since_ms: Millis,
    /// The visit in progress, none before the first sample.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub visit: Option<SlotVisit>,
    /// Smoothed arrival rate per slot, messages per second; null for a slot never visited.
    pub rates_per_s: Vec<Option<f64>>,
}

impl SeasonalProfile {
    /// An empty profile of `slots` slots of `slot_secs` (season = slots × slot).
    #[must_use]
    pub fn new(season_secs: i64, slot_secs: i64, slots: usize) -> Self {
        Self {
            season_secs,
            slot_secs,
            since_ms: 0,
            visit: None,
            rates_per_s: vec![None; slots],
        }
    }

    /// Whether this profile has the given layout (a stored one may not, after a config change
    /// or a damaged document).
    #[must_use]
    pub fn has_layout(&self, season_secs: i64, slot_secs: i64, slots: usize) -> bool {
        self.season_secs == season_secs
            && self.slot_secs == slot_secs
            && self.rates_per_s.len() == slots
    }

    fn slot_ms(&self) -> i64 {
        self.slot_secs.saturating_mul(1000).max(1)
    }

    /// Profile slot of absolute slot `abs`.
    fn index(&self, abs: i64) -> Option<usize> {
        let slots = i64::try_from(self.rates_per_s.len())
            .ok()
            .filter(|n| *n > 0)?;
        usize::try_from(abs.rem_euclid(slots)).ok()
    }

    /// Whether the visit in progress is to a slot after the one `now` falls in (a clock that
    /// went back, or a damaged document).
    #[must_use]
    pub fn visit_is_after(&self, now: Millis) -> bool {
        self.visit
            .is_some_and(|v| v.slot > now.div_euclid(self.slot_ms()))
    }

    /// Takes the arrival-rate sample `rate_per_s` at `now`; `weight` is the latest season's
    /// weight. Non-finite or negative samples and samples from an earlier slot are ignored.
    pub fn observe(&mut self, now: Millis, rate_per_s: f64, weight: f64) {
        if !(rate_per_s.is_finite() && rate_per_s >= 0.0) || self.rates_per_s.is_empty() {
            return;
        }
        let abs = now.div_euclid(self.slot_ms());
        match self.visit {
            None => self.since_ms = now,
            Some(v) if abs < v.slot => return,
            Some(v) if abs > v.slot => self.close(v, weight),
            Some(_) => {}
        }
        let visit = self.visit.get_or_insert(SlotVisit {
            slot: abs,
            ..SlotVisit::default()
        });
        visit.sum_per_s += rate_per_s;
        visit.samples = visit.samples.saturating_add(1);
    }

    /// Folds a finished visit into its slot.
    fn close(&mut self, visit: SlotVisit, weight: f64) {
        self.visit = None;
        if visit.samples == 0 {
            return;
        }
        let Some(slot) = self
            .index(visit.slot)
            .and_then(|i| self.rates_per_s.get_mut(i))
        else {
            return;
        };
        let mean = visit.sum_per_s / f64::from(visit.samples);
        let value = match *slot {
            Some(old) => old + weight.clamp(0.0, 1.0) * (mean - old),
            None => mean,
        };
        *slot = Some(round_rate(value));
    }

    /// True once the history covers one season: every slot has had its turn.
    #[must_use]
    pub fn has_full_season(&self, now: Millis) -> bool {
        self.visit.is_some()
            && now.saturating_sub(self.since_ms) >= self.season_secs.saturating_mul(1000)
    }

    /// The highest profile rate over the slots that `[now, now + lead_ms]` touches; none
    /// before one full season or when none of those slots was ever visited.
    #[must_use]
    pub fn peak_ahead(&self, now: Millis, lead_ms: i64) -> Option<f64> {
        if !self.has_full_season(now) {
            return None;
        }
        let slot_ms = self.slot_ms();
        let first = now.div_euclid(slot_ms);
        let lead_ms = lead_ms.max(0);
        // The slots after `first` that the window reaches: from the offset into the first
        // slot, without a second division when the window ends inside it (the usual case),
        // and through the saturating sum where the offset plus the lead would overflow.
        let offset = now.rem_euclid(slot_ms);
        let after = match offset.checked_add(lead_ms) {
            Some(end) if end < slot_ms => 0,
            Some(end) => end / slot_ms,
            None => now.saturating_add(lead_ms).div_euclid(slot_ms) - first,
        };
        let len = self.rates_per_s.len();
        // A window longer than the season sees every slot once.
        let span = usize::try_from(after.max(0))
            .unwrap_or(usize::MAX)
            .min(len.saturating_sub(1));
        let mut i = self.index(first)?;
        let mut peak: Option<f64> = None;
        for _ in 0..=span {
            if let Some(Some(rate)) = self.rates_per_s.get(i) {
                peak = Some(peak.map_or(*rate, |p| p.max(*rate)));
            }
            i = if i + 1 == len { 0 } else { i + 1 };
        }
        peak
    }
}

/// `x` rounded to [`SIGNIFICANT_DIGITS`], within [0, [`MAX_STORED_RATE`]], below
/// [`MIN_STORED_RATE`] 0. The result is the f64 nearest a short decimal: an integer over a
/// power of ten (or times one) at most 10²², both exact, is correctly rounded.
#[must_use]
pub fn round_rate(x: f64) -> f64 {
    if x.is_nan() || x < MIN_STORED_RATE {
        return 0.0;
    }
    let x = x.min(MAX_STORED_RATE);
    // 10^e <= x < 10^(e+1), with e in [-6, 9] here; a log10 that lands one off only keeps
    // one digit more or less.
    let e = x.log10().floor() as i32;
    let decimals = SIGNIFICANT_DIGITS - 1 - e;
    if decimals >= 0 {
        let p = 10f64.powi(decimals);
        (x * p).round() / p
    } else {
        let p = 10f64.powi(-decimals);
        (x / p).round() * p
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIN: i64 = 60_000;

    #[test]
    fn the_look_ahead_is_the_highest_rate_of_every_slot_the_window_touches() {
        // 12 slots of 10 minutes, some never visited, and windows from none to past a season,
        // across the season's wrap and on slot edges: against a plain scan of the slots.
        let mut p = SeasonalProfile::new(7_200, 600, 12);
        for (i, rate) in p.rates_per_s.iter_mut().enumerate() {
            *rate = (i % 4 != 1).then_some((i * 7 % 12) as f64);
        }
        p.visit = Some(SlotVisit::default());
        let season = 7_200_000;
        for now in (season..3 * season)
            .step_by(149_999)
            .chain([season, 2 * season - 1])
        {
            for lead in [0, 1, 599_999, 600_000, 1_800_001, season, 5 * season] {
                let want = (now / 600_000..=(now + lead) / 600_000)
                    .take(12)
                    .filter_map(|abs| p.rates_per_s[(abs % 12) as usize])
                    .reduce(f64::max);
                assert_eq!(p.peak_ahead(now, lead), want, "now {now}, lead {lead}");
            }
        }
    }

    /// A day of 15-minute slots.
    fn day() -> SeasonalProfile {
        SeasonalProfile::new(86_400, 900, 96)
    }

    #[test]
    fn rounding_keeps_four_significant_digits_as_short_decimals() {
        let cases = [
            (47.123_456, 47.12),
            (0.123_456, 0.1235),
            (123_456.7, 123_500.0),
            (9.999_96, 10.0),
            (1e-7, 0.0),
            (-3.0, 0.0),
            (f64::NAN, 0.0),
            (f64::INFINITY, MAX_STORED_RATE),
        ];
        for (x, expected) in cases {
            let got = round_rate(x);
            assert!((got - expected).abs() <= 1e-12 * expected, "{x}: {got}");
            assert!(got.to_string().len() <= 12, "{got}");
        }
    }

    #[test]
    fn a_visit_enters_its_slot_when_the_next_slot_begins() {
        let mut p = day();
        // Three samples in slot 0, then one in slot 1.
        for (i, rate) in [10.0, 20.0, 30.0].into_iter().enumerate() {
            p.observe(i as i64 * MIN, rate, 0.5);
        }
        assert_eq!(p.rates_per_s[0], None);
        p.observe(15 * MIN, 99.0, 0.5);
        assert_eq!(p.rates_per_s[0], Some(20.0));
        assert_eq!(p.visit.map(|v| v.slot), Some(1));
    }

    #[test]
    fn later_seasons_weigh_by_the_season_weight() {
        let mut p = day();
        p.observe(0, 10.0, 0.25);
        p.observe(15 * MIN, 0.0, 0.25);
        // The same slot a day later: 10 + 0.25·(30 − 10) = 15.
        p.observe(86_400_000, 30.0, 0.25);
        p.observe(86_400_000 + 15 * MIN, 0.0, 0.25);
        assert_eq!(p.rates_per_s[0], Some(15.0));
    }

    #[test]
    fn a_visit_a_whole_season_later_is_a_new_visit() {
        let mut p = day();
        p.observe(0, 10.0, 0.5);
        p.observe(86_400_000, 30.0, 0.5);
        assert_eq!(p.rates_per_s[0], Some(10.0));
    }

    #[test]
    fn earlier_and_bad_samples_are_ignored() {
        let mut p = day();
        p.observe(20 * MIN, 5.0, 0.5);
        let before = p.clone();
        p.observe(MIN, 7.0, 0.5);
        p.observe(21 * MIN, f64::NAN, 0.5);
        p.observe(21 * MIN, -1.0, 0.5);
        assert_eq!(p, before);
    }

    #[test]
    fn off_until_one_season_then_the_peak_of_the_window() {
        let mut p = day();
        let start = 7 * MIN;
        let mut t = start;
        while t < start + 86_400_000 {
            // 100/s from 14:00 to 15:00, 10/s otherwise.
            let hour = t / 3_600_000 % 24;
            p.observe(t, if hour == 14 { 100.0 } else { 10.0 }, 0.5);
            assert_eq!(p.peak_ahead(t, 600_000), None, "on at {t}");
            t += MIN;
        }
        assert!(p.has_full_season(t));
        let at = |h: i64, m: i64| 86_400_000 + h * 3_600_000 + m * MIN;
        // 13:50 + 10 min touches the 14:00 slot; 13:40 + 10 min does not.
        assert_eq!(p.peak_ahead(at(13, 50), 600_000), Some(100.0));
        assert_eq!(p.peak_ahead(at(13, 40), 600_000), Some(10.0));
        // A window longer than the season sees every slot.
        assert_eq!(p.peak_ahead(at(3, 0), 10 * 86_400_000), Some(100.0));
    }

    #[test]
    fn unvisited_slots_give_no_forecast() {
        let mut p = day();
        p.observe(0, 10.0, 0.5);
        p.observe(86_400_000, 10.0, 0.5);
        assert!(p.has_full_season(86_400_000));
        assert_eq!(p.peak_ahead(86_400_000 + 4 * 3_600_000, 0), None);
        assert_eq!(p.peak_ahead(86_400_000 + 60 * MIN, 0), None);
    }
}
