//! The node: one runtime with its instance id, its services' instances, and its local broker.
//! Start one inside any actix `System`; several may live in one process without seeing each
//! other.

use std::collections::HashSet;
use std::ops::Deref;
use std::sync::atomic::{AtomicU64, AtomicU8, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use tokio::sync::Notify;

use crate::bridge::{Bridge, BridgeLink};
use crate::client::Client;
use crate::contract::EventContract;
use crate::deadline::Deadlines;
use crate::envelope::MessageType;
use crate::error::Error;
use crate::instance::{self, InstanceHandle, Mailbox, ServiceRuntime};
use crate::lifecycle::{self, InfoLog, InfoMessages};
use crate::metadata::{Address, CallContext};
use crate::routing::SubscriptionBinding;
use crate::routing::{CommandKey, Routes};
use crate::service::{Delivery, Registrar, Service};
use crate::subscription::Subscription;
use crate::text::{InstanceId, Text};
use actix::Handler;

/// How long an invoke waits for its answer unless the call says otherwise.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);
/// How long a shutdown waits for in-flight commands unless the builder says otherwise.
pub const DEFAULT_SHUTDOWN_GRACE: Duration = Duration::from_secs(10);
/// How many messages an instance's mailbox holds before callers wait to put theirs in, unless
/// the service spec says otherwise (decision 0003).
pub const DEFAULT_MAILBOX_CAPACITY: usize = 4096;

const RUNNING: u8 = 0;
const DRAINING: u8 = 1;
const STOPPED: u8 = 2;

/// What every client, invocation and instance of one node shares.
pub(crate) struct Shared {
    pub(crate) instance_id: InstanceId,
    pub(crate) routes: Routes,
    pub(crate) default_timeout: Duration,
    /// The deadlines of the local calls waiting for an answer.
    pub(crate) deadlines: Deadlines,
    pub(crate) stats: Stats,
    /// PURISTA `info*` envelopes, for bridges to publish.
    pub(crate) info: InfoLog,
    state: AtomicU8,
    in_flight: AtomicUsize,
    /// Woken when the last in-flight command ends during a drain.
    idle: Notify,
    instances: Mutex<Vec<InstanceHandle>>,
    services: Vec<ServiceInfo>,
    /// The bridge to other nodes, if one is attached.
    bridge: OnceLock<Arc<dyn Bridge>>,
}

impl Shared {
    /// The attached bridge, if any.
    pub(crate) fn bridge(&self) -> Option<&Arc<dyn Bridge>> {
        self.bridge.get()
    }

    /// Whether new work from outside the node is accepted.
    pub(crate) fn accepting(&self) -> bool {
        self.state.load(Ordering::Acquire) == RUNNING
    }

    /// Whether the instances still run: a bridge hands them the commands the broker routed
    /// to this node before it left, even while the node drains.
    pub(crate) fn serving(&self) -> bool {
        self.state.load(Ordering::Acquire) != STOPPED
    }

    /// Counts a command in flight until the guard drops.
    pub(crate) fn enter(&self) -> InFlight<&Shared> {
        self.in_flight.fetch_add(1, Ordering::AcqRel);
        InFlight(self)
    }

    /// The same, for a guard that must own its node.
    pub(crate) fn enter_owned(self: &Arc<Self>) -> InFlight<Arc<Shared>> {
        self.in_flight.fetch_add(1, Ordering::AcqRel);
        InFlight(self.clone())
    }
}

/// A command in flight, counted for the drain.
pub(crate) struct InFlight<S: Deref<Target = Shared>>(pub(crate) S);

impl<S: Deref<Target = Shared>> Drop for InFlight<S> {
    fn drop(&mut self) {
        if self.0.in_flight.fetch_sub(1, Ordering::AcqRel) == 1 && !self.0.accepting() {
            self.0.idle.notify_waiters();
        }
    }
}

/// Counters of things that went wrong without a caller to tell.
#[derive(Default)]
pub(crate) struct Stats {
    undelivered: AtomicU64,
}

impl Stats {
    pub(crate) fn count_undelivered(&self) {
        self.undelivered.fetch_add(1, Ordering::Relaxed);
    }
}

/// A snapshot of a node's counters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct NodeStats {
    /// Commands being handled right now.
    pub in_flight: usize,
    /// Events that matched a subscription but could not be handed to it (closed mailbox,
    /// payload of another shape).
    pub undelivered_events: u64,
    /// Commands this node routes.
    pub commands: usize,
}

/// A service as the node's `info*` notices describe it.
#[derive(Debug, Clone)]
pub(crate) struct ServiceInfo {
    pub(crate) name: &'static str,
    pub(crate) version: &'static str,
    pub(crate) commands: Vec<CommandKey>,
}

/// How to run a service: its factory, how many instances, where.
pub struct ServiceSpec<A: Service> {
    factory: Box<dyn Fn(Client) -> A + Send + Sync>,
    subscriptions: Vec<SubscriptionBinding<A>>,
    instances: usize,
    arbiter: Option<actix::ArbiterHandle>,
    mailbox_capacity: usize,
}

impl<A: Service> ServiceSpec<A> {
    /// One instance made by `factory`, on the arbiter that starts the node. The factory runs
    /// again if the instance has to be restarted.
    pub fn new(factory: impl Fn() -> A + Send + Sync + 'static) -> Self {
        Self::with_client(move |_| factory())
    }

    /// One instance made by `factory`, which gets a [`Client`] that speaks as the service
    /// (with sender target [`SERVICE_TARGET`](crate::SERVICE_TARGET)): for services that invoke
    /// or emit on their own (from a timer, say), not only while handling a message. Each
    /// message it sends starts its own trace.
    pub fn with_client(factory: impl Fn(Client) -> A + Send + Sync + 'static) -> Self {
        ServiceSpec {
            factory: Box::new(factory),
            subscriptions: Vec::new(),
            instances: 1,
            arbiter: None,
            mailbox_capacity: DEFAULT_MAILBOX_CAPACITY,
        }
    }

    /// Runs `n` instances; they share the commands and each event goes to one of them.
    pub fn instances(mut self, n: usize) -> Self {
        self.instances = n;
        self
    }

    /// Runs the instances on `arbiter` (a thread of its own) instead of the starting one.
    pub fn arbiter(mut self, arbiter: actix::ArbiterHandle) -> Self {
        self.arbiter = Some(arbiter);
        self
    }

    /// Adds a subscription to those the service registers itself: for filters that come
    /// from configuration (a tenant, a sender).
    pub fn subscribe_with<E: EventContract>(mut self, subscription: Subscription) -> Self
    where
        A: Handler<Delivery<E>>,
    {
        self.subscriptions
            .push(SubscriptionBinding::new::<E>(subscription));
        self
    }

    /// What the service registers, plus the subscriptions added here.
    fn registrar(&self) -> Registrar<A> {
        let mut registrar = Registrar::<A>::new();
        A::register(&mut registrar);
        registrar
            .subscriptions
            .extend(self.subscriptions.iter().cloned());
        registrar
    }

    /// The mailbox capacity of each instance ([`DEFAULT_MAILBOX_CAPACITY`] unless set; actix's
    /// own default is 16): callers wait to put a command in while it is full. Events are
    /// never held back by it.
    pub fn mailbox_capacity(mut self, capacity: usize) -> Self {
        self.mailbox_capacity = capacity.max(1);
        self
    }
}

/// A service spec with its type erased, so one builder holds many.
trait Launch {
    fn info(&self) -> Result<ServiceInfo, Error>;
    fn launch(self: Box<Self>, shared: &Arc<Shared>) -> Result<Vec<InstanceHandle>, Error>;
}

impl<A: Service> Launch for ServiceSpec<A> {
    fn info(&self) -> Result<ServiceInfo, Error> {
        if self.instances == 0 {
            return Err(Error::NoInstances(A::NAME.into()));
        }
        let registrar = self.registrar();
        let mut commands = Vec::new();
        for binding in &registrar.commands {
            let key = &binding.key;
            if key.service != A::NAME || key.version != A::VERSION {
                return Err(Error::ContractMismatch {
                    service: A::NAME.into(),
                    version: A::VERSION.into(),
                    contract: key.command.to_string(),
                    owner: format!("{}/{}", key.service, key.version),
                });
            }
            commands.push(key.clone());
        }
        Ok(ServiceInfo {
            name: A::NAME,
            version: A::VERSION,
            commands,
        })
    }

    fn launch(self: Box<Self>, shared: &Arc<Shared>) -> Result<Vec<InstanceHandle>, Error> {
        let registrar = self.registrar();
        let mailboxes: Vec<Mailbox<A>> = (0..self.instances)
            .map(|_| Mailbox::new(self.mailbox_capacity))
            .collect();
        let addrs: Vec<_> = mailboxes.iter().map(|m| m.addr.clone()).collect();
        for command in &registrar.commands {
            command.install(&shared.routes, &addrs)?;
        }
        for subscription in &registrar.subscriptions {
            subscription.install(&shared.routes, &addrs);
        }
        let runtime = Arc::new(ServiceRuntime {
            factory: self.factory,
            registrar,
            mailboxes: Mutex::new(addrs),
            shared: Arc::downgrade(shared),
            mailbox_capacity: self.mailbox_capacity,
        });
        Ok(mailboxes
            .into_iter()
            .enumerate()
            .map(|(index, mailbox)| {
                instance::spawn(runtime.clone(), index, mailbox, self.arbiter.as_ref())
            })
            .collect())
    }
}

/// Configures and starts a [`Node`].
pub struct NodeBuilder {
    instance_id: Option<InstanceId>,
    default_timeout: Duration,
    shutdown_grace: Duration,
    services: Vec<Box<dyn Launch>>,
    bridge: Option<AttachBridge>,
}

/// Makes a node's bridge, given the link to the node.
type AttachBridge = Box<dyn FnOnce(BridgeLink) -> Result<Arc<dyn Bridge>, Error>>;

impl NodeBuilder {
    /// Joins the node to others through a bridge. `attach` runs once the services have
    /// started, inside the actix system, with the link the bridge uses to reach the node; it
    /// returns the bridge, or the error that stops the node from starting.
    pub fn bridge<B, F>(mut self, attach: F) -> Self
    where
        B: Bridge,
        F: FnOnce(BridgeLink) -> Result<B, Error> + 'static,
    {
        self.bridge = Some(Box::new(move |link| {
            Ok(Arc::new(attach(link)?) as Arc<dyn Bridge>)
        }));
        self
    }

    /// The node's instance id; random unless set. Set it (from configuration, or kept in a
    /// data directory) wherever a broker session must survive a restart.
    pub fn instance_id(mut self, id: InstanceId) -> Self {
        self.instance_id = Some(id);
        self
    }

    /// How long invokes wait for their answer unless a call says otherwise (30 s by default).
    pub fn default_timeout(mut self, timeout: Duration) -> Self {
        self.default_timeout = timeout;
        self
    }

    /// How long [`Node::shutdown`] waits for in-flight commands (10 s by default).
    pub fn shutdown_grace(mut self, grace: Duration) -> Self {
        self.shutdown_grace = grace;
        self
    }

    /// Runs one instance of service `A`, made by `factory`, on the current arbiter.
    pub fn service<A: Service>(self, factory: impl Fn() -> A + Send + Sync + 'static) -> Self {
        self.service_spec(ServiceSpec::new(factory))
    }

    /// Runs service `A` as `spec` says: how many instances, on which arbiter.
    pub fn service_spec<A: Service>(mut self, spec: ServiceSpec<A>) -> Self {
        self.services.push(Box::new(spec));
        self
    }

    /// Starts every service and returns the running node.
    ///
    /// Fails, starting nothing, outside an actix `System`, when a service registers a command
    /// of another service's contract, or when two services register the same command.
    pub fn start(self) -> Result<Node, Error> {
        if actix::System::try_current().is_none() {
            return Err(Error::NoSystem);
        }
        let mut services = Vec::with_capacity(self.services.len());
        let mut seen = HashSet::new();
        for spec in &self.services {
            let info = spec.info()?;
            for key in &info.commands {
                if !seen.insert(key.clone()) {
                    return Err(Error::DuplicateCommand(key.to_string()));
                }
            }
            services.push(info);
        }
        let shared = Arc::new(Shared {
            instance_id: self.instance_id.unwrap_or_else(InstanceId::random),
            routes: Routes::default(),
            default_timeout: self.default_timeout,
            deadlines: Deadlines::start(),
            stats: Stats::default(),
            info: InfoLog::new(),
            state: AtomicU8::new(RUNNING),
            in_flight: AtomicUsize::new(0),
            idle: Notify::new(),
            instances: Mutex::new(Vec::new()),
            services,
            bridge: OnceLock::new(),
        });
        let mut instances = Vec::new();
        for (spec, info) in self.services.into_iter().zip(&shared.services) {
            lifecycle::service_starting(&shared, info);
            instances.extend(spec.launch(&shared)?);
            lifecycle::info(&shared, info, MessageType::InfoServiceReady);
        }
        *shared.instances.lock().unwrap_or_else(|e| e.into_inner()) = instances;
        if let Some(attach) = self.bridge {
            let bridge = attach(BridgeLink::new(&shared))?;
            // The notices of the start, issued before the bridge existed, go out first.
            for envelope in shared.info.started() {
                bridge.publish(envelope);
            }
            let _ = shared.bridge.set(bridge);
        }
        Ok(Node {
            shared,
            shutdown_grace: self.shutdown_grace,
        })
    }
}

/// A running node. Dropping it stops its services without draining; [`Node::shutdown`]
/// drains first.
pub struct Node {
    shared: Arc<Shared>,
    shutdown_grace: Duration,
}

/// What a shutdown did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct ShutdownReport {
    /// Commands still in flight when the grace period ended (0: all finished).
    pub abandoned: usize,
    /// Service instances stopped.
    pub instances: usize,
}

impl Node {
    /// What the node shares with its clients and instances.
    #[cfg(test)]
    pub(crate) fn shared(&self) -> &Arc<Shared> {
        &self.shared
    }

    /// A builder for a node.
    pub fn builder() -> NodeBuilder {
        NodeBuilder {
            instance_id: None,
            default_timeout: DEFAULT_TIMEOUT,
            shutdown_grace: DEFAULT_SHUTDOWN_GRACE,
            services: Vec::new(),
            bridge: None,
        }
    }

    /// This node's instance id.
    pub fn instance_id(&self) -> InstanceId {
        self.shared.instance_id
    }

    /// A client that invokes and emits as `tributary/1/client`.
    pub fn client(&self) -> Client {
        self.client_as("tributary", "1", "client")
    }

    /// A client that invokes and emits as the given sender (a gateway, say).
    pub fn client_as(
        &self,
        name: impl Into<Text>,
        version: impl Into<Text>,
        target: impl Into<Text>,
    ) -> Client {
        let sender = Address::new(name, version, target).on_instance(self.shared.instance_id);
        Client::root(
            self.shared.clone(),
            CallContext {
                sender,
                trace_id: None,
                principal_id: None,
                tenant_id: None,
            },
        )
    }

    /// The PURISTA `info*` envelopes of this node, for a bridge to publish: those issued at
    /// start first, then each one as it is issued.
    pub fn info_messages(&self) -> InfoMessages {
        self.shared.info.subscribe()
    }

    /// The node's counters.
    pub fn stats(&self) -> NodeStats {
        NodeStats {
            in_flight: self.shared.in_flight.load(Ordering::Acquire),
            undelivered_events: self.shared.stats.undelivered.load(Ordering::Relaxed),
            commands: self.shared.routes.command_count(),
        }
    }

    /// Shuts the node down: new invokes from outside get 503 (handlers in flight may still
    /// call each other), in-flight commands get the grace period to finish, then every
    /// instance stops and the node issues its shutdown notices.
    pub async fn shutdown(self) -> ShutdownReport {
        let shared = &self.shared;
        shared.state.store(DRAINING, Ordering::Release);
        for info in &shared.services {
            lifecycle::info(shared, info, MessageType::InfoServiceDrain);
        }
        let deadline = tokio::time::Instant::now() + self.shutdown_grace;
        if let Some(bridge) = shared.bridge() {
            let _ = tokio::time::timeout_at(deadline, bridge.leave()).await;
        }
        loop {
            let idle = shared.idle.notified();
            tokio::pin!(idle);
            idle.as_mut().enable();
            if shared.in_flight.load(Ordering::Acquire) == 0 {
                break;
            }
            if tokio::time::timeout_at(deadline, idle).await.is_err() {
                break;
            }
        }
        let abandoned = shared.in_flight.load(Ordering::Acquire);
        if abandoned > 0 {
            tracing::warn!(abandoned, "shutdown grace ended with commands in flight");
        }
        let instances = self.stop_instances();
        let count = instances.len();
        for done in instances {
            let _ = tokio::time::timeout(self.shutdown_grace, done).await;
        }
        shared.state.store(STOPPED, Ordering::Release);
        for info in &shared.services {
            lifecycle::info(shared, info, MessageType::InfoServiceShutdown);
        }
        // Last, so that what the instances sent while stopping, and the shutdown notices, still
        // go out.
        if let Some(bridge) = shared.bridge() {
            let _ = tokio::time::timeout(self.shutdown_grace, bridge.close()).await;
        }
        ShutdownReport {
            abandoned,
            instances: count,
        }
    }

    /// Asks every instance to stop; returns what signals that each has.
    fn stop_instances(&self) -> Vec<tokio::sync::oneshot::Receiver<()>> {
        let handles = std::mem::take(
            &mut *self
                .shared
                .instances
                .lock()
                .unwrap_or_else(|e| e.into_inner()),
        );
        handles
            .into_iter()
            .map(|mut handle| {
                if let Some(stop) = handle.stop.take() {
                    let _ = stop.send(());
                }
                handle.done
            })
            .collect()
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        self.shared.state.store(STOPPED, Ordering::Release);
        self.stop_instances();
    }
}

impl std::fmt::Debug for Node {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Node")
            .field("instance_id", &self.shared.instance_id)
            .finish()
    }
}
