//! Tumbling windows over event time: the aggregator's logic, as a plain type.
//!
//! Windows are aligned to the Unix epoch (`window_start_ms` is a multiple of the window
//! length) and kept per sensor. A sensor's window completes when a reading of that sensor
//! for a later window arrives: the time that counts is the reading's timestamp, not when it
//! arrived, so the result does not depend on timer jitter or mailbox delays. A reading for a
//! window its sensor has already completed is late: counted and dropped.

use std::collections::BTreeMap;

use crate::contracts::{Aggregate, Reading, Snapshot, Totals};

/// Per-sensor windows being filled, the last completed ones, and the totals.
#[derive(Debug)]
pub(crate) struct Windows {
    window_ms: u64,
    /// The window each sensor is filling.
    open: BTreeMap<String, Accumulator>,
    /// The latest completed window of each sensor, for snapshots.
    last: BTreeMap<String, Aggregate>,
    totals: Totals,
}

/// Count, extremes and sum of the readings of one open window.
#[derive(Debug, Clone, Copy)]
struct Accumulator {
    start_ms: u64,
    count: u64,
    min: f64,
    max: f64,
    sum: f64,
}

impl Accumulator {
    fn first(start_ms: u64, value: f64) -> Self {
        Accumulator {
            start_ms,
            count: 1,
            min: value,
            max: value,
            sum: value,
        }
    }

    fn add(&mut self, value: f64) {
        self.count += 1;
        self.min = self.min.min(value);
        self.max = self.max.max(value);
        self.sum += value;
    }

    fn finish(self, sensor: String, window_ms: u64) -> Aggregate {
        Aggregate {
            sensor,
            window_start_ms: self.start_ms,
            window_ms,
            count: self.count,
            min: self.min,
            max: self.max,
            mean: self.sum / self.count as f64,
        }
    }
}

impl Windows {
    /// Windows of `window_ms` milliseconds (at least 1).
    pub(crate) fn new(window_ms: u64) -> Self {
        Windows {
            window_ms: window_ms.max(1),
            open: BTreeMap::new(),
            last: BTreeMap::new(),
            totals: Totals::default(),
        }
    }

    /// Adds `reading`; returns the aggregate of the window it completes, if it completes one.
    pub(crate) fn add(&mut self, reading: &Reading) -> Option<Aggregate> {
        self.totals.readings_in += 1;
        let start_ms = reading.timestamp_ms - reading.timestamp_ms % self.window_ms;
        let Some(open) = self.open.get_mut(&reading.sensor) else {
            self.open.insert(
                reading.sensor.clone(),
                Accumulator::first(start_ms, reading.value),
            );
            self.totals.readings_open += 1;
            return None;
        };
        if start_ms < open.start_ms {
            self.totals.late_readings += 1;
            tracing::debug!(
                sensor = %reading.sensor,
                timestamp_ms = reading.timestamp_ms,
                open_window_ms = open.start_ms,
                "late reading dropped"
            );
            return None;
        }
        if start_ms == open.start_ms {
            open.add(reading.value);
            self.totals.readings_open += 1;
            return None;
        }
        let done = std::mem::replace(open, Accumulator::first(start_ms, reading.value));
        let aggregate = done.finish(reading.sensor.clone(), self.window_ms);
        self.totals.readings_open = self.totals.readings_open - done.count + 1;
        self.totals.readings_aggregated += done.count;
        self.totals.aggregates_out += 1;
        self.last.insert(reading.sensor.clone(), aggregate.clone());
        Some(aggregate)
    }

    /// The latest completed window of each sensor, and the totals.
    pub(crate) fn snapshot(&self) -> Snapshot {
        Snapshot {
            last: self.last.values().cloned().collect(),
            totals: self.totals,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reading(sensor: &str, value: f64, timestamp_ms: u64) -> Reading {
        Reading {
            sensor: sensor.into(),
            value,
            timestamp_ms,
        }
    }

    #[test]
    fn a_window_completes_when_its_sensor_reads_in_a_later_one() {
        let mut w = Windows::new(100);
        assert_eq!(w.add(&reading("a", 2.0, 1_000)), None);
        assert_eq!(w.add(&reading("a", 4.0, 1_050)), None);
        assert_eq!(w.add(&reading("a", 0.0, 1_099)), None);
        let done = w
            .add(&reading("a", 9.0, 1_100))
            .expect("window 1000 completes");
        assert_eq!(
            done,
            Aggregate {
                sensor: "a".into(),
                window_start_ms: 1_000,
                window_ms: 100,
                count: 3,
                min: 0.0,
                max: 4.0,
                mean: 2.0,
            }
        );
        let totals = w.snapshot().totals;
        assert_eq!(totals.readings_in, 4);
        assert_eq!(totals.aggregates_out, 1);
        assert_eq!(totals.readings_aggregated, 3);
        assert_eq!(totals.readings_open, 1);
    }

    #[test]
    fn sensors_have_windows_of_their_own() {
        let mut w = Windows::new(100);
        w.add(&reading("a", 1.0, 0));
        w.add(&reading("b", 5.0, 0));
        let a = w.add(&reading("a", 1.0, 100)).expect("a completes");
        assert_eq!((a.sensor.as_str(), a.count, a.mean), ("a", 1, 1.0));
        // b's window stays open until b reads again.
        assert_eq!(w.add(&reading("b", 7.0, 50)), None);
        let b = w.add(&reading("b", 0.0, 250)).expect("b completes");
        assert_eq!((b.count, b.min, b.max, b.mean), (2, 5.0, 7.0, 6.0));
        let snapshot = w.snapshot();
        assert_eq!(snapshot.last, vec![a, b]);
    }

    #[test]
    fn late_readings_are_counted_and_dropped() {
        let mut w = Windows::new(100);
        w.add(&reading("a", 1.0, 120));
        w.add(&reading("a", 1.0, 230));
        assert_eq!(w.add(&reading("a", 99.0, 150)), None);
        let totals = w.snapshot().totals;
        assert_eq!(totals.late_readings, 1);
        assert_eq!(totals.readings_in, 3);
        assert_eq!(
            totals.readings_in,
            totals.readings_aggregated + totals.readings_open + totals.late_readings
        );
    }

    #[test]
    fn windows_are_aligned_to_the_epoch() {
        let mut w = Windows::new(1_000);
        w.add(&reading("a", 1.0, 12_345));
        let done = w.add(&reading("a", 1.0, 13_000)).expect("completes");
        assert_eq!(done.window_start_ms, 12_000);
    }
}
