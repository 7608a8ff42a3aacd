//! The sample's contracts: what travels between the sensor, the aggregator and whoever
//! watches them. These types are the whole interface of the graph; binaries, tests and the
//! other side of a split deployment depend on nothing else.

use serde::{Deserialize, Serialize};
use tributary::{CommandContract, Empty, EventContract};

/// One measurement of one sensor.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Reading {
    /// Which sensor measured it (`sensor-1`, `sensor-2`, ...).
    pub sensor: String,
    /// The measured value (degrees Celsius in the simulation).
    pub value: f64,
    /// When it was sampled, in milliseconds since the Unix epoch: the sample's scheduled
    /// time, so that a late timer tick does not move a reading into another window.
    pub timestamp_ms: u64,
}

/// Custom event `reading`: the sensor service emits one per sensor and sample.
pub struct ReadingEvent;
impl EventContract for ReadingEvent {
    const EVENT: &'static str = "reading";
    type Payload = Reading;
}

/// The summary of one sensor's readings over one window.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Aggregate {
    /// The sensor the readings came from.
    pub sensor: String,
    /// Where the window starts, in milliseconds since the Unix epoch (a multiple of
    /// `window_ms`: windows are aligned to the epoch, not to when the node started).
    pub window_start_ms: u64,
    /// How long the window is, in milliseconds.
    pub window_ms: u64,
    /// How many readings fell into the window (at least 1: a window without readings has no
    /// aggregate).
    pub count: u64,
    /// The smallest value.
    pub min: f64,
    /// The largest value.
    pub max: f64,
    /// The arithmetic mean of the values.
    pub mean: f64,
}

/// Custom event `aggregate`: the aggregator emits one per sensor and completed window.
pub struct AggregateEvent;
impl EventContract for AggregateEvent {
    const EVENT: &'static str = "aggregate";
    type Payload = Aggregate;
}

/// What the sensor service says about its sampling.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Sampling {
    /// How many sensors it simulates.
    pub sensors: usize,
    /// Milliseconds between two samples of one sensor.
    pub interval_ms: u64,
    /// The timestamp of the first sample.
    pub origin_ms: u64,
    /// Whether this call started the sampling (false: it was already running, which is what
    /// every caller but the sensor itself sees).
    pub started: bool,
}

/// Command `sensor/1/start`: start sampling, and say how the sensor samples. Answers at
/// once; calling it again while sampling runs changes nothing.
///
/// The sensor invokes it on itself when its instance starts, so nobody else has to: another
/// caller (the cloud asking a device) gets `started: false` and the sensor's settings. Its
/// readings are emitted by this command's client and so carry the sender `sensor/1/start`,
/// a topic other nodes can subscribe to (see [`Sensor`](crate::Sensor)).
pub struct StartSampling;
impl CommandContract for StartSampling {
    const SERVICE: &'static str = "sensor";
    const VERSION: &'static str = "1";
    const COMMAND: &'static str = "start";
    type Payload = Empty;
    type Parameter = Empty;
    type Output = Sampling;
}

/// What the aggregator has seen since it started. Every reading received is aggregated,
/// open or late: `readings_in == readings_aggregated + readings_open + late_readings`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Totals {
    /// Readings received.
    pub readings_in: u64,
    /// Readings summarised in emitted aggregates.
    pub readings_aggregated: u64,
    /// Aggregates emitted.
    pub aggregates_out: u64,
    /// Readings received in windows not yet completed.
    pub readings_open: u64,
    /// Readings dropped because their window had already been completed.
    pub late_readings: u64,
}

impl Totals {
    /// Readings aggregated per aggregate out: how many fewer messages leave the device than
    /// are measured on it. `None` before the first aggregate.
    pub fn reduction(&self) -> Option<f64> {
        (self.aggregates_out > 0)
            .then(|| self.readings_aggregated as f64 / self.aggregates_out as f64)
    }
}

/// The aggregator's answer to [`TakeSnapshot`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Snapshot {
    /// The latest completed window of each sensor, ordered by sensor; empty before the first
    /// window completes.
    pub last: Vec<Aggregate>,
    /// Counters since the aggregator started.
    pub totals: Totals,
}

/// Command `aggregator/1/snapshot`: the aggregates of the latest completed windows, and
/// totals.
pub struct TakeSnapshot;
impl CommandContract for TakeSnapshot {
    const SERVICE: &'static str = "aggregator";
    const VERSION: &'static str = "1";
    const COMMAND: &'static str = "snapshot";
    type Payload = Empty;
    type Parameter = Empty;
    type Output = Snapshot;
}
