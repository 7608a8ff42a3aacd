//! The sensor service: simulated sensors sampled on an actix interval, one `reading` event
//! per sensor and sample. It starts sampling by itself when its instance starts.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use actix::{Actor, AsyncContext, Context};
use tributary::{Client, Id, Registrar, Service};

use crate::config::SampleConfig;
use crate::contracts::{Reading, ReadingEvent};
use crate::signal::Signal;

/// Service `sensor/1`: simulates [`SampleConfig::sensors`] sensors named `sensor-1`,
/// `sensor-2`, ..., samples each of them every [`SampleConfig::sample_interval`], and emits a
/// [`ReadingEvent`] per sensor and sample.
///
/// Sampling starts when the instance starts, by itself. The readings go out through the
/// client the instance's factory got (run it with
/// [`ServiceSpec::with_client`](tributary::ServiceSpec::with_client), as
/// [`graph`](crate::graph) does), so their sender is `sensor/1/service` (see
/// [`SERVICE_TARGET`](tributary::SERVICE_TARGET)). The first sample is taken at
/// [`SampleConfig::origin_ms`]: at once if that has passed (or is not set), else when the
/// wall clock reaches it.
///
/// One instance simulates every sensor: one timer, and the readings of a sample leave in
/// sensor order. Sample `k` (from 0) is stamped `origin + k * interval` whenever its timer
/// tick actually runs. Sampling stops when the instance stops; an instance restarted after a
/// panic starts over from sample 0.
#[derive(Debug)]
pub struct Sensor {
    /// Speaks as `sensor/1/service`: emits the readings.
    client: Client,
    sensors: Vec<(String, Signal)>,
    interval: Duration,
    interval_ms: u64,
    /// The configured timestamp of the first sample, if any.
    origin_ms: Option<u64>,
    /// The next sample's number.
    next: u64,
}

impl Sensor {
    /// The sensor service as `config` describes it; `client` is the one
    /// [`ServiceSpec::with_client`](tributary::ServiceSpec::with_client) hands its factory.
    pub fn new(client: Client, config: &SampleConfig) -> Self {
        let interval_ms = config.interval_ms();
        Sensor {
            client,
            sensors: (0..config.sensor_count())
                .map(|i| (format!("sensor-{}", i + 1), Signal::new(config.seed, i)))
                .collect(),
            interval: Duration::from_millis(interval_ms),
            interval_ms,
            origin_ms: config.origin_ms,
            next: 0,
        }
    }

    /// Takes one sample of every sensor and emits the readings; sample 0 is stamped
    /// `origin_ms`.
    fn sample(&mut self, origin_ms: u64) {
        let timestamp_ms = origin_ms + self.next * self.interval_ms;
        // Each sample starts a trace of its own; the aggregate a reading completes joins it.
        let client = self.client.with_trace_id(Id::random());
        let mut delivered = 0;
        for (sensor, signal) in &mut self.sensors {
            delivered += client.emit::<ReadingEvent>(Reading {
                sensor: sensor.clone(),
                value: signal.next_value(),
                timestamp_ms,
            });
        }
        tracing::trace!(sample = self.next, timestamp_ms, delivered, "sampled");
        self.next += 1;
    }

    /// Takes sample 0 now, then one every interval: sample k runs k intervals later.
    fn sample_from_now(&mut self, origin_ms: u64, ctx: &mut Context<Self>) {
        self.sample(origin_ms);
        ctx.run_interval(self.interval, move |sensor, _| sensor.sample(origin_ms));
    }
}

impl Actor for Sensor {
    type Context = Context<Self>;

    /// Starts sampling: once per instance, since actix calls this once per actor.
    fn started(&mut self, ctx: &mut Context<Self>) {
        let now = now_ms();
        let origin_ms = self.origin_ms.unwrap_or(now);
        let wait = origin_ms.saturating_sub(now);
        if wait == 0 {
            self.sample_from_now(origin_ms, ctx);
        } else {
            ctx.run_later(Duration::from_millis(wait), move |sensor, ctx| {
                sensor.sample_from_now(origin_ms, ctx);
            });
        }
        tracing::info!(
            sensors = self.sensors.len(),
            interval_ms = self.interval_ms,
            origin_ms,
            wait_ms = wait,
            "sampling started"
        );
    }
}

impl Service for Sensor {
    const NAME: &'static str = "sensor";
    const VERSION: &'static str = "1";
    /// Nothing to register: the sensor handles no command and subscribes to nothing.
    fn register(_: &mut Registrar<Self>) {}
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}
