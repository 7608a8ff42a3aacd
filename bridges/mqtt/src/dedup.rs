//! A window of recently seen message ids: QoS 1 may deliver a message twice (after a broker
//! restart, say), and handling must not run twice.

use std::collections::{HashSet, VecDeque};
use std::sync::Arc;

use foldhash::fast::RandomState;

/// Remembers the last `capacity` ids.
#[derive(Debug)]
pub(crate) struct Dedup {
    /// The ids in the window; each shares its text with its entry in `order`.
    seen: HashSet<Arc<str>, RandomState>,
    /// The same ids, oldest first.
    order: VecDeque<Arc<str>>,
    capacity: usize,
}

impl Dedup {
    pub(crate) fn new(capacity: usize) -> Self {
        Dedup {
            seen: HashSet::with_capacity_and_hasher(capacity, RandomState::default()),
            order: VecDeque::with_capacity(capacity),
            capacity: capacity.max(1),
        }
    }

    /// Whether `id` is new; remembers it.
    pub(crate) fn first_time(&mut self, id: &str) -> bool {
        if self.seen.contains(id) {
            return false;
        }
        if self.order.len() == self.capacity {
            if let Some(oldest) = self.order.pop_front() {
                self.seen.remove(&oldest);
            }
        }
        let id: Arc<str> = Arc::from(id);
        self.seen.insert(id.clone());
        self.order.push_back(id);
        true
    }
}

#[cfg(test)]
mod tests {
    use super::Dedup;

    #[test]
    fn a_repeated_id_is_caught_within_the_window() {
        let mut dedup = Dedup::new(2);
        assert!(dedup.first_time("a"));
        assert!(!dedup.first_time("a"));
        assert!(dedup.first_time("b"));
        assert!(dedup.first_time("c")); // "a" leaves the window
        assert!(dedup.first_time("a"));
        assert!(!dedup.first_time("c"));
    }
}
