//! Nodes: they start inside any actix system, refuse bad configurations before starting
//! anything, and several of them in one process never see each other.
#![allow(clippy::unwrap_used)]

mod common;

use common::*;
use tributary::{Empty, Error, Node, ServiceSpec, Status};

#[test]
fn a_node_outside_an_actix_system_is_an_error_not_a_panic() {
    let err = Node::builder()
        .service(|| UserService { instance: 0 })
        .start()
        .unwrap_err();
    assert!(matches!(err, Error::NoSystem), "{err}");
}

#[actix::test]
async fn two_nodes_in_one_process_do_not_see_each_other() {
    let (tx, mut seen) = tokio::sync::mpsc::unbounded_channel();
    let with_service = Node::builder()
        .service(|| UserService { instance: 0 })
        .service(move || Audit {
            instance: 0,
            seen: tx.clone(),
        })
        .start()
        .unwrap();
    let (other_tx, mut other_seen) = tokio::sync::mpsc::unbounded_channel();
    let without = Node::builder()
        .service(move || Audit {
            instance: 0,
            seen: other_tx.clone(),
        })
        .start()
        .unwrap();
    assert_ne!(with_service.instance_id(), without.instance_id());

    let err = without
        .client()
        .invoke::<WhoAmI>(Empty {}, Empty {})
        .await
        .unwrap_err();
    assert_eq!(err.status, Status::BAD_GATEWAY);

    // An event of one node reaches that node's subscriber only.
    without.client().emit::<UserCreated>(Created {
        user_id: "other".into(),
    });
    with_service.client().emit::<UserCreated>(Created {
        user_id: "mine".into(),
    });
    assert_eq!(recv(&mut seen).await.payload.user_id, "mine");
    assert_eq!(recv(&mut other_seen).await.payload.user_id, "other");
    assert_nothing_more(&mut seen).await;
    assert_nothing_more(&mut other_seen).await;
}

#[actix::test]
async fn a_command_of_another_services_contract_is_refused() {
    struct Impostor;
    impl actix::Actor for Impostor {
        type Context = actix::Context<Self>;
    }
    impl tributary::Service for Impostor {
        const NAME: &'static str = "Impostor";
        const VERSION: &'static str = "1";
        fn register(service: &mut tributary::Registrar<Self>) {
            service.command::<WhoAmI>();
        }
    }
    impl actix::Handler<tributary::Invocation<WhoAmI>> for Impostor {
        type Result = tributary::CommandResult<WhoAmI>;
        fn handle(
            &mut self,
            _: tributary::Invocation<WhoAmI>,
            _: &mut actix::Context<Self>,
        ) -> Self::Result {
            Ok(7)
        }
    }
    let err = Node::builder().service(|| Impostor).start().unwrap_err();
    assert!(matches!(err, Error::ContractMismatch { .. }), "{err}");
    assert!(err.to_string().contains("UserService/1"), "{err}");
}

#[actix::test]
async fn the_same_command_registered_twice_is_refused() {
    let err = Node::builder()
        .service(|| UserService { instance: 0 })
        .service(|| UserService { instance: 1 })
        .start()
        .unwrap_err();
    assert!(matches!(err, Error::DuplicateCommand(_)), "{err}");
}

#[actix::test]
async fn zero_instances_is_refused() {
    let err = Node::builder()
        .service_spec(ServiceSpec::new(|| UserService { instance: 0 }).instances(0))
        .start()
        .unwrap_err();
    assert!(matches!(err, Error::NoInstances(_)), "{err}");
}

#[actix::test]
async fn services_run_on_another_arbiter_when_asked() {
    let arbiter = actix::Arbiter::new();
    let node = Node::builder()
        .service_spec(
            ServiceSpec::new(|| UserService { instance: 4 })
                .instances(2)
                .arbiter(arbiter.handle()),
        )
        .start()
        .unwrap();
    assert_eq!(
        node.client()
            .invoke::<WhoAmI>(Empty {}, Empty {})
            .await
            .unwrap(),
        4
    );
    let created = node
        .client()
        .invoke::<CreateUser>(
            NewUser {
                name: "remote".into(),
            },
            DryRun::default(),
        )
        .await
        .unwrap();
    assert_eq!(created.user_id, "u-remote");
    node.shutdown().await;
    arbiter.stop();
}

#[actix::test]
async fn a_contract_type_of_another_crate_reaches_the_service_through_json() {
    // The caller's own copy of the contract: same address, different Rust types.
    #[derive(Clone, serde::Serialize, serde::Deserialize)]
    struct Name {
        name: String,
    }
    #[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
    struct Id {
        #[serde(rename = "userId")]
        id: String,
    }
    struct MyCreateUser;
    impl tributary::CommandContract for MyCreateUser {
        const SERVICE: &'static str = "UserService";
        const VERSION: &'static str = "1";
        const COMMAND: &'static str = "createUser";
        type Payload = Name;
        type Parameter = serde_json::Value;
        type Output = Id;
    }
    let node = Node::builder()
        .service(|| UserService { instance: 0 })
        .start()
        .unwrap();
    let out = node
        .client()
        .invoke::<MyCreateUser>(
            Name { name: "bob".into() },
            serde_json::json!({"dryRun": false}),
        )
        .await
        .unwrap();
    assert_eq!(out, Id { id: "u-bob".into() });
}
