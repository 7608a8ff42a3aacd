//! Three instances of one service on three nodes share its commands through the broker's
//! share group: a fourth node that runs no instance sends 3,000 commands, every one is
//! answered, and each instance handles a fair part of them (design §3 rule 1).
#![allow(clippy::unwrap_used)]

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::rc::Rc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tributary::{Empty, Node};
use tributary_integration_tests::graph::{self, Echo, Text};
use tributary_integration_tests::Mosquitto;
use tributary_mqtt::{MqttBridge, MqttConfig};

/// How many commands the caller sends.
const COMMANDS: usize = 3_000;
/// How many of them are in flight at once.
const IN_FLIGHT: usize = 64;
/// The bound on each command.
const CALL_TIMEOUT: Duration = Duration::from_secs(5);
/// The least part of the commands each instance must handle.
const FAIR_SHARE: f64 = 0.20;

fn node(broker: &Mosquitto, services: &[&str]) -> (Node, MqttBridge) {
    let bridge = MqttBridge::new(MqttConfig::new(broker.host(), broker.port())).unwrap();
    let services: Vec<String> = services.iter().map(|s| s.to_string()).collect();
    let node = graph::graph(
        Node::builder(),
        &services,
        Arc::new(Mutex::new(Default::default())),
    )
    .bridge(bridge.attach())
    .start()
    .unwrap();
    (node, bridge)
}

#[actix::test]
async fn three_instances_on_three_nodes_share_3000_commands() {
    let broker = Mosquitto::start().unwrap();
    let servers: Vec<(Node, MqttBridge)> = (0..3).map(|_| node(&broker, &["Echo"])).collect();
    let (caller, caller_bridge) = node(&broker, &["Peer"]);
    for (server, _) in &servers {
        assert!(
            graph::answers(&caller, server, Duration::from_secs(10)).await,
            "instance {} never joined",
            server.instance_id()
        );
    }

    // IN_FLIGHT workers take the next number until all are sent.
    let next = Rc::new(RefCell::new(0..COMMANDS));
    let started = Instant::now();
    let workers: Vec<_> = (0..IN_FLIGHT)
        .map(|_| {
            let client = caller.client();
            let next = next.clone();
            actix::spawn(async move {
                let mut outcomes = Vec::new();
                loop {
                    let Some(i) = next.borrow_mut().next() else {
                        return outcomes;
                    };
                    let outcome = client
                        .invoke::<Echo>(
                            Text {
                                text: i.to_string(),
                            },
                            Empty {},
                        )
                        .timeout(CALL_TIMEOUT)
                        .await;
                    outcomes.push((i, outcome));
                }
            })
        })
        .collect();
    let mut by_node: BTreeMap<String, usize> = BTreeMap::new();
    let mut failures = Vec::new();
    let mut answered = vec![false; COMMANDS];
    for worker in workers {
        for (i, outcome) in worker.await.unwrap() {
            match outcome {
                Ok(echoed) => {
                    assert_eq!(echoed.text, i.to_string(), "answer to another command");
                    assert!(!answered[i], "command {i} answered twice");
                    answered[i] = true;
                    *by_node.entry(echoed.node).or_default() += 1;
                }
                Err(err) => failures.push((i, err.status, err.message)),
            }
        }
    }
    let elapsed = started.elapsed();

    println!(
        "{COMMANDS} commands, {IN_FLIGHT} in flight, in {elapsed:.2?} ({:.0}/s)",
        COMMANDS as f64 / elapsed.as_secs_f64()
    );
    for (i, (server, _)) in servers.iter().enumerate() {
        let handled = by_node
            .get(&server.instance_id().to_string())
            .copied()
            .unwrap_or(0);
        println!(
            "instance {i} ({}): {handled} ({:.1} %)",
            server.instance_id(),
            100.0 * handled as f64 / COMMANDS as f64
        );
    }
    assert!(
        failures.is_empty(),
        "{} commands failed, first: {:?}",
        failures.len(),
        failures.first()
    );
    assert_eq!(by_node.values().sum::<usize>(), COMMANDS);
    assert_eq!(
        by_node.len(),
        3,
        "answered by nodes other than the three: {by_node:?}"
    );
    for (server, _) in &servers {
        let handled = by_node[&server.instance_id().to_string()];
        assert!(
            handled as f64 >= FAIR_SHARE * COMMANDS as f64,
            "instance {} handled only {handled} of {COMMANDS}: {by_node:?}",
            server.instance_id()
        );
    }
    assert_eq!(caller_bridge.pending(), 0);
    for (_, bridge) in &servers {
        let health = bridge.health();
        assert_eq!(health.duplicates, 0, "{health:?}");
        assert_eq!(health.misaddressed, 0, "{health:?}");
    }
}
