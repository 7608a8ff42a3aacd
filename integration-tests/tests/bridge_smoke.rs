//! Two nodes in one process, joined through a mosquitto of their own.
#![allow(clippy::unwrap_used)]

use std::sync::{Arc, Mutex};
use std::time::Duration;

use tributary::{Empty, Node, Status};
use tributary_integration_tests::graph::{self, Echo, Ping, Refuse, Seen, Text};
use tributary_integration_tests::{eventually_async, Mosquitto};
use tributary_mqtt::{MqttBridge, MqttConfig};

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
async fn a_command_and_an_event_cross_between_two_nodes() {
    let broker = Mosquitto::start().unwrap();
    let (server, server_bridge) = node(&broker, &["Echo", "Recorder"]);
    let (caller, caller_bridge) = node(&broker, &["Peer"]);
    assert!(
        eventually_async(Duration::from_secs(5), async || server_bridge
            .health()
            .ready
            && caller_bridge.health().ready)
        .await
    );

    let client = caller.client().with_tenant("t-1");
    let echoed = client
        .invoke::<Echo>(Text { text: "hi".into() }, Empty {})
        .await
        .unwrap();
    assert_eq!(echoed.text, "hi");
    assert_eq!(echoed.node, server.instance_id().to_string());
    assert_eq!(echoed.tenant.as_deref(), Some("t-1"));

    let err = client
        .invoke::<Refuse>(Text { text: "no".into() }, Empty {})
        .await
        .unwrap_err();
    assert_eq!(err.status, Status(409));
    assert!(err.handled);
    assert_eq!(err.data, Some(serde_json::json!({"text": "no"})));

    assert_eq!(client.invoke::<Ping>(7, Empty {}).await.unwrap(), 7);
    let mut seen = (Vec::new(), Vec::new());
    assert!(
        eventually_async(Duration::from_secs(5), async || {
            seen = caller
                .client()
                .invoke::<Seen>(Empty {}, Empty {})
                .await
                .unwrap();
            !seen.0.is_empty() && !seen.1.is_empty()
        })
        .await,
        "{seen:?}"
    );
    assert_eq!(seen, (vec![7], vec![7]));
    assert_eq!(caller_bridge.pending(), 0);
}

#[actix::test]
async fn a_node_in_another_process_answers() {
    let broker = Mosquitto::start().unwrap();
    let mut remote = tributary_integration_tests::TestNode::spawn(
        env!("CARGO_BIN_EXE_test-node"),
        &broker,
        &["Echo"],
        &[],
    )
    .unwrap();
    let (caller, caller_bridge) = node(&broker, &["Peer"]);
    assert!(
        eventually_async(Duration::from_secs(5), async || caller_bridge
            .health()
            .ready)
        .await
    );
    let echoed = caller
        .client()
        .invoke::<Echo>(Text { text: "far".into() }, Empty {})
        .await
        .unwrap();
    assert_eq!(echoed.node, remote.instance_id());
    assert!(remote.stop().unwrap().starts_with("stopped"));
}
