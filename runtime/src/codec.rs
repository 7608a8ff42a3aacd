//! Codecs: an [`Envelope`] to bytes and back.
//!
//! [`Codec::Json`] is PURISTA's wire format and the default; [`Codec::Bincode`] is a compact
//! form for Rust-only fleets and metered links. A receiver tells them apart by content type
//! ([`Codec::from_content_type`]) and accepts both. Both check the size against [`Limits`]
//! (input before parsing, output before it is handed to a transport), run
//! [`Envelope::validate`], and never panic on any input.

mod binary;
mod error;
mod json;

use std::fmt;

use crate::envelope::Envelope;

pub use error::{CodecError, CodecErrorKind};

/// A wire format for envelopes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Codec {
    /// PURISTA's JSON envelope, compact, as JavaScript's `JSON.stringify` writes it.
    #[default]
    Json,
    /// bincode 2 (standard configuration) behind a format-version byte; payloads keep their
    /// JSON value tree, number kinds and key order.
    Bincode,
}

impl Codec {
    /// The content type (MQTT v5 content-type property) that marks this codec's messages:
    /// `application/json`, exactly as PURISTA sends it, or `application/x-tributary-bincode`.
    pub const fn content_type(self) -> &'static str {
        match self {
            Self::Json => "application/json",
            Self::Bincode => "application/x-tributary-bincode",
        }
    }

    /// The codec for a content type; parameters (`; charset=utf-8`) and ASCII case are
    /// ignored. `None` for a content type no codec reads.
    pub fn from_content_type(content_type: &str) -> Option<Self> {
        let media_type = content_type.split(';').next().unwrap_or_default().trim();
        [Self::Json, Self::Bincode]
            .into_iter()
            .find(|codec| codec.content_type().eq_ignore_ascii_case(media_type))
    }

    /// Validates `envelope` and writes it; fails if the result is larger than
    /// `limits.max_size`.
    pub fn encode(self, envelope: &Envelope, limits: &Limits) -> Result<Vec<u8>, CodecError> {
        envelope.validate()?;
        let bytes = match self {
            Self::Json => json::encode(envelope)?,
            Self::Bincode => binary::encode(envelope)?,
        };
        limits.check(bytes.len())?;
        Ok(bytes)
    }

    /// Reads and validates an envelope; input larger than `limits.max_size` is rejected
    /// before it is parsed.
    pub fn decode(self, bytes: &[u8], limits: &Limits) -> Result<Envelope, CodecError> {
        limits.check(bytes.len())?;
        match self {
            Self::Json => json::decode(bytes),
            Self::Bincode => binary::decode(bytes),
        }
    }
}

impl fmt::Display for Codec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Json => "json",
            Self::Bincode => "bincode",
        })
    }
}

/// Bounds that a codec enforces on every message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// The largest encoded message, in bytes. Keep it at or below the transport's maximum
    /// packet size, so a message that could not be delivered is refused before it is sent.
    pub max_size: usize,
}

impl Default for Limits {
    /// 1 MiB.
    fn default() -> Self {
        Self {
            max_size: 1_048_576,
        }
    }
}

impl Limits {
    fn check(&self, size: usize) -> Result<(), CodecError> {
        if size > self.max_size {
            Err(CodecError::Oversize {
                size,
                limit: self.max_size,
            })
        } else {
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_types_name_their_codec() {
        for codec in [Codec::Json, Codec::Bincode] {
            assert_eq!(Codec::from_content_type(codec.content_type()), Some(codec));
        }
        assert_eq!(
            Codec::from_content_type("Application/JSON; charset=utf-8"),
            Some(Codec::Json)
        );
        assert_eq!(Codec::from_content_type("text/plain"), None);
        assert_eq!(Codec::from_content_type(""), None);
    }
}
