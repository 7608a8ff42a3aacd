//! Bridges: how a node reaches beyond its process. The runtime knows no transport; a bridge
//! crate implements [`Bridge`] and is attached with
//! [`NodeBuilder::bridge`](crate::NodeBuilder::bridge), which hands it a [`BridgeLink`] to the
//! node.
//!
//! With a bridge attached, a command that no local instance handles, or that names another
//! node's instance, goes to the bridge; events go to the bridge only, and come back to local
//! subscribers through it, so that each subscribing service gets each event once wherever its
//! instances run (design §3 rule 3).

use std::future::Future;
use std::sync::{Arc, Weak};
use std::time::Duration;

use futures_util::future::BoxFuture;
use serde_json::{Map, Value};

use crate::envelope::{Envelope, EnvelopeError, ErrorPayload, MessageType, ServiceAddress};
use crate::error::{CommandError, Status};
use crate::lifecycle;
use crate::metadata::{Address, Metadata};
use crate::node::Shared;
use crate::routing::{CommandKey, EventMessage, EventPayload};
use crate::subscription::Filter;
use crate::text::{Id, InstanceId, Text};

/// A transport that joins a node to other nodes.
pub trait Bridge: Send + Sync + 'static {
    /// Sends `command` to whichever node handles it and waits, at most `timeout`, for the
    /// answer: the output as JSON, or the error the handler or the transport produced.
    ///
    /// The command leaves (or is queued to leave) when this is called, as a local invoke is
    /// in the mailbox once dispatched; the future only waits for the answer. Dropping it
    /// stops the wait, and a bridge should then drop a command it has not sent yet.
    fn invoke(
        &self,
        command: Envelope,
        timeout: Duration,
    ) -> BoxFuture<'static, Result<Value, CommandError>>;

    /// Publishes an event: a `customMessage`, or a `commandSuccessResponse` that carries an
    /// `eventName`.
    fn publish(&self, event: Envelope);

    /// The node starts draining: stop taking new commands from elsewhere (leave shared
    /// subscriptions) and take in what is already queued for this node. Events still reach
    /// the bridge until [`Bridge::close`].
    fn leave(&self) -> BoxFuture<'static, ()> {
        Box::pin(async {})
    }

    /// The node's handlers are done: send what is still queued, end the session, disconnect.
    fn close(&self) -> BoxFuture<'static, ()> {
        Box::pin(async {})
    }
}

/// A subscription of a local service, as a bridge needs it to subscribe on its behalf.
#[derive(Debug, Clone)]
pub struct LocalSubscription {
    /// The subscribing service, with the subscription's name as target.
    pub subscriber: Address,
    /// Which events it wants.
    pub filter: Filter,
    /// Whether every instance, on every node, gets each event.
    pub every_instance: bool,
}

/// Why an incoming message was not taken.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum InboundError {
    /// The node is gone.
    #[error("the node has stopped")]
    NodeGone,
    /// The envelope lacks something the runtime needs, or has it in the wrong form.
    #[error("invalid envelope: {0}")]
    Envelope(String),
    /// No local subscription by that name.
    #[error("no local subscription {0}")]
    NoSubscription(String),
}

/// A bridge's handle on its node: what runs here, and the way in for messages from elsewhere.
#[derive(Clone)]
pub struct BridgeLink {
    shared: Weak<Shared>,
    instance_id: InstanceId,
}

impl BridgeLink {
    pub(crate) fn new(shared: &Arc<Shared>) -> Self {
        BridgeLink {
            shared: Arc::downgrade(shared),
            instance_id: shared.instance_id,
        }
    }

    fn shared(&self) -> Result<Arc<Shared>, InboundError> {
        self.shared.upgrade().ok_or(InboundError::NodeGone)
    }

    /// The node's instance id.
    pub fn instance_id(&self) -> InstanceId {
        self.instance_id
    }

    /// The commands local instances handle.
    pub fn commands(&self) -> Vec<CommandKey> {
        self.shared()
            .map(|s| s.routes.command_keys())
            .unwrap_or_default()
    }

    /// The subscriptions of local services.
    pub fn subscriptions(&self) -> Vec<LocalSubscription> {
        self.shared()
            .map(|s| s.routes.subscriptions())
            .unwrap_or_default()
    }

    /// Whether the node still takes commands from elsewhere: until its instances stop, so
    /// that commands routed here before the bridge left are answered.
    pub fn accepting(&self) -> bool {
        self.shared().is_ok_and(|s| s.serving())
    }

    /// Runs a command that came from elsewhere on a local instance and returns the response
    /// envelope to send back: success (with the command's success event name, if it has one:
    /// that one message is both the response and the event, as PURISTA sends it) or error.
    ///
    /// The command is in the instance's mailbox (or answered) when this returns; the future
    /// only waits for the answer and owns what it needs, so a bridge can spawn it as it is.
    pub fn handle_command(
        &self,
        command: &Envelope,
        timeout: Duration,
    ) -> impl Future<Output = Envelope> + Send + 'static {
        self.handle_owned_command(command.clone(), timeout)
    }

    /// [`BridgeLink::handle_command`] for a command the bridge no longer needs: its payload
    /// and parameter are handed to the handler as they are, not copied.
    pub fn handle_owned_command(
        &self,
        mut command: Envelope,
        timeout: Duration,
    ) -> impl Future<Output = Envelope> + Send + 'static {
        let checked = command.command_payload().map(|_| ());
        let body = checked.map(|()| take_command_payload(&mut command));
        let started = self.start_command(&command, body, timeout);
        started.finish(Box::new(command))
    }

    /// Checks the command and hands it to a local instance, or decides its answer at once.
    fn start_command(
        &self,
        command: &Envelope,
        body: Result<(Value, Value), EnvelopeError>,
        timeout: Duration,
    ) -> Started {
        let me = |key: &CommandKey| {
            ServiceAddress::new(
                key.service.as_str(),
                key.version.as_str(),
                key.command.as_str(),
            )
            .with_instance_id(self.instance_id.to_string())
        };
        let Some(receiver) = command.receiver.as_ref() else {
            let err = CommandError::unhandled(Status::BAD_REQUEST, "command without receiver");
            let unknown = ServiceAddress::new("unknown", "unknown", "unknown")
                .with_instance_id(self.instance_id.to_string());
            return Started::Answered(Box::new(error_response(command, unknown, err)));
        };
        let key = CommandKey::new(
            text(&receiver.service_name),
            text(&receiver.service_version),
            text(&receiver.service_target),
        );
        let responder = me(&key);
        let shared = match self.shared() {
            Ok(shared) if shared.serving() => shared,
            _ => {
                let err =
                    CommandError::unhandled(Status::SERVICE_UNAVAILABLE, "node is shutting down");
                return Started::Answered(Box::new(error_response(command, responder, err)));
            }
        };
        let refused = |message: String| {
            let err = CommandError::unhandled(Status::BAD_REQUEST, message);
            Started::Answered(Box::new(error_response(command, responder.clone(), err)))
        };
        let (meta, (payload, parameter)) = match (command_metadata(command, &key), body) {
            (Ok(meta), Ok(body)) => (meta, body),
            (Err(err), _) => return refused(err.to_string()),
            (_, Err(err)) => return refused(err.to_string()),
        };
        match shared.routes.json_command(&key) {
            Some(route) => Started::Running {
                event: route.success_event(),
                answer: route.invoke(shared.clone(), meta, payload, parameter, timeout, false),
                responder,
            },
            None => {
                let err = crate::broker::no_instance(&key);
                Started::Answered(Box::new(error_response(command, responder, err)))
            }
        }
    }

    /// Hands an event that came from elsewhere to the local subscription of `subscriber`
    /// (service, version, subscription name): to one instance, or to every instance if the
    /// subscription asks for it. Returns how many instances got it.
    pub fn deliver_event(
        &self,
        subscriber: &Address,
        event: &Envelope,
    ) -> Result<usize, InboundError> {
        let payload = event.payload.clone().unwrap_or(Value::Null);
        self.deliver(subscriber, event, payload)
    }

    /// [`BridgeLink::deliver_event`] for an event the bridge no longer needs: its payload is
    /// handed on as it is, not copied.
    pub fn deliver_owned_event(
        &self,
        subscriber: &Address,
        mut event: Envelope,
    ) -> Result<usize, InboundError> {
        let payload = event.payload.take().unwrap_or(Value::Null);
        self.deliver(subscriber, &event, payload)
    }

    fn deliver(
        &self,
        subscriber: &Address,
        event: &Envelope,
        payload: Value,
    ) -> Result<usize, InboundError> {
        let shared = self.shared()?;
        let meta = metadata(event)?;
        let message = EventMessage {
            meta: Arc::new(meta),
            payload: EventPayload::json(payload),
        };
        shared
            .routes
            .deliver_to(subscriber, &message, &shared)
            .ok_or_else(|| {
                InboundError::NoSubscription(format!(
                    "{}/{}/{}",
                    subscriber.service_name, subscriber.service_version, subscriber.service_target
                ))
            })
    }

    /// Tells the host app the bridge is connected (actix-broker notice).
    pub fn connected(&self, bridge: &'static str) {
        lifecycle::bridge_connected(self.instance_id, bridge);
    }

    /// Tells the host app the bridge has lost its connection, and why.
    pub fn disconnected(&self, bridge: &'static str, reason: impl Into<String>) {
        lifecycle::bridge_disconnected(self.instance_id, bridge, reason.into());
    }
}

/// A command from elsewhere, handed to a local instance or answered at once.
enum Started {
    /// Decided without a handler: the error response (boxed: the future that holds it stays
    /// small).
    Answered(Box<Envelope>),
    /// In an instance's mailbox.
    Running {
        answer: BoxFuture<'static, Result<Value, CommandError>>,
        event: Option<&'static str>,
        responder: ServiceAddress,
    },
}

impl Started {
    /// The response to `command` once the handler has answered.
    async fn finish(self, command: Box<Envelope>) -> Envelope {
        let (answer, event, responder) = match self {
            Started::Answered(response) => return *response,
            Started::Running {
                answer,
                event,
                responder,
            } => (answer, event, responder),
        };
        match answer.await {
            Ok(output) => {
                // The response hands on the command's trace id, principal and tenant.
                let mut response = command.success_response(responder, Some(output));
                response.event_name = event.map(str::to_owned);
                response
            }
            Err(err) => error_response(&command, responder, err),
        }
    }
}

fn error_response(command: &Envelope, responder: ServiceAddress, err: CommandError) -> Envelope {
    let mut payload = ErrorPayload::new(err.status.code(), err.message);
    payload.data = err.data;
    command.error_response(responder, err.handled, payload)
}

/// The body of a `command` whose [`Envelope::command_payload`] is valid, moved out of it:
/// payload (`null` when absent) and parameter.
fn take_command_payload(command: &mut Envelope) -> (Value, Value) {
    match command.payload.as_mut() {
        Some(Value::Object(body)) => (
            body.shift_remove("payload").unwrap_or(Value::Null),
            body.shift_remove("parameter").unwrap_or(Value::Null),
        ),
        _ => (Value::Null, Value::Null),
    }
}

/// A text made from a borrowed string: one allocation, where `String` to [`Text`] takes two.
fn text(s: &str) -> Text {
    Text::from(Arc::<str>::from(s))
}

/// The metadata of a command that arrived from elsewhere, whose receiver is `key` (made from
/// the same names): the receiver shares its texts.
fn command_metadata(command: &Envelope, key: &CommandKey) -> Result<Metadata, InboundError> {
    let header = header(command)?;
    let receiver = match command.receiver.as_ref() {
        Some(wire) => Some(Address {
            service_name: key.service.clone(),
            service_version: key.version.clone(),
            service_target: key.command.clone(),
            instance_id: instance_id(wire)?,
        }),
        None => None,
    };
    Ok(Metadata { receiver, ..header })
}

/// The metadata of an envelope that arrived from elsewhere.
pub(crate) fn metadata(envelope: &Envelope) -> Result<Metadata, InboundError> {
    let header = header(envelope)?;
    Ok(Metadata {
        receiver: envelope.receiver.as_ref().map(address).transpose()?,
        ..header
    })
}

/// The metadata of an envelope, without a receiver.
fn header(envelope: &Envelope) -> Result<Metadata, InboundError> {
    Ok(Metadata {
        message_type: envelope.message_type,
        id: Id::from(text(&envelope.id)),
        correlation_id: envelope
            .correlation_id
            .as_deref()
            .map(|id| Id::from(text(id))),
        trace_id: envelope
            .trace_id
            .as_deref()
            .map_or_else(Id::random, |id| Id::from(text(id))),
        principal_id: envelope.principal_id.as_deref().map(text),
        tenant_id: envelope.tenant_id.as_deref().map(text),
        event_name: envelope.event_name.as_deref().map(text),
        sender: address(&envelope.sender)?,
        receiver: None,
        timestamp_ms: envelope.timestamp,
    })
}

fn instance_id(wire: &ServiceAddress) -> Result<Option<InstanceId>, InboundError> {
    wire.instance_id
        .as_deref()
        .map(str::parse::<InstanceId>)
        .transpose()
        .map_err(|e| InboundError::Envelope(e.to_string()))
}

fn address(wire: &ServiceAddress) -> Result<Address, InboundError> {
    Ok(Address {
        service_name: text(&wire.service_name),
        service_version: text(&wire.service_version),
        service_target: text(&wire.service_target),
        instance_id: instance_id(wire)?,
    })
}

/// The wire form of an address.
pub(crate) fn wire_address(address: &Address) -> ServiceAddress {
    ServiceAddress {
        service_name: address.service_name.as_str().to_owned(),
        service_version: address.service_version.as_str().to_owned(),
        service_target: address.service_target.as_str().to_owned(),
        instance_id: address.instance_id.map(|instance| instance.to_string()),
    }
}

/// An envelope from local metadata, with the ids, time, trace, principal and tenant of
/// `meta`, sent by `meta.sender`, and nothing else set.
fn stamped(message_type: MessageType, meta: &Metadata) -> Envelope {
    Envelope {
        message_type,
        id: meta.id.to_string(),
        timestamp: meta.timestamp_ms,
        content_type: "application/json".to_owned(),
        content_encoding: "utf-8".to_owned(),
        correlation_id: meta.correlation_id.as_ref().map(Id::to_string),
        trace_id: Some(meta.trace_id.to_string()),
        principal_id: meta.principal_id.as_ref().map(Text::to_string),
        tenant_id: meta.tenant_id.as_ref().map(Text::to_string),
        event_name: None,
        is_handled_error: None,
        sender: wire_address(&meta.sender),
        receiver: None,
        payload: None,
        otp: None,
        extra: Map::new(),
    }
}

/// The `command` envelope of a local call going elsewhere.
pub(crate) fn command_envelope(meta: &Metadata, payload: Value, parameter: Value) -> Envelope {
    let receiver = meta
        .receiver
        .as_ref()
        .map(wire_address)
        .unwrap_or_else(|| ServiceAddress::new("unknown", "unknown", "unknown"));
    let mut body = Map::with_capacity(2);
    body.insert("payload".to_owned(), payload);
    body.insert("parameter".to_owned(), parameter);
    Envelope {
        receiver: Some(receiver),
        payload: Some(Value::Object(body)),
        ..stamped(MessageType::Command, meta)
    }
}

/// The envelope of a local event going elsewhere: a custom message, or a success response
/// that carries the event.
pub(crate) fn event_envelope(meta: &Metadata, payload: Value) -> Envelope {
    let mut envelope = Envelope {
        event_name: meta.event_name.as_ref().map(Text::to_string),
        receiver: meta.receiver.as_ref().map(wire_address),
        payload: Some(payload),
        ..stamped(meta.message_type, meta)
    };
    if meta.message_type == MessageType::CommandSuccessResponse && envelope.correlation_id.is_none()
    {
        envelope.correlation_id = Some(Id::random().to_string());
    }
    envelope
}
