//! A node that writes JSON and a node that writes bincode work together through one broker:
//! commands, responses and events cross both ways. Each receiver tells the codecs apart by
//! the MQTT v5 content type; a raw client on the broker sees each node write its own.
#![allow(clippy::unwrap_used)]

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use tokio::sync::mpsc;
use tributary::codec::Codec;
use tributary::envelope::{Envelope, MessageType};
use tributary::{Empty, Status};
use tributary_integration_tests::graph::{
    Ask, BridgedNode, Echo, Ping, Pinged, Refuse, Relay, Seen, Text,
};
use tributary_integration_tests::raw::{self, RawClient};
use tributary_integration_tests::{eventually_async, Mosquitto};

const DEADLINE: Duration = Duration::from_secs(10);
const ANSWER: Duration = Duration::from_secs(5);

/// A raw MQTT v5 client on `purista/#` that reports each message's content type and
/// envelope (decoded with the codec the content type names).
async fn observe(broker: &Mosquitto) -> mpsc::UnboundedReceiver<(Option<String>, Envelope)> {
    RawClient::connect(broker, "observer", &["purista/#"])
        .await
        .unwrap()
        .map(|publish| Some((raw::content_type(&publish), raw::decode(&publish).unwrap())))
}

#[actix::test]
async fn a_json_node_and_a_bincode_node_exchange_commands_and_events_both_ways() {
    let broker = Mosquitto::start().unwrap();
    let mut observed = observe(&broker).await;
    let json = BridgedNode::start(&broker, &["Echo", "Recorder"], Codec::Json).unwrap();
    let bincode = BridgedNode::start(&broker, &["Peer", "Recorder"], Codec::Bincode).unwrap();
    let (json_id, bincode_id) = (json.node.instance_id(), bincode.node.instance_id());
    let from_json = json.node.client().with_tenant("t-json");
    let from_bincode = bincode.node.client().with_tenant("t-bin");
    // Warm-up: a round trip each way puts both nodes' filters in place.
    assert!(
        eventually_async(DEADLINE, async || {
            let echo = from_bincode
                .invoke::<Echo>(Text { text: "w".into() }, Empty {})
                .timeout(Duration::from_millis(500))
                .await;
            let ask = from_json
                .invoke::<Ask>(Text { text: "w".into() }, Empty {})
                .timeout(Duration::from_millis(500))
                .await;
            echo.is_ok() && ask.is_ok()
        })
        .await,
        "no round trip"
    );

    // bincode → JSON: the command in bincode, the answer in JSON.
    let echoed = from_bincode
        .invoke::<Echo>(Text { text: "b2j".into() }, Empty {})
        .timeout(ANSWER)
        .await
        .unwrap();
    assert_eq!(
        (echoed.text.as_str(), echoed.node, echoed.tenant.as_deref()),
        ("b2j", json_id.to_string(), Some("t-bin"))
    );
    // JSON → bincode.
    let asked = from_json
        .invoke::<Ask>(Text { text: "j2b".into() }, Empty {})
        .timeout(ANSWER)
        .await
        .unwrap();
    assert_eq!(
        (asked.text.as_str(), asked.node, asked.tenant.as_deref()),
        ("j2b", bincode_id.to_string(), Some("t-json"))
    );
    // bincode → JSON → bincode: the relay on the JSON node asks the bincode node's Peer.
    let relayed = from_bincode
        .invoke::<Relay>(
            Text {
                text: "round".into(),
            },
            Empty {},
        )
        .timeout(ANSWER)
        .await
        .unwrap();
    assert_eq!(relayed.node, bincode_id.to_string());
    assert_eq!(relayed.tenant.as_deref(), Some("t-bin"));
    // An error response keeps its fields in either codec.
    let refused = from_bincode
        .invoke::<Refuse>(Text { text: "no".into() }, Empty {})
        .timeout(ANSWER)
        .await
        .unwrap_err();
    assert_eq!(refused.status, Status(409));
    assert!(refused.handled);
    assert_eq!(refused.data, Some(serde_json::json!({"text": "no"})));

    // Events: the JSON node's ping handler emits 1; the bincode node emits 2. Both recorders
    // get both on their every-instance subscription.
    assert!(
        eventually_async(DEADLINE, async || {
            from_bincode
                .invoke::<Ping>(1, Empty {})
                .timeout(ANSWER)
                .await
                .unwrap();
            from_bincode.emit::<Pinged>(2);
            let there = from_bincode
                .invoke::<Seen>(Empty {}, Empty {})
                .on_instance(json_id)
                .timeout(ANSWER)
                .await
                .unwrap();
            let both = |list: &[u64]| list.contains(&1) && list.contains(&2);
            both(&bincode.seen().1) && both(&there.1) && both(&json.seen().1)
        })
        .await,
        "events did not cross: JSON node {:?}, bincode node {:?}",
        json.seen(),
        bincode.seen()
    );

    // On the wire, each node wrote its own codec: commands, both kinds of response, events.
    let mut expected = Vec::new();
    for (node, codec) in [(json_id, Codec::Json), (bincode_id, Codec::Bincode)] {
        for kind in [
            MessageType::Command,
            MessageType::CommandSuccessResponse,
            MessageType::CommandErrorResponse,
            MessageType::CustomMessage,
        ] {
            // Peer, on the bincode node, has no failing command.
            if (node, kind) != (bincode_id, MessageType::CommandErrorResponse) {
                expected.push(((node.to_string(), kind.as_str()), codec));
            }
        }
    }
    let mut kinds: BTreeMap<(String, &str), BTreeSet<Option<String>>> = BTreeMap::new();
    let all_seen = eventually_async(DEADLINE, async || {
        while let Ok((content_type, envelope)) = observed.try_recv() {
            let sender = envelope.sender.instance_id.clone().unwrap_or_default();
            kinds
                .entry((sender, envelope.message_type.as_str()))
                .or_default()
                .insert(content_type);
        }
        expected.iter().all(|(key, _)| kinds.contains_key(key))
    })
    .await;
    assert!(all_seen, "not every kind of message was seen: {kinds:?}");
    for (key, codec) in &expected {
        assert_eq!(
            kinds[key],
            BTreeSet::from([Some(codec.content_type().to_owned())]),
            "{key:?} from the {codec} node"
        );
    }
}
