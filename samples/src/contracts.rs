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
