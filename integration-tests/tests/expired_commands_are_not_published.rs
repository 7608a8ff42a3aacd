//! A command whose caller has stopped waiting is not sent on later: its message expiry is
//! the caller's timeout (design §4), counted by the broker from when it receives the
//! command, so a command that waited in the bridge's own queue past its deadline would still
//! reach a handler, which would run it for a caller that was told 504.
//!
//! The broker is paused (SIGSTOP) while a burst of commands times out: the bridge can put
//! no more than the broker's receive maximum on the wire meanwhile, the rest wait in the
//! client. Once the broker runs again, at most those few may arrive.
#![allow(clippy::unwrap_used)]

use std::future::IntoFuture;
use std::process::Command;
use std::time::{Duration, Instant};

use futures_util::future::join_all;
use tokio::sync::mpsc;
use tributary::codec::Codec;
use tributary::{Empty, Status};
use tributary_integration_tests::graph::{BridgedNode, Nobody, Numbered};
use tributary_integration_tests::raw::RawClient;
use tributary_integration_tests::{eventually_async, Mosquitto, MosquittoConfig};

const CALLS: u64 = 200;
const TIMEOUT: Duration = Duration::from_secs(1);
/// The broker's receive maximum: how many QoS 1 publishes a client may have unacknowledged.
const RECEIVE_MAXIMUM: usize = 20;
/// Sent once the broker runs again; it comes after every command sent before it.
const SENTINEL: u64 = 1_000_000;

/// A raw MQTT v5 client that reports the `n` of every command published on the broker.
/// Also checks the premise: the broker announces [`RECEIVE_MAXIMUM`] in its CONNACK.
async fn observe(broker: &Mosquitto) -> mpsc::UnboundedReceiver<u64> {
    let observer = RawClient::connect(broker, "observer", &["purista/command/#"])
        .await
        .unwrap();
    assert_eq!(
        observer.receive_maximum,
        Some(RECEIVE_MAXIMUM as u16),
        "receive maximum"
    );
    observer.map(|publish| {
        let envelope: serde_json::Value = serde_json::from_slice(&publish.payload).unwrap();
        envelope["payload"]["payload"]["n"].as_u64()
    })
}

/// Pauses the broker process until dropped.
struct Paused(u32);

impl Paused {
    fn broker(broker: &Mosquitto) -> Paused {
        let pid = broker.pid().unwrap();
        signal("-STOP", pid);
        Paused(pid)
    }
}

impl Drop for Paused {
    fn drop(&mut self) {
        signal("-CONT", self.0);
    }
}

fn signal(which: &str, pid: u32) {
    let status = Command::new("kill")
        .arg(which)
        .arg(pid.to_string())
        .status()
        .unwrap();
    assert!(status.success(), "kill {which} {pid}");
}

#[actix::test]
async fn commands_whose_caller_timed_out_are_not_sent_later() {
    let broker = MosquittoConfig::default()
        .extra_line(format!("max_inflight_messages {RECEIVE_MAXIMUM}"))
        .start()
        .unwrap();
    let mut observed = observe(&broker).await;
    let caller = BridgedNode::start(&broker, &["Peer"], Codec::Json).unwrap();
    assert!(eventually_async(Duration::from_secs(5), async || caller.connected()).await);
    let client = caller.node.client();

    let paused = Paused::broker(&broker);
    let started = Instant::now();
    let outcomes = join_all((0..CALLS).map(|n| {
        client
            .invoke::<Nobody>(Numbered { n }, Empty {})
            .timeout(TIMEOUT)
            .into_future()
    }))
    .await;
    let gave_up = started.elapsed();
    assert!(
        outcomes.iter().all(|o| o
            .as_ref()
            .is_err_and(|e| e.status == Status::GATEWAY_TIMEOUT)),
        "every caller gets its 504 while the broker is paused"
    );
    drop(paused);

    // The sentinel is sent after every command still queued: once it has arrived, whatever
    // the bridge was going to send of the burst has arrived too.
    let sentinel = client
        .invoke::<Nobody>(Numbered { n: SENTINEL }, Empty {})
        .timeout(Duration::from_secs(2))
        .into_future();
    let mut late = Vec::new();
    let arrived = tokio::time::timeout(Duration::from_secs(5), async {
        loop {
            match observed.recv().await.unwrap() {
                SENTINEL => return,
                n => late.push(n),
            }
        }
    });
    let (arrived, _) = futures_util::future::join(arrived, sentinel).await;
    assert!(arrived.is_ok(), "the sentinel never reached the broker");
    assert!(
        late.len() <= RECEIVE_MAXIMUM,
        "{} of {CALLS} commands reached the broker after all their callers had been told 504 \
         (after {gave_up:?}); at most the {RECEIVE_MAXIMUM} on the wire before the pause may",
        late.len()
    );
}
