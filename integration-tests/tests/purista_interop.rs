//! PURISTA on the wire: publishes captured from PURISTA's own MQTT bridge are replayed to a
//! Tributary node, which answers as PURISTA's service did; and a command from a Tributary
//! node reaches a PURISTA-shaped service and takes its answer. The captures are in
//! `runtime/tests/data/purista/mqtt-capture.json`.
#![allow(clippy::unwrap_used)]

use std::future::IntoFuture;
use std::time::Duration;

use actix::prelude::*;
use rumqttc::v5::mqttbytes::v5::{Publish, PublishProperties};
use rumqttc::v5::mqttbytes::QoS;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use tributary::{
    CommandContract, CommandError, CommandResult, Invocation, Node, Registrar, Service,
};
use tributary_integration_tests::raw::RawClient;
use tributary_integration_tests::{eventually_async, Mosquitto};
use tributary_mqtt::{MqttBridge, MqttConfig};

fn capture() -> Value {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../runtime/tests/data/purista/mqtt-capture.json"
    );
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// The captured publishes of one step, by publisher.
fn step<'a>(capture: &'a Value, step: &str, publisher: &str) -> &'a Value {
    capture["publishes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["step"] == step && p["publisher"] == publisher)
        .unwrap_or_else(|| panic!("no {publisher} publish in step {step}"))
}

fn keys(publish: &Value) -> Vec<String> {
    publish["userPropertiesOrdered"]
        .as_array()
        .unwrap()
        .iter()
        .map(|kv| kv[0].as_str().unwrap().to_owned())
        .collect()
}

/// Publishes a captured PURISTA publish as it was: topic, properties, payload.
async fn replay(raw: &RawClient, captured: &Value) {
    let props = &captured["properties"];
    let properties = PublishProperties {
        content_type: props["contentType"].as_str().map(str::to_owned),
        correlation_data: props["correlationData"]["utf8"]
            .as_str()
            .map(|s| s.as_bytes().to_vec().into()),
        message_expiry_interval: props["messageExpiryInterval"].as_u64().map(|s| s as u32),
        user_properties: captured["userPropertiesOrdered"]
            .as_array()
            .unwrap()
            .iter()
            .map(|kv| {
                (
                    kv[0].as_str().unwrap().to_owned(),
                    kv[1].as_str().unwrap().to_owned(),
                )
            })
            .collect(),
        ..PublishProperties::default()
    };
    let topic = captured["topic"].as_str().unwrap().to_owned();
    let payload = captured["payloadRaw"].as_str().unwrap().as_bytes().to_vec();
    raw.client
        .publish_with_properties(topic, QoS::AtLeastOnce, false, payload, properties)
        .await
        .unwrap();
}

/// The next publish a raw client receives, within 5 s.
async fn next(raw: &mut RawClient) -> Publish {
    raw.next().await.expect("nothing arrived within 5 s")
}

fn json_of(publish: &Publish) -> Value {
    serde_json::from_slice(&publish.payload).unwrap()
}

fn user_property_keys(publish: &Publish) -> Vec<String> {
    publish
        .properties
        .as_ref()
        .unwrap()
        .user_properties
        .iter()
        .map(|(k, _)| k.clone())
        .collect()
}

#[derive(Clone, Serialize, Deserialize)]
struct NewUser {
    name: String,
}
#[derive(Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct DryRun {
    dry_run: bool,
}
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Created {
    user_id: String,
}

/// PURISTA's `UserService/1/createUser`, as the capture's service implements it.
struct CreateUser;
impl CommandContract for CreateUser {
    const SERVICE: &'static str = "UserService";
    const VERSION: &'static str = "1";
    const COMMAND: &'static str = "createUser";
    const SUCCESS_EVENT: Option<&'static str> = Some("userCreated");
    type Payload = NewUser;
    type Parameter = DryRun;
    type Output = Created;
}

struct UserService;
impl Actor for UserService {
    type Context = Context<Self>;
}
impl Service for UserService {
    const NAME: &'static str = "UserService";
    const VERSION: &'static str = "1";
    fn register(service: &mut Registrar<Self>) {
        service.command::<CreateUser>();
    }
}
impl Handler<Invocation<CreateUser>> for UserService {
    type Result = CommandResult<CreateUser>;
    fn handle(&mut self, call: Invocation<CreateUser>, _: &mut Context<Self>) -> Self::Result {
        match call.payload.name.as_str() {
            "taken" => Err(CommandError::new(409, "user name already taken")
                .with_data(json!({"name": "taken"}))),
            "boom" => panic!("boom"),
            name => Ok(Created {
                user_id: format!("u-{name}"),
            }),
        }
    }
}

async fn bridged(broker: &Mosquitto, with_service: bool) -> (Node, MqttBridge) {
    let bridge = MqttBridge::new(MqttConfig::new(broker.host(), broker.port())).unwrap();
    let mut builder = Node::builder();
    if with_service {
        builder = builder.service(|| UserService);
    }
    let node = builder.bridge(bridge.attach()).start().unwrap();
    assert!(
        eventually_async(Duration::from_secs(5), async || {
            let health = bridge.health();
            health.ready
        })
        .await
    );
    (node, bridge)
}

#[actix::test]
async fn a_purista_caller_gets_purista_answers_from_a_tributary_service() {
    let capture = capture();
    let broker = Mosquitto::start().unwrap();
    let (_node, bridge) = bridged(&broker, true).await;
    // The capture's caller bridge: its response filter, and PURISTA's (shared) event
    // subscription of its AuditService.
    let caller_filter = capture["subscriptions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["bridge"] == "caller")
        .unwrap()["filter"]
        .as_str()
        .unwrap()
        .to_owned();
    let mut caller = RawClient::connect(&broker, "purista-caller", &[&caller_filter])
        .await
        .unwrap();
    let mut audit = RawClient::connect(
        &broker,
        "purista-audit",
        &["$share/sharedpurista/purista/+/+/+/+/+/+/+/user_created/+/+/+/+"],
    )
    .await
    .unwrap();

    for (step_name, expect_type, expect_payload) in [
        (
            "createUser alice",
            "commandSuccessResponse",
            json!({"userId": "u-alice"}),
        ),
        (
            "createUser taken",
            "commandErrorResponse",
            json!({"status": 409, "message": "user name already taken", "data": {"name": "taken"}}),
        ),
    ] {
        let command = step(&capture, step_name, "caller");
        replay(&caller, command).await;
        let response = next(&mut caller).await;
        let purista = step(&capture, step_name, "service");
        let body = json_of(&response);
        assert_eq!(body["messageType"], expect_type, "{step_name}: {body}");
        assert_eq!(body["correlationId"], command["payload"]["correlationId"]);
        // Same property keys in the same order as PURISTA's own service sent.
        assert_eq!(user_property_keys(&response), keys(purista), "{step_name}");
        let properties = response.properties.as_ref().unwrap();
        assert_eq!(properties.content_type.as_deref(), Some("application/json"));
        assert_eq!(
            properties.correlation_data.as_deref(),
            Some(
                command["payload"]["correlationId"]
                    .as_str()
                    .unwrap()
                    .as_bytes()
            )
        );
        // The topic has the shape of PURISTA's response topic (13 levels, same values but the
        // responding instance).
        let topic = String::from_utf8(response.topic.to_vec()).unwrap();
        let ours: Vec<&str> = topic.split('/').collect();
        let theirs: Vec<&str> = purista["topic"].as_str().unwrap().split('/').collect();
        assert_eq!(ours.len(), 13);
        for (i, (a, b)) in ours.iter().zip(&theirs).enumerate() {
            if i != 4 {
                assert_eq!(a, b, "{step_name}: topic level {i}");
            }
        }
        match expect_type {
            "commandSuccessResponse" => {
                assert_eq!(body["payload"], expect_payload);
                assert_eq!(body["eventName"], "userCreated");
                // PURISTA's AuditService got the same message as the success event.
                let event = next(&mut audit).await;
                assert_eq!(json_of(&event)["payload"], expect_payload);
            }
            _ => {
                assert_eq!(body["isHandledError"], true);
                for key in ["status", "message", "data"] {
                    assert_eq!(body["payload"][key], expect_payload[key], "{key}");
                }
            }
        }
    }
    assert_eq!(bridge.health().misaddressed, 0);
}

/// PURISTA's `createUser` seen from the caller's side: our command, a PURISTA-shaped service.
#[actix::test]
async fn a_tributary_caller_gets_its_answer_from_a_purista_service() {
    let capture = capture();
    let broker = Mosquitto::start().unwrap();
    let mut service = RawClient::connect(
        &broker,
        "purista-service",
        &["$share/sharedpurista/purista/command/+/+/+/+/+/+/+/+/user_service/1/create_user"],
    )
    .await
    .unwrap();
    let (node, _bridge) = bridged(&broker, false).await;

    let client = node
        .client_as("Gateway", "1", "httpPost")
        .with_principal("principal-42")
        .with_tenant("tenant-7");
    let call = actix::spawn(
        client
            .invoke::<CreateUser>(
                NewUser {
                    name: "alice".into(),
                },
                DryRun { dry_run: false },
            )
            .into_future(),
    );
    let command = next(&mut service).await;
    let purista_command = step(&capture, "createUser alice", "caller");
    assert_eq!(user_property_keys(&command), keys(purista_command));
    let body = json_of(&command);
    assert_eq!(
        body["payload"],
        json!({"payload": {"name": "alice"}, "parameter": {"dryRun": false}})
    );
    let topic = String::from_utf8(command.topic.to_vec()).unwrap();
    let ours: Vec<&str> = topic.split('/').collect();
    let theirs: Vec<&str> = purista_command["topic"]
        .as_str()
        .unwrap()
        .split('/')
        .collect();
    for (i, (a, b)) in ours.iter().zip(&theirs).enumerate() {
        if i != 4 {
            assert_eq!(a, b, "topic level {i}");
        }
    }

    // Answer as PURISTA's service did, with our command's ids and our instance as receiver.
    let mut answer = step(&capture, "createUser alice", "service").clone();
    let mut payload: Value = serde_json::from_str(answer["payloadRaw"].as_str().unwrap()).unwrap();
    payload["correlationId"] = body["correlationId"].clone();
    payload["receiver"]["instanceId"] = json!(node.instance_id().to_string());
    answer["payloadRaw"] = json!(payload.to_string());
    answer["properties"]["correlationData"]["utf8"] = body["correlationId"].clone();
    let instance_level = tributary_mqtt::topic::snake_case(&node.instance_id().to_string());
    let mut levels: Vec<String> = answer["topic"]
        .as_str()
        .unwrap()
        .split('/')
        .map(str::to_owned)
        .collect();
    levels[9] = instance_level;
    answer["topic"] = json!(levels.join("/"));
    replay(&service, &answer).await;

    let created = call.await.unwrap().unwrap();
    assert_eq!(
        created,
        Created {
            user_id: "u-alice".into()
        }
    );
}
