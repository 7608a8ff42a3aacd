//! The simulated sensor signal: deterministic pseudo-random values, so that a test can
//! compute what the aggregates must be.

/// Multiplier of the 64-bit linear congruential generator (Knuth's MMIX).
const MULTIPLIER: u64 = 6_364_136_223_846_793_005;
/// Increment of the generator (Knuth's MMIX).
const INCREMENT: u64 = 1_442_695_040_888_963_407;
/// Spreads the seeds of neighbouring sensors apart (2^64 divided by the golden ratio).
const SENSOR_STRIDE: u64 = 0x9E37_79B9_7F4A_7C15;

/// The values of one simulated temperature sensor.
///
/// Sensor `index` (from 0) starts from state `seed + index * 0x9E3779B97F4A7C15` (wrapping).
/// Each sample advances the state as `state * 6364136223846793005 + 1442695040888963407`
/// (wrapping), takes its top 53 bits as `u` in `[0, 1)`, and reads
/// `20 + index + 4 * (u - 0.5)`: each sensor varies by ±2 around a baseline of its own. The
/// formula is part of the sample's contract: tests recompute the readings from it.
#[derive(Debug, Clone)]
pub struct Signal {
    state: u64,
    baseline: f64,
}

impl Signal {
    /// The signal of sensor `index` for `seed`.
    pub fn new(seed: u64, index: usize) -> Self {
        let index = index as u64;
        Signal {
            state: seed.wrapping_add(index.wrapping_mul(SENSOR_STRIDE)),
            baseline: 20.0 + index as f64,
        }
    }

    /// The next value.
    pub fn next_value(&mut self) -> f64 {
        self.state = self.state.wrapping_mul(MULTIPLIER).wrapping_add(INCREMENT);
        let unit = (self.state >> 11) as f64 / (1u64 << 53) as f64;
        self.baseline + 4.0 * (unit - 0.5)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_same_values() {
        let a: Vec<f64> = {
            let mut s = Signal::new(7, 1);
            (0..100).map(|_| s.next_value()).collect()
        };
        let mut s = Signal::new(7, 1);
        for value in a {
            assert_eq!(s.next_value().to_bits(), value.to_bits());
        }
    }

    #[test]
    fn values_stay_within_two_of_the_baseline() {
        for index in 0..4 {
            let mut s = Signal::new(42, index);
            let baseline = 20.0 + index as f64;
            for _ in 0..10_000 {
                let v = s.next_value();
                assert!((baseline - 2.0..baseline + 2.0).contains(&v), "{v}");
            }
        }
    }

    #[test]
    fn sensors_differ() {
        let mut a = Signal::new(42, 0);
        let mut b = Signal::new(42, 1);
        let (a, b) = (a.next_value() - 20.0, b.next_value() - 21.0);
        assert_ne!(a.to_bits(), b.to_bits());
    }
}
