//! The services the broker tests deploy, in this process or in `test-node` processes: small,
//! and each answering with what the test needs to see (which node handled a command, what a
//! subscriber received).
//!
//! `Echo`, `Peer` and `Recorder` run wherever [`graph`] is asked for them or for everything;
//! `Probe`, which reports the trace, principal and tenant a message carried, runs only where
//! it is named.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use actix::prelude::*;
use serde::{Deserialize, Serialize};
use tributary::codec::Codec;
use tributary::{
    CommandContract, CommandError, CommandResult, Delivery, Empty, EventContract, Invocation, Node,
    NodeBuilder, Registrar, Service, ServiceSpec, Subscription,
};
use tributary_mqtt::{MqttBridge, MqttConfig};

use crate::Mosquitto;

/// What `Echo/1/echo` answers: the text, and which node handled it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Echoed {
    /// The text sent.
    pub text: String,
    /// The instance id of the node that handled it.
    pub node: String,
    /// The tenant the command carried.
    pub tenant: Option<String>,
}

/// A text.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Text {
    /// The text.
    pub text: String,
}

macro_rules! command {
    ($(#[$doc:meta])* $name:ident, $service:literal, $command:literal, $payload:ty, $output:ty) => {
        $(#[$doc])*
        pub struct $name;
        impl CommandContract for $name {
            const SERVICE: &'static str = $service;
            const VERSION: &'static str = "1";
            const COMMAND: &'static str = $command;
            type Payload = $payload;
            type Parameter = Empty;
            type Output = $output;
        }
    };
}

command!(
    /// Answers with the text and the node that handled it.
    Echo, "Echo", "echo", Text, Echoed
);
command!(
    /// Refuses with a handled 409 carrying the text as data.
    Refuse, "Echo", "refuse", Text, ()
);
command!(
    /// Panics: the caller gets a 500.
    Boom, "Echo", "boom", Empty, ()
);
command!(
    /// Never answers: the caller gets a 504.
    Hang, "Echo", "hang", Empty, ()
);
command!(
    /// Emits `pinged` with the number, then answers it.
    Ping, "Echo", "ping", u64, u64
);
command!(
    /// Invokes `Peer/1/ask` (somewhere else) and answers with what it said.
    Relay, "Echo", "relay", Text, Echoed
);
command!(
    /// Answers like `echo`, from the `Peer` service.
    Ask, "Peer", "ask", Text, Echoed
);
command!(
    /// The numbers the recorder's subscriptions received, in order: (one instance, every instance).
    Seen, "Recorder", "seen", Empty, (Vec<u64>, Vec<u64>)
);

/// The context a message carried, as its handler saw it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CallInfo {
    /// The instance id of the node that handled it.
    pub node: String,
    /// The principal it acted for.
    pub principal: Option<String>,
    /// The tenant it belonged to.
    pub tenant: Option<String>,
    /// Its trace id.
    pub trace: String,
    /// The instance id of the node that sent it.
    pub sender_node: Option<String>,
}

/// A `pinged` event as a `Probe` received it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HeardPing {
    /// The number it carried.
    pub number: u64,
    /// Its context.
    pub context: CallInfo,
}

command!(
    /// Answers with the context the command carried.
    Who, "Probe", "who", Empty, CallInfo
);
command!(
    /// Invokes `Probe/1/who` on the node whose instance id is the payload, within this
    /// command's context, and answers with what it said.
    WhoVia, "Probe", "via", String, CallInfo
);
command!(
    /// The `pinged` events this probe received (every-instance subscription), in order.
    Heard, "Probe", "heard", Empty, Vec<HeardPing>
);

/// A numbered payload.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Numbered {
    /// The number.
    pub n: u64,
}

command!(
    /// A command no service of the graph handles.
    Nobody, "Nobody", "listens", Numbered, ()
);

/// Waits, at most `within`, until `target` answers an `Echo/1/echo` addressed to it. Its
/// bridge subscribes the shared command filter before the instance filter, on one connection
/// that mosquitto serves in order: once the instance filter works, the share-group
/// membership does too.
pub async fn answers(caller: &tributary::Node, target: &tributary::Node, within: Duration) -> bool {
    let id = target.instance_id();
    crate::eventually_async(within, async || {
        caller
            .client()
            .invoke::<Echo>(
                Text {
                    text: "probe".into(),
                },
                Empty {},
            )
            .on_instance(id)
            .timeout(Duration::from_millis(500))
            .await
            .is_ok_and(|echoed| echoed.node == id.to_string())
    })
    .await
}

/// `pinged`: the number a `ping` carried.
pub struct Pinged;
impl EventContract for Pinged {
    const EVENT: &'static str = "pinged";
    type Payload = u64;
}

fn echoed(text: String, call_node: String, tenant: Option<&str>) -> Echoed {
    Echoed {
        text,
        node: call_node,
        tenant: tenant.map(str::to_owned),
    }
}

/// Service `Echo`.
pub struct EchoService;
impl Actor for EchoService {
    type Context = Context<Self>;
}
impl Service for EchoService {
    const NAME: &'static str = "Echo";
    const VERSION: &'static str = "1";
    fn register(service: &mut Registrar<Self>) {
        service
            .command::<Echo>()
            .command::<Refuse>()
            .command::<Boom>()
            .command::<Hang>()
            .command::<Ping>()
            .command::<Relay>();
    }
}

impl Handler<Invocation<Echo>> for EchoService {
    type Result = CommandResult<Echo>;
    fn handle(&mut self, call: Invocation<Echo>, _: &mut Context<Self>) -> Self::Result {
        let node = call.client().instance_id().to_string();
        Ok(echoed(
            call.payload.text.clone(),
            node,
            call.meta().tenant_id(),
        ))
    }
}

impl Handler<Invocation<Refuse>> for EchoService {
    type Result = CommandResult<Refuse>;
    fn handle(&mut self, call: Invocation<Refuse>, _: &mut Context<Self>) -> Self::Result {
        Err(CommandError::new(409, "refused").with_data(&call.payload))
    }
}

impl Handler<Invocation<Boom>> for EchoService {
    type Result = CommandResult<Boom>;
    fn handle(&mut self, _: Invocation<Boom>, _: &mut Context<Self>) -> Self::Result {
        panic!("boom")
    }
}

impl Handler<Invocation<Hang>> for EchoService {
    type Result = ResponseFuture<CommandResult<Hang>>;
    fn handle(&mut self, _: Invocation<Hang>, _: &mut Context<Self>) -> Self::Result {
        Box::pin(std::future::pending())
    }
}

impl Handler<Invocation<Ping>> for EchoService {
    type Result = CommandResult<Ping>;
    fn handle(&mut self, call: Invocation<Ping>, _: &mut Context<Self>) -> Self::Result {
        call.client().emit::<Pinged>(call.payload);
        Ok(call.payload)
    }
}

impl Handler<Invocation<Relay>> for EchoService {
    type Result = ResponseFuture<CommandResult<Relay>>;
    fn handle(&mut self, call: Invocation<Relay>, _: &mut Context<Self>) -> Self::Result {
        let client = call.client();
        let text = call.payload.clone();
        Box::pin(async move {
            client
                .invoke::<Ask>(text, Empty {})
                .timeout(Duration::from_secs(5))
                .await
        })
    }
}

/// Service `Peer`.
pub struct PeerService;
impl Actor for PeerService {
    type Context = Context<Self>;
}
impl Service for PeerService {
    const NAME: &'static str = "Peer";
    const VERSION: &'static str = "1";
    fn register(service: &mut Registrar<Self>) {
        service.command::<Ask>();
    }
}
impl Handler<Invocation<Ask>> for PeerService {
    type Result = CommandResult<Ask>;
    fn handle(&mut self, call: Invocation<Ask>, _: &mut Context<Self>) -> Self::Result {
        let node = call.client().instance_id().to_string();
        Ok(echoed(
            call.payload.text.clone(),
            node,
            call.meta().tenant_id(),
        ))
    }
}

/// What a recorder's subscriptions received.
#[derive(Debug, Default)]
pub struct Received {
    /// Through the subscription shared by the service's instances.
    pub once: Vec<u64>,
    /// Through the every-instance subscription.
    pub everywhere: Vec<u64>,
}

/// Service `Recorder`: subscribes to `pinged` once per service and once per instance.
pub struct RecorderService(pub Arc<Mutex<Received>>);
impl Actor for RecorderService {
    type Context = Context<Self>;
}
impl Service for RecorderService {
    const NAME: &'static str = "Recorder";
    const VERSION: &'static str = "1";
    fn register(service: &mut Registrar<Self>) {
        service
            .command::<Seen>()
            .subscribe_with::<Pinged>(Subscription::to::<Pinged>().named("once"))
            .subscribe_with::<Pinged>(
                Subscription::to::<Pinged>()
                    .named("everywhere")
                    .every_instance(),
            );
    }
}

impl Handler<Delivery<Pinged>> for RecorderService {
    type Result = ();
    fn handle(&mut self, delivery: Delivery<Pinged>, _: &mut Context<Self>) {
        let mut received = self.0.lock().unwrap_or_else(|e| e.into_inner());
        match delivery.subscription() {
            "everywhere" => received.everywhere.push(*delivery.payload()),
            _ => received.once.push(*delivery.payload()),
        }
    }
}

impl Handler<Invocation<Seen>> for RecorderService {
    type Result = CommandResult<Seen>;
    fn handle(&mut self, _: Invocation<Seen>, _: &mut Context<Self>) -> Self::Result {
        let received = self.0.lock().unwrap_or_else(|e| e.into_inner());
        Ok((received.once.clone(), received.everywhere.clone()))
    }
}

fn call_info(node: String, meta: &tributary::Metadata) -> CallInfo {
    CallInfo {
        node,
        principal: meta.principal_id().map(str::to_owned),
        tenant: meta.tenant_id().map(str::to_owned),
        trace: meta.trace_id().to_string(),
        sender_node: meta.sender().instance_id.map(|i| i.to_string()),
    }
}

/// Service `Probe`: reports the context of the commands and events it receives.
#[derive(Debug, Default)]
pub struct ProbeService {
    heard: Vec<HeardPing>,
}
impl Actor for ProbeService {
    type Context = Context<Self>;
}
impl Service for ProbeService {
    const NAME: &'static str = "Probe";
    const VERSION: &'static str = "1";
    fn register(service: &mut Registrar<Self>) {
        service
            .command::<Who>()
            .command::<WhoVia>()
            .command::<Heard>()
            .subscribe_with::<Pinged>(Subscription::to::<Pinged>().named("probe").every_instance());
    }
}

impl Handler<Invocation<Who>> for ProbeService {
    type Result = CommandResult<Who>;
    fn handle(&mut self, call: Invocation<Who>, _: &mut Context<Self>) -> Self::Result {
        Ok(call_info(
            call.client().instance_id().to_string(),
            call.meta(),
        ))
    }
}

impl Handler<Invocation<WhoVia>> for ProbeService {
    type Result = ResponseFuture<CommandResult<WhoVia>>;
    fn handle(&mut self, call: Invocation<WhoVia>, _: &mut Context<Self>) -> Self::Result {
        let client = call.client();
        let target = call.payload.parse::<tributary::InstanceId>();
        Box::pin(async move {
            let target = target.map_err(|e| CommandError::new(400, e.to_string()))?;
            client
                .invoke::<Who>(Empty {}, Empty {})
                .on_instance(target)
                .timeout(Duration::from_secs(5))
                .await
        })
    }
}

impl Handler<Invocation<Heard>> for ProbeService {
    type Result = CommandResult<Heard>;
    fn handle(&mut self, _: Invocation<Heard>, _: &mut Context<Self>) -> Self::Result {
        Ok(self.heard.clone())
    }
}

impl Handler<Delivery<Pinged>> for ProbeService {
    type Result = ();
    fn handle(&mut self, delivery: Delivery<Pinged>, _: &mut Context<Self>) {
        let node = delivery.client().instance_id().to_string();
        self.heard.push(HeardPing {
            number: *delivery.payload(),
            context: call_info(node, delivery.meta()),
        });
    }
}

/// Adds the services named in `services` (all but `Probe` if empty) to `builder`.
pub fn graph(
    builder: NodeBuilder,
    services: &[String],
    received: Arc<Mutex<Received>>,
) -> NodeBuilder {
    let runs = |name: &str| services.is_empty() || services.iter().any(|s| s == name);
    let mut builder = builder;
    if runs("Echo") {
        builder = builder.service(|| EchoService);
    }
    if runs("Peer") {
        builder = builder.service(|| PeerService);
    }
    if runs("Recorder") {
        builder = builder.service_spec(ServiceSpec::new(move || RecorderService(received.clone())));
    }
    if services.iter().any(|s| s == "Probe") {
        builder = builder.service(ProbeService::default);
    }
    builder
}

/// A node of the test graph in this process, bridged to a broker.
#[derive(Debug)]
pub struct BridgedNode {
    /// The node.
    pub node: Node,
    /// Its bridge, for health and pending invokes.
    pub bridge: MqttBridge,
    /// What its `Recorder` received, if it runs one.
    pub received: Arc<Mutex<Received>>,
}

impl BridgedNode {
    /// Starts a node running `services` (see [`graph`]) bridged to `broker`, writing `codec`.
    /// Call it inside an actix `System`.
    pub fn start(
        broker: &Mosquitto,
        services: &[&str],
        codec: Codec,
    ) -> Result<Self, Box<dyn std::error::Error>> {
        let bridge = MqttBridge::new(MqttConfig::new(broker.host(), broker.port()).codec(codec))?;
        let services: Vec<String> = services.iter().map(|s| s.to_string()).collect();
        let received = Arc::new(Mutex::new(Received::default()));
        let node = graph(Node::builder(), &services, received.clone())
            .bridge(bridge.attach())
            .start()?;
        Ok(BridgedNode {
            node,
            bridge,
            received,
        })
    }

    /// Whether both of the bridge's sessions are connected.
    pub fn connected(&self) -> bool {
        let health = self.bridge.health();
        health.ready
    }

    /// A copy of what its `Recorder` received: (one instance, every instance).
    pub fn seen(&self) -> (Vec<u64>, Vec<u64>) {
        let received = self.received.lock().unwrap_or_else(|e| e.into_inner());
        (received.once.clone(), received.everywhere.clone())
    }
}
