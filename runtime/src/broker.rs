//! The local broker: how a command reaches the instance that handles it and how an event
//! reaches its subscribers, inside one node. Both read the routing table and send straight to
//! the chosen mailbox.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use actix::dev::RecipientRequest;
use actix::MailboxError;
use futures_util::future::BoxFuture;

use crate::contract::CommandContract;
use crate::deadline::Deadline;
use crate::envelope::MessageType;
use crate::error::Violation;
use crate::error::{CommandError, Status};
use crate::metadata::{Address, Metadata};
use crate::node::{InFlight, Shared};
use crate::routing::{decode, CommandKey, EventMessage, EventPayload, JsonCommand, Lookup};
use crate::service::Invocation;
use crate::text::Id;

/// Runs command `C` on one instance and waits for its answer, at most `timeout`.
///
/// Every call ends: with the handler's output or error; 400 when the contract's validation
/// refuses the input; 500 when the handler panicked or its instance stopped; 502 at once when
/// no instance handles the command; 503 while the node drains; 504 at the deadline. After a
/// success the contract's success event, if it has one, goes to the subscribers.
///
/// The command is in the instance's mailbox when this returns; the [`Call`] waits for the
/// answer.
pub(crate) fn dispatch<C: CommandContract>(
    shared: &Arc<Shared>,
    meta: Box<Metadata>,
    payload: C::Payload,
    parameter: C::Parameter,
    timeout: Duration,
    publish_success: bool,
) -> Call<C> {
    if let Err(violations) = C::validate(&payload, &parameter) {
        return Call::ready(Err(CommandError::invalid("payload", violations)));
    }
    let in_flight = shared.enter_owned();
    let elsewhere = meta
        .receiver
        .as_ref()
        .and_then(|r| r.instance_id)
        .is_some_and(|instance| instance != shared.instance_id);
    if elsewhere {
        return dispatch_remote::<C>(shared, in_flight, &meta, payload, parameter, timeout);
    }
    let span = tracing::debug_span!(
        "command",
        service = C::SERVICE,
        command = C::COMMAND,
        correlation_id = tracing::field::Empty,
        trace_id = %meta.trace_id,
    );
    if !span.is_disabled() {
        if let Some(id) = &meta.correlation_id {
            span.record("correlation_id", tracing::field::display(id));
        }
    }
    let success = C::SUCCESS_EVENT
        .filter(|_| publish_success)
        .map(|event| Box::new(success_event_meta::<C>(shared, &meta, event)));

    // The table's read guard lives only in this block: nothing is held across an await.
    let request = {
        match shared.routes.command::<C>() {
            Lookup::Typed(route) => match route.pick() {
                Some(instance) => Ok(instance.send(Invocation {
                    payload,
                    parameter,
                    meta,
                    shared: shared.clone(),
                    span: span.clone(),
                })),
                None => Err((None, payload, parameter, meta)),
            },
            Lookup::Json(route) => Err((Some(route), payload, parameter, meta)),
            Lookup::Missing => Err((None, payload, parameter, meta)),
        }
    };
    match request {
        Ok(request) => Call::Local {
            local: Local {
                request,
                deadline: Deadline::after(timeout),
                timeout,
                success,
                span,
                in_flight: Some(in_flight),
            },
        },
        Err((Some(route), payload, parameter, meta)) => {
            let shared = shared.clone();
            Call::boxed(async move {
                let _in_flight = in_flight;
                dispatch_json::<C>(
                    &shared,
                    route,
                    *meta,
                    payload,
                    parameter,
                    timeout,
                    publish_success,
                )
                .await
            })
        }
        Err((None, payload, parameter, meta)) => {
            dispatch_remote::<C>(shared, in_flight, &meta, payload, parameter, timeout)
        }
    }
}

type Answer<C> = Result<<C as CommandContract>::Output, CommandError>;

pin_project_lite::pin_project! {
    /// A command on its way: the answer of an instance here, or any other route (JSON,
    /// bridge, an error known at once).
    #[project = CallProjection]
    pub(crate) enum Call<C: CommandContract> {
        /// In the mailbox of an instance of this node.
        Local { #[pin] local: Local<C> },
        /// Through JSON, through the bridge, or already decided.
        Other { other: BoxFuture<'static, Answer<C>> },
    }
}

pin_project_lite::pin_project! {
    /// A command in a local mailbox, against its deadline.
    pub(crate) struct Local<C: CommandContract> {
        #[pin]
        request: RecipientRequest<Invocation<C>>,
        deadline: Deadline,
        timeout: Duration,
        success: Option<Box<Metadata>>,
        span: tracing::Span,
        // Taken when the answer is in: the call counts as in flight until then.
        in_flight: Option<InFlight<Arc<Shared>>>,
    }

    impl<C: CommandContract> PinnedDrop for Local<C> {
        fn drop(this: Pin<&mut Self>) {
            let this = this.project();
            // A caller that stops waiting takes its deadline out.
            if let Some(in_flight) = this.in_flight {
                this.deadline.clear(&in_flight.0.deadlines);
            }
        }
    }
}

impl<C: CommandContract> Call<C> {
    pub(crate) fn ready(answer: Answer<C>) -> Self {
        Call::boxed(std::future::ready(answer))
    }

    fn boxed(future: impl Future<Output = Answer<C>> + Send + 'static) -> Self {
        Call::Other {
            other: Box::pin(future),
        }
    }
}

impl<C: CommandContract> Future for Call<C> {
    type Output = Answer<C>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Answer<C>> {
        match self.project() {
            CallProjection::Local { local } => local.poll(cx),
            CallProjection::Other { other } => other.as_mut().poll(cx),
        }
    }
}

impl<C: CommandContract> Future for Local<C> {
    type Output = Answer<C>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Answer<C>> {
        let this = self.project();
        let Some(shared) = this.in_flight.as_ref().map(|i| &i.0) else {
            return Poll::Ready(Err(CommandError::internal()));
        };
        let result = match this.request.poll(cx) {
            Poll::Ready(result) => Ok(result),
            Poll::Pending => match this.deadline.poll(&shared.deadlines, cx) {
                Poll::Ready(()) => Err(()),
                Poll::Pending => return Poll::Pending,
            },
        };
        this.deadline.clear(&shared.deadlines);
        let Some(in_flight) = this.in_flight.take() else {
            return Poll::Ready(Err(CommandError::internal()));
        };
        let outcome = match result {
            Ok(answer) => from_mailbox(answer, *this.timeout),
            Err(()) => Err(timed_out(*this.timeout)),
        };
        if let Err(err) = &outcome {
            if err.status == Status::INTERNAL_SERVER_ERROR && !err.handled {
                this.span.in_scope(|| {
                    tracing::warn!("no answer: the handler panicked or its instance stopped")
                });
            }
        }
        if let (Ok(output), Some(meta)) = (&outcome, this.success.take()) {
            publish(
                &in_flight.0,
                EventMessage {
                    meta: Arc::from(meta),
                    payload: EventPayload::typed(output.clone()),
                },
            );
        }
        drop(in_flight);
        this.span.in_scope(|| match &outcome {
            Ok(_) => tracing::trace!("command succeeded"),
            Err(err) => {
                tracing::debug!(status = err.status.code(), message = %err.message, "command failed")
            }
        });
        Poll::Ready(outcome)
    }
}

/// What a caller gets from a mailbox request that ran against a deadline.
pub(crate) fn answer<T>(
    result: Result<Result<Result<T, CommandError>, MailboxError>, tokio::time::error::Elapsed>,
    timeout: Duration,
) -> Result<T, CommandError> {
    match result {
        Ok(answer) => from_mailbox(answer, timeout),
        Err(_) => Err(timed_out(timeout)),
    }
}

/// What a caller gets from a mailbox request.
fn from_mailbox<T>(
    answer: Result<Result<T, CommandError>, MailboxError>,
    timeout: Duration,
) -> Result<T, CommandError> {
    match answer {
        Ok(answer) => answer,
        // The handler panicked (its reply was dropped) or the instance stopped.
        Err(MailboxError::Closed) => Err(CommandError::internal()),
        Err(MailboxError::Timeout) => Err(timed_out(timeout)),
    }
}

/// The command is handled here, but not as `C` (another Rust type of the same contract, or a
/// JSON handler): cross over through JSON.
async fn dispatch_json<C: CommandContract>(
    shared: &Arc<Shared>,
    route: Arc<dyn JsonCommand>,
    meta: Metadata,
    payload: C::Payload,
    parameter: C::Parameter,
    timeout: Duration,
    publish_success: bool,
) -> Result<C::Output, CommandError> {
    let (payload, parameter) = to_json::<C>(payload, parameter)?;
    let output = route
        .invoke(
            shared.clone(),
            meta,
            payload,
            parameter,
            timeout,
            publish_success,
        )
        .await?;
    decode_output::<C>(output)
}

/// No instance here handles the command, or it names another node's instance: the bridge
/// takes it to whichever node does, if the node has a bridge.
///
/// The command is handed to the bridge here; what is boxed is only the wait for its answer,
/// so the future stays a few words, not the command with its metadata.
fn dispatch_remote<C: CommandContract>(
    shared: &Arc<Shared>,
    in_flight: InFlight<Arc<Shared>>,
    meta: &Metadata,
    payload: C::Payload,
    parameter: C::Parameter,
    timeout: Duration,
) -> Call<C> {
    let Some(bridge) = shared.bridge() else {
        return Call::ready(Err(no_instance(&CommandKey::of::<C>())));
    };
    let (payload, parameter) = match to_json::<C>(payload, parameter) {
        Ok(json) => json,
        Err(err) => return Call::ready(Err(err)),
    };
    let command = crate::bridge::command_envelope(meta, payload, parameter);
    let answer = bridge.invoke(command, timeout);
    Call::boxed(async move {
        let _in_flight = in_flight;
        decode_output::<C>(answer.await?)
    })
}

fn to_json<C: CommandContract>(
    payload: C::Payload,
    parameter: C::Parameter,
) -> Result<(serde_json::Value, serde_json::Value), CommandError> {
    match (
        serde_json::to_value(payload),
        serde_json::to_value(parameter),
    ) {
        (Ok(p), Ok(q)) => Ok((p, q)),
        (Err(err), _) | (_, Err(err)) => Err(CommandError::invalid(
            "payload",
            vec![Violation::new(Vec::<String>::new(), err.to_string())],
        )),
    }
}

/// An output that came back as JSON, as the contract's type; one that does not fit is the
/// service's fault (500), not the caller's.
fn decode_output<C: CommandContract>(output: serde_json::Value) -> Result<C::Output, CommandError> {
    decode::<C::Output>("output", output).map_err(|err| CommandError {
        status: Status::INTERNAL_SERVER_ERROR,
        handled: false,
        ..err
    })
}

pub(crate) fn no_instance(key: &CommandKey) -> CommandError {
    CommandError::unhandled(Status::BAD_GATEWAY, format!("no instance handles {key}"))
}

pub(crate) fn timed_out(timeout: Duration) -> CommandError {
    CommandError::unhandled(
        Status::GATEWAY_TIMEOUT,
        format!("invocation timed out after {} ms", timeout.as_millis()),
    )
}

/// The metadata of `C`'s success event: sent by the service, in the command's trace, for its
/// principal and tenant.
fn success_event_meta<C: CommandContract>(
    shared: &Shared,
    command: &Metadata,
    event: &'static str,
) -> Metadata {
    Metadata {
        message_type: MessageType::CommandSuccessResponse,
        id: Id::random(),
        correlation_id: command.correlation_id.clone(),
        trace_id: command.trace_id.clone(),
        principal_id: command.principal_id.clone(),
        tenant_id: command.tenant_id.clone(),
        event_name: Some(event.into()),
        sender: Address::new(C::SERVICE, C::VERSION, C::COMMAND).on_instance(shared.instance_id),
        receiver: Some(command.sender.clone()),
        timestamp_ms: crate::metadata::now_ms(),
    }
}

/// Hands `event` to every subscription whose filter passes it: one instance of each
/// subscribing service, or all of them for every-instance subscriptions. Returns how many
/// instances got it.
///
/// With a bridge, the event goes to the bridge instead, which brings it back to the local
/// subscribers along with the remote ones (returns 0).
pub(crate) fn publish(shared: &Arc<Shared>, event: EventMessage) -> usize {
    if let Some(bridge) = shared.bridge() {
        match event.payload.to_json() {
            Ok(payload) => bridge.publish(crate::bridge::event_envelope(&event.meta, payload)),
            Err(why) => {
                shared.stats.count_undelivered();
                tracing::warn!(event = ?event.meta.event_name, reason = %why, "event payload does not serialize");
            }
        }
        return 0;
    }
    deliver_locally(shared, &event)
}

/// Hands `event` to the local subscriptions whose filter passes it.
fn deliver_locally(shared: &Arc<Shared>, event: &EventMessage) -> usize {
    let mut delivered = 0;
    shared
        .routes
        .for_each_subscription(event.meta.event_name.as_ref(), |route| {
            if !route.subscription.filter().matches(&event.meta) {
                return;
            }
            match route.deliver(event, shared) {
                Ok(n) => delivered += n,
                Err(why) => {
                    shared.stats.count_undelivered();
                    tracing::warn!(
                        subscriber = %route.subscriber.service_name,
                        subscription = %route.subscriber.service_target,
                        event = ?event.meta.event_name,
                        reason = %why,
                        "event not delivered"
                    );
                }
            }
        });
    delivered
}
