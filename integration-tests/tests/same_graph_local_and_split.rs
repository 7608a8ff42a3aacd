//! The sample's graph, deployed twice with one `SampleConfig` (fixed seed and origin, 10 ms
//! samples, 100 ms windows), gives the same aggregates for the same windows:
//!
//! - (i) whole, on one node with no bridge: the sensor's readings reach the aggregator
//!   through the node's local broker;
//! - (ii) split over two nodes joined through a mosquitto of the test's own, each with its
//!   `MqttBridge`: the sensor on node A, the aggregator on node B, each node built as the
//!   sample's `node` binary builds it (`NodeConfig` naming its services, `graph_part`).
//!   The readings cross the broker as the sensor's own client sends them, with sender
//!   `sensor/1/service`: the split aggregates are complete only if B subscribes to those.
//!
//! Both run at once, on real time (network I/O does not mix with tokio's paused clock). The
//! sensor of each waits for the shared origin, a little ahead; before it, the test proves that
//! node B's subscriptions are in place (a command from A to B answers, see `ready`), so no
//! reading of the split deployment goes to a broker that has no subscriber for it. Every wait
//! is on a channel or a condition, with a deadline.
#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use actix::{Actor, Context, Handler};
use tokio::sync::mpsc::{self, UnboundedReceiver, UnboundedSender};
use tokio::time::Instant;
use tributary::{Delivery, Empty, Node, NodeBuilder, Registrar, Service};
use tributary_integration_tests::{eventually_async, Mosquitto};
use tributary_mqtt::{MqttBridge, MqttConfig, NodeConfig};
use tributary_samples::{
    graph, graph_part, Aggregate, AggregateEvent, SampleConfig, Snapshot, TakeSnapshot,
};

const SENSORS: usize = 3;
const SEED: u64 = 7;
const INTERVAL_MS: u64 = 10;
const WINDOW_MS: u64 = 100;
const PER_WINDOW: u64 = WINDOW_MS / INTERVAL_MS;
/// How many complete windows of each sensor are compared.
const WINDOWS: u64 = 8;
/// How far ahead of the test's start sampling begins: time for the bridges to connect and
/// subscribe, which takes some tens of milliseconds on loopback.
const LEAD: Duration = Duration::from_secs(1);

/// A subscriber of the test: forwards every aggregate it receives to a channel.
struct Collector {
    aggregates: UnboundedSender<Aggregate>,
}

impl Actor for Collector {
    type Context = Context<Self>;
}

impl Service for Collector {
    const NAME: &'static str = "collector";
    const VERSION: &'static str = "1";
    fn register(service: &mut Registrar<Self>) {
        service.subscribe::<AggregateEvent>();
    }
}

impl Handler<Delivery<AggregateEvent>> for Collector {
    type Result = ();
    fn handle(&mut self, aggregate: Delivery<AggregateEvent>, _: &mut Context<Self>) {
        let _ = self.aggregates.send(aggregate.into_payload());
    }
}

fn collector() -> (
    impl Fn() -> Collector + Send + Sync + 'static,
    UnboundedReceiver<Aggregate>,
) {
    let (tx, rx) = mpsc::unbounded_channel();
    let make = move || Collector {
        aggregates: tx.clone(),
    };
    (make, rx)
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64
}

/// One node of the split deployment, configured as the `node` binary configures itself: the
/// services it runs, bridged to `broker`; `add` puts the test's own services around them.
fn split_node(
    broker: &Mosquitto,
    services: &[&str],
    sample: &SampleConfig,
    add: impl FnOnce(NodeBuilder) -> NodeBuilder,
) -> (Node, MqttBridge) {
    let config = NodeConfig {
        services: services.iter().map(|s| (*s).to_owned()).collect(),
        mqtt: Some(MqttConfig::new(broker.host(), broker.port())),
        ..NodeConfig::default()
    };
    let (builder, bridge) = config.apply(Node::builder()).unwrap();
    let node = add(graph_part(builder, sample, |service| config.runs(service)))
        .start()
        .unwrap();
    (node, bridge.unwrap())
}

/// Aggregates by window and sensor, until `first..first + WINDOWS` is complete for every
/// sensor or the deadline passes; later windows are ignored.
async fn collect(
    rx: &mut UnboundedReceiver<Aggregate>,
    origin_ms: u64,
    first: u64,
    deadline: Instant,
) -> BTreeMap<(u64, String), Aggregate> {
    let wanted = |a: &Aggregate| {
        let window = (a.window_start_ms - origin_ms) / WINDOW_MS;
        (first..first + WINDOWS).contains(&window)
    };
    let mut got = BTreeMap::new();
    while got.len() < (WINDOWS as usize) * SENSORS {
        match tokio::time::timeout_at(deadline, rx.recv()).await {
            Ok(Some(aggregate)) if wanted(&aggregate) => {
                let key = (aggregate.window_start_ms, aggregate.sensor.clone());
                assert!(
                    got.insert(key, aggregate.clone()).is_none(),
                    "an aggregate came twice: {aggregate:?}"
                );
            }
            Ok(Some(_)) => {}
            Ok(None) | Err(_) => break,
        }
    }
    got
}

async fn snapshot(node: &Node) -> Snapshot {
    node.client()
        .invoke::<TakeSnapshot>(Empty {}, Empty {})
        .timeout(Duration::from_secs(5))
        .await
        .unwrap()
}

#[actix::test]
async fn the_same_graph_gives_the_same_aggregates_on_one_node_and_split_over_mqtt() {
    let broker = Mosquitto::start().unwrap();
    // On a window boundary, so that window 0 starts with sample 0: every window is full.
    let origin_ms = (now_ms() + LEAD.as_millis() as u64).div_ceil(WINDOW_MS) * WINDOW_MS;
    let sample = SampleConfig {
        sensors: SENSORS,
        sample_interval: Duration::from_millis(INTERVAL_MS),
        window: Duration::from_millis(WINDOW_MS),
        seed: SEED,
        origin_ms: Some(origin_ms),
    };

    // (i) The whole graph on one node, no bridge.
    let (local_collector, mut local_rx) = collector();
    let local = graph(Node::builder(), &sample)
        .service(local_collector)
        .start()
        .unwrap();

    // (ii) The same graph split: the aggregator (and the collector) on B, the sensor on A.
    let (split_collector, mut split_rx) = collector();
    let (node_b, bridge_b) = split_node(&broker, &["aggregator"], &sample, |builder| {
        builder.service(split_collector)
    });
    let (node_a, bridge_a) = split_node(&broker, &["sensor"], &sample, |builder| builder);

    // Ready when A's command reaches the aggregator on B and B's answer comes back. B sends
    // that answer on its main session after the SUBSCRIBEs it sent there on connecting (its
    // event subscriptions among them), and mosquitto handles a client's packets in order: so
    // by then every reading A publishes has a subscriber.
    let ready = eventually_async(Duration::from_secs(10), async || {
        node_a
            .client()
            .invoke::<TakeSnapshot>(Empty {}, Empty {})
            .timeout(Duration::from_millis(500))
            .await
            .is_ok()
    })
    .await;
    assert!(
        ready,
        "node B never answered node A: {:?} / {:?}\n{}",
        bridge_a.health(),
        bridge_b.health(),
        broker.log()
    );
    let ready_ms = now_ms();
    // Normally sampling has not begun yet and window 0 is compared. On a machine so slow that
    // it has, the first window that begins a full window after readiness is.
    let first = if ready_ms + WINDOW_MS <= origin_ms {
        0
    } else {
        (ready_ms + WINDOW_MS - origin_ms).div_ceil(WINDOW_MS)
    };
    let until = Duration::from_millis(origin_ms.saturating_sub(now_ms()))
        + Duration::from_millis((first + WINDOWS + 1) * WINDOW_MS)
        + Duration::from_secs(10);
    let deadline = Instant::now() + until;

    let (local_aggregates, split_aggregates) = tokio::join!(
        collect(&mut local_rx, origin_ms, first, deadline),
        collect(&mut split_rx, origin_ms, first, deadline)
    );

    let want = WINDOWS as usize * SENSORS;
    assert_eq!(
        local_aggregates.len(),
        want,
        "local: windows {first}.. incomplete: {:?}",
        local_aggregates.keys().collect::<Vec<_>>()
    );
    assert_eq!(
        split_aggregates.len(),
        want,
        "split: windows {first}.. incomplete: {:?}\nA: {:?}\nB: {:?}",
        split_aggregates.keys().collect::<Vec<_>>(),
        bridge_a.health(),
        bridge_b.health()
    );
    // The same windows of the same sensors, each summarising every reading of its window,
    // with the same count, minimum, maximum and mean. The split deployment's readings went
    // through JSON, so the floats are compared to within a rounding error, not bit for bit.
    assert_eq!(
        local_aggregates.keys().collect::<Vec<_>>(),
        split_aggregates.keys().collect::<Vec<_>>()
    );
    for (key, local) in &local_aggregates {
        let split = &split_aggregates[key];
        assert_eq!(local.count, PER_WINDOW, "{local:?}");
        assert_eq!(
            (
                &local.sensor,
                local.window_start_ms,
                local.window_ms,
                local.count
            ),
            (
                &split.sensor,
                split.window_start_ms,
                split.window_ms,
                split.count
            ),
        );
        for (what, l, s) in [
            ("min", local.min, split.min),
            ("max", local.max, split.max),
            ("mean", local.mean, split.mean),
        ] {
            assert!(
                (l - s).abs() <= 1e-9 * l.abs(),
                "{what} differs: local {local:?}, split {split:?}"
            );
        }
    }

    // Nothing late, nothing lost on the way: every aggregate so far summarises a full window
    // (of the split deployment, only when it got every reading from the first one on). The
    // snapshots are taken while sampling goes on, so only what holds at any moment is
    // checked. The split one is asked for by node A, through the broker.
    let (local_snapshot, split_snapshot) = (snapshot(&local).await, snapshot(&node_a).await);
    for (totals, all) in [
        (local_snapshot.totals, true),
        (split_snapshot.totals, first == 0),
    ] {
        assert_eq!(totals.late_readings, 0, "{totals:?}");
        assert!(totals.aggregates_out >= want as u64, "{totals:?}");
        if all {
            assert_eq!(
                totals.readings_aggregated,
                totals.aggregates_out * PER_WINDOW,
                "{totals:?}"
            );
        }
    }
    let health = bridge_b.health();
    assert_eq!(
        (health.undecodable, health.duplicates),
        (0, 0),
        "{health:?}"
    );

    // A first (the sensor stops), then B; the local node meanwhile.
    let (a, local_report) = tokio::join!(node_a.shutdown(), local.shutdown());
    let b = node_b.shutdown().await;
    for report in [a, b, local_report] {
        assert_eq!(report.abandoned, 0);
    }
}
