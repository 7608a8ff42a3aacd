//! Two nodes in two OS processes, joined through mosquitto: the test process hosts one node,
//! a `test-node` process the other. Commands, events, errors and the call context (trace,
//! principal, tenant) cross the process boundary both ways, intact.
#![allow(clippy::unwrap_used)]

use std::time::{Duration, Instant};

use futures_util::future::join_all;
use serde_json::json;
use tributary::codec::Codec;
use tributary::{Empty, Id, InstanceId, Status};
use tributary_integration_tests::graph::{
    Boom, BridgedNode, Echo, Hang, Heard, Ping, Pinged, Refuse, Relay, Seen, Text, Who, WhoVia,
};
use tributary_integration_tests::{eventually_async, Mosquitto, TestNode};

/// The bound on every wait for something to arrive.
const DEADLINE: Duration = Duration::from_secs(10);
/// The timeout of the invokes that are expected to be answered.
const ANSWER: Duration = Duration::from_secs(5);

/// A broker, a `test-node` process running `remote`, and a node in this process running
/// `local`, with their filters in place on the broker.
struct Pair {
    /// The child process, killed when the pair drops.
    _remote: TestNode,
    remote_id: InstanceId,
    /// This process's node.
    local: BridgedNode,
    /// Dropped last: both nodes talk to it until the end.
    _broker: Mosquitto,
}

impl Pair {
    async fn start(remote: &[&str], local: &[&str]) -> Pair {
        let broker = Mosquitto::start().unwrap();
        let child = TestNode::spawn(env!("CARGO_BIN_EXE_test-node"), &broker, remote, &[]).unwrap();
        let remote_id = child.instance_id().parse().unwrap();
        let local = BridgedNode::start(&broker, local, Codec::Json).unwrap();
        assert!(
            eventually_async(DEADLINE, async || local.connected()).await,
            "the local bridge did not connect: {:?}",
            local.bridge.health()
        );
        let pair = Pair {
            _remote: child,
            remote_id,
            local,
            _broker: broker,
        };
        // The bridges report "connected" at CONNACK, before the broker has processed their
        // SUBSCRIBEs: one answered round trip proves the command and response filters are in.
        let client = pair.local.node.client();
        assert!(
            eventually_async(DEADLINE, async || client
                .invoke::<Echo>(
                    Text {
                        text: "warm-up".into()
                    },
                    Empty {}
                )
                .on_instance(pair.remote_id)
                .timeout(Duration::from_millis(500))
                .await
                .is_ok())
            .await,
            "no round trip to the child"
        );
        pair
    }

    fn local_id(&self) -> InstanceId {
        self.local.node.instance_id()
    }

    /// What the child's `Recorder` received, asked over MQTT.
    async fn remote_seen(&self) -> (Vec<u64>, Vec<u64>) {
        self.local
            .node
            .client()
            .invoke::<Seen>(Empty {}, Empty {})
            .on_instance(self.remote_id)
            .timeout(ANSWER)
            .await
            .unwrap()
    }
}

/// The numbers in `list` within `range` (those sent after the warm-up), sorted.
fn sent(list: &[u64], range: std::ops::Range<u64>) -> Vec<u64> {
    let mut numbers: Vec<u64> = list.iter().copied().filter(|n| range.contains(n)).collect();
    numbers.sort_unstable();
    numbers
}

#[actix::test]
async fn commands_cross_both_ways() {
    let pair = Pair::start(&["Echo"], &["Peer"]).await;
    let client = pair.local.node.client().with_tenant("tenant-a");

    // Test process → child: Echo runs only there.
    let echoed = client
        .invoke::<Echo>(Text { text: "out".into() }, Empty {})
        .timeout(ANSWER)
        .await
        .unwrap();
    assert_eq!(echoed.text, "out");
    assert_eq!(echoed.node, pair.remote_id.to_string());
    assert_eq!(echoed.tenant.as_deref(), Some("tenant-a"));

    // Child → test process: the child's relay invokes Peer, which runs only here.
    let relayed = client
        .invoke::<Relay>(
            Text {
                text: "back".into(),
            },
            Empty {},
        )
        .timeout(ANSWER)
        .await
        .unwrap();
    assert_eq!(relayed.text, "back");
    assert_eq!(relayed.node, pair.local_id().to_string());
    assert_eq!(relayed.tenant.as_deref(), Some("tenant-a"));

    // Many at once, both ways, each answered by the right process.
    let calls = (0..50).map(|i| {
        let client = client.clone();
        async move {
            let text = format!("m{i}");
            let out = client
                .invoke::<Echo>(Text { text: text.clone() }, Empty {})
                .timeout(ANSWER)
                .await
                .unwrap();
            let back = client
                .invoke::<Relay>(Text { text: text.clone() }, Empty {})
                .timeout(ANSWER)
                .await
                .unwrap();
            (text, out, back)
        }
    });
    for (text, out, back) in join_all(calls).await {
        assert_eq!((out.text.as_str(), back.text.as_str()), (&*text, &*text));
        assert_eq!(out.node, pair.remote_id.to_string());
        assert_eq!(back.node, pair.local_id().to_string());
    }
    assert_eq!(pair.local.bridge.pending(), 0);
}

#[actix::test]
async fn events_cross_both_ways() {
    let pair = Pair::start(&["Echo", "Recorder"], &["Peer", "Recorder"]).await;
    let client = pair.local.node.client();

    // Warm-up: the event filters of both nodes are in place once an event from each side
    // has reached the recorders of both (numbers the checks below leave out).
    let (from_local, from_remote) = (1000, 2000);
    assert!(
        eventually_async(DEADLINE, async || {
            client.emit::<Pinged>(from_local);
            client
                .invoke::<Ping>(from_remote, Empty {})
                .timeout(ANSWER)
                .await
                .unwrap();
            let both = |list: &[u64]| list.contains(&from_local) && list.contains(&from_remote);
            both(&pair.local.seen().1) && both(&pair.remote_seen().await.1)
        })
        .await,
        "events did not start flowing both ways: here {:?}, there {:?}",
        pair.local.seen(),
        pair.remote_seen().await
    );

    // The child emits 1..=5 (its ping handler emits `pinged`); this process emits 11..=15.
    let remote_numbers: Vec<u64> = (1..=5).collect();
    let local_numbers: Vec<u64> = (11..=15).collect();
    for &n in &remote_numbers {
        assert_eq!(
            client
                .invoke::<Ping>(n, Empty {})
                .timeout(ANSWER)
                .await
                .unwrap(),
            n
        );
    }
    for &n in &local_numbers {
        client.emit::<Pinged>(n);
    }
    let all: Vec<u64> = remote_numbers
        .iter()
        .chain(&local_numbers)
        .copied()
        .collect();
    let range = 1..100;
    let mut last = (Vec::new(), Vec::new(), Vec::new());
    let arrived = eventually_async(DEADLINE, async || {
        let (local_once, local_every) = pair.local.seen();
        let (remote_once, remote_every) = pair.remote_seen().await;
        let once: Vec<u64> = local_once.iter().chain(&remote_once).copied().collect();
        last = (
            sent(&once, range.clone()),
            sent(&local_every, range.clone()),
            sent(&remote_every, range.clone()),
        );
        last.0.len() >= all.len() && last.1.len() >= all.len() && last.2.len() >= all.len()
    })
    .await;
    assert!(arrived, "not every event arrived: {last:?}");
    // Each subscribing service once (one of the two recorders), each instance once on the
    // every-instance subscription: never twice, never missing.
    assert_eq!(last.0, all, "one-instance subscription");
    assert_eq!(last.1, all, "every-instance subscription, this process");
    assert_eq!(last.2, all, "every-instance subscription, the child");
    // From one sender, in order.
    let local_every = pair.local.seen().1;
    let ordered: Vec<u64> = local_every
        .into_iter()
        .filter(|n| remote_numbers.contains(n))
        .collect();
    assert_eq!(ordered, remote_numbers);
}

#[actix::test]
async fn errors_cross_the_wire_intact() {
    let pair = Pair::start(&["Echo"], &["Peer"]).await;
    let client = pair.local.node.client();

    // A handled error: status, message and data as the handler made them.
    let refused = client
        .invoke::<Refuse>(Text { text: "no".into() }, Empty {})
        .timeout(ANSWER)
        .await
        .unwrap_err();
    assert_eq!(refused.status, Status(409));
    assert_eq!(refused.message, "refused");
    assert_eq!(refused.data, Some(json!({"text": "no"})));
    assert!(refused.handled, "{refused:?}");

    // A panicking handler: an unhandled 500, and the service keeps serving.
    let boom = client
        .invoke::<Boom>(Empty {}, Empty {})
        .timeout(ANSWER)
        .await
        .unwrap_err();
    assert_eq!(boom.status, Status::INTERNAL_SERVER_ERROR, "{boom:?}");
    assert!(!boom.handled, "{boom:?}");
    assert_eq!(boom.data, None);
    let after = client
        .invoke::<Echo>(
            Text {
                text: "still".into(),
            },
            Empty {},
        )
        .timeout(ANSWER)
        .await
        .unwrap();
    assert_eq!(after.text, "still");

    // A handler that never answers: 504 at the caller's deadline, not before, not much later.
    let timeout = Duration::from_millis(500);
    let started = Instant::now();
    let hung = client
        .invoke::<Hang>(Empty {}, Empty {})
        .timeout(timeout)
        .await
        .unwrap_err();
    let took = started.elapsed();
    assert_eq!(hung.status, Status::GATEWAY_TIMEOUT, "{hung:?}");
    assert!(!hung.handled);
    assert!(
        took >= timeout && took < timeout + Duration::from_secs(1),
        "ended after {took:?}"
    );
    assert_eq!(pair.local.bridge.pending(), 0);
}

#[actix::test]
async fn trace_principal_and_tenant_cross_the_process_boundary() {
    let pair = Pair::start(&["Echo", "Probe"], &["Peer", "Probe"]).await;
    let trace = Id::random();
    let client = pair
        .local
        .node
        .client()
        .with_principal("alice")
        .with_tenant("tenant-b")
        .with_trace_id(trace.clone());
    let expected =
        |node: InstanceId, sender: InstanceId| tributary_integration_tests::graph::CallInfo {
            node: node.to_string(),
            principal: Some("alice".into()),
            tenant: Some("tenant-b".into()),
            trace: trace.to_string(),
            sender_node: Some(sender.to_string()),
        };

    // One hop: test process → child.
    let there = client
        .invoke::<Who>(Empty {}, Empty {})
        .on_instance(pair.remote_id)
        .timeout(ANSWER)
        .await
        .unwrap();
    assert_eq!(there, expected(pair.remote_id, pair.local_id()));

    // Two hops: test process → child → test process, the child's handler carrying it on.
    let back = client
        .invoke::<WhoVia>(pair.local_id().to_string(), Empty {})
        .on_instance(pair.remote_id)
        .timeout(ANSWER)
        .await
        .unwrap();
    assert_eq!(back, expected(pair.local_id(), pair.remote_id));

    // The tenant through Echo and Relay (which invokes Peer here).
    let echoed = client
        .invoke::<Echo>(Text { text: "t".into() }, Empty {})
        .timeout(ANSWER)
        .await
        .unwrap();
    assert_eq!(echoed.tenant.as_deref(), Some("tenant-b"));
    let relayed = client
        .invoke::<Relay>(Text { text: "t".into() }, Empty {})
        .timeout(ANSWER)
        .await
        .unwrap();
    assert_eq!(relayed.tenant.as_deref(), Some("tenant-b"));
    assert_eq!(relayed.node, pair.local_id().to_string());

    // Events: the child's ping handler emits within the command's context; this process's
    // probe hears it with that context. This process emits with its own; the child's hears.
    assert_eq!(
        client
            .invoke::<Ping>(7, Empty {})
            .timeout(ANSWER)
            .await
            .unwrap(),
        7
    );
    let heard_here = |number: u64| {
        let probe = pair.local.node.client();
        async move {
            probe
                .invoke::<Heard>(Empty {}, Empty {})
                .timeout(ANSWER)
                .await
                .unwrap()
                .into_iter()
                .find(|h| h.number == number)
        }
    };
    let mut found = None;
    assert!(
        eventually_async(DEADLINE, async || {
            found = heard_here(7).await;
            found.is_some()
        })
        .await,
        "this process's probe never heard the child's event"
    );
    assert_eq!(
        found.unwrap().context,
        expected(pair.local_id(), pair.remote_id)
    );

    let mut found = None;
    assert!(
        eventually_async(DEADLINE, async || {
            client.emit::<Pinged>(8);
            found = pair
                .local
                .node
                .client()
                .invoke::<Heard>(Empty {}, Empty {})
                .on_instance(pair.remote_id)
                .timeout(ANSWER)
                .await
                .unwrap()
                .into_iter()
                .find(|h| h.number == 8);
            found.is_some()
        })
        .await,
        "the child's probe never heard this process's event"
    );
    assert_eq!(
        found.unwrap().context,
        expected(pair.remote_id, pair.local_id())
    );
}
