//! The MQTT v5 bridge of Tributary, wire-compatible with PURISTA's MQTT bridge.
//!
//! [`topic`] maps envelopes to PURISTA's 13-level topics and builds the subscription
//! filters; [`properties`] maps envelopes to MQTT v5 publish properties and back. `config`
//! holds the bridge's options and `node_config` a node's deployment read from a file and the
//! environment. `connection` makes the two MQTT sessions and polls them with backoff; `bridge`
//! is the actor that owns them, sends what the node gives it and routes what arrives;
//! `health` is what it knows of itself; `dedup` drops QoS 1 redeliveries.

mod bridge;
mod config;
mod connection;
mod dedup;
mod error;
mod health;
mod node_config;
pub mod properties;
pub mod topic;

pub use bridge::{BridgeHandle, MqttBridge};
pub use config::{Credentials, MqttConfig};
pub use error::MqttError;
pub use health::Health;
pub use node_config::NodeConfig;
