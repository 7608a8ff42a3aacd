//! Commands inside one node: every invoke ends, with the handler's answer or the runtime's
//! error, and a failing handler never takes its service down.
#![allow(clippy::unwrap_used)]

mod common;

use std::future::IntoFuture;
use std::time::Duration;

use common::*;
use serde_json::json;
use tokio::time::Instant;
use tributary::{CommandKey, Empty, Node, ServiceSpec, Status};

fn user_node() -> Node {
    Node::builder()
        .service(|| UserService { instance: 0 })
        .start()
        .unwrap()
}

fn alice() -> NewUser {
    NewUser {
        name: "alice".into(),
    }
}

#[actix::test]
async fn invoke_by_contract_returns_the_typed_output() {
    let node = user_node();
    let created = node
        .client()
        .invoke::<CreateUser>(alice(), DryRun::default())
        .await
        .unwrap();
    assert_eq!(
        created,
        Created {
            user_id: "u-alice".into()
        }
    );
}

#[actix::test]
async fn unknown_command_fails_at_once_with_502() {
    let node = user_node();
    let started = Instant::now();
    let err = node
        .client()
        .invoke::<DeleteUser>(Empty {}, Empty {})
        .await
        .unwrap_err();
    assert_eq!(err.status, Status::BAD_GATEWAY);
    assert!(!err.handled);
    assert!(
        err.message.contains("UserService/1/deleteUser"),
        "{}",
        err.message
    );
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "502 must not wait for a deadline"
    );

    let err = node
        .client()
        .invoke_json(
            CommandKey::new("UserService", "1", "deleteUser"),
            json!({}),
            json!({}),
        )
        .await
        .unwrap_err();
    assert_eq!(err.status, Status::BAD_GATEWAY);
}

#[actix::test]
async fn timeout_is_504_at_the_default_deadline_of_30_s() {
    tokio::time::pause();
    let node = user_node();
    let started = Instant::now();
    let err = node
        .client()
        .invoke::<Hang>(Empty {}, Empty {})
        .await
        .unwrap_err();
    let waited = started.elapsed();
    assert_eq!(err.status, Status::GATEWAY_TIMEOUT);
    assert!(!err.handled);
    assert!(
        waited >= Duration::from_secs(30) && waited < Duration::from_millis(30_100),
        "{waited:?}"
    );
}

#[actix::test]
async fn timeout_is_overridable_per_call_and_per_node() {
    tokio::time::pause();
    let node = user_node();
    let started = Instant::now();
    let err = node
        .client()
        .invoke::<Hang>(Empty {}, Empty {})
        .timeout(Duration::from_millis(250))
        .await
        .unwrap_err();
    let waited = started.elapsed();
    assert_eq!(err.status, Status::GATEWAY_TIMEOUT);
    assert!(
        waited >= Duration::from_millis(250) && waited < Duration::from_millis(300),
        "{waited:?}"
    );

    let node = Node::builder()
        .default_timeout(Duration::from_secs(2))
        .service(|| UserService { instance: 0 })
        .start()
        .unwrap();
    let started = Instant::now();
    let err = node
        .client()
        .invoke::<Hang>(Empty {}, Empty {})
        .await
        .unwrap_err();
    assert_eq!(err.status, Status::GATEWAY_TIMEOUT);
    assert!(
        started.elapsed() >= Duration::from_secs(2)
            && started.elapsed() < Duration::from_millis(2_100)
    );
}

#[actix::test]
async fn handled_error_reaches_the_caller_with_status_message_and_data() {
    let node = user_node();
    let err = node
        .client()
        .invoke::<CreateUser>(
            NewUser {
                name: "taken".into(),
            },
            DryRun::default(),
        )
        .await
        .unwrap_err();
    assert_eq!(err.status, Status(409));
    assert_eq!(err.message, "user name already taken");
    assert_eq!(err.data, Some(json!({"name": "taken"})));
    assert!(err.handled);
}

#[actix::test]
async fn panicking_handler_answers_500_and_the_service_keeps_answering() {
    let node = user_node();
    let client = node.client();
    for _ in 0..3 {
        let err = client
            .invoke::<CreateUser>(
                NewUser {
                    name: "boom".into(),
                },
                DryRun::default(),
            )
            .await
            .unwrap_err();
        assert_eq!(err.status, Status::INTERNAL_SERVER_ERROR);
        assert_eq!(err.message, "Internal Server Error");
        assert!(!err.handled);
        let created = client
            .invoke::<CreateUser>(alice(), DryRun::default())
            .await
            .unwrap();
        assert_eq!(created.user_id, "u-alice");
    }
}

#[actix::test]
async fn many_panics_queued_at_once_each_get_500_and_the_rest_succeed() {
    let node = user_node();
    let client = node.client();
    let calls = (0..64).map(|i| {
        let name = if i % 2 == 0 { "boom" } else { "bob" };
        client
            .invoke::<CreateUser>(NewUser { name: name.into() }, DryRun::default())
            .into_future()
    });
    let results = futures_util::future::join_all(calls).await;
    for (i, result) in results.into_iter().enumerate() {
        match result {
            Err(err) if i % 2 == 0 => assert_eq!(err.status, Status::INTERNAL_SERVER_ERROR),
            Ok(created) if i % 2 == 1 => assert_eq!(created.user_id, "u-bob"),
            other => panic!("call {i}: {other:?}"),
        }
    }
}

#[actix::test]
async fn invalid_payload_is_400_naming_what_failed() {
    let node = user_node();
    let client = node.client();

    // The contract's own validation, on a typed call.
    let err = client
        .invoke::<CreateUser>(
            NewUser {
                name: String::new(),
            },
            DryRun::default(),
        )
        .await
        .unwrap_err();
    assert_eq!(err.status, Status::BAD_REQUEST);
    assert!(
        err.message
            .starts_with("input validation for payload failed"),
        "{}",
        err.message
    );
    assert_eq!(
        err.data,
        Some(json!([{"message": "must not be empty", "path": ["name"]}]))
    );

    // A JSON payload of the wrong shape: the path names the field.
    let create = CommandKey::new("UserService", "1", "createUser");
    let err = client
        .invoke_json(create.clone(), json!({"name": 42}), json!({"dryRun": true}))
        .await
        .unwrap_err();
    assert_eq!(err.status, Status::BAD_REQUEST);
    let data = err.data.unwrap();
    assert_eq!(data[0]["path"], json!(["name"]));
    assert!(
        data[0]["message"]
            .as_str()
            .unwrap()
            .contains("invalid type"),
        "{data}"
    );

    // A bad parameter is named as such.
    let err = client
        .invoke_json(create, json!({"name": "x"}), json!({"dryRun": "yes"}))
        .await
        .unwrap_err();
    assert_eq!(err.status, Status::BAD_REQUEST);
    assert!(
        err.message
            .starts_with("input validation for parameter failed"),
        "{}",
        err.message
    );
    assert_eq!(err.data.unwrap()[0]["path"], json!(["dryRun"]));
}

#[actix::test]
async fn invoke_by_address_with_json_reaches_the_typed_handler() {
    let node = user_node();
    let output = node
        .client()
        .invoke_json(
            CommandKey::new("UserService", "1", "createUser"),
            json!({"name": "alice"}),
            json!({"dryRun": false}),
        )
        .await
        .unwrap();
    assert_eq!(output, json!({"userId": "u-alice"}));
}

#[actix::test]
async fn instances_of_a_service_share_its_commands() {
    // Each instance learns its index from the factory.
    let next = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let node = Node::builder()
        .service_spec(
            ServiceSpec::new(move || UserService {
                instance: next.fetch_add(1, std::sync::atomic::Ordering::Relaxed),
            })
            .instances(3),
        )
        .start()
        .unwrap();
    let client = node.client();
    let answers = futures_util::future::join_all(
        (0..300).map(|_| client.invoke::<WhoAmI>(Empty {}, Empty {}).into_future()),
    )
    .await;
    let mut handled = [0; 3];
    for answer in answers {
        handled[answer.unwrap()] += 1;
    }
    assert!(handled.iter().all(|&n| n >= 90), "{handled:?}");
    assert_eq!(node.stats().in_flight, 0);
}
