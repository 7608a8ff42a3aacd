//! Flow control for what the bridge publishes.
//!
//! The broker takes only so many unacknowledged QoS 1 publishes from a client (its receive
//! maximum: 20 for mosquitto). Whatever rumqttc is handed beyond that waits inside rumqttc,
//! where a command whose caller already timed out would still be sent and run. So the bridge
//! hands rumqttc no more than the window and keeps the rest here, each with the deadline after
//! which nobody waits for it; it also holds everything while the broker is unreachable, and
//! drops the oldest event when that backlog is full.

use std::collections::VecDeque;
use std::time::Instant;

/// A publish waiting for room in the window.
#[derive(Debug)]
struct Waiting<T> {
    item: T,
    /// After this, nobody waits for it (a command's caller, a response's caller).
    deadline: Option<Instant>,
    /// Whether it may be dropped when the backlog is full (events): commands and responses
    /// are bounded by their deadlines instead.
    droppable: bool,
}

/// What became of a submitted publish.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Submitted<T> {
    /// Room in the window: send it now.
    SendNow(T),
    /// It waits; `dropped_oldest` says whether the oldest waiting event had to go.
    Queued {
        /// The backlog was full and its oldest event was dropped.
        dropped_oldest: bool,
    },
}

/// The window and the backlog.
#[derive(Debug)]
pub(crate) struct Pacer<T> {
    window: usize,
    in_flight: usize,
    waiting: VecDeque<Waiting<T>>,
    capacity: usize,
}

impl<T> Pacer<T> {
    /// A pacer with `window` publishes in flight at most and room for `capacity` waiting.
    pub(crate) fn new(window: usize, capacity: usize) -> Self {
        Pacer {
            window: window.max(1),
            in_flight: 0,
            waiting: VecDeque::new(),
            capacity: capacity.max(1),
        }
    }

    /// Takes a publish; `open` says whether the connection is up.
    pub(crate) fn submit(
        &mut self,
        item: T,
        deadline: Option<Instant>,
        droppable: bool,
        open: bool,
    ) -> Submitted<T> {
        if open && self.in_flight < self.window && self.waiting.is_empty() {
            self.in_flight += 1;
            return Submitted::SendNow(item);
        }
        let mut dropped_oldest = false;
        if self.waiting.len() >= self.capacity {
            if let Some(oldest) = self.waiting.iter().position(|w| w.droppable) {
                self.waiting.remove(oldest);
                dropped_oldest = true;
            }
        }
        self.waiting.push_back(Waiting {
            item,
            deadline,
            droppable,
        });
        Submitted::Queued { dropped_oldest }
    }

    /// The broker acknowledged a publish.
    pub(crate) fn acked(&mut self) {
        self.in_flight = self.in_flight.saturating_sub(1);
    }

    /// A new connection: the broker's receive maximum, and whether rumqttc kept what was in
    /// flight (it resends it when the session is present, drops it otherwise).
    pub(crate) fn connected(&mut self, window: usize, session_present: bool) {
        self.window = window.max(1);
        if !session_present {
            self.in_flight = 0;
        }
    }

    /// What may go now, oldest first, and how many waited past their deadline (dropped).
    pub(crate) fn ready(&mut self, now: Instant) -> (Vec<T>, usize) {
        let mut ready = Vec::new();
        let mut expired = 0;
        while self.in_flight < self.window {
            let Some(next) = self.waiting.pop_front() else {
                break;
            };
            if next.deadline.is_some_and(|deadline| deadline <= now) {
                expired += 1;
                continue;
            }
            self.in_flight += 1;
            ready.push(next.item);
        }
        (ready, expired)
    }

    /// Nothing in flight and nothing waiting.
    pub(crate) fn idle(&self) -> bool {
        self.in_flight == 0 && self.waiting.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn publishes_beyond_the_window_wait_for_acknowledgements() {
        let mut pacer = Pacer::new(2, 10);
        assert_eq!(pacer.submit(1, None, true, true), Submitted::SendNow(1));
        assert_eq!(pacer.submit(2, None, true, true), Submitted::SendNow(2));
        assert_eq!(
            pacer.submit(3, None, true, true),
            Submitted::Queued {
                dropped_oldest: false
            }
        );
        let now = Instant::now();
        assert_eq!(pacer.ready(now), (vec![], 0));
        pacer.acked();
        assert_eq!(pacer.ready(now), (vec![3], 0));
        pacer.acked();
        pacer.acked();
        assert!(pacer.idle());
    }

    #[test]
    fn what_waited_past_its_deadline_is_not_sent() {
        let mut pacer = Pacer::new(1, 10);
        let now = Instant::now();
        assert!(matches!(
            pacer.submit("a", None, false, true),
            Submitted::SendNow("a")
        ));
        pacer.submit("late", Some(now + Duration::from_millis(5)), false, true);
        pacer.submit("b", Some(now + Duration::from_secs(60)), false, true);
        pacer.acked();
        assert_eq!(pacer.ready(now + Duration::from_millis(10)), (vec!["b"], 1));
    }

    #[test]
    fn nothing_goes_while_disconnected_and_a_full_backlog_drops_its_oldest_event() {
        let mut pacer = Pacer::new(5, 2);
        assert_eq!(
            pacer.submit("e1", None, true, false),
            Submitted::Queued {
                dropped_oldest: false
            }
        );
        pacer.submit(
            "cmd",
            Some(Instant::now() + Duration::from_secs(60)),
            false,
            false,
        );
        assert_eq!(
            pacer.submit("e2", None, true, false),
            Submitted::Queued {
                dropped_oldest: true
            }
        );
        pacer.connected(5, false);
        assert_eq!(pacer.ready(Instant::now()), (vec!["cmd", "e2"], 0));
    }

    #[test]
    fn a_new_session_forgets_what_was_in_flight_a_present_one_does_not() {
        let mut pacer = Pacer::new(1, 10);
        pacer.submit(1, None, true, true);
        pacer.connected(1, true);
        assert_eq!(
            pacer.submit(2, None, true, true),
            Submitted::Queued {
                dropped_oldest: false
            }
        );
        pacer.connected(1, false);
        assert_eq!(pacer.ready(Instant::now()), (vec![2], 0));
    }
}
