//! A destination's concurrency limit: fixed, or adaptive (the default), after Vector's Adaptive
//! Request Concurrency and Netflix's concurrency-limits. Pure state: fed each answer's round
//! trip and what it said, it says how many requests may be in flight. It never sleeps, sends
//! or reads a clock of its own.
//!
//! Adaptive is AIMD over windows of answers, a window being as many answers as the limit (about
//! one round trip's worth):
//! - A window that ran at the limit and whose mean round trip stayed near the baseline (within
//!   a quarter of it, or [`NOISE`]) grows the limit by one (by doubling in slow start, after a
//!   resume, until the first sign of strain).
//! - A window whose mean round trip is clearly above the baseline (twice it, and by more than
//!   [`NOISE`]) cuts the limit to three quarters: the receiver queues what it cannot serve.
//! - In between, the limit holds: the receiver is working at its pace.
//! - A timeout, 429 or 503 halves it at once (at most once per round trip): back-pressure.
//!
//! The baseline is the round trip when the receiver is not strained: it follows a faster mean
//! at once, and a slower one only slowly and only from windows near it, so load the gateway
//! itself causes does not become the norm (at a limit of 1, where nothing can be cut, it
//! follows what the receiver now takes).

use std::time::{Duration, Instant};

/// Round-trip differences below this are noise (scheduling on a busy machine), never strain.
pub const NOISE: Duration = Duration::from_millis(5);

/// What one answer says about the receiver's capacity.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Signal {
    /// An answer in time (a success, or a refusal of this one delivery).
    Answered,
    /// Back-pressure: a timeout, 429 or 503.
    Overloaded,
    /// No capacity signal: the receiver is failing (refused connection, other 5xx, TLS).
    Failed,
}

/// How the limit is set.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Fixed(u32),
    Adaptive { max: u32 },
}

/// One destination's limit and what it learned.
#[derive(Debug, Clone)]
pub struct Limiter {
    mode: Mode,
    /// The current limit (adaptive), at least 1.
    limit: f64,
    slow_start: bool,
    baseline: Option<Duration>,
    window: Window,
    last_cut: Option<Instant>,
}

#[derive(Debug, Clone, Default)]
struct Window {
    answers: u32,
    rtt_sum: Duration,
    /// Whether a request was sent while the limit was reached: the limit held demand back.
    saturated: bool,
}

impl Limiter {
    /// A limiter in `mode`; adaptive ones start at 1, in slow start.
    pub fn new(mode: Mode) -> Self {
        Self { mode, limit: 1.0, slow_start: true, baseline: None, window: Window::default(), last_cut: None }
    }

    pub fn mode(&self) -> Mode {
        self.mode
    }

    /// Requests that may be in flight now.
    pub fn current(&self) -> u32 {
        match self.mode {
            Mode::Fixed(n) => n,
            Mode::Adaptive { .. } => (self.limit as u32).max(1),
        }
    }

    /// The round trip of an unstrained receiver, as learned so far.
    pub fn baseline(&self) -> Option<Duration> {
        self.baseline
    }

    /// A request was sent with `in_flight` (itself included) now in flight.
    pub fn sent(&mut self, in_flight: u32) {
        if in_flight >= self.current() {
            self.window.saturated = true;
        }
    }

    /// An answer (or its absence) after `rtt`.
    pub fn answered(&mut self, rtt: Duration, signal: Signal, now: Instant) {
        let Mode::Adaptive { max } = self.mode else {
            self.learn_baseline(rtt, signal);
            return;
        };
        match signal {
            Signal::Failed => {}
            Signal::Overloaded => {
                let recent = self.last_cut.is_some_and(|at| now.duration_since(at) < self.baseline.unwrap_or(rtt));
                if !recent {
                    self.cut(0.5, now);
                }
            }
            Signal::Answered => {
                self.window.answers += 1;
                self.window.rtt_sum += rtt;
                if self.window.answers >= self.current() {
                    self.close_window(max, now);
                }
            }
        }
    }

    /// After a pause: from a limit of 1 again, ramping up as the receiver allows.
    pub fn restart(&mut self) {
        self.limit = 1.0;
        self.slow_start = true;
        self.window = Window::default();
    }

    fn close_window(&mut self, max: u32, now: Instant) {
        let window = std::mem::take(&mut self.window);
        let mean = window.rtt_sum / window.answers.max(1);
        let baseline = *self.baseline.get_or_insert(mean);
        if mean > baseline * 2 && mean > baseline + NOISE {
            if self.limit <= 1.0 {
                // Nothing left to cut: this is what the receiver takes now.
                self.baseline = Some(baseline.mul_f64(0.75) + mean.mul_f64(0.25));
            }
            self.cut(0.75, now);
            return;
        }
        let near = mean <= baseline.mul_f64(1.25) || mean <= baseline + NOISE;
        if mean < baseline {
            self.baseline = Some(mean);
        } else if near {
            self.baseline = Some(baseline.mul_f64(0.98) + mean.mul_f64(0.02));
        }
        if near && window.saturated {
            let grown = if self.slow_start { self.limit * 2.0 } else { self.limit + 1.0 };
            self.limit = grown.min(f64::from(max));
        }
    }

    fn cut(&mut self, factor: f64, now: Instant) {
        self.limit = (self.limit * factor).max(1.0);
        self.slow_start = false;
        self.last_cut = Some(now);
        self.window = Window::default();
    }

    /// A fixed limit still learns the baseline, for the operator to see.
    fn learn_baseline(&mut self, rtt: Duration, signal: Signal) {
        if signal == Signal::Answered {
            self.baseline = Some(match self.baseline {
                None => rtt,
                Some(b) if rtt < b => rtt,
                Some(b) => b.mul_f64(0.95) + rtt.mul_f64(0.05),
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);

    /// Runs `windows` full windows at the limit, each answer taking `rtt(limit)`.
    fn drive(l: &mut Limiter, windows: usize, rtt: impl Fn(u32) -> Duration) {
        let now = Instant::now();
        for _ in 0..windows {
            let limit = l.current();
            for _ in 0..limit {
                l.sent(limit);
                l.answered(rtt(limit), Signal::Answered, now);
            }
        }
    }

    #[test]
    fn a_fast_receiver_lets_the_limit_grow_to_its_maximum() {
        let mut l = Limiter::new(Mode::Adaptive { max: 256 });
        assert_eq!(l.current(), 1, "it starts small");
        drive(&mut l, 40, |_| MS);
        assert_eq!(l.current(), 256);
    }

    #[test]
    fn a_receiver_that_queues_past_eight_settles_the_limit_near_eight() {
        // 8 at once in 20 ms; each request beyond 8 it holds adds 10 ms.
        let rtt = |held: u32| Duration::from_millis(20 + 10 * u64::from(held.saturating_sub(8)));
        let mut l = Limiter::new(Mode::Adaptive { max: 256 });
        drive(&mut l, 200, rtt);
        let mut seen = Vec::new();
        for _ in 0..50 {
            drive(&mut l, 1, rtt);
            seen.push(l.current());
        }
        assert!(seen.iter().all(|c| (4..=16).contains(c)), "{seen:?}");
    }

    #[test]
    fn back_pressure_halves_the_limit_once_per_round_trip() {
        let mut l = Limiter::new(Mode::Adaptive { max: 64 });
        drive(&mut l, 20, |_| MS);
        assert_eq!(l.current(), 64);
        let now = Instant::now();
        l.answered(MS, Signal::Overloaded, now);
        l.answered(MS, Signal::Overloaded, now);
        assert_eq!(l.current(), 32, "two timeouts of one burst cut once");
        l.answered(MS, Signal::Overloaded, now + 10 * MS);
        assert_eq!(l.current(), 16);
        l.answered(MS, Signal::Failed, now + 20 * MS);
        assert_eq!(l.current(), 16, "a failing receiver says nothing about capacity");
    }

    #[test]
    fn after_a_restart_it_climbs_from_one() {
        let mut l = Limiter::new(Mode::Adaptive { max: 64 });
        drive(&mut l, 20, |_| MS);
        l.restart();
        assert_eq!(l.current(), 1);
        drive(&mut l, 3, |_| MS);
        assert_eq!(l.current(), 8, "slow start doubles each window");
    }

    #[test]
    fn an_idle_limit_does_not_grow_and_a_fixed_one_never_moves() {
        let mut l = Limiter::new(Mode::Adaptive { max: 64 });
        let now = Instant::now();
        for _ in 0..100 {
            l.sent(0);
            l.answered(MS, Signal::Answered, now);
        }
        assert_eq!(l.current(), 1, "never at the limit: no reason to raise it");
        let mut fixed = Limiter::new(Mode::Fixed(8));
        drive(&mut fixed, 10, |_| 100 * MS);
        fixed.answered(MS, Signal::Overloaded, now);
        assert_eq!(fixed.current(), 8);
        assert_eq!(fixed.baseline(), Some(100 * MS), "a fixed limit still learns the baseline");
    }
}
