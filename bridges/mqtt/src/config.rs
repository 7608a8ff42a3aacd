//! Bridge options: where the broker is and how to talk to it.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use tributary::codec::Codec;

/// How a node's MQTT bridge connects and behaves. Every field has a default suited to
/// mosquitto on the same host; [`MqttConfig::new`] sets the broker's address.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MqttConfig {
    /// The broker's host name or address.
    pub host: String,
    /// The broker's port.
    pub port: u16,
    /// The first topic level (PURISTA's default: `purista`).
    pub prefix: String,
    /// How this node encodes what it sends: `json` (PURISTA-compatible) or `bincode`.
    /// Receivers accept both, told apart by the content type.
    #[serde(with = "codec_name")]
    pub codec: Codec,
    /// How long the broker keeps the node's durable session (event subscriptions,
    /// responses) while the node is away, in seconds.
    pub session_expiry_secs: u32,
    /// MQTT keep-alive, in seconds.
    pub keep_alive_secs: u64,
    /// The largest packet this node sends or accepts, in bytes (at least 1 MiB by default;
    /// rumqttc's own default of 10 KiB is too small for real payloads).
    pub max_packet_size: u32,
    /// The first wait before reconnecting, in milliseconds; it doubles per failed attempt.
    pub backoff_min_ms: u64,
    /// The longest wait between reconnect attempts, in milliseconds.
    pub backoff_max_ms: u64,
    /// How many events wait in memory while the broker is unreachable; beyond that the oldest
    /// are dropped, counted and logged.
    pub event_queue: usize,
    /// How long the broker keeps an event for an absent durable subscriber, in seconds
    /// (PURISTA's default: 30 days).
    pub event_expiry_secs: u32,
    /// How long a graceful shutdown waits for messages still queued for this node, in
    /// milliseconds.
    pub drain_ms: u64,
    /// User name and password, if the broker wants them.
    pub credentials: Option<Credentials>,
}

/// A user name and password for the broker.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Credentials {
    /// The user name.
    pub username: String,
    /// The password.
    pub password: String,
}

impl Default for MqttConfig {
    fn default() -> Self {
        MqttConfig {
            host: "127.0.0.1".into(),
            port: 1883,
            prefix: "purista".into(),
            codec: Codec::Json,
            session_expiry_secs: 24 * 3600,
            keep_alive_secs: 30,
            max_packet_size: 1024 * 1024,
            backoff_min_ms: 100,
            backoff_max_ms: 10_000,
            event_queue: 10_000,
            event_expiry_secs: 30 * 24 * 3600,
            drain_ms: 2_000,
            credentials: None,
        }
    }
}

impl MqttConfig {
    /// The defaults, with the broker at `host:port`.
    pub fn new(host: impl Into<String>, port: u16) -> Self {
        MqttConfig {
            host: host.into(),
            port,
            ..MqttConfig::default()
        }
    }

    /// The same configuration with another codec.
    pub fn codec(mut self, codec: Codec) -> Self {
        self.codec = codec;
        self
    }

    pub(crate) fn backoff_min(&self) -> Duration {
        Duration::from_millis(self.backoff_min_ms.max(1))
    }

    pub(crate) fn backoff_max(&self) -> Duration {
        Duration::from_millis(self.backoff_max_ms.max(self.backoff_min_ms.max(1)))
    }
}

/// `json` / `bincode` in configuration files.
mod codec_name {
    use serde::{Deserialize, Deserializer, Serializer};
    use tributary::codec::Codec;

    pub(super) fn serialize<S: Serializer>(codec: &Codec, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&codec.to_string())
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Codec, D::Error> {
        match String::deserialize(d)?.as_str() {
            "json" => Ok(Codec::Json),
            "bincode" => Ok(Codec::Bincode),
            other => Err(serde::de::Error::custom(format!(
                "unknown codec {other:?}: use json or bincode"
            ))),
        }
    }
}
