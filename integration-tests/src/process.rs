//! Test nodes in processes of their own (the `test-node` binary), killed on drop.

use std::io::{BufRead, BufReader};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use crate::Mosquitto;

/// A `test-node` process.
#[derive(Debug)]
pub struct TestNode {
    child: Child,
    stdin: Option<ChildStdin>,
    lines: mpsc::Receiver<String>,
    instance_id: String,
}

impl TestNode {
    /// Starts `binary` (pass `env!("CARGO_BIN_EXE_test-node")`) running `services` (names of
    /// the test graph's services) bridged to `broker`, with `env` on top, and waits until it
    /// is ready (at most 15 s).
    pub fn spawn(
        binary: &str,
        broker: &Mosquitto,
        services: &[&str],
        env: &[(&str, &str)],
    ) -> std::io::Result<TestNode> {
        let mut command = Command::new(binary);
        command
            .env("TRIBUTARY_MQTT_HOST", broker.host())
            .env("TRIBUTARY_MQTT_PORT", broker.port().to_string())
            .env("TRIBUTARY_SERVICES", services.join(","))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        for (key, value) in env {
            command.env(key, value);
        }
        let mut child = command.spawn()?;
        let stdout = child
            .stdout
            .take()
            .ok_or_else(|| std::io::Error::other("no stdout"))?;
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let stdin = child.stdin.take();
        let mut node = TestNode {
            child,
            stdin,
            lines,
            instance_id: String::new(),
        };
        let ready = node.line(Duration::from_secs(15))?;
        node.instance_id = ready
            .strip_prefix("ready ")
            .ok_or_else(|| {
                std::io::Error::other(format!("test-node said {ready:?} instead of ready"))
            })?
            .to_owned();
        Ok(node)
    }

    /// The node's instance id.
    pub fn instance_id(&self) -> &str {
        &self.instance_id
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    fn line(&self, within: Duration) -> std::io::Result<String> {
        self.lines.recv_timeout(within).map_err(|_| {
            std::io::Error::other("test-node printed nothing in time (see its stderr above)")
        })
    }

    /// Shuts the node down gracefully (closes its standard input) and waits for it to say it
    /// stopped; returns that line.
    pub fn stop(&mut self) -> std::io::Result<String> {
        drop(self.stdin.take());
        let line = self.line(Duration::from_secs(15))?;
        let _ = self.child.wait();
        Ok(line)
    }

    /// Kills the process (SIGKILL): no goodbye, as in a crash or a power cut.
    pub fn kill(&mut self) -> std::io::Result<()> {
        self.child.kill()?;
        self.child.wait().map(|_| ())
    }
}

impl Drop for TestNode {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
