//! Event routes: which subscriptions want an event, and the mailboxes of their instances.

use std::any::Any;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use actix::{Addr, Handler, Recipient};
use serde_json::Value;

use super::Routes;
use crate::contract::{Data, EventContract};
use crate::metadata::{Address, Metadata};
use crate::node::Shared;
use crate::service::{Delivery, Service};
use crate::subscription::Subscription;

/// An event's payload: the value it was emitted with, shared by every subscriber, and a way
/// to JSON for subscribers whose contract type differs (and for the wire).
#[derive(Clone)]
pub(crate) struct EventPayload {
    value: Arc<dyn Any + Send + Sync>,
    to_json: fn(&(dyn Any + Send + Sync)) -> Result<Value, String>,
}

impl EventPayload {
    pub(crate) fn typed<T: Data>(value: T) -> Self {
        EventPayload {
            value: Arc::new(value),
            to_json: typed_to_json::<T>,
        }
    }

    pub(crate) fn json(value: Value) -> Self {
        Self::typed(value)
    }

    /// The payload as `T`: shared if it is one, decoded from JSON if it is not.
    pub(crate) fn get<T: Data>(&self) -> Result<Arc<T>, String> {
        if let Ok(value) = self.value.clone().downcast::<T>() {
            return Ok(value);
        }
        let decoded = match self.value.downcast_ref::<Value>() {
            // Arrived as JSON (from a bridge, or emitted by name): read it where it is.
            Some(json) => T::deserialize(json),
            None => serde_json::from_value(self.to_json()?),
        };
        decoded.map(Arc::new).map_err(|e| e.to_string())
    }

    /// The payload as JSON.
    pub(crate) fn to_json(&self) -> Result<Value, String> {
        (self.to_json)(&*self.value)
    }
}

fn typed_to_json<T: Data>(value: &(dyn Any + Send + Sync)) -> Result<Value, String> {
    match value.downcast_ref::<T>() {
        Some(v) => serde_json::to_value(v).map_err(|e| e.to_string()),
        None => Err("payload type mismatch".into()),
    }
}

/// An event on its way to subscribers.
pub(crate) struct EventMessage {
    pub(crate) meta: Arc<Metadata>,
    pub(crate) payload: EventPayload,
}

/// Why an event did not reach a subscriber.
#[derive(Debug, thiserror::Error)]
pub(crate) enum Undelivered {
    /// The subscriber's mailbox is closed.
    #[error("the subscriber's mailbox is closed")]
    Closed,
    /// The payload does not decode as the subscriber's contract.
    #[error("the payload does not fit the subscriber's contract: {0}")]
    Payload(String),
}

/// One subscribing instance's mailbox.
pub(crate) trait Deliver: Send + Sync {
    fn deliver(
        &self,
        event: &EventMessage,
        shared: &Arc<Shared>,
        subscriber: &Arc<Address>,
    ) -> Result<(), Undelivered>;
    fn connected(&self) -> bool;
}

struct Target<E: EventContract>(Recipient<Delivery<E>>);

impl<E: EventContract> Deliver for Target<E> {
    fn deliver(
        &self,
        event: &EventMessage,
        shared: &Arc<Shared>,
        subscriber: &Arc<Address>,
    ) -> Result<(), Undelivered> {
        if !self.0.connected() {
            return Err(Undelivered::Closed);
        }
        let payload = event
            .payload
            .get::<E::Payload>()
            .map_err(Undelivered::Payload)?;
        self.0.do_send(Delivery {
            payload,
            meta: event.meta.clone(),
            shared: shared.clone(),
            subscriber: subscriber.clone(),
        });
        Ok(())
    }

    fn connected(&self) -> bool {
        self.0.connected()
    }
}

/// One subscription of one service with its instances' mailboxes.
pub(crate) struct SubscriptionRoute {
    /// The subscribing service, with the subscription's name as target.
    pub(crate) subscriber: Arc<Address>,
    pub(crate) subscription: Subscription,
    targets: Box<[Arc<dyn Deliver>]>,
    next: AtomicUsize,
}

impl SubscriptionRoute {
    /// Delivers `event` to one connected instance, or to every one if the subscription asks
    /// for it. Returns how many instances got it.
    pub(crate) fn deliver(
        &self,
        event: &EventMessage,
        shared: &Arc<Shared>,
    ) -> Result<usize, Undelivered> {
        if self.subscription.every_instance {
            let mut delivered = 0;
            let mut failure = None;
            for target in self.targets.iter() {
                match target.deliver(event, shared, &self.subscriber) {
                    Ok(()) => delivered += 1,
                    Err(err) => failure = Some(err),
                }
            }
            return match failure {
                Some(err) if delivered == 0 => Err(err),
                _ => Ok(delivered),
            };
        }
        let n = self.targets.len();
        let start = if n == 1 {
            0
        } else {
            self.next.fetch_add(1, Ordering::Relaxed)
        };
        let target = (0..n)
            .map(|i| &self.targets[(start + i) % n])
            .find(|t| t.connected())
            .ok_or(Undelivered::Closed)?;
        target.deliver(event, shared, &self.subscriber).map(|()| 1)
    }
}

/// How a service's subscription reaches its instances.
pub(crate) struct SubscriptionBinding<A: Service> {
    pub(crate) subscription: Subscription,
    target: fn(&Addr<A>) -> Arc<dyn Deliver>,
}

impl<A: Service> Clone for SubscriptionBinding<A> {
    fn clone(&self) -> Self {
        SubscriptionBinding {
            subscription: self.subscription.clone(),
            target: self.target,
        }
    }
}

impl<A: Service> SubscriptionBinding<A> {
    pub(crate) fn new<E: EventContract>(subscription: Subscription) -> Self
    where
        A: Handler<Delivery<E>>,
    {
        SubscriptionBinding {
            subscription,
            target: target::<A, E>,
        }
    }

    fn subscriber(&self) -> Address {
        Address::new(A::NAME, A::VERSION, self.subscription.name.clone())
    }

    /// Routes matching events to these instances.
    pub(crate) fn install(&self, routes: &Routes, instances: &[Addr<A>]) {
        let route = SubscriptionRoute {
            subscriber: Arc::new(self.subscriber()),
            subscription: self.subscription.clone(),
            targets: instances.iter().map(self.target).collect(),
            next: AtomicUsize::new(0),
        };
        routes
            .events
            .entry(self.subscription.filter.event_name.clone())
            .or_default()
            .push(route);
    }

    /// Points instance `index` at a new mailbox (after a restart).
    pub(crate) fn replace(&self, routes: &Routes, index: usize, addr: &Addr<A>) {
        let me = self.subscriber();
        if let Some(mut list) = routes.events.get_mut(&self.subscription.filter.event_name) {
            if let Some(slot) = list
                .iter_mut()
                .find(|r| *r.subscriber == me)
                .and_then(|r| r.targets.get_mut(index))
            {
                *slot = (self.target)(addr);
            }
        }
    }
}

fn target<A, E>(addr: &Addr<A>) -> Arc<dyn Deliver>
where
    A: Service + Handler<Delivery<E>>,
    E: EventContract,
{
    Arc::new(Target::<E>(addr.clone().recipient()))
}

impl Routes {
    /// Every local subscription, for a bridge to subscribe on its behalf.
    pub(crate) fn subscriptions(&self) -> Vec<crate::bridge::LocalSubscription> {
        self.events
            .iter()
            .flat_map(|list| {
                list.iter()
                    .map(|route| crate::bridge::LocalSubscription {
                        subscriber: (*route.subscriber).clone(),
                        filter: route.subscription.filter().clone(),
                        every_instance: route.subscription.is_every_instance(),
                    })
                    .collect::<Vec<_>>()
            })
            .collect()
    }

    /// Hands `event` to the subscription of `subscriber`, if its filter passes the event's
    /// exact names (a broker's filters compare snake-cased ones). `None` when there is no
    /// such subscription; otherwise how many instances got it.
    pub(crate) fn deliver_to(
        &self,
        subscriber: &Address,
        event: &EventMessage,
        shared: &Arc<Shared>,
    ) -> Option<usize> {
        for list in self.events.iter() {
            if let Some(route) = list.iter().find(|r| &*r.subscriber == subscriber) {
                if !route.subscription.filter().matches(&event.meta) {
                    return Some(0);
                }
                return Some(route.deliver(event, shared).unwrap_or_else(|why| {
                    shared.stats.count_undelivered();
                    tracing::warn!(subscriber = %subscriber.service_name, reason = %why, "event not delivered");
                    0
                }));
            }
        }
        None
    }
}
