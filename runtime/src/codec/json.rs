//! The JSON codec: PURISTA's envelope as compact JSON.

use serde_json::{Map, Value};

use crate::envelope::Envelope;

use super::{Codec, CodecError};

pub(super) fn encode(envelope: &Envelope) -> Result<Vec<u8>, CodecError> {
    serde_json::to_vec(envelope).map_err(|error| CodecError::Unencodable {
        codec: Codec::Json,
        reason: error.to_string(),
    })
}

/// Parses a JSON object (serde_json stops at 128 levels of nesting) and reads a validated
/// envelope from it.
pub(super) fn decode(bytes: &[u8]) -> Result<Envelope, CodecError> {
    let object: Map<String, Value> =
        serde_json::from_slice(bytes).map_err(|error| CodecError::Malformed {
            codec: Codec::Json,
            reason: error.to_string(),
        })?;
    Ok(Envelope::try_from(object)?)
}
