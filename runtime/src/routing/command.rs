//! Command routes: the instances that handle each command, reached with a typed message or,
//! by wire address, with JSON.

use std::any::Any;
use std::marker::PhantomData;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use actix::{Addr, Handler, Message, Recipient};
use futures_util::future::BoxFuture;
use serde_json::Value;

use super::Routes;
use crate::contract::{CommandContract, Data};
use crate::error::{CommandError, Violation};
use crate::metadata::Metadata;
use crate::node::Shared;
use crate::service::{Invocation, Service};
use crate::text::Text;

/// A command's address as the wire names it: service, version, command.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct CommandKey {
    /// The service's name.
    pub service: Text,
    /// The service's version.
    pub version: Text,
    /// The command's name.
    pub command: Text,
}

impl CommandKey {
    /// The address of contract `C`.
    pub fn of<C: CommandContract>() -> Self {
        CommandKey {
            service: C::SERVICE.into(),
            version: C::VERSION.into(),
            command: C::COMMAND.into(),
        }
    }

    /// An address from its parts.
    pub fn new(
        service: impl Into<Text>,
        version: impl Into<Text>,
        command: impl Into<Text>,
    ) -> Self {
        CommandKey {
            service: service.into(),
            version: version.into(),
            command: command.into(),
        }
    }
}

impl std::fmt::Display for CommandKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}/{}", self.service, self.version, self.command)
    }
}

/// One command's route: typed for callers that have its contract type, JSON for the rest.
pub(crate) struct CommandEntry {
    /// A `CommandRoute<C>` when the command is handled as contract `C`.
    typed: Option<Box<dyn Any + Send + Sync>>,
    json: Arc<dyn JsonCommand>,
}

/// A borrowed typed route.
pub(crate) type CommandRef<'a, C> =
    dashmap::mapref::one::MappedRef<'a, CommandKey, CommandEntry, CommandRoute<C>>;

/// The instances that handle command `C`, chosen in turn.
pub(crate) struct CommandRoute<C: CommandContract> {
    instances: Box<[Recipient<Invocation<C>>]>,
    next: AtomicUsize,
}

impl<C: CommandContract> CommandRoute<C> {
    /// The next instance whose mailbox is open, in round-robin order.
    pub(crate) fn pick(&self) -> Option<&Recipient<Invocation<C>>> {
        pick(&self.instances, &self.next)
    }
}

fn pick<'a, M>(instances: &'a [Recipient<M>], next: &AtomicUsize) -> Option<&'a Recipient<M>>
where
    M: Message + Send,
    M::Result: Send,
{
    let n = instances.len();
    if n == 1 {
        return instances.first().filter(|r| r.connected());
    }
    let start = next.fetch_add(1, Ordering::Relaxed);
    (0..n)
        .map(|i| &instances[(start + i) % n])
        .find(|r| r.connected())
}

/// The route of an entry handled as `C`.
fn typed_route<C: CommandContract>(entry: &CommandEntry) -> Option<&CommandRoute<C>> {
    entry
        .typed
        .as_ref()
        .and_then(|t| t.downcast_ref::<CommandRoute<C>>())
}

/// What looking a typed command up finds.
pub(crate) enum Lookup<'a, C: CommandContract> {
    /// Handled here as `C`.
    Typed(CommandRef<'a, C>),
    /// Handled here, but not as `C`: call it with JSON.
    Json(Arc<dyn JsonCommand>),
    /// Not handled here.
    Missing,
}

impl Routes {
    /// The route of contract `C`. A typed route holds a read lock on one shard of the table:
    /// drop it before awaiting.
    pub(crate) fn command<C: CommandContract>(&self) -> Lookup<'_, C> {
        let Some(entry) = self.commands.get(&CommandKey::of::<C>()) else {
            return Lookup::Missing;
        };
        if typed_route::<C>(&entry).is_some() {
            if let Ok(route) = entry.try_map(typed_route::<C>) {
                return Lookup::Typed(route);
            }
            return Lookup::Missing;
        }
        Lookup::Json(entry.json.clone())
    }

    /// The addresses of every command routed here.
    pub(crate) fn command_keys(&self) -> Vec<CommandKey> {
        self.commands
            .iter()
            .map(|entry| entry.key().clone())
            .collect()
    }

    /// The JSON route of a wire address.
    pub(crate) fn json_command(&self, key: &CommandKey) -> Option<Arc<dyn JsonCommand>> {
        self.commands.get(key).map(|entry| entry.json.clone())
    }
}

/// How a service's command reaches its instances: made in [`Registrar::command`] or
/// [`Registrar::command_json`], installed when the service starts.
///
/// [`Registrar::command`]: crate::Registrar::command
/// [`Registrar::command_json`]: crate::Registrar::command_json
pub(crate) struct CommandBinding<A: Service> {
    pub(crate) key: CommandKey,
    route: fn(&CommandKey, &[Addr<A>]) -> CommandEntry,
}

impl<A: Service> CommandBinding<A> {
    /// Command `C`, handled as `Invocation<C>`.
    pub(crate) fn typed<C: CommandContract>() -> Self
    where
        A: Handler<Invocation<C>>,
    {
        CommandBinding {
            key: CommandKey::of::<C>(),
            route: typed_entry::<A, C>,
        }
    }

    /// Command `key`, handled as [`JsonInvocation`].
    pub(crate) fn json(key: CommandKey) -> Self
    where
        A: Handler<JsonInvocation>,
    {
        CommandBinding {
            key,
            route: json_entry::<A>,
        }
    }

    /// Routes the command to these instances.
    pub(crate) fn install(
        &self,
        routes: &Routes,
        instances: &[Addr<A>],
    ) -> Result<(), crate::Error> {
        match routes.commands.entry(self.key.clone()) {
            dashmap::Entry::Occupied(_) => {
                Err(crate::Error::DuplicateCommand(self.key.to_string()))
            }
            dashmap::Entry::Vacant(slot) => {
                slot.insert((self.route)(&self.key, instances));
                Ok(())
            }
        }
    }

    /// Points instance `index` at a new mailbox (after a restart): the route is rebuilt with
    /// the same instances but that one.
    pub(crate) fn replace(&self, routes: &Routes, instances: &[Addr<A>]) {
        routes
            .commands
            .insert(self.key.clone(), (self.route)(&self.key, instances));
    }
}

fn typed_entry<A, C>(_: &CommandKey, instances: &[Addr<A>]) -> CommandEntry
where
    A: Service + Handler<Invocation<C>>,
    C: CommandContract,
{
    let route = CommandRoute::<C> {
        instances: instances.iter().map(|a| a.clone().recipient()).collect(),
        next: AtomicUsize::new(0),
    };
    CommandEntry {
        typed: Some(Box::new(route)),
        json: Arc::new(TypedJson::<C>(PhantomData)),
    }
}

fn json_entry<A>(key: &CommandKey, instances: &[Addr<A>]) -> CommandEntry
where
    A: Service + Handler<JsonInvocation>,
{
    CommandEntry {
        typed: None,
        json: Arc::new(Dynamic {
            key: key.clone(),
            instances: instances.iter().map(|a| a.clone().recipient()).collect(),
            next: AtomicUsize::new(0),
        }),
    }
}

/// A command reached by its wire address with JSON payload and parameter.
pub(crate) trait JsonCommand: Send + Sync {
    /// Decodes payload and parameter (400 naming what failed), calls the command, encodes
    /// its output. The success event, if the command has one, is published here when
    /// `publish_success` is set; otherwise the caller carries it (a bridge sends it with the
    /// response, in one message).
    fn invoke(
        &self,
        shared: Arc<Shared>,
        meta: Metadata,
        payload: Value,
        parameter: Value,
        timeout: Duration,
        publish_success: bool,
    ) -> BoxFuture<'static, Result<Value, CommandError>>;

    /// The event a success of this command emits, if any.
    fn success_event(&self) -> Option<&'static str> {
        None
    }
}

/// A typed command called with JSON: decode, dispatch as `C`, encode.
struct TypedJson<C>(PhantomData<fn() -> C>);

impl<C: CommandContract> JsonCommand for TypedJson<C> {
    fn invoke(
        &self,
        shared: Arc<Shared>,
        meta: Metadata,
        payload: Value,
        parameter: Value,
        timeout: Duration,
        publish_success: bool,
    ) -> BoxFuture<'static, Result<Value, CommandError>> {
        let decoded = decode::<C::Payload>("payload", payload)
            .and_then(|payload| Ok((payload, decode::<C::Parameter>("parameter", parameter)?)));
        let (payload, parameter) = match decoded {
            Ok(decoded) => decoded,
            Err(err) => return Box::pin(std::future::ready(Err(err))),
        };
        // In the mailbox now; the boxed future only waits for the answer.
        let call = crate::broker::dispatch::<C>(
            &shared,
            Box::new(meta),
            payload,
            parameter,
            timeout,
            publish_success,
        );
        Box::pin(async move {
            serde_json::to_value(call.await?).map_err(|err| {
                tracing::error!(cause = %err, command = C::COMMAND, "output does not serialize");
                CommandError::internal()
            })
        })
    }

    fn success_event(&self) -> Option<&'static str> {
        C::SUCCESS_EVENT
    }
}

/// A command known only by its address, handled as [`JsonInvocation`]: for services whose
/// commands are decided at run time (a proxy, a scripting host, a load generator).
pub struct JsonInvocation {
    /// Which command was called.
    pub command: CommandKey,
    /// The payload as sent.
    pub payload: Value,
    /// The parameter as sent.
    pub parameter: Value,
    pub(crate) meta: Metadata,
    pub(crate) shared: Arc<Shared>,
}

impl Message for JsonInvocation {
    type Result = Result<Value, CommandError>;
}

impl JsonInvocation {
    /// The command's ids, trace, principal, tenant, sender and receiver.
    pub fn meta(&self) -> &Metadata {
        &self.meta
    }

    /// A client that speaks as this service and command and carries the trace, principal
    /// and tenant forward.
    pub fn client(&self) -> crate::Client {
        let me = crate::Address::new(
            self.command.service.clone(),
            self.command.version.clone(),
            self.command.command.clone(),
        )
        .on_instance(self.shared.instance_id);
        crate::Client::new(
            self.shared.clone(),
            crate::metadata::CallContext::within(&self.meta, me),
        )
    }
}

struct Dynamic {
    key: CommandKey,
    instances: Box<[Recipient<JsonInvocation>]>,
    next: AtomicUsize,
}

impl JsonCommand for Dynamic {
    fn invoke(
        &self,
        shared: Arc<Shared>,
        meta: Metadata,
        payload: Value,
        parameter: Value,
        timeout: Duration,
        _publish_success: bool,
    ) -> BoxFuture<'static, Result<Value, CommandError>> {
        let Some(instance) = pick(&self.instances, &self.next) else {
            let err = crate::broker::no_instance(&self.key);
            return Box::pin(async move { Err(err) });
        };
        let _in_flight = shared.enter_owned();
        let request = instance.send(JsonInvocation {
            command: self.key.clone(),
            payload,
            parameter,
            meta,
            shared,
        });
        Box::pin(async move {
            let _in_flight = _in_flight;
            crate::broker::answer(tokio::time::timeout(timeout, request).await, timeout)
        })
    }
}

/// Decodes a JSON value into `T`; a failure is a 400 naming the field that failed.
///
/// A value that fits is read once without tracking where the reader is (tracking copies every
/// key it passes); only a value that does not fit is read again, to name the failing field.
pub(crate) fn decode<T: Data>(what: &str, value: Value) -> Result<T, CommandError> {
    if let Ok(decoded) = T::deserialize(&value) {
        return Ok(decoded);
    }
    serde_path_to_error::deserialize(value).map_err(|err| {
        let path = err
            .path()
            .iter()
            .filter_map(|segment| match segment {
                serde_path_to_error::Segment::Seq { index } => Some(Value::from(*index)),
                serde_path_to_error::Segment::Map { key } => Some(Value::from(key.as_str())),
                serde_path_to_error::Segment::Enum { variant } => {
                    Some(Value::from(variant.as_str()))
                }
                serde_path_to_error::Segment::Unknown => None,
            })
            .collect();
        let violation = Violation {
            message: err.inner().to_string(),
            path,
        };
        CommandError::invalid(what, vec![violation])
    })
}
