//! The bridge: [`MqttBridge`] is the handle a host app keeps (health), [`BridgeHandle`] the
//! part the node calls (it implements the runtime's `Bridge`), `Link` the state they share,
//! and `BridgeActor` the actix actor that owns the two rumqttc event loops as streams and
//! routes what arrives.

use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use actix::prelude::*;
use dashmap::DashMap;
use futures_util::future::BoxFuture;
use rumqttc::v5::mqttbytes::v5::{
    Filter, Packet, PublishProperties, RetainForwardRule, SubscribeProperties,
};
use rumqttc::v5::mqttbytes::QoS;
use rumqttc::v5::{AsyncClient, Event};
use serde_json::Value;
use tokio::sync::{oneshot, Notify};
use tributary::codec::{Codec, Limits};
use tributary::envelope::Envelope;
use tributary::{BridgeLink, CommandError, CommandKey, LocalSubscription, Status};

use crate::config::MqttConfig;
use crate::connection::{self, Backoff, Conn};
use crate::health::{bump, Health, HealthState};
use crate::pacer::{Pacer, Submitted};
use crate::properties::{self, Expiry};
use crate::topic::{self, EventFilterSpec, TopicPrefix};
use crate::MqttError;

/// The subscription identifier of the response filter; event subscriptions follow.
pub(crate) const RESPONSES: usize = 1;
pub(crate) const FIRST_EVENT: usize = 2;
/// How many requests each rumqttc client buffers before `try_publish` refuses.
const REQUEST_CAPACITY: usize = 10_000;
/// Publishes handed to rumqttc and not yet acknowledged, at most: mosquitto's receive
/// maximum, unless the broker announces less.
const DEFAULT_WINDOW: usize = 20;
const _: () = assert!(DEFAULT_WINDOW <= crate::connection::OUTGOING_INFLIGHT_LIMIT as usize);

/// A node's MQTT bridge: configure it, attach it with [`MqttBridge::attach`], read its
/// [`Health`] any time.
///
/// ```no_run
/// # use tributary::Node;
/// # use tributary_mqtt::{MqttBridge, MqttConfig};
/// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
/// let bridge = MqttBridge::new(MqttConfig::new("127.0.0.1", 1883))?;
/// let node = Node::builder().bridge(bridge.attach()).start()?;
/// println!("{:?}", bridge.health());
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct MqttBridge {
    config: MqttConfig,
    prefix: TopicPrefix,
    health: Arc<HealthState>,
    link: Arc<OnceLock<Arc<Link>>>,
}

impl std::fmt::Debug for MqttBridge {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MqttBridge")
            .field(
                "broker",
                &format!("{}:{}", self.config.host, self.config.port),
            )
            .field("prefix", &self.config.prefix)
            .finish()
    }
}

impl MqttBridge {
    /// A bridge with this configuration; fails on an invalid topic prefix.
    pub fn new(config: MqttConfig) -> Result<Self, MqttError> {
        let prefix = config.prefix.parse::<TopicPrefix>()?;
        Ok(MqttBridge {
            config,
            prefix,
            health: Arc::default(),
            link: Arc::default(),
        })
    }

    /// What [`NodeBuilder::bridge`](tributary::NodeBuilder::bridge) takes: connects once the
    /// node's services run.
    pub fn attach(
        &self,
    ) -> impl FnOnce(BridgeLink) -> Result<BridgeHandle, tributary::Error> + 'static {
        let bridge = self.clone();
        move |node| {
            let link = bridge.start(node)?;
            let _ = bridge.link.set(link.clone());
            Ok(BridgeHandle(link))
        }
    }

    /// The bridge's condition now.
    pub fn health(&self) -> Health {
        self.health.snapshot()
    }

    /// How many invokes wait for a response from elsewhere.
    pub fn pending(&self) -> usize {
        self.link.get().map_or(0, |link| link.pending.len())
    }

    fn start(&self, node: BridgeLink) -> Result<Arc<Link>, MqttError> {
        let instance = node.instance_id();
        let (main, main_loop) = AsyncClient::new(
            connection::options(&self.config, instance, Conn::Main),
            REQUEST_CAPACITY,
        );
        let (commands, commands_loop) = AsyncClient::new(
            connection::options(&self.config, instance, Conn::Commands),
            REQUEST_CAPACITY,
        );
        let subscriptions = node.subscriptions();
        let command_keys = node.commands();
        let (main_filters, event_routes) = main_filters(&self.prefix, &node, &subscriptions)?;
        let link = Arc::new(Link {
            main_filters,
            event_routes,
            command_filters: command_filters(&self.prefix, &node, &command_keys)?,
            node,
            config: self.config.clone(),
            prefix: self.prefix.clone(),
            limits: Limits {
                max_size: self.config.max_packet_size as usize,
            },
            main,
            commands,
            pending: DashMap::default(),
            subscriptions,
            command_keys,
            pacer: Mutex::new(Pacer::new(DEFAULT_WINDOW, self.config.event_queue)),
            idle: Notify::new(),
            health: self.health.clone(),
            main_ended: Notify::new(),
            commands_ended: Notify::new(),
            incoming: Notify::new(),
        });
        let backoff = Backoff::new(self.config.backoff_min(), self.config.backoff_max());
        let actor_link = link.clone();
        crate::actor::BridgeActor::create(move |ctx| {
            ctx.add_stream(connection::poll_stream(
                main_loop,
                Conn::Main,
                backoff.clone(),
            ));
            ctx.add_stream(connection::poll_stream(
                commands_loop,
                Conn::Commands,
                backoff,
            ));
            crate::actor::BridgeActor::new(actor_link)
        });
        Ok(link)
    }
}

/// A subscription filter with its identifier.
struct Subscription {
    filter: String,
    id: usize,
    shared: bool,
}

/// The main session's filters: responses, then one filter per distinct event filter. Local
/// subscriptions whose filters are the same string (two every-instance subscriptions to one
/// event, say) share one MQTT subscription, since a session holds a filter only once; the
/// returned routes list, per event subscription identifier, the local subscriptions it feeds.
fn main_filters(
    prefix: &TopicPrefix,
    node: &BridgeLink,
    subscriptions: &[LocalSubscription],
) -> Result<(Vec<Subscription>, Vec<Vec<usize>>), MqttError> {
    let mut filters = vec![Subscription {
        filter: topic::response_filter(prefix, &node.instance_id()),
        id: RESPONSES,
        shared: false,
    }];
    let mut routes: Vec<Vec<usize>> = Vec::new();
    for (i, sub) in subscriptions.iter().enumerate() {
        let group = (!sub.every_instance).then(|| {
            topic::share_group(
                &sub.subscriber.service_name,
                &sub.subscriber.service_version,
                &sub.subscriber.service_target,
            )
        });
        let shared = group.is_some();
        let filter =
            topic::event_filter(prefix, &EventFilterSpec::from_filter(&sub.filter, group))?;
        match filters.iter().position(|f| f.filter == filter) {
            Some(existing) => routes[filters[existing].id - FIRST_EVENT].push(i),
            None => {
                filters.push(Subscription {
                    filter,
                    id: FIRST_EVENT + routes.len(),
                    shared,
                });
                routes.push(vec![i]);
            }
        }
    }
    Ok((filters, routes))
}

fn command_filters(
    prefix: &TopicPrefix,
    node: &BridgeLink,
    keys: &[CommandKey],
) -> Result<Vec<Subscription>, MqttError> {
    let instance = node.instance_id();
    let mut filters = Vec::with_capacity(keys.len() * 2);
    for key in keys {
        let group = topic::command_share_group(&key.service, &key.version);
        filters.push(Subscription {
            filter: topic::command_filter_shared(
                prefix,
                &group,
                &key.service,
                &key.version,
                &key.command,
            )?,
            id: 1,
            shared: true,
        });
        filters.push(Subscription {
            filter: topic::command_filter_instance(
                prefix,
                &instance,
                &key.service,
                &key.version,
                &key.command,
            )?,
            id: 1,
            shared: false,
        });
    }
    Ok(filters)
}

/// A message ready to publish.
struct Outbound {
    topic: String,
    payload: Vec<u8>,
    properties: PublishProperties,
}

/// The bridge's state, shared by the node's handle and the actor.
pub(crate) struct Link {
    pub(crate) node: BridgeLink,
    pub(crate) config: MqttConfig,
    pub(crate) prefix: TopicPrefix,
    pub(crate) limits: Limits,
    /// The durable session's client: subscribes events and responses, publishes everything.
    pub(crate) main: AsyncClient,
    /// The command session's client.
    pub(crate) commands: AsyncClient,
    /// Invokes waiting for their response, by correlation id.
    pub(crate) pending: DashMap<
        Arc<str>,
        oneshot::Sender<Result<Value, CommandError>>,
        foldhash::fast::RandomState,
    >,
    pub(crate) subscriptions: Vec<LocalSubscription>,
    /// Per event subscription identifier (from `FIRST_EVENT`), the local subscriptions it feeds.
    pub(crate) event_routes: Vec<Vec<usize>>,
    pub(crate) command_keys: Vec<CommandKey>,
    main_filters: Vec<Subscription>,
    command_filters: Vec<Subscription>,
    /// What waits for room in the window, or for the broker while it is unreachable.
    pacer: Mutex<Pacer<Outbound>>,
    /// Woken when nothing is in flight or waiting.
    idle: Notify,
    pub(crate) health: Arc<HealthState>,
    pub(crate) main_ended: Notify,
    pub(crate) commands_ended: Notify,
    /// Woken by every incoming message, so a drain can tell when things go quiet.
    pub(crate) incoming: Notify,
}

impl std::fmt::Debug for Link {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Link")
            .field("node", &self.node.instance_id())
            .finish()
    }
}

/// An invoke that ends before anything is sent.
fn failed(err: CommandError) -> BoxFuture<'static, Result<Value, CommandError>> {
    Box::pin(std::future::ready(Err(err)))
}

fn unavailable(message: impl Into<String>) -> CommandError {
    let mut err = CommandError::new(Status::SERVICE_UNAVAILABLE, message);
    err.handled = false;
    err
}

impl Link {
    /// Encodes and addresses an envelope.
    fn outbound(&self, envelope: &Envelope, expiry: Expiry) -> Result<Outbound, MqttError> {
        let topic = topic::publish_topic(&self.prefix, envelope)?;
        let payload = self.config.codec.encode(envelope, &self.limits)?;
        let content_type = self.config.codec.content_type();
        // PURISTA's headers go with PURISTA's format only: see
        // `properties::publish_properties_without_headers`.
        let properties = match self.config.codec {
            Codec::Json => properties::publish_properties(envelope, content_type, expiry),
            Codec::Bincode => {
                properties::publish_properties_without_headers(envelope, content_type, expiry)
            }
        };
        Ok(Outbound {
            topic,
            payload,
            properties,
        })
    }

    fn event_expiry(&self) -> Expiry {
        Expiry::from_secs(self.config.event_expiry_secs)
    }

    /// Hands a message to rumqttc without waiting: a full request channel is an error, not
    /// a stall.
    fn publish_now(&self, outbound: Outbound) -> Result<(), MqttError> {
        self.main
            .try_publish_with_properties(
                outbound.topic,
                QoS::AtLeastOnce,
                false,
                outbound.payload,
                outbound.properties,
            )
            .map_err(|_| MqttError::Busy)
    }

    /// Sends a message when the window has room and the broker is reachable; until then it
    /// waits here. `deadline`: when nobody waits for it any more (it is then dropped unsent);
    /// `droppable`: an event, which may give way when the backlog is full.
    fn submit(&self, outbound: Outbound, deadline: Option<Instant>, droppable: bool) {
        let open = self.health.is_connected(Conn::Main);
        let submitted = self
            .lock_pacer()
            .submit(outbound, deadline, droppable, open);
        match submitted {
            Submitted::SendNow(outbound) => {
                if let Err(err) = self.publish_now(outbound) {
                    self.lock_pacer().acked();
                    tracing::warn!(cause = %err, "message not sent");
                }
            }
            Submitted::Queued {
                dropped_oldest: true,
            } => {
                bump(&self.health.events_dropped);
                tracing::warn!(
                    capacity = self.config.event_queue,
                    "backlog full: oldest waiting event dropped"
                );
            }
            Submitted::Queued {
                dropped_oldest: false,
            } => {}
        }
    }

    fn lock_pacer(&self) -> std::sync::MutexGuard<'_, Pacer<Outbound>> {
        self.pacer.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Sends what the window now has room for (after an acknowledgement or a connect).
    pub(crate) fn pump(&self) {
        let (ready, expired) = self.lock_pacer().ready(Instant::now());
        for _ in 0..expired {
            bump(&self.health.expired);
        }
        for outbound in ready {
            if let Err(err) = self.publish_now(outbound) {
                self.lock_pacer().acked();
                tracing::warn!(cause = %err, "message not sent");
            }
        }
        if self.lock_pacer().idle() {
            self.idle.notify_waiters();
        }
    }

    /// The broker acknowledged a publish.
    pub(crate) fn acked(&self) {
        self.lock_pacer().acked();
        self.pump();
    }

    /// The main session connected: the broker's receive maximum is the window.
    pub(crate) fn main_connected(&self, receive_maximum: Option<u16>, session_present: bool) {
        let window = receive_maximum
            .map_or(DEFAULT_WINDOW, usize::from)
            .min(DEFAULT_WINDOW);
        self.lock_pacer().connected(window, session_present);
        self.pump();
    }

    /// Sends a response; it is dropped unsent once its caller stops waiting, and it expires
    /// at the broker then too, should the caller be away.
    pub(crate) fn respond(&self, envelope: &Envelope, timeout: Duration) {
        match self.outbound(envelope, Expiry::from_timeout(timeout)) {
            Ok(outbound) => self.submit(outbound, Some(Instant::now() + timeout), false),
            Err(err) => {
                tracing::warn!(cause = %err, message_type = %envelope.message_type, "response not sent")
            }
        }
    }

    /// How many filters `conn` subscribes after each CONNACK.
    pub(crate) fn filter_count(&self, conn: Conn) -> usize {
        match conn {
            Conn::Main => self.main_filters.len(),
            Conn::Commands => self.command_filters.len(),
        }
    }

    pub(crate) fn subscribe(&self, conn: Conn) {
        let (client, filters) = match conn {
            Conn::Main => (&self.main, &self.main_filters),
            Conn::Commands => (&self.commands, &self.command_filters),
        };
        for sub in filters {
            let filter = Filter {
                path: sub.filter.clone(),
                qos: QoS::AtLeastOnce,
                nolocal: false,
                preserve_retain: false,
                retain_forward_rule: RetainForwardRule::OnNewSubscribe,
            };
            let properties = SubscribeProperties {
                id: Some(sub.id),
                user_properties: Vec::new(),
            };
            if client
                .try_subscribe_many_with_properties([filter], properties)
                .is_err()
            {
                tracing::warn!(filter = %sub.filter, "subscribe not queued: request channel full");
            }
        }
    }

    fn fail_pending(&self, why: &str) {
        let keys: Vec<Arc<str>> = self.pending.iter().map(|e| e.key().clone()).collect();
        for key in keys {
            if let Some((_, reply)) = self.pending.remove(&key) {
                let _ = reply.send(Err(unavailable(why)));
            }
        }
    }

    /// Waits until no message has arrived for a moment, at most `limit`.
    async fn quiet(&self, limit: Duration) {
        let deadline = tokio::time::Instant::now() + limit;
        while tokio::time::timeout_at(deadline, async {
            tokio::time::timeout(Duration::from_millis(200), self.incoming.notified())
                .await
                .is_ok()
        })
        .await
        .unwrap_or(false)
        {}
    }

    /// Connects once more with a clean start and no expiry, which discards the durable
    /// session, then disconnects: the broker keeps nothing for an instance that left on
    /// purpose.
    async fn end_session(&self) {
        let options = connection::end_session_options(&self.config, self.node.instance_id());
        let (client, mut eventloop) = AsyncClient::new(options, 10);
        let ended = async {
            loop {
                match eventloop.poll().await {
                    Ok(Event::Incoming(Packet::ConnAck(_))) => {
                        let _ = client.try_disconnect();
                    }
                    Ok(Event::Outgoing(rumqttc::Outgoing::Disconnect)) | Err(_) => return,
                    Ok(_) => {}
                }
            }
        };
        let _ = tokio::time::timeout(Duration::from_secs(2), ended).await;
    }
}

/// The bridge as the node holds it.
#[derive(Debug, Clone)]
pub struct BridgeHandle(Arc<Link>);

/// Removes a pending invoke when its caller stops waiting, whatever the reason.
struct PendingGuard {
    link: Arc<Link>,
    correlation_id: Arc<str>,
}

impl Drop for PendingGuard {
    fn drop(&mut self) {
        self.link.pending.remove(&self.correlation_id);
    }
}

impl tributary::Bridge for BridgeHandle {
    fn invoke(
        &self,
        command: Envelope,
        timeout: Duration,
    ) -> BoxFuture<'static, Result<Value, CommandError>> {
        // Sent (or queued) now; the future only waits for the answer, so it stays small.
        let link = &self.0;
        if !link.health.is_connected(Conn::Main) {
            return failed(unavailable("not connected to the broker"));
        }
        let Some(correlation_id) = command.correlation_id.as_deref().map(Arc::<str>::from) else {
            return failed(CommandError::new(
                Status::BAD_REQUEST,
                "command without correlation id",
            ));
        };
        // The broker drops a command nobody took in time: its expiry is the timeout.
        let outbound = match link.outbound(&command, Expiry::from_timeout(timeout)) {
            Ok(outbound) => outbound,
            Err(err) => return failed(err.into_command_error()),
        };
        drop(command);
        let (reply, response) = oneshot::channel();
        link.pending.insert(correlation_id.clone(), reply);
        let guard = PendingGuard {
            link: link.clone(),
            correlation_id,
        };
        // Sent when the window has room; never after the caller has stopped waiting.
        link.submit(outbound, Some(Instant::now() + timeout), false);
        Box::pin(async move {
            let _guard = guard;
            match tokio::time::timeout(timeout, response).await {
                Ok(Ok(answer)) => answer,
                Ok(Err(_)) => Err(unavailable("bridge closed")),
                Err(_) => Err(CommandError {
                    status: Status::GATEWAY_TIMEOUT,
                    message: format!("invocation timed out after {} ms", timeout.as_millis()),
                    data: None,
                    handled: false,
                }),
            }
        })
    }

    fn publish(&self, event: Envelope) {
        let link = &self.0;
        let outbound = match link.outbound(&event, link.event_expiry()) {
            Ok(outbound) => outbound,
            Err(err) => {
                tracing::warn!(cause = %err, event = ?event.event_name, "event not published");
                return;
            }
        };
        link.submit(outbound, None, true);
    }

    fn leave(&self) -> BoxFuture<'static, ()> {
        let link = self.0.clone();
        Box::pin(async move {
            // Leave the shared groups first (commands, and events subscribed once per
            // service), then take in, and handle, what the broker routed here before: a
            // disconnect now would lose it.
            for sub in &link.command_filters {
                let _ = link.commands.try_unsubscribe(sub.filter.clone());
            }
            for sub in link.main_filters.iter().filter(|s| s.shared) {
                let _ = link.main.try_unsubscribe(sub.filter.clone());
            }
            link.quiet(Duration::from_millis(link.config.drain_ms))
                .await;
            // The command session ends with its connection.
            let ended = link.commands_ended.notified();
            if link.commands.try_disconnect().is_ok() {
                let _ = tokio::time::timeout(Duration::from_secs(2), ended).await;
            }
        })
    }

    fn close(&self) -> BoxFuture<'static, ()> {
        let link = self.0.clone();
        Box::pin(async move {
            // Send what waits first, as far as the broker takes it within the bound.
            if link.health.is_connected(Conn::Main) {
                let idle = link.idle.notified();
                tokio::pin!(idle);
                idle.as_mut().enable();
                if !link.lock_pacer().idle() {
                    let _ = tokio::time::timeout(Duration::from_millis(link.config.drain_ms), idle)
                        .await;
                }
            }
            let ended = link.main_ended.notified();
            if link.main.try_disconnect().is_ok() {
                let _ = tokio::time::timeout(Duration::from_secs(2), ended).await;
            }
            link.end_session().await;
            link.fail_pending("bridge closed");
        })
    }
}
