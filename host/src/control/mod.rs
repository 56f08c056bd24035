//! What protects a destination, in this gateway's memory: its rate limit, its concurrency
//! limit (fixed, or adaptive: `limiter.rs`), a `Retry-After` the whole destination honours, its
//! run of failed attempts (the breaker's input), and which destinations the store says are
//! paused.
//!
//! A delivery over a limit is not held here: [`Gate::admit`] says how long it should wait, and
//! delivery hands it back to the store due then (not an attempt, not a failure). The rate is
//! a GCRA schedule with reservations: a delivery sent back to wait keeps the slot it was given,
//! so when it comes due it goes, and a backlog is written back once, not once per poll. A
//! delivery over the concurrency limit waits in memory only while few do (at most the limit);
//! past that it is sent back for about as long as the requests ahead of it should take.
//!
//! The breaker counts what says the receiver is failing. Back-pressure (a timeout, 429, 503)
//! cuts an adaptive limit first and counts as a failure only at a limit of 1, where the
//! receiver is overloaded even one request at a time; a fixed limit counts it at once.
//!
//! Limits are per gateway. This file never talks to the store or the network.

mod limiter;

pub use limiter::{Mode, NOISE, Signal};

use crate::config::model::{Concurrency, Limits};
use crate::queue::DestinationPause;
use arc_swap::ArcSwap;
use limiter::Limiter;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::Notify;

/// A slot closer than this is taken at once rather than waited for in the store.
const SLACK: Duration = Duration::from_millis(2);

/// Reservations one destination keeps at most (a delivery reserved and then taken by another
/// gateway leaves its entry until it is a minute stale).
const MAX_RESERVED: usize = 100_000;
const STALE_RESERVATION: Duration = Duration::from_secs(60);

/// The shortest spacing assumed between requests to a destination at its concurrency limit,
/// before its answers have been timed.
const MIN_SPACING: Duration = Duration::from_millis(5);

/// How long a delivery waits in memory for a slot before it looks again (a freed slot wakes
/// it sooner).
const RECHECK: Duration = Duration::from_millis(100);

/// Why a delivery waits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WaitReason {
    Rate,
    Concurrency,
    Paused,
    /// The destination asked for time (`Retry-After` on a 429 or 503).
    RetryAfter,
}

impl WaitReason {
    pub fn label(self) -> &'static str {
        match self {
            WaitReason::Rate => "rate",
            WaitReason::Concurrency => "concurrency",
            WaitReason::Paused => "paused",
            WaitReason::RetryAfter => "retry_after",
        }
    }
}

/// What an attempt says about the destination, for the limit and the breaker.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Health {
    /// It answered with success.
    Healthy,
    /// Back-pressure: a timeout, 408, 429 or 503.
    Overloaded,
    /// It is failing: no connection, TLS, another 5xx, a broken broker connection.
    Failing,
    /// It refused this one delivery (another 4xx), which a healthy receiver also does.
    Neutral,
}

/// Why the failures in a row so far count: what the breaker names when it pauses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum FailureKind {
    /// The receiver fails requests (refused connections, 5xx).
    #[default]
    Failing,
    /// The receiver is overloaded at the lowest concurrency (timeouts, 429, 503 one at a time).
    Overloaded,
}

/// The failures in a row after an attempt, and what the last one was.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Failures {
    pub in_a_row: u32,
    pub kind: FailureKind,
}

/// What [`Gate::admit`] decided.
#[derive(Debug)]
pub enum Admission {
    /// Send now; the ticket holds the concurrency slot until it is dropped.
    Go(Ticket),
    /// Hand the delivery back to the store, due after this long.
    Wait(Duration, WaitReason),
}

/// A request in flight to one destination.
#[derive(Debug)]
pub struct Ticket {
    gate: Arc<Gate>,
}

impl Drop for Ticket {
    fn drop(&mut self) {
        self.gate.in_flight.fetch_sub(1, Ordering::Relaxed);
        self.gate.freed.notify_one();
    }
}

/// One destination's limits state in this gateway.
#[derive(Debug, Default)]
pub struct Gate {
    schedule: Mutex<Schedule>,
    in_flight: AtomicU32,
    waiting: AtomicU32,
    /// Woken when a request in flight ends.
    freed: Notify,
}

#[derive(Debug, Default)]
struct Schedule {
    /// The next free rate slot.
    rate_next: Option<Instant>,
    /// Deliveries sent back to wait for their slot, by id.
    reserved: HashMap<String, Instant>,
    /// Where the next delivery sent back for concurrency is placed.
    spread_next: Option<Instant>,
    /// A moving average of how long an attempt takes.
    latency: Option<Duration>,
    /// Failed attempts in a row, and what the last was.
    failures: u32,
    failure_kind: FailureKind,
    /// The concurrency limit; made at the first delivery, again when the config's mode changes.
    limiter: Option<Limiter>,
    /// Until when the destination asked not to be sent anything (`Retry-After`).
    hold_until: Option<Instant>,
}

/// What the admin API shows of a gate.
#[derive(Debug, Clone, Copy, Default, serde::Serialize)]
pub struct GateView {
    pub in_flight: u32,
    /// Waiting in memory for a concurrency slot.
    pub waiting: u32,
    pub consecutive_failures: u32,
    /// Moving average of an attempt's duration, in milliseconds.
    pub latency_ms: Option<u64>,
    /// The concurrency limit now (adaptive: as learned; before the first delivery, none).
    pub concurrency_limit: Option<u32>,
    /// The round trip of the unstrained receiver, in milliseconds, as learned.
    pub rtt_baseline_ms: Option<f64>,
    /// How much longer the destination asked not to be sent anything, in milliseconds.
    pub retry_after_ms: Option<u64>,
}

impl Gate {
    /// Whether delivery `id` may go now under `limits`, or how long it should wait.
    pub async fn admit(self: &Arc<Self>, id: &str, limits: &Limits) -> Admission {
        let now = Instant::now();
        if let Some(wait) = self.held(now) {
            return Admission::Wait(wait, WaitReason::RetryAfter);
        }
        if let Some(rate) = limits.rate
            && let Some(wait) = self.rate_slot(id, rate.interval(), now)
        {
            return Admission::Wait(wait, WaitReason::Rate);
        }
        match self.concurrency_slot(limits.concurrency).await {
            Ok(()) => Admission::Go(Ticket { gate: self.clone() }),
            Err((wait, reason)) => Admission::Wait(wait, reason),
        }
    }

    /// How much longer a `Retry-After` holds the destination, if it does.
    fn held(&self, now: Instant) -> Option<Duration> {
        let s = self.schedule.lock().unwrap_or_else(|p| p.into_inner());
        s.hold_until.filter(|until| *until > now).map(|until| until - now)
    }

    /// The destination asked for `wait` before anything more is sent (a `Retry-After`): every
    /// delivery to it waits that long, not only the one that was answered.
    pub fn hold(&self, wait: Duration) {
        let mut s = self.schedule.lock().unwrap_or_else(|p| p.into_inner());
        let until = Instant::now() + wait;
        s.hold_until = Some(s.hold_until.map_or(until, |held| held.max(until)));
    }

    /// `None` when `id` may go now (it reserved this slot earlier, or the next one is free);
    /// else reserves the next slot for it and says how far away that is.
    fn rate_slot(&self, id: &str, interval: Duration, now: Instant) -> Option<Duration> {
        let mut s = self.schedule.lock().unwrap_or_else(|p| p.into_inner());
        if s.reserved.remove(id).is_some() {
            return None;
        }
        let slot = s.rate_next.map_or(now, |next| next.max(now));
        s.rate_next = Some(slot + interval);
        let wait = slot.saturating_duration_since(now);
        if wait <= SLACK {
            return None;
        }
        if s.reserved.len() >= MAX_RESERVED {
            s.reserved.retain(|_, at| now.saturating_duration_since(*at) < STALE_RESERVATION);
        }
        if s.reserved.len() < MAX_RESERVED {
            s.reserved.insert(id.to_owned(), slot);
        }
        Some(wait)
    }

    /// A slot under the concurrency limit now, or after a wait in memory while fewer than the
    /// limit wait for one; else how long to wait in the store.
    async fn concurrency_slot(&self, concurrency: Concurrency) -> Result<(), (Duration, WaitReason)> {
        let mut waited = false;
        loop {
            // A `Retry-After` that came while this delivery waited holds it too.
            if waited && let Some(wait) = self.held(Instant::now()) {
                self.waiting.fetch_sub(1, Ordering::Relaxed);
                return Err((wait, WaitReason::RetryAfter));
            }
            let limit = self.limit(concurrency);
            let current = self.in_flight.load(Ordering::Relaxed);
            if current < limit {
                if self.in_flight.compare_exchange(current, current + 1, Ordering::AcqRel, Ordering::Relaxed).is_ok() {
                    if waited {
                        self.waiting.fetch_sub(1, Ordering::Relaxed);
                    }
                    self.with_limiter(concurrency, |l| l.sent(current + 1));
                    return Ok(());
                }
                continue;
            }
            if !waited {
                if self.waiting.fetch_add(1, Ordering::Relaxed) >= limit {
                    self.waiting.fetch_sub(1, Ordering::Relaxed);
                    self.with_limiter(concurrency, |l| l.sent(current + 1));
                    return Err((self.spread(limit, Instant::now()), WaitReason::Concurrency));
                }
                waited = true;
            }
            let _ = tokio::time::timeout(RECHECK, self.freed.notified()).await;
        }
    }

    /// The concurrency limit now.
    fn limit(&self, concurrency: Concurrency) -> u32 {
        self.with_limiter(concurrency, |l| l.current())
    }

    /// Runs `f` on the limiter for `concurrency`, made (again) when the config's mode changed.
    fn with_limiter<T>(&self, concurrency: Concurrency, f: impl FnOnce(&mut Limiter) -> T) -> T {
        let mode = match concurrency {
            Concurrency::Fixed(n) => Mode::Fixed(n),
            Concurrency::Adaptive { max } => Mode::Adaptive { max },
        };
        let mut s = self.schedule.lock().unwrap_or_else(|p| p.into_inner());
        let limiter = match &mut s.limiter {
            Some(limiter) if limiter.mode() == mode => limiter,
            slot => slot.insert(Limiter::new(mode)),
        };
        f(limiter)
    }

    /// How long a delivery over the concurrency limit waits in the store: one request's time
    /// divided by the limit past the last one sent back, so a backlog returns in the order it
    /// left and about as fast as the destination answers.
    fn spread(&self, limit: u32, now: Instant) -> Duration {
        let mut s = self.schedule.lock().unwrap_or_else(|p| p.into_inner());
        let spacing = s.latency.unwrap_or(MIN_SPACING).max(MIN_SPACING) / limit.max(1);
        let slot = s.spread_next.map_or(now, |next| next.max(now)) + spacing;
        s.spread_next = Some(slot);
        slot.saturating_duration_since(now)
    }

    /// Records an attempt that took `took` and what it said: the limit learns from it, and the
    /// breaker's count moves. Back-pressure counts as a failure only where the limit cannot be
    /// cut any more (adaptive at 1) or does not move (fixed).
    pub fn attempted(&self, health: Health, took: Duration) -> Failures {
        let mut s = self.schedule.lock().unwrap_or_else(|p| p.into_inner());
        s.latency = Some(match s.latency {
            None => took,
            Some(avg) => avg.mul_f64(0.8) + took.mul_f64(0.2),
        });
        let signal = match health {
            Health::Healthy | Health::Neutral => Signal::Answered,
            Health::Overloaded => Signal::Overloaded,
            Health::Failing => Signal::Failed,
        };
        let absorbed = s.limiter.as_ref().is_some_and(|l| matches!(l.mode(), Mode::Adaptive { .. }) && l.current() > 1);
        if let Some(limiter) = &mut s.limiter {
            limiter.answered(took, signal, Instant::now());
        }
        match health {
            Health::Healthy => s.failures = 0,
            Health::Failing => {
                s.failures = s.failures.saturating_add(1);
                s.failure_kind = FailureKind::Failing;
            }
            Health::Overloaded if !absorbed => {
                s.failures = s.failures.saturating_add(1);
                s.failure_kind = FailureKind::Overloaded;
            }
            Health::Overloaded | Health::Neutral => {}
        }
        Failures { in_a_row: s.failures, kind: s.failure_kind }
    }

    /// Starts a new run of failures, and the limit again from 1 (after a resume).
    pub fn reset_failures(&self) {
        let mut s = self.schedule.lock().unwrap_or_else(|p| p.into_inner());
        s.failures = 0;
        if let Some(limiter) = &mut s.limiter {
            limiter.restart();
        }
    }

    pub fn view(&self) -> GateView {
        let s = self.schedule.lock().unwrap_or_else(|p| p.into_inner());
        let now = Instant::now();
        GateView {
            in_flight: self.in_flight.load(Ordering::Relaxed),
            waiting: self.waiting.load(Ordering::Relaxed),
            consecutive_failures: s.failures,
            latency_ms: s.latency.map(|l| l.as_millis() as u64),
            concurrency_limit: s.limiter.as_ref().map(Limiter::current),
            rtt_baseline_ms: s.limiter.as_ref().and_then(Limiter::baseline).map(|b| b.as_secs_f64() * 1e3),
            retry_after_ms: s.hold_until.filter(|u| *u > now).map(|u| (u - now).as_millis() as u64),
        }
    }
}

/// Every destination's gate, and the pauses the store holds, as this gateway last read them.
#[derive(Debug, Default)]
pub struct Control {
    gates: Mutex<HashMap<String, Arc<Gate>>>,
    pauses: ArcSwap<HashMap<String, DestinationPause>>,
}

impl Control {
    /// The gate of destination `name` (made on first use).
    pub fn gate(&self, name: &str) -> Arc<Gate> {
        let mut gates = self.gates.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(gate) = gates.get(name) {
            return gate.clone(); // every delivery asks: no key is allocated once the gate exists
        }
        gates.entry(name.to_owned()).or_default().clone()
    }

    /// What the admin API shows of a destination's gate (zeros before its first delivery).
    pub fn view(&self, name: &str) -> GateView {
        let gates = self.gates.lock().unwrap_or_else(|p| p.into_inner());
        gates.get(name).map(|g| g.view()).unwrap_or_default()
    }

    /// The pause on `name`, if the store held one when last read.
    pub fn pause(&self, name: &str) -> Option<DestinationPause> {
        self.pauses.load().get(name).cloned()
    }

    pub fn pauses(&self) -> Arc<HashMap<String, DestinationPause>> {
        self.pauses.load_full()
    }

    /// Replaces the pauses with the store's current list.
    pub fn set_pauses(&self, list: Vec<DestinationPause>) {
        self.pauses.store(Arc::new(list.into_iter().map(|p| (p.destination.clone(), p)).collect()));
    }

    /// Records a pause or resume this gateway made, before the next read of the store.
    pub fn update_pause(&self, name: &str, pause: Option<DestinationPause>) {
        let mut next = HashMap::clone(&self.pauses.load());
        match pause {
            Some(p) => next.insert(name.to_owned(), p),
            None => next.remove(name),
        };
        self.pauses.store(Arc::new(next));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::model::Rate;

    fn limits(rate: Option<&str>, concurrency: Concurrency) -> Limits {
        let rate = rate.map(|r| r.parse::<Rate>().unwrap());
        Limits { rate, concurrency, ..Limits::default() }
    }

    #[test]
    fn a_rate_spaces_slots_and_a_delivery_sent_back_keeps_its_slot() {
        let gate = Gate::default();
        let t0 = Instant::now();
        let every = Duration::from_millis(50);
        assert_eq!(gate.rate_slot("a", every, t0), None, "the first goes at once");
        assert_eq!(gate.rate_slot("b", every, t0), Some(Duration::from_millis(50)));
        assert_eq!(gate.rate_slot("c", every, t0), Some(Duration::from_millis(100)));
        // b comes back when its slot is due and goes, though c's slot is later.
        assert_eq!(gate.rate_slot("b", every, t0 + Duration::from_millis(50)), None);
        // A newcomer queues behind c.
        assert_eq!(gate.rate_slot("d", every, t0 + Duration::from_millis(50)), Some(Duration::from_millis(100)));
    }

    #[test]
    fn an_idle_rate_does_not_bank_slots() {
        let gate = Gate::default();
        let t0 = Instant::now();
        let every = Duration::from_millis(50);
        assert_eq!(gate.rate_slot("a", every, t0), None);
        let later = t0 + Duration::from_secs(10);
        assert_eq!(gate.rate_slot("b", every, later), None);
        assert_eq!(gate.rate_slot("c", every, later), Some(every), "a burst after idling is still spaced");
    }

    #[tokio::test]
    async fn concurrency_waits_in_memory_for_a_few_then_sends_the_rest_back() {
        let gate = Arc::new(Gate::default());
        let two = limits(None, Concurrency::Fixed(2));
        let mut held = Vec::new();
        for id in ["a", "b"] {
            match gate.admit(id, &two).await {
                Admission::Go(t) => held.push(t),
                other => panic!("{other:?}"),
            }
        }
        assert_eq!(gate.view().in_flight, 2);
        // Two may wait in memory for a slot: they go when one frees.
        let waiters: Vec<_> = ["c", "d"]
            .map(|id| {
                tokio::spawn({
                    let g = gate.clone();
                    let l = two.clone();
                    async move { g.admit(id, &l).await }
                })
            })
            .into();
        for _ in 0..100 {
            if gate.view().waiting == 2 {
                break;
            }
            tokio::task::yield_now().await;
        }
        assert_eq!(gate.view().waiting, 2);
        // A fifth is sent back to the store, spaced by what an attempt takes over the limit.
        gate.attempted(Health::Healthy, Duration::from_millis(100));
        match gate.admit("e", &two).await {
            Admission::Wait(wait, WaitReason::Concurrency) => assert_eq!(wait, Duration::from_millis(50)),
            other => panic!("{other:?}"),
        }
        held.clear();
        for w in waiters {
            assert!(matches!(w.await, Ok(Admission::Go(_))));
        }
        assert_eq!(gate.view().in_flight, 0, "tickets dropped with their tasks free their slots");
    }

    #[test]
    fn failures_count_in_a_row_and_refusals_do_not_break_the_run() {
        let gate = Gate::default();
        let ms = Duration::from_millis(1);
        assert_eq!(gate.attempted(Health::Failing, ms).in_a_row, 1);
        assert_eq!(gate.attempted(Health::Neutral, ms).in_a_row, 1);
        assert_eq!(gate.attempted(Health::Failing, ms).in_a_row, 2);
        assert_eq!(gate.attempted(Health::Healthy, ms).in_a_row, 0);
    }

    #[tokio::test]
    async fn back_pressure_cuts_an_adaptive_limit_before_it_counts_against_the_receiver() {
        let gate = Arc::new(Gate::default());
        let adaptive = limits(None, Concurrency::Adaptive { max: 64 });
        let ms = Duration::from_millis(1);
        // Grow the limit past 1: full windows of fast answers.
        for _ in 0..6 {
            let limit = gate.view().concurrency_limit.unwrap_or(1);
            let tickets: Vec<_> = futures_lite_admit(&gate, &adaptive, limit).await;
            drop(tickets);
            for _ in 0..limit {
                gate.attempted(Health::Healthy, ms);
            }
        }
        assert!(gate.view().concurrency_limit.unwrap_or(0) > 8);
        let cut = gate.attempted(Health::Overloaded, ms);
        assert_eq!((cut.in_a_row, gate.view().concurrency_limit.map(|l| l > 1)), (0, Some(true)), "absorbed");
        let gate_at_one = Gate::default();
        gate_at_one.limit(Concurrency::Adaptive { max: 64 });
        let counted = gate_at_one.attempted(Health::Overloaded, ms);
        assert_eq!((counted.in_a_row, counted.kind), (1, FailureKind::Overloaded), "at 1 it counts");
    }

    /// Admits `n` deliveries at once and keeps their tickets.
    async fn futures_lite_admit(gate: &Arc<Gate>, limits: &Limits, n: u32) -> Vec<Ticket> {
        let mut tickets = Vec::new();
        for i in 0..n {
            match gate.admit(&format!("d{i}"), limits).await {
                Admission::Go(t) => tickets.push(t),
                other => panic!("{other:?}"),
            }
        }
        tickets
    }

    #[tokio::test]
    async fn a_retry_after_holds_every_delivery_to_the_destination() {
        let gate = Arc::new(Gate::default());
        gate.hold(Duration::from_secs(2));
        match gate.admit("any", &limits(None, Concurrency::Fixed(8))).await {
            Admission::Wait(wait, WaitReason::RetryAfter) => assert!(wait > Duration::from_millis(1900)),
            other => panic!("{other:?}"),
        }
    }
}
