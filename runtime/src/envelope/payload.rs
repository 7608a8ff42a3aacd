//! Typed views of the payloads whose shape PURISTA fixes: commands and error responses.

use serde_json::{Map, Value};

use super::{Envelope, EnvelopeError};

/// The payload of a `command`: the body and the parameters (path and query parameters when
/// the command is exposed over HTTP).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CommandPayload<'a> {
    /// The command's input; `null` when the caller sent none (the key is then absent on the
    /// wire, as JavaScript's `JSON.stringify` drops `undefined`).
    pub payload: &'a Value,
    /// The command's parameters, always an object in PURISTA.
    pub parameter: &'a Value,
}

/// The payload of a `commandErrorResponse`: an error as it crosses the wire.
#[derive(Debug, Clone, PartialEq)]
pub struct ErrorPayload {
    /// An HTTP status code: 400 invalid input, 404/501 unknown command, 500 unhandled,
    /// 502 no handler, 503 shutting down or not connected, 504 timed out.
    pub status: u16,
    /// A short message for the caller.
    pub message: String,
    /// Details for the caller (the failed validations of a 400, say); `Some(Value::Null)` is
    /// sent as `null`, `None` not at all.
    pub data: Option<Value>,
    /// The trace id of the failed invocation.
    pub trace_id: Option<String>,
}

impl ErrorPayload {
    /// An error with a status and a message, and no data or trace id.
    pub fn new(status: u16, message: impl Into<String>) -> Self {
        Self {
            status,
            message: message.into(),
            data: None,
            trace_id: None,
        }
    }
}

impl From<ErrorPayload> for Value {
    /// `{status, message, data?, traceId?}`, in PURISTA's key order.
    fn from(error: ErrorPayload) -> Self {
        let mut object = Map::new();
        object.insert("status".to_owned(), error.status.into());
        object.insert("message".to_owned(), error.message.into());
        if let Some(data) = error.data {
            object.insert("data".to_owned(), data);
        }
        if let Some(trace_id) = error.trace_id {
            object.insert("traceId".to_owned(), trace_id.into());
        }
        Value::Object(object)
    }
}

/// What a command's `payload.payload` reads as when the key is absent.
static NO_PAYLOAD: Value = Value::Null;

impl Envelope {
    /// The payload of a `command`, borrowed from this envelope.
    ///
    /// Fails when `payload` is absent or not an object, or has no `parameter`.
    pub fn command_payload(&self) -> Result<CommandPayload<'_>, EnvelopeError> {
        let object = self.payload_object()?;
        Ok(CommandPayload {
            payload: object.get("payload").unwrap_or(&NO_PAYLOAD),
            parameter: object
                .get("parameter")
                .ok_or_else(|| self.missing("payload.parameter"))?,
        })
    }

    /// The payload of a `commandErrorResponse`.
    ///
    /// Fails when `payload` is absent or not an object, or its `status` or `message` is
    /// missing or of the wrong kind.
    pub fn error_payload(&self) -> Result<ErrorPayload, EnvelopeError> {
        let object = self.payload_object()?;
        let status = object
            .get("status")
            .ok_or_else(|| self.missing("payload.status"))?;
        let status = status
            .as_u64()
            .and_then(|status| u16::try_from(status).ok())
            .ok_or_else(|| self.invalid("payload.status", "expected a status code"))?;
        let message = object
            .get("message")
            .ok_or_else(|| self.missing("payload.message"))?
            .as_str()
            .ok_or_else(|| self.invalid("payload.message", "expected a string"))?;
        let trace_id = match object.get("traceId") {
            None | Some(Value::Null) => None,
            Some(Value::String(trace_id)) => Some(trace_id.clone()),
            Some(_) => return Err(self.invalid("payload.traceId", "expected a string")),
        };
        Ok(ErrorPayload {
            status,
            message: message.to_owned(),
            data: object.get("data").cloned(),
            trace_id,
        })
    }

    /// `payload` as an object, for the types that require one.
    fn payload_object(&self) -> Result<&Map<String, Value>, EnvelopeError> {
        match &self.payload {
            Some(Value::Object(object)) => Ok(object),
            Some(_) => Err(self.invalid("payload", "expected an object")),
            None => Err(self.missing("payload")),
        }
    }
}
