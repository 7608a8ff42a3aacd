//! A subscriber that hands every aggregate to a channel: how a binary shows what the graph
//! produces, since the library itself never prints.

use actix::prelude::*;
use tokio::sync::mpsc;
use tributary::{Delivery, Registrar, Service};

use crate::contracts::{Aggregate, AggregateEvent};

/// Service `printer`: forwards every `aggregate` event it receives (one instance of it per
/// event) to its channel.
pub struct Forwarder {
    aggregates: mpsc::UnboundedSender<Aggregate>,
}

impl Forwarder {
    /// A forwarder to `aggregates`.
    pub fn new(aggregates: mpsc::UnboundedSender<Aggregate>) -> Self {
        Forwarder { aggregates }
    }
}

impl Actor for Forwarder {
    type Context = Context<Self>;
}

impl Service for Forwarder {
    const NAME: &'static str = "printer";
    const VERSION: &'static str = "1";
    fn register(service: &mut Registrar<Self>) {
        service.subscribe::<AggregateEvent>();
    }
}

impl Handler<Delivery<AggregateEvent>> for Forwarder {
    type Result = ();
    fn handle(&mut self, aggregate: Delivery<AggregateEvent>, _: &mut Context<Self>) {
        // The reader may have stopped before the node: later aggregates are dropped.
        let _ = self.aggregates.send(aggregate.into_payload());
    }
}
