//! Errors: [`CommandError`], the serde data a command answers with when it fails, and
//! [`Error`], what the runtime's own API returns.

use std::fmt;

use serde::{Deserialize, Serialize};

/// The status of a failed command, with HTTP's meanings, as PURISTA uses them.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Status(pub u16);

impl Status {
    /// 400: the payload or parameter is not valid for the command.
    pub const BAD_REQUEST: Status = Status(400);
    /// 404: not found (for handlers to use).
    pub const NOT_FOUND: Status = Status(404);
    /// 500: the handler failed in a way it did not handle (it panicked, or its actor died).
    pub const INTERNAL_SERVER_ERROR: Status = Status(500);
    /// 501: the service does not implement this command.
    pub const NOT_IMPLEMENTED: Status = Status(501);
    /// 502: no instance anywhere handles the command.
    pub const BAD_GATEWAY: Status = Status(502);
    /// 503: the node is shutting down, or cannot reach the instance right now.
    pub const SERVICE_UNAVAILABLE: Status = Status(503);
    /// 504: no response came before the deadline.
    pub const GATEWAY_TIMEOUT: Status = Status(504);

    /// The numeric code.
    pub fn code(self) -> u16 {
        self.0
    }
}

impl fmt::Debug for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// A command's failure, as its caller receives it: what PURISTA's `commandErrorResponse`
/// carries.
///
/// A handler returns one to refuse a command (`CommandError::new(409, "user name already
/// taken")`): that is a *handled* error, and its status, message and data reach the caller
/// unchanged, across the wire too. The runtime makes the unhandled ones: 500 when a handler
/// panics, 502 when nobody handles the command, 503 while shutting down, 504 at the deadline,
/// 400 for a payload that fails validation.
#[derive(Clone, PartialEq, Serialize, Deserialize, thiserror::Error)]
#[error("{status} {message}")]
pub struct CommandError {
    /// HTTP-style status code.
    pub status: Status,
    /// What went wrong, for people.
    pub message: String,
    /// Anything structured the handler wants the caller to have.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data: Option<serde_json::Value>,
    /// Whether the handler produced the error on purpose (PURISTA's `isHandledError`).
    #[serde(skip)]
    pub handled: bool,
}

impl CommandError {
    /// A handled error with this status and message.
    pub fn new(status: impl Into<Status>, message: impl Into<String>) -> Self {
        CommandError {
            status: status.into(),
            message: message.into(),
            data: None,
            handled: true,
        }
    }

    /// The same error carrying `data` (any serializable value; one that fails to serialize is
    /// replaced by its error text).
    pub fn with_data(mut self, data: impl Serialize) -> Self {
        self.data = Some(
            serde_json::to_value(data)
                .unwrap_or_else(|err| serde_json::Value::String(err.to_string())),
        );
        self
    }

    /// An error the runtime raises, not a handler: `handled` is false.
    pub(crate) fn unhandled(status: Status, message: impl Into<String>) -> Self {
        CommandError {
            status,
            message: message.into(),
            data: None,
            handled: false,
        }
    }

    /// 500, as a caller sees a handler that panicked. Like PURISTA, the panic's text stays in
    /// the service's log and does not reach the caller.
    pub(crate) fn internal() -> Self {
        Self::unhandled(Status::INTERNAL_SERVER_ERROR, "Internal Server Error")
    }

    /// 400 with the list of violations as `data`, in PURISTA's shape.
    pub(crate) fn invalid(what: &str, violations: Vec<Violation>) -> Self {
        CommandError {
            status: Status::BAD_REQUEST,
            message: format!(
                "input validation for {what} failed: {}",
                summary(&violations)
            ),
            data: Some(serde_json::to_value(&violations).unwrap_or_default()),
            handled: true,
        }
    }
}

impl fmt::Debug for CommandError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut s = f.debug_struct("CommandError");
        s.field("status", &self.status)
            .field("message", &self.message);
        if let Some(data) = &self.data {
            s.field("data", data);
        }
        s.field("handled", &self.handled).finish()
    }
}

impl From<u16> for Status {
    fn from(code: u16) -> Self {
        Status(code)
    }
}

/// One reason a payload or parameter is invalid: what failed and where (a path of field names
/// and indices from the root), as PURISTA reports validation failures.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Violation {
    /// What is wrong.
    pub message: String,
    /// Where: field names and array indices from the root of the payload.
    pub path: Vec<serde_json::Value>,
}

impl Violation {
    /// A violation at `path` (field names; use [`Violation::at_index`] for positions).
    pub fn new<I, S>(path: I, message: impl Into<String>) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        Violation {
            message: message.into(),
            path: path
                .into_iter()
                .map(|s| serde_json::Value::String(s.into()))
                .collect(),
        }
    }

    /// The same violation one array index deeper.
    pub fn at_index(mut self, index: usize) -> Self {
        self.path.push(index.into());
        self
    }
}

fn summary(violations: &[Violation]) -> String {
    violations
        .iter()
        .map(|v| {
            let path: Vec<String> = v
                .path
                .iter()
                .map(|p| match p {
                    serde_json::Value::String(s) => s.clone(),
                    other => other.to_string(),
                })
                .collect();
            if path.is_empty() {
                v.message.clone()
            } else {
                format!("{}: {}", path.join("."), v.message)
            }
        })
        .collect::<Vec<_>>()
        .join("; ")
}

/// What the runtime's own API returns when it cannot do what was asked.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The node was started outside an actix `System`.
    #[error("a node must start inside a running actix system (#[actix::main], #[actix::test], actix-web)")]
    NoSystem,
    /// A service registers a command whose contract names another service.
    #[error(
        "service {service}/{version} cannot handle {contract}: the contract belongs to {owner}"
    )]
    ContractMismatch {
        /// The service being registered.
        service: String,
        /// Its version.
        version: String,
        /// The command contract's name.
        contract: String,
        /// The service and version the contract names.
        owner: String,
    },
    /// Two services of one node register the same command.
    #[error("command {0} is registered twice")]
    DuplicateCommand(String),
    /// A service is registered with zero instances.
    #[error("service {0} needs at least one instance")]
    NoInstances(String),
    /// An identifier that is not valid.
    #[error("invalid instance id: {0}")]
    InstanceId(#[from] crate::text::InstanceIdError),
    /// A bridge could not be attached.
    #[error("bridge: {0}")]
    Bridge(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// An envelope could not be encoded or decoded.
    #[error(transparent)]
    Codec(#[from] crate::codec::CodecError),
}
