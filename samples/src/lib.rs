#![doc = include_str!("../README.md")]
//!
//! # Layout
//!
//! [`contracts`](crate#contracts) are the graph's interface: the `reading` and `aggregate`
//! events and the `sensor/1/start` and `aggregator/1/snapshot` commands. `config` holds
//! [`SampleConfig`]; `signal` makes the sensors' deterministic values; `sensor` is the
//! [`Sensor`] service that samples them on a timer; `window` is the plain windowing logic and
//! `aggregator` the [`Aggregator`] service around it. [`graph`] puts the services on a node;
//! the binaries in `src/bin` run it.
//!
//! # Contracts
//!
//! | message | kind | payload → output |
//! | --- | --- | --- |
//! | `reading` | custom event of `sensor/1` | [`Reading`] |
//! | `aggregate` | custom event of `aggregator/1` | [`Aggregate`] |
//! | `sensor/1/start` | command ([`StartSampling`]) | `{}` → [`Sampling`] |
//! | `aggregator/1/snapshot` | command ([`TakeSnapshot`]) | `{}` → [`Snapshot`] |
#![forbid(unsafe_code)]

mod aggregator;
mod config;
mod contracts;
mod sensor;
mod signal;
mod window;

pub use aggregator::Aggregator;
pub use config::SampleConfig;
pub use contracts::{
    Aggregate, AggregateEvent, Reading, ReadingEvent, Sampling, Snapshot, StartSampling,
    TakeSnapshot, Totals,
};
pub use sensor::Sensor;
pub use signal::Signal;

use tributary::NodeBuilder;

/// Adds the sample's services to `builder`: one [`Sensor`] instance simulating every sensor
/// and one [`Aggregator`] instance (its windows are its state).
///
/// Every binary and test builds its node from this function, adding what it needs around
/// it (a subscriber that prints, a bridge), so that all of them run the same graph. Sampling
/// begins when [`StartSampling`] is invoked on the started node.
pub fn graph(builder: NodeBuilder, config: &SampleConfig) -> NodeBuilder {
    let sensor = config.clone();
    let aggregator = config.clone();
    builder
        .service(move || Sensor::new(&sensor))
        .service(move || Aggregator::new(&aggregator))
}
