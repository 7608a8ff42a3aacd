//! Publish properties against what PURISTA's MQTT bridge 2.0.5 put on the wire
//! (`runtime/tests/data/purista/mqtt-capture.json`, see `mqtt-capture.md` §9–11).
#![allow(clippy::unwrap_used)]

use std::time::Duration;

use bytes::Bytes;
use rumqttc::v5::mqttbytes::v5::PublishProperties;
use serde_json::Value;
use tributary::codec::{Codec, Limits};
use tributary::envelope::{Envelope, MessageType};
use tributary::InstanceId;
use tributary_mqtt::properties::{correlation_id, publish_properties, traceparent, Expiry};
use tributary_mqtt::topic::{
    command_filter_shared, command_is_for, command_share_group, event_filter, event_matches,
    publish_topic, response_filter, response_is_for, share_group, topic_matches, EventFilterSpec,
    TopicPrefix,
};

const CAPTURE: &str = include_str!(concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../runtime/tests/data/purista/mqtt-capture.json"
));

fn capture() -> Value {
    serde_json::from_str(CAPTURE).unwrap()
}

fn decode(json: &str) -> Envelope {
    Codec::Json
        .decode(json.as_bytes(), &Limits::default())
        .unwrap_or_else(|error| panic!("a PURISTA envelope decodes: {error}\n{json}"))
}

fn hex(text: &str) -> Vec<u8> {
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&text[i..i + 2], 16).unwrap())
        .collect()
}

/// The properties of a captured publish, as rumqttc hands them to a receiver.
fn captured_properties(publish: &Value) -> PublishProperties {
    let properties = &publish["properties"];
    PublishProperties {
        content_type: properties["contentType"].as_str().map(str::to_owned),
        correlation_data: properties["correlationData"]["hex"]
            .as_str()
            .map(|data| Bytes::from(hex(data))),
        message_expiry_interval: properties["messageExpiryInterval"]
            .as_u64()
            .map(|secs| u32::try_from(secs).unwrap()),
        user_properties: publish["userPropertiesOrdered"]
            .as_array()
            .unwrap()
            .iter()
            .map(|pair| {
                (
                    pair[0].as_str().unwrap().to_owned(),
                    pair[1].as_str().unwrap().to_owned(),
                )
            })
            .collect(),
        ..PublishProperties::default()
    }
}

/// The expiry the sender chooses, where PURISTA's value is right: commands get their
/// timeout (30 s by default, 2 s for the `deleteUser` call), info and custom messages 30
/// days. `None` for responses: PURISTA sends 30000 s (the 30000 ms command timeout taken as
/// seconds) on responses without an event name and 2592 s (30 days in seconds divided by
/// 1000) on those with one. We do not reproduce either; the sender picks a real value.
fn expiry(envelope: &Envelope) -> Option<Expiry> {
    match envelope.message_type {
        MessageType::Command => {
            let target = &envelope.receiver.as_ref().unwrap().service_target;
            let timeout = if target == "deleteUser" {
                2_000
            } else {
                30_000
            };
            Some(Expiry::from_timeout(Duration::from_millis(timeout)))
        }
        MessageType::CommandSuccessResponse | MessageType::CommandErrorResponse => None,
        _ => Some(Expiry::THIRTY_DAYS),
    }
}

/// The trace id of a `traceparent`.
fn trace_part(traceparent: &str) -> &str {
    traceparent.split('-').nth(1).unwrap()
}

#[test]
fn properties_reproduce_every_captured_publish() {
    let capture = capture();
    let publishes = capture["publishes"].as_array().unwrap();
    assert_eq!(publishes.len(), 18);
    for publish in publishes {
        let topic = publish["topic"].as_str().unwrap();
        let envelope = decode(publish["payloadRaw"].as_str().unwrap());
        let theirs = captured_properties(publish);
        let is_response = matches!(
            envelope.message_type,
            MessageType::CommandSuccessResponse | MessageType::CommandErrorResponse
        );
        let chosen = expiry(&envelope).unwrap_or(Expiry::from_secs(30));
        let ours = publish_properties(&envelope, Codec::Json.content_type(), chosen);

        assert_eq!(ours.content_type, theirs.content_type, "{topic}");
        assert_eq!(ours.correlation_data, theirs.correlation_data, "{topic}");
        let keys = |p: &PublishProperties| -> Vec<String> {
            p.user_properties.iter().map(|(k, _)| k.clone()).collect()
        };
        assert_eq!(keys(&ours), keys(&theirs), "{topic}");
        for ((key, ours), (_, theirs)) in ours.user_properties.iter().zip(&theirs.user_properties) {
            if key == "traceparent" && is_response {
                // PURISTA sends a span of its bridge here; the trace is the same.
                assert_eq!(trace_part(ours), trace_part(theirs), "{topic}");
                assert_ne!(ours, theirs, "{topic}");
            } else {
                assert_eq!(ours, theirs, "{key} of {topic}");
            }
        }

        match expiry(&envelope) {
            Some(_) => assert_eq!(
                ours.message_expiry_interval, theirs.message_expiry_interval,
                "{topic}"
            ),
            None => {
                let puristas = if envelope.event_name.is_some() {
                    2_592
                } else {
                    30_000
                };
                assert_eq!(theirs.message_expiry_interval, Some(puristas), "{topic}");
            }
        }

        assert_eq!(ours.response_topic, None);
        assert_eq!(ours.payload_format_indicator, None);
        assert_eq!(ours.topic_alias, None);
        assert!(ours.subscription_identifiers.is_empty());
    }
}

/// The captured user property `traceparent` is the `otp`'s on everything but responses,
/// which [`traceparent`] reproduces; without an `otp` it keeps a 32-hex trace id.
#[test]
fn traceparent_follows_the_otp() {
    let capture = capture();
    for publish in capture["publishes"].as_array().unwrap() {
        let mut envelope = decode(publish["payloadRaw"].as_str().unwrap());
        let otp: Value = serde_json::from_str(envelope.otp.as_deref().unwrap()).unwrap();
        assert_eq!(traceparent(&envelope), otp["traceparent"].as_str().unwrap());

        envelope.otp = None;
        let made = traceparent(&envelope);
        match envelope.trace_id.as_deref() {
            Some(trace) if trace.len() == 32 => assert_eq!(trace_part(&made), trace),
            _ => assert_ne!(traceparent(&envelope), made),
        }
    }
}

fn publish_at<'a>(capture: &'a Value, step: &str, message_type: &str) -> &'a Value {
    capture["publishes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["step"] == step && p["messageType"] == message_type)
        .unwrap()
}

fn instance(capture: &Value, bridge: &str) -> InstanceId {
    capture["connect"][bridge]["bridgeInstanceId"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap()
}

/// PURISTA's publishes as a Tributary receiver would get them, topic, properties and
/// payload: the command reaches UserService's createUser handler, its success response the
/// caller and AuditService's subscription, each with the correlation id of the wire.
#[test]
fn purista_publishes_are_accepted() {
    let capture = capture();
    let prefix = TopicPrefix::default();

    let command = publish_at(&capture, "createUser alice", "command");
    let topic = command["topic"].as_str().unwrap();
    let properties = captured_properties(command);
    let envelope = decode(command["payloadRaw"].as_str().unwrap());
    assert_eq!(publish_topic(&prefix, &envelope).unwrap(), topic);
    let group = command_share_group("UserService", "1");
    let filter = command_filter_shared(&prefix, &group, "UserService", "1", "createUser").unwrap();
    assert!(topic_matches(&filter, topic));
    assert!(command_is_for(&envelope, "UserService", "1", "createUser"));
    assert!(!command_is_for(&envelope, "UserService", "1", "notifyAll"));
    assert_eq!(
        correlation_id(&properties, &envelope).as_deref(),
        command["properties"]["correlationData"]["utf8"].as_str()
    );
    assert_eq!(properties.message_expiry_interval, Some(30));

    let response = publish_at(&capture, "createUser alice", "commandSuccessResponse");
    let topic = response["topic"].as_str().unwrap();
    let mut properties = captured_properties(response);
    let envelope = decode(response["payloadRaw"].as_str().unwrap());
    assert_eq!(publish_topic(&prefix, &envelope).unwrap(), topic);
    let caller = instance(&capture, "caller");
    assert!(topic_matches(&response_filter(&prefix, &caller), topic));
    assert!(response_is_for(&envelope, &caller));
    assert!(!response_is_for(&envelope, &instance(&capture, "service")));
    assert_eq!(
        correlation_id(&properties, &envelope),
        envelope.correlation_id
    );
    properties.correlation_data = None;
    assert_eq!(
        correlation_id(&properties, &envelope),
        envelope.correlation_id
    );

    let audit = EventFilterSpec {
        event_name: Some("userCreated".to_owned()),
        shared: Some(share_group("AuditService", "1", "onUserCreated")),
        ..EventFilterSpec::default()
    };
    assert!(topic_matches(
        &event_filter(&prefix, &audit).unwrap(),
        topic
    ));
    assert!(event_matches(&envelope, &audit));
}
