//! Contracts: what a command or an event is, as types. Callers invoke by contract and get the
//! typed output back; strings exist only at the wire.

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::error::Violation;

/// What may travel in a message: serializable both ways, cheap to share between threads.
///
/// Implemented for every type that qualifies.
pub trait Data: Serialize + DeserializeOwned + Clone + Send + Sync + 'static {}

impl<T> Data for T where T: Serialize + DeserializeOwned + Clone + Send + Sync + 'static {}

/// A command: a named request to one service, answered with an output or a [`CommandError`].
///
/// The implementing type is only a name for the contract; it is never instantiated.
///
/// ```
/// use serde::{Deserialize, Serialize};
/// use tributary::{CommandContract, Empty};
///
/// #[derive(Clone, Serialize, Deserialize)]
/// pub struct NewUser { pub name: String }
/// #[derive(Clone, Serialize, Deserialize)]
/// #[serde(rename_all = "camelCase")]
/// pub struct Created { pub user_id: String }
///
/// pub struct CreateUser;
/// impl CommandContract for CreateUser {
///     const SERVICE: &'static str = "UserService";
///     const VERSION: &'static str = "1";
///     const COMMAND: &'static str = "createUser";
///     const SUCCESS_EVENT: Option<&'static str> = Some("userCreated");
///     type Payload = NewUser;
///     type Parameter = Empty;
///     type Output = Created;
/// }
/// ```
///
/// [`CommandError`]: crate::CommandError
pub trait CommandContract: 'static {
    /// The service that handles the command.
    const SERVICE: &'static str;
    /// The service's version.
    const VERSION: &'static str;
    /// The command's name (PURISTA's `serviceTarget` of the receiver).
    const COMMAND: &'static str;
    /// The event emitted with the output as payload after every successful call, if any.
    const SUCCESS_EVENT: Option<&'static str> = None;
    /// What the caller sends.
    type Payload: Data;
    /// Options that go with the payload (PURISTA's `parameter`); [`Empty`] for none.
    type Parameter: Data;
    /// What a successful call returns.
    type Output: Data;

    /// Checks what the types cannot: a violation answers the call with a 400 error naming
    /// what failed, before any handler runs. Accepts everything by default.
    fn validate(
        _payload: &Self::Payload,
        _parameter: &Self::Parameter,
    ) -> Result<(), Vec<Violation>> {
        Ok(())
    }
}

/// An event: a named message a service publishes, for subscribers to receive.
///
/// A command's success event is an event contract whose payload is the command's output.
pub trait EventContract: 'static {
    /// The event's name (PURISTA's `eventName`).
    const EVENT: &'static str;
    /// What the event carries.
    type Payload: Data;
}

/// A payload or parameter with no fields: written `{}` on the wire, as PURISTA writes an empty
/// parameter.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Empty {}
