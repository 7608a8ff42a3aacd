//! The sensor service: simulated sensors sampled on an actix interval, one `reading` event
//! per sensor and sample.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use actix::{Actor, AsyncContext, Context, Handler};
use tributary::{Client, CommandResult, Id, Invocation, Registrar, Service};

use crate::config::SampleConfig;
use crate::contracts::{Reading, ReadingEvent, Sampling, StartSampling};
use crate::signal::Signal;

/// Service `sensor/1`: simulates [`SampleConfig::sensors`] sensors named `sensor-1`,
/// `sensor-2`, ..., and, once [`StartSampling`] has been invoked, samples each of them every
/// [`SampleConfig::sample_interval`], emitting a [`ReadingEvent`] per sensor and sample.
///
/// One instance simulates every sensor: one timer, and the readings of a sample leave in
/// sensor order. Sample `k` (from 0) is stamped `origin + k * interval` whenever its timer
/// tick actually runs. Sampling stops when the instance stops; an instance restarted after a
/// panic waits for [`StartSampling`] again.
#[derive(Debug)]
pub struct Sensor {
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
    /// Emits the readings, as the command that started sampling.
    client: Client,
    origin_ms: u64,
    /// The next sample's number.
    next: u64,
}

impl Sensor {
    /// The sensor service as `config` describes it.
    pub fn new(config: &SampleConfig) -> Self {
        let interval_ms = config.interval_ms();
        Sensor {
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
        let origin_ms = self.origin_ms.unwrap_or_else(now_ms);
        self.running = Some(Running {
            client: call.client(),
            origin_ms,
            next: 0,
        });
        // Sample 0 now, then one per interval: sample k runs k intervals after the start.
        self.sample();
        ctx.run_interval(self.interval, |sensor, _| sensor.sample());
        tracing::info!(
            sensors = self.sensors.len(),
            interval_ms = self.interval_ms,
            origin_ms,
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
