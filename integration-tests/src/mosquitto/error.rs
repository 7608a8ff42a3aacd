//! What can go wrong when starting or stopping a broker.

use std::error::Error;
use std::fmt;
use std::io;
use std::process::ExitStatus;
use std::time::Duration;

/// Why the fixture could not start, stop or restart a mosquitto process. Each variant that
/// concerns a started process carries the tail of its log, so a failing test shows why.
#[derive(Debug)]
#[non_exhaustive]
pub enum FixtureError {
    /// No `mosquitto` binary was found. The fixture never installs it.
    NotInstalled,
    /// A file or process operation failed.
    Io {
        /// What the fixture was doing, e.g. "write mosquitto config".
        action: &'static str,
        /// The underlying error.
        source: io::Error,
    },
    /// Another process took the port before mosquitto could bind it, on every attempt.
    PortInUse {
        /// The port of the last attempt.
        port: u16,
        /// The end of mosquitto's log.
        log_tail: String,
    },
    /// mosquitto exited before it accepted connections (bad config line, say).
    Exited {
        /// The port it was to listen on.
        port: u16,
        /// How it exited.
        status: ExitStatus,
        /// The end of its log and console output.
        log_tail: String,
    },
    /// mosquitto kept running but did not accept connections before the deadline; it has
    /// been killed.
    NotReady {
        /// The port it was to listen on.
        port: u16,
        /// How long the fixture waited.
        waited: Duration,
        /// The end of its log and console output.
        log_tail: String,
    },
    /// mosquitto did not exit within the deadline after SIGTERM; it has been killed.
    StopTimeout {
        /// The process id.
        pid: u32,
        /// How long the fixture waited.
        waited: Duration,
    },
}

impl FixtureError {
    pub(crate) fn io(action: &'static str, source: io::Error) -> Self {
        Self::Io { action, source }
    }
}

impl fmt::Display for FixtureError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NotInstalled => f.write_str(
                "mosquitto not found on PATH: install it (Debian/Ubuntu: apt-get install -y \
                 mosquitto) or run scripts/test, which installs it",
            ),
            Self::Io { action, source } => write!(f, "cannot {action}: {source}"),
            Self::PortInUse { port, log_tail } => write!(
                f,
                "no free port for mosquitto (last tried {port} was taken); log tail:\n{log_tail}"
            ),
            Self::Exited {
                port,
                status,
                log_tail,
            } => write!(
                f,
                "mosquitto on port {port} exited during startup ({status}); log tail:\n{log_tail}"
            ),
            Self::NotReady {
                port,
                waited,
                log_tail,
            } => write!(
                f,
                "mosquitto did not accept connections on port {port} within {waited:?}; \
                 log tail:\n{log_tail}"
            ),
            Self::StopTimeout { pid, waited } => write!(
                f,
                "mosquitto (pid {pid}) did not exit within {waited:?} of sigterm and was killed"
            ),
        }
    }
}

impl Error for FixtureError {
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        match self {
            Self::Io { source, .. } => Some(source),
            _ => None,
        }
    }
}
