#![doc = include_str!("../README.md")]
//!
//! # Layout
//!
//! [`topic`] and [`properties`] are the wire mapping. `config` holds the bridge's options and
//! `node_config` a node's deployment read from a file and the environment. `connection` makes
//! the two MQTT sessions and polls them with backoff; `bridge` is what the node calls (send a
//! command, publish an event, leave, close) and `actor` owns the sessions and routes what
//! arrives; `health` is what the bridge knows of itself; `dedup` drops QoS 1 redeliveries.
#![forbid(unsafe_code)]

mod actor;
mod bridge;
mod config;
mod connection;
mod dedup;
mod error;
mod health;
mod node_config;
mod pacer;
pub mod properties;
pub mod topic;

pub use bridge::{BridgeHandle, MqttBridge};
pub use config::{Credentials, MqttConfig};
pub use error::MqttError;
pub use health::Health;
pub use node_config::NodeConfig;
