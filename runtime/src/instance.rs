//! One running instance of a service: its actor, supervised.
//!
//! The actor runs in a context this module polls itself, so that a handler's panic is caught
//! where it happens: the message that panicked gets no answer (its caller sees a 500), and
//! the actor goes on with the next message in its mailbox, state and mailbox intact. Should
//! the actor keep panicking without making progress (a future of its own that panicked and is
//! polled again), the instance restarts from its factory with a fresh mailbox, and the routes
//! point at the new one. A stop request stops the actor the regular way (`stopping`,
//! `stopped`) and ends the instance.

use std::any::Any;
use std::future::Future;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::pin::Pin;
use std::sync::{Arc, Mutex, Weak};
use std::task::{Context as TaskContext, Poll};

use actix::dev::channel::{channel, AddressReceiver};
use actix::dev::ContextFut;
use actix::{ActorContext, Addr, Context};
use tokio::sync::oneshot;

use crate::client::Client;
use crate::lifecycle;
use crate::node::Shared;
use crate::service::{Registrar, Service};

/// Consecutive panics, with no poll of the actor ending normally in between, after which it
/// is restarted: far more messages than a mailbox holds in practice, all panicking.
const WEDGED_AFTER: u32 = 1000;

/// What Rust panics with when a future that panicked is polled again: the actor holds a
/// future that will never make progress.
const RESUMED_AFTER_PANIC: &str = "resumed after panicking";

/// What the node keeps of a service to run and restart its instances.
pub(crate) struct ServiceRuntime<A: Service> {
    pub(crate) factory: Box<dyn Fn(Client) -> A + Send + Sync>,
    pub(crate) registrar: Registrar<A>,
    /// The current mailbox of each instance.
    pub(crate) mailboxes: Mutex<Vec<Addr<A>>>,
    pub(crate) shared: Weak<Shared>,
    pub(crate) mailbox_capacity: usize,
}

/// The node's handle on one instance: ask it to stop, learn when it has.
pub(crate) struct InstanceHandle {
    pub(crate) stop: Option<oneshot::Sender<()>>,
    pub(crate) done: oneshot::Receiver<()>,
}

/// A mailbox made before its actor runs, so that routes can point at it first.
pub(crate) struct Mailbox<A: Service> {
    pub(crate) addr: Addr<A>,
    receiver: AddressReceiver<A>,
}

impl<A: Service> Mailbox<A> {
    pub(crate) fn new(capacity: usize) -> Self {
        let (sender, receiver) = channel::<A>(capacity);
        Mailbox {
            addr: Addr::new(sender),
            receiver,
        }
    }
}

/// Starts instance `index` on the current arbiter, or on `arbiter`, reading `mailbox`.
pub(crate) fn spawn<A: Service>(
    service: Arc<ServiceRuntime<A>>,
    index: usize,
    mailbox: Mailbox<A>,
    arbiter: Option<&actix::ArbiterHandle>,
) -> InstanceHandle {
    let (stop_tx, stop_rx) = oneshot::channel();
    let (done_tx, done_rx) = oneshot::channel();
    let receiver = mailbox.receiver;
    match arbiter {
        Some(arbiter) => {
            arbiter.spawn_fn(move || {
                actix::spawn(run(service, index, receiver, stop_rx, done_tx));
            });
        }
        None => {
            actix::spawn(run(service, index, receiver, stop_rx, done_tx));
        }
    }
    InstanceHandle {
        stop: Some(stop_tx),
        done: done_rx,
    }
}

async fn run<A: Service>(
    service: Arc<ServiceRuntime<A>>,
    index: usize,
    mut receiver: AddressReceiver<A>,
    mut stop: oneshot::Receiver<()>,
    done: oneshot::Sender<()>,
) {
    let mut stop_requested = false;
    loop {
        let mut context = Context::with_receiver(receiver);
        context.set_mailbox_capacity(service.mailbox_capacity);
        let Some(shared) = service.shared.upgrade() else {
            break;
        };
        let actor = (service.factory)(Client::of_service::<A>(shared));
        let exit = Guarded {
            context: Some(context.into_future(actor)),
            stop: &mut stop,
            stop_requested: &mut stop_requested,
            panics: 0,
            started: service.shared.upgrade().map(|s| (s.instance_id, index)),
        }
        .await;
        match exit {
            Exit::Stopped => break,
            Exit::Wedged if stop_requested => break,
            Exit::Wedged => {
                tracing::error!(
                    service = A::NAME,
                    instance = index,
                    "instance keeps panicking; restarting it"
                );
                let mailbox = Mailbox::<A>::new(service.mailbox_capacity);
                if let Some(shared) = service.shared.upgrade() {
                    let mut mailboxes = service.mailboxes.lock().unwrap_or_else(|e| e.into_inner());
                    if let Some(slot) = mailboxes.get_mut(index) {
                        *slot = mailbox.addr.clone();
                    }
                    for command in &service.registrar.commands {
                        command.replace(&shared.routes, &mailboxes);
                    }
                    for subscription in &service.registrar.subscriptions {
                        subscription.replace(&shared.routes, index, &mailbox.addr);
                    }
                }
                receiver = mailbox.receiver;
            }
        }
    }
    if let Some(shared) = service.shared.upgrade() {
        lifecycle::service_stopped::<A>(shared.instance_id, index);
    }
    let _ = done.send(());
}

enum Exit {
    /// The actor stopped.
    Stopped,
    /// The actor panicked again and again without progress.
    Wedged,
}

/// Polls an actor's context, catching panics.
struct Guarded<'a, A: Service> {
    context: Option<ContextFut<A, Context<A>>>,
    stop: &'a mut oneshot::Receiver<()>,
    stop_requested: &'a mut bool,
    panics: u32,
    /// The node and instance index to announce once the actor has started.
    started: Option<(crate::InstanceId, usize)>,
}

impl<A: Service> Future for Guarded<'_, A> {
    type Output = Exit;

    fn poll(self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<Exit> {
        let this = self.get_mut();
        let Some(context) = this.context.as_mut() else {
            return Poll::Ready(Exit::Stopped);
        };
        if !*this.stop_requested && Pin::new(&mut *this.stop).poll(cx).is_ready() {
            // A request, or the node's handle gone: stop either way.
            *this.stop_requested = true;
            context.ctx().stop();
        }
        loop {
            match catch_unwind(AssertUnwindSafe(|| Pin::new(&mut *context).poll(cx))) {
                Ok(Poll::Ready(())) => return Poll::Ready(Exit::Stopped),
                Ok(Poll::Pending) => {
                    this.panics = 0;
                    if let Some((node, index)) = this.started.take() {
                        lifecycle::service_started::<A>(node, index);
                    }
                    return Poll::Pending;
                }
                Err(panic) => {
                    this.panics += 1;
                    let message = panic_message(panic.as_ref());
                    tracing::error!(
                        service = A::NAME,
                        panic = message,
                        "handler panicked; its caller gets a 500, the instance goes on"
                    );
                    if this.panics >= WEDGED_AFTER || message.contains(RESUMED_AFTER_PANIC) {
                        let wedged = this.context.take();
                        // Dropping a context polls it one last time; that may panic too.
                        let _ = catch_unwind(AssertUnwindSafe(move || drop(wedged)));
                        return Poll::Ready(Exit::Wedged);
                    }
                }
            }
        }
    }
}

fn panic_message(panic: &(dyn Any + Send)) -> &str {
    panic
        .downcast_ref::<&str>()
        .copied()
        .or_else(|| panic.downcast_ref::<String>().map(String::as_str))
        .unwrap_or("(not a string)")
}
