//! The `messageType` discriminator.

use std::fmt;
use std::str::FromStr;

use super::EnvelopeError;

/// What kind of message an envelope is: PURISTA's `messageType`.
///
/// The discriminant is the type's code in the bincode form: append new types, never renumber.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum MessageType {
    /// A request to one command of one service (`command`).
    Command = 0,
    /// The result of a command (`commandSuccessResponse`).
    CommandSuccessResponse = 1,
    /// The failure of a command (`commandErrorResponse`).
    CommandErrorResponse = 2,
    /// An event a service emits (`customMessage`).
    CustomMessage = 3,
    /// A service is starting (`infoServiceInit`).
    InfoServiceInit = 4,
    /// A service is ready to serve (`infoServiceReady`).
    InfoServiceReady = 5,
    /// A service is not ready to serve (`infoServiceNotReady`).
    InfoServiceNotReady = 6,
    /// A service registered a command (`infoServiceFunctionAdded`).
    InfoServiceFunctionAdded = 7,
    /// A service is draining before it stops (`infoServiceDrain`).
    InfoServiceDrain = 8,
    /// A service stopped (`infoServiceShutdown`).
    InfoServiceShutdown = 9,
    /// An invocation timed out (`infoInvokeTimeout`).
    InfoInvokeTimeout = 10,
    /// A subscription handler failed (`infoSubscriptionError`).
    InfoSubscriptionError = 11,
}

impl MessageType {
    /// Every message type, in the order of their codes.
    pub const ALL: [MessageType; 12] = [
        Self::Command,
        Self::CommandSuccessResponse,
        Self::CommandErrorResponse,
        Self::CustomMessage,
        Self::InfoServiceInit,
        Self::InfoServiceReady,
        Self::InfoServiceNotReady,
        Self::InfoServiceFunctionAdded,
        Self::InfoServiceDrain,
        Self::InfoServiceShutdown,
        Self::InfoInvokeTimeout,
        Self::InfoSubscriptionError,
    ];

    /// The name on the wire, in PURISTA's camelCase.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Command => "command",
            Self::CommandSuccessResponse => "commandSuccessResponse",
            Self::CommandErrorResponse => "commandErrorResponse",
            Self::CustomMessage => "customMessage",
            Self::InfoServiceInit => "infoServiceInit",
            Self::InfoServiceReady => "infoServiceReady",
            Self::InfoServiceNotReady => "infoServiceNotReady",
            Self::InfoServiceFunctionAdded => "infoServiceFunctionAdded",
            Self::InfoServiceDrain => "infoServiceDrain",
            Self::InfoServiceShutdown => "infoServiceShutdown",
            Self::InfoInvokeTimeout => "infoInvokeTimeout",
            Self::InfoSubscriptionError => "infoSubscriptionError",
        }
    }

    /// Whether this is one of the `info*` lifecycle notices.
    pub const fn is_info(self) -> bool {
        matches!(
            self,
            Self::InfoServiceInit
                | Self::InfoServiceReady
                | Self::InfoServiceNotReady
                | Self::InfoServiceFunctionAdded
                | Self::InfoServiceDrain
                | Self::InfoServiceShutdown
                | Self::InfoInvokeTimeout
                | Self::InfoSubscriptionError
        )
    }
}

impl FromStr for MessageType {
    type Err = EnvelopeError;

    /// Parses the wire name; anything else is [`EnvelopeError::UnknownMessageType`].
    fn from_str(name: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|message_type| message_type.as_str() == name)
            .ok_or_else(|| EnvelopeError::UnknownMessageType {
                name: name.to_owned(),
            })
    }
}

impl fmt::Display for MessageType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wire_names_parse_back_and_codes_follow_all() {
        for (code, message_type) in MessageType::ALL.into_iter().enumerate() {
            assert_eq!(message_type.as_str().parse(), Ok(message_type));
            assert_eq!(usize::from(message_type as u8), code);
            assert_eq!(
                message_type.is_info(),
                message_type.as_str().starts_with("info")
            );
        }
    }

    #[test]
    fn unknown_name_is_named_in_the_error() {
        assert_eq!(
            "stream".parse::<MessageType>(),
            Err(EnvelopeError::UnknownMessageType {
                name: "stream".to_owned()
            })
        );
    }
}
