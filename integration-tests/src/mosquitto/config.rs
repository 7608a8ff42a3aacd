//! The settings a test may vary, and the config file they become.

use std::path::Path;

use super::{FixtureError, Mosquitto};

/// How to configure a [`Mosquitto`] broker. [`Default`] follows design rule 3.6: persistence
/// on with a 1 s autosave, `max_queued_messages` raised to 1,000,000 (TCP_NODELAY is always
/// on). Set fields directly or with the builder methods, then call [`start`](Self::start).
///
/// ```no_run
/// use tributary_integration_tests::MosquittoConfig;
///
/// let broker = MosquittoConfig::default()
///     .persistence(false)
///     .max_packet_size(10 * 1024)
///     .extra_line("max_inflight_messages 10")
///     .start()?;
/// # Ok::<(), tributary_integration_tests::FixtureError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MosquittoConfig {
    /// Keep sessions, subscriptions and queued messages in a database in the fixture's
    /// directory: written on a graceful stop and every `autosave_interval_s` seconds, read at
    /// start. Without it a restart forgets every session.
    pub persistence: bool,
    /// Seconds between autosaves of the database (mosquitto's `autosave_interval`), so that
    /// a crash loses at most that much. mosquitto saves once the interval has fully passed,
    /// so with 1 a save happens about every 2 s.
    pub autosave_interval_s: u32,
    /// How many QoS 1 messages mosquitto queues per client before it drops them (its default
    /// of 1000 loses messages silently in load tests).
    pub max_queued_messages: u32,
    /// The broker's largest accepted packet, announced in CONNACK; `None` leaves it
    /// unlimited, as mosquitto does by default.
    pub max_packet_size: Option<u32>,
    /// Further config lines, appended verbatim. They must not change `listener`, the log
    /// destination or `persistence_location`, which the fixture relies on.
    pub extra_lines: Vec<String>,
}

impl Default for MosquittoConfig {
    fn default() -> Self {
        Self {
            persistence: true,
            autosave_interval_s: 1,
            max_queued_messages: 1_000_000,
            max_packet_size: None,
            extra_lines: Vec::new(),
        }
    }
}

impl MosquittoConfig {
    /// Sets [`persistence`](Self::persistence).
    pub fn persistence(mut self, on: bool) -> Self {
        self.persistence = on;
        self
    }

    /// Sets [`autosave_interval_s`](Self::autosave_interval_s).
    pub fn autosave_interval_s(mut self, seconds: u32) -> Self {
        self.autosave_interval_s = seconds;
        self
    }

    /// Sets [`max_queued_messages`](Self::max_queued_messages).
    pub fn max_queued_messages(mut self, messages: u32) -> Self {
        self.max_queued_messages = messages;
        self
    }

    /// Sets [`max_packet_size`](Self::max_packet_size).
    pub fn max_packet_size(mut self, bytes: u32) -> Self {
        self.max_packet_size = Some(bytes);
        self
    }

    /// Appends one line to [`extra_lines`](Self::extra_lines).
    pub fn extra_line(mut self, line: impl Into<String>) -> Self {
        self.extra_lines.push(line.into());
        self
    }

    /// Starts a broker with these settings on a free loopback port; see [`Mosquitto::start`].
    pub fn start(self) -> Result<Mosquitto, FixtureError> {
        Mosquitto::start_with(self)
    }

    /// The config file for a broker on `port` whose scratch directory is `dir`. `as_root`
    /// adds `user root`: without it mosquitto started as root drops to the `mosquitto` user,
    /// which cannot write the scratch directory.
    pub(crate) fn render(&self, port: u16, dir: &Path, as_root: bool) -> String {
        let dir = dir.display();
        let mut lines = vec![
            format!("listener {port} 127.0.0.1"),
            "allow_anonymous true".to_owned(),
            "set_tcp_nodelay true".to_owned(),
            format!("max_queued_messages {}", self.max_queued_messages),
        ];
        if let Some(bytes) = self.max_packet_size {
            lines.push(format!("max_packet_size {bytes}"));
        }
        if self.persistence {
            lines.push("persistence true".to_owned());
            lines.push(format!("persistence_location {dir}/"));
            lines.push(format!("autosave_interval {}", self.autosave_interval_s));
        } else {
            lines.push("persistence false".to_owned());
        }
        if as_root {
            lines.push("user root".to_owned());
        }
        lines.push(format!("log_dest file {dir}/{}", super::LOG_FILE));
        for kind in ["error", "warning", "notice", "information"] {
            lines.push(format!("log_type {kind}"));
        }
        lines.extend(self.extra_lines.iter().cloned());
        let mut text = lines.join("\n");
        text.push('\n');
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_config_follows_the_delivery_rules() {
        let text = MosquittoConfig::default().render(4321, Path::new("/tmp/x"), false);
        let lines: Vec<_> = text.lines().collect();
        for expected in [
            "listener 4321 127.0.0.1",
            "allow_anonymous true",
            "set_tcp_nodelay true",
            "max_queued_messages 1000000",
            "persistence true",
            "persistence_location /tmp/x/",
            "autosave_interval 1",
            "log_dest file /tmp/x/mosquitto.log",
            "log_type information",
        ] {
            assert!(lines.contains(&expected), "missing {expected:?} in\n{text}");
        }
        assert!(!text.contains("user root"));
        assert!(!text.contains("max_packet_size"));
    }

    #[test]
    fn options_show_up_in_the_config_file() {
        let text = MosquittoConfig::default()
            .persistence(false)
            .max_queued_messages(42)
            .max_packet_size(10240)
            .extra_line("max_inflight_messages 7")
            .render(1, Path::new("/d"), true);
        let lines: Vec<_> = text.lines().collect();
        for expected in [
            "persistence false",
            "max_queued_messages 42",
            "max_packet_size 10240",
            "user root",
            "max_inflight_messages 7",
        ] {
            assert!(lines.contains(&expected), "missing {expected:?} in\n{text}");
        }
        assert!(!text.contains("persistence_location"));
        assert!(!text.contains("autosave_interval"));
    }
}
