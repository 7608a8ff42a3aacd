//! Every envelope PURISTA itself produced (`tests/data/purista/`, see `ORIGIN.md`) decodes,
//! encodes back to the same JSON, and comes through both codecs unchanged.

use serde_json::{json, Value};
use tributary::codec::{Codec, Limits};
use tributary::envelope::{Envelope, MessageType};

/// `@purista/core` 3.2.4: `[{topic, message}]`.
const MESSAGES: &str = include_str!("data/purista/purista-messages.json");
/// PURISTA's MQTT bridge 2.0.5 on the wire: `publishes[].payloadRaw` is each payload's text.
const CAPTURE: &str = include_str!("data/purista/mqtt-capture.json");

/// A PURISTA envelope: where it comes from, and its bytes as PURISTA sent them.
struct Vector {
    name: String,
    bytes: Vec<u8>,
    message: Value,
}

fn vectors() -> Vec<Vector> {
    let messages: Value = serde_json::from_str(MESSAGES).expect("purista-messages.json parses");
    let capture: Value = serde_json::from_str(CAPTURE).expect("mqtt-capture.json parses");
    let core = messages
        .as_array()
        .expect("a list of {topic, message}")
        .iter()
        .enumerate()
        .map(|(index, entry)| {
            let message = entry["message"].clone();
            Vector {
                name: format!(
                    "purista-messages.json #{index} ({})",
                    message["messageType"]
                ),
                bytes: serde_json::to_vec(&message).expect("a message serializes"),
                message,
            }
        });
    let wire = capture["publishes"]
        .as_array()
        .expect("a list of publishes")
        .iter()
        .enumerate()
        .map(|(index, publish)| {
            let raw = publish["payloadRaw"].as_str().expect("payloadRaw is text");
            Vector {
                name: format!(
                    "mqtt-capture.json publish #{index} ({})",
                    publish["messageType"]
                ),
                bytes: raw.as_bytes().to_vec(),
                message: serde_json::from_str(raw).expect("payloadRaw is JSON"),
            }
        });
    let vectors: Vec<Vector> = core.chain(wire).collect();
    assert_eq!(vectors.len(), 17 + 18, "every vector is read");
    vectors
}

fn decode(codec: Codec, bytes: &[u8]) -> Envelope {
    codec
        .decode(bytes, &Limits::default())
        .unwrap_or_else(|error| panic!("{codec} decode failed: {error}"))
}

fn encode(codec: Codec, envelope: &Envelope) -> Vec<u8> {
    codec
        .encode(envelope, &Limits::default())
        .unwrap_or_else(|error| panic!("{codec} encode failed: {error}"))
}

/// The one vector of `purista-messages.json` that matches.
fn core_vector(matches: impl Fn(&Value) -> bool) -> Envelope {
    let vector = vectors()
        .into_iter()
        .take(17)
        .find(|vector| matches(&vector.message))
        .expect("a vector matches");
    decode(Codec::Json, &vector.bytes)
}

#[test]
fn every_vector_decodes_with_its_message_type() {
    for vector in vectors() {
        let envelope = Codec::Json
            .decode(&vector.bytes, &Limits::default())
            .unwrap_or_else(|error| panic!("{}: {error}", vector.name));
        assert_eq!(
            Some(envelope.message_type.as_str()),
            vector.message["messageType"].as_str(),
            "{}",
            vector.name
        );
    }
}

#[test]
fn json_encodes_every_vector_back_to_the_same_compact_json() {
    for vector in vectors() {
        let bytes = encode(Codec::Json, &decode(Codec::Json, &vector.bytes));
        let written: Value = serde_json::from_slice(&bytes).expect("the codec writes JSON");
        assert_eq!(written, vector.message, "{}", vector.name);
        let compact = serde_json::to_vec(&written).expect("a value serializes");
        assert_eq!(bytes, compact, "{}: not compact", vector.name);
    }
}

#[test]
fn both_codecs_round_trip_every_vector() {
    for vector in vectors() {
        let envelope = decode(Codec::Json, &vector.bytes);
        for codec in [Codec::Json, Codec::Bincode] {
            let again = decode(codec, &encode(codec, &envelope));
            assert_eq!(again, envelope, "{} through {codec}", vector.name);
            // `Envelope`'s equality ignores key order; the JSON it writes does not.
            assert_eq!(
                encode(Codec::Json, &again),
                encode(Codec::Json, &envelope),
                "{} through {codec}: key order",
                vector.name
            );
        }
    }
}

#[test]
fn bincode_is_smaller_than_json_for_every_vector() {
    for vector in vectors() {
        let envelope = decode(Codec::Json, &vector.bytes);
        let bincode = encode(Codec::Bincode, &envelope);
        assert!(bincode.len() < vector.bytes.len(), "{}", vector.name);
    }
}

#[test]
fn purista_content_type_selects_the_json_codec() {
    let capture: Value = serde_json::from_str(CAPTURE).expect("mqtt-capture.json parses");
    for publish in capture["publishes"]
        .as_array()
        .expect("a list of publishes")
    {
        let content_type = publish["properties"]["contentType"]
            .as_str()
            .expect("every publish has a content type");
        assert_eq!(Codec::from_content_type(content_type), Some(Codec::Json));
    }
}

#[test]
fn command_payload_and_receiver_are_read() {
    let command = core_vector(|m| m["messageType"] == "command" && m["principalId"].is_string());
    let payload = command.command_payload().expect("a command payload");
    assert_eq!(payload.payload, &json!({"name": "alice"}));
    assert_eq!(payload.parameter, &json!({"dryRun": false}));
    let receiver = command.receiver.as_ref().expect("a command has a receiver");
    assert_eq!(receiver.service_target, "createUser");
    assert_eq!(receiver.instance_id, None);
    assert_eq!(command.principal_id.as_deref(), Some("principal-42"));
    assert_eq!(command.tenant_id.as_deref(), Some("tenant-7"));
    assert_eq!(command.trace_id.as_deref(), Some("trace-abc"));
}

#[test]
fn handled_409_error_keeps_status_message_and_data() {
    let response = core_vector(|m| m["payload"]["status"] == 409);
    assert_eq!(response.message_type, MessageType::CommandErrorResponse);
    assert_eq!(response.is_handled_error, Some(true));
    let error = response.error_payload().expect("an error payload");
    assert_eq!(error.status, 409);
    assert_eq!(error.message, "user name already taken");
    assert_eq!(error.data, Some(json!({"name": "taken"})));
    assert_eq!(error.trace_id.as_deref(), Some("trace-def"));
}

#[test]
fn validation_400_error_keeps_its_data_array() {
    let response = core_vector(|m| m["payload"]["status"] == 400);
    let error = response.error_payload().expect("an error payload");
    assert_eq!(error.message, "input validation for payload failed:");
    let data = error.data.expect("a 400 carries the failed validations");
    let failures = data.as_array().expect("data is an array");
    assert_eq!(failures.len(), 1);
    assert_eq!(failures[0]["path"], json!(["name"]));
}

#[test]
fn unhandled_500_error_has_no_data() {
    let response = core_vector(|m| m["payload"]["status"] == 500);
    assert_eq!(response.is_handled_error, Some(false));
    let error = response.error_payload().expect("an error payload");
    assert_eq!(error.message, "Internal Server Error");
    assert_eq!(error.data, None);
}

#[test]
fn success_response_carries_the_success_event() {
    let response = core_vector(|m| m["eventName"] == "userCreated");
    assert_eq!(response.message_type, MessageType::CommandSuccessResponse);
    assert_eq!(response.event_name.as_deref(), Some("userCreated"));
    assert_eq!(response.payload, Some(json!({"userId": "u-alice"})));
    let receiver = response
        .receiver
        .as_ref()
        .expect("a response has a receiver");
    assert_eq!(receiver.service_name, "Gateway");
    assert!(receiver.instance_id.is_some());
}

#[test]
fn absent_payload_stays_absent() {
    let response = core_vector(|m| {
        m["messageType"] == "commandSuccessResponse" && m["sender"]["serviceTarget"] == "notifyAll"
    });
    assert_eq!(response.payload, None);
    for codec in [Codec::Json, Codec::Bincode] {
        assert_eq!(decode(codec, &encode(codec, &response)).payload, None);
    }
    let written: Value =
        serde_json::from_slice(&encode(Codec::Json, &response)).expect("the codec writes JSON");
    assert!(written.get("payload").is_none());
}

#[test]
fn null_payload_stays_null() {
    let mut event = core_vector(|m| m["messageType"] == "customMessage");
    event.payload = Some(Value::Null);
    for codec in [Codec::Json, Codec::Bincode] {
        assert_eq!(
            decode(codec, &encode(codec, &event)).payload,
            Some(Value::Null)
        );
    }
    let written: Value =
        serde_json::from_slice(&encode(Codec::Json, &event)).expect("the codec writes JSON");
    assert_eq!(written.get("payload"), Some(&Value::Null));
}

#[test]
fn custom_message_carries_its_event_and_tenant() {
    let event = core_vector(|m| m["messageType"] == "customMessage");
    assert_eq!(event.event_name.as_deref(), Some("broadcastSent"));
    assert_eq!(event.tenant_id.as_deref(), Some("tenantB"));
    assert_eq!(event.payload, Some(json!({"text": "hello"})));
    assert_eq!(event.correlation_id, None);
    assert_eq!(event.receiver, None);
}

#[test]
fn otp_is_kept_verbatim_as_a_string() {
    for vector in vectors() {
        let envelope = decode(Codec::Json, &vector.bytes);
        let otp = vector.message["otp"]
            .as_str()
            .expect("every vector has an otp");
        assert!(otp.starts_with("{\"traceparent\":\"00-"), "{}", vector.name);
        assert_eq!(envelope.otp.as_deref(), Some(otp), "{}", vector.name);
        let through_bincode = decode(Codec::Bincode, &encode(Codec::Bincode, &envelope));
        assert_eq!(through_bincode.otp.as_deref(), Some(otp), "{}", vector.name);
    }
}

#[test]
fn info_messages_keep_their_payload_and_empty_target() {
    let init = core_vector(|m| m["messageType"] == "infoServiceInit");
    assert!(init.message_type.is_info());
    assert_eq!(init.sender.service_target, "");
    assert_eq!(init.payload, None);

    let added = core_vector(|m| {
        m["messageType"] == "infoServiceFunctionAdded"
            && m["sender"]["serviceTarget"] == "createUser"
    });
    let payload = added.payload.as_ref().expect("the command's metadata");
    assert_eq!(
        payload["expose"]["inputPayload"]["$schema"],
        "https://json-schema.org/draft/2020-12/schema"
    );
    assert_eq!(payload["expose"]["deprecated"], false);
}

#[test]
fn unknown_fields_survive_both_codecs() {
    let custom = json!({"a": [1, 2.5, null, -3, u64::MAX, true, "s", {}, []]});
    let mut message: Value =
        serde_json::from_str::<Value>(MESSAGES).expect("parses")[0]["message"].clone();
    message["x-custom"] = custom.clone();
    message["instanceId"] = json!("a1b2c3d4e5f60718293a4b5c6d7e8f90");
    let bytes = serde_json::to_vec(&message).expect("a message serializes");

    let envelope = decode(Codec::Json, &bytes);
    assert_eq!(envelope.extra.get("x-custom"), Some(&custom));
    let keys: Vec<&str> = envelope.extra.keys().map(String::as_str).collect();
    assert_eq!(
        keys,
        ["x-custom", "instanceId"],
        "unknown fields keep their order"
    );

    let written: Value =
        serde_json::from_slice(&encode(Codec::Json, &envelope)).expect("the codec writes JSON");
    assert_eq!(written, message);

    let through_bincode = decode(Codec::Bincode, &encode(Codec::Bincode, &envelope));
    assert_eq!(through_bincode, envelope);
    let numbers = &through_bincode.extra["x-custom"]["a"];
    assert!(numbers[0].is_u64() && numbers[1].is_f64() && numbers[3].is_i64());
    assert_eq!(numbers[4].as_u64(), Some(u64::MAX));
}
