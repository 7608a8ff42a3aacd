//! The JSON codec: PURISTA's envelope as compact JSON.

use crate::envelope::{Envelope, WireEnvelope};

use super::{Codec, CodecError};

pub(super) fn encode(envelope: &Envelope) -> Result<Vec<u8>, CodecError> {
    serde_json::to_vec(envelope).map_err(|error| CodecError::Unencodable {
        codec: Codec::Json,
        reason: error.to_string(),
    })
}

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
