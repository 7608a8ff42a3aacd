//! Services are actix actors: [`Service`] names one and declares what it handles; commands
//! arrive as [`Invocation`]s, events as [`Delivery`]s.

use std::marker::PhantomData;
use std::ops::Deref;
use std::sync::Arc;

use actix::{Actor, Context, Handler, Message};

use crate::client::Client;
use crate::contract::{CommandContract, EventContract};
use crate::error::CommandError;
use crate::metadata::{Address, CallContext, Metadata};
use crate::node::Shared;
use crate::subscription::Subscription;

/// A service: an actix actor with a name and version that declares the commands it handles
/// and the events it subscribes to.
///
/// ```
/// use actix::prelude::*;
/// use serde::{Deserialize, Serialize};
/// use tributary::{CommandContract, CommandResult, Empty, Invocation, Registrar, Service};
///
/// # #[derive(Clone, Serialize, Deserialize)] pub struct Sum { a: i64, b: i64 }
/// pub struct Add;
/// impl CommandContract for Add {
///     const SERVICE: &'static str = "calc";
///     const VERSION: &'static str = "1";
///     const COMMAND: &'static str = "add";
///     type Payload = Sum;
///     type Parameter = Empty;
///     type Output = i64;
/// }
///
/// struct Calc;
/// impl Actor for Calc { type Context = Context<Self>; }
/// impl Service for Calc {
///     const NAME: &'static str = "calc";
///     const VERSION: &'static str = "1";
///     fn register(service: &mut Registrar<Self>) {
///         service.command::<Add>();
///     }
/// }
/// impl Handler<Invocation<Add>> for Calc {
///     type Result = CommandResult<Add>;
///     fn handle(&mut self, call: Invocation<Add>, _: &mut Context<Self>) -> Self::Result {
///         Ok(call.payload.a + call.payload.b)
///     }
/// }
/// ```
pub trait Service: Actor<Context = Context<Self>> {
    /// The service's name, as contracts and the wire name it.
    const NAME: &'static str;
    /// The service's version.
    const VERSION: &'static str;
    /// Declares the commands this service handles and the events it subscribes to.
    fn register(service: &mut Registrar<Self>);
}

/// What a command handler returns: the contract's output, or the error for the caller.
pub type CommandResult<C> = Result<<C as CommandContract>::Output, CommandError>;

/// A command, delivered to the mailbox of one instance of the service that handles it.
pub struct Invocation<C: CommandContract> {
    /// What the caller sent.
    pub payload: C::Payload,
    /// The options that came with it.
    pub parameter: C::Parameter,
    pub(crate) meta: Box<Metadata>,
    pub(crate) shared: Arc<Shared>,
    pub(crate) span: tracing::Span,
}

impl<C: CommandContract> Message for Invocation<C> {
    type Result = CommandResult<C>;
}

impl<C: CommandContract> Invocation<C> {
    /// The command's ids, trace, principal, tenant, sender and receiver.
    pub fn meta(&self) -> &Metadata {
        &self.meta
    }

    /// A client that invokes and emits on behalf of this command: it speaks as this service
    /// and command, and carries the trace, principal and tenant forward.
    pub fn client(&self) -> Client {
        let me =
            Address::new(C::SERVICE, C::VERSION, C::COMMAND).on_instance(self.shared.instance_id);
        Client::new(self.shared.clone(), CallContext::within(&self.meta, me))
    }

    /// The span the runtime opened for this command (service, command, correlation and trace
    /// id); enter it, or instrument a future with it, to log within it.
    pub fn span(&self) -> &tracing::Span {
        &self.span
    }
}

/// An event, delivered to the mailbox of a subscribing service's instance.
pub struct Delivery<E: EventContract> {
    pub(crate) payload: Arc<E::Payload>,
    pub(crate) meta: Arc<Metadata>,
    pub(crate) shared: Arc<Shared>,
    pub(crate) subscriber: Arc<Address>,
}

impl<E: EventContract> Message for Delivery<E> {
    type Result = ();
}

impl<E: EventContract> Delivery<E> {
    /// The event's payload, shared between the subscribers that received it.
    pub fn payload(&self) -> &E::Payload {
        &self.payload
    }

    /// The payload as an owned value (a clone when other subscribers still hold it).
    pub fn into_payload(self) -> E::Payload {
        Arc::try_unwrap(self.payload).unwrap_or_else(|shared| (*shared).clone())
    }

    /// The event's ids, trace, principal, tenant and sender.
    pub fn meta(&self) -> &Metadata {
        &self.meta
    }

    /// The name of the subscription that delivered the event (a service may subscribe to
    /// one event more than once, with different filters).
    pub fn subscription(&self) -> &str {
        &self.subscriber.service_target
    }

    /// A client that speaks as the subscribing service and carries the event's trace,
    /// principal and tenant forward.
    pub fn client(&self) -> Client {
        // On this node's instance, as every other client speaks: a bridge refuses to publish
        // an event whose sender names no instance.
        let me = (*self.subscriber)
            .clone()
            .on_instance(self.shared.instance_id);
        Client::new(self.shared.clone(), CallContext::within(&self.meta, me))
    }
}

impl<E: EventContract> Deref for Delivery<E> {
    type Target = E::Payload;
    fn deref(&self) -> &E::Payload {
        &self.payload
    }
}

/// Collects what a [`Service`] handles, in [`Service::register`].
pub struct Registrar<A: Service> {
    pub(crate) commands: Vec<crate::routing::CommandBinding<A>>,
    pub(crate) subscriptions: Vec<crate::routing::SubscriptionBinding<A>>,
    _service: PhantomData<fn() -> A>,
}

impl<A: Service> Registrar<A> {
    pub(crate) fn new() -> Self {
        Registrar {
            commands: Vec::new(),
            subscriptions: Vec::new(),
            _service: PhantomData,
        }
    }

    /// This service handles command `C`: its instances share it, one instance answers each call.
    pub fn command<C: CommandContract>(&mut self) -> &mut Self
    where
        A: Handler<Invocation<C>>,
    {
        self.commands
            .push(crate::routing::CommandBinding::typed::<C>());
        self
    }

    /// This service handles the command at `key`, known only at run time, as
    /// [`JsonInvocation`](crate::JsonInvocation)s with JSON payload and parameter.
    pub fn command_json(&mut self, key: crate::CommandKey) -> &mut Self
    where
        A: Handler<crate::JsonInvocation>,
    {
        self.commands
            .push(crate::routing::CommandBinding::json(key));
        self
    }

    /// This service receives every event `E` once, in one of its instances.
    pub fn subscribe<E: EventContract>(&mut self) -> &mut Self
    where
        A: Handler<Delivery<E>>,
    {
        self.subscribe_with::<E>(Subscription::to::<E>())
    }

    /// This service receives the events `E` that pass `subscription`'s filter, in one of its
    /// instances or, if the subscription asks for it, in every instance.
    pub fn subscribe_with<E: EventContract>(&mut self, subscription: Subscription) -> &mut Self
    where
        A: Handler<Delivery<E>>,
    {
        self.subscriptions
            .push(crate::routing::SubscriptionBinding::new::<E>(subscription));
        self
    }
}
