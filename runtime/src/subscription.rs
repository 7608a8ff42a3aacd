//! Subscriptions: which events a service receives. A [`Filter`] compares exactly; a field left
//! unset matches anything.

use crate::contract::EventContract;
use crate::envelope::MessageType;
use crate::metadata::Metadata;
use crate::text::Text;

/// Which events pass: each set field must equal the event's; unset fields match anything.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Filter {
    /// The event's name.
    pub event_name: Option<Text>,
    /// The kind of message that carried the event: `commandSuccessResponse` for success
    /// events, `customMessage` for custom ones.
    pub message_type: Option<MessageType>,
    /// The sending service's name.
    pub sender_name: Option<Text>,
    /// The sending service's version.
    pub sender_version: Option<Text>,
    /// The sending command (or subscription).
    pub sender_target: Option<Text>,
    /// The principal the event acts for.
    pub principal_id: Option<Text>,
    /// The tenant the event belongs to.
    pub tenant_id: Option<Text>,
}

impl Filter {
    /// Whether an event with this metadata passes.
    pub fn matches(&self, meta: &Metadata) -> bool {
        fn same(want: &Option<Text>, have: Option<&str>) -> bool {
            want.as_deref().is_none_or(|w| have == Some(w))
        }
        same(&self.event_name, meta.event_name())
            && self.message_type.is_none_or(|t| t == meta.message_type())
            && same(&self.sender_name, Some(&meta.sender.service_name))
            && same(&self.sender_version, Some(&meta.sender.service_version))
            && same(&self.sender_target, Some(&meta.sender.service_target))
            && same(&self.principal_id, meta.principal_id())
            && same(&self.tenant_id, meta.tenant_id())
    }
}

/// A subscription of a service: a name (its target, for logs and for broker share groups), a
/// [`Filter`], and whether one instance or every instance of the service gets each event.
#[derive(Debug, Clone)]
pub struct Subscription {
    pub(crate) name: Text,
    pub(crate) filter: Filter,
    pub(crate) every_instance: bool,
}

impl Subscription {
    /// Events named `E::EVENT`, from anyone, one instance each; named after the event.
    pub fn to<E: EventContract>() -> Self {
        Subscription {
            name: Text::from_static(E::EVENT),
            filter: Filter {
                event_name: Some(Text::from_static(E::EVENT)),
                ..Filter::default()
            },
            every_instance: false,
        }
    }

    /// Names the subscription (its service target); two subscriptions of one service need
    /// different names.
    pub fn named(mut self, name: impl Into<Text>) -> Self {
        self.name = name.into();
        self
    }

    /// Every instance of the service receives each event, not just one.
    pub fn every_instance(mut self) -> Self {
        self.every_instance = true;
        self
    }

    /// Any event name: events whose payload does not decode as the contract's are dropped
    /// and counted.
    pub fn any_event_name(mut self) -> Self {
        self.filter.event_name = None;
        self
    }

    /// Only events carried by this kind of message.
    pub fn message_type(mut self, message_type: MessageType) -> Self {
        self.filter.message_type = Some(message_type);
        self
    }

    /// Only events sent by this service.
    pub fn sender_name(mut self, name: impl Into<Text>) -> Self {
        self.filter.sender_name = Some(name.into());
        self
    }

    /// Only events sent by this version of the sending service.
    pub fn sender_version(mut self, version: impl Into<Text>) -> Self {
        self.filter.sender_version = Some(version.into());
        self
    }

    /// Only events sent by this command (or subscription) of the sending service.
    pub fn sender_target(mut self, target: impl Into<Text>) -> Self {
        self.filter.sender_target = Some(target.into());
        self
    }

    /// Only events acting for this principal.
    pub fn principal_id(mut self, principal: impl Into<Text>) -> Self {
        self.filter.principal_id = Some(principal.into());
        self
    }

    /// Only events of this tenant.
    pub fn tenant_id(mut self, tenant: impl Into<Text>) -> Self {
        self.filter.tenant_id = Some(tenant.into());
        self
    }

    /// The subscription's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Its filter.
    pub fn filter(&self) -> &Filter {
        &self.filter
    }

    /// Whether every instance receives each event.
    pub fn is_every_instance(&self) -> bool {
        self.every_instance
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metadata::Address;
    use crate::text::Id;

    fn event(name: &'static str, tenant: Option<&'static str>) -> Metadata {
        Metadata {
            message_type: MessageType::CustomMessage,
            id: Id::random(),
            correlation_id: None,
            trace_id: Id::random(),
            principal_id: Some("alice".into()),
            tenant_id: tenant.map(Text::from),
            event_name: Some(name.into()),
            sender: Address::new("sensor", "1", "read"),
            receiver: None,
            timestamp_ms: 0,
        }
    }

    #[test]
    fn unset_fields_match_anything() {
        assert!(Filter::default().matches(&event("reading", None)));
    }

    #[test]
    fn every_set_field_must_match_exactly() {
        let mut f = Filter {
            event_name: Some("reading".into()),
            sender_name: Some("sensor".into()),
            sender_version: Some("1".into()),
            sender_target: Some("read".into()),
            principal_id: Some("alice".into()),
            tenant_id: Some("t1".into()),
            message_type: Some(MessageType::CustomMessage),
        };
        assert!(f.matches(&event("reading", Some("t1"))));
        assert!(!f.matches(&event("reading", Some("t2"))));
        assert!(!f.matches(&event("reading", None)));
        assert!(!f.matches(&event("readings", Some("t1"))));
        f.message_type = Some(MessageType::CommandSuccessResponse);
        assert!(!f.matches(&event("reading", Some("t1"))));
    }
}
