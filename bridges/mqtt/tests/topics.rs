//! Topics and filters against what PURISTA itself produced (`runtime/tests/data/purista/`,
//! see its `ORIGIN.md`): its snake_case vectors, the topic of every envelope, and the
//! SUBSCRIBE filters and deliveries of its MQTT bridge on the wire.
#![allow(clippy::unwrap_used)]

use std::collections::BTreeSet;

use serde_json::Value;
use tributary::codec::{Codec, Limits};
use tributary::envelope::{Envelope, MessageType, ServiceAddress};
use tributary::InstanceId;
use tributary_mqtt::topic::{
    command_filter_instance, command_filter_shared, command_is_for, command_share_group,
    event_filter, event_matches, is_addressed_to, publish_topic, response_filter, response_is_for,
    share_group, snake_case, topic_matches, EventFilterSpec, ShareGroup, TopicPrefix,
};

/// `convertToSnakeCase` of `@purista/core` 3.2.4: `input<TAB>output`, both JSON strings.
const SNAKE_CASE: &str = include_str!(concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../runtime/tests/data/purista/snake-case.tsv"
));
/// `@purista/core` 3.2.4: `[{topic, message}]`.
const MESSAGES: &str = include_str!(concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../runtime/tests/data/purista/purista-messages.json"
));
/// PURISTA's MQTT bridge 2.0.5 through mosquitto: publishes, SUBSCRIBE filters, deliveries.
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

/// The instance id of the capture's `service` or `caller` bridge.
fn bridge_instance(capture: &Value, bridge: &str) -> InstanceId {
    capture["connect"][bridge]["bridgeInstanceId"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap()
}

fn prefix() -> TopicPrefix {
    TopicPrefix::default()
}

#[test]
fn snake_case_reproduces_every_purista_vector() {
    let mut checked = 0;
    for line in SNAKE_CASE.lines().filter(|line| !line.starts_with('#')) {
        let (input, output) = line.split_once('\t').unwrap();
        let input: String = serde_json::from_str(input).unwrap();
        let output: String = serde_json::from_str(output).unwrap();
        assert_eq!(snake_case(&input), output, "snake_case({input:?})");
        checked += 1;
    }
    assert_eq!(checked, 43, "every line of snake-case.tsv is checked");
}

#[test]
fn publish_topic_reproduces_every_purista_message() {
    let messages: Value = serde_json::from_str(MESSAGES).unwrap();
    let messages = messages.as_array().unwrap();
    assert_eq!(messages.len(), 17);
    for entry in messages {
        let envelope = decode(&entry["message"].to_string());
        assert_eq!(
            publish_topic(&prefix(), &envelope).unwrap(),
            entry["topic"].as_str().unwrap(),
            "{}",
            entry["message"]
        );
    }
}

#[test]
fn publish_topic_reproduces_every_captured_publish() {
    let capture = capture();
    let publishes = capture["publishes"].as_array().unwrap();
    assert_eq!(publishes.len(), 18);
    let mut twelve_levels = 0;
    for publish in publishes {
        let envelope = decode(publish["payloadRaw"].as_str().unwrap());
        let topic = publish_topic(&prefix(), &envelope).unwrap();
        assert_eq!(topic, publish["topic"].as_str().unwrap());
        assert_eq!(
            topic.split('/').count(),
            usize::try_from(publish["levels"].as_u64().unwrap()).unwrap()
        );
        if envelope.sender.service_target.is_empty() {
            twelve_levels += 1;
            assert_eq!(topic.split('/').count(), 12, "{topic}");
        }
    }
    // infoServiceInit and infoServiceReady of both services.
    assert_eq!(twelve_levels, 4);
}

#[test]
fn response_filters_equal_puristas() {
    let capture = capture();
    for bridge in ["service", "caller"] {
        let instance = bridge_instance(&capture, bridge);
        assert_eq!(
            capture["connect"][bridge]["bridgeInstanceIdTopicLevel"],
            snake_case(instance.as_str())
        );
        let purista = capture["subscriptions"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["bridge"] == bridge && s["subscriptionIdentifier"] == 2)
            .unwrap();
        assert_eq!(response_filter(&prefix(), &instance), purista["filter"]);
    }
}

#[test]
fn event_filter_equals_puristas_for_the_same_inputs() {
    let spec = EventFilterSpec {
        event_name: Some("userCreated".to_owned()),
        shared: Some(ShareGroup::new("sharedpurista").unwrap()),
        ..EventFilterSpec::default()
    };
    assert_eq!(
        event_filter(&prefix(), &spec).unwrap(),
        "$share/sharedpurista/purista/+/+/+/+/+/+/+/user_created/+/+/+/+"
    );
}

/// Ours differ from PURISTA's in two places only: the share group, and `none` instead of
/// `+` at the receiver-instance level.
#[test]
fn command_filters_differ_from_puristas_only_in_group_and_receiver_instance() {
    let capture = capture();
    let group = command_share_group("UserService", "1");
    for (command, identifier) in [("createUser", 3), ("notifyAll", 4)] {
        let purista = capture["subscriptions"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["bridge"] == "service" && s["subscriptionIdentifier"] == identifier)
            .unwrap()["filter"]
            .as_str()
            .unwrap();
        let ours = command_filter_shared(&prefix(), &group, "UserService", "1", command).unwrap();
        let purista: Vec<&str> = purista.split('/').collect();
        let ours: Vec<&str> = ours.split('/').collect();
        assert_eq!(ours.len(), purista.len());
        for (level, (ours, purista)) in ours.iter().zip(&purista).enumerate() {
            match level {
                1 => assert_eq!((*ours, *purista), ("UserService:1", "sharedpurista")),
                // `$share`, group, prefix, then the 10th topic level: receiverInstance.
                11 => assert_eq!((*ours, *purista), ("none", "+")),
                _ => assert_eq!(ours, purista, "level {level}"),
            }
        }
    }
}

/// Our filters for the capture's services, numbered like PURISTA's subscription
/// identifiers: they take exactly the publishes that PURISTA's took, and each taken
/// envelope passes the exact check for the handler that took it.
#[test]
fn our_filters_select_what_puristas_did_on_the_wire() {
    let capture = capture();
    let service = bridge_instance(&capture, "service");
    let caller = bridge_instance(&capture, "caller");
    let commands = command_share_group("UserService", "1");
    let audit = EventFilterSpec {
        event_name: Some("userCreated".to_owned()),
        shared: Some(share_group("AuditService", "1", "onUserCreated")),
        ..EventFilterSpec::default()
    };
    let filters = [
        ("service", 2, response_filter(&prefix(), &service)),
        (
            "service",
            3,
            command_filter_shared(&prefix(), &commands, "UserService", "1", "createUser").unwrap(),
        ),
        (
            "service",
            4,
            command_filter_shared(&prefix(), &commands, "UserService", "1", "notifyAll").unwrap(),
        ),
        ("service", 5, event_filter(&prefix(), &audit).unwrap()),
        ("caller", 2, response_filter(&prefix(), &caller)),
    ];
    let mut deliveries = 0;
    for publish in capture["publishes"].as_array().unwrap() {
        let topic = publish["topic"].as_str().unwrap();
        let envelope = decode(publish["payloadRaw"].as_str().unwrap());
        let ours: BTreeSet<(&str, u64)> = filters
            .iter()
            .filter(|(_, _, filter)| topic_matches(filter, topic))
            .map(|(bridge, identifier, _)| (*bridge, *identifier))
            .collect();
        let puristas: BTreeSet<(&str, u64)> = publish["deliveredToBridges"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| {
                (
                    d["bridge"].as_str().unwrap(),
                    d["subscriptionIdentifier"].as_u64().unwrap(),
                )
            })
            .collect();
        assert_eq!(ours, puristas, "{topic}");
        for (bridge, identifier) in ours {
            deliveries += 1;
            let instance = if bridge == "service" {
                &service
            } else {
                &caller
            };
            let receiver = envelope.receiver.as_ref();
            let accepted = match identifier {
                2 => response_is_for(&envelope, instance),
                3 | 4 => {
                    let command = if identifier == 3 {
                        "createUser"
                    } else {
                        "notifyAll"
                    };
                    command_is_for(&envelope, "UserService", "1", command)
                        && receiver.is_some_and(|r| r.instance_id.is_none())
                }
                _ => event_matches(&envelope, &audit),
            };
            assert!(accepted, "{bridge} #{identifier} takes {topic}");
        }
    }
    assert_eq!(deliveries, 11, "the broker's 11 deliveries to the bridges");
}

fn user_service(instance: &InstanceId) -> ServiceAddress {
    ServiceAddress::new("UserService", "1", "createUser").with_instance_id(instance.as_str())
}

fn gateway(instance: &InstanceId) -> ServiceAddress {
    ServiceAddress::new("Gateway", "1", "httpPost").with_instance_id(instance.as_str())
}

fn command_to(receiver: ServiceAddress, caller: &InstanceId) -> Envelope {
    Envelope::command(
        gateway(caller),
        receiver,
        serde_json::json!({ "name": "alice" }),
        serde_json::json!({}),
    )
}

#[test]
fn a_command_for_one_instance_is_not_taken_by_the_group() {
    let (caller, target, other) = (
        InstanceId::random(),
        InstanceId::random(),
        InstanceId::random(),
    );
    let group = command_share_group("UserService", "1");
    let shared =
        command_filter_shared(&prefix(), &group, "UserService", "1", "createUser").unwrap();
    let own = |instance: &InstanceId| {
        command_filter_instance(&prefix(), instance, "UserService", "1", "createUser").unwrap()
    };

    let targeted = command_to(user_service(&target), &caller);
    let topic = publish_topic(&prefix(), &targeted).unwrap();
    assert!(!topic_matches(&shared, &topic));
    assert!(topic_matches(&own(&target), &topic));
    assert!(!topic_matches(&own(&other), &topic));
    assert!(is_addressed_to(&targeted, &target));
    assert!(command_is_for(&targeted, "UserService", "1", "createUser"));

    let untargeted = command_to(
        ServiceAddress::new("UserService", "1", "createUser"),
        &caller,
    );
    let topic = publish_topic(&prefix(), &untargeted).unwrap();
    assert!(topic_matches(&shared, &topic));
    assert!(!topic_matches(&own(&target), &topic));
}

#[test]
fn a_response_to_another_instance_is_not_ours() {
    let (caller, other, responder) = (
        InstanceId::random(),
        InstanceId::random(),
        InstanceId::random(),
    );
    let command = command_to(
        ServiceAddress::new("UserService", "1", "createUser"),
        &caller,
    );
    let response = command.success_response(user_service(&responder), None);
    let topic = publish_topic(&prefix(), &response).unwrap();
    assert!(topic_matches(&response_filter(&prefix(), &caller), &topic));
    assert!(!topic_matches(&response_filter(&prefix(), &other), &topic));
    // The responder's own response filter sees it neither: it names the receiver.
    assert!(!topic_matches(
        &response_filter(&prefix(), &responder),
        &topic
    ));
    assert!(response_is_for(&response, &caller));
    assert!(!response_is_for(&response, &other));
}

#[test]
fn twelve_level_info_topics_match_no_thirteen_level_filter() {
    let instance = InstanceId::random();
    let init = Envelope::new(
        MessageType::InfoServiceInit,
        ServiceAddress::new("UserService", "1", "").with_instance_id(instance.as_str()),
    );
    let topic = publish_topic(&prefix(), &init).unwrap();
    assert_eq!(topic.split('/').count(), 12);
    let everything = event_filter(&prefix(), &EventFilterSpec::default()).unwrap();
    let info = EventFilterSpec {
        message_type: Some(MessageType::InfoServiceInit),
        ..EventFilterSpec::default()
    };
    assert!(!topic_matches(&everything, &topic));
    assert!(!topic_matches(
        &event_filter(&prefix(), &info).unwrap(),
        &topic
    ));
    assert!(!topic_matches(
        &response_filter(&prefix(), &instance),
        &topic
    ));
    assert!(topic_matches("purista/#", &topic));

    // With a target it has 13 levels and matches, but it is not an event.
    let mut added = init.clone();
    added.message_type = MessageType::InfoServiceFunctionAdded;
    added.sender.service_target = "createUser".to_owned();
    let topic = publish_topic(&prefix(), &added).unwrap();
    assert!(topic_matches(&everything, &topic));
    assert!(!event_matches(&added, &EventFilterSpec::default()));
}

/// `myService` and `my-service` share every topic level; only the exact check tells them
/// apart.
#[test]
fn snake_case_collisions_are_caught_by_the_exact_check() {
    let caller = InstanceId::random();
    let ours = command_to(ServiceAddress::new("myService", "1", "doIt"), &caller);
    let theirs = command_to(ServiceAddress::new("my-service", "1", "do-it"), &caller);
    let (our_topic, their_topic) = (
        publish_topic(&prefix(), &ours).unwrap(),
        publish_topic(&prefix(), &theirs).unwrap(),
    );
    assert_eq!(our_topic, their_topic);
    let group = command_share_group("myService", "1");
    let filter = command_filter_shared(&prefix(), &group, "myService", "1", "doIt").unwrap();
    assert!(topic_matches(&filter, &their_topic));
    assert!(command_is_for(&ours, "myService", "1", "doIt"));
    assert!(!command_is_for(&theirs, "myService", "1", "doIt"));
    assert_ne!(group, command_share_group("my-service", "1"));

    let sender =
        ServiceAddress::new("UserService", "1", "notifyAll").with_instance_id(caller.as_str());
    let mut event = Envelope::custom_message(sender, "user-created", None);
    event.tenant_id = Some("tenant-7".to_owned());
    let spec = EventFilterSpec {
        event_name: Some("userCreated".to_owned()),
        tenant_id: Some("tenant_7".to_owned()),
        ..EventFilterSpec::default()
    };
    let topic = publish_topic(&prefix(), &event).unwrap();
    assert!(topic_matches(
        &event_filter(&prefix(), &spec).unwrap(),
        &topic
    ));
    assert!(!event_matches(&event, &spec));
}
