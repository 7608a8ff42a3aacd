#![doc = include_str!("../README.md")]
//!
//! # Layout
//!
//! [`contracts`](crate#contracts) are the graph's interface: the `reading` and `aggregate`
//! events and the `aggregator/1/snapshot` command. `config` holds [`SampleConfig`];
//! `signal` makes the sensors' deterministic values; `sensor` is the [`Sensor`] service that
//! samples them on a timer, from the moment it starts; `window` is the plain windowing logic
//! and `aggregator` the [`Aggregator`] service around it.
//! [`graph`] puts the services on a node and [`graph_part`] the ones a deployment runs there;
//! the binaries in `src/bin` run them (`edge`: everything on one node; `node`: whatever its
//! configuration says), and so do the tests.
//!
//! # Contracts
//!
//! | message | kind | payload → output |
//! | --- | --- | --- |
//! | `reading` | custom event of `sensor/1` (sent as `sensor/1/service`) | [`Reading`] |
//! | `aggregate` | custom event of `aggregator/1` | [`Aggregate`] |
//! | `aggregator/1/snapshot` | command ([`TakeSnapshot`]) | `{}` → [`Snapshot`] |
#![forbid(unsafe_code)]

mod aggregator;
mod config;
mod contracts;
mod forwarder;
mod sensor;
mod signal;
mod window;

pub use aggregator::Aggregator;
pub use config::SampleConfig;
pub use contracts::{
    Aggregate, AggregateEvent, Reading, ReadingEvent, Snapshot, TakeSnapshot, Totals,
};
pub use forwarder::Forwarder;
pub use sensor::Sensor;
pub use signal::Signal;

use tributary::{NodeBuilder, Service, ServiceSpec};

/// The names of the graph's services, in the order [`graph`] adds them: what a deployment's
/// configuration chooses from.
pub const SERVICES: [&str; 2] = [Sensor::NAME, Aggregator::NAME];

/// Adds the sample's services to `builder`: one [`Sensor`] instance simulating every sensor
/// and one [`Aggregator`] instance (its windows are its state). Sampling begins by itself
/// once the node has started (at [`SampleConfig::origin_ms`] if that lies ahead).
///
/// Every binary and test builds its node from this function or from [`graph_part`], adding
/// what it needs around it (a subscriber that prints, a bridge), so that all of them run the
/// same graph.
pub fn graph(builder: NodeBuilder, config: &SampleConfig) -> NodeBuilder {
    graph_part(builder, config, |_| true)
}

/// Adds the services of the graph that `runs` accepts, by name (`sensor`, `aggregator`; see
/// [`SERVICES`]): the part of the graph one node of a split deployment runs. The nodes of a
/// deployment use the same `config`; [`graph`] is the whole graph on one node.
///
/// ```
/// use tributary::Node;
/// use tributary_samples::{graph_part, SampleConfig};
///
/// // A node that aggregates what sensors elsewhere read (it needs a bridge to hear them).
/// let config = SampleConfig::default();
/// let builder = graph_part(Node::builder(), &config, |service| service == "aggregator");
/// # drop(builder);
/// ```
pub fn graph_part(
    builder: NodeBuilder,
    config: &SampleConfig,
    runs: impl Fn(&str) -> bool,
) -> NodeBuilder {
    let mut builder = builder;
    if runs(Sensor::NAME) {
        let sensor = config.clone();
        builder = builder.service_spec(ServiceSpec::with_client(move |client| {
            Sensor::new(client, &sensor)
        }));
    }
    if runs(Aggregator::NAME) {
        let aggregator = config.clone();
        builder = builder.service(move || Aggregator::new(&aggregator));
    }
    builder
}
