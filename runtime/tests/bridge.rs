//! The runtime's side of a bridge, with a recording bridge instead of a broker: what goes to
//! the bridge, and what a command from elsewhere gets back.
#![allow(clippy::unwrap_used)]

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::*;
use futures_util::future::BoxFuture;
use serde_json::{json, Value};
use tributary::envelope::{Envelope, MessageType, ServiceAddress};
use tributary::{Bridge, BridgeLink, CommandError, Node, Status};

/// Records what the node hands it; answers every invoke with the payload it was given.
#[derive(Clone, Default)]
struct Recording {
    invoked: Arc<Mutex<Vec<Envelope>>>,
    published: Arc<Mutex<Vec<Envelope>>>,
    link: Arc<Mutex<Option<BridgeLink>>>,
}

impl Bridge for Recording {
    fn invoke(
        &self,
        command: Envelope,
        _: Duration,
    ) -> BoxFuture<'static, Result<Value, CommandError>> {
        self.invoked.lock().unwrap().push(command.clone());
        Box::pin(async move { Ok(json!({"userId": "remote"})) })
    }

    fn publish(&self, event: Envelope) {
        self.published.lock().unwrap().push(event);
    }
}

fn bridged(recording: &Recording, with_users: bool) -> Node {
    let mut builder = Node::builder();
    if with_users {
        builder = builder.service(|| UserService { instance: 0 });
    }
    let recording = recording.clone();
    builder
        .bridge(move |link| {
            *recording.link.lock().unwrap() = Some(link);
            Ok(recording)
        })
        .start()
        .unwrap()
}

#[actix::test]
async fn a_command_with_no_local_instance_goes_to_the_bridge_as_a_purista_command() {
    let recording = Recording::default();
    let node = bridged(&recording, false);
    let created = node
        .client()
        .with_tenant("t-1")
        .invoke::<CreateUser>(NewUser { name: "x".into() }, DryRun { dry_run: true })
        .await
        .unwrap();
    assert_eq!(created.user_id, "remote");
    let sent = recording.invoked.lock().unwrap().pop().unwrap();
    sent.validate().unwrap();
    assert_eq!(sent.message_type, MessageType::Command);
    assert_eq!(
        sent.payload,
        Some(json!({"payload": {"name": "x"}, "parameter": {"dryRun": true}}))
    );
    let receiver = sent.receiver.unwrap();
    assert_eq!(
        (
            receiver.service_name.as_str(),
            receiver.service_target.as_str()
        ),
        ("UserService", "createUser")
    );
    assert_eq!(receiver.instance_id, None);
    assert_eq!(sent.tenant_id.as_deref(), Some("t-1"));
    assert_eq!(
        sent.sender.instance_id,
        Some(node.instance_id().to_string())
    );
    assert!(sent.correlation_id.is_some() && sent.trace_id.is_some());
}

#[actix::test]
async fn a_local_instance_is_used_first_and_events_go_to_the_bridge_only() {
    let recording = Recording::default();
    let node = bridged(&recording, true);
    let created = node
        .client()
        .invoke::<CreateUser>(
            NewUser {
                name: "local".into(),
            },
            DryRun::default(),
        )
        .await
        .unwrap();
    assert_eq!(created.user_id, "u-local");
    assert!(recording.invoked.lock().unwrap().is_empty());
    // The success event went to the bridge, as PURISTA sends it: a success response that
    // names the event.
    let events = recording.published.lock().unwrap().clone();
    let event = events
        .iter()
        .find(|e| e.event_name.as_deref() == Some("userCreated"))
        .unwrap();
    assert_eq!(event.message_type, MessageType::CommandSuccessResponse);
    assert_eq!(event.payload, Some(json!({"userId": "u-local"})));
    event.validate().unwrap();
    // So did a custom event, and nothing was delivered locally.
    assert_eq!(
        node.client()
            .emit::<BroadcastSent>(Text { text: "hi".into() }),
        0
    );
    let last = recording.published.lock().unwrap().last().cloned().unwrap();
    assert_eq!(
        (last.message_type, last.event_name.as_deref()),
        (MessageType::CustomMessage, Some("broadcastSent"))
    );
}

#[actix::test]
async fn a_command_addressed_to_another_instance_goes_to_the_bridge_even_if_handled_here() {
    let recording = Recording::default();
    let node = bridged(&recording, true);
    let elsewhere = tributary::InstanceId::random();
    node.client()
        .invoke::<CreateUser>(NewUser { name: "a".into() }, DryRun::default())
        .on_instance(elsewhere)
        .await
        .unwrap();
    let sent = recording.invoked.lock().unwrap().pop().unwrap();
    assert_eq!(
        sent.receiver.unwrap().instance_id,
        Some(elsewhere.to_string())
    );
}

fn command_from_elsewhere(command: &str, payload: Value) -> Envelope {
    let sender = ServiceAddress::new("Gateway", "1", "httpPost")
        .with_instance_id("a1b2c3d4e5f60718293a4b5c6d7e8f90");
    let mut envelope = Envelope::command(
        sender,
        ServiceAddress::new("UserService", "1", command),
        payload,
        json!({"dryRun": false}),
    );
    envelope.trace_id = Some("trace-abc".into());
    envelope.tenant_id = Some("tenant-7".into());
    envelope
}

#[actix::test]
async fn a_command_from_elsewhere_gets_a_purista_response() {
    let recording = Recording::default();
    let node = bridged(&recording, true);
    let link = recording.link.lock().unwrap().clone().unwrap();
    let me = node.instance_id().to_string();

    let command = command_from_elsewhere("createUser", json!({"name": "alice"}));
    let response = link.handle_command(&command, Duration::from_secs(5)).await;
    response.validate().unwrap();
    assert_eq!(response.message_type, MessageType::CommandSuccessResponse);
    assert_eq!(response.correlation_id, command.correlation_id);
    assert_eq!(response.payload, Some(json!({"userId": "u-alice"})));
    // One message is both the response and the success event, as PURISTA sends it...
    assert_eq!(response.event_name.as_deref(), Some("userCreated"));
    assert_eq!(response.trace_id.as_deref(), Some("trace-abc"));
    assert_eq!(response.sender.instance_id.as_deref(), Some(me.as_str()));
    assert_eq!(
        response.receiver.as_ref().unwrap().instance_id.as_deref(),
        Some("a1b2c3d4e5f60718293a4b5c6d7e8f90")
    );
    // ...so the node did not publish the event separately.
    assert!(recording
        .published
        .lock()
        .unwrap()
        .iter()
        .all(|e| e.event_name.as_deref() != Some("userCreated")));

    let taken = link
        .handle_command(
            &command_from_elsewhere("createUser", json!({"name": "taken"})),
            Duration::from_secs(5),
        )
        .await;
    assert_eq!(taken.message_type, MessageType::CommandErrorResponse);
    assert_eq!(taken.is_handled_error, Some(true));
    let error = taken.error_payload().unwrap();
    assert_eq!(
        (error.status, error.message.as_str()),
        (409, "user name already taken")
    );
    assert_eq!(error.data, Some(json!({"name": "taken"})));

    let invalid = link
        .handle_command(
            &command_from_elsewhere("createUser", json!({"name": 42})),
            Duration::from_secs(5),
        )
        .await;
    let error = invalid.error_payload().unwrap();
    assert_eq!(error.status, 400);
    assert_eq!(error.data.unwrap()[0]["path"], json!(["name"]));

    let unknown = link
        .handle_command(
            &command_from_elsewhere("deleteUser", json!({})),
            Duration::from_secs(5),
        )
        .await;
    assert_eq!(unknown.error_payload().unwrap().status, 502);

    let boom = link
        .handle_command(
            &command_from_elsewhere("createUser", json!({"name": "boom"})),
            Duration::from_secs(5),
        )
        .await;
    assert_eq!(
        (boom.error_payload().unwrap().status, boom.is_handled_error),
        (500, Some(false))
    );

    let hang = link
        .handle_command(
            &command_from_elsewhere("hang", json!({})),
            Duration::from_millis(100),
        )
        .await;
    assert_eq!(hang.error_payload().unwrap().status, 504);

    node.shutdown().await;
    let late = link
        .handle_command(
            &command_from_elsewhere("createUser", json!({"name": "late"})),
            Duration::from_secs(5),
        )
        .await;
    assert_eq!(
        late.error_payload().unwrap().status,
        Status::SERVICE_UNAVAILABLE.code()
    );
}

#[actix::test]
async fn the_bridge_lists_what_to_subscribe_and_delivers_events_from_elsewhere() {
    let recording = Recording::default();
    let (tx, mut seen) = tokio::sync::mpsc::unbounded_channel();
    let recording2 = recording.clone();
    let node = Node::builder()
        .service(|| UserService { instance: 0 })
        .service(move || Audit {
            instance: 0,
            seen: tx.clone(),
        })
        .bridge(move |link| {
            *recording2.link.lock().unwrap() = Some(link);
            Ok(recording2)
        })
        .start()
        .unwrap();
    let link = recording.link.lock().unwrap().clone().unwrap();
    assert_eq!(link.commands().len(), 5);
    let subscriptions = link.subscriptions();
    assert_eq!(subscriptions.len(), 1);
    let audit = &subscriptions[0];
    assert_eq!(audit.subscriber.service_name, "AuditService");
    assert_eq!(audit.filter.event_name.as_deref(), Some("userCreated"));

    let sender = ServiceAddress::new("UserService", "1", "createUser")
        .with_instance_id("a1b2c3d4e5f60718293a4b5c6d7e8f90");
    let event = Envelope::custom_message(sender, "userCreated", Some(json!({"userId": "u-far"})));
    assert_eq!(link.deliver_event(&audit.subscriber, &event).unwrap(), 1);
    assert_eq!(recv(&mut seen).await.payload.user_id, "u-far");
    // A name that only matched through snake_case (`user_created`) is not delivered.
    let mut collision = event.clone();
    collision.event_name = Some("user-created".into());
    assert_eq!(
        link.deliver_event(&audit.subscriber, &collision).unwrap(),
        0
    );
    drop(node);
}
