//! Remote invoke and events over MQTT against raw rumqttc: `cargo bench -p tributary-mqtt --bench
//! remote`.
//!
//! One mosquitto of its own (the integration tests' fixture: `set_tcp_nodelay true`,
//! `max_queued_messages 1000000`, persistence off), one actix `System`, one run, each figure of
//! ours next to the floor it builds on:
//!
//! 1. **floor**: raw rumqttc v5 clients through that broker, QoS 1 everywhere, a 100-byte
//!    payload, TCP_NODELAY and a 1 MiB maximum packet size, as `baselines.md` §1 and §3
//!    measured it. A requester publishes, a responder echoes from its poll loop with
//!    `try_publish`: one call in flight (p50, p99, calls/s) and 64 in flight (calls/s). A
//!    publisher streams one-way to a subscriber, which counts (msgs/s).
//! 2. **tributary**: two nodes, each with its own [`MqttBridge`]. The caller invokes
//!    `bench/1/echo` (about 100 bytes of JSON payload, the handler echoes it) on the other
//!    node, with the same two shapes; and emits `tick` events that a subscribing service on the
//!    other node counts. Once with the JSON codec, once with bincode.
//!
//! The floor's clients and both nodes share the actix thread: the nodes' work has to fit on
//! it, and so does the floor's. For information, the floor runs again on a 2-worker tokio
//! runtime of its own, as `baselines.md` measured it.
//!
//! Events are emitted (published) with at most `EVENT_WINDOW` of them not yet counted at the
//! receiver, for ours and the floor alike, and a run ends when all have arrived.
//!
//! Every workload is warmed up and sized to run about the same time; then the workloads run
//! in rounds, the floor right before ours, so that noise on this 2-core machine hits both
//! alike. Figures are medians over the rounds, ratios medians of the per-round ratios. Every
//! wait has a deadline: a call that gets no answer in 5 s, or a stream that makes no progress
//! in 5 s, ends the program with the reason.
//!
//! Beside the rates, each run reads the CPU time the bench process and the broker used
//! (`/proc/PID/task/*/schedstat`), per call or message: on a shared machine that shows where
//! the work is better than the rates do.
//!
//! `--quick` (or `BENCH_QUICK=1`) runs one short round, as a smoke test of the program;
//! `--only a,b` runs just those workloads (`tributary_json_conc64`, …) and prints their rate
//! and CPU, and how many calls or messages ran in all (to read profiler counts per call). The
//! program exits 0 once it has measured: it prints PASS or MISS against the goals.
//!
//! The program runs on mimalloc, floor and ours alike (decision 0005, docs/performance.md);
//! `RUSTFLAGS="--cfg tributary_system_allocator"` runs it on the system allocator instead.

use std::future::IntoFuture;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use actix::prelude::*;
use bytes::Bytes;
use futures_util::stream::{FuturesUnordered, StreamExt};
use rumqttc::v5::mqttbytes::v5::{Packet, Publish};
use rumqttc::v5::mqttbytes::QoS;
use rumqttc::v5::{AsyncClient, Event, EventLoop, MqttOptions};
use serde::{Deserialize, Serialize};
use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::JoinHandle;
use tributary::codec::Codec;
use tributary::{
    Client, CommandContract, CommandResult, Delivery, Empty, EventContract, Invocation, Node,
    Registrar, Service,
};
use tributary_integration_tests::{eventually_async, MosquittoConfig};
use tributary_mqtt::{MqttBridge, MqttConfig};

/// The whole program's allocator, ours and the floor's alike: mimalloc, which docs/performance.md
/// advises for a node (decision 0005); `RUSTFLAGS="--cfg tributary_system_allocator"`
/// measures the system's.
#[cfg(not(tributary_system_allocator))]
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// The allocator's name, for the figures.
const ALLOCATOR_NAME: &str = if cfg!(tributary_system_allocator) {
    "system"
} else {
    "mimalloc"
};

/// Calls outstanding in the concurrent shape.
const IN_FLIGHT: u64 = 64;
/// The floor's payload, and about the size of ours as JSON.
const PAYLOAD_BYTES: usize = 100;
/// Events (one-way messages) sent but not yet counted at the receiver, at most.
const EVENT_WINDOW: u64 = 1024;
/// How long one call may take before the run is abandoned.
const CALL_DEADLINE: Duration = Duration::from_secs(5);
/// How long a stream of events may make no progress before the run is abandoned.
const STALL_DEADLINE: Duration = Duration::from_secs(5);
/// How long connecting and subscribing may take.
const READY_DEADLINE: Duration = Duration::from_secs(10);
/// Every rumqttc client's request channel, as the bridge sizes its own.
const REQUEST_CAPACITY: usize = 10_000;
/// The largest packet, as the bridge's default.
const MAX_PACKET_SIZE: u32 = 1024 * 1024;

// ---------------------------------------------------------------------------------------------
// What travels: a 100-byte payload.

/// The payload of the command and the event: the run it belongs to, its number, and filler
/// that makes it about 100 bytes of JSON.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Blob {
    run: u64,
    seq: u64,
    text: String,
}

/// The filler of a [`Blob`]: `{"run":1,"seq":1234,"text":"…"}` is then about 100 bytes.
const FILLER: &str = "the quick brown fox jumps over the lazy dog, then naps by the river..";

fn blob(run: u64, seq: u64) -> Blob {
    Blob {
        run,
        seq,
        text: FILLER.to_owned(),
    }
}

/// The floor's payload: run and sequence number, then filler up to `PAYLOAD_BYTES`.
fn raw_payload(run: u64, seq: u64) -> Vec<u8> {
    let mut bytes = Vec::with_capacity(PAYLOAD_BYTES);
    bytes.extend_from_slice(&run.to_le_bytes());
    bytes.extend_from_slice(&seq.to_le_bytes());
    bytes.resize(PAYLOAD_BYTES, b'x');
    bytes
}

/// The run and sequence number of a floor payload.
fn raw_header(payload: &[u8]) -> (u64, u64) {
    let word = |at: usize| {
        payload
            .get(at..at + 8)
            .and_then(|b| b.try_into().ok())
            .map_or(u64::MAX, u64::from_le_bytes)
    };
    (word(0), word(8))
}

/// `bench/1/echo`: answers with its payload.
struct EchoCmd;
impl CommandContract for EchoCmd {
    const SERVICE: &'static str = "bench";
    const VERSION: &'static str = "1";
    const COMMAND: &'static str = "echo";
    type Payload = Blob;
    type Parameter = Empty;
    type Output = Blob;
}

/// `tick`: the event streamed from one node to the other.
struct Tick;
impl EventContract for Tick {
    const EVENT: &'static str = "tick";
    type Payload = Blob;
}

/// Counts what arrives for the current run, and publishes the count on a watch channel that
/// the sender waits on.
struct Tally {
    run: AtomicU64,
    count: watch::Sender<u64>,
}

impl Tally {
    fn new() -> Arc<Tally> {
        Arc::new(Tally {
            run: AtomicU64::new(u64::MAX),
            count: watch::Sender::new(0),
        })
    }

    /// Starts counting run `run` from 0; returns the receiver to wait on.
    fn start(&self, run: u64) -> watch::Receiver<u64> {
        self.run.store(run, Ordering::Relaxed);
        self.count.send_replace(0);
        self.count.subscribe()
    }

    /// Something of run `run` arrived; stragglers of other runs are not counted.
    fn hit(&self, run: u64) {
        if run == self.run.load(Ordering::Relaxed) {
            self.count.send_modify(|count| *count += 1);
        }
    }
}

/// Waits until `done` holds for the count; fails when the count stops moving for
/// `STALL_DEADLINE`.
async fn wait_count(rx: &mut watch::Receiver<u64>, what: &str, done: impl Fn(u64) -> bool) {
    loop {
        if done(*rx.borrow_and_update()) {
            return;
        }
        match tokio::time::timeout(STALL_DEADLINE, rx.changed()).await {
            Ok(Ok(())) => {}
            Ok(Err(_)) => panic!("{what}: the counter is gone"),
            Err(_) => panic!(
                "{what}: no progress for {STALL_DEADLINE:?}, {} counted",
                *rx.borrow()
            ),
        }
    }
}

/// The service on the answering node: echoes `bench/1/echo`, counts `tick`.
struct Bench {
    tally: Arc<Tally>,
}
impl Actor for Bench {
    type Context = Context<Self>;
}
impl Service for Bench {
    const NAME: &'static str = "bench";
    const VERSION: &'static str = "1";
    fn register(service: &mut Registrar<Self>) {
        service.command::<EchoCmd>().subscribe::<Tick>();
    }
}
impl Handler<Invocation<EchoCmd>> for Bench {
    type Result = CommandResult<EchoCmd>;
    fn handle(&mut self, call: Invocation<EchoCmd>, _: &mut Context<Self>) -> Self::Result {
        Ok(call.payload)
    }
}
impl Handler<Delivery<Tick>> for Bench {
    type Result = ();
    fn handle(&mut self, tick: Delivery<Tick>, _: &mut Context<Self>) {
        self.tally.hit(tick.payload().run);
    }
}

// ---------------------------------------------------------------------------------------------
// Measuring.

/// What one run of a workload measured.
struct Sample {
    /// Calls (or events) done.
    n: u64,
    elapsed: Duration,
    /// p50 and p99 of one call, in µs, for the sequential shape.
    latency: Option<(f64, f64)>,
    /// CPU time used by the bench process and by the broker during the run, in ns.
    cpu: (u64, u64),
}

impl Sample {
    fn new(n: u64, elapsed: Duration) -> Sample {
        Sample {
            n,
            elapsed,
            latency: None,
            cpu: (0, 0),
        }
    }

    fn rate(&self) -> f64 {
        self.n as f64 / self.elapsed.as_secs_f64()
    }

    /// CPU µs per call (or message) of the bench process and of the broker.
    fn cpu_per_call(&self) -> (f64, f64) {
        let per = |ns: u64| ns as f64 / self.n as f64 / 1000.0;
        (per(self.cpu.0), per(self.cpu.1))
    }
}

/// The CPU time process `pid` has used so far, all its threads, in ns: the first field of
/// `/proc/PID/task/*/schedstat`. 0 where that cannot be read.
fn cpu_ns(pid: u32) -> u64 {
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return 0;
    };
    tasks
        .flatten()
        .filter_map(|task| std::fs::read_to_string(task.path().join("schedstat")).ok())
        .filter_map(|stat| stat.split_whitespace().next()?.parse::<u64>().ok())
        .sum()
}

/// Times `n` calls made one after the other.
struct Sequential {
    latencies: Vec<u32>,
    start: Instant,
    previous: Instant,
}

impl Sequential {
    fn new(n: u64) -> Self {
        let now = Instant::now();
        Sequential {
            latencies: Vec::with_capacity(n as usize),
            start: now,
            previous: now,
        }
    }

    fn call_done(&mut self) {
        let now = Instant::now();
        let ns = (now - self.previous).as_nanos();
        self.latencies.push(u32::try_from(ns).unwrap_or(u32::MAX));
        self.previous = now;
    }

    fn sample(mut self) -> Sample {
        let n = self.latencies.len() as u64;
        let p50 = percentile(&mut self.latencies, 0.50) / 1000.0;
        let p99 = percentile(&mut self.latencies, 0.99) / 1000.0;
        Sample {
            latency: Some((p50, p99)),
            ..Sample::new(n, self.previous - self.start)
        }
    }
}

fn percentile(values: &mut [u32], p: f64) -> f64 {
    let index = ((values.len() as f64 * p) as usize).min(values.len() - 1);
    f64::from(*values.select_nth_unstable(index).1)
}

/// The three shapes measured for each system.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Shape {
    /// One call in flight.
    Seq,
    /// `IN_FLIGHT` calls in flight.
    Conc,
    /// One-way messages, counted at the receiver.
    Events,
}

// ---------------------------------------------------------------------------------------------
// The floor: raw rumqttc.

/// rumqttc options as `baselines.md` tuned them: TCP_NODELAY, a 1 MiB packet limit, a clean
/// session.
fn floor_options(client_id: String, host: &str, port: u16) -> MqttOptions {
    let mut options = MqttOptions::new(client_id, host, port);
    options.set_keep_alive(Duration::from_secs(30));
    options.set_max_packet_size(Some(MAX_PACKET_SIZE));
    options.set_clean_start(true);
    let mut network = rumqttc::NetworkOptions::new();
    network.set_tcp_nodelay(true);
    options.set_network_options(network);
    options
}

/// Polls `eventloop` until it fails, handing each incoming publish to `on_publish`; says
/// `ready` at the first SUBACK, or at CONNACK if `subscribes` is false.
fn spawn_loop(
    name: &'static str,
    mut eventloop: EventLoop,
    subscribes: bool,
    ready: oneshot::Sender<()>,
    mut on_publish: impl FnMut(Publish) + Send + 'static,
) -> JoinHandle<()> {
    tokio::spawn(async move {
        let mut ready = Some(ready);
        loop {
            match eventloop.poll().await {
                Ok(Event::Incoming(Packet::Publish(publish))) => on_publish(publish),
                Ok(Event::Incoming(Packet::SubAck(_))) if subscribes => {
                    ready.take().map(|r| r.send(()));
                }
                Ok(Event::Incoming(Packet::ConnAck(_))) if !subscribes => {
                    ready.take().map(|r| r.send(()));
                }
                Ok(_) => {}
                Err(err) => {
                    eprintln!("floor {name}: connection failed: {err}");
                    return;
                }
            }
        }
    })
}

/// Four raw clients: a requester and a responder, a publisher and a subscriber.
struct Floor {
    requester: AsyncClient,
    /// The payloads of the responses, from the requester's poll loop.
    answers: mpsc::UnboundedReceiver<Bytes>,
    publisher: AsyncClient,
    tally: Arc<Tally>,
    request_topic: String,
    oneway_topic: String,
    loops: Vec<JoinHandle<()>>,
}

impl Floor {
    /// Connects the clients, subscribes, and returns once every subscription is acknowledged.
    async fn connect(host: &str, port: u16, tag: &str) -> Floor {
        let request_topic = format!("floor/{tag}/request");
        let response_topic = format!("floor/{tag}/response");
        let oneway_topic = format!("floor/{tag}/oneway");
        let client = |role: &str| {
            AsyncClient::new(
                floor_options(format!("floor-{tag}-{role}"), host, port),
                REQUEST_CAPACITY,
            )
        };
        let (requester, requester_loop) = client("requester");
        let (responder, responder_loop) = client("responder");
        let (publisher, publisher_loop) = client("publisher");
        let (subscriber, subscriber_loop) = client("subscriber");
        let (answers_tx, answers) = mpsc::unbounded_channel();
        let tally = Tally::new();
        let mut ready = Vec::new();
        let mut loops = Vec::new();
        let mut ready_signal = || {
            let (tx, rx) = oneshot::channel();
            ready.push(rx);
            tx
        };

        loops.push(spawn_loop(
            "requester",
            requester_loop,
            true,
            ready_signal(),
            move |publish| {
                let _ = answers_tx.send(publish.payload);
            },
        ));
        let echo = responder.clone();
        let answer_to = response_topic.clone();
        loops.push(spawn_loop(
            "responder",
            responder_loop,
            true,
            ready_signal(),
            move |publish| {
                echo.try_publish(answer_to.clone(), QoS::AtLeastOnce, false, publish.payload)
                    .expect("the responder's request channel has room");
            },
        ));
        loops.push(spawn_loop(
            "publisher",
            publisher_loop,
            false,
            ready_signal(),
            |_| {},
        ));
        let counter = tally.clone();
        loops.push(spawn_loop(
            "subscriber",
            subscriber_loop,
            true,
            ready_signal(),
            move |publish| counter.hit(raw_header(&publish.payload).0),
        ));

        requester
            .try_subscribe(response_topic, QoS::AtLeastOnce)
            .expect("subscribe queued");
        responder
            .try_subscribe(request_topic.clone(), QoS::AtLeastOnce)
            .expect("subscribe queued");
        subscriber
            .try_subscribe(oneway_topic.clone(), QoS::AtLeastOnce)
            .expect("subscribe queued");
        for rx in ready {
            tokio::time::timeout(READY_DEADLINE, rx)
                .await
                .expect("the floor's clients connect and subscribe in time")
                .expect("the floor's clients connect");
        }
        Floor {
            requester,
            answers,
            publisher,
            tally,
            request_topic,
            oneway_topic,
            loops,
        }
    }

    fn request(&self, run: u64, seq: u64) {
        self.requester
            .try_publish(
                self.request_topic.clone(),
                QoS::AtLeastOnce,
                false,
                raw_payload(run, seq),
            )
            .expect("the requester's request channel has room");
    }

    async fn answer(&mut self) -> (u64, u64) {
        let payload = tokio::time::timeout(CALL_DEADLINE, self.answers.recv())
            .await
            .expect("floor: an answer within the call deadline")
            .expect("floor: the requester's loop is running");
        raw_header(&payload)
    }

    async fn run(&mut self, shape: Shape, n: u64, run: u64) -> Sample {
        match shape {
            Shape::Seq => {
                let mut timing = Sequential::new(n);
                for seq in 0..n {
                    self.request(run, seq);
                    assert_eq!(self.answer().await, (run, seq), "floor: wrong answer");
                    timing.call_done();
                }
                timing.sample()
            }
            Shape::Conc => {
                let start = Instant::now();
                let mut issued = 0;
                while issued < n.min(IN_FLIGHT) {
                    self.request(run, issued);
                    issued += 1;
                }
                for _ in 0..n {
                    assert_eq!(self.answer().await.0, run, "floor: answer of another run");
                    if issued < n {
                        self.request(run, issued);
                        issued += 1;
                    }
                }
                Sample::new(n, start.elapsed())
            }
            Shape::Events => {
                let publisher = &self.publisher;
                let topic = &self.oneway_topic;
                stream_events(&self.tally, "floor one-way", n, run, |seq| {
                    publisher
                        .try_publish(
                            topic.clone(),
                            QoS::AtLeastOnce,
                            false,
                            raw_payload(run, seq),
                        )
                        .expect("the publisher's request channel has room");
                })
                .await
            }
        }
    }
}

impl Drop for Floor {
    fn drop(&mut self) {
        for task in &self.loops {
            task.abort();
        }
    }
}

/// Sends `n` messages with `send`, keeping at most `EVENT_WINDOW` of them uncounted at the
/// receiver, and waits until all have been counted.
async fn stream_events(
    tally: &Tally,
    what: &str,
    n: u64,
    run: u64,
    mut send: impl FnMut(u64),
) -> Sample {
    let mut counted = tally.start(run);
    let start = Instant::now();
    for seq in 0..n {
        if seq - *counted.borrow() >= EVENT_WINDOW {
            wait_count(&mut counted, what, |c| seq - c < EVENT_WINDOW).await;
        }
        send(seq);
    }
    wait_count(&mut counted, what, |c| c >= n).await;
    Sample::new(n, start.elapsed())
}

/// The floor again, on a 2-worker tokio runtime in a thread of its own.
struct FloorThread {
    jobs: mpsc::UnboundedSender<(Shape, u64, u64, oneshot::Sender<Sample>)>,
    thread: std::thread::JoinHandle<()>,
}

impl FloorThread {
    fn start(host: &'static str, port: u16, tag: String) -> FloorThread {
        let (jobs, mut queue) =
            mpsc::unbounded_channel::<(Shape, u64, u64, oneshot::Sender<Sample>)>();
        let thread = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .expect("a tokio runtime");
            runtime.block_on(async move {
                let mut floor = Floor::connect(host, port, &tag).await;
                while let Some((shape, n, run, reply)) = queue.recv().await {
                    let _ = reply.send(floor.run(shape, n, run).await);
                }
            });
        });
        FloorThread { jobs, thread }
    }

    async fn run(&self, shape: Shape, n: u64, run: u64) -> Sample {
        let (reply, sample) = oneshot::channel();
        self.jobs
            .send((shape, n, run, reply))
            .expect("the floor thread runs");
        // Each wait inside has its own deadline; this one only guards the hand-over.
        tokio::time::timeout(Duration::from_secs(120), sample)
            .await
            .expect("the floor thread answers")
            .expect("the floor thread measured (see its panic above)")
    }

    fn stop(self) {
        drop(self.jobs);
        let _ = self.thread.join();
    }
}

// ---------------------------------------------------------------------------------------------
// Ours: two nodes joined through the broker.

/// A caller node and an answering node, each with its own bridge.
struct Remote {
    caller: Client,
    tally: Arc<Tally>,
    nodes: Vec<Node>,
    bridges: Vec<MqttBridge>,
    /// What the bridges counted while they got ready (late probe answers, say).
    problems_at_start: u64,
}

impl Remote {
    /// Starts both nodes and returns once a command and an event have crossed.
    async fn start(host: &str, port: u16, codec: Codec) -> Remote {
        // A prefix per codec keeps the pairs apart: the same service on both would otherwise
        // share its command and event groups across them.
        let config = MqttConfig {
            prefix: format!("bench-{codec}"),
            drain_ms: 300,
            ..MqttConfig::new(host, port).codec(codec)
        };
        let bridges = [
            MqttBridge::new(config.clone()).expect("a valid config"),
            MqttBridge::new(config).expect("a valid config"),
        ];
        let tally = Tally::new();
        let counter = tally.clone();
        let server = Node::builder()
            .shutdown_grace(Duration::from_secs(2))
            .service(move || Bench {
                tally: counter.clone(),
            })
            .bridge(bridges[0].attach())
            .start()
            .expect("the answering node starts");
        let caller_node = Node::builder()
            .shutdown_grace(Duration::from_secs(2))
            .bridge(bridges[1].attach())
            .start()
            .expect("the calling node starts");
        let connected = eventually_async(READY_DEADLINE, async || {
            bridges.iter().all(|b| {
                let health = b.health();
                health.connected && health.commands_connected
            })
        })
        .await;
        assert!(connected, "the bridges connect in time");
        let remote = Remote {
            caller: caller_node.client(),
            tally,
            nodes: vec![server, caller_node],
            bridges: bridges.into(),
            problems_at_start: 0,
        };
        remote.until_subscribed().await;
        Remote {
            problems_at_start: remote.problems(),
            ..remote
        }
    }

    /// The subscriptions are made after CONNACK: retries a command and an event until each
    /// gets through.
    async fn until_subscribed(&self) {
        let deadline = Instant::now() + READY_DEADLINE;
        while self
            .caller
            .invoke::<EchoCmd>(blob(0, 0), Empty {})
            .timeout(Duration::from_millis(300))
            .await
            .is_err()
        {
            assert!(Instant::now() < deadline, "a command crosses in time");
        }
        let mut counted = self.tally.start(0);
        loop {
            self.caller.emit::<Tick>(blob(0, 0));
            let arrived =
                tokio::time::timeout(Duration::from_millis(300), counted.wait_for(|&c| c > 0))
                    .await;
            if matches!(arrived, Ok(Ok(_))) {
                break;
            }
            assert!(Instant::now() < deadline, "an event crosses in time");
        }
    }

    async fn run(&self, shape: Shape, n: u64, run: u64) -> Sample {
        let call = |seq| {
            self.caller
                .invoke::<EchoCmd>(blob(run, seq), Empty {})
                .timeout(CALL_DEADLINE)
                .into_future()
        };
        match shape {
            Shape::Seq => {
                let mut timing = Sequential::new(n);
                for seq in 0..n {
                    let answer = call(seq).await.expect("tributary: the command succeeds");
                    assert_eq!((answer.run, answer.seq), (run, seq), "wrong answer");
                    timing.call_done();
                }
                timing.sample()
            }
            Shape::Conc => {
                let start = Instant::now();
                let mut pending = FuturesUnordered::new();
                let mut issued = 0;
                while issued < n.min(IN_FLIGHT) {
                    pending.push(call(issued));
                    issued += 1;
                }
                while let Some(answer) = pending.next().await {
                    let answer = answer.expect("tributary: the command succeeds");
                    assert_eq!(answer.run, run, "answer of another run");
                    if issued < n {
                        pending.push(call(issued));
                        issued += 1;
                    }
                }
                Sample::new(n, start.elapsed())
            }
            Shape::Events => {
                let caller = &self.caller;
                stream_events(&self.tally, "tributary events", n, run, |seq| {
                    caller.emit::<Tick>(blob(run, seq));
                })
                .await
            }
        }
    }

    /// Problems the bridges counted since they got ready: dropped events, undecodable or late
    /// messages, lost connections.
    fn problems(&self) -> u64 {
        let total: u64 = self
            .bridges
            .iter()
            .map(|b| {
                let h = b.health();
                h.events_dropped + h.undecodable + h.late_responses + h.connection_errors
            })
            .sum();
        total - self.problems_at_start
    }

    async fn shutdown(self) {
        futures_util::future::join_all(self.nodes.into_iter().map(Node::shutdown)).await;
    }
}

// ---------------------------------------------------------------------------------------------
// The workloads.

/// Who is measured.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Subject {
    /// Raw rumqttc on the actix thread.
    Floor,
    /// Ours, JSON codec.
    Json,
    /// Ours, bincode codec.
    Bincode,
    /// Raw rumqttc on a 2-worker tokio runtime (for information).
    FloorMt,
}

type Workload = (Subject, Shape);

/// A round: for each shape, the floor right before ours.
const ROUND: [Workload; 12] = [
    (Subject::Floor, Shape::Seq),
    (Subject::Json, Shape::Seq),
    (Subject::Bincode, Shape::Seq),
    (Subject::FloorMt, Shape::Seq),
    (Subject::Floor, Shape::Conc),
    (Subject::Json, Shape::Conc),
    (Subject::Bincode, Shape::Conc),
    (Subject::FloorMt, Shape::Conc),
    (Subject::Floor, Shape::Events),
    (Subject::Json, Shape::Events),
    (Subject::Bincode, Shape::Events),
    (Subject::FloorMt, Shape::Events),
];

fn name((subject, shape): Workload) -> String {
    let subject = match subject {
        Subject::Floor => "floor",
        Subject::Json => "tributary_json",
        Subject::Bincode => "tributary_bincode",
        Subject::FloorMt => "floor_mt",
    };
    let shape = match shape {
        Shape::Seq => "seq",
        Shape::Conc => "conc64",
        Shape::Events => "events",
    };
    format!("{subject}_{shape}")
}

/// The systems under test.
struct Systems<'a> {
    floor: Floor,
    json: Remote,
    bincode: Remote,
    floor_mt: &'a FloorThread,
    /// The broker's process id, for its CPU time.
    broker_pid: u32,
    /// The id of the next run, which tags its messages.
    next_run: u64,
}

impl Systems<'_> {
    async fn run(&mut self, (subject, shape): Workload, n: u64) -> Sample {
        self.next_run += 1;
        CALLS_TOTAL.fetch_add(n, Ordering::Relaxed);
        let run = self.next_run;
        let cpu = || (cpu_ns(std::process::id()), cpu_ns(self.broker_pid));
        let before = cpu();
        let mut sample = match subject {
            Subject::Floor => self.floor.run(shape, n, run).await,
            Subject::Json => self.json.run(shape, n, run).await,
            Subject::Bincode => self.bincode.run(shape, n, run).await,
            Subject::FloorMt => self.floor_mt.run(shape, n, run).await,
        };
        let after = cpu();
        sample.cpu = (after.0 - before.0, after.1 - before.1);
        sample
    }

    /// Warms `workload` up for `warm_up`, growing the run until one takes an eighth of it;
    /// returns the size of a run that takes about `target`.
    async fn calibrate(&mut self, workload: Workload, warm_up: Duration, target: Duration) -> u64 {
        let mut n = 64;
        let start = Instant::now();
        loop {
            let sample = self.run(workload, n).await;
            if start.elapsed() >= warm_up {
                let size = (sample.rate() * target.as_secs_f64()) as u64;
                return size.max(2 * IN_FLIGHT);
            }
            if sample.elapsed < warm_up / 8 {
                n *= 2;
            }
        }
    }
}

/// How the program was asked to run.
struct Options {
    quick: bool,
    /// `--only a,b`: just these workloads, printed as `name_per_s` lines (for profiling).
    only: Option<Vec<Workload>>,
    rounds: usize,
    warm_up: Duration,
    target: Duration,
}

impl Options {
    fn from_env() -> Options {
        let args: Vec<String> = std::env::args().collect();
        let quick = args.iter().any(|a| a == "--quick")
            || std::env::var("BENCH_QUICK").is_ok_and(|v| v == "1");
        let only = args
            .iter()
            .position(|a| a == "--only")
            .and_then(|i| args.get(i + 1))
            .map(|names| {
                names
                    .split(',')
                    .map(|wanted| {
                        *ROUND
                            .iter()
                            .find(|&&w| name(w) == wanted)
                            .unwrap_or_else(|| panic!("no workload {wanted:?}"))
                    })
                    .collect()
            });
        // 12 workloads × (warm-up + rounds × target) ≈ 50 s in all for the full run.
        let (rounds, warm_up, target) = if quick {
            (1, Duration::from_millis(100), Duration::from_millis(150))
        } else {
            (5, Duration::from_millis(400), Duration::from_millis(700))
        };
        Options {
            quick,
            only,
            rounds,
            warm_up,
            target,
        }
    }

    fn workloads(&self) -> Vec<Workload> {
        self.only.clone().unwrap_or_else(|| ROUND.to_vec())
    }
}

static CALLS_TOTAL: AtomicU64 = AtomicU64::new(0);

fn main() {
    let options = Options::from_env();
    let started = Instant::now();
    let broker = MosquittoConfig::default()
        .persistence(false)
        .start()
        .expect("mosquitto starts (is it installed?)");
    let (host, port) = (broker.host(), broker.port());
    let tag = format!(
        "{}-{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos())
    );
    let floor_mt = FloorThread::start(host, port, format!("{tag}-mt"));

    let broker_pid = broker.pid().expect("mosquitto runs");
    let workloads = options.workloads();
    let system = actix::System::new();
    let (rounds, warm_up, target) = (options.rounds, options.warm_up, options.target);
    let (results, problems) = system.block_on(async {
        let mut systems = Systems {
            floor: Floor::connect(host, port, &tag).await,
            json: Remote::start(host, port, Codec::Json).await,
            bincode: Remote::start(host, port, Codec::Bincode).await,
            floor_mt: &floor_mt,
            broker_pid,
            next_run: 0,
        };
        let mut sizes = Vec::new();
        for &workload in &workloads {
            sizes.push(systems.calibrate(workload, warm_up, target).await);
        }
        let mut results = Results::default();
        for _ in 0..rounds {
            let mut round = Vec::new();
            for (&workload, &n) in workloads.iter().zip(&sizes) {
                round.push((workload, systems.run(workload, n).await));
            }
            results.rounds.push(round);
        }
        let problems = systems.json.problems() + systems.bincode.problems();
        drop(systems.floor);
        futures_util::future::join(systems.json.shutdown(), systems.bincode.shutdown()).await;
        (results, problems)
    });
    floor_mt.stop();
    drop(broker);
    match &options.only {
        Some(only) => {
            for &workload in only {
                let rate = results.stat(workload, Sample::rate).median;
                let cpu = results.stat(workload, |s| s.cpu_per_call().0).median;
                let broker_cpu = results.stat(workload, |s| s.cpu_per_call().1).median;
                println!("{}_per_s: {rate:.0}", name(workload));
                if workload.1 == Shape::Seq {
                    let p50 = results.stat(workload, p50).median;
                    println!("{}_p50_us: {p50:.1}", name(workload));
                }
                println!("{}_cpu_us_per_call: {cpu:.1}", name(workload));
                println!("{}_broker_cpu_us_per_call: {broker_cpu:.1}", name(workload));
            }
        }
        None => report(&results, &options, problems, started.elapsed()),
    }
    if options.only.is_some() {
        println!("calls_total: {}", CALLS_TOTAL.load(Ordering::Relaxed));
    }
}

// ---------------------------------------------------------------------------------------------
// The report.

/// The samples of every round.
#[derive(Default)]
struct Results {
    rounds: Vec<Vec<(Workload, Sample)>>,
}

impl Results {
    fn sample(round: &[(Workload, Sample)], workload: Workload) -> &Sample {
        round
            .iter()
            .find(|(w, _)| *w == workload)
            .map(|(_, s)| s)
            .expect("every round runs every workload")
    }

    /// `f` of `workload`'s sample over the rounds.
    fn stat(&self, workload: Workload, f: impl Fn(&Sample) -> f64) -> Stat {
        Stat::of(
            self.rounds
                .iter()
                .map(|round| f(Self::sample(round, workload)))
                .collect(),
        )
    }

    /// `ours / floor` of `f`, per round.
    fn ratio(&self, ours: Workload, floor: Workload, f: impl Fn(&Sample) -> f64) -> Stat {
        Stat::of(
            self.rounds
                .iter()
                .map(|round| f(Self::sample(round, ours)) / f(Self::sample(round, floor)))
                .collect(),
        )
    }
}

/// A figure over the rounds.
#[derive(Clone, Copy)]
struct Stat {
    median: f64,
    min: f64,
    max: f64,
}

impl Stat {
    fn of(mut values: Vec<f64>) -> Stat {
        values.sort_by(f64::total_cmp);
        let n = values.len();
        let median = if n % 2 == 1 {
            values[n / 2]
        } else {
            (values[n / 2 - 1] + values[n / 2]) / 2.0
        };
        Stat {
            median,
            min: values[0],
            max: values[n - 1],
        }
    }
}

fn p50(sample: &Sample) -> f64 {
    sample.latency.map_or(f64::NAN, |(p50, _)| p50)
}

fn p99(sample: &Sample) -> f64 {
    sample.latency.map_or(f64::NAN, |(_, p99)| p99)
}

/// `1234567.8` as `1,234,568`.
fn thousands(value: f64) -> String {
    let digits = format!("{:.0}", value.max(0.0));
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

fn report(results: &Results, options: &Options, problems: u64, took: Duration) {
    use Shape::*;
    use Subject::*;
    let mut figures: Vec<(String, String)> = Vec::new();
    let json_payload = serde_json::to_vec(&blob(1, 1_000)).map_or(0, |v| v.len());

    println!(
        "Tributary over MQTT against raw rumqttc, one mosquitto ({} run: {} round{} of ~{} ms \
         per workload, {:.1} s in all)",
        if options.quick { "quick" } else { "full" },
        options.rounds,
        if options.rounds == 1 { "" } else { "s" },
        options.target.as_millis(),
        took.as_secs_f64()
    );
    println!(
        "QoS 1 both ways; floor payload {PAYLOAD_BYTES} B raw, ours {json_payload} B of JSON \
         payload inside the envelope. Medians over the rounds; [min-max] over the rounds."
    );
    println!();

    let subjects = [
        (Floor, "floor: rumqttc <-> mosquitto, actix thread"),
        (Json, "tributary, JSON codec"),
        (Bincode, "tributary, bincode codec"),
        (FloorMt, "floor on a 2-worker tokio runtime (info)"),
    ];
    println!(
        "{:<46} {:>8} {:>8} {:>10} {:>12}  [min-max 64 in flight]",
        "Request/response", "p50 µs", "p99 µs", "seq /s", "64 in flight/s"
    );
    for (subject, label) in subjects {
        let seq = (subject, Seq);
        let conc = (subject, Conc);
        let (p50, p99) = (results.stat(seq, p50), results.stat(seq, p99));
        let (seq_rate, conc_rate) = (
            results.stat(seq, Sample::rate),
            results.stat(conc, Sample::rate),
        );
        println!(
            "  {label:<44} {:>8.0} {:>8.0} {:>10} {:>12}  [{}-{}]",
            p50.median,
            p99.median,
            thousands(seq_rate.median),
            thousands(conc_rate.median),
            thousands(conc_rate.min),
            thousands(conc_rate.max)
        );
        figures.push((
            format!("{}_p50_us", name(seq)),
            format!("{:.1}", p50.median),
        ));
        figures.push((
            format!("{}_p99_us", name(seq)),
            format!("{:.1}", p99.median),
        ));
        figures.push((
            format!("{}_calls_per_s", name(seq)),
            format!("{:.0}", seq_rate.median),
        ));
        figures.push((
            format!("{}_calls_per_s", name(conc)),
            format!("{:.0}", conc_rate.median),
        ));
    }
    println!();
    println!(
        "{:<46} {:>12}  [min-max]",
        "One-way QoS 1 (floor) / events (ours)", "msgs/s"
    );
    for (subject, label) in subjects {
        let events = (subject, Events);
        let rate = results.stat(events, Sample::rate);
        println!(
            "  {label:<44} {:>12}  [{}-{}]",
            thousands(rate.median),
            thousands(rate.min),
            thousands(rate.max)
        );
        figures.push((
            format!("{}_per_s", name(events)),
            format!("{:.0}", rate.median),
        ));
    }
    println!();
    println!(
        "{:<46} {:>14} {:>14} {:>14}",
        "CPU µs per call or message: bench / broker", "1 in flight", "64 in flight", "one-way"
    );
    for (subject, label) in subjects {
        let cells = [Seq, Conc, Events].map(|shape| {
            let bench = results
                .stat((subject, shape), |s| s.cpu_per_call().0)
                .median;
            let broker = results
                .stat((subject, shape), |s| s.cpu_per_call().1)
                .median;
            figures.push((
                format!("{}_cpu_us", name((subject, shape))),
                format!("{bench:.1} bench, {broker:.1} broker"),
            ));
            format!("{bench:.0} / {broker:.0}")
        });
        println!(
            "  {label:<44} {:>14} {:>14} {:>14}",
            cells[0], cells[1], cells[2]
        );
    }
    println!();

    let rate = Sample::rate;
    let mut ratios = Vec::new();
    for (codec, suffix) in [(Json, ""), (Bincode, "_bincode")] {
        ratios.extend([
            (
                format!("remote_invoke_throughput_ratio_vs_rumqttc{suffix}"),
                format!("{codec:?}: ours / floor calls/s, 64 in flight"),
                results.ratio((codec, Conc), (Floor, Conc), rate),
                Some((true, 0.7)),
            ),
            (
                format!("remote_invoke_p50_ratio_vs_rumqttc{suffix}"),
                format!("{codec:?}: ours / floor p50, 1 in flight"),
                results.ratio((codec, Seq), (Floor, Seq), p50),
                Some((false, 1.5)),
            ),
            (
                format!("remote_event_throughput_ratio_vs_rumqttc{suffix}"),
                format!("{codec:?}: ours events/s / floor one-way msgs/s"),
                results.ratio((codec, Events), (Floor, Events), rate),
                Some((true, 0.7)),
            ),
            (
                format!("remote_invoke_seq_throughput_ratio_vs_rumqttc{suffix}"),
                format!("{codec:?}: ours / floor calls/s, 1 in flight"),
                results.ratio((codec, Seq), (Floor, Seq), rate),
                None,
            ),
        ]);
    }
    ratios.push((
        "floor_mt_vs_actix_thread_conc64_ratio".to_owned(),
        "floor: 2-worker runtime / actix thread, 64 in flight".to_owned(),
        results.ratio((FloorMt, Conc), (Floor, Conc), rate),
        None,
    ));
    println!(
        "{:<54} {:>6}  {:>13}  {:<8} goal",
        "Ratios (median of the per-round ratios)", "value", "[min-max]", ""
    );
    for (name, label, stat, goal) in ratios {
        let verdict = goal.map(|(at_least, bound)| {
            let pass = if at_least {
                stat.median >= bound
            } else {
                stat.median <= bound
            };
            (
                format!("{} {bound:.1}", if at_least { ">=" } else { "<=" }),
                if pass { "PASS" } else { "MISS" },
            )
        });
        println!(
            "  {label:<52} {:>6.3}  [{:.3}-{:.3}]  {}",
            stat.median,
            stat.min,
            stat.max,
            verdict
                .as_ref()
                .map(|(bound, pass)| format!("{bound:<8} {pass}"))
                .unwrap_or_default()
        );
        let value = format!("{:.3}", stat.median);
        figures.push((
            name,
            match verdict {
                Some((bound, pass)) => format!("{value}  # goal {bound}: {pass}"),
                None => value,
            },
        ));
    }
    println!();
    figures.push(("bridge_problems".to_owned(), problems.to_string()));
    figures.push(("bench_rounds".to_owned(), options.rounds.to_string()));
    figures.push(("allocator".to_owned(), ALLOCATOR_NAME.to_owned()));
    for (name, value) in figures {
        println!("{name}: {value}");
    }
}
