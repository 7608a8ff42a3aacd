//! Trace, principal and tenant propagate through a chain of three services and onto the
//! events they emit (design §3 rule 5).
#![allow(clippy::unwrap_used, missing_docs)]

mod common;

use actix::prelude::*;
use common::{recv, Seen};
use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;
use tributary::{
    CommandContract, CommandResult, Delivery, Empty, EventContract, Invocation, Node, Registrar,
    Service,
};

/// What the last service of the chain saw.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Seen3 {
    trace_id: String,
    principal_id: Option<String>,
    tenant_id: Option<String>,
    sender: (String, String, String),
}

macro_rules! command {
    ($name:ident, $service:literal, $command:literal) => {
        pub struct $name;
        impl CommandContract for $name {
            const SERVICE: &'static str = $service;
            const VERSION: &'static str = "1";
            const COMMAND: &'static str = $command;
            type Payload = Empty;
            type Parameter = Empty;
            type Output = Seen3;
        }
    };
}

command!(First, "Front", "first");
command!(Second, "Middle", "second");
command!(Third, "Back", "third");

pub struct ThirdDone;
impl EventContract for ThirdDone {
    const EVENT: &'static str = "thirdDone";
    type Payload = Empty;
}

macro_rules! service {
    ($actor:ident, $name:literal, $command:ident) => {
        pub struct $actor;
        impl Actor for $actor {
            type Context = Context<Self>;
        }
        impl Service for $actor {
            const NAME: &'static str = $name;
            const VERSION: &'static str = "1";
            fn register(service: &mut Registrar<Self>) {
                service.command::<$command>();
            }
        }
    };
}

service!(FrontService, "Front", First);
service!(MiddleService, "Middle", Second);
service!(BackService, "Back", Third);

impl Handler<Invocation<First>> for FrontService {
    type Result = ResponseFuture<CommandResult<First>>;
    fn handle(&mut self, call: Invocation<First>, _: &mut Context<Self>) -> Self::Result {
        let client = call.client();
        Box::pin(async move { client.invoke::<Second>(Empty {}, Empty {}).await })
    }
}

impl Handler<Invocation<Second>> for MiddleService {
    type Result = ResponseFuture<CommandResult<Second>>;
    fn handle(&mut self, call: Invocation<Second>, _: &mut Context<Self>) -> Self::Result {
        let client = call.client();
        Box::pin(async move { client.invoke::<Third>(Empty {}, Empty {}).await })
    }
}

impl Handler<Invocation<Third>> for BackService {
    type Result = CommandResult<Third>;
    fn handle(&mut self, call: Invocation<Third>, _: &mut Context<Self>) -> Self::Result {
        call.client().emit::<ThirdDone>(Empty {});
        let meta = call.meta();
        Ok(Seen3 {
            trace_id: meta.trace_id().to_string(),
            principal_id: meta.principal_id().map(str::to_owned),
            tenant_id: meta.tenant_id().map(str::to_owned),
            sender: (
                meta.sender().service_name.to_string(),
                meta.sender().service_version.to_string(),
                meta.sender().service_target.to_string(),
            ),
        })
    }
}

pub struct Watcher(mpsc::UnboundedSender<Seen<Empty>>);
impl Actor for Watcher {
    type Context = Context<Self>;
}
impl Service for Watcher {
    const NAME: &'static str = "Watcher";
    const VERSION: &'static str = "1";
    fn register(service: &mut Registrar<Self>) {
        service.subscribe::<ThirdDone>();
    }
}
impl Handler<Delivery<ThirdDone>> for Watcher {
    type Result = ();
    fn handle(&mut self, delivery: Delivery<ThirdDone>, _: &mut Context<Self>) {
        let _ = self.0.send(Seen::of(0, &delivery));
    }
}

fn chain() -> (Node, mpsc::UnboundedReceiver<Seen<Empty>>) {
    let (tx, rx) = mpsc::unbounded_channel();
    let node = Node::builder()
        .service(|| FrontService)
        .service(|| MiddleService)
        .service(|| BackService)
        .service(move || Watcher(tx.clone()))
        .start()
        .unwrap();
    (node, rx)
}

#[actix::test]
async fn trace_principal_and_tenant_reach_the_third_service_and_its_event() {
    let (node, mut events) = chain();
    let seen = node
        .client()
        .with_trace_id("trace-abc")
        .with_principal("principal-42")
        .with_tenant("tenant-7")
        .invoke::<First>(Empty {}, Empty {})
        .await
        .unwrap();
    assert_eq!(seen.trace_id, "trace-abc");
    assert_eq!(seen.principal_id.as_deref(), Some("principal-42"));
    assert_eq!(seen.tenant_id.as_deref(), Some("tenant-7"));
    // Each hop speaks as the command that made the call.
    assert_eq!(seen.sender, ("Middle".into(), "1".into(), "second".into()));

    let event = recv(&mut events).await;
    assert_eq!(event.trace_id, "trace-abc");
    assert_eq!(event.principal_id.as_deref(), Some("principal-42"));
    assert_eq!(event.tenant_id.as_deref(), Some("tenant-7"));
    assert_eq!(event.sender, ("Back".into(), "1".into(), "third".into()));
}

#[actix::test]
async fn a_trace_id_is_made_at_the_root_and_kept_down_the_chain() {
    let (node, mut events) = chain();
    let seen = node
        .client()
        .invoke::<First>(Empty {}, Empty {})
        .await
        .unwrap();
    assert_eq!(
        seen.trace_id.len(),
        32,
        "a fresh trace id is 32 hex: {}",
        seen.trace_id
    );
    assert_eq!(seen.principal_id, None);
    assert_eq!(seen.tenant_id, None);
    assert_eq!(recv(&mut events).await.trace_id, seen.trace_id);

    let again = node
        .client()
        .invoke::<First>(Empty {}, Empty {})
        .await
        .unwrap();
    assert_ne!(
        again.trace_id, seen.trace_id,
        "each root call starts its own trace"
    );
}
