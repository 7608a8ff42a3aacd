#![doc = include_str!("../README.md")]
//!
//! # Layout
//!
//! The modules follow a message's path. [`envelope`] and [`codec`] are the wire: PURISTA's
//! JSON envelope and the two encodings of it. `contract` names commands and events as types;
//! `service` turns an actix actor into a service that receives [`Invocation`]s and
//! [`Delivery`]s; `routing` is the node's table of mailboxes and subscriptions and `broker`
//! moves commands and events through it; `instance` runs and supervises each service actor;
//! `node` starts and stops all of it; `client` is how handlers and the host app call in;
//! `lifecycle` tells the host app and the bridges what starts and stops.
#![forbid(unsafe_code)]

mod bridge;
mod broker;
mod client;
pub mod codec;
mod contract;
mod deadline;
pub mod envelope;
mod error;
mod instance;
mod lifecycle;
mod metadata;
mod node;
mod routing;
mod service;
mod subscription;
mod text;

pub use actix;

/// The repository's README, whose example must compile and run too.
#[cfg(doctest)]
#[doc = include_str!("../../README.md")]
struct RepositoryReadme;
pub use bridge::{Bridge, BridgeLink, InboundError, LocalSubscription};
pub use client::{Client, Invoke, InvokeFuture, InvokeJson, SERVICE_TARGET};
pub use contract::{CommandContract, Data, Empty, EventContract};
pub use error::{CommandError, Error, Status, Violation};
pub use lifecycle::{
    BridgeConnected, BridgeDisconnected, InfoMessages, ServiceStarted, ServiceStopped,
};
pub use metadata::{Address, Metadata};
pub use node::{
    Node, NodeBuilder, NodeStats, ServiceSpec, ShutdownReport, DEFAULT_MAILBOX_CAPACITY,
    DEFAULT_SHUTDOWN_GRACE, DEFAULT_TIMEOUT,
};
pub use routing::{CommandKey, JsonInvocation};
pub use service::{CommandResult, Delivery, Invocation, Registrar, Service};
pub use subscription::{Filter, Subscription};
pub use text::{Id, InstanceId, InstanceIdError, Text};
