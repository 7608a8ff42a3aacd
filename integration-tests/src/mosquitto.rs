//! A real mosquitto broker per test, on a free loopback port, killed on drop.
//!
//! [`Mosquitto`] owns the process and a scratch directory holding the config file
//! (`mosquitto.conf`), the log (`mosquitto.log`), what the process printed
//! (`console.log`) and, with persistence, the database (`mosquitto.db`). The port and the
//! directory stay the same across [`restart`](Mosquitto::restart) and
//! [`crash_and_restart`](Mosquitto::crash_and_restart), so clients reconnect to the same
//! address and durable sessions survive as they would on a real deployment.

mod config;
mod error;
mod system;

use std::fs::{self, File};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::{Duration, Instant, SystemTime};

use tempfile::TempDir;
use tracing::debug;

pub use config::MosquittoConfig;
pub use error::FixtureError;
pub use system::free_port;

/// The broker's log file in the scratch directory.
const LOG_FILE: &str = "mosquitto.log";
/// Where the process's stdout and stderr go (config errors are printed, not logged).
const CONSOLE_FILE: &str = "console.log";
/// The config file in the scratch directory, rewritten at each start.
const CONFIG_FILE: &str = "mosquitto.conf";
/// mosquitto's database in the scratch directory (its default `persistence_file`).
const DB_FILE: &str = "mosquitto.db";
/// Logged by mosquitto when its listener's port is taken.
const PORT_TAKEN_MARKER: &str = "Address already in use";
/// The interface every broker listens on.
const HOST: &str = "127.0.0.1";

/// How long a start may take until the port accepts connections.
const START_DEADLINE: Duration = Duration::from_secs(5);
/// How long a graceful stop may take before the process is killed.
const STOP_DEADLINE: Duration = Duration::from_secs(5);
/// How many ports (first start) or tries on the same port (restart) before giving up.
const BIND_ATTEMPTS: u32 = 5;
/// How many lines of log an error carries.
const TAIL_LINES: usize = 30;

/// A running mosquitto process on a free 127.0.0.1 port, with its own scratch directory.
///
/// Dropping it kills the process (SIGKILL), waits for it and removes the directory.
///
/// Its methods block the calling thread while they wait for the process (a start takes
/// some 20–30 ms, a graceful stop up to about 150 ms), which is fine in a test, also an
/// async one: clients reconnect once it returns.
#[derive(Debug)]
pub struct Mosquitto {
    /// The binary found at the first start, reused by restarts.
    binary: PathBuf,
    /// The settings, rendered again at each start.
    config: MosquittoConfig,
    /// The port it listens on, the same for the fixture's whole life.
    port: u16,
    /// Config, log and database; removed when the fixture is dropped (after the process).
    dir: TempDir,
    /// The process while it runs; `None` once stopped or killed.
    child: Option<Child>,
}

impl Mosquitto {
    /// Starts a broker with [`MosquittoConfig::default`]: persistence with a 1 s autosave,
    /// `max_queued_messages 1000000`, `set_tcp_nodelay true`.
    ///
    /// Returns once the port accepts TCP connections. Fails with
    /// [`FixtureError::NotInstalled`] when there is no `mosquitto` binary, and with the log
    /// tail when the process exits or does not get ready within 5 s.
    pub fn start() -> Result<Self, FixtureError> {
        Self::start_with(MosquittoConfig::default())
    }

    pub(crate) fn start_with(config: MosquittoConfig) -> Result<Self, FixtureError> {
        let binary = system::find_mosquitto()?;
        let dir = tempfile::Builder::new()
            .prefix("tributary-mosquitto-")
            .tempdir()
            .map_err(|e| FixtureError::io("create a scratch directory", e))?;
        let mut broker = Self {
            binary,
            config,
            port: 0,
            dir,
            child: None,
        };
        let mut attempt = 1;
        loop {
            // The port was free a moment ago; if another process took it since, mosquitto
            // fails to bind and a fresh port is tried.
            broker.port = free_port()?;
            match broker.launch() {
                Err(FixtureError::PortInUse { port, .. }) if attempt < BIND_ATTEMPTS => {
                    debug!(port, attempt, "mosquitto port taken, trying another");
                    attempt += 1;
                }
                Err(e) => return Err(e),
                Ok(()) => return Ok(broker),
            }
        }
    }

    /// The port it listens on; the same after restarts.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The host it listens on: `"127.0.0.1"`.
    pub fn host(&self) -> &'static str {
        HOST
    }

    /// The scratch directory: `mosquitto.conf`, `mosquitto.log`, `console.log` and, with
    /// persistence, `mosquitto.db`.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// The process id while it runs (or has exited without being waited for by
    /// [`stop`](Self::stop) or [`kill`](Self::kill)).
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// The broker's log so far, across restarts, for diagnostics. Empty if it cannot be read.
    pub fn log(&self) -> String {
        system::read_from(&self.dir.path().join(LOG_FILE), 0)
    }

    /// Whether the process is running.
    pub fn is_running(&mut self) -> bool {
        self.child
            .as_mut()
            .is_some_and(|child| matches!(child.try_wait(), Ok(None)))
    }

    /// Stops the broker gracefully: SIGTERM, then waits up to 5 s for it to exit. mosquitto
    /// saves its database on the way out (with persistence), so durable sessions, their
    /// subscriptions and queued messages survive a later start. Does nothing if it is not
    /// running. If it does not exit in time it is killed and
    /// [`FixtureError::StopTimeout`] returned.
    pub fn stop(&mut self) -> Result<(), FixtureError> {
        let Some(mut child) = self.child.take() else {
            return Ok(());
        };
        let pid = child.id();
        if let Ok(Some(_)) = child.try_wait() {
            return Ok(());
        }
        if let Err(e) = system::send_sigterm(pid) {
            // It may have exited by itself in the meantime; otherwise kill it.
            if let Ok(Some(_)) = child.try_wait() {
                return Ok(());
            }
            let _ = child.kill();
            let _ = child.wait();
            return Err(FixtureError::io("send sigterm to mosquitto", e));
        }
        let started = Instant::now();
        let exited = crate::eventually(STOP_DEADLINE, || {
            // An error here means the child cannot be waited for: treat it as gone.
            !matches!(child.try_wait(), Ok(None))
        });
        if exited {
            debug!(port = self.port, pid, "mosquitto stopped");
            Ok(())
        } else {
            let _ = child.kill();
            let _ = child.wait();
            Err(FixtureError::StopTimeout {
                pid,
                waited: started.elapsed(),
            })
        }
    }

    /// Crashes the broker: SIGKILL, and waits for it to be gone. Nothing is saved beyond the
    /// last autosave. Does nothing if it is not running. The port refuses connections
    /// until the broker is started again.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            // Fails only if it has already been reaped, which is what we want anyway.
            let _ = child.kill();
            let _ = child.wait();
            debug!(port = self.port, pid = child.id(), "mosquitto killed");
        }
    }

    /// Stops the broker gracefully ([`stop`](Self::stop)), then starts it again on the same
    /// port with the same directory and config, and returns once the port accepts
    /// connections. After [`kill`](Self::kill) or a `stop`, this simply starts it again.
    pub fn restart(&mut self) -> Result<(), FixtureError> {
        self.stop()?;
        self.relaunch()
    }

    /// Crashes the broker ([`kill`](Self::kill)), then starts it again on the same port with
    /// the same directory; it restores what the last autosave wrote.
    pub fn crash_and_restart(&mut self) -> Result<(), FixtureError> {
        self.kill();
        self.relaunch()
    }

    /// Waits until mosquitto has written its database after this call, up to `deadline`.
    /// With `autosave_interval_s` 1 that takes up to about 2 s. Use it before
    /// [`crash_and_restart`](Self::crash_and_restart) when the test needs the sessions
    /// that exist now to survive the crash. Returns `false` on timeout (or without
    /// persistence).
    pub fn wait_for_autosave(&self, deadline: Duration) -> bool {
        let db = self.dir.path().join(DB_FILE);
        let since = SystemTime::now();
        crate::eventually(deadline, || {
            fs::metadata(&db)
                .and_then(|meta| meta.modified())
                .is_ok_and(|modified| modified > since)
        })
    }

    /// Starts the process again on the fixture's port. Retries a few times if the port is
    /// taken, which can only be by another process that grabbed it while it was free.
    fn relaunch(&mut self) -> Result<(), FixtureError> {
        let mut attempt = 1;
        loop {
            match self.launch() {
                Err(FixtureError::PortInUse { .. }) if attempt < BIND_ATTEMPTS => {
                    attempt += 1;
                    thread::sleep(Duration::from_millis(50) * attempt);
                }
                result => return result,
            }
        }
    }

    /// Writes the config for the current port, starts the process and waits until it is
    /// ready (see [`wait_ready`](Self::wait_ready)).
    fn launch(&mut self) -> Result<(), FixtureError> {
        let dir = self.dir.path();
        let config_path = dir.join(CONFIG_FILE);
        let text = self
            .config
            .render(self.port, dir, system::running_as_root());
        fs::write(&config_path, text).map_err(|e| FixtureError::io("write mosquitto config", e))?;
        let log_offset = system::file_len(&dir.join(LOG_FILE));
        let console_offset = system::file_len(&dir.join(CONSOLE_FILE));
        let console = File::options()
            .create(true)
            .append(true)
            .open(dir.join(CONSOLE_FILE))
            .map_err(|e| FixtureError::io("open mosquitto console file", e))?;
        let console_err = console
            .try_clone()
            .map_err(|e| FixtureError::io("open mosquitto console file", e))?;
        let child = Command::new(&self.binary)
            .arg("-c")
            .arg(&config_path)
            .stdin(Stdio::null())
            .stdout(console)
            .stderr(console_err)
            .spawn()
            .map_err(|e| FixtureError::io("spawn mosquitto", e))?;
        debug!(port = self.port, pid = child.id(), "mosquitto spawned");
        self.child = Some(child);
        self.wait_ready(log_offset, console_offset)
    }

    /// Waits until this start's log says mosquitto is running (its listener is open, so the
    /// port is ours and not some other process's) and the port accepts a connection. Fails
    /// if the process exits first or the deadline passes (then kills it).
    fn wait_ready(&mut self, log_offset: u64, console_offset: u64) -> Result<(), FixtureError> {
        let started = Instant::now();
        let log_path = self.dir.path().join(LOG_FILE);
        let mut ready = false;
        let mut exited = None;
        crate::eventually(START_DEADLINE, || {
            let Some(child) = self.child.as_mut() else {
                return true;
            };
            match child.try_wait() {
                Ok(None) => {}
                Ok(Some(status)) => {
                    exited = Some(status);
                    return true;
                }
                // Cannot be waited for: check the port anyway.
                Err(_) => {}
            }
            ready = says_running(&system::read_from(&log_path, log_offset))
                && system::accepts(self.port);
            ready
        });
        if ready {
            debug!(port = self.port, elapsed = ?started.elapsed(), "mosquitto ready");
            return Ok(());
        }
        let log = system::read_from(&log_path, log_offset);
        let console = system::read_from(&self.dir.path().join(CONSOLE_FILE), console_offset);
        let log_tail = system::tail(&format!("{console}{log}"), TAIL_LINES);
        let port = self.port;
        match exited {
            Some(_) if log.contains(PORT_TAKEN_MARKER) => {
                self.child = None;
                Err(FixtureError::PortInUse { port, log_tail })
            }
            Some(status) => {
                self.child = None;
                Err(FixtureError::Exited {
                    port,
                    status,
                    log_tail,
                })
            }
            None => {
                self.kill();
                Err(FixtureError::NotReady {
                    port,
                    waited: started.elapsed(),
                    log_tail,
                })
            }
        }
    }
}

/// Whether the log has the line mosquitto writes once all its listeners are open:
/// `mosquitto version 2.0.11 running`.
fn says_running(log: &str) -> bool {
    log.lines()
        .any(|line| line.contains("mosquitto version") && line.trim_end().ends_with(" running"))
}

impl Drop for Mosquitto {
    fn drop(&mut self) {
        // Kill before the fields drop, so the directory goes after the process.
        self.kill();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn running_is_read_from_the_log() {
        let starting = "1: mosquitto version 2.0.11 starting\n1: Config loaded from x.\n";
        assert!(!says_running(starting));
        assert!(says_running(&format!(
            "{starting}1: mosquitto version 2.0.11 running\n"
        )));
    }
}
