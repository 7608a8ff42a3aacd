//! A command that names a receiver instance is handled by that node only (design §3 rule 2),
//! even when another node runs the same service, and even when the caller's own node does.
#![allow(clippy::unwrap_used)]

use std::future::IntoFuture;
use std::time::Duration;

use futures_util::future::join_all;
use tributary::codec::Codec;
use tributary::{Client, Empty, InstanceId};
use tributary_integration_tests::graph::{BridgedNode, Echo, Echoed, Text};
use tributary_integration_tests::{eventually_async, Mosquitto, TestNode};

const DEADLINE: Duration = Duration::from_secs(10);
const ANSWER: Duration = Duration::from_secs(5);
/// Commands per round.
const ROUND: usize = 50;

/// Sends `ROUND` echoes addressed to `target` from `client`, all at once; returns who
/// answered each.
async fn addressed(client: &Client, target: InstanceId, tag: &str) -> Vec<Echoed> {
    join_all((0..ROUND).map(|i| {
        client
            .invoke::<Echo>(
                Text {
                    text: format!("{tag}-{i}"),
                },
                Empty {},
            )
            .on_instance(target)
            .timeout(ANSWER)
            .into_future()
    }))
    .await
    .into_iter()
    .map(Result::unwrap)
    .collect()
}

fn handlers(answers: &[Echoed]) -> std::collections::BTreeMap<String, usize> {
    let mut count = std::collections::BTreeMap::new();
    for answer in answers {
        *count.entry(answer.node.clone()).or_default() += 1;
    }
    count
}

#[actix::test]
async fn addressed_commands_are_handled_by_the_named_node_only() {
    let broker = Mosquitto::start().unwrap();
    // Two nodes run Echo: one here, one in a process of its own; a third node here calls.
    let remote = TestNode::spawn(env!("CARGO_BIN_EXE_test-node"), &broker, &["Echo"], &[]).unwrap();
    let remote_id: InstanceId = remote.instance_id().parse().unwrap();
    let local = BridgedNode::start(&broker, &["Echo"], Codec::Json).unwrap();
    let local_id = local.node.instance_id();
    let caller = BridgedNode::start(&broker, &["Peer"], Codec::Json).unwrap();
    let client = caller.node.client();
    // Warm-up: each Echo node has answered an addressed command once, so both nodes' filters
    // (and the caller's response filter) are in place.
    for target in [local_id, remote_id] {
        assert!(
            eventually_async(DEADLINE, async || client
                .invoke::<Echo>(
                    Text {
                        text: "warm-up".into()
                    },
                    Empty {}
                )
                .on_instance(target)
                .timeout(Duration::from_millis(500))
                .await
                .is_ok())
            .await,
            "{target} never answered"
        );
    }

    for target in [local_id, remote_id, local_id] {
        let answers = addressed(&client, target, "from-caller").await;
        assert_eq!(
            handlers(&answers),
            [(target.to_string(), ROUND)].into(),
            "addressed to {target}"
        );
    }

    // From the node that runs Echo itself: addressed elsewhere, locality does not apply...
    let own = local.node.client();
    let answers = addressed(&own, remote_id, "from-local-to-remote").await;
    assert_eq!(handlers(&answers), [(remote_id.to_string(), ROUND)].into());
    // ...and addressed to itself, it is handled where it is.
    let answers = addressed(&own, local_id, "from-local-to-itself").await;
    assert_eq!(handlers(&answers), [(local_id.to_string(), ROUND)].into());

    assert_eq!(caller.bridge.pending(), 0);
    assert_eq!(local.bridge.pending(), 0);
    let health = local.bridge.health();
    assert_eq!(
        (health.misaddressed, health.late_responses),
        (0, 0),
        "{health:?}"
    );
}
