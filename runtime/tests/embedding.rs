//! Embedding: an existing actix app — one of its own actors and an actix-web handler —
//! invokes commands and receives the node's lifecycle notices through actix-broker.
#![allow(clippy::unwrap_used)]

mod common;

use actix::prelude::*;
use actix_broker::BrokerSubscribe;
use actix_web::{test, web, App, HttpResponse};
use common::*;
use tokio::sync::mpsc;
use tributary::envelope::MessageType;
use tributary::{Client, CommandError, Node, ServiceStarted, ServiceStopped};

/// The host app's own actor: it listens to lifecycle notices and creates users on request.
struct HostActor {
    client: Option<Client>,
    notices: mpsc::UnboundedSender<String>,
}

impl Actor for HostActor {
    type Context = Context<Self>;
    fn started(&mut self, ctx: &mut Context<Self>) {
        self.subscribe_system_async::<ServiceStarted>(ctx);
        self.subscribe_system_async::<ServiceStopped>(ctx);
    }
}

impl Handler<ServiceStarted> for HostActor {
    type Result = ();
    fn handle(&mut self, notice: ServiceStarted, _: &mut Context<Self>) {
        let _ = self.notices.send(format!(
            "started {} {} #{}",
            notice.service, notice.version, notice.instance
        ));
    }
}

impl Handler<ServiceStopped> for HostActor {
    type Result = ();
    fn handle(&mut self, notice: ServiceStopped, _: &mut Context<Self>) {
        let _ = self.notices.send(format!(
            "stopped {} {} #{}",
            notice.service, notice.version, notice.instance
        ));
    }
}

/// Hands the host actor the node's client once the node runs.
#[derive(Message)]
#[rtype(result = "()")]
struct UseClient(Client);

impl Handler<UseClient> for HostActor {
    type Result = ();
    fn handle(&mut self, msg: UseClient, _: &mut Context<Self>) {
        self.client = Some(msg.0);
    }
}

#[derive(Message)]
#[rtype(result = "()")]
struct Ping;

impl Handler<Ping> for HostActor {
    type Result = ();
    fn handle(&mut self, _: Ping, _: &mut Context<Self>) {}
}

#[derive(Message)]
#[rtype(result = "Result<String, CommandError>")]
struct Register(String);

impl Handler<Register> for HostActor {
    type Result = ResponseFuture<Result<String, CommandError>>;
    fn handle(&mut self, msg: Register, _: &mut Context<Self>) -> Self::Result {
        let client = self.client.clone();
        Box::pin(async move {
            let client = client.expect("client handed over before use");
            let created = client
                .invoke::<CreateUser>(NewUser { name: msg.0 }, DryRun::default())
                .await?;
            Ok(created.user_id)
        })
    }
}

async fn create_user(client: web::Data<Client>, name: web::Path<String>) -> HttpResponse {
    match client
        .invoke::<CreateUser>(
            NewUser {
                name: name.into_inner(),
            },
            DryRun::default(),
        )
        .await
    {
        Ok(created) => HttpResponse::Ok().json(created),
        Err(err) => {
            HttpResponse::build(actix_web::http::StatusCode::from_u16(err.status.code()).unwrap())
                .json(err)
        }
    }
}

#[actix_web::test]
async fn an_actix_web_app_and_its_actor_invoke_commands_and_see_lifecycle_notices() {
    let (notices_tx, mut notices) = mpsc::unbounded_channel();
    let host = HostActor {
        client: None,
        notices: notices_tx,
    }
    .start();
    // Once the host actor answers a message its `started` has run: it is subscribed.
    host.send(Ping).await.unwrap();

    let node = Node::builder()
        .service(|| UserService { instance: 0 })
        .start()
        .unwrap();
    host.send(UseClient(node.client_as("HostApp", "1", "register")))
        .await
        .unwrap();
    assert_eq!(recv(&mut notices).await, "started UserService 1 #0");

    // The host app's actor invokes a command.
    assert_eq!(
        host.send(Register("carol".into())).await.unwrap().unwrap(),
        "u-carol"
    );

    // An actix-web handler invokes a command, errors included.
    let app = test::init_service(
        App::new()
            .app_data(web::Data::new(node.client_as("Gateway", "1", "httpPost")))
            .route("/users/{name}", web::post().to(create_user)),
    )
    .await;
    let created: Created = test::call_and_read_body_json(
        &app,
        test::TestRequest::post().uri("/users/dave").to_request(),
    )
    .await;
    assert_eq!(created.user_id, "u-dave");
    let taken = test::call_service(
        &app,
        test::TestRequest::post().uri("/users/taken").to_request(),
    )
    .await;
    assert_eq!(taken.status().as_u16(), 409);

    // PURISTA's info notices are there for bridges; the stop notice reaches the host actor.
    let mut info = node.info_messages();
    let first = info.recv().await.unwrap();
    assert_eq!(first.message_type, MessageType::InfoServiceInit);
    node.shutdown().await;
    assert_eq!(recv(&mut notices).await, "stopped UserService 1 #0");
}
