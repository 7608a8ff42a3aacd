//! Events inside one node: success events and custom events reach each subscribing service
//! once (or every instance, when asked), through exact-match filters.
#![allow(clippy::unwrap_used)]

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};

use common::*;
use serde_json::json;
use tokio::sync::mpsc;
use tributary::envelope::MessageType;
use tributary::{Empty, Node, NodeBuilder, ServiceSpec, Subscription};

fn numbered<A>(
    make: impl Fn(usize) -> A + Send + Sync + 'static,
) -> impl Fn() -> A + Send + Sync + 'static {
    let next = AtomicUsize::new(0);
    move || make(next.fetch_add(1, Ordering::Relaxed))
}

struct Channels {
    audit: mpsc::UnboundedReceiver<Seen<Created>>,
    created: mpsc::UnboundedReceiver<Seen<Created>>,
    broadcasts: mpsc::UnboundedReceiver<Seen<Text>>,
}

/// UserService, AuditService with `audit` instances, and a Recorder configured by `recorder`.
fn node(
    audit: usize,
    recorder: impl FnOnce(ServiceSpec<Recorder>) -> ServiceSpec<Recorder>,
) -> (Node, Channels) {
    let (audit_tx, audit_rx) = mpsc::unbounded_channel();
    let (created_tx, created_rx) = mpsc::unbounded_channel();
    let (broadcast_tx, broadcast_rx) = mpsc::unbounded_channel();
    let recorder_spec = recorder(ServiceSpec::new(numbered(move |instance| Recorder {
        instance,
        created: created_tx.clone(),
        broadcasts: broadcast_tx.clone(),
    })));
    let node = NodeBuilder::service(Node::builder(), || UserService { instance: 0 })
        .service_spec(
            ServiceSpec::new(numbered(move |instance| Audit {
                instance,
                seen: audit_tx.clone(),
            }))
            .instances(audit),
        )
        .service_spec(recorder_spec)
        .start()
        .unwrap();
    (
        node,
        Channels {
            audit: audit_rx,
            created: created_rx,
            broadcasts: broadcast_rx,
        },
    )
}

#[actix::test]
async fn success_event_reaches_each_subscribing_service_once() {
    let (node, mut ch) = node(2, |spec| {
        spec.subscribe_with::<UserCreated>(Subscription::to::<UserCreated>())
    });
    let client = node.client().with_tenant("t-1");
    for i in 0..10 {
        let name = format!("user{i}");
        client
            .invoke::<CreateUser>(NewUser { name: name.clone() }, DryRun::default())
            .await
            .unwrap();
        let audit = recv(&mut ch.audit).await;
        let recorded = recv(&mut ch.created).await;
        for seen in [&audit, &recorded] {
            assert_eq!(seen.payload.user_id, format!("u-{name}"));
            assert_eq!(seen.event_name.as_deref(), Some("userCreated"));
            assert_eq!(
                seen.sender,
                ("UserService".into(), "1".into(), "createUser".into())
            );
            assert_eq!(seen.tenant_id.as_deref(), Some("t-1"));
        }
        // The two Audit instances take turns: one instance per event, never both.
        assert_eq!(audit.instance, i % 2);
    }
    assert_nothing_more(&mut ch.audit).await;
    assert_nothing_more(&mut ch.created).await;
}

#[actix::test]
async fn failed_command_emits_no_success_event() {
    let (node, mut ch) = node(1, |spec| spec);
    let client = node.client();
    let _ = client
        .invoke::<CreateUser>(
            NewUser {
                name: "taken".into(),
            },
            DryRun::default(),
        )
        .await;
    let _ = client
        .invoke::<CreateUser>(
            NewUser {
                name: "boom".into(),
            },
            DryRun::default(),
        )
        .await;
    client
        .invoke::<CreateUser>(NewUser { name: "ok".into() }, DryRun::default())
        .await
        .unwrap();
    // The first delivery is the successful one: the failures sent nothing before it.
    assert_eq!(recv(&mut ch.audit).await.payload.user_id, "u-ok");
    assert_nothing_more(&mut ch.audit).await;
}

#[actix::test]
async fn custom_event_emitted_by_a_handler_reaches_subscribers() {
    let (node, mut ch) = node(1, |spec| {
        spec.subscribe_with::<BroadcastSent>(Subscription::to::<BroadcastSent>())
    });
    node.client()
        .with_tenant("tenantB")
        .invoke::<NotifyAll>(
            Text {
                text: "hello".into(),
            },
            Empty {},
        )
        .await
        .unwrap();
    let seen = recv(&mut ch.broadcasts).await;
    assert_eq!(seen.payload.text, "hello");
    assert_eq!(seen.event_name.as_deref(), Some("broadcastSent"));
    assert_eq!(
        seen.sender,
        ("UserService".into(), "1".into(), "notifyAll".into())
    );
    assert_eq!(seen.tenant_id.as_deref(), Some("tenantB"));
}

#[actix::test]
async fn every_instance_subscription_reaches_all_instances() {
    let (node, mut ch) = node(1, |spec| {
        spec.instances(3)
            .subscribe_with::<BroadcastSent>(Subscription::to::<BroadcastSent>().every_instance())
    });
    let delivered = node
        .client()
        .emit::<BroadcastSent>(Text { text: "all".into() });
    assert_eq!(delivered, 3);
    let mut instances: Vec<usize> = Vec::new();
    for _ in 0..3 {
        instances.push(recv(&mut ch.broadcasts).await.instance);
    }
    instances.sort_unstable();
    assert_eq!(instances, [0, 1, 2]);
    assert_nothing_more(&mut ch.broadcasts).await;
}

/// Emits a non-matching event, then a matching one: the first delivery must be the matching
/// one, since a subscriber's mailbox keeps the order in which one caller sent.
async fn only_matching(
    spec: impl FnOnce(Subscription) -> Subscription,
    emit: impl Fn(&Node, &str),
) {
    let (node, mut ch) = node(1, |s| {
        s.subscribe_with::<BroadcastSent>(spec(Subscription::to::<BroadcastSent>()))
    });
    emit(&node, "miss");
    emit(&node, "hit");
    let seen = recv(&mut ch.broadcasts).await;
    assert_eq!(seen.payload.text, "hit");
    assert_nothing_more(&mut ch.broadcasts).await;
}

fn text(what: &str) -> Text {
    Text { text: what.into() }
}

#[actix::test]
async fn filter_on_tenant() {
    only_matching(
        |s| s.tenant_id("t1"),
        |node, what| {
            let tenant = if what == "hit" { "t1" } else { "t2" };
            node.client()
                .with_tenant(tenant)
                .emit::<BroadcastSent>(text(what));
        },
    )
    .await;
}

#[actix::test]
async fn filter_on_principal() {
    only_matching(
        |s| s.principal_id("alice"),
        |node, what| {
            let client = node.client();
            let client = if what == "hit" {
                client.with_principal("alice")
            } else {
                client
            };
            client.emit::<BroadcastSent>(text(what));
        },
    )
    .await;
}

#[actix::test]
async fn filter_on_sender_name_version_and_target() {
    only_matching(
        |s| {
            s.sender_name("sensor")
                .sender_version("2")
                .sender_target("read")
        },
        |node, what| {
            let client = match what {
                "hit" => node.client_as("sensor", "2", "read"),
                _ => node.client_as("sensor", "1", "read"),
            };
            client.emit::<BroadcastSent>(text(what));
            if what == "miss" {
                node.client_as("sensor", "2", "write")
                    .emit::<BroadcastSent>(text(what));
                node.client_as("probe", "2", "read")
                    .emit::<BroadcastSent>(text(what));
            }
        },
    )
    .await;
}

#[actix::test]
async fn filter_on_message_type() {
    // A custom event and a success event of the same name: only the custom one passes.
    let (node, mut ch) = node(1, |s| {
        s.subscribe_with::<UserCreated>(
            Subscription::to::<UserCreated>().message_type(MessageType::CustomMessage),
        )
    });
    node.client()
        .invoke::<CreateUser>(
            NewUser {
                name: "viaCommand".into(),
            },
            DryRun::default(),
        )
        .await
        .unwrap();
    node.client().emit::<UserCreated>(Created {
        user_id: "custom".into(),
    });
    assert_eq!(recv(&mut ch.created).await.payload.user_id, "custom");
    assert_nothing_more(&mut ch.created).await;
}

#[actix::test]
async fn filter_on_event_name_and_any_name() {
    // Subscribed by name, a JSON event of another name is not delivered; with any name, an
    // event of another name whose payload fits is.
    let (node, mut ch) = node(1, |s| {
        s.subscribe_with::<BroadcastSent>(Subscription::to::<BroadcastSent>())
            .subscribe_with::<UserCreated>(
                Subscription::to::<UserCreated>()
                    .named("anything")
                    .any_event_name(),
            )
    });
    node.client()
        .emit_json("somethingElse", json!({"text": "x"}));
    node.client()
        .emit_json("userRenamed", json!({"userId": "u-9"}));
    node.client()
        .emit_json("broadcastSent", json!({"text": "by name"}));
    let seen = recv(&mut ch.broadcasts).await;
    assert_eq!(seen.payload.text, "by name");
    let seen = recv(&mut ch.created).await;
    assert_eq!(
        (seen.payload.user_id.as_str(), seen.event_name.as_deref()),
        ("u-9", Some("userRenamed"))
    );
    assert_nothing_more(&mut ch.broadcasts).await;
    // The any-name subscription saw the other events too, but their payloads do not fit its
    // contract: counted as undelivered, not delivered wrong.
    assert!(node.stats().undelivered_events >= 2);
}

/// A service that emits on its own, from `started`, through the client its factory got.
struct Ticker(tributary::Client);

impl actix::Actor for Ticker {
    type Context = actix::Context<Self>;
    fn started(&mut self, _: &mut actix::Context<Self>) {
        self.0.emit::<BroadcastSent>(text("tick"));
    }
}

impl tributary::Service for Ticker {
    const NAME: &'static str = "Ticker";
    const VERSION: &'static str = "2";
    fn register(_: &mut tributary::Registrar<Self>) {}
}

#[actix::test]
async fn a_service_made_with_a_client_emits_on_its_own_as_itself() {
    let (tx, mut rx) = mpsc::unbounded_channel();
    let _node = Node::builder()
        .service_spec(ServiceSpec::with_client(Ticker))
        .service_spec(
            ServiceSpec::new(move || Recorder {
                instance: 0,
                created: mpsc::unbounded_channel().0,
                broadcasts: tx.clone(),
            })
            .subscribe_with::<BroadcastSent>(Subscription::to::<BroadcastSent>()),
        )
        .start()
        .unwrap();
    let seen = recv(&mut rx).await;
    assert_eq!(seen.payload.text, "tick");
    assert_eq!(
        seen.sender,
        ("Ticker".into(), "2".into(), "service".to_string())
    );
}
