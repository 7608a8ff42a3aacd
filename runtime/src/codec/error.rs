//! Why a message could not be encoded or decoded.

use crate::envelope::EnvelopeError;

use super::Codec;

/// A message that could not be encoded or decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CodecError {
    /// The message is larger than [`Limits::max_size`](super::Limits::max_size).
    #[error("message of {size} bytes exceeds the limit of {limit} bytes")]
    Oversize {
        /// The message's size in bytes.
        size: usize,
        /// The limit in force.
        limit: usize,
    },
    /// The bytes are not a message in the codec's format: bad syntax, cut short, nested too
    /// deep, trailing bytes.
    #[error("malformed {codec} message: {reason}")]
    Malformed {
        /// The codec that read the bytes.
        codec: Codec,
        /// What is wrong, with the position where the codec reports one.
        reason: String,
    },
    /// The envelope could not be written in the codec's format.
    #[error("cannot encode as {codec}: {reason}")]
    Unencodable {
        /// The codec that was writing.
        codec: Codec,
        /// What went wrong.
        reason: String,
    },
    /// The bincode form starts with a format version this build does not read.
    #[error("unsupported bincode format version {version}")]
    UnsupportedVersion {
        /// The version byte received.
        version: u8,
    },
    /// The message is well-formed but not a valid envelope.
    #[error(transparent)]
    Envelope(#[from] EnvelopeError),
}

impl CodecError {
    /// What kind of error this is, for counting and matching without the details.
    pub fn kind(&self) -> CodecErrorKind {
        match self {
            Self::Oversize { .. } => CodecErrorKind::Oversize,
            Self::Malformed { .. } => CodecErrorKind::Malformed,
            Self::Unencodable { .. } => CodecErrorKind::Unencodable,
            Self::UnsupportedVersion { .. } => CodecErrorKind::UnsupportedVersion,
            Self::Envelope(
                EnvelopeError::MissingMessageType | EnvelopeError::MissingField { .. },
            ) => CodecErrorKind::MissingField,
            Self::Envelope(EnvelopeError::UnknownMessageType { .. }) => {
                CodecErrorKind::UnknownMessageType
            }
            Self::Envelope(EnvelopeError::InvalidField { .. }) => CodecErrorKind::InvalidField,
        }
    }
}

/// The kind of a [`CodecError`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum CodecErrorKind {
    /// See [`CodecError::Oversize`].
    Oversize,
    /// See [`CodecError::Malformed`].
    Malformed,
    /// See [`CodecError::Unencodable`].
    Unencodable,
    /// See [`CodecError::UnsupportedVersion`].
    UnsupportedVersion,
    /// See [`EnvelopeError::UnknownMessageType`].
    UnknownMessageType,
    /// See [`EnvelopeError::MissingField`] and [`EnvelopeError::MissingMessageType`].
    MissingField,
    /// See [`EnvelopeError::InvalidField`].
    InvalidField,
}
