//! Node configuration from a file and the environment, so that one binary serves every
//! deployment: which services this node runs, its instance id, and whether and where it
//! bridges.
//!
//! The file is TOML; every key can be overridden by an environment variable:
//!
//! | file | environment | meaning |
//! | --- | --- | --- |
//! | `instance_id` | `TRIBUTARY_INSTANCE_ID` | 32 lowercase hex; else kept in `data_dir`, else random |
//! | `data_dir` | `TRIBUTARY_DATA_DIR` | where the instance id is kept across restarts |
//! | `services` | `TRIBUTARY_SERVICES` | the services to run (comma-separated); empty: all |
//! | `timeout_ms` | `TRIBUTARY_TIMEOUT_MS` | the default invoke timeout |
//! | `[mqtt]` | `TRIBUTARY_MQTT=off` | the bridge; no section (or `off`): no bridge |
//! | `mqtt.host`, `mqtt.port` | `TRIBUTARY_MQTT_HOST`, `TRIBUTARY_MQTT_PORT` | the broker (setting either turns the bridge on) |
//! | `mqtt.prefix` | `TRIBUTARY_MQTT_PREFIX` | the first topic level |
//! | `mqtt.codec` | `TRIBUTARY_MQTT_CODEC` | `json` or `bincode` |
//!
//! ```toml
//! services = ["sensor", "aggregator"]
//! data_dir = "/var/lib/edge-node"
//!
//! [mqtt]
//! host = "127.0.0.1"
//! port = 1883
//! codec = "bincode"
//! ```

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tributary::{InstanceId, NodeBuilder};

use crate::config::MqttConfig;
use crate::{MqttBridge, MqttError};

/// A node's deployment: what it runs and where it connects.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct NodeConfig {
    /// The node's instance id, if fixed.
    pub instance_id: Option<String>,
    /// Where the node keeps its instance id (and, later, its outbox).
    pub data_dir: Option<PathBuf>,
    /// The services this node runs, by name; empty runs every service the binary has.
    pub services: Vec<String>,
    /// The default invoke timeout, in milliseconds.
    pub timeout_ms: Option<u64>,
    /// The MQTT bridge; `None` runs the node on its own.
    pub mqtt: Option<MqttConfig>,
}

impl NodeConfig {
    /// Reads `path` (if given) and applies the process environment on top.
    pub fn load(path: Option<&Path>) -> Result<Self, MqttError> {
        let text = path.map(std::fs::read_to_string).transpose().map_err(|e| {
            MqttError::Config(format!(
                "cannot read {}: {e}",
                path.map(Path::display)
                    .map(|d| d.to_string())
                    .unwrap_or_default()
            ))
        })?;
        Self::from_sources(text.as_deref(), |key| std::env::var(key).ok())
    }

    /// Parses `file` (TOML, if any) and applies the variables `env` returns on top.
    pub fn from_sources(
        file: Option<&str>,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<Self, MqttError> {
        let mut config: NodeConfig = match file {
            Some(text) => toml::from_str(text).map_err(|e| MqttError::Config(e.to_string()))?,
            None => NodeConfig::default(),
        };
        if let Some(id) = env("TRIBUTARY_INSTANCE_ID") {
            config.instance_id = Some(id);
        }
        if let Some(dir) = env("TRIBUTARY_DATA_DIR") {
            config.data_dir = Some(dir.into());
        }
        if let Some(list) = env("TRIBUTARY_SERVICES") {
            config.services = list
                .split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(String::from)
                .collect();
        }
        if let Some(ms) = env("TRIBUTARY_TIMEOUT_MS") {
            config.timeout_ms = Some(ms.parse().map_err(|_| {
                MqttError::Config(format!("TRIBUTARY_TIMEOUT_MS: not a number: {ms:?}"))
            })?);
        }
        if env("TRIBUTARY_MQTT").as_deref() == Some("off") {
            config.mqtt = None;
        }
        let host = env("TRIBUTARY_MQTT_HOST");
        let port = env("TRIBUTARY_MQTT_PORT");
        if host.is_some() || port.is_some() {
            let mqtt = config.mqtt.get_or_insert_with(MqttConfig::default);
            if let Some(host) = host {
                mqtt.host = host;
            }
            if let Some(port) = port {
                mqtt.port = port.parse().map_err(|_| {
                    MqttError::Config(format!("TRIBUTARY_MQTT_PORT: not a port: {port:?}"))
                })?;
            }
        }
        if let Some(mqtt) = config.mqtt.as_mut() {
            if let Some(prefix) = env("TRIBUTARY_MQTT_PREFIX") {
                mqtt.prefix = prefix;
            }
            if let Some(codec) = env("TRIBUTARY_MQTT_CODEC") {
                mqtt.codec = match codec.as_str() {
                    "json" => tributary::codec::Codec::Json,
                    "bincode" => tributary::codec::Codec::Bincode,
                    other => {
                        return Err(MqttError::Config(format!(
                            "TRIBUTARY_MQTT_CODEC: unknown codec {other:?}: use json or bincode"
                        )))
                    }
                };
            }
        }
        Ok(config)
    }

    /// Whether this node runs `service`.
    pub fn runs(&self, service: &str) -> bool {
        self.services.is_empty() || self.services.iter().any(|s| s == service)
    }

    /// The instance id: as configured; else the one kept in `data_dir` (written there the
    /// first time); else a random one.
    pub fn instance_id(&self) -> Result<InstanceId, MqttError> {
        if let Some(id) = &self.instance_id {
            return id
                .parse()
                .map_err(|e| MqttError::Config(format!("instance_id: {e}")));
        }
        let Some(dir) = &self.data_dir else {
            return Ok(InstanceId::random());
        };
        let file = dir.join("instance-id");
        match std::fs::read_to_string(&file) {
            Ok(text) => text
                .trim()
                .parse()
                .map_err(|e| MqttError::Config(format!("{}: {e}", file.display()))),
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => {
                std::fs::create_dir_all(dir)?;
                let id = InstanceId::random();
                std::fs::write(&file, format!("{id}\n"))?;
                Ok(id)
            }
            Err(err) => Err(err.into()),
        }
    }

    /// Applies the instance id, the timeout and the bridge to `builder`; returns the bridge
    /// handle (for its health) when there is one.
    pub fn apply(
        &self,
        builder: NodeBuilder,
    ) -> Result<(NodeBuilder, Option<MqttBridge>), MqttError> {
        let mut builder = builder.instance_id(self.instance_id()?);
        if let Some(ms) = self.timeout_ms {
            builder = builder.default_timeout(Duration::from_millis(ms));
        }
        match &self.mqtt {
            Some(mqtt) => {
                let bridge = MqttBridge::new(mqtt.clone())?;
                Ok((builder.bridge(bridge.attach()), Some(bridge)))
            }
            None => Ok((builder, None)),
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn env<'a>(vars: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<String> + 'a {
        move |key| {
            vars.iter()
                .find(|(k, _)| *k == key)
                .map(|(_, v)| v.to_string())
        }
    }

    #[test]
    fn the_file_says_what_runs_and_where_to_bridge() {
        let file = "services = [\"sensor\"]\ntimeout_ms = 500\n[mqtt]\nhost = \"10.0.0.1\"\nport = 1884\ncodec = \"bincode\"\n";
        let config = NodeConfig::from_sources(Some(file), env(&[])).expect("valid");
        assert!(config.runs("sensor") && !config.runs("aggregator"));
        let mqtt = config.mqtt.expect("bridge");
        assert_eq!(
            (mqtt.host.as_str(), mqtt.port, mqtt.codec),
            ("10.0.0.1", 1884, tributary::codec::Codec::Bincode)
        );
        assert_eq!(mqtt.prefix, "purista");
    }

    #[test]
    fn the_environment_overrides_the_file() {
        let file = "services = [\"sensor\"]\n[mqtt]\nport = 1884\n";
        let config = NodeConfig::from_sources(
            Some(file),
            env(&[
                ("TRIBUTARY_SERVICES", "a, b"),
                ("TRIBUTARY_MQTT_PORT", "2000"),
                ("TRIBUTARY_MQTT_CODEC", "json"),
            ]),
        )
        .expect("valid");
        assert_eq!(config.services, ["a", "b"]);
        assert_eq!(config.mqtt.expect("bridge").port, 2000);
        let off =
            NodeConfig::from_sources(Some(file), env(&[("TRIBUTARY_MQTT", "off")])).expect("valid");
        assert_eq!(off.mqtt, None);
        let on = NodeConfig::from_sources(None, env(&[("TRIBUTARY_MQTT_HOST", "broker")]))
            .expect("valid");
        assert_eq!(on.mqtt.expect("bridge").host, "broker");
    }

    #[test]
    fn bad_values_are_named() {
        let err = NodeConfig::from_sources(None, env(&[("TRIBUTARY_MQTT_PORT", "x")])).unwrap_err();
        assert!(err.to_string().contains("TRIBUTARY_MQTT_PORT"), "{err}");
        let err = NodeConfig::from_sources(Some("[mqtt]\ncodec = \"xml\""), env(&[])).unwrap_err();
        assert!(err.to_string().contains("xml"), "{err}");
        let err = NodeConfig::from_sources(Some("servces = []"), env(&[])).unwrap_err();
        assert!(err.to_string().contains("servces"), "{err}");
        let bad_id = NodeConfig {
            instance_id: Some("nope".into()),
            ..NodeConfig::default()
        };
        assert!(bad_id.instance_id().is_err());
    }

    #[test]
    fn the_instance_id_is_kept_in_the_data_directory() {
        let dir =
            std::env::temp_dir().join(format!("tributary-config-test-{}", InstanceId::random()));
        let config = NodeConfig {
            data_dir: Some(dir.clone()),
            ..NodeConfig::default()
        };
        let first = config.instance_id().expect("made");
        assert_eq!(config.instance_id().expect("read back"), first);
        let _ = std::fs::remove_dir_all(dir);
    }
}
