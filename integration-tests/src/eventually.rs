//! Polling a condition until it holds or a deadline passes.
//!
//! Tests synchronise through channels wherever they can. Some conditions offer nothing to
//! await: a file the broker writes, a process that has gone, a counter another thread bumps.
//! These helpers poll such a condition with a short, growing pause (1 ms doubling up to
//! 50 ms), so a test waits only as long as it has to and never longer than its deadline.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll, Waker};
use std::thread;
use std::time::{Duration, Instant};

/// The first pause between two checks.
const FIRST_PAUSE: Duration = Duration::from_millis(1);
/// The longest pause between two checks, which bounds how late a change is noticed.
const MAX_PAUSE: Duration = Duration::from_millis(50);

/// Polls `condition` until it returns `true` (then returns `true`) or `deadline` has passed
/// (then returns `false`). The condition is checked at least once, and once more at the
/// deadline.
///
/// Use it for conditions that cannot be awaited through a channel. It blocks the calling
/// thread between checks: on an async runtime use [`eventually_async`].
///
/// ```
/// use std::time::{Duration, Instant};
/// use tributary_integration_tests::eventually;
///
/// let start = Instant::now();
/// assert!(eventually(Duration::from_secs(1), || start.elapsed() > Duration::from_millis(5)));
/// assert!(!eventually(Duration::from_millis(10), || false));
/// ```
pub fn eventually(deadline: Duration, mut condition: impl FnMut() -> bool) -> bool {
    let end = Instant::now() + deadline;
    let mut pauses = Pauses::new();
    loop {
        if condition() {
            return true;
        }
        let now = Instant::now();
        if now >= end {
            return false;
        }
        thread::sleep(pauses.next_pause().min(end - now));
    }
}

/// The async form of [`eventually`]: awaits `condition` until it yields `true` (then returns
/// `true`) or `deadline` has passed (then returns `false`), without blocking the executor
/// between checks.
///
/// It needs no particular runtime: the pauses are timed by a short-lived helper thread
/// that wakes the task, so it runs under tokio, actix or any other executor alike. A
/// condition that never completes is not cut short: keep each check quick.
///
/// ```
/// use std::sync::atomic::{AtomicUsize, Ordering};
/// use std::time::Duration;
/// use tributary_integration_tests::eventually_async;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let checks = AtomicUsize::new(0);
/// let held = eventually_async(Duration::from_secs(1), async || {
///     checks.fetch_add(1, Ordering::Relaxed) >= 3
/// })
/// .await;
/// assert!(held);
/// # }
/// ```
pub async fn eventually_async(
    deadline: Duration,
    mut condition: impl AsyncFnMut() -> bool,
) -> bool {
    let end = Instant::now() + deadline;
    let mut pauses = Pauses::new();
    loop {
        if condition().await {
            return true;
        }
        let now = Instant::now();
        if now >= end {
            return false;
        }
        Delay::new(pauses.next_pause().min(end - now)).await;
    }
}

/// The pause before each next check: doubling from [`FIRST_PAUSE`] up to [`MAX_PAUSE`].
struct Pauses {
    next: Duration,
}

impl Pauses {
    fn new() -> Self {
        Self { next: FIRST_PAUSE }
    }

    fn next_pause(&mut self) -> Duration {
        let pause = self.next;
        self.next = (self.next * 2).min(MAX_PAUSE);
        pause
    }
}

/// A runtime-agnostic timer future: the first poll starts a thread that sleeps for the
/// duration and then wakes the task.
struct Delay {
    /// How long to wait, counted from the first poll.
    duration: Duration,
    /// Set once the helper thread has been started, so each delay starts one thread.
    started: bool,
    /// Shared with the helper thread: whether the time is up, and whom to wake.
    state: Arc<Mutex<DelayState>>,
}

/// What the helper thread and the future share.
#[derive(Default)]
struct DelayState {
    /// The helper thread has slept for the whole duration.
    done: bool,
    /// The waker of the latest poll, woken when the time is up.
    waker: Option<Waker>,
}

impl Delay {
    fn new(duration: Duration) -> Self {
        Self {
            duration,
            started: false,
            state: Arc::default(),
        }
    }
}

impl Future for Delay {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = self.get_mut();
        {
            let mut state = this.state.lock().unwrap_or_else(PoisonError::into_inner);
            if state.done {
                return Poll::Ready(());
            }
            state.waker = Some(cx.waker().clone());
        }
        if !this.started {
            this.started = true;
            let state = Arc::clone(&this.state);
            let duration = this.duration;
            let spawned = thread::Builder::new()
                .name("eventually-delay".into())
                .spawn(move || {
                    thread::sleep(duration);
                    let waker = {
                        let mut state = state.lock().unwrap_or_else(PoisonError::into_inner);
                        state.done = true;
                        state.waker.take()
                    };
                    if let Some(waker) = waker {
                        waker.wake();
                    }
                });
            if spawned.is_err() {
                // No thread to time the pause: check again at once rather than hang.
                return Poll::Ready(());
            }
        }
        Poll::Pending
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn true_at_once_returns_without_pausing() {
        let start = Instant::now();
        assert!(eventually(Duration::from_secs(5), || true));
        assert!(start.elapsed() < Duration::from_secs(1));
    }

    #[test]
    fn false_until_the_deadline_returns_false_after_it() {
        let start = Instant::now();
        let mut checks = 0;
        assert!(!eventually(Duration::from_millis(30), || {
            checks += 1;
            false
        }));
        assert!(start.elapsed() >= Duration::from_millis(30));
        assert!(
            checks >= 2,
            "checked at least at the start and at the deadline"
        );
    }

    #[test]
    fn becomes_true_after_a_few_checks() {
        let mut checks = 0;
        assert!(eventually(Duration::from_secs(5), || {
            checks += 1;
            checks == 4
        }));
        assert_eq!(checks, 4);
    }

    #[test]
    fn pauses_double_up_to_the_cap() {
        let mut pauses = Pauses::new();
        let seen: Vec<_> = (0..8).map(|_| pauses.next_pause().as_millis()).collect();
        assert_eq!(seen, [1, 2, 4, 8, 16, 32, 50, 50]);
    }
}
