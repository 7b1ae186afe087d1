//! Replicas tuned from live load: given each observation of an agent's total load (WebSocket
//! connections, or requests in flight, summed over its pods), how many pods it should run.
//!
//! The rule, after Kubernetes' HPA behaviour (which Omnia leaves to an HPA on memory):
//! - The recommendation is `ceil(load / per_pod)`, clamped to `[min, max]`; a load within
//!   `tolerance` of what the current pods are sized for recommends no change, so noise around
//!   the target does not move anything.
//! - Up at once, but at most to twice the current pods or four more, whichever is more, per
//!   observation: a spike is followed within a few observations without one bad sample
//!   multiplying the fleet.
//! - Down only to the highest recommendation of the last `down_window` (default 5 minutes): a
//!   dip must last the whole window before pods go, and a load that swings back and forth never
//!   makes the tuner change its mind every observation.
//!
//! The tuner is pure: time comes in with each observation, so the simulation tests feed it load
//! traces (ramp, spike, diurnal, noise) and measure how it follows them.

use std::collections::VecDeque;
use std::time::Duration;

/// What an agent's replicas are tuned to (`spec.runtime.autoscaling`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Target {
    pub min: u32,
    pub max: u32,
    /// The load one pod should carry (connections or requests in flight per pod).
    pub per_pod: f64,
}

/// How eagerly the tuner moves.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Behaviour {
    /// How long a lower recommendation must hold before pods are removed.
    pub down_window: Duration,
    /// A load within this fraction of the current pods' target changes nothing.
    pub tolerance: f64,
}

impl Default for Behaviour {
    /// HPA's defaults: 5 minutes of stabilization down, 10 % tolerance.
    fn default() -> Self {
        Self {
            down_window: Duration::from_secs(300),
            tolerance: 0.1,
        }
    }
}

/// One agent's tuner.
#[derive(Debug, Clone)]
pub struct Tuner {
    target: Target,
    behaviour: Behaviour,
    current: u32,
    /// Recent recommendations, oldest first, with when they were made.
    recent: VecDeque<(Duration, u32)>,
}

impl Tuner {
    /// A tuner for `target`, starting from `current` pods (clamped to the target's bounds).
    pub fn new(target: Target, behaviour: Behaviour, current: u32) -> Self {
        let min = target.min.max(1);
        let max = target.max.max(min);
        let target = Target { min, max, ..target };
        Self {
            target,
            behaviour,
            current: current.clamp(min, max),
            recent: VecDeque::new(),
        }
    }

    /// The pods to run now.
    pub fn replicas(&self) -> u32 {
        self.current
    }

    /// Takes the agent's total `load` observed at `at` (time since any fixed start, rising) and
    /// answers the pods to run. A load that is not a finite, non-negative number changes nothing.
    pub fn observe(&mut self, at: Duration, load: f64) -> u32 {
        if !load.is_finite() || load < 0.0 || self.target.per_pod <= 0.0 {
            return self.current;
        }
        let recommended = self.recommend(load);
        self.recent.push_back((at, recommended));
        while let Some((when, _)) = self.recent.front() {
            if at.saturating_sub(*when) > self.behaviour.down_window {
                self.recent.pop_front();
            } else {
                break;
            }
        }
        if recommended > self.current {
            let step = (self.current * 2).max(self.current + 4);
            self.current = recommended.min(step).min(self.target.max);
        } else {
            let highest = self
                .recent
                .iter()
                .map(|(_, r)| *r)
                .max()
                .unwrap_or(recommended);
            if highest < self.current {
                self.current = highest;
            }
        }
        self.current
    }

    fn recommend(&self, load: f64) -> u32 {
        let sized_for = f64::from(self.current) * self.target.per_pod;
        if sized_for > 0.0 && (load / sized_for - 1.0).abs() <= self.behaviour.tolerance {
            return self.current;
        }
        let needed = (load / self.target.per_pod).ceil();
        let needed = if needed >= f64::from(u32::MAX) {
            u32::MAX
        } else {
            // Finite, non-negative and below u32::MAX: the cast is exact.
            needed as u32
        };
        needed.clamp(self.target.min, self.target.max)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tuner(current: u32) -> Tuner {
        let target = Target {
            min: 1,
            max: 20,
            per_pod: 100.0,
        };
        Tuner::new(target, Behaviour::default(), current)
    }

    #[test]
    fn load_within_the_tolerance_changes_nothing() {
        let mut t = tuner(5);
        for (i, load) in [460.0, 540.0, 500.0, 455.0].into_iter().enumerate() {
            assert_eq!(t.observe(Duration::from_secs(15 * i as u64), load), 5);
        }
    }

    #[test]
    fn up_is_at_once_but_at_most_doubles_or_adds_four() {
        let mut t = tuner(2);
        assert_eq!(t.observe(Duration::ZERO, 2000.0), 6);
        assert_eq!(t.observe(Duration::from_secs(15), 2000.0), 12);
        assert_eq!(t.observe(Duration::from_secs(30), 2000.0), 20);
        assert_eq!(
            t.observe(Duration::from_secs(45), 1e12),
            20,
            "capped at max"
        );
    }

    #[test]
    fn down_waits_for_the_whole_window() {
        let mut t = tuner(8);
        t.observe(Duration::ZERO, 800.0);
        assert_eq!(t.observe(Duration::from_secs(60), 200.0), 8);
        assert_eq!(t.observe(Duration::from_secs(299), 200.0), 8);
        assert_eq!(t.observe(Duration::from_secs(301), 200.0), 2);
    }

    #[test]
    fn nonsense_load_and_bounds() {
        let mut t = tuner(3);
        assert_eq!(t.observe(Duration::ZERO, f64::NAN), 3);
        assert_eq!(t.observe(Duration::ZERO, -5.0), 3);
        let target = Target {
            min: 0,
            max: 0,
            per_pod: 10.0,
        };
        let clamped = Tuner::new(target, Behaviour::default(), 9);
        assert_eq!(
            clamped.replicas(),
            1,
            "at least one pod, min and max adjusted"
        );
    }
}
