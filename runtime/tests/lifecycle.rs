//! Lifecycle: PURISTA's `info*` envelopes as a node issues them, and dynamic commands handled
//! with JSON.
#![allow(clippy::unwrap_used)]

mod common;

use actix::prelude::*;
use common::*;
use serde_json::json;
use tributary::envelope::MessageType;
use tributary::{CommandError, CommandKey, JsonInvocation, Node, Registrar, Service, Status};

#[actix::test]
async fn a_node_issues_purista_info_envelopes_at_start_drain_and_shutdown() {
    let node = Node::builder()
        .service(|| UserService { instance: 0 })
        .start()
        .unwrap();
    let instance = node.instance_id().to_string();
    let mut info = node.info_messages();
    let mut seen = Vec::new();
    for _ in 0..7 {
        let envelope = info.recv().await.unwrap();
        envelope.validate().unwrap();
        assert_eq!(envelope.sender.service_name, "UserService");
        assert_eq!(envelope.sender.service_version, "1");
        assert_eq!(
            envelope.sender.instance_id.as_deref(),
            Some(instance.as_str())
        );
        assert_eq!(envelope.trace_id.as_ref().map(String::len), Some(32));
        seen.push((
            envelope.message_type,
            envelope.sender.service_target.clone(),
        ));
        if envelope.message_type == MessageType::InfoServiceFunctionAdded {
            assert_eq!(
                envelope.payload.as_ref().unwrap()["expose"]["contentTypeRequest"],
                "application/json"
            );
        }
    }
    let added = |target: &str| (MessageType::InfoServiceFunctionAdded, target.to_string());
    assert_eq!(
        seen,
        vec![
            (MessageType::InfoServiceInit, String::new()),
            added("createUser"),
            added("notifyAll"),
            added("hang"),
            added("slow"),
            added("whoami"),
            (MessageType::InfoServiceReady, String::new()),
        ]
    );
    node.shutdown().await;
    assert_eq!(
        info.recv().await.unwrap().message_type,
        MessageType::InfoServiceDrain
    );
    assert_eq!(
        info.recv().await.unwrap().message_type,
        MessageType::InfoServiceShutdown
    );
}

/// A service whose commands are known only at run time.
struct Echo;
impl Actor for Echo {
    type Context = Context<Self>;
}
impl Service for Echo {
    const NAME: &'static str = "echo";
    const VERSION: &'static str = "1";
    fn register(service: &mut Registrar<Self>) {
        for name in ["say", "fail"] {
            service.command_json(CommandKey::new("echo", "1", name.to_string()));
        }
    }
}
impl Handler<JsonInvocation> for Echo {
    type Result = Result<serde_json::Value, CommandError>;
    fn handle(&mut self, call: JsonInvocation, _: &mut Context<Self>) -> Self::Result {
        match &*call.command.command {
            "say" => Ok(json!({"said": call.payload, "tenant": call.meta().tenant_id()})),
            _ => Err(CommandError::new(418, "refused").with_data(call.parameter)),
        }
    }
}

#[actix::test]
async fn commands_known_only_at_run_time_are_handled_with_json() {
    let node = Node::builder().service(|| Echo).start().unwrap();
    let client = node.client().with_tenant("t9");
    let said = client
        .invoke_json(CommandKey::new("echo", "1", "say"), json!("hi"), json!({}))
        .await
        .unwrap();
    assert_eq!(said, json!({"said": "hi", "tenant": "t9"}));
    let err = client
        .invoke_json(
            CommandKey::new("echo", "1", "fail"),
            json!(null),
            json!({"why": 1}),
        )
        .await
        .unwrap_err();
    assert_eq!(
        (err.status, err.data),
        (Status(418), Some(json!({"why": 1})))
    );
    let missing = client
        .invoke_json(
            CommandKey::new("echo", "1", "nothing"),
            json!(null),
            json!({}),
        )
        .await
        .unwrap_err();
    assert_eq!(missing.status, Status::BAD_GATEWAY);
    assert_eq!(node.stats().commands, 2);
}
