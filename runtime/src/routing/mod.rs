//! The routing table: which mailbox handles a command, which subscriptions want an event.
//!
//! Callers read it directly (it is a set of concurrent maps) and send to the chosen mailbox:
//! no actor stands between a caller and the service it calls. It changes only when services
//! start or restart.

mod command;
mod event;

use dashmap::DashMap;

pub(crate) use command::{decode, CommandBinding, CommandEntry, JsonCommand, Lookup};
pub use command::{CommandKey, JsonInvocation};
pub(crate) use event::{EventMessage, EventPayload, SubscriptionBinding, SubscriptionRoute};

use crate::text::Text;

/// Every route of one node.
#[derive(Default)]
pub(crate) struct Routes {
    /// Commands by wire address. One table for typed calls and JSON calls alike, so that a
    /// lookup costs the same however the command is called.
    commands: DashMap<CommandKey, CommandEntry, foldhash::fast::RandomState>,
    /// Subscriptions by the event name they filter on (`None`: any name).
    events: DashMap<Option<Text>, Vec<SubscriptionRoute>, foldhash::fast::RandomState>,
}

impl Routes {
    /// How many commands are routed.
    pub(crate) fn command_count(&self) -> usize {
        self.commands.len()
    }

    /// Calls `f` with every subscription whose filter may pass an event named `name`.
    pub(crate) fn for_each_subscription(
        &self,
        name: Option<&Text>,
        mut f: impl FnMut(&SubscriptionRoute),
    ) {
        if let Some(name) = name {
            if let Some(routes) = self.events.get(&Some(name.clone())) {
                routes.iter().for_each(&mut f);
            }
        }
        if let Some(routes) = self.events.get(&None) {
            routes.iter().for_each(f);
        }
    }
}
