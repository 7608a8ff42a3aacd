//! How the sample runs: how many sensors, how often they sample, how long a window is.

use std::time::Duration;

/// The sample's settings. The defaults are those of the `edge` binary: four sensors at
/// 50 Hz, one-second windows. Tests shorten the interval and the window.
///
/// ```
/// use std::time::Duration;
/// use tributary_samples::SampleConfig;
///
/// let fast = SampleConfig {
///     sample_interval: Duration::from_millis(10),
///     window: Duration::from_millis(100),
///     ..SampleConfig::default()
/// };
/// assert_eq!(fast.samples_per_window(), 10);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SampleConfig {
    /// How many sensors the sensor service simulates (at least 1 is used).
    pub sensors: usize,
    /// Time between two samples of one sensor; rounded to whole milliseconds, at least 1.
    pub sample_interval: Duration,
    /// Length of an aggregation window; rounded to whole milliseconds, at least 1.
    pub window: Duration,
    /// Seed of the simulated values: the same seed gives the same readings.
    pub seed: u64,
    /// Timestamp of the first sample, in milliseconds since the Unix epoch; `None` takes the
    /// wall clock when sampling starts. Set it to make timestamps (and thus which window
    /// each reading falls into) deterministic. A time in the future is also when sampling
    /// begins: the sensor waits for the wall clock to reach it (the binaries start on the
    /// next whole window, so that every window is a full one).
    pub origin_ms: Option<u64>,
}

impl Default for SampleConfig {
    fn default() -> Self {
        SampleConfig {
            sensors: 4,
            sample_interval: Duration::from_millis(20),
            window: Duration::from_secs(1),
            seed: 42,
            origin_ms: None,
        }
    }
}

impl SampleConfig {
    /// How many sensors are simulated.
    pub fn sensor_count(&self) -> usize {
        self.sensors.max(1)
    }

    /// The sample interval in milliseconds, as the sensor uses it.
    pub fn interval_ms(&self) -> u64 {
        millis(self.sample_interval)
    }

    /// The window length in milliseconds, as the aggregator uses it.
    pub fn window_ms(&self) -> u64 {
        millis(self.window)
    }

    /// Readings of one sensor per full window (rounded down).
    pub fn samples_per_window(&self) -> u64 {
        self.window_ms() / self.interval_ms()
    }
}

fn millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis())
        .unwrap_or(u64::MAX)
        .max(1)
}
