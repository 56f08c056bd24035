//! Events accepted and delivered per interval over the last 15 minutes, for the console's
//! overview chart: a task samples the [`Metrics`] counters every [`INTERVAL`] into a ring of
//! [`POINTS`] entries. Nothing on the request path writes here; reading copies the ring.

use crate::metrics::Metrics;
use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// How often the counters are sampled: one point of the chart.
pub const INTERVAL: Duration = Duration::from_secs(5);

/// Points kept: 15 minutes of [`INTERVAL`]s.
pub const POINTS: usize = 180;

/// One interval: events accepted and deliveries delivered in it, and when it ended.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Point {
    pub at_ms: u64,
    pub accepted: u64,
    pub delivered: u64,
}

/// The ring of the last [`POINTS`] intervals, oldest first.
#[derive(Debug, Default)]
pub struct Rates {
    ring: Mutex<Ring>,
}

#[derive(Debug, Default)]
struct Ring {
    points: VecDeque<Point>,
    /// The counters at the last sample, to take differences from.
    last: Option<(u64, u64)>,
}

impl Rates {
    /// Records the counters' values at `at_ms`; the first call only sets the baseline.
    pub fn sample(&self, at_ms: u64, accepted: u64, delivered: u64) {
        let mut ring = self.ring.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some((a, d)) = ring.last {
            let point = Point { at_ms, accepted: accepted.saturating_sub(a), delivered: delivered.saturating_sub(d) };
            if ring.points.len() == POINTS {
                ring.points.pop_front();
            }
            ring.points.push_back(point);
        }
        ring.last = Some((accepted, delivered));
    }

    /// The intervals kept, oldest first.
    pub fn points(&self) -> Vec<Point> {
        let ring = self.ring.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        ring.points.iter().copied().collect()
    }

    /// Samples `metrics` every [`INTERVAL`] until `shutdown`.
    pub async fn run(self: Arc<Self>, metrics: Arc<Metrics>, shutdown: CancellationToken) {
        let mut tick = tokio::time::interval(INTERVAL);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = tick.tick() => {}
                _ = shutdown.cancelled() => return,
            }
            let (accepted, delivered) = (Metrics::get(&metrics.accepted), Metrics::get(&metrics.delivered));
            self.sample(crate::event::now_ms(), accepted, delivered);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_point_holds_what_happened_since_the_sample_before() {
        let rates = Rates::default();
        rates.sample(0, 10, 4);
        rates.sample(5000, 25, 10);
        rates.sample(10_000, 25, 12);
        let points = rates.points();
        assert_eq!(
            points,
            [Point { at_ms: 5000, accepted: 15, delivered: 6 }, Point { at_ms: 10_000, accepted: 0, delivered: 2 }]
        );
    }

    #[test]
    fn the_ring_keeps_the_last_fifteen_minutes_only() {
        let rates = Rates::default();
        for i in 0..=(POINTS as u64 + 20) {
            rates.sample(i * 5000, i, 0);
        }
        let points = rates.points();
        assert_eq!(points.len(), POINTS);
        assert_eq!(points.first().map(|p| p.at_ms), Some(21 * 5000));
    }
}
