//! The envelope: a message as it travels between services, in PURISTA's shape.
//!
//! [`Envelope`] has every field of PURISTA's `EBMessage`, for all [`MessageType`]s, plus the
//! fields it does not know ([`Envelope::extra`]), so forwarding loses nothing. An absent
//! field is `None` and stays absent when the envelope is encoded again.
//! [`Envelope::validate`] checks what each message type requires; the codecs run it on every
//! decode and encode. Payloads are JSON values here: typed payloads belong to the contracts.

mod address;
mod decode;
mod error;
mod json;
mod message_type;
mod payload;

use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::{Map, Value};

use crate::text::Id;

pub use address::ServiceAddress;
pub(crate) use decode::WireEnvelope;
pub use error::EnvelopeError;
pub use message_type::MessageType;
pub use payload::{CommandPayload, ErrorPayload};

/// A message between services: PURISTA's envelope, one struct for every message type.
///
/// Field names on the wire are the camelCase of the Rust names. Which optional fields a
/// message type requires is listed on [`Envelope::validate`].
#[derive(Debug, Clone, PartialEq)]
pub struct Envelope {
    /// What kind of message this is; decides which other fields are required.
    pub message_type: MessageType,
    /// The message id (32 lowercase hex when we make it); receivers drop duplicates by it.
    pub id: String,
    /// When the message was made, in milliseconds since the Unix epoch.
    pub timestamp: u64,
    /// The content type of `payload`: `application/json` for all PURISTA sends.
    pub content_type: String,
    /// The content encoding of `payload`: `utf-8`.
    pub content_encoding: String,
    /// Links a command to its response; required on commands and responses.
    pub correlation_id: Option<String>,
    /// The business trace id, handed on from a command to all it causes.
    pub trace_id: Option<String>,
    /// The principal (user or technical) the message acts for, handed on like `trace_id`.
    pub principal_id: Option<String>,
    /// The tenant, handed on like `trace_id`.
    pub tenant_id: Option<String>,
    /// The business event (`userCreated`): required on custom messages, set on the success
    /// response of a command that has a success event.
    pub event_name: Option<String>,
    /// On error responses, whether the handler raised the error on purpose.
    pub is_handled_error: Option<bool>,
    /// Who sent the message; always names an instance.
    pub sender: ServiceAddress,
    /// Who the message is for: required on commands and responses, optional on custom
    /// messages, absent on info messages.
    pub receiver: Option<ServiceAddress>,
    /// The payload. `None` means the key is absent; `Some(Value::Null)` means `null`.
    pub payload: Option<Value>,
    /// The OpenTelemetry context: a JSON *string* such as `{"traceparent":"00-…-01"}`, kept
    /// verbatim.
    pub otp: Option<String>,
    /// Fields this runtime does not know, in the order received, sent on when the envelope
    /// is encoded again. Keys must not be names of the fields above.
    pub extra: Map<String, Value>,
}

impl Envelope {
    /// A new envelope from `sender` with a fresh id, the current time, a JSON content type
    /// and nothing else set.
    pub fn new(message_type: MessageType, sender: ServiceAddress) -> Self {
        Self {
            message_type,
            id: new_id(),
            timestamp: now_ms(),
            content_type: "application/json".to_owned(),
            content_encoding: "utf-8".to_owned(),
            correlation_id: None,
            trace_id: None,
            principal_id: None,
            tenant_id: None,
            event_name: None,
            is_handled_error: None,
            sender,
            receiver: None,
            payload: None,
            otp: None,
            extra: Map::new(),
        }
    }

    /// A command from `sender` to `receiver` with a fresh correlation id and the payload
    /// `{payload, parameter}`.
    pub fn command(
        sender: ServiceAddress,
        receiver: ServiceAddress,
        payload: Value,
        parameter: Value,
    ) -> Self {
        let mut body = Map::new();
        body.insert("payload".to_owned(), payload);
        body.insert("parameter".to_owned(), parameter);
        Self {
            correlation_id: Some(new_id()),
            receiver: Some(receiver),
            payload: Some(Value::Object(body)),
            ..Self::new(MessageType::Command, sender)
        }
    }

    /// The success response to this command, sent by `responder` back to the command's
    /// sender. `None` sends no payload (a command that returns nothing).
    pub fn success_response(&self, responder: ServiceAddress, payload: Option<Value>) -> Self {
        Self {
            payload,
            ..self.response(MessageType::CommandSuccessResponse, responder)
        }
    }

    /// The error response to this command, sent by `responder` back to the command's sender.
    /// The error payload gets the command's trace id unless it has one.
    pub fn error_response(
        &self,
        responder: ServiceAddress,
        is_handled_error: bool,
        error: ErrorPayload,
    ) -> Self {
        let error = ErrorPayload {
            trace_id: error.trace_id.or_else(|| self.trace_id.clone()),
            ..error
        };
        Self {
            is_handled_error: Some(is_handled_error),
            payload: Some(error.into()),
            ..self.response(MessageType::CommandErrorResponse, responder)
        }
    }

    /// A custom event `event_name` from `sender`, to whoever subscribes.
    pub fn custom_message(
        sender: ServiceAddress,
        event_name: impl Into<String>,
        payload: Option<Value>,
    ) -> Self {
        Self {
            event_name: Some(event_name.into()),
            payload,
            ..Self::new(MessageType::CustomMessage, sender)
        }
    }

    /// Checks the fields that PURISTA requires of this envelope's type.
    ///
    /// Every envelope needs `sender.instanceId`, and `extra` must not repeat a known field.
    /// Then, per type:
    /// - `command`: `receiver`, `correlationId`, `payload` `{payload, parameter}`;
    /// - `commandSuccessResponse`: `receiver` with `instanceId`, `correlationId`;
    /// - `commandErrorResponse`: as a success response, plus `isHandledError` and `payload`
    ///   `{status, message}`;
    /// - `customMessage`: `eventName`;
    /// - `info*`: nothing more.
    pub fn validate(&self) -> Result<(), EnvelopeError> {
        self.require(self.sender.instance_id.is_some(), "sender.instanceId")?;
        if let Some(key) = self
            .extra
            .keys()
            .find(|key| json::FIELDS.contains(&key.as_str()))
        {
            return Err(self.invalid("extra", format!("`{key}` is a known field")));
        }
        match self.message_type {
            MessageType::Command => {
                self.require(self.receiver.is_some(), "receiver")?;
                self.require(self.correlation_id.is_some(), "correlationId")?;
                self.command_payload().map(|_| ())
            }
            MessageType::CommandSuccessResponse => self.require_response_fields(),
            MessageType::CommandErrorResponse => {
                self.require_response_fields()?;
                self.require(self.is_handled_error.is_some(), "isHandledError")?;
                self.error_payload().map(|_| ())
            }
            MessageType::CustomMessage => self.require(self.event_name.is_some(), "eventName"),
            MessageType::InfoServiceInit
            | MessageType::InfoServiceReady
            | MessageType::InfoServiceNotReady
            | MessageType::InfoServiceFunctionAdded
            | MessageType::InfoServiceDrain
            | MessageType::InfoServiceShutdown
            | MessageType::InfoInvokeTimeout
            | MessageType::InfoSubscriptionError => Ok(()),
        }
    }

    /// A response to this command from `responder`: addressed to the command's sender, with
    /// its correlation id and the ids it hands on.
    fn response(&self, message_type: MessageType, responder: ServiceAddress) -> Self {
        Self {
            correlation_id: self.correlation_id.clone(),
            trace_id: self.trace_id.clone(),
            principal_id: self.principal_id.clone(),
            tenant_id: self.tenant_id.clone(),
            receiver: Some(self.sender.clone()),
            ..Self::new(message_type, responder)
        }
    }

    fn require_response_fields(&self) -> Result<(), EnvelopeError> {
        let receiver = self
            .receiver
            .as_ref()
            .ok_or_else(|| self.missing("receiver"))?;
        self.require(receiver.instance_id.is_some(), "receiver.instanceId")?;
        self.require(self.correlation_id.is_some(), "correlationId")
    }

    fn require(&self, present: bool, field: &'static str) -> Result<(), EnvelopeError> {
        if present {
            Ok(())
        } else {
            Err(self.missing(field))
        }
    }

    fn missing(&self, field: &'static str) -> EnvelopeError {
        EnvelopeError::MissingField {
            message_type: self.message_type,
            field,
        }
    }

    fn invalid(&self, field: &'static str, reason: impl Into<String>) -> EnvelopeError {
        EnvelopeError::InvalidField {
            message_type: self.message_type,
            field,
            reason: reason.into(),
        }
    }
}

/// A fresh message or correlation id: 32 lowercase hex digits, as PURISTA makes them.
fn new_id() -> String {
    Id::random().to_string()
}

/// Milliseconds since the Unix epoch; 0 on a clock set before it.
fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |elapsed| {
            u64::try_from(elapsed.as_millis()).unwrap_or(u64::MAX)
        })
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn gateway() -> ServiceAddress {
        ServiceAddress::new("Gateway", "1", "httpPost").with_instance_id("a".repeat(32))
    }

    fn user_service() -> ServiceAddress {
        ServiceAddress::new("UserService", "1", "createUser")
    }

    #[test]
    fn every_known_field_is_listed_and_written_in_order() {
        let mut command = Envelope::command(gateway(), user_service(), json!({}), json!({}));
        command.trace_id = Some("trace".to_owned());
        command.principal_id = Some("principal".to_owned());
        command.tenant_id = Some("tenant".to_owned());
        command.event_name = Some("event".to_owned());
        command.is_handled_error = Some(false);
        command.otp = Some("{}".to_owned());
        let written = serde_json::to_value(&command).expect("an envelope serializes");
        let keys: Vec<&str> = written
            .as_object()
            .expect("an envelope is an object")
            .keys()
            .map(String::as_str)
            .collect();
        assert_eq!(keys, json::FIELDS);
    }

    #[test]
    fn responses_answer_the_sender_and_hand_on_ids() {
        let mut command = Envelope::command(gateway(), user_service(), json!({}), json!({}));
        command.trace_id = Some("trace-abc".to_owned());
        command.tenant_id = Some("tenant-7".to_owned());
        let responder = user_service().with_instance_id("b".repeat(32));

        let success = command.success_response(responder.clone(), None);
        assert_eq!(success.validate(), Ok(()));
        assert_eq!(success.receiver.as_ref(), Some(&command.sender));
        assert_eq!(success.correlation_id, command.correlation_id);
        assert_eq!(success.tenant_id, command.tenant_id);
        assert_ne!(success.id, command.id);

        let error = command.error_response(responder, true, ErrorPayload::new(409, "taken"));
        assert_eq!(error.validate(), Ok(()));
        let payload = error.error_payload().expect("a valid error payload");
        assert_eq!(payload.trace_id.as_deref(), Some("trace-abc"));
        assert_eq!(payload.status, 409);
    }

    #[test]
    fn an_extra_field_may_not_shadow_a_known_one() {
        let mut event = Envelope::custom_message(gateway(), "broadcastSent", None);
        event.extra.insert("id".to_owned(), json!("other"));
        assert!(matches!(
            event.validate(),
            Err(EnvelopeError::InvalidField { field: "extra", .. })
        ));
    }
}
