//! The routing table: which mailbox handles a command, which subscriptions want an event.
//!
//! Callers read it directly (it is a set of concurrent maps) and send to the chosen mailbox:
//! no actor stands between a caller and the service it calls. It changes only when services
//! start, restart or stop.

use std::any::{Any, TypeId};
use std::hash::{BuildHasherDefault, Hasher};
use std::marker::PhantomData;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use actix::{Addr, Handler, Recipient};
use dashmap::DashMap;
use futures_util::future::BoxFuture;
use serde_json::Value;

use crate::contract::{CommandContract, Data, EventContract};
use crate::error::{CommandError, Violation};
use crate::metadata::{Address, Metadata};
use crate::node::Shared;
use crate::service::{Delivery, Invocation, Service};
use crate::subscription::Subscription;
use crate::text::Text;

/// A command's address as the wire names it: service, version, command.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct CommandKey {
    /// The service's name.
    pub service: Text,
    /// The service's version.
    pub version: Text,
    /// The command's name.
    pub command: Text,
}

impl CommandKey {
    /// The address of contract `C`.
    pub fn of<C: CommandContract>() -> Self {
        CommandKey {
            service: C::SERVICE.into(),
            version: C::VERSION.into(),
            command: C::COMMAND.into(),
        }
    }

    /// An address from its parts.
    pub fn new(
        service: impl Into<Text>,
        version: impl Into<Text>,
        command: impl Into<Text>,
    ) -> Self {
        CommandKey {
            service: service.into(),
            version: version.into(),
            command: command.into(),
        }
    }
}

impl std::fmt::Display for CommandKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}/{}", self.service, self.version, self.command)
    }
}

/// `TypeId`s are hashes already: pass their bits through instead of hashing them again.
#[derive(Default)]
pub(crate) struct TypeIdHasher(u64);

impl Hasher for TypeIdHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(b);
        }
    }
    fn write_u64(&mut self, n: u64) {
        self.0 ^= n;
    }
    fn write_u128(&mut self, n: u128) {
        self.0 ^= (n as u64) ^ ((n >> 64) as u64);
    }
}

/// A borrowed typed route.
pub(crate) type CommandRef<'a, C> =
    dashmap::mapref::one::MappedRef<'a, TypeId, Box<dyn Any + Send + Sync>, CommandRoute<C>>;

type TypeMap<V> = DashMap<TypeId, V, BuildHasherDefault<TypeIdHasher>>;

/// Every route of one node.
#[derive(Default)]
pub(crate) struct Routes {
    /// Typed routes, by contract type: the hot path.
    commands: TypeMap<Box<dyn Any + Send + Sync>>,
    /// The same commands by wire address, for calls that carry JSON (the wire, gateways).
    addresses: DashMap<CommandKey, Arc<dyn JsonCommand>>,
    /// Subscriptions by the event name they filter on (`None`: any name).
    events: DashMap<Option<Text>, Vec<SubscriptionRoute>>,
}

/// The instances that handle command `C`, chosen in turn.
pub(crate) struct CommandRoute<C: CommandContract> {
    instances: Box<[Recipient<Invocation<C>>]>,
    next: AtomicUsize,
}

impl<C: CommandContract> CommandRoute<C> {
    /// The next instance whose mailbox is open, in round-robin order.
    pub(crate) fn pick(&self) -> Option<&Recipient<Invocation<C>>> {
        let n = self.instances.len();
        if n == 1 {
            return self.instances.first().filter(|r| r.connected());
        }
        let start = self.next.fetch_add(1, Ordering::Relaxed);
        (0..n)
            .map(|i| &self.instances[(start + i) % n])
            .find(|r| r.connected())
    }
}

impl Routes {
    /// The typed route of `C`, if this node handles `C` with that very type. The returned
    /// guard holds a read lock on one shard of the table: drop it before awaiting.
    pub(crate) fn command<C: CommandContract>(&self) -> Option<CommandRef<'_, C>> {
        self.commands
            .get(&TypeId::of::<C>())?
            .try_map(|route| route.downcast_ref::<CommandRoute<C>>())
            .ok()
    }

    /// The JSON route of a wire address.
    pub(crate) fn json_command(&self, key: &CommandKey) -> Option<Arc<dyn JsonCommand>> {
        self.addresses.get(key).map(|r| r.value().clone())
    }

    /// Calls `f` with every subscription whose filter may pass an event named `name`.
    pub(crate) fn for_each_subscription(
        &self,
        name: Option<&Text>,
        mut f: impl FnMut(&SubscriptionRoute),
    ) {
        if let Some(name) = name {
            if let Some(routes) = self.events.get(&Some(name.clone())) {
                routes.iter().for_each(&mut f);
            }
        }
        if let Some(routes) = self.events.get(&None) {
            routes.iter().for_each(f);
        }
    }

    /// How many commands are routed.
    pub(crate) fn command_count(&self) -> usize {
        self.addresses.len()
    }
}

/// How a service's command reaches its instances: made in [`Registrar::command`], installed
/// when the service starts.
///
/// [`Registrar::command`]: crate::Registrar::command
pub(crate) struct CommandBinding<A: Service> {
    pub(crate) key: CommandKey,
    type_id: TypeId,
    install: fn(&Routes, &[Addr<A>]),
    replace: fn(&Routes, usize, &Addr<A>),
    json: Arc<dyn JsonCommand>,
}

impl<A: Service> CommandBinding<A> {
    pub(crate) fn new<C: CommandContract>() -> Self
    where
        A: Handler<Invocation<C>>,
    {
        CommandBinding {
            key: CommandKey::of::<C>(),
            type_id: TypeId::of::<C>(),
            install: install_command::<A, C>,
            replace: replace_command::<A, C>,
            json: Arc::new(JsonRoute::<C>(PhantomData)),
        }
    }

    /// Routes the command to these instances.
    pub(crate) fn install(
        &self,
        routes: &Routes,
        instances: &[Addr<A>],
    ) -> Result<(), crate::Error> {
        if routes.addresses.contains_key(&self.key) || routes.commands.contains_key(&self.type_id) {
            return Err(crate::Error::DuplicateCommand(self.key.to_string()));
        }
        (self.install)(routes, instances);
        routes.addresses.insert(self.key.clone(), self.json.clone());
        Ok(())
    }

    /// Points instance `index` at a new mailbox (after a restart).
    pub(crate) fn replace(&self, routes: &Routes, index: usize, addr: &Addr<A>) {
        (self.replace)(routes, index, addr)
    }

}

fn install_command<A, C>(routes: &Routes, instances: &[Addr<A>])
where
    A: Service + Handler<Invocation<C>>,
    C: CommandContract,
{
    let route = CommandRoute::<C> {
        instances: instances.iter().map(|a| a.clone().recipient()).collect(),
        next: AtomicUsize::new(0),
    };
    routes.commands.insert(TypeId::of::<C>(), Box::new(route));
}

fn replace_command<A, C>(routes: &Routes, index: usize, addr: &Addr<A>)
where
    A: Service + Handler<Invocation<C>>,
    C: CommandContract,
{
    if let Some(mut entry) = routes.commands.get_mut(&TypeId::of::<C>()) {
        if let Some(slot) = entry
            .downcast_mut::<CommandRoute<C>>()
            .and_then(|route| route.instances.get_mut(index))
        {
            *slot = addr.clone().recipient();
        }
    }
}

/// A command reached by its wire address with JSON payload and parameter.
pub(crate) trait JsonCommand: Send + Sync {
    /// Decodes payload and parameter (400 naming what failed), calls the command, encodes
    /// its output.
    fn invoke(
        &self,
        shared: Arc<Shared>,
        meta: Metadata,
        payload: Value,
        parameter: Value,
        timeout: Duration,
    ) -> BoxFuture<'static, Result<Value, CommandError>>;
}

struct JsonRoute<C>(PhantomData<fn() -> C>);

impl<C: CommandContract> JsonCommand for JsonRoute<C> {
    fn invoke(
        &self,
        shared: Arc<Shared>,
        meta: Metadata,
        payload: Value,
        parameter: Value,
        timeout: Duration,
    ) -> BoxFuture<'static, Result<Value, CommandError>> {
        Box::pin(async move {
            let payload: C::Payload = decode("payload", payload)?;
            let parameter: C::Parameter = decode("parameter", parameter)?;
            let output =
                crate::broker::dispatch::<C>(&shared, meta, payload, parameter, timeout).await?;
            serde_json::to_value(output).map_err(|err| {
                tracing::error!(cause = %err, command = C::COMMAND, "output does not serialize");
                CommandError::internal()
            })
        })
    }
}

/// Decodes a JSON value into `T`; a failure is a 400 naming the field that failed.
pub(crate) fn decode<T: Data>(what: &str, value: Value) -> Result<T, CommandError> {
    serde_path_to_error::deserialize(value).map_err(|err| {
        let path = err
            .path()
            .iter()
            .filter_map(|segment| match segment {
                serde_path_to_error::Segment::Seq { index } => Some(Value::from(*index)),
                serde_path_to_error::Segment::Map { key } => Some(Value::from(key.as_str())),
                serde_path_to_error::Segment::Enum { variant } => {
                    Some(Value::from(variant.as_str()))
                }
                serde_path_to_error::Segment::Unknown => None,
            })
            .collect();
        let violation = Violation {
            message: err.inner().to_string(),
            path,
        };
        CommandError::invalid(what, vec![violation])
    })
}

/// An event's payload: the value it was emitted with, shared by every subscriber, and a way
/// to JSON for subscribers whose contract type differs (and for the wire).
#[derive(Clone)]
pub(crate) struct EventPayload {
    value: Arc<dyn Any + Send + Sync>,
    to_json: fn(&(dyn Any + Send + Sync)) -> Result<Value, String>,
}

impl EventPayload {
    pub(crate) fn typed<T: Data>(value: T) -> Self {
        EventPayload {
            value: Arc::new(value),
            to_json: typed_to_json::<T>,
        }
    }

    pub(crate) fn json(value: Value) -> Self {
        Self::typed(value)
    }

    /// The payload as `T`: shared if it is one, decoded from JSON if it is not.
    pub(crate) fn get<T: Data>(&self) -> Result<Arc<T>, String> {
        match self.value.clone().downcast::<T>() {
            Ok(value) => Ok(value),
            Err(_) => {
                let json = self.to_json()?;
                serde_json::from_value(json)
                    .map(Arc::new)
                    .map_err(|e| e.to_string())
            }
        }
    }

    /// The payload as JSON.
    pub(crate) fn to_json(&self) -> Result<Value, String> {
        (self.to_json)(&*self.value)
    }
}

fn typed_to_json<T: Data>(value: &(dyn Any + Send + Sync)) -> Result<Value, String> {
    match value.downcast_ref::<T>() {
        Some(v) => serde_json::to_value(v).map_err(|e| e.to_string()),
        None => Err("payload type mismatch".into()),
    }
}

/// An event on its way to subscribers.
pub(crate) struct EventMessage {
    pub(crate) meta: Metadata,
    pub(crate) payload: EventPayload,
}

/// Why an event did not reach a subscriber.
#[derive(Debug, thiserror::Error)]
pub(crate) enum Undelivered {
    /// The subscriber's mailbox is closed.
    #[error("the subscriber's mailbox is closed")]
    Closed,
    /// The payload does not decode as the subscriber's contract.
    #[error("the payload does not fit the subscriber's contract: {0}")]
    Payload(String),
}

/// One subscribing instance's mailbox.
pub(crate) trait Deliver: Send + Sync {
    fn deliver(
        &self,
        event: &EventMessage,
        shared: &Arc<Shared>,
        subscriber: &Address,
    ) -> Result<(), Undelivered>;
    fn connected(&self) -> bool;
}

struct Target<E: EventContract>(Recipient<Delivery<E>>);

impl<E: EventContract> Deliver for Target<E> {
    fn deliver(
        &self,
        event: &EventMessage,
        shared: &Arc<Shared>,
        subscriber: &Address,
    ) -> Result<(), Undelivered> {
        if !self.0.connected() {
            return Err(Undelivered::Closed);
        }
        let payload = event
            .payload
            .get::<E::Payload>()
            .map_err(Undelivered::Payload)?;
        self.0.do_send(Delivery {
            payload,
            meta: event.meta.clone(),
            shared: shared.clone(),
            subscriber: subscriber.clone(),
        });
        Ok(())
    }

    fn connected(&self) -> bool {
        self.0.connected()
    }
}

/// One subscription of one service with its instances' mailboxes.
pub(crate) struct SubscriptionRoute {
    /// The subscribing service, with the subscription's name as target.
    pub(crate) subscriber: Address,
    pub(crate) subscription: Subscription,
    targets: Box<[Arc<dyn Deliver>]>,
    next: AtomicUsize,
}

impl SubscriptionRoute {
    /// Delivers `event` to one connected instance, or to every one if the subscription asks
    /// for it. Returns how many instances got it.
    pub(crate) fn deliver(
        &self,
        event: &EventMessage,
        shared: &Arc<Shared>,
    ) -> Result<usize, Undelivered> {
        if self.subscription.every_instance {
            let mut delivered = 0;
            let mut failure = None;
            for target in self.targets.iter() {
                match target.deliver(event, shared, &self.subscriber) {
                    Ok(()) => delivered += 1,
                    Err(err) => failure = Some(err),
                }
            }
            return match failure {
                Some(err) if delivered == 0 => Err(err),
                _ => Ok(delivered),
            };
        }
        let n = self.targets.len();
        let start = if n == 1 {
            0
        } else {
            self.next.fetch_add(1, Ordering::Relaxed)
        };
        let target = (0..n)
            .map(|i| &self.targets[(start + i) % n])
            .find(|t| t.connected())
            .ok_or(Undelivered::Closed)?;
        target.deliver(event, shared, &self.subscriber).map(|()| 1)
    }
}

/// How a service's subscription reaches its instances.
pub(crate) struct SubscriptionBinding<A: Service> {
    pub(crate) subscription: Subscription,
    target: fn(&Addr<A>) -> Arc<dyn Deliver>,
}

impl<A: Service> Clone for SubscriptionBinding<A> {
    fn clone(&self) -> Self {
        SubscriptionBinding {
            subscription: self.subscription.clone(),
            target: self.target,
        }
    }
}

impl<A: Service> SubscriptionBinding<A> {
    pub(crate) fn new<E: EventContract>(subscription: Subscription) -> Self
    where
        A: Handler<Delivery<E>>,
    {
        SubscriptionBinding {
            subscription,
            target: target::<A, E>,
        }
    }

    fn subscriber(&self) -> Address {
        Address::new(A::NAME, A::VERSION, self.subscription.name.clone())
    }

    /// Routes matching events to these instances.
    pub(crate) fn install(&self, routes: &Routes, instances: &[Addr<A>]) {
        let route = SubscriptionRoute {
            subscriber: self.subscriber(),
            subscription: self.subscription.clone(),
            targets: instances.iter().map(self.target).collect(),
            next: AtomicUsize::new(0),
        };
        routes
            .events
            .entry(self.subscription.filter.event_name.clone())
            .or_default()
            .push(route);
    }

    /// Points instance `index` at a new mailbox (after a restart).
    pub(crate) fn replace(&self, routes: &Routes, index: usize, addr: &Addr<A>) {
        let me = self.subscriber();
        if let Some(mut list) = routes.events.get_mut(&self.subscription.filter.event_name) {
            if let Some(slot) = list
                .iter_mut()
                .find(|r| r.subscriber == me)
                .and_then(|r| r.targets.get_mut(index))
            {
                *slot = (self.target)(addr);
            }
        }
    }
}

fn target<A, E>(addr: &Addr<A>) -> Arc<dyn Deliver>
where
    A: Service + Handler<Delivery<E>>,
    E: EventContract,
{
    Arc::new(Target::<E>(addr.clone().recipient()))
}
