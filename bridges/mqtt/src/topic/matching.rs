//! Matching: MQTT's wildcard rules for a filter against a topic, and the exact checks a
//! receiver makes on the envelope, because snake_case topics can match by collision.

use tributary::envelope::{Envelope, MessageType};
use tributary::InstanceId;

use super::EventFilterSpec;

/// Whether the broker delivers a publish to `topic` through a subscription to `filter`,
/// by MQTT 5's rules (§4.7).
///
/// `$share/<group>/` in front of the filter is removed first (a malformed one matches
/// nothing). `+` matches one level, empty ones included; `#`, only as the last level,
/// matches any number of levels, none included (`a/#` matches `a`). A topic starting with
/// `$` is not matched by a filter starting with a wildcard. A topic holding a wildcard
/// matches nothing.
pub fn topic_matches(filter: &str, topic: &str) -> bool {
    let filter = match filter.strip_prefix("$share/") {
        Some(shared) => match shared.split_once('/') {
            Some((group, filter)) if !group.is_empty() => filter,
            _ => return false,
        },
        None => filter,
    };
    if filter.is_empty() || topic.is_empty() || topic.contains(['+', '#']) {
        return false;
    }
    if topic.starts_with('$') && filter.starts_with(['+', '#']) {
        return false;
    }
    let mut topic_levels = topic.split('/');
    let mut filter_levels = filter.split('/').peekable();
    while let Some(wanted) = filter_levels.next() {
        if wanted == "#" {
            return filter_levels.peek().is_none();
        }
        match topic_levels.next() {
            Some(level) if wanted == "+" || wanted == level => {}
            _ => return false,
        }
    }
    topic_levels.next().is_none()
}

/// Whether `envelope` is a command for exactly `command` of `service` `version`: the names
/// compared as they are, not in snake_case, so `my-service` does not take a command for
/// `myService` that arrived on the same topic.
///
/// The receiver instance is not looked at: a command that came through
/// [`command_filter_shared`](super::command_filter_shared) must also name no instance
/// (`receiver.instance_id` is `None`; a literal `"none"` collides with that topic level),
/// one that came through [`command_filter_instance`](super::command_filter_instance) must
/// pass [`is_addressed_to`].
pub fn command_is_for(envelope: &Envelope, service: &str, version: &str, command: &str) -> bool {
    envelope.message_type == MessageType::Command
        && envelope.receiver.as_ref().is_some_and(|receiver| {
            receiver.service_name == service
                && receiver.service_version == version
                && receiver.service_target == command
        })
}

/// Whether `envelope` names exactly `instance` as its receiver instance.
///
/// Snake_case keeps our lowercase-hex instance ids apart, but a peer's instance id in
/// another form (`A1B2…`) can share our topic level.
pub fn is_addressed_to(envelope: &Envelope, instance: &InstanceId) -> bool {
    envelope
        .receiver
        .as_ref()
        .and_then(|receiver| receiver.instance_id.as_deref())
        == Some(instance.as_str())
}

/// Whether `envelope` is a response (success or error) to a command that `instance` sent:
/// what a message that came through [`response_filter`](super::response_filter) must be.
pub fn response_is_for(envelope: &Envelope, instance: &InstanceId) -> bool {
    matches!(
        envelope.message_type,
        MessageType::CommandSuccessResponse | MessageType::CommandErrorResponse
    ) && is_addressed_to(envelope, instance)
}

/// Whether `envelope` is an event: a custom message, or the success response of a command
/// that has a success event (it carries `eventName`).
pub fn is_event(envelope: &Envelope) -> bool {
    match envelope.message_type {
        MessageType::CustomMessage => true,
        MessageType::CommandSuccessResponse => envelope.event_name.is_some(),
        _ => false,
    }
}

/// Whether `envelope` is an event ([`is_event`]) that `spec` selects, each set field compared
/// exactly: what a message that came through [`event_filter`](super::event_filter) must
/// pass. The filter's snake_case levels let through collisions (`tenant-7` and `tenant_7`)
/// and, without a message type, commands and error responses that carry the event name;
/// this drops them. `spec.shared` plays no part.
pub fn event_matches(envelope: &Envelope, spec: &EventFilterSpec) -> bool {
    fn same(wanted: &Option<String>, actual: Option<&str>) -> bool {
        wanted
            .as_deref()
            .is_none_or(|wanted| actual == Some(wanted))
    }
    let sender = &envelope.sender;
    is_event(envelope)
        && spec
            .message_type
            .is_none_or(|wanted| wanted == envelope.message_type)
        && same(&spec.event_name, envelope.event_name.as_deref())
        && same(&spec.sender_name, Some(&sender.service_name))
        && same(&spec.sender_version, Some(&sender.service_version))
        && same(&spec.sender_target, Some(&sender.service_target))
        && same(&spec.principal_id, envelope.principal_id.as_deref())
        && same(&spec.tenant_id, envelope.tenant_id.as_deref())
}

#[cfg(test)]
mod tests {
    use serde_json::json;
    use tributary::envelope::{ErrorPayload, ServiceAddress};

    use super::*;

    #[test]
    fn wildcards() {
        for (filter, topic, matches) in [
            ("a/b/c", "a/b/c", true),
            ("a/b/c", "a/b", false),
            ("a/b", "a/b/c", false),
            ("a/+/c", "a/b/c", true),
            ("a/+/c", "a//c", true),
            ("a/+", "a/b/c", false),
            ("+/+", "/b", true),
            ("a/#", "a", true),
            ("a/#", "a/b/c", true),
            ("#", "a/b", true),
            ("a/#/c", "a/b/c", false),
            ("+", "$SYS", false),
            ("#", "$SYS/x", false),
            ("$SYS/#", "$SYS/x", true),
            ("$share/g/a/+", "a/b", true),
            ("$share/g/a/+", "$share/g/a/b", false),
            ("$share//a/+", "a/b", false),
            ("$share/g", "g", false),
            ("a/+", "a/+", false),
            ("", "", false),
        ] {
            assert_eq!(topic_matches(filter, topic), matches, "{filter} ~ {topic}");
        }
    }

    fn command(service: &str) -> Envelope {
        Envelope::command(
            ServiceAddress::new("Gateway", "1", "httpPost").with_instance_id("a".repeat(32)),
            ServiceAddress::new(service, "1", "createUser"),
            json!({}),
            json!({}),
        )
    }

    fn instance(digit: char) -> InstanceId {
        digit
            .to_string()
            .repeat(32)
            .parse()
            .expect("32 lowercase hex")
    }

    #[test]
    fn commands_are_checked_by_exact_name() {
        let envelope = command("myService");
        assert!(command_is_for(&envelope, "myService", "1", "createUser"));
        assert!(!command_is_for(&envelope, "my-service", "1", "createUser"));
        assert!(!command_is_for(&envelope, "myService", "2", "createUser"));
        assert!(!command_is_for(&envelope, "myService", "1", "create_user"));
        let response = envelope.success_response(
            ServiceAddress::new("myService", "1", "createUser").with_instance_id("b".repeat(32)),
            None,
        );
        assert!(!command_is_for(&response, "Gateway", "1", "httpPost"));
    }

    #[test]
    fn responses_are_checked_by_exact_instance() {
        let mut envelope = command("UserService");
        let responder =
            ServiceAddress::new("UserService", "1", "createUser").with_instance_id("b".repeat(32));
        let success = envelope.success_response(responder.clone(), None);
        let error = envelope.error_response(responder, true, ErrorPayload::new(409, "taken"));
        for response in [&success, &error] {
            assert!(response_is_for(response, &instance('a')));
            assert!(!response_is_for(response, &instance('b')));
        }
        let mut other_form = success.clone();
        if let Some(receiver) = other_form.receiver.as_mut() {
            receiver.instance_id = Some("A".repeat(32));
        }
        assert!(!response_is_for(&other_form, &instance('a')));
        // A targeted command is addressed to its instance, but it is not a response.
        if let Some(receiver) = envelope.receiver.as_mut() {
            receiver.instance_id = Some("c".repeat(32));
        }
        assert!(is_addressed_to(&envelope, &instance('c')));
        assert!(!response_is_for(&envelope, &instance('c')));
    }

    #[test]
    fn events_are_checked_by_exact_fields() {
        let sender =
            ServiceAddress::new("UserService", "1", "notifyAll").with_instance_id("b".repeat(32));
        let mut event = Envelope::custom_message(sender, "broadcastSent", None);
        event.tenant_id = Some("tenant-7".to_owned());
        let spec = |tenant: &str| EventFilterSpec {
            event_name: Some("broadcastSent".to_owned()),
            tenant_id: Some(tenant.to_owned()),
            ..EventFilterSpec::default()
        };
        assert!(event_matches(&event, &spec("tenant-7")));
        assert!(!event_matches(&event, &spec("tenant_7")));
        assert!(event_matches(&event, &EventFilterSpec::default()));
        let success_only = EventFilterSpec {
            message_type: Some(MessageType::CommandSuccessResponse),
            ..EventFilterSpec::default()
        };
        assert!(!event_matches(&event, &success_only));

        // A command that carries an event name is not an event.
        let mut with_event_name = command("UserService");
        with_event_name.event_name = Some("broadcastSent".to_owned());
        assert!(!is_event(&with_event_name));
        assert!(!event_matches(
            &with_event_name,
            &EventFilterSpec::default()
        ));
    }
}
