//! Every invoke ends (design §3 rule 4), also when no node handles the command: a bridged
//! node cannot know that nobody listens, so the command goes to the broker and the caller
//! gets a 504 at its deadline, not before and not much after, and nothing stays pending.
//!
//! What the bridge does for each call (`BridgeHandle::invoke`): it encodes the command with
//! a message expiry equal to the call's timeout (rounded up to whole seconds), so that the
//! broker drops it rather than hand it to a handler after the caller gave up; it records the
//! call's reply channel in its pending map under the correlation id, guarded by a
//! `PendingGuard`; it hands the publish to rumqttc without waiting (`try_publish`); and it
//! awaits the reply under `tokio::time::timeout`. At the deadline the timeout yields the 504
//! and the guard, dropped as the call's future ends (or is dropped), removes the pending
//! entry. The expiry counts from when the broker receives the command, though, and rumqttc
//! keeps at most the broker's receive maximum unacknowledged: in a burst like this one most
//! commands are still queued in the client when their callers get the 504, and are
//! published afterwards (see `expired_commands_are_not_published.rs`).
#![allow(clippy::unwrap_used)]

use std::future::{Future, IntoFuture};
use std::task::Poll;
use std::time::{Duration, Instant};

use futures_util::future::join_all;
use tributary::codec::Codec;
use tributary::{Empty, Status};
use tributary_integration_tests::graph::{BridgedNode, Echo, Nobody, Numbered, Text};
use tributary_integration_tests::{eventually_async, Mosquitto};

const CALLS: usize = 10_000;
const TIMEOUT: Duration = Duration::from_secs(2);
/// How many calls start between two yields of the test thread.
const CHUNK: usize = 100;
/// How late after its deadline a call may end: 10,000 timers fire together on one thread.
const MARGIN: Duration = Duration::from_secs(1);

#[actix::test]
async fn ten_thousand_unhandled_commands_each_end_with_504_at_their_deadline() {
    let broker = Mosquitto::start().unwrap();
    // Echo runs elsewhere: a second node, so the caller's bridge is known to work.
    let server = BridgedNode::start(&broker, &["Echo"], Codec::Json).unwrap();
    let caller = BridgedNode::start(&broker, &["Peer"], Codec::Json).unwrap();
    let client = caller.node.client();
    assert!(
        eventually_async(Duration::from_secs(10), async || client
            .invoke::<Echo>(
                Text {
                    text: "warm-up".into()
                },
                Empty {}
            )
            .timeout(Duration::from_millis(500))
            .await
            .is_ok())
        .await,
        "no round trip through the broker: {:?} {:?}",
        caller.bridge.health(),
        server.bridge.health()
    );

    // All 10,000 in flight together, each its own task, started in chunks: the test thread
    // starts a chunk, waits until each of its calls has been sent, then starts the next. So
    // the calls started first have their timers served on time while the rest start (one
    // `join_all` of 10,000 would first poll them all, which takes seconds in a debug build and
    // holds up every timer meanwhile; spawning them all at once queues the expired calls
    // behind those not yet started).
    let started = Instant::now();
    let mut calls = Vec::with_capacity(CALLS);
    let (sent, mut sending) = tokio::sync::mpsc::unbounded_channel();
    for n in 0..CALLS {
        let call = client
            .invoke::<Nobody>(Numbered { n: n as u64 }, Empty {})
            .timeout(TIMEOUT)
            .into_future();
        let sent = sent.clone();
        calls.push(actix::spawn(async move {
            let start = Instant::now();
            let mut call = std::pin::pin!(call);
            // The first poll publishes the command; then the chunk may go on.
            let first = std::future::poll_fn(|cx| Poll::Ready(call.as_mut().poll(cx))).await;
            let _ = sent.send(());
            let outcome = match first {
                Poll::Ready(outcome) => outcome,
                Poll::Pending => call.await,
            };
            (start, start.elapsed(), outcome)
        }));
        if n % CHUNK == CHUNK - 1 {
            for _ in 0..CHUNK {
                sending.recv().await.unwrap();
            }
        }
    }
    let outcomes: Vec<_> = join_all(calls)
        .await
        .into_iter()
        .map(Result::unwrap)
        .collect();
    let total = started.elapsed();
    let last_start = outcomes.iter().map(|(start, ..)| *start).max().unwrap() - started;

    let mut statuses = std::collections::BTreeMap::new();
    let (mut shortest, mut longest) = (Duration::MAX, Duration::ZERO);
    for (_, took, outcome) in &outcomes {
        let status = outcome.as_ref().err().map(|e| e.status.code());
        *statuses.entry(status).or_insert(0usize) += 1;
        shortest = shortest.min(*took);
        longest = longest.max(*took);
    }
    assert_eq!(
        statuses,
        [(Some(Status::GATEWAY_TIMEOUT.code()), CALLS)].into(),
        "outcomes by status (None: success); first error: {:?}",
        outcomes.iter().find_map(|(_, _, o)| o
            .as_ref()
            .err()
            .filter(|e| e.status != Status::GATEWAY_TIMEOUT))
    );
    assert!(
        shortest >= TIMEOUT,
        "a call ended {shortest:?} after it began, before its deadline"
    );
    assert!(
        longest <= TIMEOUT + MARGIN,
        "a call ended {longest:?} after it began"
    );
    assert!(
        outcomes
            .iter()
            .all(|(_, _, o)| o.as_ref().is_err_and(|e| !e.handled)),
        "a timeout is the runtime's error, not a handler's"
    );
    assert_eq!(caller.bridge.pending(), 0);
    let health = caller.bridge.health();
    assert_eq!(health.late_responses, 0, "{health:?}");
    eprintln!(
        "{CALLS} calls in {total:?}, the last started after {last_start:?}: each took \
         {shortest:?}..{longest:?}; {health:?}"
    );
}
