//! The JSON codec: PURISTA's envelope as compact JSON.

use crate::envelope::{Envelope, WireEnvelope};

use super::{Codec, CodecError};

pub(super) fn encode(envelope: &Envelope) -> Result<Vec<u8>, CodecError> {
    // Room for a typical envelope at once, rather than growing from a few bytes.
    let mut bytes = Vec::with_capacity(ENCODED_CAPACITY);
    serde_json::to_writer(&mut bytes, envelope).map_err(|error| CodecError::Unencodable {
        codec: Codec::Json,
        reason: error.to_string(),
    })?;
    Ok(bytes)
}

/// The room an encoding starts with: a command with its ids, both addresses and a small
/// payload takes about 600 bytes. Kept at 1000: glibc's malloc serves requests up to 1000
/// bytes from its small bins, while every larger one first sweeps the freed small blocks
/// together, which showed in profiles of remote invokes as a few per cent of their time.
const ENCODED_CAPACITY: usize = 1000;

/// Reads a validated envelope straight from the JSON text (serde_json stops at 128 levels of
/// nesting); it fails exactly as parsing a JSON object and reading the envelope from it would.
pub(super) fn decode(bytes: &[u8]) -> Result<Envelope, CodecError> {
    let wire: WireEnvelope =
        serde_json::from_slice(bytes).map_err(|error| CodecError::Malformed {
            codec: Codec::Json,
            reason: error.to_string(),
        })?;
    Ok(wire.into_envelope()?)
}
