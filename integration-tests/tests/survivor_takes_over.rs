//! Command share-group membership does not outlive the instance (design §3 rule 6): once one
//! of two instances of a service is killed and the broker has noticed, every new command is
//! answered by the survivor, none waits for the dead one. The commands session is
//! clean-start with no expiry, so it ends with the connection, and with it the membership.
#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::future::IntoFuture;
use std::time::{Duration, Instant};

use futures_util::future::join_all;
use tributary::codec::Codec;
use tributary::{Client, Empty};
use tributary_integration_tests::graph::{BridgedNode, Echo, Text};
use tributary_integration_tests::{eventually_async, Mosquitto, TestNode};

const DEADLINE: Duration = Duration::from_secs(10);
/// The timeout of the commands after the kill: none may reach it.
const ANSWER: Duration = Duration::from_secs(5);
/// Commands sent once the broker has noticed.
const AFTER: usize = 200;

/// Sends `n` unaddressed echoes at once; counts who answered (or the error status).
async fn echoes(client: &Client, n: usize, timeout: Duration) -> BTreeMap<String, usize> {
    let answers = join_all((0..n).map(|i| {
        client
            .invoke::<Echo>(
                Text {
                    text: i.to_string(),
                },
                Empty {},
            )
            .timeout(timeout)
            .into_future()
    }))
    .await;
    let mut count = BTreeMap::new();
    for answer in answers {
        let who = match answer {
            Ok(echoed) => echoed.node,
            Err(err) => format!("error {}", err.status.code()),
        };
        *count.entry(who).or_default() += 1;
    }
    count
}

#[actix::test]
async fn the_survivor_answers_every_command_once_the_other_instance_is_killed() {
    let broker = Mosquitto::start().unwrap();
    let binary = env!("CARGO_BIN_EXE_test-node");
    let mut doomed = TestNode::spawn(binary, &broker, &["Echo"], &[]).unwrap();
    let survivor = TestNode::spawn(binary, &broker, &["Echo"], &[]).unwrap();
    let (doomed_id, survivor_id) = (
        doomed.instance_id().to_owned(),
        survivor.instance_id().to_owned(),
    );
    let caller = BridgedNode::start(&broker, &["Peer"], Codec::Json).unwrap();
    let client = caller.node.client();

    // Both instances are in the share group: unaddressed commands reach each of them.
    let mut before = BTreeMap::new();
    assert!(
        eventually_async(DEADLINE, async || {
            before = echoes(&client, 20, Duration::from_millis(500)).await;
            before.contains_key(&doomed_id) && before.contains_key(&survivor_id)
        })
        .await,
        "the commands were not shared by both instances: {before:?}"
    );

    doomed.kill().unwrap();
    let killed = Instant::now();
    // The broker notices the closed socket (SIGKILL closes it at once); its log says so.
    let commands_client = format!("{doomed_id}-c");
    let noticed = eventually_async(DEADLINE, async || {
        broker.log().lines().any(|line| {
            line.contains(&commands_client)
                && (line.contains("closed its connection") || line.contains("disconnect"))
        })
    })
    .await;
    assert!(noticed, "the broker did not notice: {}", broker.log());
    // Then a command goes through to the survivor (bounded: short timeouts, a deadline).
    assert!(
        eventually_async(DEADLINE, async || client
            .invoke::<Echo>(
                Text {
                    text: "probe".into()
                },
                Empty {}
            )
            .timeout(Duration::from_millis(500))
            .await
            .is_ok_and(|echoed| echoed.node == survivor_id))
        .await,
        "no answer from the survivor"
    );
    let taken_over = killed.elapsed();

    let started = Instant::now();
    let after = echoes(&client, AFTER, ANSWER).await;
    assert_eq!(
        after,
        [(survivor_id.clone(), AFTER)].into(),
        "after the kill (noticed within {taken_over:?})"
    );
    assert!(started.elapsed() < ANSWER, "took {:?}", started.elapsed());
    assert_eq!(caller.bridge.pending(), 0);
    drop(survivor);
}
