//! Lifecycle: what the node tells others when services start and stop.
//!
//! Two audiences. Actors of the host app subscribe through actix-broker to
//! [`ServiceStarted`] and [`ServiceStopped`] (`self.subscribe_system_async::<ServiceStarted>(ctx)`).
//! PURISTA's `info*` envelopes go to the node's bridge, if any, through
//! [`Bridge::publish`](crate::Bridge::publish) (those of the start once it is attached), and to
//! readers of [`Node::info_messages`](crate::Node::info_messages).

use std::collections::VecDeque;
use std::sync::Mutex;

use actix::Message;
use actix_broker::{Broker, SystemBroker};
use serde_json::json;
use tokio::sync::broadcast;

use crate::envelope::{Envelope, MessageType, ServiceAddress};
use crate::node::{ServiceInfo, Shared};
use crate::service::Service;
use crate::text::{Id, InstanceId};

/// An instance of a service has started and reads its mailbox. Issued on the system broker.
#[derive(Debug, Clone, PartialEq, Eq, Message)]
#[rtype(result = "()")]
#[non_exhaustive]
pub struct ServiceStarted {
    /// The node the instance belongs to.
    pub node: InstanceId,
    /// The service's name.
    pub service: &'static str,
    /// The service's version.
    pub version: &'static str,
    /// Which of the service's instances on that node (from 0).
    pub instance: usize,
}

/// An instance of a service has stopped. Issued on the system broker.
#[derive(Debug, Clone, PartialEq, Eq, Message)]
#[rtype(result = "()")]
#[non_exhaustive]
pub struct ServiceStopped {
    /// The node the instance belonged to.
    pub node: InstanceId,
    /// The service's name.
    pub service: &'static str,
    /// The service's version.
    pub version: &'static str,
    /// Which of the service's instances on that node (from 0).
    pub instance: usize,
}

/// A node's bridge has connected to its broker. Issued on the system broker.
#[derive(Debug, Clone, PartialEq, Eq, Message)]
#[rtype(result = "()")]
#[non_exhaustive]
pub struct BridgeConnected {
    /// The node the bridge belongs to.
    pub node: InstanceId,
    /// Which bridge (`mqtt`).
    pub bridge: &'static str,
}

/// A node's bridge has lost its connection. Issued on the system broker.
#[derive(Debug, Clone, PartialEq, Eq, Message)]
#[rtype(result = "()")]
#[non_exhaustive]
pub struct BridgeDisconnected {
    /// The node the bridge belongs to.
    pub node: InstanceId,
    /// Which bridge (`mqtt`).
    pub bridge: &'static str,
    /// What happened.
    pub reason: String,
}

pub(crate) fn bridge_connected(node: InstanceId, bridge: &'static str) {
    Broker::<SystemBroker>::issue_async(BridgeConnected { node, bridge });
}

pub(crate) fn bridge_disconnected(node: InstanceId, bridge: &'static str, reason: String) {
    Broker::<SystemBroker>::issue_async(BridgeDisconnected {
        node,
        bridge,
        reason,
    });
}

pub(crate) fn service_started<A: Service>(node: InstanceId, instance: usize) {
    Broker::<SystemBroker>::issue_async(ServiceStarted {
        node,
        service: A::NAME,
        version: A::VERSION,
        instance,
    });
}

pub(crate) fn service_stopped<A: Service>(node: InstanceId, instance: usize) {
    Broker::<SystemBroker>::issue_async(ServiceStopped {
        node,
        service: A::NAME,
        version: A::VERSION,
        instance,
    });
}

/// The node's `info*` envelopes: those of its start, kept so a late reader misses none, and
/// the live feed of what follows.
pub(crate) struct InfoLog {
    started: Mutex<Vec<Envelope>>,
    live: broadcast::Sender<Envelope>,
}

impl InfoLog {
    pub(crate) fn new() -> Self {
        InfoLog {
            started: Mutex::new(Vec::new()),
            live: broadcast::channel(256).0,
        }
    }

    fn issue(&self, envelope: Envelope, keep: bool) {
        let mut started = self.started.lock().unwrap_or_else(|e| e.into_inner());
        if keep {
            started.push(envelope.clone());
        }
        // No reader yet is fine: readers that come later get the kept ones first.
        let _ = self.live.send(envelope);
    }

    /// The notices of the node's start.
    pub(crate) fn started(&self) -> Vec<Envelope> {
        self.started
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    pub(crate) fn subscribe(&self) -> InfoMessages {
        let started = self.started.lock().unwrap_or_else(|e| e.into_inner());
        InfoMessages {
            backlog: started.iter().cloned().collect(),
            live: self.live.subscribe(),
        }
    }
}

/// A reader of a node's PURISTA `info*` envelopes: first those issued when the node started,
/// then each one as it is issued (drain, shutdown).
#[derive(Debug)]
pub struct InfoMessages {
    backlog: VecDeque<Envelope>,
    live: broadcast::Receiver<Envelope>,
}

impl InfoMessages {
    /// The next envelope; `None` once the node is gone. A reader that falls more than 256
    /// envelopes behind skips the oldest.
    pub async fn recv(&mut self) -> Option<Envelope> {
        if let Some(envelope) = self.backlog.pop_front() {
            return Some(envelope);
        }
        loop {
            match self.live.recv().await {
                Ok(envelope) => return Some(envelope),
                Err(broadcast::error::RecvError::Lagged(skipped)) => {
                    tracing::warn!(skipped, "info reader fell behind");
                }
                Err(broadcast::error::RecvError::Closed) => return None,
            }
        }
    }
}

/// What PURISTA issues when a service starts: `infoServiceInit`, one
/// `infoServiceFunctionAdded` per command, then `infoServiceReady`.
pub(crate) fn service_starting(shared: &Shared, service: &ServiceInfo) {
    info(shared, service, MessageType::InfoServiceInit);
    for command in &service.commands {
        let mut envelope = info_envelope(
            shared.instance_id,
            service,
            MessageType::InfoServiceFunctionAdded,
        );
        envelope.sender.service_target = command.command.to_string();
        envelope.payload = Some(json!({
            "expose": {
                "contentTypeRequest": "application/json",
                "contentEncodingRequest": "utf-8",
                "contentTypeResponse": "application/json",
                "contentEncodingResponse": "utf-8",
                "deprecated": false,
            }
        }));
        issue(shared, envelope, true);
    }
}

/// Issues a notice: kept for late readers if `keep`, and handed to the bridge, if any.
fn issue(shared: &Shared, envelope: Envelope, keep: bool) {
    if let Some(bridge) = shared.bridge() {
        bridge.publish(envelope.clone());
    }
    shared.info.issue(envelope, keep);
}

/// An `info*` notice about `service` with no payload. Those of a node's start are kept for
/// late readers.
pub(crate) fn info(shared: &Shared, service: &ServiceInfo, message_type: MessageType) {
    let keep = matches!(
        message_type,
        MessageType::InfoServiceInit | MessageType::InfoServiceReady
    );
    issue(
        shared,
        info_envelope(shared.instance_id, service, message_type),
        keep,
    );
}

fn info_envelope(node: InstanceId, service: &ServiceInfo, message_type: MessageType) -> Envelope {
    let sender =
        ServiceAddress::new(service.name, service.version, "").with_instance_id(node.to_string());
    let mut envelope = Envelope::new(message_type, sender);
    envelope.trace_id = Some(Id::random().to_string());
    envelope
}
