//! Why an envelope does not have PURISTA's shape.

use super::MessageType;

/// An envelope that does not have PURISTA's shape: a field its message type requires is
/// missing, or a field holds the wrong kind of value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum EnvelopeError {
    /// The envelope has no `messageType`.
    #[error("missing field `messageType`")]
    MissingMessageType,
    /// `messageType` names no type this runtime knows (PURISTA v3's `stream`, say).
    #[error("unknown message type `{name}`")]
    UnknownMessageType {
        /// The `messageType` as received.
        name: String,
    },
    /// A field that `message_type` requires is absent.
    #[error("missing field `{field}` in {message_type}")]
    MissingField {
        /// The type of the envelope.
        message_type: MessageType,
        /// The field's wire name; a nested one is dotted (`payload.status`).
        field: &'static str,
    },
    /// A field holds a value of the wrong kind.
    #[error("invalid field `{field}` in {message_type}: {reason}")]
    InvalidField {
        /// The type of the envelope.
        message_type: MessageType,
        /// The field's wire name; a nested one is dotted (`payload.status`).
        field: &'static str,
        /// What is wrong with it.
        reason: String,
    },
}
