//! The local broker against its floor: `cargo bench -p tributary --bench local`.
//!
//! One actix `System`, one run, each figure of ours next to the raw actix figure it builds on:
//!
//! 1. commands: `Addr::send(..).await` to a handler that returns its input + 1, against
//!    `client.invoke::<Inc>(..).await` of a command whose handler does the same; one call in
//!    flight (p50, p99, calls/s) and 256 in flight (calls/s). The floor's actor has actix's
//!    default mailbox (16); for information, 256 in flight is measured again with an actor whose
//!    mailbox is as big as a service instance's (`DEFAULT_MAILBOX_CAPACITY`, decision 0003);
//! 2. events: `client.emit` to 1 and to 10 subscribing services, against `do_send` to 1 and
//!    to 10 actors;
//! 3. routing: the same invoke on a node with 10,000 commands in its table;
//! 4. for information, invoke and send with the service on another arbiter (thread).
//!
//! Every workload is warmed up and sized to run about the same time; then the workloads run
//! in rounds, ours right after its floor, so that noise on this 2-core machine hits both
//! alike. Figures are medians over the rounds, ratios medians of the per-round ratios.
//!
//! `--quick` (or `BENCH_QUICK=1`) runs one short round, as a smoke test of the program;
//! `--only local_invoke_conc256,actix_conc256` runs just those workloads (names as in the
//! figures), to profile one of them.
//! The program always exits 0: it measures, it does not judge; it prints PASS or MISS against
//! the goals.
//!
//! The program runs on mimalloc, floor and ours alike (decision 0005, docs/performance.md);
//! `RUSTFLAGS="--cfg tributary_system_allocator"` runs it on the system allocator instead.

use std::future::{Future, IntoFuture};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use actix::prelude::*;
use futures_util::stream::{FuturesUnordered, StreamExt};
use futures_util::FutureExt;
use serde_json::Value;
use tokio::sync::mpsc;
use tributary::{
    Client, CommandContract, CommandError, CommandKey, CommandResult, Delivery, Empty,
    EventContract, Invocation, JsonInvocation, Node, Registrar, Service, ServiceSpec,
};

/// The whole program's allocator, ours and the floor's alike: mimalloc, which docs/performance.md
/// advises for a node (decision 0005); `RUSTFLAGS="--cfg tributary_system_allocator"` measures
/// the system's.
#[cfg(not(tributary_system_allocator))]
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// The allocator's name, for the figures.
const ALLOCATOR_NAME: &str = if cfg!(tributary_system_allocator) {
    "system"
} else {
    "mimalloc"
};

/// Requests kept outstanding in the concurrent shape.
const IN_FLIGHT: u64 = 256;
/// Commands the filler service adds to the routing node, next to `Inc`: 10,000 in all.
const FILLER_COMMANDS: usize = 9_999;
/// Deliveries emitted between two checks of the subscribers' progress (rounded to whole
/// events).
const EMIT_BATCH: u64 = 256;
/// Deliveries that may wait in the subscribers' mailboxes before the emitter lets them catch
/// up: counted in deliveries, not events, so that 1 and 10 subscribers hold the same amount of
/// memory in flight.
const EMIT_WINDOW: u64 = 1024;

// ---------------------------------------------------------------------------------------------
// What is measured: a trivial command and a trivial event, in Tributary and in raw actix.

/// `bench/1/inc`: returns its payload + 1.
struct Inc;
impl CommandContract for Inc {
    const SERVICE: &'static str = "bench";
    const VERSION: &'static str = "1";
    const COMMAND: &'static str = "inc";
    type Payload = u64;
    type Parameter = Empty;
    type Output = u64;
}

/// The event of the fan-out.
struct Tick;
impl EventContract for Tick {
    const EVENT: &'static str = "tick";
    type Payload = u64;
}

/// The service that handles `Inc`.
struct Echo;
impl Actor for Echo {
    type Context = Context<Self>;
}
impl Service for Echo {
    const NAME: &'static str = "bench";
    const VERSION: &'static str = "1";
    fn register(service: &mut Registrar<Self>) {
        service.command::<Inc>();
    }
}
impl Handler<Invocation<Inc>> for Echo {
    type Result = CommandResult<Inc>;
    fn handle(&mut self, call: Invocation<Inc>, _: &mut Context<Self>) -> Self::Result {
        Ok(call.payload + 1)
    }
}

/// A service that registers `FILLER_COMMANDS` commands nobody calls, to fill the table.
struct Filler;
impl Actor for Filler {
    type Context = Context<Self>;
}
impl Service for Filler {
    const NAME: &'static str = "filler";
    const VERSION: &'static str = "1";
    fn register(service: &mut Registrar<Self>) {
        for i in 0..FILLER_COMMANDS {
            service.command_json(CommandKey::new("filler", "1", format!("cmd{i}")));
        }
    }
}
impl Handler<JsonInvocation> for Filler {
    type Result = Result<Value, CommandError>;
    fn handle(&mut self, call: JsonInvocation, _: &mut Context<Self>) -> Self::Result {
        Ok(call.payload)
    }
}

/// Counts deliveries, and says on a channel when the expected number has arrived.
struct Tally {
    count: AtomicU64,
    target: AtomicU64,
    done: mpsc::UnboundedSender<()>,
}

impl Tally {
    fn hit(&self) {
        if self.count.fetch_add(1, Ordering::Relaxed) + 1 == self.target.load(Ordering::Relaxed) {
            let _ = self.done.send(());
        }
    }
}

const SUB_NAMES: [&str; 10] = [
    "sub0", "sub1", "sub2", "sub3", "sub4", "sub5", "sub6", "sub7", "sub8", "sub9",
];

/// Subscribing service number `N`: ten distinct types, ten distinct services.
struct Sub<const N: usize> {
    tally: Arc<Tally>,
}
impl<const N: usize> Actor for Sub<N> {
    type Context = Context<Self>;
}
impl<const N: usize> Service for Sub<N> {
    const NAME: &'static str = SUB_NAMES[N];
    const VERSION: &'static str = "1";
    fn register(service: &mut Registrar<Self>) {
        service.subscribe::<Tick>();
    }
}
impl<const N: usize> Handler<Delivery<Tick>> for Sub<N> {
    type Result = ();
    fn handle(&mut self, _: Delivery<Tick>, _: &mut Context<Self>) {
        self.tally.hit();
    }
}

/// The raw actix floor of `Inc`.
#[derive(Message)]
#[rtype(result = "u64")]
struct RawInc(u64);

struct RawEcho {
    mailbox: usize,
}
impl RawEcho {
    /// With actix's default mailbox (16).
    fn actix_default() -> Self {
        RawEcho { mailbox: 16 }
    }
    /// With the mailbox a service instance gets by default.
    fn like_a_service() -> Self {
        RawEcho {
            mailbox: tributary::DEFAULT_MAILBOX_CAPACITY,
        }
    }
}
impl Actor for RawEcho {
    type Context = Context<Self>;
    fn started(&mut self, ctx: &mut Context<Self>) {
        ctx.set_mailbox_capacity(self.mailbox);
    }
}
impl Handler<RawInc> for RawEcho {
    type Result = u64;
    fn handle(&mut self, msg: RawInc, _: &mut Context<Self>) -> u64 {
        msg.0 + 1
    }
}

/// The raw actix floor of `Tick`.
#[derive(Message, Clone, Copy)]
#[rtype(result = "()")]
struct RawTick(#[allow(dead_code)] u64); // carried like `Tick`'s payload, never read

/// Raw subscriber number `N`.
struct RawSub<const N: usize> {
    tally: Arc<Tally>,
}
impl<const N: usize> Actor for RawSub<N> {
    type Context = Context<Self>;
}
impl<const N: usize> Handler<RawTick> for RawSub<N> {
    type Result = ();
    fn handle(&mut self, _: RawTick, _: &mut Context<Self>) {
        self.tally.hit();
    }
}

// ---------------------------------------------------------------------------------------------
// The workloads.

/// Everything measured, in the order of a round: each of ours right after its floor.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Workload {
    ActixSeq,
    InvokeSeq,
    ActixConc,
    ActixWideConc,
    InvokeConc,
    Invoke10kSeq,
    Invoke10kConc,
    ActixFanOut1,
    EmitFanOut1,
    ActixFanOut10,
    EmitFanOut10,
    ActixCrossSeq,
    InvokeCrossSeq,
    ActixCrossConc,
    InvokeCrossConc,
}

const ROUND: [Workload; 15] = [
    Workload::ActixSeq,
    Workload::InvokeSeq,
    Workload::Invoke10kSeq,
    Workload::ActixConc,
    Workload::ActixWideConc,
    Workload::InvokeConc,
    Workload::Invoke10kConc,
    Workload::ActixFanOut1,
    Workload::EmitFanOut1,
    Workload::ActixFanOut10,
    Workload::EmitFanOut10,
    Workload::ActixCrossSeq,
    Workload::InvokeCrossSeq,
    Workload::ActixCrossConc,
    Workload::InvokeCrossConc,
];

impl Workload {
    /// The figure names' stem, also what `--only` takes.
    fn name(self) -> &'static str {
        match self {
            Workload::ActixSeq => "actix_seq",
            Workload::InvokeSeq => "local_invoke_seq",
            Workload::Invoke10kSeq => "routing_10k_seq",
            Workload::ActixConc => "actix_conc256",
            Workload::ActixWideConc => "actix_service_mailbox_conc256",
            Workload::InvokeConc => "local_invoke_conc256",
            Workload::Invoke10kConc => "routing_10k_conc256",
            Workload::ActixFanOut1 => "actix_do_send_1sub",
            Workload::EmitFanOut1 => "emit_1sub",
            Workload::ActixFanOut10 => "actix_do_send_10sub",
            Workload::EmitFanOut10 => "emit_10sub",
            Workload::ActixCrossSeq => "actix_cross_seq",
            Workload::InvokeCrossSeq => "local_invoke_cross_seq",
            Workload::ActixCrossConc => "actix_cross_conc256",
            Workload::InvokeCrossConc => "local_invoke_cross_conc256",
        }
    }

    /// The table's row label.
    fn label(self) -> &'static str {
        match self {
            Workload::ActixSeq | Workload::ActixCrossSeq => "actix addr.send().await, 1 in flight",
            Workload::ActixConc | Workload::ActixCrossConc => {
                "actix addr.send().await, 256 in flight"
            }
            Workload::ActixWideConc => "actix, mailbox as big as a service's, 256 in flight",
            Workload::InvokeSeq | Workload::InvokeCrossSeq => "tributary invoke, 1 in flight",
            Workload::InvokeConc | Workload::InvokeCrossConc => "tributary invoke, 256 in flight",
            Workload::Invoke10kSeq => "tributary invoke, 10,000 commands routed, 1 in flight",
            Workload::Invoke10kConc => "tributary invoke, 10,000 commands routed, 256 in flight",
            Workload::ActixFanOut1 => "actix do_send to 1 actor",
            Workload::EmitFanOut1 => "tributary emit to 1 subscribing service",
            Workload::ActixFanOut10 => "actix do_send to 10 actors",
            Workload::EmitFanOut10 => "tributary emit to 10 subscribing services",
        }
    }

    fn is_fan_out(self) -> bool {
        matches!(
            self,
            Workload::ActixFanOut1
                | Workload::ActixFanOut10
                | Workload::EmitFanOut1
                | Workload::EmitFanOut10
        )
    }

    /// Deliveries per event, for the fan-outs.
    fn subscribers(self) -> u64 {
        match self {
            Workload::ActixFanOut10 | Workload::EmitFanOut10 => 10,
            _ => 1,
        }
    }
}

/// What one run of a workload measured.
struct Sample {
    /// Calls (or events) done.
    n: u64,
    elapsed: Duration,
    /// p50 and p99 of one call, in ns, for the sequential shape.
    latency: Option<(f64, f64)>,
}

impl Sample {
    fn rate(&self) -> f64 {
        self.n as f64 / self.elapsed.as_secs_f64()
    }
}

/// One call in flight at a time; each call timed on its own.
async fn sequential<F: Future<Output = u64>>(n: u64, mut call: impl FnMut(u64) -> F) -> Sample {
    let mut latencies: Vec<u32> = Vec::with_capacity(n as usize);
    let mut sum = 0u64;
    let start = Instant::now();
    let mut previous = start;
    for i in 0..n {
        sum = sum.wrapping_add(call(i).await);
        let now = Instant::now();
        latencies.push(u32::try_from((now - previous).as_nanos()).unwrap_or(u32::MAX));
        previous = now;
    }
    let elapsed = previous - start;
    check_sum(n, sum);
    Sample {
        n,
        elapsed,
        latency: Some((
            percentile(&mut latencies, 0.50),
            percentile(&mut latencies, 0.99),
        )),
    }
}

/// `IN_FLIGHT` calls outstanding: each answer makes room for the next call.
async fn concurrent<F: Future<Output = u64>>(n: u64, mut call: impl FnMut(u64) -> F) -> Sample {
    let mut pending = FuturesUnordered::new();
    let mut sum = 0u64;
    let start = Instant::now();
    let mut issued = 0;
    while issued < n.min(IN_FLIGHT) {
        pending.push(call(issued));
        issued += 1;
    }
    while let Some(output) = pending.next().await {
        sum = sum.wrapping_add(output);
        if issued < n {
            pending.push(call(issued));
            issued += 1;
        }
    }
    let elapsed = start.elapsed();
    check_sum(n, sum);
    Sample {
        n,
        elapsed,
        latency: None,
    }
}

/// Emits `n` events to `subscribers` subscribers, keeping at most `EMIT_WINDOW` deliveries in
/// their mailboxes, and waits until all `n × subscribers` deliveries have been handled.
async fn fan_out(
    n: u64,
    subscribers: u64,
    tally: &Tally,
    done: &mut mpsc::UnboundedReceiver<()>,
    mut emit: impl FnMut(u64) -> usize,
) -> Sample {
    tally.count.store(0, Ordering::Relaxed);
    tally.target.store(n * subscribers, Ordering::Relaxed);
    let mut short = 0u64;
    let start = Instant::now();
    let mut sent = 0;
    while sent < n {
        let batch = (EMIT_BATCH / subscribers).max(1).min(n - sent);
        for i in sent..sent + batch {
            if emit(i) as u64 != subscribers {
                short += 1;
            }
        }
        sent += batch;
        while sent * subscribers - tally.count.load(Ordering::Relaxed) > EMIT_WINDOW {
            tokio::task::yield_now().await;
        }
    }
    done.recv().await.expect("the tally outlives the run");
    let elapsed = start.elapsed();
    assert_eq!(
        short, 0,
        "{short} events reached fewer than {subscribers} subscribers"
    );
    Sample {
        n,
        elapsed,
        latency: None,
    }
}

/// Every call returned its input + 1.
fn check_sum(n: u64, sum: u64) {
    assert_eq!(sum, n * (n + 1) / 2, "a call returned a wrong answer");
}

fn percentile(values: &mut [u32], p: f64) -> f64 {
    let index = ((values.len() as f64 * p) as usize).min(values.len() - 1);
    *values.select_nth_unstable(index).1 as f64
}

/// The systems under test.
struct Bench {
    raw: Addr<RawEcho>,
    /// The same, with a service's default mailbox.
    raw_wide: Addr<RawEcho>,
    raw_cross: Addr<RawEcho>,
    raw_subs_1: Vec<Recipient<RawTick>>,
    raw_subs_10: Vec<Recipient<RawTick>>,
    /// `Inc` alone in its table; its callers and its service on this arbiter.
    one: Client,
    /// `Inc` and the filler's 9,999 commands.
    ten_k: Client,
    /// `Inc` on another arbiter.
    cross: Client,
    /// One subscriber of `Tick`, and ten.
    subs_1: Client,
    subs_10: Client,
    tally: Arc<Tally>,
    done: mpsc::UnboundedReceiver<()>,
}

impl Bench {
    async fn run(&mut self, workload: Workload, n: u64) -> Sample {
        let raw_ok = |answer: Result<u64, MailboxError>| answer.expect("the actor answers");
        let ok = |answer: Result<u64, CommandError>| answer.expect("the command succeeds");
        let invoke = |client: &Client, i| client.invoke::<Inc>(i, Empty {}).into_future().map(ok);
        match workload {
            Workload::ActixSeq => sequential(n, |i| self.raw.send(RawInc(i)).map(raw_ok)).await,
            Workload::ActixConc => concurrent(n, |i| self.raw.send(RawInc(i)).map(raw_ok)).await,
            Workload::ActixWideConc => {
                concurrent(n, |i| self.raw_wide.send(RawInc(i)).map(raw_ok)).await
            }
            Workload::InvokeSeq => sequential(n, |i| invoke(&self.one, i)).await,
            Workload::InvokeConc => concurrent(n, |i| invoke(&self.one, i)).await,
            Workload::Invoke10kSeq => sequential(n, |i| invoke(&self.ten_k, i)).await,
            Workload::Invoke10kConc => concurrent(n, |i| invoke(&self.ten_k, i)).await,
            Workload::ActixCrossSeq => {
                sequential(n, |i| self.raw_cross.send(RawInc(i)).map(raw_ok)).await
            }
            Workload::ActixCrossConc => {
                concurrent(n, |i| self.raw_cross.send(RawInc(i)).map(raw_ok)).await
            }
            Workload::InvokeCrossSeq => sequential(n, |i| invoke(&self.cross, i)).await,
            Workload::InvokeCrossConc => concurrent(n, |i| invoke(&self.cross, i)).await,
            Workload::ActixFanOut1 | Workload::ActixFanOut10 => {
                let subs = if workload == Workload::ActixFanOut1 {
                    &self.raw_subs_1
                } else {
                    &self.raw_subs_10
                };
                fan_out(n, subs.len() as u64, &self.tally, &mut self.done, |i| {
                    for sub in subs {
                        sub.do_send(RawTick(i));
                    }
                    subs.len()
                })
                .await
            }
            Workload::EmitFanOut1 => {
                let client = &self.subs_1;
                fan_out(n, 1, &self.tally, &mut self.done, |i| {
                    client.emit::<Tick>(i)
                })
                .await
            }
            Workload::EmitFanOut10 => {
                let client = &self.subs_10;
                fan_out(n, 10, &self.tally, &mut self.done, |i| {
                    client.emit::<Tick>(i)
                })
                .await
            }
        }
    }

    /// Warms `workload` up for `warm_up`, growing the run until one takes an eighth of it;
    /// returns the size of a run that takes about `target`.
    async fn calibrate(&mut self, workload: Workload, warm_up: Duration, target: Duration) -> u64 {
        let mut n = 1024;
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
    /// `--only a,b`: just these workloads, each printed as one `name_calls_per_s` (or
    /// `_events_per_s`) line, for profiling.
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
                    .map(|name| {
                        *ROUND
                            .iter()
                            .find(|w| w.name() == name)
                            .unwrap_or_else(|| panic!("no workload {name:?}"))
                    })
                    .collect()
            });
        // Many short rounds rather than a few long ones: a burst of load from elsewhere then
        // spoils one round's pair, and the median over the rounds discards it.
        let (rounds, warm_up, target) = if quick {
            (1, Duration::from_millis(50), Duration::from_millis(120))
        } else {
            (7, Duration::from_millis(250), Duration::from_millis(400))
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
        match &self.only {
            Some(only) => only.clone(),
            None => ROUND.to_vec(),
        }
    }
}

fn main() {
    let options = Options::from_env();
    let started = Instant::now();
    let system = actix::System::new();
    let workloads = options.workloads();
    let (rounds, warm_up, target) = (options.rounds, options.warm_up, options.target);
    let (results, commands_10k, arbiter) = system.block_on(async move {
        let arbiter = Arbiter::new();
        let (done_tx, done) = mpsc::unbounded_channel();
        let tally = Arc::new(Tally {
            count: AtomicU64::new(0),
            target: AtomicU64::new(u64::MAX),
            done: done_tx,
        });

        let one = Node::builder()
            .service(|| Echo)
            .start()
            .expect("node starts");
        let ten_k = Node::builder()
            .service(|| Echo)
            .service(|| Filler)
            .start()
            .expect("node starts");
        let commands_10k = ten_k.stats().commands;
        let cross = Node::builder()
            .service_spec(ServiceSpec::new(|| Echo).arbiter(arbiter.handle()))
            .start()
            .expect("node starts");
        let subs_1 = subscriber_node(&tally, 1);
        let subs_10 = subscriber_node(&tally, 10);

        let mut bench = Bench {
            raw: RawEcho::actix_default().start(),
            raw_wide: RawEcho::like_a_service().start(),
            raw_cross: RawEcho::start_in_arbiter(&arbiter.handle(), |_| RawEcho::actix_default()),
            raw_subs_1: raw_subscribers(&tally, 1),
            raw_subs_10: raw_subscribers(&tally, 10),
            one: one.client(),
            ten_k: ten_k.client(),
            cross: cross.client(),
            subs_1: subs_1.client(),
            subs_10: subs_10.client(),
            tally,
            done,
        };

        let mut sizes = Vec::new();
        for &workload in &workloads {
            if !sizes.iter().any(|(w, _)| *w == workload) {
                let n = bench.calibrate(workload, warm_up, target).await;
                sizes.push((workload, n));
            }
        }
        let mut results = Results::default();
        for _ in 0..rounds {
            let mut round = Vec::new();
            for &workload in &workloads {
                let n = sizes
                    .iter()
                    .find(|(w, _)| *w == workload)
                    .map(|(_, n)| *n)
                    .expect("every workload is sized");
                round.push((workload, bench.run(workload, n).await));
            }
            results.rounds.push(round);
        }
        for node in [one, ten_k, cross, subs_1, subs_10] {
            node.shutdown().await;
        }
        (results, commands_10k, arbiter)
    });
    arbiter.stop();
    let _ = arbiter.join();
    match options.only {
        Some(only) => {
            for workload in only {
                let rate = results.rate(workload);
                let unit = if workload.is_fan_out() {
                    "events"
                } else {
                    "calls"
                };
                println!("{}_{unit}_per_s: {:.0}", workload.name(), rate.median);
            }
        }
        None => report(&results, &options, commands_10k, started.elapsed()),
    }
}

fn subscriber_node(tally: &Arc<Tally>, subscribers: usize) -> Node {
    fn add<const N: usize>(
        builder: tributary::NodeBuilder,
        tally: &Arc<Tally>,
    ) -> tributary::NodeBuilder {
        let tally = tally.clone();
        builder.service(move || Sub::<N> {
            tally: tally.clone(),
        })
    }
    let mut builder = add::<0>(Node::builder(), tally);
    if subscribers == 10 {
        builder = add::<1>(builder, tally);
        builder = add::<2>(builder, tally);
        builder = add::<3>(builder, tally);
        builder = add::<4>(builder, tally);
        builder = add::<5>(builder, tally);
        builder = add::<6>(builder, tally);
        builder = add::<7>(builder, tally);
        builder = add::<8>(builder, tally);
        builder = add::<9>(builder, tally);
    }
    builder.start().expect("node starts")
}

fn raw_subscribers(tally: &Arc<Tally>, subscribers: usize) -> Vec<Recipient<RawTick>> {
    fn start<const N: usize>(tally: &Arc<Tally>) -> Recipient<RawTick> {
        RawSub::<N> {
            tally: tally.clone(),
        }
        .start()
        .recipient()
    }
    let mut all = vec![start::<0>(tally)];
    if subscribers == 10 {
        all.extend([
            start::<1>(tally),
            start::<2>(tally),
            start::<3>(tally),
            start::<4>(tally),
            start::<5>(tally),
            start::<6>(tally),
            start::<7>(tally),
            start::<8>(tally),
            start::<9>(tally),
        ]);
    }
    all
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

    /// `f` of `workload`'s sample in each round.
    fn each(&self, workload: Workload, f: impl Fn(&Sample) -> f64) -> Vec<f64> {
        self.rounds
            .iter()
            .map(|round| f(Self::sample(round, workload)))
            .collect()
    }

    fn rate(&self, workload: Workload) -> Stat {
        Stat::of(self.each(workload, Sample::rate))
    }

    /// p50 (`p99 = false`) or p99 of one call, in µs.
    fn latency_us(&self, workload: Workload, p99: bool) -> Stat {
        Stat::of(self.each(workload, |s| {
            let (p50, p99_ns) = s.latency.expect("a sequential workload");
            (if p99 { p99_ns } else { p50 }) / 1000.0
        }))
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

/// Per-call time from a throughput: the reciprocal of the rate.
fn per_call(sample: &Sample) -> f64 {
    1.0 / sample.rate()
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

/// A ratio of ours to the floor, with the goal it is held to, if any.
struct Ratio {
    name: &'static str,
    label: &'static str,
    stat: Stat,
    goal: Option<Goal>,
}

#[derive(Clone, Copy)]
enum Goal {
    AtLeast(f64),
    AtMost(f64),
}

impl Goal {
    fn verdict(self, value: f64) -> &'static str {
        let pass = match self {
            Goal::AtLeast(bound) => value >= bound,
            Goal::AtMost(bound) => value <= bound,
        };
        if pass {
            "PASS"
        } else {
            "MISS"
        }
    }
}

impl std::fmt::Display for Goal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Goal::AtLeast(bound) => write!(f, ">= {bound:.1}"),
            Goal::AtMost(bound) => write!(f, "<= {bound:.1}"),
        }
    }
}

fn report(results: &Results, options: &Options, commands_10k: usize, took: Duration) {
    use Workload::*;
    let mut figures: Vec<(String, String)> = Vec::new();

    println!(
        "Tributary local broker against raw actix ({} run: {} round{} of ~{} ms per workload, \
         {:.1} s in all)",
        if options.quick { "quick" } else { "full" },
        options.rounds,
        if options.rounds == 1 { "" } else { "s" },
        options.target.as_millis(),
        took.as_secs_f64()
    );
    println!("Figures are medians over the rounds; [min-max] over the rounds.");
    println!();

    for (title, rows) in [
        (
            "Commands, caller and service on one arbiter",
            &[
                ActixSeq,
                InvokeSeq,
                Invoke10kSeq,
                ActixConc,
                ActixWideConc,
                InvokeConc,
                Invoke10kConc,
            ][..],
        ),
        (
            "Commands, service on another arbiter (for information)",
            &[
                ActixCrossSeq,
                InvokeCrossSeq,
                ActixCrossConc,
                InvokeCrossConc,
            ][..],
        ),
    ] {
        println!(
            "{title:<58} {:>8} {:>8} {:>12}  [min-max calls/s]",
            "p50 µs", "p99 µs", "calls/s"
        );
        for &workload in rows {
            let name = workload.name();
            let rate = results.rate(workload);
            let (p50, p99) = if matches!(
                workload,
                ActixSeq | InvokeSeq | Invoke10kSeq | ActixCrossSeq | InvokeCrossSeq
            ) {
                let p50 = results.latency_us(workload, false).median;
                let p99 = results.latency_us(workload, true).median;
                figures.push((format!("{name}_p50_us"), format!("{p50:.3}")));
                figures.push((format!("{name}_p99_us"), format!("{p99:.3}")));
                (format!("{p50:.3}"), format!("{p99:.3}"))
            } else {
                (String::new(), String::new())
            };
            figures.push((format!("{name}_calls_per_s"), format!("{:.0}", rate.median)));
            println!(
                "  {:<56} {p50:>8} {p99:>8} {:>12}  [{}-{}]",
                workload.label(),
                thousands(rate.median),
                thousands(rate.min),
                thousands(rate.max)
            );
        }
        println!();
    }

    println!(
        "{:<58} {:>12} {:>14}  [min-max events/s]",
        "Events, emitter and subscribers on one arbiter", "events/s", "deliveries/s"
    );
    for workload in [ActixFanOut1, EmitFanOut1, ActixFanOut10, EmitFanOut10] {
        let name = workload.name();
        let rate = results.rate(workload);
        let deliveries = rate.median * workload.subscribers() as f64;
        figures.push((
            format!("{name}_events_per_s"),
            format!("{:.0}", rate.median),
        ));
        figures.push((
            format!("{name}_deliveries_per_s"),
            format!("{deliveries:.0}"),
        ));
        println!(
            "  {:<56} {:>12} {:>14}  [{}-{}]",
            workload.label(),
            thousands(rate.median),
            thousands(deliveries),
            thousands(rate.min),
            thousands(rate.max)
        );
    }
    println!();

    let rate = Sample::rate;
    let ratios = [
        Ratio {
            name: "local_invoke_throughput_ratio_vs_actix",
            label: "tributary / actix calls/s, 256 in flight",
            stat: results.ratio(InvokeConc, ActixConc, rate),
            goal: Some(Goal::AtLeast(0.5)),
        },
        Ratio {
            name: "local_invoke_p50_ratio_vs_actix",
            label: "tributary / actix p50, 1 in flight",
            stat: results.ratio(InvokeSeq, ActixSeq, p50),
            goal: Some(Goal::AtMost(2.0)),
        },
        Ratio {
            name: "routing_10k_vs_1_ratio",
            label: "10,000 / 1 commands, time per call at 256 in flight",
            stat: results.ratio(Invoke10kConc, InvokeConc, per_call),
            goal: Some(Goal::AtMost(1.2)),
        },
        Ratio {
            name: "local_invoke_throughput_ratio_vs_actix_same_mailbox",
            label: "the same, against actix with a service's mailbox",
            stat: results.ratio(InvokeConc, ActixWideConc, rate),
            goal: None,
        },
        Ratio {
            name: "routing_10k_vs_1_p50_ratio",
            label: "10,000 / 1 commands, p50 at 1 in flight",
            stat: results.ratio(Invoke10kSeq, InvokeSeq, p50),
            goal: None,
        },
        Ratio {
            name: "local_invoke_seq_throughput_ratio_vs_actix",
            label: "tributary / actix calls/s, 1 in flight",
            stat: results.ratio(InvokeSeq, ActixSeq, rate),
            goal: None,
        },
        Ratio {
            name: "emit_1sub_ratio_vs_actix",
            label: "tributary emit / actix do_send events/s, 1 subscriber",
            stat: results.ratio(EmitFanOut1, ActixFanOut1, rate),
            goal: None,
        },
        Ratio {
            name: "emit_10sub_ratio_vs_actix",
            label: "tributary emit / actix do_send events/s, 10 subscribers",
            stat: results.ratio(EmitFanOut10, ActixFanOut10, rate),
            goal: None,
        },
        Ratio {
            name: "local_invoke_cross_throughput_ratio_vs_actix",
            label: "other arbiter: tributary / actix calls/s, 256 in flight",
            stat: results.ratio(InvokeCrossConc, ActixCrossConc, rate),
            goal: None,
        },
        Ratio {
            name: "local_invoke_cross_p50_ratio_vs_actix",
            label: "other arbiter: tributary / actix p50, 1 in flight",
            stat: results.ratio(InvokeCrossSeq, ActixCrossSeq, p50),
            goal: None,
        },
    ];
    println!(
        "{:<58} {:>6}  {:>13}  {:<8} goal",
        "Ratios (median of the per-round ratios)", "value", "[min-max]", ""
    );
    for Ratio {
        name,
        label,
        stat,
        goal,
    } in ratios
    {
        let verdict = goal.map(|goal| (goal.to_string(), goal.verdict(stat.median)));
        println!(
            "  {label:<56} {:>6.3}  [{:.3}-{:.3}]  {}",
            stat.median,
            stat.min,
            stat.max,
            verdict
                .as_ref()
                .map(|(goal, verdict)| format!("{goal:<8} {verdict}"))
                .unwrap_or_default()
        );
        let value = format!("{:.3}", stat.median);
        figures.push((
            name.to_owned(),
            match verdict {
                Some((goal, verdict)) => format!("{value}  # goal {goal}: {verdict}"),
                None => value,
            },
        ));
    }
    println!();
    figures.push(("routing_10k_commands".to_owned(), commands_10k.to_string()));
    figures.push(("bench_rounds".to_owned(), options.rounds.to_string()));
    figures.push(("allocator".to_owned(), ALLOCATOR_NAME.to_owned()));
    for (name, value) in figures {
        println!("{name}: {value}");
    }
}
