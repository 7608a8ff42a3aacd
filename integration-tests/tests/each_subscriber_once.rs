//! Each subscribing service gets each event once, in one of its instances, wherever those
//! instances run; an every-instance subscription gets it in every instance on every node
//! (design §3 rule 3). Two services, each with two instances on each of two nodes, count
//! 200 events at their handlers.
#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use actix::prelude::*;
use tributary::{
    Delivery, EventContract, InstanceId, Node, Registrar, Service, ServiceSpec, Subscription,
};
use tributary_integration_tests::{eventually_async, Mosquitto};
use tributary_mqtt::{MqttBridge, MqttConfig};

/// How many events are counted.
const EVENTS: u64 = 200;
/// Warm-up events carry numbers from here on, so they are told apart from counted ones.
const PROBE: u64 = 1_000_000;
/// The `flush` number that ends the run (outside the counted range).
const DONE: u64 = EVENTS;
/// Instances of each service per node.
const INSTANCES: usize = 2;
/// The bound on each wait.
const DEADLINE: Duration = Duration::from_secs(20);

/// `tick`: a number.
struct Tick;
impl EventContract for Tick {
    const EVENT: &'static str = "tick";
    type Payload = u64;
}

/// `flush`: every instance gets it after the ticks sent before it, so once all have it
/// nothing sent earlier is still on its way.
struct Flush;
impl EventContract for Flush {
    const EVENT: &'static str = "flush";
    type Payload = u64;
}

/// One delivery, as a handler saw it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct Received {
    service: &'static str,
    subscription: String,
    node: String,
    instance: usize,
    number: u64,
}

type Log = Arc<Mutex<Vec<Received>>>;

fn record<E: EventContract<Payload = u64>>(
    log: &Log,
    service: &'static str,
    instance: usize,
    delivery: &Delivery<E>,
) {
    log.lock().unwrap().push(Received {
        service,
        subscription: delivery.subscription().to_owned(),
        node: delivery.client().instance_id().to_string(),
        instance,
        number: *delivery.payload(),
    });
}

/// Service `Audit`: `tick` once per service (`once`) and in every instance (`everywhere`).
struct Audit {
    log: Log,
    instance: usize,
}
impl Actor for Audit {
    type Context = Context<Self>;
}
impl Service for Audit {
    const NAME: &'static str = "Audit";
    const VERSION: &'static str = "1";
    fn register(service: &mut Registrar<Self>) {
        service
            .subscribe_with::<Tick>(Subscription::to::<Tick>().named("once"))
            .subscribe_with::<Tick>(
                Subscription::to::<Tick>()
                    .named("everywhere")
                    .every_instance(),
            )
            .subscribe_with::<Flush>(Subscription::to::<Flush>().every_instance());
    }
}
impl Handler<Delivery<Tick>> for Audit {
    type Result = ();
    fn handle(&mut self, delivery: Delivery<Tick>, _: &mut Context<Self>) {
        record(&self.log, Self::NAME, self.instance, &delivery);
    }
}
impl Handler<Delivery<Flush>> for Audit {
    type Result = ();
    fn handle(&mut self, delivery: Delivery<Flush>, _: &mut Context<Self>) {
        record(&self.log, Self::NAME, self.instance, &delivery);
    }
}

/// Service `Billing`: `tick` once per service, under the same subscription name as
/// `Audit`'s, so only the service tells the two share groups apart.
struct Billing {
    log: Log,
    instance: usize,
}
impl Actor for Billing {
    type Context = Context<Self>;
}
impl Service for Billing {
    const NAME: &'static str = "Billing";
    const VERSION: &'static str = "1";
    fn register(service: &mut Registrar<Self>) {
        service
            .subscribe_with::<Tick>(Subscription::to::<Tick>().named("once"))
            .subscribe_with::<Flush>(Subscription::to::<Flush>().every_instance());
    }
}
impl Handler<Delivery<Tick>> for Billing {
    type Result = ();
    fn handle(&mut self, delivery: Delivery<Tick>, _: &mut Context<Self>) {
        record(&self.log, Self::NAME, self.instance, &delivery);
    }
}
impl Handler<Delivery<Flush>> for Billing {
    type Result = ();
    fn handle(&mut self, delivery: Delivery<Flush>, _: &mut Context<Self>) {
        record(&self.log, Self::NAME, self.instance, &delivery);
    }
}

fn bridge(broker: &Mosquitto) -> MqttBridge {
    MqttBridge::new(MqttConfig::new(broker.host(), broker.port())).unwrap()
}

/// A node running `INSTANCES` instances of `Audit` and of `Billing`.
fn subscriber_node(broker: &Mosquitto, log: &Log) -> Node {
    let (audit_log, audits) = (log.clone(), Arc::new(AtomicUsize::new(0)));
    let (billing_log, billings) = (log.clone(), Arc::new(AtomicUsize::new(0)));
    Node::builder()
        .service_spec(
            ServiceSpec::new(move || Audit {
                log: audit_log.clone(),
                instance: audits.fetch_add(1, Ordering::Relaxed),
            })
            .instances(INSTANCES),
        )
        .service_spec(
            ServiceSpec::new(move || Billing {
                log: billing_log.clone(),
                instance: billings.fetch_add(1, Ordering::Relaxed),
            })
            .instances(INSTANCES),
        )
        .bridge(bridge(broker).attach())
        .start()
        .unwrap()
}

/// Whether, on each of `nodes`, the subscriptions named in `once` (service, subscription)
/// have received something `wanted` picks in some instance, and those in `every` in every
/// instance.
fn heard(
    log: &Log,
    nodes: &[InstanceId],
    once: &[(&str, &str)],
    every: &[(&str, &str)],
    wanted: impl Fn(&Received) -> bool,
) -> bool {
    let log = log.lock().unwrap();
    let got = |(service, subscription): &(&str, &str), node: &str, instance: Option<usize>| {
        log.iter().any(|r| {
            r.service == *service
                && r.subscription == *subscription
                && r.node == node
                && instance.is_none_or(|i| r.instance == i)
                && wanted(r)
        })
    };
    nodes.iter().all(|node| {
        let node = node.to_string();
        once.iter().all(|sub| got(sub, &node, None))
            && every
                .iter()
                .all(|sub| (0..INSTANCES).all(|i| got(sub, &node, Some(i))))
    })
}

/// The every-instance `flush` subscriptions.
const FLUSHES: [(&str, &str); 2] = [("Audit", "flush"), ("Billing", "flush")];

/// Emits 200 ticks from `emitter` to the two subscriber nodes and checks what each
/// handler got. The emitter may be one of the subscriber nodes.
async fn each_subscriber_gets_each_event_once(emit_from_subscriber: bool) {
    let broker = Mosquitto::start().unwrap();
    let log: Log = Arc::default();
    let nodes = [
        subscriber_node(&broker, &log),
        subscriber_node(&broker, &log),
    ];
    let ids = [nodes[0].instance_id(), nodes[1].instance_id()];
    let outsider = Node::builder()
        .bridge(bridge(&broker).attach())
        .start()
        .unwrap();
    let emitter = if emit_from_subscriber {
        nodes[0].client()
    } else {
        outsider.client()
    };

    // Warm up until both nodes' subscriptions are in place at the broker: each share group
    // has given each node a probe, and every instance has had an every-instance probe.
    let mut probe = PROBE;
    let ready = eventually_async(DEADLINE, async || {
        emitter.emit::<Tick>(probe);
        emitter.emit::<Flush>(probe);
        probe += 1;
        heard(
            &log,
            &ids,
            &[("Audit", "once"), ("Billing", "once")],
            &[("Audit", "everywhere"), FLUSHES[0], FLUSHES[1]],
            |r| r.number >= PROBE,
        )
    })
    .await;
    assert!(ready, "subscriptions never all took effect");

    for n in 0..EVENTS {
        emitter.emit::<Tick>(n);
    }
    emitter.emit::<Flush>(DONE);
    let flushed = eventually_async(DEADLINE, async || {
        heard(&log, &ids, &[], &FLUSHES, |r| r.number == DONE)
    })
    .await;

    let log = log.lock().unwrap().clone();
    // (service, subscription, node, instance) → how often each counted number arrived.
    let mut counts: BTreeMap<(&str, &str, String, usize), BTreeMap<u64, usize>> = BTreeMap::new();
    for r in log.iter().filter(|r| r.number < EVENTS) {
        *counts
            .entry((
                r.service,
                r.subscription.as_str(),
                r.node.clone(),
                r.instance,
            ))
            .or_default()
            .entry(r.number)
            .or_default() += 1;
    }
    for ((service, subscription, node, instance), numbers) in &counts {
        println!(
            "{service}/{subscription} on node {} instance {instance}: {} events",
            &node[..8],
            numbers.values().sum::<usize>()
        );
    }
    assert!(flushed, "the final flush did not reach every instance");

    for service in ["Audit", "Billing"] {
        // Once per service: over all instances on both nodes, each number exactly once.
        let mut once: BTreeMap<u64, usize> = BTreeMap::new();
        for ((s, sub, _, _), numbers) in &counts {
            if *s == service && *sub == "once" {
                for (n, c) in numbers {
                    *once.entry(*n).or_default() += c;
                }
            }
        }
        let missing: Vec<u64> = (0..EVENTS).filter(|n| !once.contains_key(n)).collect();
        let twice: Vec<(u64, usize)> = once
            .iter()
            .filter(|(_, c)| **c > 1)
            .map(|(n, c)| (*n, *c))
            .collect();
        assert!(
            missing.is_empty() && twice.is_empty(),
            "{service}/once: missing {missing:?}, more than once {twice:?}"
        );
        for node in &ids {
            let node = node.to_string();
            let on_node: usize = counts
                .iter()
                .filter(|((s, sub, n, _), _)| *s == service && *sub == "once" && *n == node)
                .map(|(_, numbers)| numbers.values().sum::<usize>())
                .sum();
            assert!(
                on_node > 0,
                "{service}/once: node {node} got none, the share group did not spread"
            );
        }
    }

    // Every instance: each of the four Audit instances got each number exactly once.
    for node in &ids {
        for instance in 0..INSTANCES {
            let key = ("Audit", "everywhere", node.to_string(), instance);
            let numbers = counts.get(&key).cloned().unwrap_or_default();
            let missing: Vec<u64> = (0..EVENTS).filter(|n| !numbers.contains_key(n)).collect();
            let twice: Vec<u64> = numbers
                .iter()
                .filter(|(_, c)| **c > 1)
                .map(|(n, _)| *n)
                .collect();
            assert!(
                missing.is_empty() && twice.is_empty(),
                "Audit/everywhere on {node} instance {instance}: missing {missing:?}, more than once {twice:?}"
            );
        }
    }
    let stray: Vec<&Received> = log
        .iter()
        .filter(|r| r.number < EVENTS && r.subscription == "flush")
        .collect();
    assert!(stray.is_empty(), "ticks delivered as flushes: {stray:?}");
}

#[actix::test]
async fn each_subscriber_service_gets_each_event_once_from_an_outside_node() {
    each_subscriber_gets_each_event_once(false).await;
}

#[actix::test]
async fn each_subscriber_service_gets_each_event_once_from_a_subscriber_node() {
    each_subscriber_gets_each_event_once(true).await;
}
