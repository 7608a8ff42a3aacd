//! The sensor service: simulated sensors sampled on an actix interval, one `reading` event
//! per sensor and sample. It starts sampling by itself when its instance starts.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use actix::{Actor, ActorFutureExt, AsyncContext, Context, Handler, WrapFuture};
use tributary::{Client, CommandResult, Empty, Id, Invocation, Registrar, Service};

use crate::config::SampleConfig;
use crate::contracts::{Reading, ReadingEvent, Sampling, StartSampling};
use crate::signal::Signal;

/// Service `sensor/1`: simulates [`SampleConfig::sensors`] sensors named `sensor-1`,
/// `sensor-2`, ..., samples each of them every [`SampleConfig::sample_interval`], and emits a
/// [`ReadingEvent`] per sensor and sample.
///
/// Sampling starts when the instance starts, by itself: the instance invokes
/// [`StartSampling`] on itself through the client its factory got (run it with
/// [`ServiceSpec::with_client`](tributary::ServiceSpec::with_client), as
/// [`graph`](crate::graph) does). The first sample is taken at
/// [`SampleConfig::origin_ms`]: at once if that has passed (or is not set), else when the
/// wall clock reaches it.
///
/// One instance simulates every sensor: one timer, and the readings of a sample leave in
/// sensor order. Sample `k` (from 0) is stamped `origin + k * interval` whenever its timer
/// tick actually runs. Sampling stops when the instance stops; an instance restarted after a
/// panic starts over from sample 0.
#[derive(Debug)]
pub struct Sensor {
    /// Speaks as `sensor/1` on the instance's own account: starts the sampling.
    own: Client,
    sensors: Vec<(String, Signal)>,
    interval: Duration,
    interval_ms: u64,
    /// The configured timestamp of the first sample, if any.
    origin_ms: Option<u64>,
    /// Set once sampling has started.
    running: Option<Running>,
}

/// What a sensor needs while it samples.
#[derive(Debug)]
struct Running {
    /// Emits the readings, as `sensor/1/start`.
    client: Client,
    origin_ms: u64,
    /// The next sample's number.
    next: u64,
}

impl Sensor {
    /// The sensor service as `config` describes it; `client` is the one
    /// [`ServiceSpec::with_client`](tributary::ServiceSpec::with_client) hands its factory.
    pub fn new(client: Client, config: &SampleConfig) -> Self {
        let interval_ms = config.interval_ms();
        Sensor {
            own: client,
            sensors: (0..config.sensor_count())
                .map(|i| (format!("sensor-{}", i + 1), Signal::new(config.seed, i)))
                .collect(),
            interval: Duration::from_millis(interval_ms),
            interval_ms,
            origin_ms: config.origin_ms,
            running: None,
        }
    }

    /// Takes one sample of every sensor and emits the readings.
    fn sample(&mut self) {
        let Some(running) = &mut self.running else {
            return;
        };
        let timestamp_ms = running.origin_ms + running.next * self.interval_ms;
        // Each sample starts a trace of its own; the aggregate a reading completes joins it.
        let client = running.client.with_trace_id(Id::random());
        let mut delivered = 0;
        for (sensor, signal) in &mut self.sensors {
            delivered += client.emit::<ReadingEvent>(Reading {
                sensor: sensor.clone(),
                value: signal.next_value(),
                timestamp_ms,
            });
        }
        tracing::trace!(sample = running.next, timestamp_ms, delivered, "sampled");
        running.next += 1;
    }

    /// Takes sample 0 now, then one every interval: sample k runs k intervals later.
    fn sample_from_now(&mut self, ctx: &mut Context<Self>) {
        self.sample();
        ctx.run_interval(self.interval, |sensor, _| sensor.sample());
    }

    fn sampling(&self, origin_ms: u64, started: bool) -> Sampling {
        Sampling {
            sensors: self.sensors.len(),
            interval_ms: self.interval_ms,
            origin_ms,
            started,
        }
    }
}

impl Actor for Sensor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        // Through the mailbox rather than directly: the readings are then emitted by the
        // command's client, as `sensor/1/start`. The instance's own client has an empty
        // target, and PURISTA's topic layout drops empty levels, so events it emitted would
        // reach no subscriber on another node.
        let start = self.own.invoke::<StartSampling>(Empty {}, Empty {});
        ctx.spawn(
            async move { start.await }
                .into_actor(self)
                .map(|started, _, _| {
                    if let Err(err) = started {
                        tracing::error!(cause = %err, "sampling did not start");
                    }
                }),
        );
    }
}

impl Service for Sensor {
    const NAME: &'static str = "sensor";
    const VERSION: &'static str = "1";
    fn register(service: &mut Registrar<Self>) {
        service.command::<StartSampling>();
    }
}

impl Handler<Invocation<StartSampling>> for Sensor {
    type Result = CommandResult<StartSampling>;

    fn handle(&mut self, call: Invocation<StartSampling>, ctx: &mut Context<Self>) -> Self::Result {
        if let Some(running) = &self.running {
            return Ok(self.sampling(running.origin_ms, false));
        }
        let now = now_ms();
        let origin_ms = self.origin_ms.unwrap_or(now);
        self.running = Some(Running {
            client: call.client(),
            origin_ms,
            next: 0,
        });
        let wait = origin_ms.saturating_sub(now);
        if wait == 0 {
            self.sample_from_now(ctx);
        } else {
            ctx.run_later(Duration::from_millis(wait), Self::sample_from_now);
        }
        tracing::info!(
            sensors = self.sensors.len(),
            interval_ms = self.interval_ms,
            origin_ms,
            wait_ms = wait,
            "sampling started"
        );
        Ok(self.sampling(origin_ms, true))
    }
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}
