//! The client: how services and the host app invoke commands and emit events. It stamps its
//! sender and carries the trace, principal and tenant of the message it acts within.

use std::future::{Future, IntoFuture};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use futures_util::future::BoxFuture;
use serde_json::Value;

use crate::broker;
use crate::contract::{CommandContract, EventContract};
use crate::envelope::MessageType;
use crate::error::{CommandError, Status};
use crate::metadata::{now_ms, Address, CallContext, Metadata};
use crate::node::Shared;
use crate::routing::{CommandKey, EventMessage, EventPayload};
use crate::text::{Id, InstanceId, Text};

/// The sender target of what a service sends on its own account, outside any handler. Never
/// empty: an empty level would vanish from the topic (PURISTA's path join drops it), and no
/// 13-level subscription filter would match the message.
pub const SERVICE_TARGET: &str = "service";

/// Invokes commands and emits events for a node.
///
/// Get one from [`Node::client`](crate::Node::client) in the host app, or from
/// [`Invocation::client`](crate::Invocation::client) and
/// [`Delivery::client`](crate::Delivery::client) in a handler; the latter carry the
/// handled message's trace, principal and tenant onto everything they send. Cloning is cheap.
#[derive(Clone)]
pub struct Client {
    shared: Arc<Shared>,
    context: Arc<CallContext>,
    /// Made within a handled message: its calls belong to work in flight, which a draining
    /// node lets finish.
    nested: bool,
}

impl Client {
    /// A client acting within a handled message.
    pub(crate) fn new(shared: Arc<Shared>, context: CallContext) -> Self {
        Client {
            shared,
            context: Arc::new(context),
            nested: true,
        }
    }

    /// A client that speaks as service `A` on its own account.
    pub(crate) fn of_service<A: crate::Service>(shared: Arc<Shared>) -> Self {
        let sender =
            Address::new(A::NAME, A::VERSION, SERVICE_TARGET).on_instance(shared.instance_id);
        Client::root(
            shared,
            CallContext {
                sender,
                trace_id: None,
                principal_id: None,
                tenant_id: None,
            },
        )
    }

    /// A client of the host app.
    pub(crate) fn root(shared: Arc<Shared>, context: CallContext) -> Self {
        Client {
            shared,
            context: Arc::new(context),
            nested: false,
        }
    }

    /// The node this client belongs to.
    pub fn instance_id(&self) -> InstanceId {
        self.shared.instance_id
    }

    /// The same client acting for `principal`.
    pub fn with_principal(&self, principal: impl Into<Text>) -> Client {
        self.with_context(|c| c.principal_id = Some(principal.into()))
    }

    /// The same client acting for `tenant`.
    pub fn with_tenant(&self, tenant: impl Into<Text>) -> Client {
        self.with_context(|c| c.tenant_id = Some(tenant.into()))
    }

    /// The same client within trace `trace`.
    pub fn with_trace_id(&self, trace: impl Into<Id>) -> Client {
        self.with_context(|c| c.trace_id = Some(trace.into()))
    }

    fn with_context(&self, change: impl FnOnce(&mut CallContext)) -> Client {
        let mut context = (*self.context).clone();
        change(&mut context);
        Client {
            shared: self.shared.clone(),
            context: Arc::new(context),
            nested: self.nested,
        }
    }

    /// Invokes command `C`: await the returned builder for the typed output or the
    /// [`CommandError`].
    pub fn invoke<C: CommandContract>(
        &self,
        payload: C::Payload,
        parameter: C::Parameter,
    ) -> Invoke<C> {
        Invoke {
            client: self.clone(),
            payload,
            parameter,
            timeout: None,
            instance: None,
        }
    }

    /// Invokes a command by its wire address with JSON payload and parameter: for gateways,
    /// and for commands whose contract types you do not have.
    pub fn invoke_json(&self, command: CommandKey, payload: Value, parameter: Value) -> InvokeJson {
        InvokeJson {
            client: self.clone(),
            command,
            payload,
            parameter,
            timeout: None,
            instance: None,
        }
    }

    /// Emits custom event `E` to its subscribers; returns how many instances got it.
    pub fn emit<E: EventContract>(&self, payload: E::Payload) -> usize {
        self.emit_payload(Text::from_static(E::EVENT), EventPayload::typed(payload))
    }

    /// Emits a custom event by name with a JSON payload; returns how many instances got it.
    pub fn emit_json(&self, event: impl Into<Text>, payload: Value) -> usize {
        self.emit_payload(event.into(), EventPayload::json(payload))
    }

    fn emit_payload(&self, event: Text, payload: EventPayload) -> usize {
        let meta = self.metadata(MessageType::CustomMessage, None, Some(event), None);
        broker::publish(
            &self.shared,
            EventMessage {
                meta: Arc::new(meta),
                payload,
            },
        )
    }

    /// The metadata of a message this client sends.
    fn metadata(
        &self,
        message_type: MessageType,
        correlation_id: Option<Id>,
        event_name: Option<Text>,
        receiver: Option<Address>,
    ) -> Metadata {
        let c = &*self.context;
        Metadata {
            message_type,
            id: Id::random(),
            correlation_id,
            trace_id: c.trace_id.clone().unwrap_or_else(Id::random),
            principal_id: c.principal_id.clone(),
            tenant_id: c.tenant_id.clone(),
            event_name,
            sender: c.sender.clone(),
            receiver,
            timestamp_ms: now_ms(),
        }
    }

    /// Refuses new work from outside while the node drains.
    fn admit(&self) -> Result<(), CommandError> {
        if self.nested || self.shared.accepting() {
            Ok(())
        } else {
            Err(CommandError::unhandled(
                Status::SERVICE_UNAVAILABLE,
                "node is shutting down",
            ))
        }
    }

    fn command_metadata(&self, key: &CommandKey, instance: Option<InstanceId>) -> Box<Metadata> {
        let receiver = Address {
            service_name: key.service.clone(),
            service_version: key.version.clone(),
            service_target: key.command.clone(),
            instance_id: instance,
        };
        Box::new(self.metadata(
            MessageType::Command,
            Some(Id::random()),
            None,
            Some(receiver),
        ))
    }
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("node", &self.shared.instance_id)
            .field("sender", &self.context.sender)
            .finish()
    }
}

/// A pending invoke of command `C`; set options, then `.await` it.
///
/// The command is sent when the builder becomes a future (`.await`, or
/// [`IntoFuture::into_future`] to hold the [`InvokeFuture`]), and its deadline starts then.
#[must_use = "an invoke does nothing until awaited"]
pub struct Invoke<C: CommandContract> {
    client: Client,
    payload: C::Payload,
    parameter: C::Parameter,
    timeout: Option<Duration>,
    instance: Option<InstanceId>,
}

impl<C: CommandContract> Invoke<C> {
    /// Waits at most `timeout` for the answer instead of the node's default.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// Only the node with this instance id may handle the command.
    pub fn on_instance(mut self, instance: InstanceId) -> Self {
        self.instance = Some(instance);
        self
    }
}

impl<C: CommandContract> IntoFuture for Invoke<C> {
    type Output = Result<C::Output, CommandError>;
    type IntoFuture = InvokeFuture<C>;

    /// Sends the command: the future waits for its answer.
    fn into_future(self) -> InvokeFuture<C> {
        let client = self.client;
        let call = match client.admit() {
            Ok(()) => {
                let key = CommandKey::of::<C>();
                let meta = client.command_metadata(&key, self.instance);
                let timeout = self.timeout.unwrap_or(client.shared.default_timeout);
                broker::dispatch::<C>(
                    &client.shared,
                    meta,
                    self.payload,
                    self.parameter,
                    timeout,
                    true,
                )
            }
            Err(err) => broker::Call::ready(Err(err)),
        };
        InvokeFuture { call }
    }
}

pin_project_lite::pin_project! {
    /// The answer of a command sent with [`Invoke`]: its typed output, or the
    /// [`CommandError`].
    #[must_use = "the answer is lost unless awaited"]
    pub struct InvokeFuture<C: CommandContract> {
        #[pin]
        call: broker::Call<C>,
    }
}

impl<C: CommandContract> Future for InvokeFuture<C> {
    type Output = Result<C::Output, CommandError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        self.project().call.poll(cx)
    }
}

impl<C: CommandContract> std::fmt::Debug for InvokeFuture<C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("InvokeFuture")
            .field("command", &CommandKey::of::<C>())
            .finish()
    }
}

/// A pending invoke by wire address; set options, then `.await` it.
#[must_use = "an invoke does nothing until awaited"]
pub struct InvokeJson {
    client: Client,
    command: CommandKey,
    payload: Value,
    parameter: Value,
    timeout: Option<Duration>,
    instance: Option<InstanceId>,
}

impl InvokeJson {
    /// Waits at most `timeout` for the answer instead of the node's default.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// Only the node with this instance id may handle the command.
    pub fn on_instance(mut self, instance: InstanceId) -> Self {
        self.instance = Some(instance);
        self
    }
}

impl IntoFuture for InvokeJson {
    type Output = Result<Value, CommandError>;
    type IntoFuture = BoxFuture<'static, Self::Output>;

    fn into_future(self) -> Self::IntoFuture {
        Box::pin(async move {
            let client = self.client;
            client.admit()?;
            let meta = client.command_metadata(&self.command, self.instance);
            let timeout = self.timeout.unwrap_or(client.shared.default_timeout);
            let shared = &client.shared;
            let elsewhere = self.instance.is_some_and(|i| i != shared.instance_id);
            match shared
                .routes
                .json_command(&self.command)
                .filter(|_| !elsewhere)
            {
                Some(route) => {
                    route
                        .invoke(
                            shared.clone(),
                            *meta,
                            self.payload,
                            self.parameter,
                            timeout,
                            true,
                        )
                        .await
                }
                None => match shared.bridge() {
                    Some(bridge) => {
                        let _in_flight = shared.enter();
                        let command =
                            crate::bridge::command_envelope(&meta, self.payload, self.parameter);
                        bridge.invoke(command, timeout).await
                    }
                    None => Err(broker::no_instance(&self.command)),
                },
            }
        })
    }
}
