//! The bincode codec: the envelope in bincode 2's standard configuration (varint integers,
//! length-prefixed strings, `Option` as a 0/1 byte and the value).
//!
//! Layout, format version 1:
//!
//! ```text
//! frame    = version:u8 (1)  messageType:u8 (MessageType code)
//!            id:str  timestamp:u64  contentType:str  contentEncoding:str
//!            correlationId:option<str>  traceId:option<str>  principalId:option<str>
//!            tenantId:option<str>  eventName:option<str>  isHandledError:option<bool>
//!            sender:address  receiver:option<address>  payload:option<value>  otp:option<str>
//!            extra:entries
//! address  = serviceName:str  serviceVersion:str  serviceTarget:str  instanceId:option<str>
//! value    = 0 (null) | 1 bool | 2 u64 | 3 i64 | 4 f64 | 5 str | 6 len:usize value* | 7 entries
//! entries  = len:usize (key:str value)*
//! ```
//!
//! A value keeps its JSON number kind and key order, so a JSON envelope survives the trip
//! unchanged. Decoding never allocates more than the input holds: strings are borrowed from
//! the input before they are copied, and containers grow as their items arrive. Nesting stops
//! at [`MAX_DEPTH`], counted as serde_json counts it, so both codecs accept the same envelopes.

use bincode::config::{self, Configuration};
use bincode::de::{BorrowDecode, BorrowDecoder, Decode};
use bincode::enc::{Encode, Encoder};
use bincode::error::{DecodeError, EncodeError};
use serde_json::{Map, Number, Value};

use crate::envelope::{Envelope, MessageType, ServiceAddress};

use super::{Codec, CodecError};

/// The format version this build writes and reads: the first byte of every message.
const VERSION: u8 = 1;

/// The deepest nesting of arrays and objects, the envelope itself being the first level:
/// serde_json's recursion limit.
const MAX_DEPTH: usize = 128;

const CONFIG: Configuration = config::standard();

const NULL: u8 = 0;
const BOOL: u8 = 1;
const U64: u8 = 2;
const I64: u8 = 3;
const F64: u8 = 4;
const STRING: u8 = 5;
const ARRAY: u8 = 6;
const OBJECT: u8 = 7;

pub(super) fn encode(envelope: &Envelope) -> Result<Vec<u8>, CodecError> {
    // Room for a typical envelope at once, rather than growing from a few bytes.
    let mut bytes = Vec::with_capacity(512);
    bytes.push(VERSION);
    bincode::encode_into_std_write(Frame(envelope), &mut bytes, CONFIG).map_err(|error| {
        CodecError::Unencodable {
            codec: Codec::Bincode,
            reason: error.to_string(),
        }
    })?;
    Ok(bytes)
}

/// Checks the version byte, reads the frame, and validates the envelope.
pub(super) fn decode(bytes: &[u8]) -> Result<Envelope, CodecError> {
    let Some((&version, body)) = bytes.split_first() else {
        return Err(malformed("empty input".to_owned()));
    };
    if version != VERSION {
        return Err(CodecError::UnsupportedVersion { version });
    }
    let (Decoded(envelope), read) =
        bincode::borrow_decode_from_slice(body, CONFIG).map_err(describe)?;
    if read < body.len() {
        return Err(malformed(format!("{} trailing bytes", body.len() - read)));
    }
    envelope.validate()?;
    Ok(envelope)
}

fn malformed(reason: String) -> CodecError {
    CodecError::Malformed {
        codec: Codec::Bincode,
        reason,
    }
}

fn describe(error: DecodeError) -> CodecError {
    malformed(match error {
        DecodeError::Other(reason) => reason.to_owned(),
        DecodeError::OtherString(reason) => reason,
        DecodeError::UnexpectedEnd { .. } => "unexpected end of input".to_owned(),
        other => other.to_string(),
    })
}

/// An envelope to write.
struct Frame<'a>(&'a Envelope);

impl Encode for Frame<'_> {
    fn encode<E: Encoder>(&self, encoder: &mut E) -> Result<(), EncodeError> {
        let envelope = self.0;
        (envelope.message_type as u8).encode(encoder)?;
        envelope.id.encode(encoder)?;
        envelope.timestamp.encode(encoder)?;
        envelope.content_type.encode(encoder)?;
        envelope.content_encoding.encode(encoder)?;
        envelope.correlation_id.encode(encoder)?;
        envelope.trace_id.encode(encoder)?;
        envelope.principal_id.encode(encoder)?;
        envelope.tenant_id.encode(encoder)?;
        envelope.event_name.encode(encoder)?;
        envelope.is_handled_error.encode(encoder)?;
        Address(&envelope.sender).encode(encoder)?;
        envelope.receiver.as_ref().map(Address).encode(encoder)?;
        envelope.payload.as_ref().map(Json).encode(encoder)?;
        envelope.otp.encode(encoder)?;
        Entries(&envelope.extra).encode(encoder)
    }
}

struct Address<'a>(&'a ServiceAddress);

impl Encode for Address<'_> {
    fn encode<E: Encoder>(&self, encoder: &mut E) -> Result<(), EncodeError> {
        self.0.service_name.encode(encoder)?;
        self.0.service_version.encode(encoder)?;
        self.0.service_target.encode(encoder)?;
        self.0.instance_id.encode(encoder)
    }
}

struct Json<'a>(&'a Value);

impl Encode for Json<'_> {
    fn encode<E: Encoder>(&self, encoder: &mut E) -> Result<(), EncodeError> {
        match self.0 {
            Value::Null => NULL.encode(encoder),
            Value::Bool(value) => (BOOL, value).encode(encoder),
            Value::Number(number) => {
                if let Some(value) = number.as_u64() {
                    (U64, value).encode(encoder)
                } else if let Some(value) = number.as_i64() {
                    (I64, value).encode(encoder)
                } else if let Some(value) = number.as_f64() {
                    (F64, value).encode(encoder)
                } else {
                    Err(EncodeError::Other("number out of range"))
                }
            }
            Value::String(value) => (STRING, value).encode(encoder),
            Value::Array(items) => {
                (ARRAY, items.len()).encode(encoder)?;
                items.iter().try_for_each(|item| Json(item).encode(encoder))
            }
            Value::Object(entries) => (OBJECT, Entries(entries)).encode(encoder),
        }
    }
}

struct Entries<'a>(&'a Map<String, Value>);

impl Encode for Entries<'_> {
    fn encode<E: Encoder>(&self, encoder: &mut E) -> Result<(), EncodeError> {
        self.0.len().encode(encoder)?;
        self.0
            .iter()
            .try_for_each(|(key, value)| (key, Json(value)).encode(encoder))
    }
}

/// An envelope read back; [`Envelope::validate`] has not run yet.
struct Decoded(Envelope);

impl<'de, C> BorrowDecode<'de, C> for Decoded {
    fn borrow_decode<D: BorrowDecoder<'de, Context = C>>(
        decoder: &mut D,
    ) -> Result<Self, DecodeError> {
        let code = u8::decode(decoder)?;
        let message_type = MessageType::ALL
            .into_iter()
            .find(|message_type| *message_type as u8 == code)
            .ok_or_else(|| DecodeError::OtherString(format!("unknown message type code {code}")))?;
        Ok(Self(Envelope {
            message_type,
            id: string(decoder)?,
            timestamp: u64::decode(decoder)?,
            content_type: string(decoder)?,
            content_encoding: string(decoder)?,
            correlation_id: optional_string(decoder)?,
            trace_id: optional_string(decoder)?,
            principal_id: optional_string(decoder)?,
            tenant_id: optional_string(decoder)?,
            event_name: optional_string(decoder)?,
            is_handled_error: Option::<bool>::decode(decoder)?,
            sender: address(decoder)?,
            receiver: optional(decoder, address)?,
            payload: optional(decoder, |decoder| value(decoder, 1))?,
            otp: optional_string(decoder)?,
            extra: entries(decoder, 1)?,
        }))
    }
}

fn string<'de, D: BorrowDecoder<'de>>(decoder: &mut D) -> Result<String, DecodeError> {
    <&str>::borrow_decode(decoder).map(str::to_owned)
}

fn optional_string<'de, D: BorrowDecoder<'de>>(
    decoder: &mut D,
) -> Result<Option<String>, DecodeError> {
    Option::<&str>::borrow_decode(decoder).map(|value| value.map(str::to_owned))
}

/// `Option` in bincode's layout, for the types read by a function rather than a trait.
fn optional<'de, D: BorrowDecoder<'de>, T>(
    decoder: &mut D,
    read: impl FnOnce(&mut D) -> Result<T, DecodeError>,
) -> Result<Option<T>, DecodeError> {
    match u8::decode(decoder)? {
        0 => Ok(None),
        1 => read(decoder).map(Some),
        tag => Err(DecodeError::OtherString(format!(
            "invalid option tag {tag}"
        ))),
    }
}

fn address<'de, D: BorrowDecoder<'de>>(decoder: &mut D) -> Result<ServiceAddress, DecodeError> {
    Ok(ServiceAddress {
        service_name: string(decoder)?,
        service_version: string(decoder)?,
        service_target: string(decoder)?,
        instance_id: optional_string(decoder)?,
    })
}

/// A value inside `depth` levels of nesting.
fn value<'de, D: BorrowDecoder<'de>>(decoder: &mut D, depth: usize) -> Result<Value, DecodeError> {
    Ok(match u8::decode(decoder)? {
        NULL => Value::Null,
        BOOL => Value::Bool(bool::decode(decoder)?),
        U64 => u64::decode(decoder)?.into(),
        I64 => i64::decode(decoder)?.into(),
        F64 => Number::from_f64(f64::decode(decoder)?)
            .map(Value::Number)
            .ok_or(DecodeError::Other("number is not finite"))?,
        STRING => Value::String(string(decoder)?),
        ARRAY => {
            let depth = deeper(depth)?;
            let len = usize::decode(decoder)?;
            let mut items = Vec::new();
            for _ in 0..len {
                items.push(value(decoder, depth)?);
            }
            Value::Array(items)
        }
        OBJECT => Value::Object(entries(decoder, deeper(depth)?)?),
        tag => return Err(DecodeError::OtherString(format!("invalid value tag {tag}"))),
    })
}

/// The entries of an object at nesting level `depth`.
fn entries<'de, D: BorrowDecoder<'de>>(
    decoder: &mut D,
    depth: usize,
) -> Result<Map<String, Value>, DecodeError> {
    let len = usize::decode(decoder)?;
    let mut entries = Map::new();
    for _ in 0..len {
        let key = string(decoder)?;
        entries.insert(key, value(decoder, depth)?);
    }
    Ok(entries)
}

fn deeper(depth: usize) -> Result<usize, DecodeError> {
    let depth = depth + 1;
    if depth < MAX_DEPTH {
        Ok(depth)
    } else {
        Err(DecodeError::Other(
            "nesting reaches the limit of 128 levels",
        ))
    }
}
