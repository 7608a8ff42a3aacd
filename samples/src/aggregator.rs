//! The aggregator service: many readings in, one aggregate per sensor and window out.

use actix::{Actor, Context, Handler};
use tributary::{CommandResult, Delivery, Invocation, Registrar, Service};

use crate::config::SampleConfig;
use crate::contracts::{AggregateEvent, ReadingEvent, TakeSnapshot};
use crate::window::Windows;

/// Service `aggregator/1`: subscribes to [`ReadingEvent`], keeps count, minimum, maximum and
/// mean per sensor over tumbling windows of [`SampleConfig::window`], and emits an
/// [`AggregateEvent`] for each sensor and completed window. [`TakeSnapshot`] answers with the
/// latest completed windows and the totals.
///
/// A window completes when its sensor reads in a later one (event time: see the `window`
/// module), so the last window of a sensor that stops reading stays open. Run one instance:
/// the windows are its state, and several instances would each get a share of the readings.
#[derive(Debug)]
pub struct Aggregator {
    windows: Windows,
}

impl Aggregator {
    /// The aggregator as `config` describes it.
    pub fn new(config: &SampleConfig) -> Self {
        Aggregator {
            windows: Windows::new(config.window_ms()),
        }
    }
}

impl Actor for Aggregator {
    type Context = Context<Self>;
}

impl Service for Aggregator {
    const NAME: &'static str = "aggregator";
    const VERSION: &'static str = "1";
    fn register(service: &mut Registrar<Self>) {
        service
            .subscribe::<ReadingEvent>()
            .command::<TakeSnapshot>();
    }
}

impl Handler<Delivery<ReadingEvent>> for Aggregator {
    type Result = ();

    fn handle(&mut self, reading: Delivery<ReadingEvent>, _: &mut Context<Self>) {
        let Some(aggregate) = self.windows.add(reading.payload()) else {
            return;
        };
        tracing::debug!(
            sensor = %aggregate.sensor,
            window_start_ms = aggregate.window_start_ms,
            count = aggregate.count,
            "window completed"
        );
        reading.client().emit::<AggregateEvent>(aggregate);
    }
}

impl Handler<Invocation<TakeSnapshot>> for Aggregator {
    type Result = CommandResult<TakeSnapshot>;

    fn handle(&mut self, _: Invocation<TakeSnapshot>, _: &mut Context<Self>) -> Self::Result {
        Ok(self.windows.snapshot())
    }
}
