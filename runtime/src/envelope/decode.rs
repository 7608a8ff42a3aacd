//! Reading an envelope straight from JSON text, without a JSON object in between.
//!
//! [`WireEnvelope`] takes each known field from the parser as its own type and keeps unknown
//! fields as JSON values, in order. It reads every field leniently: a value of the wrong kind
//! is kept as JSON and judged later by [`WireEnvelope::into_envelope`], in the same order and
//! with the same errors as [`Envelope::try_from`] on a parsed object, so that both ways of
//! reading agree on every input (the tests below hold them to it). Only malformed JSON fails
//! while parsing.

use std::fmt;
use std::marker::PhantomData;

use serde::de::value::{MapAccessDeserializer, SeqAccessDeserializer};
use serde::de::{self, DeserializeOwned, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::Deserialize;
use serde_json::{Map, Value};

use super::{Envelope, EnvelopeError, MessageType, ServiceAddress};

/// A field as read: absent, `null`, of the expected kind, or anything else (as JSON).
enum Slot<T> {
    Absent,
    Null,
    Good(T),
    Bad(Value),
}

impl<T> Slot<T> {
    fn is_absent(&self) -> bool {
        matches!(self, Slot::Absent)
    }
}

impl<T: DeserializeOwned> Slot<T> {
    /// The field's value; `null` reads as absent, a value of another kind is
    /// [`EnvelopeError::InvalidField`] with serde_json's reason.
    fn optional(
        self,
        message_type: MessageType,
        field: &'static str,
    ) -> Result<Option<T>, EnvelopeError> {
        match self {
            Slot::Absent | Slot::Null => Ok(None),
            Slot::Good(value) => Ok(Some(value)),
            // What serde_json makes of it decides, so that nothing the lenient reading turned
            // away is refused if serde_json would take it.
            Slot::Bad(value) => serde_json::from_value(value).map(Some).map_err(|error| {
                EnvelopeError::InvalidField {
                    message_type,
                    field,
                    reason: error.to_string(),
                }
            }),
        }
    }

    /// As [`Slot::optional`]; absent or `null` is [`EnvelopeError::MissingField`].
    fn required(self, message_type: MessageType, field: &'static str) -> Result<T, EnvelopeError> {
        self.optional(message_type, field)?
            .ok_or(EnvelopeError::MissingField {
                message_type,
                field,
            })
    }
}

/// The kinds of JSON value a field type takes as it is; anything else is kept as JSON.
trait Lenient: Sized {
    fn from_str(_: &str) -> Option<Self> {
        None
    }
    fn from_u64(_: u64) -> Option<Self> {
        None
    }
    fn from_bool(_: bool) -> Option<Self> {
        None
    }
    fn from_map<'de, A: MapAccess<'de>>(map: A) -> Result<Slot<Self>, A::Error> {
        Value::deserialize(MapAccessDeserializer::new(map)).map(Slot::Bad)
    }
}

impl Lenient for String {
    fn from_str(s: &str) -> Option<Self> {
        Some(s.to_owned())
    }
}

impl Lenient for u64 {
    fn from_u64(n: u64) -> Option<Self> {
        Some(n)
    }
}

impl Lenient for bool {
    fn from_bool(b: bool) -> Option<Self> {
        Some(b)
    }
}

/// The wire names of an address's fields, in [`ServiceAddress`]'s order.
const ADDRESS_FIELDS: [&str; 4] = [
    "serviceName",
    "serviceVersion",
    "serviceTarget",
    "instanceId",
];

impl Lenient for ServiceAddress {
    /// Reads the four fields as strings. When one is missing or of another kind, the known
    /// fields are put back together as a JSON object, in the order they came, for
    /// [`Slot::optional`] to judge as serde_json would; other keys are ignored, as
    /// [`ServiceAddress`]'s own `Deserialize` ignores them.
    fn from_map<'de, A: MapAccess<'de>>(mut map: A) -> Result<Slot<Self>, A::Error> {
        let mut slots: [Slot<String>; 4] = [Slot::Absent, Slot::Absent, Slot::Absent, Slot::Absent];
        let mut order = [0usize; 4];
        let mut seen = 0;
        while let Some(key) = map.next_key::<AddressKey>()? {
            match key.0 {
                Some(index) => {
                    if slots[index].is_absent() {
                        order[seen] = index;
                        seen += 1;
                    }
                    slots[index] = map.next_value()?;
                }
                // Parsed, not skipped, so that nesting counts as it does everywhere else.
                None => {
                    map.next_value::<Value>()?;
                }
            }
        }
        let [name, version, target, instance] = slots;
        match (name, version, target, instance) {
            (
                Slot::Good(service_name),
                Slot::Good(service_version),
                Slot::Good(service_target),
                instance @ (Slot::Absent | Slot::Null | Slot::Good(_)),
            ) => Ok(Slot::Good(ServiceAddress {
                service_name,
                service_version,
                service_target,
                instance_id: match instance {
                    Slot::Good(instance_id) => Some(instance_id),
                    _ => None,
                },
            })),
            (name, version, target, instance) => {
                let mut slots = [name, version, target, instance];
                let mut object = Map::new();
                for &index in &order[..seen] {
                    let value = match std::mem::replace(&mut slots[index], Slot::Absent) {
                        Slot::Good(text) => Value::String(text),
                        Slot::Bad(value) => value,
                        Slot::Absent | Slot::Null => Value::Null,
                    };
                    object.insert(ADDRESS_FIELDS[index].to_owned(), value);
                }
                Ok(Slot::Bad(Value::Object(object)))
            }
        }
    }
}

/// A key of an address: the index of a known field, or `None`.
struct AddressKey(Option<usize>);

impl<'de> Deserialize<'de> for AddressKey {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct KeyVisitor;
        impl Visitor<'_> for KeyVisitor {
            type Value = AddressKey;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a field name")
            }
            fn visit_str<E: de::Error>(self, key: &str) -> Result<AddressKey, E> {
                // The order of `ADDRESS_FIELDS`; a test holds the two to each other.
                Ok(AddressKey(match key {
                    "serviceName" => Some(0),
                    "serviceVersion" => Some(1),
                    "serviceTarget" => Some(2),
                    "instanceId" => Some(3),
                    _ => None,
                }))
            }
        }
        deserializer.deserialize_str(KeyVisitor)
    }
}

impl<'de, T: Lenient> Deserialize<'de> for Slot<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(SlotVisitor(PhantomData))
    }
}

struct SlotVisitor<T>(PhantomData<fn() -> T>);

impl<'de, T: Lenient> Visitor<'de> for SlotVisitor<T> {
    type Value = Slot<T>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_unit<E: de::Error>(self) -> Result<Slot<T>, E> {
        Ok(Slot::Null)
    }

    fn visit_bool<E: de::Error>(self, b: bool) -> Result<Slot<T>, E> {
        Ok(T::from_bool(b).map_or(Slot::Bad(Value::Bool(b)), Slot::Good))
    }

    fn visit_u64<E: de::Error>(self, n: u64) -> Result<Slot<T>, E> {
        Ok(T::from_u64(n).map_or_else(|| Slot::Bad(Value::from(n)), Slot::Good))
    }

    fn visit_i64<E: de::Error>(self, n: i64) -> Result<Slot<T>, E> {
        Ok(Slot::Bad(Value::from(n)))
    }

    fn visit_f64<E: de::Error>(self, n: f64) -> Result<Slot<T>, E> {
        Ok(Slot::Bad(Value::from(n)))
    }

    fn visit_str<E: de::Error>(self, s: &str) -> Result<Slot<T>, E> {
        Ok(T::from_str(s).map_or_else(|| Slot::Bad(Value::String(s.to_owned())), Slot::Good))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Slot<T>, A::Error> {
        Value::deserialize(SeqAccessDeserializer::new(seq)).map(Slot::Bad)
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Slot<T>, A::Error> {
        T::from_map(map)
    }
}

/// `messageType` as read.
enum TypeSlot {
    Absent,
    Known(MessageType),
    /// A string that names no type.
    Unknown(String),
    /// Not a string (`null` included), as JSON.
    Other(Value),
}

/// A message type read from its wire name without copying it: only an unknown name is kept.
struct KnownType(Result<MessageType, String>);

impl Lenient for KnownType {
    fn from_str(name: &str) -> Option<Self> {
        Some(KnownType(
            MessageType::ALL
                .into_iter()
                .find(|message_type| message_type.as_str() == name)
                .ok_or_else(|| name.to_owned()),
        ))
    }
}

impl<'de> Deserialize<'de> for TypeSlot {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        match Slot::<KnownType>::deserialize(deserializer)? {
            Slot::Good(KnownType(Ok(message_type))) => Ok(TypeSlot::Known(message_type)),
            Slot::Good(KnownType(Err(name))) => Ok(TypeSlot::Unknown(name)),
            Slot::Null => Ok(TypeSlot::Other(Value::Null)),
            Slot::Bad(value) => Ok(TypeSlot::Other(value)),
            Slot::Absent => Ok(TypeSlot::Absent),
        }
    }
}

/// An envelope as read from JSON, before its fields are checked.
pub(crate) struct WireEnvelope {
    message_type: TypeSlot,
    id: Slot<String>,
    timestamp: Slot<u64>,
    content_type: Slot<String>,
    content_encoding: Slot<String>,
    correlation_id: Slot<String>,
    trace_id: Slot<String>,
    principal_id: Slot<String>,
    tenant_id: Slot<String>,
    event_name: Slot<String>,
    is_handled_error: Slot<bool>,
    sender: Slot<ServiceAddress>,
    receiver: Slot<ServiceAddress>,
    /// Kept as it is, `null` included.
    payload: Option<Value>,
    otp: Slot<String>,
    extra: Map<String, Value>,
}

impl WireEnvelope {
    /// Checks the fields as [`Envelope::try_from`] does, in its order, then
    /// [validates](Envelope::validate) the envelope.
    pub(crate) fn into_envelope(self) -> Result<Envelope, EnvelopeError> {
        let message_type = match self.message_type {
            TypeSlot::Absent => return Err(EnvelopeError::MissingMessageType),
            TypeSlot::Known(message_type) => message_type,
            TypeSlot::Unknown(name) => return Err(EnvelopeError::UnknownMessageType { name }),
            TypeSlot::Other(value) => {
                return Err(EnvelopeError::UnknownMessageType {
                    name: value.to_string(),
                })
            }
        };
        let t = message_type;
        let envelope = Envelope {
            message_type,
            id: self.id.required(t, "id")?,
            timestamp: self.timestamp.required(t, "timestamp")?,
            content_type: self.content_type.required(t, "contentType")?,
            content_encoding: self.content_encoding.required(t, "contentEncoding")?,
            correlation_id: self.correlation_id.optional(t, "correlationId")?,
            trace_id: self.trace_id.optional(t, "traceId")?,
            principal_id: self.principal_id.optional(t, "principalId")?,
            tenant_id: self.tenant_id.optional(t, "tenantId")?,
            event_name: self.event_name.optional(t, "eventName")?,
            is_handled_error: self.is_handled_error.optional(t, "isHandledError")?,
            sender: self.sender.required(t, "sender")?,
            receiver: self.receiver.optional(t, "receiver")?,
            payload: self.payload,
            otp: self.otp.optional(t, "otp")?,
            extra: self.extra,
        };
        envelope.validate()?;
        Ok(envelope)
    }
}

impl<'de> Deserialize<'de> for WireEnvelope {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_map(EnvelopeVisitor)
    }
}

/// A key of the envelope: one of [`super::json::FIELDS`] by index, or another one.
enum Key {
    Known(usize),
    Unknown(String),
}

impl<'de> Deserialize<'de> for Key {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct KeyVisitor;
        impl Visitor<'_> for KeyVisitor {
            type Value = Key;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a field name")
            }
            fn visit_str<E: de::Error>(self, key: &str) -> Result<Key, E> {
                // The order of `FIELDS`; a test holds the two to each other.
                Ok(Key::Known(match key {
                    "messageType" => 0,
                    "id" => 1,
                    "timestamp" => 2,
                    "contentType" => 3,
                    "contentEncoding" => 4,
                    "correlationId" => 5,
                    "traceId" => 6,
                    "principalId" => 7,
                    "tenantId" => 8,
                    "eventName" => 9,
                    "isHandledError" => 10,
                    "sender" => 11,
                    "receiver" => 12,
                    "payload" => 13,
                    "otp" => 14,
                    _ => return Ok(Key::Unknown(key.to_owned())),
                }))
            }
        }
        deserializer.deserialize_str(KeyVisitor)
    }
}

struct EnvelopeVisitor;

impl<'de> Visitor<'de> for EnvelopeVisitor {
    type Value = WireEnvelope;

    /// As serde_json's own map says it, so that both ways of reading fail alike.
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a map")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<WireEnvelope, A::Error> {
        let mut wire = WireEnvelope {
            message_type: TypeSlot::Absent,
            id: Slot::Absent,
            timestamp: Slot::Absent,
            content_type: Slot::Absent,
            content_encoding: Slot::Absent,
            correlation_id: Slot::Absent,
            trace_id: Slot::Absent,
            principal_id: Slot::Absent,
            tenant_id: Slot::Absent,
            event_name: Slot::Absent,
            is_handled_error: Slot::Absent,
            sender: Slot::Absent,
            receiver: Slot::Absent,
            payload: None,
            otp: Slot::Absent,
            extra: Map::new(),
        };
        // A repeated key keeps its last value, as in a parsed JSON object.
        while let Some(key) = map.next_key::<Key>()? {
            match key {
                // The indices of `FIELDS`.
                Key::Known(0) => wire.message_type = map.next_value()?,
                Key::Known(1) => wire.id = map.next_value()?,
                Key::Known(2) => wire.timestamp = map.next_value()?,
                Key::Known(3) => wire.content_type = map.next_value()?,
                Key::Known(4) => wire.content_encoding = map.next_value()?,
                Key::Known(5) => wire.correlation_id = map.next_value()?,
                Key::Known(6) => wire.trace_id = map.next_value()?,
                Key::Known(7) => wire.principal_id = map.next_value()?,
                Key::Known(8) => wire.tenant_id = map.next_value()?,
                Key::Known(9) => wire.event_name = map.next_value()?,
                Key::Known(10) => wire.is_handled_error = map.next_value()?,
                Key::Known(11) => wire.sender = map.next_value()?,
                Key::Known(12) => wire.receiver = map.next_value()?,
                Key::Known(13) => wire.payload = Some(map.next_value()?),
                Key::Known(_) => wire.otp = map.next_value()?,
                Key::Unknown(key) => {
                    let value = map.next_value()?;
                    wire.extra.insert(key, value);
                }
            }
        }
        Ok(wire)
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    const MESSAGES: &str = include_str!("../../tests/data/purista/purista-messages.json");
    const CAPTURE: &str = include_str!("../../tests/data/purista/mqtt-capture.json");

    /// Both ways of reading: through a parsed object, and straight.
    /// What one way of reading made of an input: `None` if it did not parse.
    type Read = Option<Result<Envelope, EnvelopeError>>;

    fn both(bytes: &[u8]) -> (Read, Read) {
        let through_object = serde_json::from_slice::<Map<String, Value>>(bytes)
            .ok()
            .map(Envelope::try_from);
        let straight = serde_json::from_slice::<WireEnvelope>(bytes)
            .ok()
            .map(WireEnvelope::into_envelope);
        (through_object, straight)
    }

    fn assert_agree(message: &Value) {
        let bytes = serde_json::to_vec(message).expect("a value serializes");
        let (through_object, straight) = both(&bytes);
        assert_eq!(straight, through_object, "{message}");
    }

    fn vectors() -> Vec<Value> {
        let messages: Value = serde_json::from_str(MESSAGES).expect("the vectors parse");
        let capture: Value = serde_json::from_str(CAPTURE).expect("the capture parses");
        let mut all: Vec<Value> = messages
            .as_array()
            .expect("a list")
            .iter()
            .map(|entry| entry["message"].clone())
            .collect();
        all.extend(
            capture["publishes"]
                .as_array()
                .expect("a list")
                .iter()
                .map(|publish| publish["payload"].clone()),
        );
        all
    }

    /// Values of every kind, for a field to hold instead of its own.
    fn odd_values() -> Vec<Value> {
        vec![
            Value::Null,
            json!(true),
            json!(0),
            json!(7),
            json!(-1),
            json!(1.5),
            json!(1e20),
            json!(""),
            json!("x"),
            json!("command"),
            json!([]),
            json!(["a", "b", "c"]),
            json!(["a", "b", "c", "d"]),
            json!({}),
            json!({"serviceName": "a"}),
            json!({"serviceName": "a", "serviceVersion": "1", "serviceTarget": "t"}),
            json!({"serviceName": "a", "serviceVersion": "1", "serviceTarget": "t", "instanceId": null}),
            json!({"serviceName": "a", "serviceVersion": 1, "serviceTarget": "t"}),
            json!({"other": [1, {"x": null}], "serviceTarget": "t", "serviceName": "a", "serviceVersion": "1", "instanceId": 5}),
        ]
    }

    #[test]
    fn every_vector_reads_the_same_both_ways() {
        for message in vectors() {
            let bytes = serde_json::to_vec(&message).expect("serializes");
            let (through_object, straight) = both(&bytes);
            assert!(matches!(straight, Some(Ok(_))), "{message}");
            assert_eq!(straight, through_object, "{message}");
        }
    }

    #[test]
    fn every_field_of_every_kind_reads_the_same_both_ways() {
        let mut checked = 0;
        for message in vectors() {
            let Some(object) = message.as_object() else {
                continue;
            };
            let keys: Vec<String> = object.keys().cloned().collect();
            for key in keys.iter().chain(["extraField".to_owned()].iter()) {
                let mut without = message.clone();
                if let Some(object) = without.as_object_mut() {
                    object.shift_remove(key);
                }
                assert_agree(&without);
                for value in odd_values() {
                    let mut changed = message.clone();
                    changed[key.as_str()] = value.clone();
                    assert_agree(&changed);
                    checked += 1;
                    for nested in ["serviceName", "instanceId", "extra"] {
                        for part in ["sender", "receiver"] {
                            let mut deeper = message.clone();
                            if let Some(address) =
                                deeper.get_mut(part).and_then(Value::as_object_mut)
                            {
                                address.insert(nested.to_owned(), value.clone());
                                assert_agree(&deeper);
                            }
                        }
                    }
                }
            }
        }
        assert!(checked > 1_000, "{checked}");
    }

    #[test]
    fn repeated_and_unknown_keys_read_the_same_both_ways() {
        let sender =
            r#"{"serviceName":"S","serviceVersion":"1","serviceTarget":"t","instanceId":"i"}"#;
        let inputs = [
            format!(
                r#"{{"messageType":"customMessage","id":"a","timestamp":1,"contentType":"c","contentEncoding":"e","eventName":"x","sender":{sender},"zeta":1,"alpha":{{"b":[null]}},"zeta":2}}"#
            ),
            format!(
                r#"{{"messageType":"command","messageType":"customMessage","id":"a","id":"b","timestamp":1,"contentType":"c","contentEncoding":"e","eventName":"x","sender":{sender}}}"#
            ),
            r#"{"messageType":"customMessage","id":"a","timestamp":1,"contentType":"c","contentEncoding":"e","eventName":"x","sender":{"serviceName":1,"serviceName":"S","serviceVersion":"1","serviceTarget":"t","instanceId":"i","instanceId":null}}"#.to_owned(),
            r#"{"messageType":"customMessage","id":"a","timestamp":1,"contentType":"c","contentEncoding":"e","eventName":"x","sender":{"serviceVersion":2,"serviceName":3}}"#.to_owned(),
            format!(
                r#"{{"\u0069d":"a","messageType":"customMessage","timestamp":1,"contentType":"c","contentEncoding":"e","eventName":"x","sender":{sender},"payload":null}}"#
            ),
            format!(r#"{{"messageType":null,"sender":{sender}}}"#),
            r#"{"messageType":"stream"}"#.to_owned(),
            r#"{"messageType":["command"]}"#.to_owned(),
            "{}".to_owned(),
        ];
        for input in inputs {
            let (through_object, straight) = both(input.as_bytes());
            assert!(straight.is_some(), "{input}");
            assert_eq!(straight, through_object, "{input}");
        }
        let (_, straight) = both(inputs_with_extra().as_bytes());
        let envelope = straight.expect("parses").expect("valid");
        let keys: Vec<&str> = envelope.extra.keys().map(String::as_str).collect();
        assert_eq!(keys, ["zeta", "alpha"]);
        assert_eq!(envelope.extra["zeta"], json!(2));
    }

    fn inputs_with_extra() -> String {
        r#"{"messageType":"customMessage","id":"a","timestamp":1,"contentType":"c","contentEncoding":"e","eventName":"x","sender":{"serviceName":"S","serviceVersion":"1","serviceTarget":"t","instanceId":"i"},"zeta":1,"alpha":{"b":[null]},"zeta":2}"#.to_owned()
    }

    #[test]
    fn keys_are_read_in_the_order_of_fields() {
        for (index, name) in super::super::json::FIELDS.iter().enumerate() {
            let key: Key = serde_json::from_value(json!(name)).expect("a key");
            assert!(matches!(key, Key::Known(i) if i == index), "{name}");
        }
        for (index, name) in ADDRESS_FIELDS.iter().enumerate() {
            let key: AddressKey = serde_json::from_value(json!(name)).expect("a key");
            assert_eq!(key.0, Some(index), "{name}");
        }
        let key: Key = serde_json::from_value(json!("Id")).expect("a key");
        assert!(matches!(key, Key::Unknown(name) if name == "Id"));
    }

    #[test]
    fn what_is_not_an_object_fails_alike() {
        for input in ["null", "[]", "1", "\"x\"", "true", "{", "{\"id\":}", "{} x"] {
            let through_object = serde_json::from_slice::<Map<String, Value>>(input.as_bytes())
                .map(|_| ())
                .map_err(|e| e.to_string());
            let straight = serde_json::from_slice::<WireEnvelope>(input.as_bytes())
                .map(|_| ())
                .map_err(|e| e.to_string());
            assert!(straight.is_err(), "{input}");
            assert_eq!(straight, through_object, "{input}");
        }
    }
}
