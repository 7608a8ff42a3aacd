//! A node that shuts down gracefully leaves the broker nothing to hold for it: its share
//! groups go to the instances that stay, and its durable session ends (design §3 rule 6,
//! second and third points, and rule 9).
#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rumqttc::v5::mqttbytes::v5::Packet;
use rumqttc::v5::{AsyncClient, Event};
use tributary::{Empty, Node};
use tributary_integration_tests::graph::{self, Echo, Pinged, Received, Text};
use tributary_integration_tests::{eventually_async, Mosquitto};
use tributary_mqtt::{MqttBridge, MqttConfig};

/// How many commands and events are sent after the shutdown.
const AFTER: u64 = 100;
/// Warm-up events carry numbers from here on.
const PROBE: u64 = 1_000_000;
/// The bound on each wait and each call.
const DEADLINE: Duration = Duration::from_secs(10);

fn node(
    broker: &Mosquitto,
    services: &[&str],
    received: &Arc<Mutex<Received>>,
) -> (Node, MqttBridge) {
    let bridge = MqttBridge::new(MqttConfig::new(broker.host(), broker.port())).unwrap();
    let services: Vec<String> = services.iter().map(|s| s.to_string()).collect();
    let node = graph::graph(Node::builder(), &services, received.clone())
        .bridge(bridge.attach())
        .start()
        .unwrap();
    (node, bridge)
}

/// Connects a plain MQTT v5 client with `client_id`, clean start off and a session expiry,
/// as a node's durable session does, and returns the CONNACK's `session_present`. The
/// client disconnects without ending the session.
async fn session_present(broker: &Mosquitto, client_id: &str) -> bool {
    let mut options = tributary_integration_tests::raw::tuned_options(broker, client_id);
    options.set_clean_start(false);
    options.set_session_expiry_interval(Some(60));
    let (client, mut event_loop) = AsyncClient::new(options, 10);
    let present = tokio::time::timeout(DEADLINE, async {
        loop {
            match event_loop.poll().await {
                Ok(Event::Incoming(Packet::ConnAck(ack))) => return ack.session_present,
                Ok(_) => {}
                Err(err) => panic!("cannot connect {client_id}: {err}"),
            }
        }
    })
    .await
    .expect("no CONNACK");
    client.try_disconnect().unwrap();
    let _ = tokio::time::timeout(DEADLINE, async {
        while !matches!(
            event_loop.poll().await,
            Ok(Event::Outgoing(rumqttc::Outgoing::Disconnect)) | Err(_)
        ) {}
    })
    .await;
    present
}

#[actix::test]
async fn a_node_that_shuts_down_leaves_its_share_groups_and_ends_its_session() {
    let broker = Mosquitto::start().unwrap();
    let leaving_seen = Arc::new(Mutex::new(Received::default()));
    let staying_seen = Arc::new(Mutex::new(Received::default()));
    let (leaving, leaving_bridge) = node(&broker, &["Echo", "Recorder"], &leaving_seen);
    let (staying, _) = node(&broker, &["Echo", "Recorder"], &staying_seen);
    let (caller, _) = node(&broker, &["Peer"], &Arc::default());
    assert!(
        graph::answers(&caller, &leaving, DEADLINE).await,
        "leaving node never answered"
    );
    assert!(
        graph::answers(&caller, &staying, DEADLINE).await,
        "staying node never answered"
    );
    // Both recorders are in the `once` share group and have their `everywhere` filter.
    let mut probe = PROBE;
    let subscribed = eventually_async(DEADLINE, async || {
        caller.client().emit::<Pinged>(probe);
        probe += 1;
        [&leaving_seen, &staying_seen].iter().all(|seen| {
            let seen = seen.lock().unwrap();
            !seen.once.is_empty() && !seen.everywhere.is_empty()
        })
    })
    .await;
    assert!(subscribed, "recorders never received a probe");

    // The control: a durable session that was not ended is reported present.
    assert!(!session_present(&broker, "control-m").await);
    assert!(session_present(&broker, "control-m").await);

    let leaving_id = leaving.instance_id();
    let started = Instant::now();
    let report = leaving.shutdown().await;
    let took = started.elapsed();
    println!("shutdown took {took:.2?}: {report:?}");
    assert_eq!(report.abandoned, 0);
    assert!(!leaving_bridge.health().connected);
    assert!(!leaving_bridge.health().commands_connected);

    // Every command goes to the instance that stays: the leaving one is in no share group.
    let client = caller.client();
    for i in 0..AFTER {
        let echoed = client
            .invoke::<Echo>(
                Text {
                    text: i.to_string(),
                },
                Empty {},
            )
            .timeout(DEADLINE)
            .await
            .unwrap_or_else(|err| panic!("command {i} after the shutdown failed: {err:?}"));
        assert_eq!(
            echoed.node,
            staying.instance_id().to_string(),
            "command {i}"
        );
    }

    // Every event goes to the recorder that stays, none to a durable session left behind.
    let before = staying_seen.lock().unwrap().once.len();
    for n in 0..AFTER {
        caller.client().emit::<Pinged>(n);
    }
    let all = eventually_async(DEADLINE, async || {
        let seen = staying_seen.lock().unwrap();
        seen.once[before..].iter().filter(|n| **n < AFTER).count() as u64 == AFTER
            && seen.everywhere.iter().filter(|n| **n < AFTER).count() as u64 == AFTER
    })
    .await;
    let once: Vec<u64> = staying_seen.lock().unwrap().once[before..]
        .iter()
        .copied()
        .filter(|n| *n < AFTER)
        .collect();
    assert!(
        all && once == (0..AFTER).collect::<Vec<_>>(),
        "the staying recorder got {} of {AFTER} events once: {once:?}",
        once.len()
    );

    // The leaving node's durable session is gone: the broker keeps nothing for it.
    assert!(
        !session_present(&broker, &format!("{leaving_id}-m")).await,
        "the durable session of {leaving_id} outlived its graceful shutdown"
    );
}

/// What became of one command sent while a node shut down.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum Outcome {
    /// Answered by the node that shut down.
    Leaving,
    /// Answered by the node that stays.
    Staying,
    /// Failed with this status and message.
    Failed(u16, String),
}

fn outcome(
    answer: Result<graph::Echoed, tributary::CommandError>,
    leaving: &str,
    staying: &str,
) -> Outcome {
    match answer {
        Ok(echoed) if echoed.node == leaving => Outcome::Leaving,
        Ok(echoed) if echoed.node == staying => Outcome::Staying,
        Ok(echoed) => Outcome::Failed(0, format!("answered by {}", echoed.node)),
        Err(err) => Outcome::Failed(err.status.code(), err.message),
    }
}

/// Commands keep coming while one of two instances shuts down: each is answered, by the
/// instance that leaves (it drains what reached it) or by the one that stays. None is
/// refused for arriving during the drain, none is lost with the leaving command session.
#[actix::test]
async fn commands_in_flight_during_a_graceful_shutdown_are_all_answered() {
    const WORKERS: usize = 32;
    const BURST: usize = 100;
    const CALL_TIMEOUT: Duration = Duration::from_secs(3);
    let broker = Mosquitto::start().unwrap();
    let (leaving, _) = node(&broker, &["Echo"], &Arc::default());
    let (staying, _) = node(&broker, &["Echo"], &Arc::default());
    let (caller, _) = node(&broker, &["Peer"], &Arc::default());
    assert!(
        graph::answers(&caller, &leaving, DEADLINE).await,
        "leaving node never answered"
    );
    assert!(
        graph::answers(&caller, &staying, DEADLINE).await,
        "staying node never answered"
    );
    let (leaving_id, staying_id) = (
        leaving.instance_id().to_string(),
        staying.instance_id().to_string(),
    );

    // Workers send commands back to back until told to stop, and log what became of each.
    let outcomes: Arc<Mutex<Vec<Outcome>>> = Arc::default();
    let stop = Arc::new(AtomicBool::new(false));
    let workers: Vec<_> = (0..WORKERS)
        .map(|worker| {
            let (client, outcomes, stop) = (caller.client(), outcomes.clone(), stop.clone());
            let (leaving_id, staying_id) = (leaving_id.clone(), staying_id.clone());
            actix::spawn(async move {
                let mut i = 0;
                while !stop.load(Ordering::Relaxed) {
                    let text = format!("{worker}-{i}");
                    let outcome = outcome(
                        client
                            .invoke::<Echo>(Text { text }, Empty {})
                            .timeout(CALL_TIMEOUT)
                            .await,
                        &leaving_id,
                        &staying_id,
                    );
                    outcomes.lock().unwrap().push(outcome);
                    i += 1;
                }
            })
        })
        .collect();
    let count = |o: Outcome| outcomes.lock().unwrap().iter().filter(|x| **x == o).count();

    // Shut down while both instances are busy.
    assert!(
        eventually_async(DEADLINE, async || count(Outcome::Leaving) >= 100
            && count(Outcome::Staying) >= 100)
        .await
    );
    // A burst on top, so that plenty are on their way to the leaving instance as it leaves.
    let burst: Vec<_> = (0..BURST)
        .map(|i| {
            let (client, outcomes) = (caller.client(), outcomes.clone());
            let (leaving_id, staying_id) = (leaving_id.clone(), staying_id.clone());
            actix::spawn(async move {
                let text = format!("burst-{i}");
                let outcome = outcome(
                    client
                        .invoke::<Echo>(Text { text }, Empty {})
                        .timeout(CALL_TIMEOUT)
                        .await,
                    &leaving_id,
                    &staying_id,
                );
                outcomes.lock().unwrap().push(outcome);
            })
        })
        .collect();
    let report = leaving.shutdown().await;
    // Go on until the staying instance has answered plenty more on its own.
    let staying_before = count(Outcome::Staying);
    assert!(
        eventually_async(DEADLINE, async || count(Outcome::Staying)
            >= staying_before + 200)
        .await
    );
    stop.store(true, Ordering::Relaxed);
    for task in workers.into_iter().chain(burst) {
        task.await.unwrap();
    }

    let outcomes = outcomes.lock().unwrap().clone();
    let mut tally = BTreeMap::<Outcome, usize>::new();
    for outcome in &outcomes {
        *tally.entry(outcome.clone()).or_default() += 1;
    }
    println!("{report:?}; {} commands: {tally:?}", outcomes.len());
    let failed = outcomes
        .iter()
        .filter(|o| matches!(o, Outcome::Failed(..)))
        .count();
    assert_eq!(
        failed,
        0,
        "{failed} of {} commands sent during the shutdown failed: {tally:?}",
        outcomes.len()
    );
}
