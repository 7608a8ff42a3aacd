//! Contracts and services the runtime's tests share: a user service shaped like PURISTA's
//! vectors, an audit subscriber, and a three-service chain.
#![allow(dead_code, unreachable_pub, missing_docs, clippy::unwrap_used)]

use std::time::Duration;

use actix::prelude::*;
use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;
use tributary::{
    CommandContract, CommandError, CommandResult, Delivery, Empty, EventContract, Invocation,
    Registrar, Service, Violation,
};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NewUser {
    pub name: String,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DryRun {
    pub dry_run: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Created {
    pub user_id: String,
}

/// `UserService/1/createUser`, with success event `userCreated`.
pub struct CreateUser;
impl CommandContract for CreateUser {
    const SERVICE: &'static str = "UserService";
    const VERSION: &'static str = "1";
    const COMMAND: &'static str = "createUser";
    const SUCCESS_EVENT: Option<&'static str> = Some("userCreated");
    type Payload = NewUser;
    type Parameter = DryRun;
    type Output = Created;

    fn validate(payload: &NewUser, _: &DryRun) -> Result<(), Vec<Violation>> {
        if payload.name.is_empty() {
            return Err(vec![Violation::new(["name"], "must not be empty")]);
        }
        Ok(())
    }
}

pub struct UserCreated;
impl EventContract for UserCreated {
    const EVENT: &'static str = "userCreated";
    type Payload = Created;
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Text {
    pub text: String,
}

/// `UserService/1/notifyAll`: emits `broadcastSent`.
pub struct NotifyAll;
impl CommandContract for NotifyAll {
    const SERVICE: &'static str = "UserService";
    const VERSION: &'static str = "1";
    const COMMAND: &'static str = "notifyAll";
    type Payload = Text;
    type Parameter = Empty;
    type Output = ();
}

pub struct BroadcastSent;
impl EventContract for BroadcastSent {
    const EVENT: &'static str = "broadcastSent";
    type Payload = Text;
}

/// `UserService/1/hang`: never answers.
pub struct Hang;
impl CommandContract for Hang {
    const SERVICE: &'static str = "UserService";
    const VERSION: &'static str = "1";
    const COMMAND: &'static str = "hang";
    type Payload = Empty;
    type Parameter = Empty;
    type Output = ();
}

/// `UserService/1/slow`: answers after the given number of milliseconds.
pub struct Slow;
impl CommandContract for Slow {
    const SERVICE: &'static str = "UserService";
    const VERSION: &'static str = "1";
    const COMMAND: &'static str = "slow";
    type Payload = u64;
    type Parameter = Empty;
    type Output = u64;
}

/// `UserService/1/whoami`: which instance answered.
pub struct WhoAmI;
impl CommandContract for WhoAmI {
    const SERVICE: &'static str = "UserService";
    const VERSION: &'static str = "1";
    const COMMAND: &'static str = "whoami";
    type Payload = Empty;
    type Parameter = Empty;
    type Output = usize;
}

/// A command nobody registers.
pub struct DeleteUser;
impl CommandContract for DeleteUser {
    const SERVICE: &'static str = "UserService";
    const VERSION: &'static str = "1";
    const COMMAND: &'static str = "deleteUser";
    type Payload = Empty;
    type Parameter = Empty;
    type Output = ();
}

pub struct UserService {
    pub instance: usize,
}

impl Actor for UserService {
    type Context = Context<Self>;
}

impl Service for UserService {
    const NAME: &'static str = "UserService";
    const VERSION: &'static str = "1";
    fn register(service: &mut Registrar<Self>) {
        service
            .command::<CreateUser>()
            .command::<NotifyAll>()
            .command::<Hang>()
            .command::<Slow>()
            .command::<WhoAmI>();
    }
}

impl Handler<Invocation<CreateUser>> for UserService {
    type Result = CommandResult<CreateUser>;
    fn handle(&mut self, call: Invocation<CreateUser>, _: &mut Context<Self>) -> Self::Result {
        match call.payload.name.as_str() {
            "taken" => {
                Err(CommandError::new(409, "user name already taken").with_data(&call.payload))
            }
            "boom" => panic!("boom"),
            name => Ok(Created {
                user_id: format!("u-{name}"),
            }),
        }
    }
}

impl Handler<Invocation<NotifyAll>> for UserService {
    type Result = CommandResult<NotifyAll>;
    fn handle(&mut self, call: Invocation<NotifyAll>, _: &mut Context<Self>) -> Self::Result {
        call.client().emit::<BroadcastSent>(call.payload.clone());
        Ok(())
    }
}

impl Handler<Invocation<Hang>> for UserService {
    type Result = ResponseFuture<CommandResult<Hang>>;
    fn handle(&mut self, _: Invocation<Hang>, _: &mut Context<Self>) -> Self::Result {
        Box::pin(std::future::pending())
    }
}

impl Handler<Invocation<Slow>> for UserService {
    type Result = ResponseFuture<CommandResult<Slow>>;
    fn handle(&mut self, call: Invocation<Slow>, _: &mut Context<Self>) -> Self::Result {
        let ms = call.payload;
        Box::pin(async move {
            tokio::time::sleep(Duration::from_millis(ms)).await;
            Ok(ms)
        })
    }
}

impl Handler<Invocation<WhoAmI>> for UserService {
    type Result = CommandResult<WhoAmI>;
    fn handle(&mut self, _: Invocation<WhoAmI>, _: &mut Context<Self>) -> Self::Result {
        Ok(self.instance)
    }
}

/// What a recording subscriber saw: which instance, the event, and its metadata.
#[derive(Debug, Clone)]
pub struct Seen<P> {
    pub instance: usize,
    pub payload: P,
    pub event_name: Option<String>,
    pub trace_id: String,
    pub principal_id: Option<String>,
    pub tenant_id: Option<String>,
    pub sender: (String, String, String),
}

impl<P> Seen<P> {
    pub fn of<E: EventContract<Payload = P>>(instance: usize, delivery: &Delivery<E>) -> Self
    where
        P: Clone,
    {
        let meta = delivery.meta();
        Seen {
            instance,
            payload: delivery.payload().clone(),
            event_name: meta.event_name().map(str::to_owned),
            trace_id: meta.trace_id().to_string(),
            principal_id: meta.principal_id().map(str::to_owned),
            tenant_id: meta.tenant_id().map(str::to_owned),
            sender: (
                meta.sender().service_name.to_string(),
                meta.sender().service_version.to_string(),
                meta.sender().service_target.to_string(),
            ),
        }
    }
}

/// Receives with a deadline, failing the test rather than hanging it.
pub async fn recv<T>(rx: &mut mpsc::UnboundedReceiver<T>) -> T {
    tokio::time::timeout(Duration::from_secs(5), rx.recv())
        .await
        .expect("nothing arrived within 5 s")
        .expect("channel closed")
}

/// Asserts that nothing more arrives: every sender must be gone, or the check waits for
/// `quiet` (deliveries are sent before the calls that cause them return, so a short quiet
/// period after a synchronising call suffices).
pub async fn assert_nothing_more<T: std::fmt::Debug>(rx: &mut mpsc::UnboundedReceiver<T>) {
    if let Ok(Some(extra)) = tokio::time::timeout(Duration::from_millis(100), rx.recv()).await {
        panic!("unexpected extra delivery: {extra:?}");
    }
}

/// A subscriber service that records what it receives on a channel.
pub struct Audit {
    pub instance: usize,
    pub seen: mpsc::UnboundedSender<Seen<Created>>,
}

impl Actor for Audit {
    type Context = Context<Self>;
}

impl Service for Audit {
    const NAME: &'static str = "AuditService";
    const VERSION: &'static str = "1";
    fn register(service: &mut Registrar<Self>) {
        service.subscribe::<UserCreated>();
    }
}

impl Handler<Delivery<UserCreated>> for Audit {
    type Result = ();
    fn handle(&mut self, delivery: Delivery<UserCreated>, _: &mut Context<Self>) {
        let _ = self.seen.send(Seen::of(self.instance, &delivery));
    }
}

/// A subscriber service whose subscriptions come from its `ServiceSpec` (configuration),
/// recording `userCreated` and `broadcastSent` deliveries.
pub struct Recorder {
    pub instance: usize,
    pub created: mpsc::UnboundedSender<Seen<Created>>,
    pub broadcasts: mpsc::UnboundedSender<Seen<Text>>,
}

impl Actor for Recorder {
    type Context = Context<Self>;
}

impl Service for Recorder {
    const NAME: &'static str = "Recorder";
    const VERSION: &'static str = "1";
    fn register(_: &mut Registrar<Self>) {}
}

impl Handler<Delivery<UserCreated>> for Recorder {
    type Result = ();
    fn handle(&mut self, delivery: Delivery<UserCreated>, _: &mut Context<Self>) {
        let _ = self.created.send(Seen::of(self.instance, &delivery));
    }
}

impl Handler<Delivery<BroadcastSent>> for Recorder {
    type Result = ();
    fn handle(&mut self, delivery: Delivery<BroadcastSent>, _: &mut Context<Self>) {
        let _ = self.broadcasts.send(Seen::of(self.instance, &delivery));
    }
}
