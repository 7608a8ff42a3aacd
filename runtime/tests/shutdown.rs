//! Graceful shutdown: new invokes get 503, in-flight ones finish within the grace period,
//! then the instances stop and the node says so.
#![allow(clippy::unwrap_used)]

mod common;

use std::time::Duration;

use common::*;
use tokio::time::Instant;
use tributary::envelope::MessageType;
use tributary::{Empty, Node, Status};

async fn wait_for(info: &mut tributary::InfoMessages, kind: MessageType) {
    loop {
        let envelope = tokio::time::timeout(Duration::from_secs(5), info.recv())
            .await
            .expect("no info message within 5 s")
            .expect("info feed closed");
        if envelope.message_type == kind {
            return;
        }
    }
}

#[actix::test]
async fn shutdown_refuses_new_work_and_lets_in_flight_commands_finish() {
    let node = Node::builder()
        .service(|| UserService { instance: 0 })
        .start()
        .unwrap();
    let client = node.client();
    let mut info = node.info_messages();
    let in_flight: Vec<_> = (0..3)
        .map(|_| actix::spawn(client.invoke::<Slow>(300, Empty {}).into_future()))
        .collect();
    // Let the slow calls reach the service before draining starts.
    while node.stats().in_flight < 3 {
        tokio::task::yield_now().await;
    }

    let shutdown = actix::spawn(node.shutdown());
    wait_for(&mut info, MessageType::InfoServiceDrain).await;
    let refused = client
        .invoke::<WhoAmI>(Empty {}, Empty {})
        .await
        .unwrap_err();
    assert_eq!(refused.status, Status::SERVICE_UNAVAILABLE);

    for call in in_flight {
        assert_eq!(call.await.unwrap().unwrap(), 300);
    }
    let report = shutdown.await.unwrap();
    assert_eq!(report.abandoned, 0);
    assert_eq!(report.instances, 1);
    wait_for(&mut info, MessageType::InfoServiceShutdown).await;

    let after = client
        .invoke::<WhoAmI>(Empty {}, Empty {})
        .await
        .unwrap_err();
    assert_eq!(after.status, Status::SERVICE_UNAVAILABLE);
}

#[actix::test]
async fn shutdown_waits_no_longer_than_its_grace_period() {
    let node = Node::builder()
        .shutdown_grace(Duration::from_millis(200))
        .service(|| UserService { instance: 0 })
        .start()
        .unwrap();
    let client = node.client();
    let _hung = actix::spawn(client.invoke::<Hang>(Empty {}, Empty {}).into_future());
    while node.stats().in_flight < 1 {
        tokio::task::yield_now().await;
    }
    let started = Instant::now();
    let report = node.shutdown().await;
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(report.abandoned, 1);
    assert_eq!(report.instances, 1);
}

use std::future::IntoFuture;

/// `UserService/1/slowChain`-like behaviour: a handler in flight that invokes another command
/// after the drain began still gets its answer.
mod nested {
    use super::*;
    use actix::prelude::*;
    use tributary::{CommandContract, CommandResult, Invocation, Registrar, Service};

    pub(crate) struct Outer;
    impl CommandContract for Outer {
        const SERVICE: &'static str = "Outer";
        const VERSION: &'static str = "1";
        const COMMAND: &'static str = "outer";
        type Payload = Empty;
        type Parameter = Empty;
        type Output = u64;
    }

    pub(crate) struct OuterService(pub(crate) tokio::sync::mpsc::UnboundedSender<()>);
    impl Actor for OuterService {
        type Context = Context<Self>;
    }
    impl Service for OuterService {
        const NAME: &'static str = "Outer";
        const VERSION: &'static str = "1";
        fn register(service: &mut Registrar<Self>) {
            service.command::<Outer>();
        }
    }
    impl Handler<Invocation<Outer>> for OuterService {
        type Result = ResponseFuture<CommandResult<Outer>>;
        fn handle(&mut self, call: Invocation<Outer>, _: &mut Context<Self>) -> Self::Result {
            let client = call.client();
            let started = self.0.clone();
            Box::pin(async move {
                let _ = started.send(());
                // Long enough for the test to start the drain meanwhile.
                client.invoke::<Slow>(200, Empty {}).await
            })
        }
    }

    #[actix::test]
    async fn handlers_in_flight_may_still_call_other_commands_while_draining() {
        let (started_tx, mut started) = tokio::sync::mpsc::unbounded_channel();
        let node = Node::builder()
            .service(|| UserService { instance: 0 })
            .service(move || OuterService(started_tx.clone()))
            .start()
            .unwrap();
        let call = actix::spawn(
            node.client()
                .invoke::<Outer>(Empty {}, Empty {})
                .into_future(),
        );
        recv(&mut started).await;
        let report = node.shutdown().await;
        assert_eq!(call.await.unwrap().unwrap(), 200);
        assert_eq!(report.abandoned, 0);
    }
}
