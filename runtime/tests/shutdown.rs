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
