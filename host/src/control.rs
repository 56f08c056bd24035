//! What protects a destination, in this gateway's memory: its rate and concurrency limits, its
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
//! Limits are per gateway. This file never talks to the store or the network.

use crate::config::model::Limits;
use crate::queue::DestinationPause;
use arc_swap::ArcSwap;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// A slot closer than this is taken at once rather than waited for in the store.
const SLACK: Duration = Duration::from_millis(2);

/// Reservations one destination keeps at most (a delivery reserved and then taken by another
/// gateway leaves its entry until it is a minute stale).
const MAX_RESERVED: usize = 100_000;
const STALE_RESERVATION: Duration = Duration::from_secs(60);

/// The shortest spacing assumed between requests to a destination at its concurrency limit,
/// before its answers have been timed.
const MIN_SPACING: Duration = Duration::from_millis(5);

/// Why a delivery waits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WaitReason {
    Rate,
    Concurrency,
    Paused,
}

impl WaitReason {
    pub fn label(self) -> &'static str {
        match self {
            WaitReason::Rate => "rate",
            WaitReason::Concurrency => "concurrency",
            WaitReason::Paused => "paused",
        }
    }
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
    _permit: Option<OwnedSemaphorePermit>,
}

impl Drop for Ticket {
    fn drop(&mut self) {
        self.gate.in_flight.fetch_sub(1, Ordering::Relaxed);
    }
}

/// One destination's limits state in this gateway.
#[derive(Debug, Default)]
pub struct Gate {
    schedule: Mutex<Schedule>,
    /// The concurrency limit the semaphore was made for, and the semaphore.
    permits: Mutex<Option<(u32, Arc<Semaphore>)>>,
    in_flight: AtomicU32,
    waiting: AtomicU32,
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
    /// Failed attempts in a row.
    failures: u32,
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
}

impl Gate {
    /// Whether delivery `id` may go now under `limits`, or how long it should wait.
    pub async fn admit(self: &Arc<Self>, id: &str, limits: &Limits) -> Admission {
        if let Some(rate) = limits.rate
            && let Some(wait) = self.rate_slot(id, rate.interval(), Instant::now())
        {
            return Admission::Wait(wait, WaitReason::Rate);
        }
        let permit = match limits.concurrency {
            None => None,
            Some(limit) => match self.concurrency_slot(limit).await {
                Ok(permit) => Some(permit),
                Err(wait) => return Admission::Wait(wait, WaitReason::Concurrency),
            },
        };
        self.in_flight.fetch_add(1, Ordering::Relaxed);
        Admission::Go(Ticket { gate: self.clone(), _permit: permit })
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

    /// A concurrency permit now, or after a short wait in memory while fewer than `limit`
    /// deliveries wait for one; else how long to wait in the store.
    async fn concurrency_slot(&self, limit: u32) -> Result<OwnedSemaphorePermit, Duration> {
        let semaphore = {
            let mut permits = self.permits.lock().unwrap_or_else(|p| p.into_inner());
            match &*permits {
                Some((n, s)) if *n == limit => s.clone(),
                // A new limit takes a new semaphore; requests holding the old one finish.
                _ => {
                    let fresh = Arc::new(Semaphore::new(limit as usize));
                    *permits = Some((limit, fresh.clone()));
                    fresh
                }
            }
        };
        if let Ok(permit) = semaphore.clone().try_acquire_owned() {
            return Ok(permit);
        }
        if self.waiting.fetch_add(1, Ordering::Relaxed) < limit {
            let permit = semaphore.acquire_owned().await;
            self.waiting.fetch_sub(1, Ordering::Relaxed);
            if let Ok(permit) = permit {
                return Ok(permit);
            }
        } else {
            self.waiting.fetch_sub(1, Ordering::Relaxed);
        }
        Err(self.spread(limit, Instant::now()))
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

    /// Records an attempt that took `took`: `Some(true)` the destination is healthy,
    /// `Some(false)` it failed, `None` it answered but refused this one delivery (which says
    /// nothing about its health). Returns the failures in a row so far.
    pub fn attempted(&self, healthy: Option<bool>, took: Duration) -> u32 {
        let mut s = self.schedule.lock().unwrap_or_else(|p| p.into_inner());
        s.latency = Some(match s.latency {
            None => took,
            Some(avg) => avg.mul_f64(0.8) + took.mul_f64(0.2),
        });
        match healthy {
            Some(true) => s.failures = 0,
            Some(false) => s.failures = s.failures.saturating_add(1),
            None => {}
        }
        s.failures
    }

    /// Starts a new run of failures (after a resume).
    pub fn reset_failures(&self) {
        self.schedule.lock().unwrap_or_else(|p| p.into_inner()).failures = 0;
    }

    pub fn view(&self) -> GateView {
        let s = self.schedule.lock().unwrap_or_else(|p| p.into_inner());
        GateView {
            in_flight: self.in_flight.load(Ordering::Relaxed),
            waiting: self.waiting.load(Ordering::Relaxed),
            consecutive_failures: s.failures,
            latency_ms: s.latency.map(|l| l.as_millis() as u64),
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

    fn limits(rate: Option<&str>, concurrency: Option<u32>) -> Limits {
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
        let two = limits(None, Some(2));
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
        gate.attempted(Some(true), Duration::from_millis(100));
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
        assert_eq!(gate.attempted(Some(false), ms), 1);
        assert_eq!(gate.attempted(None, ms), 1);
        assert_eq!(gate.attempted(Some(false), ms), 2);
        assert_eq!(gate.attempted(Some(true), ms), 0);
    }
}
