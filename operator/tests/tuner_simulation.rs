#![allow(clippy::unwrap_used, clippy::expect_used)]
//! The replica tuner against simulated load: a trace of total load (connections) sampled every
//! 15 s, fed to the tuner, and measured: how long capacity stays short of the load, how often
//! the tuner changes its mind (goes up then down or down then up within the stabilization
//! window), and how much it over-provisions. Deterministic: the noise comes from a fixed-seed
//! generator.

use std::time::Duration;

use omnia_operator::tuner::{Behaviour, Target, Tuner};

const STEP: Duration = Duration::from_secs(15);
const PER_POD: f64 = 100.0;

/// What happened over a trace.
#[derive(Debug)]
struct Run {
    /// (load, replicas) per sample.
    samples: Vec<(f64, u32)>,
}

impl Run {
    /// Samples where the pods could not carry the load (capacity below load by more than the
    /// tuner's tolerance).
    fn short(&self) -> usize {
        self.samples
            .iter()
            .filter(|(load, replicas)| f64::from(*replicas) * PER_POD < load * 0.9)
            .count()
    }

    /// Changes of replicas.
    fn changes(&self) -> usize {
        self.samples.windows(2).filter(|w| w[0].1 != w[1].1).count()
    }

    /// Reversals: a change in the other direction than the previous change, within
    /// `within` samples of it.
    fn reversals(&self, within: usize) -> usize {
        let mut last: Option<(usize, i64)> = None;
        let mut reversals = 0;
        for (i, w) in self.samples.windows(2).enumerate() {
            let delta = i64::from(w[1].1) - i64::from(w[0].1);
            if delta == 0 {
                continue;
            }
            if let Some((at, previous)) = last
                && previous.signum() != delta.signum()
                && i - at <= within
            {
                reversals += 1;
            }
            last = Some((i, delta));
        }
        reversals
    }

    /// Mean capacity over load, minus one, over samples with load.
    fn over_provisioning(&self) -> f64 {
        let loaded: Vec<f64> = self
            .samples
            .iter()
            .filter(|(load, _)| *load > 0.0)
            .map(|(load, replicas)| f64::from(*replicas) * PER_POD / load - 1.0)
            .collect();
        loaded.iter().sum::<f64>() / loaded.len() as f64
    }
}

fn run(trace: &[f64], min: u32, max: u32) -> Run {
    let target = Target {
        min,
        max,
        per_pod: PER_POD,
    };
    let mut tuner = Tuner::new(target, Behaviour::default(), min);
    let samples = trace
        .iter()
        .enumerate()
        .map(|(i, load)| {
            let replicas = tuner.observe(STEP * i as u32, *load);
            assert!(
                (min..=max).contains(&replicas),
                "{replicas} outside [{min}, {max}]"
            );
            (*load, replicas)
        })
        .collect();
    Run { samples }
}

/// A fixed-seed generator of noise in [-1, 1].
struct Noise(u64);

impl Noise {
    fn next(&mut self) -> f64 {
        // xorshift64*: deterministic, good enough for noise.
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        let bits = self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 11;
        bits as f64 / (1u64 << 53) as f64 * 2.0 - 1.0
    }
}

/// Samples in the stabilization window.
const WINDOW: usize = 20;

#[test]
fn a_ramp_is_followed_without_falling_behind() {
    // 0 to 2,000 connections over 30 minutes, then flat for 30.
    let trace: Vec<f64> = (0..240)
        .map(|i| {
            if i < 120 {
                2000.0 * f64::from(i) / 120.0
            } else {
                2000.0
            }
        })
        .collect();
    let run = run(&trace, 1, 30);
    assert_eq!(run.short(), 0, "{run:?}");
    assert_eq!(run.reversals(WINDOW), 0);
    // 2,000 needs 20 pods; 19 carry it within the 10 % tolerance.
    assert!(
        (19..=20).contains(&run.samples.last().unwrap().1),
        "{run:?}"
    );
    assert!(
        run.over_provisioning() < 0.35,
        "{}",
        run.over_provisioning()
    );
}

#[test]
fn a_spike_is_met_within_a_minute_and_released_after_the_window() {
    // 200 connections, a 5-minute spike to 1,500, back to 200.
    let trace: Vec<f64> = (0..120)
        .map(|i| if (40..60).contains(&i) { 1500.0 } else { 200.0 })
        .collect();
    let run = run(&trace, 1, 30);
    let met = (40..120)
        .find(|i| f64::from(run.samples[*i].1) * PER_POD >= 1500.0)
        .unwrap();
    assert!(met - 40 <= 4, "met after {} samples", met - 40);
    // Pods stay for the window after the spike, then go in one step.
    assert!(
        run.samples[60 + WINDOW - 1].1 >= 15,
        "{:?}",
        run.samples[60 + WINDOW - 1]
    );
    assert_eq!(run.samples[60 + WINDOW + 1].1, 2);
    assert_eq!(run.reversals(WINDOW), 0);
    assert!(run.changes() <= 4, "{} changes", run.changes());
}

#[test]
fn noise_around_a_steady_load_moves_nothing() {
    // 1,000 connections, ±8 % noise, for two hours.
    let mut noise = Noise(0x5EED);
    let trace: Vec<f64> = (0..480)
        .map(|_| 1000.0 * (1.0 + 0.08 * noise.next()))
        .collect();
    let run = run(&trace, 1, 30);
    // It climbs to 10 (doubling steps from 1), then holds.
    assert!(run.changes() <= 3, "{} changes: {run:?}", run.changes());
    assert!(run.samples[10..].iter().all(|(_, r)| *r == 10), "{run:?}");
}

#[test]
fn a_diurnal_load_is_tracked_with_few_changes_and_little_waste() {
    // A day at one sample a minute: 200 to 1,800 connections and back, with ±5 % noise.
    let mut noise = Noise(42);
    let trace: Vec<f64> = (0..1440)
        .map(|minute| {
            let phase = f64::from(minute) / 1440.0 * std::f64::consts::TAU;
            (1000.0 - 800.0 * phase.cos()) * (1.0 + 0.05 * noise.next())
        })
        .collect();
    let target = Target {
        min: 2,
        max: 30,
        per_pod: PER_POD,
    };
    let mut tuner = Tuner::new(target, Behaviour::default(), 2);
    let samples: Vec<(f64, u32)> = trace
        .iter()
        .enumerate()
        .map(|(minute, load)| {
            let at = Duration::from_secs(60 * minute as u64);
            (*load, tuner.observe(at, *load))
        })
        .collect();
    let run = Run { samples };
    assert!(run.short() <= 5, "{} short samples", run.short());
    // One sample a minute: a 5-minute window is 5 samples.
    assert_eq!(run.reversals(5), 0);
    assert!(run.changes() <= 60, "{} changes", run.changes());
    assert!(
        run.over_provisioning() < 0.25,
        "{}",
        run.over_provisioning()
    );
}
