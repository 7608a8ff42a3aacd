//! What the MQTT bridge's API returns when it cannot do what was asked.

use tributary::{CommandError, Status};

/// An error of the MQTT bridge.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum MqttError {
    /// A topic prefix, name or filter that MQTT cannot carry.
    #[error(transparent)]
    Topic(#[from] crate::topic::TopicError),
    /// A message that cannot be encoded, or is larger than the packet limit.
    #[error(transparent)]
    Codec(#[from] tributary::codec::CodecError),
    /// rumqttc's request channel is full: the broker has been unreachable for a while.
    #[error("the broker connection is saturated")]
    Busy,
    /// A configuration that cannot be used.
    #[error("configuration: {0}")]
    Config(String),
    /// Reading or writing the data directory failed.
    #[error("data directory: {0}")]
    Io(#[from] std::io::Error),
}

impl MqttError {
    /// What a caller whose command could not be sent gets.
    pub(crate) fn into_command_error(self) -> CommandError {
        let status = match &self {
            MqttError::Codec(err) if err.kind() == tributary::codec::CodecErrorKind::Oversize => {
                Status(413)
            }
            MqttError::Codec(_) | MqttError::Topic(_) => Status::BAD_REQUEST,
            _ => Status::SERVICE_UNAVAILABLE,
        };
        CommandError {
            status,
            message: self.to_string(),
            data: None,
            handled: false,
        }
    }
}

impl From<MqttError> for tributary::Error {
    fn from(err: MqttError) -> Self {
        tributary::Error::Bridge(Box::new(err))
    }
}
