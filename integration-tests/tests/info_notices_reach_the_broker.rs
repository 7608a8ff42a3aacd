//! A bridged node announces its services on the broker as PURISTA does: for each service
//! `infoServiceInit`, one `infoServiceFunctionAdded` per command, then `infoServiceReady`,
//! JSON envelopes on PURISTA's topics (12 levels for init and ready, whose empty sender
//! target PURISTA collapses; 13 for function added), as a raw MQTT client sees them.
#![allow(clippy::unwrap_used)]

use std::time::Duration;

use tokio::sync::mpsc;
use tributary::codec::Codec;
use tributary::envelope::{Envelope, MessageType};
use tributary_integration_tests::graph::BridgedNode;
use tributary_integration_tests::raw::{self, RawClient};
use tributary_integration_tests::Mosquitto;
use tributary_mqtt::topic::snake_case;

/// A message as a raw client received it.
#[derive(Debug)]
struct Received {
    topic: String,
    content_type: Option<String>,
    envelope: Envelope,
}

/// A raw MQTT v5 client on `purista/#`, subscribed once this returns.
async fn observe(broker: &Mosquitto) -> mpsc::UnboundedReceiver<Received> {
    RawClient::connect(broker, "observer", &["purista/#"])
        .await
        .unwrap()
        .map(|publish| {
            Some(Received {
                topic: String::from_utf8(publish.topic.to_vec()).unwrap(),
                content_type: raw::content_type(&publish),
                envelope: raw::decode(&publish).unwrap(),
            })
        })
}

/// The next message, within 5 s.
async fn next(messages: &mut mpsc::UnboundedReceiver<Received>) -> Received {
    tokio::time::timeout(Duration::from_secs(5), messages.recv())
        .await
        .expect("a message within 5 s")
        .expect("the observer runs")
}

#[actix::test]
async fn a_node_announces_its_services_as_purista_does() {
    let broker = Mosquitto::start().unwrap();
    let mut messages = observe(&broker).await;
    let node = BridgedNode::start(&broker, &["Echo", "Peer"], Codec::Json).unwrap();
    let id = node.node.instance_id().to_string();
    let sender = snake_case(&id);

    let services: [(&str, &str, &[&str]); 2] = [
        (
            "Echo",
            "echo",
            &["echo", "refuse", "boom", "hang", "ping", "relay"],
        ),
        ("Peer", "peer", &["ask"]),
    ];
    for (service, snake, commands) in services {
        let init = next(&mut messages).await;
        assert_eq!(
            init.topic,
            format!(
                "purista/info_service_init/none/none/{sender}/{snake}/1/none/none/none/none/none"
            )
        );
        assert_eq!(init.topic.split('/').count(), 12);
        for command in commands {
            let added = next(&mut messages).await;
            assert_eq!(
                added.topic,
                format!(
                    "purista/info_service_function_added/none/none/{sender}/{snake}/1/{command}\
                     /none/none/none/none/none"
                )
            );
            assert_eq!(
                added.envelope.message_type,
                MessageType::InfoServiceFunctionAdded
            );
            assert_eq!(added.envelope.sender.service_target, *command);
            assert!(added.envelope.payload.is_some(), "{added:?}");
        }
        let ready = next(&mut messages).await;
        assert_eq!(
            ready.topic,
            format!(
                "purista/info_service_ready/none/none/{sender}/{snake}/1/none/none/none/none/none"
            )
        );
        assert_eq!(ready.topic.split('/').count(), 12);
        for message in [&init, &ready] {
            assert_eq!(message.envelope.sender.service_name, service);
            assert_eq!(message.envelope.sender.service_version, "1");
        }
        assert_eq!(init.envelope.message_type, MessageType::InfoServiceInit);
        assert_eq!(ready.envelope.message_type, MessageType::InfoServiceReady);
        for message in [init, ready] {
            assert_eq!(message.envelope.sender.instance_id.as_deref(), Some(&*id));
            assert_eq!(
                message.content_type.as_deref(),
                Some(Codec::Json.content_type())
            );
        }
    }
}

/// The node says goodbye as PURISTA does: `infoServiceDrain` for each service when the
/// shutdown begins, `infoServiceShutdown` for each once it is done (docs/mqtt.md: "published
/// like events").
#[actix::test]
async fn a_node_says_goodbye_on_shutdown() {
    let broker = Mosquitto::start().unwrap();
    let mut messages = observe(&broker).await;
    let node = BridgedNode::start(&broker, &["Echo", "Peer"], Codec::Json).unwrap();
    let sender = snake_case(&node.node.instance_id().to_string());
    // The start: init, 6 + 1 function added, ready, for the two services.
    for _ in 0..2 + 7 + 2 {
        next(&mut messages).await;
    }

    let report = node.node.shutdown().await;
    assert_eq!(report.abandoned, 0);
    let mut said = Vec::new();
    while let Ok(Some(message)) =
        tokio::time::timeout(Duration::from_secs(3), messages.recv()).await
    {
        said.push(message.topic);
        if said.len() == 4 {
            break;
        }
    }
    let topic = |kind: &str, snake: &str| {
        format!("purista/{kind}/none/none/{sender}/{snake}/1/none/none/none/none/none")
    };
    assert_eq!(
        said,
        [
            topic("info_service_drain", "echo"),
            topic("info_service_drain", "peer"),
            topic("info_service_shutdown", "echo"),
            topic("info_service_shutdown", "peer"),
        ]
    );
}
