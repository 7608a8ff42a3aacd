//! The sample's graph on one node, on tokio's paused clock with 10 ms samples and 100 ms
//! windows: the sensor starts sampling by itself, once (waiting for an origin in the future),
//! its readings carry the sender `sensor/1/service` and follow the seeded signal, every aggregate equals what the test computes from that
//! signal on its own, each sensor gets one aggregate per window, the snapshot command answers,
//! and the node shuts down cleanly.
#![allow(clippy::unwrap_used)]

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use actix::{Actor, Context, Handler};
use tokio::sync::mpsc::{self, UnboundedReceiver, UnboundedSender};
use tributary::{Address, Delivery, Empty, Node, Registrar, Service, Status};
use tributary_samples::{
    graph, Aggregate, AggregateEvent, Reading, ReadingEvent, SampleConfig, TakeSnapshot,
};

const SENSORS: usize = 3;
const SEED: u64 = 7;
/// A multiple of the window, so that window 0 starts with sample 0.
const ORIGIN_MS: u64 = 1_700_000_000_000;
const INTERVAL_MS: u64 = 10;
const WINDOW_MS: u64 = 100;
const PER_WINDOW: usize = (WINDOW_MS / INTERVAL_MS) as usize;

fn config() -> SampleConfig {
    SampleConfig {
        sensors: SENSORS,
        sample_interval: Duration::from_millis(INTERVAL_MS),
        window: Duration::from_millis(WINDOW_MS),
        seed: SEED,
        origin_ms: Some(ORIGIN_MS),
    }
}

/// The first `samples` values of sensor `index`, computed here from the formula documented
/// on `Signal`, not with the sample's own code.
fn signal(index: usize, samples: usize) -> Vec<f64> {
    let mut state = SEED.wrapping_add((index as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15));
    (0..samples)
        .map(|_| {
            state = state
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            let unit = (state >> 11) as f64 / 9_007_199_254_740_992.0;
            20.0 + index as f64 + 4.0 * (unit - 0.5)
        })
        .collect()
}

/// What the aggregate of sensor `index` (from 0) over window `window` (from 0) must be.
fn expected(index: usize, window: usize) -> Aggregate {
    let values = signal(index, (window + 1) * PER_WINDOW);
    let values = &values[window * PER_WINDOW..];
    Aggregate {
        sensor: format!("sensor-{}", index + 1),
        window_start_ms: ORIGIN_MS + window as u64 * WINDOW_MS,
        window_ms: WINDOW_MS,
        count: PER_WINDOW as u64,
        min: values.iter().copied().fold(f64::INFINITY, f64::min),
        max: values.iter().copied().fold(f64::NEG_INFINITY, f64::max),
        mean: values.iter().sum::<f64>() / values.len() as f64,
    }
}

fn assert_aggregate(actual: &Aggregate, expected: &Aggregate) {
    let Aggregate { mean, .. } = actual;
    assert!(
        (mean - expected.mean).abs() < 1e-9,
        "mean {mean} != {}",
        expected.mean
    );
    assert_eq!(
        Aggregate {
            mean: expected.mean,
            ..actual.clone()
        },
        *expected
    );
}

/// A subscriber of the test: forwards readings (with their sender) and aggregates to
/// channels.
struct Recorder {
    readings: UnboundedSender<(Reading, Address)>,
    aggregates: UnboundedSender<Aggregate>,
}

impl Actor for Recorder {
    type Context = Context<Self>;
}

impl Service for Recorder {
    const NAME: &'static str = "recorder";
    const VERSION: &'static str = "1";
    fn register(service: &mut Registrar<Self>) {
        service
            .subscribe::<ReadingEvent>()
            .subscribe::<AggregateEvent>();
    }
}

impl Handler<Delivery<ReadingEvent>> for Recorder {
    type Result = ();
    fn handle(&mut self, reading: Delivery<ReadingEvent>, _: &mut Context<Self>) {
        let sender = reading.meta().sender().clone();
        let _ = self.readings.send((reading.into_payload(), sender));
    }
}

impl Handler<Delivery<AggregateEvent>> for Recorder {
    type Result = ();
    fn handle(&mut self, aggregate: Delivery<AggregateEvent>, _: &mut Context<Self>) {
        let _ = self.aggregates.send(aggregate.into_payload());
    }
}

struct Sample {
    node: Node,
    readings: UnboundedReceiver<(Reading, Address)>,
    aggregates: UnboundedReceiver<Aggregate>,
}

/// The graph plus a recorder, on a paused clock; the sensor starts sampling by itself.
fn start() -> Sample {
    start_with(&config())
}

fn start_with(config: &SampleConfig) -> Sample {
    tokio::time::pause();
    let (readings_tx, readings) = mpsc::unbounded_channel();
    let (aggregates_tx, aggregates) = mpsc::unbounded_channel();
    let node = graph(Node::builder(), config)
        .service(move || Recorder {
            readings: readings_tx.clone(),
            aggregates: aggregates_tx.clone(),
        })
        .start()
        .unwrap();
    Sample {
        node,
        readings,
        aggregates,
    }
}

/// Receives with a deadline (of the paused clock), failing the test rather than hanging it.
async fn recv<T>(rx: &mut UnboundedReceiver<T>) -> T {
    tokio::time::timeout(Duration::from_secs(5), rx.recv())
        .await
        .expect("nothing arrived within 5 s")
        .expect("channel closed")
}

async fn take<T>(rx: &mut UnboundedReceiver<T>, n: usize) -> Vec<T> {
    let mut items = Vec::with_capacity(n);
    for _ in 0..n {
        items.push(recv(rx).await);
    }
    items
}

#[actix::test]
async fn readings_follow_the_seeded_signal() {
    let mut sample = start();
    let samples = 25;
    let readings = take(&mut sample.readings, samples * SENSORS).await;
    let signals: Vec<Vec<f64>> = (0..SENSORS).map(|i| signal(i, samples)).collect();
    for (n, (reading, _)) in readings.iter().enumerate() {
        let (k, index) = (n / SENSORS, n % SENSORS);
        assert_eq!(reading.sensor, format!("sensor-{}", index + 1));
        assert_eq!(reading.timestamp_ms, ORIGIN_MS + k as u64 * INTERVAL_MS);
        assert_eq!(
            reading.value.to_bits(),
            signals[index][k].to_bits(),
            "{reading:?}"
        );
    }
}

#[actix::test]
async fn aggregates_match_the_readings_computed_from_the_seed() {
    let mut sample = start();
    let windows = 6;
    let aggregates = take(&mut sample.aggregates, windows * SENSORS).await;
    for aggregate in &aggregates {
        let index = aggregate.sensor["sensor-".len()..]
            .parse::<usize>()
            .unwrap()
            - 1;
        let window = ((aggregate.window_start_ms - ORIGIN_MS) / WINDOW_MS) as usize;
        assert_aggregate(aggregate, &expected(index, window));
    }
}

#[actix::test]
async fn each_sensor_gets_one_aggregate_per_window_in_order() {
    let mut sample = start();
    let windows = 8;
    let aggregates = take(&mut sample.aggregates, windows * SENSORS).await;
    let order: Vec<(u64, &str)> = aggregates
        .iter()
        .map(|a| (a.window_start_ms, a.sensor.as_str()))
        .collect();
    let names: Vec<String> = (1..=SENSORS).map(|i| format!("sensor-{i}")).collect();
    let want: Vec<(u64, &str)> = (0..windows as u64)
        .flat_map(|w| {
            names
                .iter()
                .map(move |name| (ORIGIN_MS + w * WINDOW_MS, name.as_str()))
        })
        .collect();
    assert_eq!(order, want);
    // Many readings in, one aggregate out.
    assert!(aggregates.iter().all(|a| a.count == PER_WINDOW as u64));
}

#[actix::test]
async fn snapshot_answers_with_the_latest_windows_and_totals() {
    let mut sample = start();
    let client = sample.node.client();

    // Once window 2 has completed, the snapshot holds window 2 or a later one.
    take(&mut sample.aggregates, 3 * SENSORS).await;
    let later = client
        .invoke::<TakeSnapshot>(Empty {}, Empty {})
        .await
        .unwrap();
    assert_eq!(later.last.len(), SENSORS);
    for (index, aggregate) in later.last.iter().enumerate() {
        let window = ((aggregate.window_start_ms - ORIGIN_MS) / WINDOW_MS) as usize;
        assert!(window >= 2, "{aggregate:?}");
        assert_aggregate(aggregate, &expected(index, window));
    }
    let totals = later.totals;
    assert!(totals.aggregates_out >= 3 * SENSORS as u64, "{totals:?}");
    assert_eq!(totals.late_readings, 0);
    assert_eq!(
        totals.readings_aggregated,
        totals.aggregates_out * PER_WINDOW as u64
    );
    assert_eq!(
        totals.readings_in,
        totals.readings_aggregated + totals.readings_open + totals.late_readings
    );
    assert_eq!(totals.reduction(), Some(PER_WINDOW as f64));
}

#[actix::test]
async fn the_sensor_starts_by_itself_once_and_speaks_as_sensor_1_service() {
    let mut sample = start();
    let node = sample.node.instance_id();
    // Nobody invokes anything. The paused clock stands still until every task is idle, so
    // sample k runs exactly k intervals after the node started: half an interval after
    // sample 35, samples 0 to 35 have been taken, each of them once if one sampler runs.
    let samples: u64 = 36;
    tokio::time::sleep(Duration::from_millis(
        (samples - 1) * INTERVAL_MS + INTERVAL_MS / 2,
    ))
    .await;
    let totals = sample
        .node
        .client()
        .invoke::<TakeSnapshot>(Empty {}, Empty {})
        .await
        .unwrap()
        .totals;
    assert_eq!(totals.readings_in, samples * SENSORS as u64, "{totals:?}");

    let mut heard = Vec::new();
    while let Ok(reading) = sample.readings.try_recv() {
        heard.push(reading);
    }
    assert_eq!(heard.len(), samples as usize * SENSORS);
    // The sensor's own client sends them: sender target "service", on this node.
    let sensor = Address::new("sensor", "1", "service").on_instance(node);
    for (n, (reading, sender)) in heard.iter().enumerate() {
        let (k, index) = (n / SENSORS, n % SENSORS);
        assert_eq!(
            (reading.sensor.as_str(), reading.timestamp_ms),
            (
                format!("sensor-{}", index + 1).as_str(),
                ORIGIN_MS + k as u64 * INTERVAL_MS
            ),
        );
        assert_eq!(*sender, sensor, "{reading:?}");
    }
}

#[actix::test]
async fn sampling_waits_for_an_origin_in_the_future() {
    // An origin 5 s of wall-clock time ahead, on a window boundary. The sensor waits for it
    // on tokio's clock, which this test pauses, so nothing really takes 5 s.
    let now_ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64;
    let origin_ms = (now_ms / WINDOW_MS + 50) * WINDOW_MS;
    let mut sample = start_with(&SampleConfig {
        origin_ms: Some(origin_ms),
        ..config()
    });

    // Well before the origin (at least 4.9 s of it lie ahead): no readings, nothing counted.
    assert!(
        tokio::time::timeout(Duration::from_secs(4), sample.readings.recv())
            .await
            .is_err(),
        "a reading before the origin"
    );
    let snapshot = sample
        .node
        .client()
        .invoke::<TakeSnapshot>(Empty {}, Empty {})
        .await
        .unwrap();
    assert!(snapshot.last.is_empty());
    assert_eq!(snapshot.totals, Default::default());
    assert_eq!(snapshot.totals.reduction(), None);

    // Then sampling begins at the origin, and the windows are full ones.
    let first = take(&mut sample.readings, SENSORS).await;
    assert!(
        first.iter().all(|(r, _)| r.timestamp_ms == origin_ms),
        "{first:?}"
    );
    let aggregates = take(&mut sample.aggregates, SENSORS).await;
    for aggregate in &aggregates {
        assert_eq!(aggregate.window_start_ms, origin_ms);
        assert_eq!(aggregate.count, PER_WINDOW as u64, "{aggregate:?}");
    }
}

#[actix::test]
async fn shutdown_stops_sampling_and_every_instance() {
    let mut sample = start();
    take(&mut sample.aggregates, 2 * SENSORS).await;
    let client = sample.node.client();

    let report = sample.node.shutdown().await;
    assert_eq!(report.abandoned, 0);
    assert_eq!(report.instances, 3);

    // Every instance has stopped: the recorder's senders are gone, so both channels end
    // once what was sent before the shutdown has been read.
    let closed = tokio::time::timeout(Duration::from_secs(5), async {
        while sample.readings.recv().await.is_some() {}
        while sample.aggregates.recv().await.is_some() {}
    });
    closed.await.expect("channels still open after shutdown");

    let err = client
        .invoke::<TakeSnapshot>(Empty {}, Empty {})
        .await
        .unwrap_err();
    assert_eq!(err.status, Status::SERVICE_UNAVAILABLE);
}
