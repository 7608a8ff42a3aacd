//! What the fixture asks of the machine: where mosquitto is, whether we are root, free
//! ports, signals. Linux only (`/proc`, the `kill` binary).

use std::env;
use std::ffi::OsStr;
use std::fs;
use std::io::{self, Read, Seek, SeekFrom};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use super::FixtureError;

/// Where Debian and friends install mosquitto, searched after `PATH` because a non-root
/// user's `PATH` often lacks the `sbin` directories.
const SBIN_DIRS: [&str; 3] = ["/usr/sbin", "/usr/local/sbin", "/sbin"];

/// How long one readiness probe may take to connect.
const PROBE_TIMEOUT: Duration = Duration::from_millis(250);

/// A TCP port on 127.0.0.1 that was free a moment ago: bound with port 0, read, released.
/// Another process may take it before it is used, so a user must retry on a bind failure
/// (as [`Mosquitto::start`](super::Mosquitto::start) does).
pub fn free_port() -> Result<u16, FixtureError> {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .map_err(|e| FixtureError::io("bind a free loopback port", e))?;
    let port = listener
        .local_addr()
        .map_err(|e| FixtureError::io("read a bound port", e))?
        .port();
    Ok(port)
}

/// Whether something accepts TCP connections on 127.0.0.1:`port`.
pub(crate) fn accepts(port: u16) -> bool {
    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    TcpStream::connect_timeout(&addr, PROBE_TIMEOUT).is_ok()
}

/// The mosquitto binary: the first executable `mosquitto` on `PATH`, then in the usual
/// `sbin` directories.
pub(crate) fn find_mosquitto() -> Result<PathBuf, FixtureError> {
    let path = env::var_os("PATH").unwrap_or_default();
    let dirs = env::split_paths(&path).chain(SBIN_DIRS.iter().map(PathBuf::from));
    find_executable(OsStr::new("mosquitto"), dirs).ok_or(FixtureError::NotInstalled)
}

/// The first of `dirs` that holds an executable file called `name`.
pub(crate) fn find_executable(
    name: &OsStr,
    dirs: impl IntoIterator<Item = PathBuf>,
) -> Option<PathBuf> {
    dirs.into_iter()
        .map(|dir| dir.join(name))
        .find(|candidate| {
            fs::metadata(candidate)
                .map(|meta| meta.is_file() && meta.permissions().mode() & 0o111 != 0)
                .unwrap_or(false)
        })
}

/// Whether this process runs with effective uid 0, read from `/proc/self/status` (no libc).
/// If that cannot be read, assumes not.
pub(crate) fn running_as_root() -> bool {
    fs::read_to_string("/proc/self/status")
        .map(|status| effective_uid_is_root(&status))
        .unwrap_or(false)
}

/// Reads the effective uid, the second number of the `Uid:` line of `/proc/<pid>/status`.
pub(crate) fn effective_uid_is_root(status: &str) -> bool {
    status
        .lines()
        .find_map(|line| line.strip_prefix("Uid:"))
        .and_then(|uids| uids.split_whitespace().nth(1))
        .is_some_and(|euid| euid == "0")
}

/// Sends SIGTERM to `pid` with the `kill` binary: std can only send SIGKILL. The caller
/// must hold the unreaped child, so that the pid cannot have been reused.
pub(crate) fn send_sigterm(pid: u32) -> io::Result<()> {
    let status = Command::new("kill")
        .arg("-TERM")
        .arg(pid.to_string())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()?;
    if status.success() {
        Ok(())
    } else {
        Err(io::Error::other(format!(
            "kill -TERM {pid} failed ({status})"
        )))
    }
}

/// The file's contents from byte `offset` on, lossily decoded; empty if it cannot be read.
pub(crate) fn read_from(path: &Path, offset: u64) -> String {
    let mut bytes = Vec::new();
    let read = fs::File::open(path).and_then(|mut file| {
        file.seek(SeekFrom::Start(offset))?;
        file.read_to_end(&mut bytes)
    });
    match read {
        Ok(_) => String::from_utf8_lossy(&bytes).into_owned(),
        Err(_) => String::new(),
    }
}

/// The current length of a file, 0 if it does not exist.
pub(crate) fn file_len(path: &Path) -> u64 {
    fs::metadata(path).map(|meta| meta.len()).unwrap_or(0)
}

/// The last `lines` lines of `text`.
pub(crate) fn tail(text: &str, lines: usize) -> String {
    let all: Vec<_> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn effective_uid_decides_root() {
        assert!(effective_uid_is_root(
            "Name:\tx\nUid:\t0\t0\t0\t0\nGid:\t0\n"
        ));
        assert!(effective_uid_is_root("Uid:\t1000\t0\t0\t0\n"));
        assert!(!effective_uid_is_root("Uid:\t0\t1000\t1000\t1000\n"));
        assert!(!effective_uid_is_root("Name:\tx\n"));
    }

    #[test]
    fn missing_binary_is_not_found() {
        let empty = tempfile::tempdir().expect("temp dir");
        let found = find_executable(OsStr::new("mosquitto"), [empty.path().to_path_buf()]);
        assert_eq!(found, None);
    }

    #[test]
    fn a_non_executable_file_is_not_a_binary() {
        let dir = tempfile::tempdir().expect("temp dir");
        let file = dir.path().join("mosquitto");
        fs::write(&file, "").expect("write file");
        fs::set_permissions(&file, fs::Permissions::from_mode(0o644)).expect("chmod");
        assert_eq!(
            find_executable(OsStr::new("mosquitto"), [dir.path().to_path_buf()]),
            None
        );
        fs::set_permissions(&file, fs::Permissions::from_mode(0o755)).expect("chmod");
        assert_eq!(
            find_executable(OsStr::new("mosquitto"), [dir.path().to_path_buf()]),
            Some(file)
        );
    }

    #[test]
    fn not_installed_says_how_to_install() {
        assert_eq!(
            FixtureError::NotInstalled.to_string(),
            "mosquitto not found on PATH: install it (Debian/Ubuntu: apt-get install -y \
             mosquitto) or run scripts/test, which installs it"
        );
    }

    #[test]
    fn tail_keeps_the_last_lines() {
        assert_eq!(tail("a\nb\nc\n", 2), "b\nc");
        assert_eq!(tail("a", 5), "a");
        assert_eq!(tail("", 5), "");
    }

    #[test]
    fn free_ports_are_nonzero() {
        assert_ne!(free_port().expect("free port"), 0);
    }
}
