//! Bad input gets a typed error from both codecs, and never a panic: garbage, cut-off and
//! corrupted messages, oversize ones, deep nesting, huge declared lengths, and envelopes that
//! miss what their message type requires.

use serde_json::{json, Value};
use tributary::codec::{Codec, CodecError, CodecErrorKind, Limits};
use tributary::envelope::{Envelope, EnvelopeError, MessageType, ServiceAddress};

const MESSAGES: &str = include_str!("data/purista/purista-messages.json");
const CAPTURE: &str = include_str!("data/purista/mqtt-capture.json");

const CODECS: [Codec; 2] = [Codec::Json, Codec::Bincode];

/// Every PURISTA envelope of the test data, as a JSON value.
fn messages() -> Vec<Value> {
    let messages: Value = serde_json::from_str(MESSAGES).expect("purista-messages.json parses");
    let capture: Value = serde_json::from_str(CAPTURE).expect("mqtt-capture.json parses");
    let core = messages
        .as_array()
        .expect("a list of {topic, message}")
        .iter()
        .map(|entry| entry["message"].clone());
    let wire = capture["publishes"]
        .as_array()
        .expect("a list of publishes")
        .iter()
        .map(|publish| publish["payload"].clone());
    core.chain(wire).collect()
}

/// The first message of `message_type` in `purista-messages.json`.
fn message(message_type: &str) -> Value {
    messages()
        .into_iter()
        .find(|message| message["messageType"] == message_type)
        .expect("the test data has every message type it is asked for")
}

fn decode_json(message: &Value) -> Result<Envelope, CodecError> {
    let bytes = serde_json::to_vec(message).expect("a message serializes");
    Codec::Json.decode(&bytes, &Limits::default())
}

/// Every envelope of the test data in both encodings.
fn encoded() -> Vec<(Codec, Vec<u8>)> {
    let mut encoded = Vec::new();
    for message in messages() {
        let envelope = decode_json(&message).expect("every vector decodes");
        for codec in CODECS {
            let bytes = codec
                .encode(&envelope, &Limits::default())
                .expect("every vector encodes");
            encoded.push((codec, bytes));
        }
    }
    encoded
}

fn event(payload: Value) -> Envelope {
    let sender = ServiceAddress::new("UserService", "1", "notifyAll").with_instance_id("i");
    Envelope::custom_message(sender, "broadcastSent", Some(payload))
}

fn nested_arrays(depth: usize) -> Value {
    (0..depth).fold(json!([]), |inner, _| json!([inner]))
}

#[test]
fn garbage_is_an_error() {
    let inputs: [&[u8]; 8] = [
        b"",
        b"not json",
        b"\xff\xfe\x00\x01",
        b"null",
        b"[]",
        b"{\"messageType\":",
        b"{\"messageType\":\"command\"} trailing",
        b"\x01",
    ];
    for codec in CODECS {
        for input in inputs {
            assert!(
                codec.decode(input, &Limits::default()).is_err(),
                "{codec} {input:?}"
            );
        }
    }
    assert_eq!(
        Codec::Json
            .decode(b"", &Limits::default())
            .map_err(|e| e.kind()),
        Err(CodecErrorKind::Malformed)
    );
    assert_eq!(
        Codec::Bincode
            .decode(b"", &Limits::default())
            .map_err(|e| e.kind()),
        Err(CodecErrorKind::Malformed)
    );
}

#[test]
fn random_bytes_are_an_error() {
    let mut rng = fastrand::Rng::with_seed(7);
    for _ in 0..2_000 {
        let len = rng.usize(0..300);
        let mut bytes: Vec<u8> = std::iter::repeat_with(|| rng.u8(..)).take(len).collect();
        for codec in CODECS {
            assert!(
                codec.decode(&bytes, &Limits::default()).is_err(),
                "{bytes:?}"
            );
        }
        // Past the version byte, into the frame itself.
        bytes.insert(0, 1);
        assert!(
            Codec::Bincode.decode(&bytes, &Limits::default()).is_err(),
            "{bytes:?}"
        );
    }
}

#[test]
fn every_cut_off_message_is_an_error() {
    for (codec, bytes) in encoded() {
        for len in 0..bytes.len() {
            assert!(
                codec.decode(&bytes[..len], &Limits::default()).is_err(),
                "{codec} message cut to {len} of {} bytes decoded",
                bytes.len()
            );
        }
    }
}

#[test]
fn corrupted_bytes_never_panic() {
    for (codec, bytes) in encoded() {
        for position in 0..bytes.len() {
            for flip in [0x01, 0x80, 0xff] {
                let mut corrupted = bytes.clone();
                corrupted[position] ^= flip;
                // Some corruptions are still valid envelopes; none may panic.
                let _ = codec.decode(&corrupted, &Limits::default());
            }
        }
    }
}

#[test]
fn oversize_input_is_rejected_before_parsing() {
    let limits = Limits::default();
    assert_eq!(limits.max_size, 1_048_576);
    let garbage = vec![b'x'; limits.max_size + 1];
    for codec in CODECS {
        assert_eq!(
            codec.decode(&garbage, &limits),
            Err(CodecError::Oversize {
                size: 1_048_577,
                limit: 1_048_576
            })
        );
    }
}

#[test]
fn oversize_output_is_rejected_with_its_size() {
    let envelope = event(json!("x".repeat(1_048_576)));
    let unlimited = Limits {
        max_size: usize::MAX,
    };
    for codec in CODECS {
        let size = codec
            .encode(&envelope, &unlimited)
            .expect("encodes without a limit")
            .len();
        assert!(size > 1_048_576);
        assert_eq!(
            codec.encode(&envelope, &Limits::default()),
            Err(CodecError::Oversize {
                size,
                limit: 1_048_576
            })
        );
    }
}

#[test]
fn a_configured_limit_is_honoured_to_the_byte() {
    let mut envelope = event(json!("hi"));
    envelope.id = "1".to_owned();
    let small = Limits { max_size: 100 };
    let json = Codec::Json
        .encode(&envelope, &Limits::default())
        .expect("encodes");
    assert!(json.len() > 100);
    let oversize = CodecError::Oversize {
        size: json.len(),
        limit: 100,
    };
    assert_eq!(Codec::Json.encode(&envelope, &small), Err(oversize.clone()));
    assert_eq!(Codec::Json.decode(&json, &small), Err(oversize));
    let bincode = Codec::Bincode
        .encode(&envelope, &small)
        .expect("fits in 100 bytes");
    assert_eq!(
        Codec::Bincode.decode(&bincode, &small),
        Ok(envelope.clone())
    );

    for codec in CODECS {
        let bytes = codec
            .encode(&envelope, &Limits::default())
            .expect("encodes");
        let exact = Limits {
            max_size: bytes.len(),
        };
        assert_eq!(codec.encode(&envelope, &exact).as_ref(), Ok(&bytes));
        assert!(codec.decode(&bytes, &exact).is_ok());
        let short = Limits {
            max_size: bytes.len() - 1,
        };
        let oversize = CodecError::Oversize {
            size: bytes.len(),
            limit: bytes.len() - 1,
        };
        assert_eq!(codec.encode(&envelope, &short), Err(oversize.clone()));
        assert_eq!(codec.decode(&bytes, &short), Err(oversize));
    }
}

#[test]
fn unknown_bincode_version_is_rejected() {
    let bytes = Codec::Bincode
        .encode(&event(json!(1)), &Limits::default())
        .expect("encodes");
    assert_eq!(bytes[0], 1, "format version 1");
    for version in [0, 2, 255] {
        let mut other = bytes.clone();
        other[0] = version;
        assert_eq!(
            Codec::Bincode.decode(&other, &Limits::default()),
            Err(CodecError::UnsupportedVersion { version })
        );
    }
}

#[test]
fn both_codecs_accept_the_same_nesting_depth() {
    // The envelope is the first level, as serde_json counts it: 126 more are allowed.
    for codec in CODECS {
        let deepest = event(nested_arrays(125));
        let bytes = codec.encode(&deepest, &Limits::default()).expect("encodes");
        assert_eq!(
            codec.decode(&bytes, &Limits::default()),
            Ok(deepest),
            "{codec}"
        );

        let too_deep = codec
            .encode(&event(nested_arrays(126)), &Limits::default())
            .expect("encodes");
        let error = codec
            .decode(&too_deep, &Limits::default())
            .expect_err("one level too deep");
        assert_eq!(error.kind(), CodecErrorKind::Malformed, "{codec}: {error}");
    }
}

#[test]
fn very_deep_nesting_is_an_error_not_a_stack_overflow() {
    let depth = 100_000;
    let mut json = br#"{"messageType":"customMessage","payload":"#.to_vec();
    json.extend(std::iter::repeat_n(b'[', depth));
    let error = Codec::Json
        .decode(&json, &Limits::default())
        .expect_err("too deep");
    assert!(error.to_string().contains("recursion limit"), "{error}");

    // bincode layout v1: a payload `[]` is written `6 0` (array tag, length 0) and followed
    // by `0 0` (no otp, no extra fields); nest arrays of length 1 in its place.
    let bytes = Codec::Bincode
        .encode(&event(json!([])), &Limits::default())
        .expect("encodes");
    let (head, tail) = bytes.split_at(bytes.len() - 4);
    assert_eq!(tail, [6, 0, 0, 0]);
    let mut deep = head.to_vec();
    deep.extend([6, 1].repeat(depth));
    let error = Codec::Bincode
        .decode(&deep, &Limits::default())
        .expect_err("too deep");
    assert!(error.to_string().contains("nesting"), "{error}");
}

#[test]
fn huge_declared_lengths_are_an_error() {
    // bincode varint: 253 then 8 little-endian bytes is a u64.
    let huge = [253, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff];
    let bytes = Codec::Bincode
        .encode(&event(json!([])), &Limits::default())
        .expect("encodes");
    let mut variants = Vec::new();
    // The message id's length (after the version and message type bytes).
    variants.push([&bytes[..2], &huge[..], &bytes[3..]].concat());
    // The payload array's length.
    let at = bytes.len() - 3;
    variants.push([&bytes[..at], &huge[..], &bytes[at + 1..]].concat());
    // The number of extra fields.
    let at = bytes.len() - 1;
    variants.push([&bytes[..at], &huge[..]].concat());
    for variant in variants {
        let error = Codec::Bincode
            .decode(&variant, &Limits::default())
            .expect_err("huge length");
        assert_eq!(error.kind(), CodecErrorKind::Malformed, "{error}");
    }
}

#[test]
fn missing_required_fields_are_named() {
    use MessageType::*;
    let cases = [
        (Command, "/receiver", "receiver"),
        (Command, "/correlationId", "correlationId"),
        (Command, "/payload", "payload"),
        (Command, "/payload/parameter", "payload.parameter"),
        (CommandSuccessResponse, "/receiver", "receiver"),
        (
            CommandSuccessResponse,
            "/receiver/instanceId",
            "receiver.instanceId",
        ),
        (CommandSuccessResponse, "/correlationId", "correlationId"),
        (CommandErrorResponse, "/isHandledError", "isHandledError"),
        (CommandErrorResponse, "/payload/status", "payload.status"),
        (CommandErrorResponse, "/payload/message", "payload.message"),
        (CustomMessage, "/eventName", "eventName"),
        (InfoServiceInit, "/sender/instanceId", "sender.instanceId"),
        (InfoServiceInit, "/sender", "sender"),
        (InfoServiceReady, "/id", "id"),
        (InfoServiceReady, "/timestamp", "timestamp"),
    ];
    for (message_type, pointer, field) in cases {
        let mut message = message(message_type.as_str());
        remove(&mut message, pointer);
        let expected = CodecError::Envelope(EnvelopeError::MissingField {
            message_type,
            field,
        });
        assert_eq!(decode_json(&message), Err(expected.clone()), "{pointer}");
        assert_eq!(expected.kind(), CodecErrorKind::MissingField);
    }
}

/// Removes the field at a JSON pointer.
fn remove(message: &mut Value, pointer: &str) {
    let (parent, key) = pointer.rsplit_once('/').expect("a pointer");
    message
        .pointer_mut(parent)
        .and_then(Value::as_object_mut)
        .and_then(|object| object.shift_remove(key))
        .unwrap_or_else(|| panic!("{pointer} is in the message"));
}

#[test]
fn encoding_checks_required_fields_too() {
    let mut command = decode_json(&message("command")).expect("decodes");
    command.receiver = None;
    for codec in CODECS {
        assert_eq!(
            codec.encode(&command, &Limits::default()),
            Err(CodecError::Envelope(EnvelopeError::MissingField {
                message_type: MessageType::Command,
                field: "receiver",
            }))
        );
    }
}

#[test]
fn fields_of_the_wrong_kind_are_named() {
    let cases: [(&str, &str, Value, &str); 6] = [
        ("infoServiceReady", "timestamp", json!("now"), "timestamp"),
        ("infoServiceReady", "timestamp", json!(-1), "timestamp"),
        ("infoServiceReady", "sender", json!("UserService"), "sender"),
        (
            "infoServiceReady",
            "otp",
            json!({"traceparent": "00-"}),
            "otp",
        ),
        (
            "commandErrorResponse",
            "isHandledError",
            json!("yes"),
            "isHandledError",
        ),
        ("command", "payload", json!([1]), "payload"),
    ];
    for (message_type, field, value, expected) in cases {
        let mut message = message(message_type);
        message[field] = value;
        let error = decode_json(&message).expect_err("a field of the wrong kind");
        assert!(
            matches!(
                &error,
                CodecError::Envelope(EnvelopeError::InvalidField { field, .. }) if *field == expected
            ),
            "{message_type}.{field}: {error}"
        );
        assert_eq!(error.kind(), CodecErrorKind::InvalidField);
    }

    let mut message = message("commandErrorResponse");
    message["payload"]["status"] = json!("409");
    let error = decode_json(&message).expect_err("a status that is not a number");
    assert_eq!(
        error.to_string(),
        "invalid field `payload.status` in commandErrorResponse: expected a status code"
    );
}

#[test]
fn unknown_message_type_is_named() {
    let mut message = message("command");
    message["messageType"] = json!("stream");
    let error = decode_json(&message).expect_err("unknown type");
    assert_eq!(
        error,
        CodecError::Envelope(EnvelopeError::UnknownMessageType {
            name: "stream".to_owned()
        })
    );
    assert_eq!(error.kind(), CodecErrorKind::UnknownMessageType);
    assert_eq!(error.to_string(), "unknown message type `stream`");

    message["messageType"] = json!(42);
    assert_eq!(
        decode_json(&message),
        Err(CodecError::Envelope(EnvelopeError::UnknownMessageType {
            name: "42".to_owned()
        }))
    );

    remove(&mut message, "/messageType");
    assert_eq!(
        decode_json(&message),
        Err(CodecError::Envelope(EnvelopeError::MissingMessageType))
    );
}

#[test]
fn error_messages_are_short_and_lower_case() {
    let errors = [
        CodecError::Oversize {
            size: 101,
            limit: 100,
        },
        CodecError::UnsupportedVersion { version: 2 },
        Codec::Json
            .decode(b"{", &Limits::default())
            .expect_err("malformed"),
        Codec::Bincode
            .decode(&[1, 0], &Limits::default())
            .expect_err("malformed"),
        CodecError::Envelope(EnvelopeError::MissingField {
            message_type: MessageType::Command,
            field: "receiver",
        }),
    ];
    let texts: Vec<String> = errors.iter().map(ToString::to_string).collect();
    assert_eq!(
        texts,
        [
            "message of 101 bytes exceeds the limit of 100 bytes",
            "unsupported bincode format version 2",
            "malformed json message: EOF while parsing an object at line 1 column 1",
            "malformed bincode message: unexpected end of input",
            "missing field `receiver` in command",
        ]
    );
}
