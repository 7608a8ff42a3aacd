//! The envelope's JSON shape: PURISTA's camelCase field names, absent fields left out.

use serde::de::DeserializeOwned;
use serde::ser::{SerializeMap, Serializer};
use serde::Serialize;
use serde_json::{Map, Value};

use super::{Envelope, EnvelopeError, MessageType};

/// Every field name the envelope knows; anything else goes to [`Envelope::extra`].
pub(super) const FIELDS: [&str; 15] = [
    "messageType",
    "id",
    "timestamp",
    "contentType",
    "contentEncoding",
    "correlationId",
    "traceId",
    "principalId",
    "tenantId",
    "eventName",
    "isHandledError",
    "sender",
    "receiver",
    "payload",
    "otp",
];

impl Serialize for Envelope {
    /// Writes the known fields, then [`Envelope::extra`]; an absent (`None`) field is left out.
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(None)?;
        map.serialize_entry("messageType", self.message_type.as_str())?;
        map.serialize_entry("id", &self.id)?;
        map.serialize_entry("timestamp", &self.timestamp)?;
        map.serialize_entry("contentType", &self.content_type)?;
        map.serialize_entry("contentEncoding", &self.content_encoding)?;
        optional_entry(&mut map, "correlationId", &self.correlation_id)?;
        optional_entry(&mut map, "traceId", &self.trace_id)?;
        optional_entry(&mut map, "principalId", &self.principal_id)?;
        optional_entry(&mut map, "tenantId", &self.tenant_id)?;
        optional_entry(&mut map, "eventName", &self.event_name)?;
        optional_entry(&mut map, "isHandledError", &self.is_handled_error)?;
        map.serialize_entry("sender", &self.sender)?;
        optional_entry(&mut map, "receiver", &self.receiver)?;
        optional_entry(&mut map, "payload", &self.payload)?;
        optional_entry(&mut map, "otp", &self.otp)?;
        for (key, value) in &self.extra {
            map.serialize_entry(key, value)?;
        }
        map.end()
    }
}

fn optional_entry<M: SerializeMap, T: Serialize>(
    map: &mut M,
    key: &str,
    value: &Option<T>,
) -> Result<(), M::Error> {
    match value {
        Some(value) => map.serialize_entry(key, value),
        None => Ok(()),
    }
}

impl TryFrom<Map<String, Value>> for Envelope {
    type Error = EnvelopeError;

    /// Reads an envelope from a parsed JSON object and [validates](Envelope::validate) it.
    ///
    /// `null` in an optional field other than `payload` reads as absent; a `null` payload is
    /// kept. Unknown fields go to [`Envelope::extra`], in their order.
    fn try_from(mut object: Map<String, Value>) -> Result<Self, Self::Error> {
        let message_type = match object.shift_remove("messageType") {
            None => return Err(EnvelopeError::MissingMessageType),
            Some(Value::String(name)) => name.parse()?,
            Some(other) => {
                return Err(EnvelopeError::UnknownMessageType {
                    name: other.to_string(),
                })
            }
        };
        let mut fields = Fields {
            object,
            message_type,
        };
        let envelope = Envelope {
            message_type,
            id: fields.required("id")?,
            timestamp: fields.required("timestamp")?,
            content_type: fields.required("contentType")?,
            content_encoding: fields.required("contentEncoding")?,
            correlation_id: fields.optional("correlationId")?,
            trace_id: fields.optional("traceId")?,
            principal_id: fields.optional("principalId")?,
            tenant_id: fields.optional("tenantId")?,
            event_name: fields.optional("eventName")?,
            is_handled_error: fields.optional("isHandledError")?,
            sender: fields.required("sender")?,
            receiver: fields.optional("receiver")?,
            payload: fields.object.shift_remove("payload"),
            otp: fields.optional("otp")?,
            extra: fields.object,
        };
        envelope.validate()?;
        Ok(envelope)
    }
}

/// The fields of an envelope not read yet.
struct Fields {
    /// What is left of the JSON object; it becomes [`Envelope::extra`].
    object: Map<String, Value>,
    /// The envelope's type, for the errors.
    message_type: MessageType,
}

impl Fields {
    /// Takes `field` out; `null` reads as absent.
    fn optional<T: DeserializeOwned>(
        &mut self,
        field: &'static str,
    ) -> Result<Option<T>, EnvelopeError> {
        match self.object.shift_remove(field) {
            None | Some(Value::Null) => Ok(None),
            Some(value) => serde_json::from_value(value).map(Some).map_err(|error| {
                EnvelopeError::InvalidField {
                    message_type: self.message_type,
                    field,
                    reason: error.to_string(),
                }
            }),
        }
    }

    /// Takes `field` out; absent or `null` is [`EnvelopeError::MissingField`].
    fn required<T: DeserializeOwned>(&mut self, field: &'static str) -> Result<T, EnvelopeError> {
        self.optional(field)?.ok_or(EnvelopeError::MissingField {
            message_type: self.message_type,
            field,
        })
    }
}
