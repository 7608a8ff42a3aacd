//! Two services of one bridged node that subscribe to the same event on every instance
//! (design §3 rule 3) each get every event, although their broker filters are the same
//! string.
#![allow(clippy::unwrap_used)]

use std::time::Duration;

use tributary::codec::Codec;
use tributary::Empty;
use tributary_integration_tests::graph::{BridgedNode, Heard, Pinged};
use tributary_integration_tests::{eventually_async, Mosquitto};

const DEADLINE: Duration = Duration::from_secs(5);

/// `Recorder` subscribes to `pinged` twice (`once`: shared by its instances; `everywhere`:
/// every instance), `Probe` once (every instance). `everywhere` and `probe` both become the
/// unshared filter `purista/+/+/+/+/+/+/+/pinged/+/+/+/+` on the node's one durable session.
#[actix::test]
async fn two_every_instance_subscriptions_to_one_event_both_receive_it() {
    let broker = Mosquitto::start().unwrap();
    let node = BridgedNode::start(&broker, &["Recorder", "Probe"], Codec::Json).unwrap();
    let client = node.node.client();
    // Warm-up: the node's event filters are in place once an event has come back on the
    // shared `once` subscription and on the probe's.
    let mut number = 1000;
    assert!(
        eventually_async(DEADLINE, async || {
            number += 1;
            client.emit::<Pinged>(number);
            let heard = client.invoke::<Heard>(Empty {}, Empty {}).await.unwrap();
            !node.seen().0.is_empty() && !heard.is_empty()
        })
        .await,
        "no event came back through the broker: {:?}",
        node.bridge.health()
    );

    client.emit::<Pinged>(7);
    let heard = async || {
        client
            .invoke::<Heard>(Empty {}, Empty {})
            .await
            .unwrap()
            .iter()
            .any(|h| h.number == 7)
    };
    assert!(
        eventually_async(DEADLINE, async || heard().await
            && node.seen().0.contains(&7))
        .await,
        "the probe and the shared subscription got 7"
    );
    let recorded = eventually_async(DEADLINE, async || node.seen().1.contains(&7)).await;
    assert!(
        recorded,
        "the Recorder's every-instance subscription never got 7 (the Probe's did): {:?}",
        node.seen()
    );
}
