//! Subscription filters for commands, responses and events, and the share groups that spread
//! them over the instances of a service.
//!
//! Every filter has the 13 levels of a publish topic; a level the receiver does not care
//! about is `+`. Names are written in [`snake_case`], like the topics they must match.

use std::fmt;
use std::str::FromStr;

use tributary::envelope::MessageType;
use tributary::{Filter, InstanceId};

use super::{check_len, filter_level, snake_case, TopicError, TopicPrefix, NONE};

/// The name of an MQTT shared subscription group: `$share/<group>/<filter>`.
///
/// The broker hands each message that matches the filter to one member of the group. MQTT 5
/// forbids `/`, `+` and `#` in the name; it must not be empty, and NUL is refused too.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ShareGroup(String);

impl ShareGroup {
    /// Checks `name` against the rules above.
    pub fn new(name: impl Into<String>) -> Result<Self, TopicError> {
        let name = name.into();
        let rule = if name.is_empty() {
            Some("is empty")
        } else if name.contains('/') {
            Some("contains `/`")
        } else if name.contains(['+', '#']) {
            Some("contains a wildcard (`+` or `#`)")
        } else if name.contains('\0') {
            Some("contains nul")
        } else {
            None
        };
        match rule {
            Some(rule) => Err(TopicError::ShareGroup { name, rule }),
            None => Ok(Self(name)),
        }
    }

    /// The group's name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromStr for ShareGroup {
    type Err = TopicError;

    fn from_str(name: &str) -> Result<Self, Self::Err> {
        Self::new(name)
    }
}

impl fmt::Display for ShareGroup {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The share group of one subscription of one service: `<service>:<version>:<subscription>`.
///
/// Each subscribing service, and each subscription in it, gets its own group, so every
/// subscribing service receives each event once (design §3 rule 3); PURISTA puts every
/// subscriber in the one group `sharedpurista`, so two services that subscribe to the same
/// event compete for it. The names are kept exact rather than snake_cased, so two services
/// whose names differ only in case or punctuation (`myService`, `my-service`) never share a
/// group: ASCII letters, digits, `_`, `-` and `.` are written as they are, every other byte
/// as `%XX`, which keeps `:` free as the separator.
pub fn share_group(service: &str, version: &str, subscription: &str) -> ShareGroup {
    group(&[service, version, subscription])
}

/// The share group of the command handlers of one service version:
/// `<service>:<version>`, written like [`share_group`]'s names.
///
/// All instances of the service version are in it, whichever commands they handle: the
/// broker keys a shared subscription on group and filter together, and the filter names the
/// command.
pub fn command_share_group(service: &str, version: &str) -> ShareGroup {
    group(&[service, version])
}

fn group(names: &[&str]) -> ShareGroup {
    let mut encoded = String::new();
    for (index, name) in names.iter().enumerate() {
        if index > 0 {
            encoded.push(':');
        }
        for byte in name.bytes() {
            if byte.is_ascii_alphanumeric() || matches!(byte, b'_' | b'-' | b'.') {
                encoded.push(char::from(byte));
            } else {
                encoded.push_str(&format!("%{byte:02X}"));
            }
        }
    }
    ShareGroup::new(encoded).expect("an encoded name holds `:` and no `/`, `+`, `#` or nul")
}

/// The filter through which a service's instances share the commands `command` of
/// `service` `version` that name no receiver instance:
/// `$share/<group>/<prefix>/command/+/+/+/+/+/+/+/none/<svc>/<ver>/<cmd>`.
///
/// PURISTA subscribes with `+` at the receiver-instance level; `none` instead keeps a
/// command for one instance (design §3 rule 2) out of the group, so that only
/// [`command_filter_instance`] of that instance takes it. Use [`command_share_group`] for
/// `group`.
///
/// # Errors
///
/// [`TopicError::Level`] if a name's snake_case is not a whole topic level.
pub fn command_filter_shared(
    prefix: &TopicPrefix,
    group: &ShareGroup,
    service: &str,
    version: &str,
    command: &str,
) -> Result<String, TopicError> {
    let filter = command_filter(prefix, NONE, service, version, command)?;
    check_len(format!("$share/{group}/{filter}"))
}

/// The filter through which one instance takes the commands `command` of `service`
/// `version` that name it as receiver instance, unshared:
/// `<prefix>/command/+/+/+/+/+/+/+/<instance>/<svc>/<ver>/<cmd>`, the instance id in
/// snake_case as topics write it.
///
/// # Errors
///
/// [`TopicError::Level`] if a name's snake_case is not a whole topic level.
pub fn command_filter_instance(
    prefix: &TopicPrefix,
    instance: &InstanceId,
    service: &str,
    version: &str,
    command: &str,
) -> Result<String, TopicError> {
    let filter = command_filter(
        prefix,
        &snake_case(instance.as_str()),
        service,
        version,
        command,
    )?;
    check_len(filter)
}

fn command_filter(
    prefix: &TopicPrefix,
    receiver_instance: &str,
    service: &str,
    version: &str,
    command: &str,
) -> Result<String, TopicError> {
    let service = filter_level("receiver.serviceName", service)?;
    let version = filter_level("receiver.serviceVersion", version)?;
    let command = filter_level("receiver.serviceTarget", command)?;
    Ok(format!(
        "{prefix}/command/+/+/+/+/+/+/+/{receiver_instance}/{service}/{version}/{command}"
    ))
}

/// The filter through which an instance receives everything addressed to it, unshared:
/// `<prefix>/+/+/+/+/+/+/+/+/<instance>/+/+/+`, the instance id in snake_case. That is the
/// responses to its commands, whatever their type, exactly as PURISTA subscribes.
///
/// Commands for this instance match too; [`command_filter_instance`] subscribes them with
/// their own handler, so a receiver checks the message type ([`response_is_for`]).
///
/// [`response_is_for`]: super::response_is_for
pub fn response_filter(prefix: &TopicPrefix, instance: &InstanceId) -> String {
    format!(
        "{prefix}/+/+/+/+/+/+/+/+/{}/+/+/+",
        snake_case(instance.as_str())
    )
}

/// Which events an event subscription wants, and whether the instances of the subscribing
/// service share them.
///
/// A field left `None` matches anything (`+` in the filter); a set one is compared on the
/// topic in snake_case by the broker, then exactly by [`event_matches`]. The sender's
/// instance and all receiver levels are always `+`.
///
/// [`event_matches`]: super::event_matches
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EventFilterSpec {
    /// The event's name (`userCreated`).
    pub event_name: Option<String>,
    /// The kind of message carrying the event: `commandSuccessResponse` for a command's
    /// success event, `customMessage` for a custom one.
    pub message_type: Option<MessageType>,
    /// The sending service's name.
    pub sender_name: Option<String>,
    /// The sending service's version.
    pub sender_version: Option<String>,
    /// The sending command or subscription.
    pub sender_target: Option<String>,
    /// The principal the event acts for.
    pub principal_id: Option<String>,
    /// The tenant of the event.
    pub tenant_id: Option<String>,
    /// The share group ([`share_group`]) when one instance of the subscribing service gets
    /// each event; `None` when every instance must.
    pub shared: Option<ShareGroup>,
}

impl EventFilterSpec {
    /// The runtime's [`Filter`], shared in `shared` or, with `None`, received by every
    /// instance.
    pub fn from_filter(filter: &Filter, shared: Option<ShareGroup>) -> Self {
        let owned = |value: &Option<tributary::Text>| value.as_deref().map(str::to_owned);
        Self {
            event_name: owned(&filter.event_name),
            message_type: filter.message_type,
            sender_name: owned(&filter.sender_name),
            sender_version: owned(&filter.sender_version),
            sender_target: owned(&filter.sender_target),
            principal_id: owned(&filter.principal_id),
            tenant_id: owned(&filter.tenant_id),
            shared,
        }
    }
}

/// The filter of an event subscription, each unset field `+`, each set one in snake_case:
///
/// ```text
/// [$share/<group>/]<prefix>/<type>/<principal>/<tenant>
///     /+/<sender>/<version>/<target>/<event>/+/+/+/+
/// ```
///
/// With an event name only and group `sharedpurista` this is PURISTA's own event filter.
/// Like PURISTA's, a filter without a message type also matches commands and responses
/// that carry the event name; [`event_matches`] drops those.
///
/// # Errors
///
/// [`TopicError::Level`] if a set field's snake_case is not a whole topic level (an empty
/// sender target, say: PURISTA's topics drop empty levels, so no filter can ask for one).
///
/// [`event_matches`]: super::event_matches
pub fn event_filter(prefix: &TopicPrefix, spec: &EventFilterSpec) -> Result<String, TopicError> {
    let level = |field: &'static str, value: Option<&str>| {
        value.map_or_else(|| Ok("+".to_owned()), |value| filter_level(field, value))
    };
    let filter = format!(
        "{prefix}/{}/{}/{}/+/{}/{}/{}/{}/+/+/+/+",
        level("messageType", spec.message_type.map(MessageType::as_str))?,
        level("principalId", spec.principal_id.as_deref())?,
        level("tenantId", spec.tenant_id.as_deref())?,
        level("sender.serviceName", spec.sender_name.as_deref())?,
        level("sender.serviceVersion", spec.sender_version.as_deref())?,
        level("sender.serviceTarget", spec.sender_target.as_deref())?,
        level("eventName", spec.event_name.as_deref())?,
    );
    check_len(match &spec.shared {
        Some(group) => format!("$share/{group}/{filter}"),
        None => filter,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn instance() -> InstanceId {
        "cf3c7e64dcfe0a5356eb1c8a08d4a905"
            .parse()
            .expect("32 lowercase hex")
    }

    #[test]
    fn share_groups_keep_names_apart() {
        assert_eq!(
            share_group("AuditService", "1", "onUserCreated").as_str(),
            "AuditService:1:onUserCreated"
        );
        assert_eq!(
            command_share_group("UserService", "1.0.0").as_str(),
            "UserService:1.0.0"
        );
        assert_ne!(
            share_group("myService", "1", "s"),
            share_group("my-service", "1", "s")
        );
        assert_ne!(share_group("a:b", "c", "d"), share_group("a", "b:c", "d"));
        assert_eq!(
            share_group("a/b+c#d", "%", "Ü").as_str(),
            "a%2Fb%2Bc%23d:%25:%C3%9C"
        );
        assert_eq!(share_group("", "", "").as_str(), "::");
    }

    #[test]
    fn share_group_rules() {
        for (bad, rule) in [
            ("", "is empty"),
            ("a/b", "contains `/`"),
            ("a+", "contains a wildcard (`+` or `#`)"),
            ("#", "contains a wildcard (`+` or `#`)"),
            ("a\0", "contains nul"),
        ] {
            assert_eq!(
                ShareGroup::new(bad),
                Err(TopicError::ShareGroup {
                    name: bad.to_owned(),
                    rule
                })
            );
        }
        assert_eq!(
            "sharedpurista".parse::<ShareGroup>().map(|g| g.to_string()),
            Ok("sharedpurista".to_owned())
        );
    }

    #[test]
    fn command_filters() {
        let prefix = TopicPrefix::default();
        let group = command_share_group("UserService", "1");
        assert_eq!(
            command_filter_shared(&prefix, &group, "UserService", "1", "createUser").as_deref(),
            Ok("$share/UserService:1/purista/command/+/+/+/+/+/+/+/none/user_service/1/create_user")
        );
        assert_eq!(
            command_filter_instance(&prefix, &instance(), "UserService", "1", "createUser")
                .as_deref(),
            Ok(
                "purista/command/+/+/+/+/+/+/+/cf3_c7_e64_dcfe0_a5356_eb1_c8_a08_d4_a905/\
                user_service/1/create_user"
            )
        );
        assert_eq!(
            command_filter_shared(&prefix, &group, "UserService", "+", "createUser"),
            Err(TopicError::Level {
                field: "receiver.serviceVersion",
                value: "+".to_owned(),
                rule: "its snake_case contains a wildcard (`+` or `#`)",
            })
        );
        assert!(command_filter_instance(&prefix, &instance(), "UserService", "1", "").is_err());
    }

    #[test]
    fn response_filter_names_the_instance() {
        assert_eq!(
            response_filter(&"edge".parse().expect("a valid prefix"), &instance()),
            "edge/+/+/+/+/+/+/+/+/cf3_c7_e64_dcfe0_a5356_eb1_c8_a08_d4_a905/+/+/+"
        );
    }

    #[test]
    fn event_filters() {
        let prefix = TopicPrefix::default();
        let all = EventFilterSpec {
            event_name: Some("userCreated".to_owned()),
            message_type: Some(MessageType::CustomMessage),
            sender_name: Some("UserService".to_owned()),
            sender_version: Some("1".to_owned()),
            sender_target: Some("createUser".to_owned()),
            principal_id: Some("principal-42".to_owned()),
            tenant_id: Some("tenant-7".to_owned()),
            shared: Some(share_group("AuditService", "1", "onUserCreated")),
        };
        assert_eq!(
            event_filter(&prefix, &all).as_deref(),
            Ok(
                "$share/AuditService:1:onUserCreated/purista/custom_message/principal_42/\
                tenant_7/+/user_service/1/create_user/user_created/+/+/+/+"
            )
        );
        assert_eq!(
            event_filter(&prefix, &EventFilterSpec::default()).as_deref(),
            Ok("purista/+/+/+/+/+/+/+/+/+/+/+/+")
        );
        let empty_target = EventFilterSpec {
            sender_target: Some(String::new()),
            ..EventFilterSpec::default()
        };
        assert!(matches!(
            event_filter(&prefix, &empty_target),
            Err(TopicError::Level {
                field: "sender.serviceTarget",
                ..
            })
        ));
    }

    #[test]
    fn a_runtime_filter_becomes_a_spec() {
        let filter = Filter {
            event_name: Some("userCreated".into()),
            tenant_id: Some("tenant-7".into()),
            ..Filter::default()
        };
        let spec = EventFilterSpec::from_filter(&filter, None);
        assert_eq!(
            spec,
            EventFilterSpec {
                event_name: Some("userCreated".to_owned()),
                tenant_id: Some("tenant-7".to_owned()),
                ..EventFilterSpec::default()
            }
        );
    }
}
