//! What a bridge knows about its own condition: connected or not, the last error, and
//! counters of what went wrong without a caller to tell.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Mutex;

use crate::connection::Conn;

/// A snapshot of a bridge's condition.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Health {
    /// The durable session (events, responses, publishing) is connected.
    pub connected: bool,
    /// The command session is connected.
    pub commands_connected: bool,
    /// Both sessions are connected and the broker has confirmed every subscription: commands
    /// and events for this node reach it.
    pub ready: bool,
    /// The last connection error, if any.
    pub last_error: Option<String>,
    /// Successful connections (CONNACKs), both sessions.
    pub connects: u64,
    /// Failed connection attempts and lost connections, both sessions.
    pub connection_errors: u64,
    /// Incoming messages that could not be decoded or were too large.
    pub undecodable: u64,
    /// Incoming messages dropped as duplicates (QoS 1 redelivery).
    pub duplicates: u64,
    /// Incoming messages that matched a filter only through snake_case collisions, or came
    /// back from this node.
    pub misaddressed: u64,
    /// Responses that came after their caller gave up.
    pub late_responses: u64,
    /// Events dropped because the in-memory queue overflowed while disconnected.
    pub events_dropped: u64,
    /// Publishes the broker acknowledged with "no matching subscribers".
    pub no_subscribers: u64,
    /// Commands and responses dropped unsent because their caller had stopped waiting before
    /// the broker could take them.
    pub expired: u64,
}

#[derive(Debug, Default)]
pub(crate) struct HealthState {
    main: AtomicBool,
    commands: AtomicBool,
    /// Subscriptions each session still waits to see confirmed since it connected.
    main_unconfirmed: AtomicU64,
    commands_unconfirmed: AtomicU64,
    last_error: Mutex<Option<String>>,
    pub(crate) connects: AtomicU64,
    pub(crate) connection_errors: AtomicU64,
    pub(crate) undecodable: AtomicU64,
    pub(crate) duplicates: AtomicU64,
    pub(crate) misaddressed: AtomicU64,
    pub(crate) late_responses: AtomicU64,
    pub(crate) events_dropped: AtomicU64,
    pub(crate) no_subscribers: AtomicU64,
    pub(crate) expired: AtomicU64,
}

pub(crate) fn bump(counter: &AtomicU64) {
    counter.fetch_add(1, Ordering::Relaxed);
}

impl HealthState {
    fn flag(&self, conn: Conn) -> &AtomicBool {
        match conn {
            Conn::Main => &self.main,
            Conn::Commands => &self.commands,
        }
    }

    pub(crate) fn is_connected(&self, conn: Conn) -> bool {
        self.flag(conn).load(Ordering::Acquire)
    }

    fn unconfirmed(&self, conn: Conn) -> &AtomicU64 {
        match conn {
            Conn::Main => &self.main_unconfirmed,
            Conn::Commands => &self.commands_unconfirmed,
        }
    }

    /// Records a CONNACK after which `subscriptions` SUBSCRIBEs go out.
    pub(crate) fn connected(&self, conn: Conn, subscriptions: usize) {
        self.unconfirmed(conn)
            .store(subscriptions as u64, Ordering::Release);
        self.flag(conn).store(true, Ordering::Release);
        bump(&self.connects);
    }

    /// Records a SUBACK.
    pub(crate) fn confirmed(&self, conn: Conn) {
        let _ = self
            .unconfirmed(conn)
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| n.checked_sub(1));
    }

    fn ready(&self) -> bool {
        [Conn::Main, Conn::Commands].into_iter().all(|conn| {
            self.is_connected(conn) && self.unconfirmed(conn).load(Ordering::Acquire) == 0
        })
    }

    /// Records a failed poll; returns whether the connection was up until now (the first
    /// error of an outage).
    pub(crate) fn failed(&self, conn: Conn, error: String) -> bool {
        bump(&self.connection_errors);
        *self.last_error.lock().unwrap_or_else(|e| e.into_inner()) = Some(error);
        self.flag(conn).swap(false, Ordering::AcqRel)
    }

    pub(crate) fn closed(&self, conn: Conn) {
        self.flag(conn).store(false, Ordering::Release);
    }

    pub(crate) fn snapshot(&self) -> Health {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        Health {
            connected: self.main.load(Ordering::Acquire),
            commands_connected: self.commands.load(Ordering::Acquire),
            ready: self.ready(),
            last_error: self
                .last_error
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .clone(),
            connects: get(&self.connects),
            connection_errors: get(&self.connection_errors),
            undecodable: get(&self.undecodable),
            duplicates: get(&self.duplicates),
            misaddressed: get(&self.misaddressed),
            late_responses: get(&self.late_responses),
            events_dropped: get(&self.events_dropped),
            no_subscribers: get(&self.no_subscribers),
            expired: get(&self.expired),
        }
    }
}
