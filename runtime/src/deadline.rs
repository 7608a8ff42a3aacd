//! The deadlines of local calls: one sweeper task per node wakes the calls whose time is up,
//! instead of a timer of the runtime's per call (decision 0004).
//!
//! A call that has to wait puts its deadline and waker in a slab; when it ends, it takes them
//! out. The sweeper sleeps until the earliest deadline it knows of. A call whose deadline is
//! earlier than that wakes the sweeper to sleep less; with one timeout for every call (the
//! usual case) that happens only when the node was idle, so a call costs a slab insert and
//! remove, never a timer.

use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, Weak};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use futures_util::task::AtomicWaker;
use slab::Slab;
use tokio::time::Instant;

/// How many slabs the waiting calls spread over, one chosen per thread: callers on several
/// arbiters rarely wait for the same lock.
const SHARDS: usize = 8;

/// "No deadline known", in `next_due`.
const NONE: u64 = u64::MAX;

/// The deadlines of a node's waiting local calls.
pub(crate) struct Deadlines {
    inner: Arc<Inner>,
}

struct Inner {
    /// Deadlines are kept as nanoseconds since this instant.
    base: Instant,
    shards: [Shard; SHARDS],
    /// The earliest deadline the sweeper will wake for; `NONE` when it sleeps without a timer.
    next_due: AtomicU64,
    /// Set when a call brought `next_due` forward, so the sweeper re-arms.
    signaled: AtomicBool,
    sweeper: AtomicWaker,
}

/// One slab of waiting calls, on a cache line of its own.
#[repr(align(64))]
struct Shard(Mutex<Waiting>);

#[derive(Default)]
struct Waiting {
    calls: Slab<Entry>,
    /// Tells a call's entry from a later one that reuses its slab key.
    generation: u64,
}

struct Entry {
    generation: u64,
    at: Instant,
    waker: Waker,
}

/// Where a waiting call's entry is.
#[derive(Debug, Clone, Copy)]
struct Slot {
    shard: usize,
    key: usize,
    generation: u64,
}

impl Deadlines {
    /// The deadlines of a new node, with their sweeper spawned on the current arbiter.
    pub(crate) fn start() -> Self {
        let inner = Arc::new(Inner {
            base: Instant::now(),
            shards: std::array::from_fn(|_| Shard(Mutex::new(Waiting::default()))),
            next_due: AtomicU64::new(NONE),
            signaled: AtomicBool::new(false),
            sweeper: AtomicWaker::new(),
        });
        actix::spawn(sweep(Arc::downgrade(&inner)));
        Deadlines { inner }
    }

    /// How many calls wait for an answer with a deadline.
    #[cfg(test)]
    pub(crate) fn waiting(&self) -> usize {
        self.inner.shards.iter().map(|s| lock(s).calls.len()).sum()
    }
}

impl Inner {
    fn nanos(&self, at: Instant) -> u64 {
        u64::try_from(at.saturating_duration_since(self.base).as_nanos()).unwrap_or(NONE - 1)
    }

    fn register(&self, at: Instant, waker: &Waker) -> Slot {
        let shard = this_threads_shard();
        let mut waiting = lock(&self.shards[shard]);
        waiting.generation += 1;
        let generation = waiting.generation;
        let key = waiting.calls.insert(Entry {
            generation,
            at,
            waker: waker.clone(),
        });
        drop(waiting);
        let due = self.nanos(at);
        if due < self.next_due.load(Ordering::Acquire)
            && due < self.next_due.fetch_min(due, Ordering::AcqRel)
        {
            self.signaled.store(true, Ordering::Release);
            self.sweeper.wake();
        }
        Slot {
            shard,
            key,
            generation,
        }
    }

    /// Points a waiting call at a new waker; false when its entry is gone (it timed out).
    fn update(&self, slot: Slot, waker: &Waker) -> bool {
        let mut waiting = lock(&self.shards[slot.shard]);
        match waiting.calls.get_mut(slot.key) {
            Some(entry) if entry.generation == slot.generation => {
                if !entry.waker.will_wake(waker) {
                    entry.waker = waker.clone();
                }
                true
            }
            _ => false,
        }
    }

    fn remove(&self, slot: Slot) {
        let mut waiting = lock(&self.shards[slot.shard]);
        if waiting
            .calls
            .get(slot.key)
            .is_some_and(|e| e.generation == slot.generation)
        {
            waiting.calls.remove(slot.key);
        }
    }

    /// Wakes every call whose deadline has passed and takes it out; keeps the earliest
    /// deadline left for the next round.
    fn sweep(&self) {
        // Calls that register from here on see no deadline and signal, unless `earliest`
        // below already covers them.
        self.next_due.store(NONE, Ordering::SeqCst);
        let now = Instant::now();
        let mut earliest = NONE;
        let mut due = Vec::new();
        for shard in &self.shards {
            let mut waiting = lock(shard);
            waiting.calls.retain(|_, entry| {
                if entry.at <= now {
                    due.push(entry.waker.clone());
                    false
                } else {
                    earliest = earliest.min(self.nanos(entry.at));
                    true
                }
            });
        }
        self.next_due.fetch_min(earliest, Ordering::AcqRel);
        due.into_iter().for_each(Waker::wake);
    }
}

impl Drop for Inner {
    fn drop(&mut self) {
        // Lets the sweeper see that the node is gone, and end.
        self.sweeper.wake();
    }
}

/// Sleeps until the earliest known deadline or a signal, sweeps, and again; ends with the node.
async fn sweep(inner: Weak<Inner>) {
    let mut timer = Box::pin(tokio::time::sleep(Duration::ZERO));
    loop {
        let go_on = std::future::poll_fn(|cx| {
            let Some(inner) = inner.upgrade() else {
                return Poll::Ready(false);
            };
            inner.sweeper.register(cx.waker());
            if inner.signaled.swap(false, Ordering::AcqRel) {
                return Poll::Ready(true);
            }
            let due = inner.next_due.load(Ordering::Acquire);
            if due == NONE {
                return Poll::Pending;
            }
            let at = inner.base + Duration::from_nanos(due);
            if timer.deadline() != at {
                timer.as_mut().reset(at);
            }
            timer.as_mut().poll(cx).map(|()| true)
        })
        .await;
        match inner.upgrade() {
            Some(inner) if go_on => inner.sweep(),
            _ => return,
        }
    }
}

/// The deadline of one call.
#[derive(Debug)]
pub(crate) struct Deadline {
    at: Instant,
    immediate: bool,
    slot: Option<Slot>,
}

impl Deadline {
    /// A deadline `timeout` from now.
    pub(crate) fn after(timeout: Duration) -> Self {
        Deadline {
            at: Instant::now() + timeout,
            immediate: timeout.is_zero(),
            slot: None,
        }
    }

    /// Ready once the sweeper has found the deadline passed (it wakes the call then); until
    /// then the entry keeps the latest waker. Polling reads no clock: a task that yields often
    /// (tokio's budget makes a busy one do so) polls its calls again and again.
    pub(crate) fn poll(&mut self, deadlines: &Deadlines, cx: &mut Context<'_>) -> Poll<()> {
        let inner = &deadlines.inner;
        match self.slot {
            _ if self.immediate => Poll::Ready(()),
            None => {
                self.slot = Some(inner.register(self.at, cx.waker()));
                Poll::Pending
            }
            Some(slot) => {
                if !inner.update(slot, cx.waker()) {
                    self.clear(deadlines);
                    Poll::Ready(())
                } else {
                    Poll::Pending
                }
            }
        }
    }

    /// The call ended: it no longer waits.
    pub(crate) fn clear(&mut self, deadlines: &Deadlines) {
        if let Some(slot) = self.slot.take() {
            deadlines.inner.remove(slot);
        }
    }
}

fn lock(shard: &Shard) -> MutexGuard<'_, Waiting> {
    shard.0.lock().unwrap_or_else(PoisonError::into_inner)
}

fn this_threads_shard() -> usize {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    thread_local! {
        static SHARD: usize = NEXT.fetch_add(1, Ordering::Relaxed) % SHARDS;
    }
    SHARD.with(|shard| *shard)
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn wait(deadlines: &Deadlines, mut deadline: Deadline) {
        std::future::poll_fn(|cx| deadline.poll(deadlines, cx)).await
    }

    /// At `at` after `start`, or within the runtime timer's next millisecond tick.
    fn assert_at(start: Instant, at: Duration) {
        let elapsed = start.elapsed();
        assert!(
            elapsed >= at && elapsed <= at + Duration::from_millis(1),
            "{elapsed:?} instead of {at:?}"
        );
    }

    #[actix_rt::test]
    async fn a_deadline_passes_at_its_time_not_before() {
        tokio::time::pause();
        let deadlines = Deadlines::start();
        let start = Instant::now();
        wait(&deadlines, Deadline::after(Duration::from_secs(30))).await;
        assert_at(start, Duration::from_secs(30));
        assert_eq!(deadlines.waiting(), 0);
    }

    #[actix_rt::test]
    async fn an_earlier_deadline_does_not_wait_for_a_later_one() {
        tokio::time::pause();
        let deadlines = Deadlines::start();
        let start = Instant::now();
        let mut long = Deadline::after(Duration::from_secs(30));
        std::future::poll_fn(|cx| {
            assert!(long.poll(&deadlines, cx).is_pending());
            Poll::Ready(())
        })
        .await;
        wait(&deadlines, Deadline::after(Duration::from_millis(5))).await;
        assert_at(start, Duration::from_millis(5));
        assert_eq!(deadlines.waiting(), 1);
        wait(&deadlines, long).await;
        assert_at(start, Duration::from_secs(30));
        assert_eq!(deadlines.waiting(), 0);
    }

    #[actix_rt::test]
    async fn a_cleared_call_leaves_nothing_behind() {
        tokio::time::pause();
        let deadlines = Deadlines::start();
        let mut calls: Vec<Deadline> = (1..=100)
            .map(|i| Deadline::after(Duration::from_millis(i)))
            .collect();
        std::future::poll_fn(|cx| {
            for call in &mut calls {
                assert!(call.poll(&deadlines, cx).is_pending());
            }
            Poll::Ready(())
        })
        .await;
        assert_eq!(deadlines.waiting(), 100);
        for call in &mut calls {
            call.clear(&deadlines);
        }
        assert_eq!(deadlines.waiting(), 0);
    }

    /// A command that never answers.
    struct Never;
    impl crate::CommandContract for Never {
        const SERVICE: &'static str = "silent";
        const VERSION: &'static str = "1";
        const COMMAND: &'static str = "never";
        type Payload = crate::Empty;
        type Parameter = crate::Empty;
        type Output = crate::Empty;
    }
    struct Silent;
    impl actix::Actor for Silent {
        type Context = actix::Context<Self>;
    }
    impl crate::Service for Silent {
        const NAME: &'static str = "silent";
        const VERSION: &'static str = "1";
        fn register(service: &mut crate::Registrar<Self>) {
            service.command::<Never>();
        }
    }
    impl actix::Handler<crate::Invocation<Never>> for Silent {
        type Result = actix::ResponseFuture<crate::CommandResult<Never>>;
        fn handle(&mut self, _: crate::Invocation<Never>, _: &mut Self::Context) -> Self::Result {
            Box::pin(std::future::pending())
        }
    }

    #[actix_rt::test]
    async fn an_invoke_dropped_while_waiting_takes_its_deadline_out() {
        use std::future::{Future, IntoFuture};
        let node = crate::Node::builder()
            .service(|| Silent)
            .start()
            .expect("the node starts");
        let deadlines = &node.shared().deadlines;
        let mut calls: Vec<_> = (0..10)
            .map(|_| {
                Box::pin(
                    node.client()
                        .invoke::<Never>(crate::Empty {}, crate::Empty {})
                        .into_future(),
                )
            })
            .collect();
        std::future::poll_fn(|cx| {
            for call in &mut calls {
                assert!(call.as_mut().poll(cx).is_pending());
            }
            Poll::Ready(())
        })
        .await;
        assert_eq!(deadlines.waiting(), 10);
        drop(calls);
        assert_eq!(deadlines.waiting(), 0);
    }

    #[actix_rt::test]
    async fn a_zero_timeout_is_due_at_once() {
        let deadlines = Deadlines::start();
        let mut deadline = Deadline::after(Duration::ZERO);
        std::future::poll_fn(|cx| {
            assert!(deadline.poll(&deadlines, cx).is_ready());
            Poll::Ready(())
        })
        .await;
    }
}
