//! The broker restarts (SIGTERM, persistence on, back on the same port) in the middle of a
//! stream of events and commands between two nodes. The bridges reconnect with backoff,
//! subscribe again (mosquitto 2.0.11 forgets `$share` subscriptions across a restart while
//! it reports the session present), and traffic resumes: whatever is sent once they are back
//! arrives, every command ends, and what was lost is counted and printed (design §3 rules 4
//! and 6; the durable outbox of rule 7 is a later step, so loss during the outage is
//! measured, not forbidden).
#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use actix::prelude::*;
use tokio::sync::oneshot;
use tributary::{
    CommandContract, CommandError, CommandResult, Delivery, Empty, EventContract, Invocation, Node,
    Registrar, Service, Status,
};
use tributary_integration_tests::{eventually_async, Mosquitto};
use tributary_mqtt::{MqttBridge, MqttConfig};

/// Events and commands in the stream, one of each per step.
const STEPS: u64 = 1_000;
/// The step after which the broker is restarted.
const RESTART_AT: u64 = 300;
/// The pause between two steps: the stream lasts about 4 s, so it runs on well past the
/// reconnect (restart at ~1.2 s, broker back ~1 s later, bridges back within ~1.5 s).
const PACE: Duration = Duration::from_millis(4);
/// How long the broker stays down.
const OUTAGE: Duration = Duration::from_secs(1);
/// The bound on each command.
const CALL_TIMEOUT: Duration = Duration::from_secs(3);
/// Messages sent this long after both bridges are back must all arrive.
const GRACE: Duration = Duration::from_millis(500);
/// Fewer reconnect attempts than this per bridge during the outage: rumqttc alone retries
/// some 20,000 times a second.
const MAX_ERRORS: u64 = 200;
/// Warm-up and end-marker numbers start here.
const PROBE: u64 = 1_000_000;
/// The bound on each wait.
const DEADLINE: Duration = Duration::from_secs(15);

/// `Sink/1/take`: answers the number it was given.
struct Take;
impl CommandContract for Take {
    const SERVICE: &'static str = "Sink";
    const VERSION: &'static str = "1";
    const COMMAND: &'static str = "take";
    type Payload = u64;
    type Parameter = Empty;
    type Output = u64;
}

/// `numbered`: a number.
struct Numbered;
impl EventContract for Numbered {
    const EVENT: &'static str = "numbered";
    type Payload = u64;
}

/// What the sink's handlers received, in order.
#[derive(Debug, Default)]
struct Seen {
    commands: Vec<u64>,
    events: Vec<u64>,
}

/// Service `Sink`: handles `take`, and subscribes to `numbered` once per service (through a
/// share group).
struct Sink(Arc<Mutex<Seen>>);
impl Actor for Sink {
    type Context = Context<Self>;
}
impl Service for Sink {
    const NAME: &'static str = "Sink";
    const VERSION: &'static str = "1";
    fn register(service: &mut Registrar<Self>) {
        service.command::<Take>().subscribe::<Numbered>();
    }
}
impl Handler<Invocation<Take>> for Sink {
    type Result = CommandResult<Take>;
    fn handle(&mut self, call: Invocation<Take>, _: &mut Context<Self>) -> Self::Result {
        self.0.lock().unwrap().commands.push(call.payload);
        Ok(call.payload)
    }
}
impl Handler<Delivery<Numbered>> for Sink {
    type Result = ();
    fn handle(&mut self, delivery: Delivery<Numbered>, _: &mut Context<Self>) {
        self.0.lock().unwrap().events.push(*delivery.payload());
    }
}

/// A bridge with the default settings except the longest wait between reconnect attempts:
/// 1 s instead of 10 s, so the first attempt after the broker is back comes soon enough for
/// the stream to go on well after it. The doubling from 100 ms is the default.
fn bridge(host: &str, port: u16) -> MqttBridge {
    let mut config = MqttConfig::new(host, port);
    config.backoff_max_ms = 1_000;
    MqttBridge::new(config).unwrap()
}

/// When the stream's phases began.
struct Timeline {
    /// SIGTERM is about to be sent.
    stopping: Instant,
    /// The broker accepts connections again.
    started: Instant,
    /// Both bridges have both connections back (seen within ~50 ms).
    reconnected: Instant,
}

/// When a message was sent, relative to the restart.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Phase {
    BeforeTheStop,
    DuringTheOutage,
    JustAfterTheReconnect,
    WellAfterTheReconnect,
}

impl Phase {
    fn of(timeline: &Timeline, at: Instant) -> Phase {
        if at < timeline.stopping {
            Phase::BeforeTheStop
        } else if at < timeline.reconnected {
            Phase::DuringTheOutage
        } else if at < timeline.reconnected + GRACE {
            Phase::JustAfterTheReconnect
        } else {
            Phase::WellAfterTheReconnect
        }
    }

    fn label(self) -> &'static str {
        match self {
            Phase::BeforeTheStop => "before the stop",
            Phase::DuringTheOutage => "during the outage",
            Phase::JustAfterTheReconnect => "just after the reconnect",
            Phase::WellAfterTheReconnect => "well after the reconnect",
        }
    }
}

/// What became of the steps sent in one phase.
#[derive(Debug, Default)]
struct Tally {
    steps: usize,
    events_lost: usize,
    events_twice: usize,
    /// Refused at once: the caller's bridge was not connected (503).
    commands_refused: usize,
    /// Timed out (504).
    commands_timed_out: usize,
    /// Not refused, yet never reached the handler.
    commands_lost: usize,
    commands_twice: usize,
}

fn all_connected(bridges: &[&MqttBridge]) -> bool {
    bridges.iter().all(|b| {
        let health = b.health();
        health.ready
    })
}

#[actix::test]
async fn the_bridges_ride_out_a_broker_restart() {
    let broker = Mosquitto::start().unwrap();
    let (host, port) = (broker.host(), broker.port());
    let seen: Arc<Mutex<Seen>> = Arc::default();
    let server_bridge = bridge(host, port);
    let sink = seen.clone();
    let server = Node::builder()
        .service(move || Sink(sink.clone()))
        .bridge(server_bridge.attach())
        .start()
        .unwrap();
    let caller_bridge = bridge(host, port);
    let caller = Node::builder()
        .bridge(caller_bridge.attach())
        .start()
        .unwrap();

    // Warm up: the server answers and its share-group subscription for events works.
    let mut probe = PROBE;
    let ready = eventually_async(DEADLINE, async || {
        probe += 1;
        caller.client().emit::<Numbered>(probe);
        let answered = caller
            .client()
            .invoke::<Take>(probe, Empty {})
            .on_instance(server.instance_id())
            .timeout(Duration::from_millis(500))
            .await
            .is_ok();
        answered && !seen.lock().unwrap().events.is_empty()
    })
    .await;
    assert!(ready, "the server never answered or never got an event");

    // The stream: one event and one command per step; commands run concurrently.
    let (restart_tx, restart_rx) = oneshot::channel::<()>();
    let client = caller.client();
    let stream = actix::spawn(async move {
        let mut restart_tx = Some(restart_tx);
        let mut sent_at = Vec::with_capacity(STEPS as usize);
        let mut calls = Vec::with_capacity(STEPS as usize);
        let mut pace = tokio::time::interval(PACE);
        pace.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        for n in 0..STEPS {
            pace.tick().await;
            if n == RESTART_AT {
                if let Some(tx) = restart_tx.take() {
                    let _ = tx.send(());
                }
            }
            sent_at.push(Instant::now());
            client.emit::<Numbered>(n);
            let call = client.invoke::<Take>(n, Empty {}).timeout(CALL_TIMEOUT);
            calls.push(actix::spawn(async move {
                let outcome = call.await;
                (n, outcome)
            }));
        }
        (sent_at, calls)
    });

    // The restart, on a thread of its own: the fixture blocks while it waits.
    restart_rx.await.unwrap();
    let before = [caller_bridge.health(), server_bridge.health()];
    let stopping = Instant::now();
    let mut broker = broker;
    let (broker, started) = tokio::task::spawn_blocking(move || {
        broker.stop().unwrap();
        // The outage, deliberately this long.
        std::thread::sleep(OUTAGE);
        broker.restart().unwrap();
        (broker, Instant::now())
    })
    .await
    .unwrap();
    let back = eventually_async(DEADLINE, async || {
        all_connected(&[&caller_bridge, &server_bridge])
    })
    .await;
    let reconnected = Instant::now();
    let after = [caller_bridge.health(), server_bridge.health()];
    let timeline = Timeline {
        stopping,
        started,
        reconnected,
    };

    // Every command ends: answered, refused while disconnected (503) or timed out (504).
    let (sent_at, calls) = stream.await.unwrap();
    let mut outcomes: BTreeMap<u64, Result<u64, CommandError>> = BTreeMap::new();
    let ended = tokio::time::timeout(CALL_TIMEOUT + Duration::from_secs(5), async {
        for call in calls {
            let (n, outcome) = call.await.unwrap();
            outcomes.insert(n, outcome);
        }
    })
    .await;
    assert!(ended.is_ok(), "some commands never ended");

    // An end marker through the same path: once it is in, every event sent before it that
    // is still coming has come (the broker keeps a session's order).
    let mut marker = PROBE * 2;
    let marked = eventually_async(DEADLINE, async || {
        marker += 1;
        caller.client().emit::<Numbered>(marker);
        let _ = caller
            .client()
            .invoke::<Take>(marker, Empty {})
            .timeout(Duration::from_millis(500))
            .await;
        let seen = seen.lock().unwrap();
        seen.events.iter().any(|n| *n > PROBE * 2) && seen.commands.iter().any(|n| *n > PROBE * 2)
    })
    .await;
    let final_health = [caller_bridge.health(), server_bridge.health()];
    drop(broker);

    // What arrived, by number.
    let seen = seen.lock().unwrap();
    let count = |numbers: &[u64]| {
        let mut counts: BTreeMap<u64, usize> = BTreeMap::new();
        for n in numbers.iter().filter(|n| **n < STEPS) {
            *counts.entry(*n).or_default() += 1;
        }
        counts
    };
    let events = count(&seen.events);
    let handled = count(&seen.commands);

    // The report.
    println!(
        "restart after step {RESTART_AT}; outage {:.2?} (stop + {OUTAGE:?} + start); both \
         bridges back {:.2?} after the broker",
        timeline.started - timeline.stopping,
        timeline.reconnected - timeline.started,
    );
    for (name, (b, a)) in ["caller", "server"]
        .iter()
        .zip(before.iter().zip(after.iter()))
    {
        println!(
            "{name} bridge: {} connection errors and {} connects during the outage; \
             {} duplicates dropped, {} publishes without subscribers in all",
            a.connection_errors - b.connection_errors,
            a.connects - b.connects,
            a.duplicates,
            a.no_subscribers,
        );
    }
    let mut by_phase: BTreeMap<Phase, Tally> = BTreeMap::new();
    for n in 0..STEPS {
        let tally = by_phase
            .entry(Phase::of(&timeline, sent_at[n as usize]))
            .or_default();
        tally.steps += 1;
        tally.events_lost += usize::from(!events.contains_key(&n));
        tally.events_twice += usize::from(events.get(&n).is_some_and(|c| *c > 1));
        let status = outcomes[&n].as_ref().err().map(|e| e.status);
        let refused = status == Some(Status::SERVICE_UNAVAILABLE);
        tally.commands_refused += usize::from(refused);
        tally.commands_timed_out += usize::from(status == Some(Status::GATEWAY_TIMEOUT));
        tally.commands_lost += usize::from(!refused && !handled.contains_key(&n));
        tally.commands_twice += usize::from(handled.get(&n).is_some_and(|c| *c > 1));
    }
    println!(
        "{:<25} {:>5} | events {:>4} {:>5} | commands {:>4} {:>4} {:>4} {:>5}",
        "sent", "steps", "lost", "twice", "503", "504", "lost", "twice"
    );
    for (phase, t) in &by_phase {
        println!(
            "{:<25} {:>5} | events {:>4} {:>5} | commands {:>4} {:>4} {:>4} {:>5}",
            phase.label(),
            t.steps,
            t.events_lost,
            t.events_twice,
            t.commands_refused,
            t.commands_timed_out,
            t.commands_lost,
            t.commands_twice
        );
    }
    let answered_504_but_handled = outcomes
        .iter()
        .filter(|(n, o)| {
            matches!(o, Err(e) if e.status == Status::GATEWAY_TIMEOUT) && handled.contains_key(n)
        })
        .count();
    println!("commands handled whose answer was lost (504): {answered_504_but_handled}");

    // The bridges came back, with backoff, and did not spin afterwards.
    assert!(back, "the bridges did not reconnect: {after:?}");
    for (name, (b, a)) in ["caller", "server"]
        .iter()
        .zip(before.iter().zip(after.iter()))
    {
        let errors = a.connection_errors - b.connection_errors;
        assert!(
            (1..MAX_ERRORS).contains(&errors),
            "{name} bridge: {errors} connection errors during the outage"
        );
        assert!(
            a.connects >= b.connects + 2,
            "{name} bridge: both connections must connect again ({b:?} → {a:?})"
        );
    }
    for (name, (a, f)) in ["caller", "server"]
        .iter()
        .zip(after.iter().zip(final_health.iter()))
    {
        assert_eq!(
            (a.connection_errors, a.connects),
            (f.connection_errors, f.connects),
            "{name} bridge lost the broker again after reconnecting"
        );
    }
    assert!(marked, "the end markers never arrived");

    // Every command ended as a command may: answered (with its own number), 503, 504.
    for (n, outcome) in &outcomes {
        match outcome {
            Ok(answer) => assert_eq!(answer, n, "command {n} got another's answer"),
            Err(err) => assert!(
                err.status == Status::SERVICE_UNAVAILABLE || err.status == Status::GATEWAY_TIMEOUT,
                "command {n} ended with {err:?}"
            ),
        }
    }

    // Loss is bounded to the outage: whatever was sent well after the reconnect arrived.
    let well_after: Vec<u64> = (0..STEPS)
        .filter(|n| Phase::of(&timeline, sent_at[*n as usize]) == Phase::WellAfterTheReconnect)
        .collect();
    assert!(
        well_after.len() >= 50,
        "only {} steps were sent well after the reconnect: the stream ended too early",
        well_after.len()
    );
    let events_missing: Vec<u64> = well_after
        .iter()
        .copied()
        .filter(|n| !events.contains_key(n))
        .collect();
    let commands_failed: Vec<(u64, Status)> = well_after
        .iter()
        .filter_map(|n| outcomes[n].as_ref().err().map(|e| (*n, e.status)))
        .collect();
    assert!(
        events_missing.is_empty(),
        "events sent well after the reconnect were lost: {events_missing:?}"
    );
    assert!(
        commands_failed.is_empty(),
        "commands sent well after the reconnect failed: {commands_failed:?}"
    );
    // Nothing reached a handler twice (both bridges drop redelivered duplicates by id).
    let twice: Vec<u64> = events
        .iter()
        .chain(handled.iter())
        .filter(|(_, c)| **c > 1)
        .map(|(n, _)| *n)
        .collect();
    assert!(twice.is_empty(), "handled twice: {twice:?}");
}
