//! MQTT v5 publish properties: what PURISTA's MQTT bridge puts beside the payload, and how a
//! receiver reads the correlation id back.
//!
//! [`publish_properties`] sets exactly what PURISTA sets, in its order: the content type,
//! the correlation data (commands and responses), the message expiry and the user
//! properties. It never sets a response topic, payload format indicator or topic alias;
//! PURISTA does not either. Unlike PURISTA, the expiry is the caller's choice ([`Expiry`]),
//! so its unit errors on responses are not repeated.

use std::num::NonZeroU32;
use std::time::Duration;

use bytes::Bytes;
use rumqttc::v5::mqttbytes::v5::PublishProperties;
use serde_json::{Map, Value};
use tributary::envelope::{Envelope, MessageType};

/// How long the broker keeps a message for a subscriber that is offline: the MQTT v5 message
/// expiry interval, in whole seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Expiry(Option<NonZeroU32>);

impl Expiry {
    /// No expiry: the broker keeps the message as long as the session.
    pub const NEVER: Self = Self(None);

    /// 30 days (2,592,000 s), PURISTA's `defaultMessageExpiryInterval`, which it gives events
    /// and info messages.
    pub const THIRTY_DAYS: Self = Self(NonZeroU32::new(2_592_000));

    /// `secs` seconds; 0 is taken as 1, the shortest expiry MQTT can say (0 would read as
    /// "expire now" to some brokers and "never" to others).
    pub fn from_secs(secs: u32) -> Self {
        Self(Some(NonZeroU32::new(secs).unwrap_or(NonZeroU32::MIN)))
    }

    /// A command's expiry: its timeout rounded up to whole seconds, at least 1 (PURISTA
    /// rounds to nearest, so a timeout under 500 ms expires at once there).
    pub fn from_timeout(timeout: Duration) -> Self {
        let secs = timeout
            .as_secs()
            .saturating_add(u64::from(timeout.subsec_nanos() > 0));
        Self::from_secs(u32::try_from(secs).unwrap_or(u32::MAX))
    }

    /// The interval in seconds; `None` for [`Expiry::NEVER`].
    pub fn as_secs(self) -> Option<u32> {
        self.0.map(NonZeroU32::get)
    }
}

impl Default for Expiry {
    /// [`Expiry::THIRTY_DAYS`].
    fn default() -> Self {
        Self::THIRTY_DAYS
    }
}

/// The publish properties of `envelope`, as PURISTA's MQTT bridge sets them.
///
/// - `content_type`: the codec's, `application/json` for PURISTA's JSON;
/// - correlation data: the ASCII bytes of `correlationId`, on commands and responses only;
/// - message expiry: `expiry`;
/// - user properties, values raw (not snake_cased), in this order:
///   1. `messageType`;
///   2. `senderServiceName`, `senderServiceVersion`, `senderServiceTarget` (even `""`);
///   3. `senderInstanceId`;
///   4. on commands and responses: `receiverServiceName`, `receiverServiceVersion`,
///      `receiverServiceTarget`;
///   5. on responses: `receiverInstanceId`;
///   6. `traceparent` ([`traceparent`]);
///   7. each only when set: `eventName`; on a command that targets an instance,
///      `receiverInstanceId`; `principalId`; `tenantId`.
///
/// An instance id that is absent (an envelope that does not [validate](Envelope::validate))
/// leaves its property out.
pub fn publish_properties(
    envelope: &Envelope,
    content_type: &str,
    expiry: Expiry,
) -> PublishProperties {
    PublishProperties {
        user_properties: user_properties(envelope),
        ..publish_properties_without_headers(envelope, content_type, expiry)
    }
}

/// The publish properties of `envelope` without the user properties: content type,
/// correlation data and message expiry as [`publish_properties`] sets them.
///
/// The bridge sends bincode messages with these: the user properties are PURISTA's headers,
/// every receiver of ours reads the same facts from the envelope, and no PURISTA peer can
/// decode a bincode envelope, so they would only cost bytes and work on every hop.
pub fn publish_properties_without_headers(
    envelope: &Envelope,
    content_type: &str,
    expiry: Expiry,
) -> PublishProperties {
    PublishProperties {
        content_type: Some(content_type.to_owned()),
        correlation_data: envelope
            .correlation_id
            .as_ref()
            .filter(|_| is_command_or_response(envelope.message_type))
            .map(|id| Bytes::copy_from_slice(id.as_bytes())),
        message_expiry_interval: expiry.as_secs(),
        ..PublishProperties::default()
    }
}

fn is_command_or_response(message_type: MessageType) -> bool {
    matches!(
        message_type,
        MessageType::Command
            | MessageType::CommandSuccessResponse
            | MessageType::CommandErrorResponse
    )
}

/// PURISTA's headers, in its order (see [`publish_properties`]).
fn user_properties(envelope: &Envelope) -> Vec<(String, String)> {
    let is_command = envelope.message_type == MessageType::Command;
    let is_response = matches!(
        envelope.message_type,
        MessageType::CommandSuccessResponse | MessageType::CommandErrorResponse
    );
    let sender = &envelope.sender;
    let receiver = envelope
        .receiver
        .as_ref()
        .filter(|_| is_command || is_response);

    // At most 14 headers: room for all of them at once.
    let mut user = UserProperties(Vec::with_capacity(14));
    user.push("messageType", envelope.message_type.as_str());
    user.push("senderServiceName", &sender.service_name);
    user.push("senderServiceVersion", &sender.service_version);
    user.push("senderServiceTarget", &sender.service_target);
    user.push_some("senderInstanceId", sender.instance_id.as_deref());
    if let Some(receiver) = receiver {
        user.push("receiverServiceName", &receiver.service_name);
        user.push("receiverServiceVersion", &receiver.service_version);
        user.push("receiverServiceTarget", &receiver.service_target);
    }
    let receiver_instance = receiver.and_then(|receiver| receiver.instance_id.as_deref());
    if is_response {
        user.push_some("receiverInstanceId", receiver_instance);
    }
    user.0
        .push(("traceparent".to_owned(), traceparent(envelope)));
    user.push_some("eventName", envelope.event_name.as_deref());
    if is_command {
        user.push_some("receiverInstanceId", receiver_instance);
    }
    user.push_some("principalId", envelope.principal_id.as_deref());
    user.push_some("tenantId", envelope.tenant_id.as_deref());
    user.0
}

struct UserProperties(Vec<(String, String)>);

impl UserProperties {
    fn push(&mut self, key: &str, value: &str) {
        self.0.push((key.to_owned(), value.to_owned()));
    }

    fn push_some(&mut self, key: &str, value: Option<&str>) {
        if let Some(value) = value {
            self.push(key, value);
        }
    }
}

/// The correlation id of a received message: the correlation data if it is present,
/// non-empty and UTF-8, else the envelope's `correlationId`.
pub fn correlation_id(properties: &PublishProperties, envelope: &Envelope) -> Option<String> {
    received_correlation_id(Some(properties), envelope).map(str::to_owned)
}

/// [`correlation_id`], borrowed from the message, for a message with or without properties.
pub(crate) fn received_correlation_id<'a>(
    properties: Option<&'a PublishProperties>,
    envelope: &'a Envelope,
) -> Option<&'a str> {
    properties
        .and_then(|properties| properties.correlation_data.as_ref())
        .filter(|data| !data.is_empty())
        .and_then(|data| std::str::from_utf8(data).ok())
        .or(envelope.correlation_id.as_deref())
}

/// The W3C `traceparent` user property of `envelope`: `00-<trace id>-<span id>-<flags>`.
///
/// - The envelope's `otp` holds a valid `traceparent`: that one, as it is. It is the
///   sender's context, which PURISTA also sends in the user property of commands, events
///   and info messages (for responses PURISTA sends a span of its own bridge instead; the
///   trace id is the same).
/// - Else a trace id of 32 hex digits (not all zero): it, lower-cased, with a fresh span id,
///   flags `01`.
/// - Else a fresh trace id and span id, flags `01`.
pub fn traceparent(envelope: &Envelope) -> String {
    if let Some(traceparent) = envelope.otp.as_deref().and_then(otp_traceparent) {
        return traceparent;
    }
    // `00-` 32 hex `-` 16 hex `-01`, written into one string.
    let mut out = String::with_capacity(55);
    out.push_str("00-");
    match envelope
        .trace_id
        .as_deref()
        .filter(|id| is_any_case_hex_id(id, 32))
    {
        Some(trace_id) => out.extend(trace_id.bytes().map(|b| char::from(b.to_ascii_lowercase()))),
        None => push_random_hex(&mut out, 32),
    }
    out.push('-');
    push_random_hex(&mut out, 16);
    out.push_str("-01");
    out
}

/// Whether `value`, lower-cased, is an id of `len` hex digits that are not all zero.
fn is_any_case_hex_id(value: &str, len: usize) -> bool {
    value.len() == len
        && value.bytes().all(|b| b.is_ascii_hexdigit())
        && value.bytes().any(|b| b != b'0')
}

/// Appends `len` (32 or 16) random lowercase hex digits, not all zero.
fn push_random_hex(out: &mut String, len: usize) {
    use std::fmt::Write;
    let written = if len >= 32 {
        let n = loop {
            let n = fastrand::u128(..);
            if n != 0 {
                break n;
            }
        };
        write!(out, "{n:032x}")
    } else {
        let n = loop {
            let n = fastrand::u64(..);
            if n != 0 {
                break n;
            }
        };
        write!(out, "{n:016x}")
    };
    // Writing to a `String` cannot fail.
    debug_assert!(written.is_ok());
}

/// The `traceparent` of an `otp` string (`{"traceparent":"00-…"}`), if it is valid.
fn otp_traceparent(otp: &str) -> Option<String> {
    let context: Map<String, Value> = serde_json::from_str(otp).ok()?;
    let traceparent = context.get("traceparent")?.as_str()?;
    is_traceparent(traceparent).then(|| traceparent.to_owned())
}

/// A version-00 W3C traceparent: `00-` 32 hex `-` 16 hex `-` 2 hex, lowercase, ids not all
/// zero.
fn is_traceparent(value: &str) -> bool {
    let parts: Vec<&str> = value.split('-').collect();
    matches!(
        parts.as_slice(),
        ["00", trace, span, flags]
            if is_hex_id(trace, 32) && is_hex_id(span, 16) && is_lower_hex(flags, 2)
    )
}

fn is_hex_id(value: &str, len: usize) -> bool {
    is_lower_hex(value, len) && value.bytes().any(|b| b != b'0')
}

fn is_lower_hex(value: &str, len: usize) -> bool {
    value.len() == len
        && value
            .bytes()
            .all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

#[cfg(test)]
mod tests {
    use serde_json::json;
    use tributary::envelope::{ErrorPayload, ServiceAddress};

    use super::*;

    fn keys(properties: &PublishProperties) -> Vec<&str> {
        properties
            .user_properties
            .iter()
            .map(|(key, _)| key.as_str())
            .collect()
    }

    fn command() -> Envelope {
        Envelope::command(
            ServiceAddress::new("Gateway", "1", "httpPost").with_instance_id("a".repeat(32)),
            ServiceAddress::new("UserService", "1", "createUser"),
            json!({}),
            json!({}),
        )
    }

    #[test]
    fn expiry() {
        assert_eq!(Expiry::default().as_secs(), Some(2_592_000));
        assert_eq!(Expiry::NEVER.as_secs(), None);
        assert_eq!(Expiry::from_secs(0).as_secs(), Some(1));
        for (millis, secs) in [(0, 1), (1, 1), (999, 1), (1000, 1), (1001, 2), (30_000, 30)] {
            assert_eq!(
                Expiry::from_timeout(Duration::from_millis(millis)).as_secs(),
                Some(secs),
                "{millis} ms"
            );
        }
        assert_eq!(
            Expiry::from_timeout(Duration::MAX).as_secs(),
            Some(u32::MAX)
        );
    }

    #[test]
    fn a_targeted_command_names_its_instance_after_the_event_name() {
        let mut command = command();
        command.event_name = Some("userCreated".to_owned());
        command.tenant_id = Some("t".to_owned());
        if let Some(receiver) = command.receiver.as_mut() {
            receiver.instance_id = Some("c".repeat(32));
        }
        let properties = publish_properties(&command, "application/json", Expiry::from_secs(5));
        assert_eq!(
            keys(&properties),
            [
                "messageType",
                "senderServiceName",
                "senderServiceVersion",
                "senderServiceTarget",
                "senderInstanceId",
                "receiverServiceName",
                "receiverServiceVersion",
                "receiverServiceTarget",
                "traceparent",
                "eventName",
                "receiverInstanceId",
                "tenantId",
            ]
        );
        assert_eq!(properties.message_expiry_interval, Some(5));
        assert_eq!(properties.response_topic, None);
        assert_eq!(properties.payload_format_indicator, None);
        assert_eq!(properties.topic_alias, None);
    }

    #[test]
    fn events_carry_no_correlation_data_and_no_receiver() {
        let sender =
            ServiceAddress::new("UserService", "1", "notifyAll").with_instance_id("b".repeat(32));
        let mut event = Envelope::custom_message(sender, "broadcastSent", None);
        event.correlation_id = Some("c".repeat(32));
        event.receiver = Some(ServiceAddress::new("Other", "1", "x"));
        let properties =
            publish_properties(&event, "application/x-tributary-bincode", Expiry::NEVER);
        assert_eq!(properties.correlation_data, None);
        assert_eq!(properties.message_expiry_interval, None);
        assert_eq!(
            properties.content_type.as_deref(),
            Some("application/x-tributary-bincode")
        );
        assert_eq!(
            keys(&properties),
            [
                "messageType",
                "senderServiceName",
                "senderServiceVersion",
                "senderServiceTarget",
                "senderInstanceId",
                "traceparent",
                "eventName",
            ]
        );
    }

    #[test]
    fn correlation_data_falls_back_to_the_envelope() {
        let command = command();
        let mut properties = publish_properties(&command, "application/json", Expiry::NEVER);
        assert_eq!(
            correlation_id(&properties, &command),
            command.correlation_id
        );
        properties.correlation_data = Some(Bytes::from_static(b"other"));
        assert_eq!(
            correlation_id(&properties, &command).as_deref(),
            Some("other")
        );
        for unusable in [Bytes::new(), Bytes::from_static(&[0xff, 0xfe])] {
            properties.correlation_data = Some(unusable);
            assert_eq!(
                correlation_id(&properties, &command),
                command.correlation_id
            );
        }
        properties.correlation_data = None;
        let mut without = command.clone();
        without.correlation_id = None;
        assert_eq!(correlation_id(&properties, &without), None);
    }

    #[test]
    fn traceparent_sources() {
        let mut envelope = command();
        let from_otp = "00-4d6290ad635fa07da5d95d1772e42f68-f50a291013fa8933-01";
        envelope.otp = Some(json!({ "traceparent": from_otp }).to_string());
        assert_eq!(traceparent(&envelope), from_otp);

        envelope.otp = Some("not json".to_owned());
        envelope.trace_id = Some("022AD81BE8EBEFF9026AAFD17F47E52B".to_owned());
        let made = traceparent(&envelope);
        assert!(is_traceparent(&made), "{made}");
        assert!(made.starts_with("00-022ad81be8ebeff9026aafd17f47e52b-"));
        assert!(made.ends_with("-01"));

        for unusable in ["trace-abc", "00000000000000000000000000000000"] {
            envelope.trace_id = Some(unusable.to_owned());
            let random = traceparent(&envelope);
            assert!(is_traceparent(&random), "{random}");
            assert_ne!(random, traceparent(&envelope));
        }
    }

    #[test]
    fn traceparent_validation() {
        let valid = "00-4d6290ad635fa07da5d95d1772e42f68-f50a291013fa8933-01";
        assert!(is_traceparent(valid));
        for invalid in [
            "01-4d6290ad635fa07da5d95d1772e42f68-f50a291013fa8933-01",
            "00-4D6290AD635FA07DA5D95D1772E42F68-f50a291013fa8933-01",
            "00-00000000000000000000000000000000-f50a291013fa8933-01",
            "00-4d6290ad635fa07da5d95d1772e42f68-0000000000000000-01",
            "00-4d6290ad635fa07da5d95d1772e42f68-f50a291013fa8933",
            "00-4d6290ad635fa07da5d95d1772e42f68-f50a291013fa8933-01-x",
            "",
        ] {
            assert!(!is_traceparent(invalid), "{invalid}");
        }
    }

    #[test]
    fn responses_carry_the_receiver_instance_before_the_traceparent() {
        let command = command();
        let responder =
            ServiceAddress::new("UserService", "1", "createUser").with_instance_id("b".repeat(32));
        let error = command.error_response(responder, false, ErrorPayload::new(500, "boom"));
        let properties = publish_properties(&error, "application/json", Expiry::from_secs(30));
        assert_eq!(
            keys(&properties)[8..],
            ["receiverInstanceId", "traceparent"]
        );
        assert_eq!(
            properties.correlation_data.as_deref(),
            command.correlation_id.as_deref().map(str::as_bytes)
        );
    }
}
