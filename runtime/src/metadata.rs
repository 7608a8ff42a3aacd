//! Metadata: what every handled message tells its handler besides the payload, and the call
//! context a [`Client`](crate::Client) propagates to the commands and events that follow.

use std::time::{SystemTime, UNIX_EPOCH};

use crate::envelope::MessageType;
use crate::text::{Id, InstanceId, Text};

/// Where a message comes from or goes to: a service, its version, a target (the command, or
/// the subscription) and, once known, the node instance.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Address {
    /// The service's name.
    pub service_name: Text,
    /// The service's version.
    pub service_version: Text,
    /// The command or subscription within the service; empty for the service itself.
    pub service_target: Text,
    /// The node instance, when one is meant.
    pub instance_id: Option<InstanceId>,
}

impl Address {
    /// An address without an instance.
    pub fn new(name: impl Into<Text>, version: impl Into<Text>, target: impl Into<Text>) -> Self {
        Address {
            service_name: name.into(),
            service_version: version.into(),
            service_target: target.into(),
            instance_id: None,
        }
    }

    /// The same address on one instance.
    pub fn on_instance(mut self, instance: InstanceId) -> Self {
        self.instance_id = Some(instance);
        self
    }
}

/// The envelope fields of a handled message, without its payload.
#[derive(Debug, Clone)]
pub struct Metadata {
    pub(crate) message_type: MessageType,
    pub(crate) id: Id,
    pub(crate) correlation_id: Option<Id>,
    pub(crate) trace_id: Id,
    pub(crate) principal_id: Option<Text>,
    pub(crate) tenant_id: Option<Text>,
    pub(crate) event_name: Option<Text>,
    pub(crate) sender: Address,
    pub(crate) receiver: Option<Address>,
    pub(crate) timestamp_ms: u64,
}

impl Metadata {
    /// The kind of message that carried this one (`command`, `commandSuccessResponse` for a
    /// success event, `customMessage` for a custom event).
    pub fn message_type(&self) -> MessageType {
        self.message_type
    }
    /// The message's own id.
    pub fn id(&self) -> &Id {
        &self.id
    }
    /// The id that pairs a command with its response.
    pub fn correlation_id(&self) -> Option<&Id> {
        self.correlation_id.as_ref()
    }
    /// The trace this message belongs to; propagated to everything it causes.
    pub fn trace_id(&self) -> &Id {
        &self.trace_id
    }
    /// Who the message acts for, if anyone.
    pub fn principal_id(&self) -> Option<&str> {
        self.principal_id.as_deref()
    }
    /// Which tenant the message belongs to, if any.
    pub fn tenant_id(&self) -> Option<&str> {
        self.tenant_id.as_deref()
    }
    /// The event's name, for events.
    pub fn event_name(&self) -> Option<&str> {
        self.event_name.as_deref()
    }
    /// Who sent it.
    pub fn sender(&self) -> &Address {
        &self.sender
    }
    /// Who it was sent to, for commands.
    pub fn receiver(&self) -> Option<&Address> {
        self.receiver.as_ref()
    }
    /// When it was sent, in milliseconds since the Unix epoch.
    pub fn timestamp_ms(&self) -> u64 {
        self.timestamp_ms
    }
}

/// What a [`Client`](crate::Client) stamps on everything it sends: who sends, and the trace,
/// principal and tenant it carries forward.
#[derive(Debug, Clone)]
pub(crate) struct CallContext {
    pub(crate) sender: Address,
    pub(crate) trace_id: Option<Id>,
    pub(crate) principal_id: Option<Text>,
    pub(crate) tenant_id: Option<Text>,
}

impl CallContext {
    /// The context a handler of `meta` works in: it speaks as the receiver it is, within the
    /// same trace, for the same principal and tenant.
    pub(crate) fn within(meta: &Metadata, me: Address) -> Self {
        CallContext {
            sender: me,
            trace_id: Some(meta.trace_id.clone()),
            principal_id: meta.principal_id.clone(),
            tenant_id: meta.tenant_id.clone(),
        }
    }
}

/// Milliseconds since the Unix epoch.
pub(crate) fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}
