//! Service addresses: who sent an envelope and who it is for.

use serde::{Deserialize, Serialize};

/// One end of a message: a service, the command or subscription in it, and the node
/// instance that runs it.
///
/// PURISTA requires `instanceId` on every sender and on the receiver of a response; a
/// command's receiver names an instance only when the caller targets one node.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ServiceAddress {
    /// The service's name (`UserService`).
    pub service_name: String,
    /// The service's version (`1`).
    pub service_version: String,
    /// The command, subscription or event handler inside the service (`createUser`); empty
    /// on a service's own lifecycle notices.
    pub service_target: String,
    /// The node instance (32 lowercase hex), when known or required.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instance_id: Option<String>,
}

impl ServiceAddress {
    /// An address with no instance id.
    pub fn new(
        service_name: impl Into<String>,
        service_version: impl Into<String>,
        service_target: impl Into<String>,
    ) -> Self {
        Self {
            service_name: service_name.into(),
            service_version: service_version.into(),
            service_target: service_target.into(),
            instance_id: None,
        }
    }

    /// The same address on the node instance `instance_id`.
    pub fn with_instance_id(self, instance_id: impl Into<String>) -> Self {
        Self {
            instance_id: Some(instance_id.into()),
            ..self
        }
    }
}
