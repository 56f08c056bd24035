//! Handing fresh work straight from the writer to the loop that will run it.
//!
//! Without this, a new event is written due, found by a lease query, updated as leased, and
//! read back — two statements and a round trip through the writer per event and again per
//! delivery, on the path every webhook takes. With it, when the loop has room, the writer
//! stores the row already leased to this gateway and, after the commit, passes the same item
//! over a bounded channel: the row is the truth (a crash leaves a lease that is released at
//! the next start, or expires), the channel only saves reading it back.
//!
//! Fairness: once any fresh item had to be stored unleased (the loop was full), the writer
//! stops handing off and sets `backlog`, so the loop leases the older rows first; the loop
//! clears it when a lease query comes back short. This file never touches a database.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;
use tokio::sync::mpsc;

/// The writer's end of a handoff.
#[derive(Debug)]
pub(crate) struct Sender<T> {
    tx: mpsc::Sender<T>,
    /// How long a handed-off row is leased for (the loop's own lease).
    lease: Duration,
    backlog: Arc<AtomicBool>,
}

/// A slot reserved in the loop's channel, for one row about to be stored leased.
#[derive(Debug)]
pub(crate) struct Lease<T> {
    permit: mpsc::OwnedPermit<T>,
    pub(crate) duration: Duration,
}

impl<T> Lease<T> {
    /// Handoffs `item` over; call only after the commit that stored its row leased.
    pub(crate) fn hand(self, item: T) {
        self.permit.send(item);
    }
}

/// The loop's end of a handoff.
#[derive(Debug)]
pub struct Receiver<T> {
    rx: mpsc::Receiver<T>,
    backlog: Arc<AtomicBool>,
}

/// A handoff holding at most `capacity` items waiting for the loop; rows are leased for `lease`.
pub(crate) fn channel<T>(capacity: usize, lease: Duration) -> (Sender<T>, Receiver<T>) {
    let (tx, rx) = mpsc::channel(capacity.max(1));
    let backlog = Arc::new(AtomicBool::new(true)); // rows may be due from an earlier run
    (Sender { tx, lease, backlog: backlog.clone() }, Receiver { rx, backlog })
}

impl<T> Sender<T> {
    /// A slot for one fresh item, unless the loop is full, gone, or has older rows to lease
    /// first. `None` means: store the row due, and the loop will lease it.
    pub(crate) fn reserve(&self) -> Option<Lease<T>> {
        if self.backlog.load(Ordering::Acquire) {
            return None;
        }
        match self.tx.clone().try_reserve_owned() {
            Ok(permit) => Some(Lease { permit, duration: self.lease }),
            Err(_) => {
                self.backlog.store(true, Ordering::Release);
                None
            }
        }
    }
}

impl<T> Receiver<T> {
    /// The next handed-off item; `None` once the store has stopped.
    pub async fn recv(&mut self) -> Option<T> {
        self.rx.recv().await
    }

    pub fn try_recv(&mut self) -> Option<T> {
        self.rx.try_recv().ok()
    }

    /// Whether rows may be due in the store that were not handed off.
    pub fn backlog(&self) -> bool {
        self.backlog.load(Ordering::Acquire)
    }

    /// Says a lease query came back short: no due row was left, so fresh work may be handed
    /// off again.
    pub fn drained(&self) {
        self.backlog.store(false, Ordering::Release);
    }

    /// Stops the handoff (no new item is handed) and returns the items already handed.
    pub fn close(&mut self) -> Vec<T> {
        self.rx.close();
        let mut left = Vec::new();
        while let Ok(item) = self.rx.try_recv() {
            left.push(item);
        }
        left
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn hands_off_until_full_then_reports_backlog_until_drained() {
        let (tx, mut rx) = channel::<u32>(2, Duration::from_secs(60));
        assert!(tx.reserve().is_none(), "a new handoff starts with a backlog: earlier rows may be due");
        rx.drained();
        let (a, b) = (tx.reserve().expect("room"), tx.reserve().expect("room"));
        assert!(tx.reserve().is_none(), "full");
        assert!(rx.backlog(), "a refused reservation means a row stored due");
        a.hand(1);
        b.hand(2);
        assert!(tx.reserve().is_none(), "no handoff while older rows wait in the store");
        rx.drained();
        assert_eq!(rx.try_recv(), Some(1));
        assert!(tx.reserve().is_some(), "room again, and no backlog");
    }

    #[tokio::test]
    async fn a_dropped_reservation_frees_its_slot_and_close_returns_what_was_handed() {
        let (tx, mut rx) = channel::<u32>(1, Duration::from_secs(60));
        rx.drained();
        drop(tx.reserve().expect("room"));
        tx.reserve().expect("the slot came back").hand(7);
        assert_eq!(rx.close(), vec![7]);
        assert!(tx.reserve().is_none());
    }
}
