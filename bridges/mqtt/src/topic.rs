//! Topics and subscription filters: PURISTA's MQTT topic layout (design §4).
//!
//! Every message is published to a 13-level topic, [`publish_topic`]:
//!
//! ```text
//! <prefix>/<messageType>/<principalId>/<tenantId>
//!     /<senderInstance>/<senderName>/<senderVersion>/<senderTarget>
//!     /<eventName>
//!     /<receiverInstance>/<receiverName>/<receiverVersion>/<receiverTarget>
//! ```
//!
//! Each value is written in PURISTA's [`snake_case`], an absent one as [`NONE`]. Receivers
//! subscribe with [`command_filter_shared`] (the commands of a service, shared by its
//! instances in a [`command_share_group`]), [`command_filter_instance`] (commands for one
//! instance), [`response_filter`] (responses for one instance) and [`event_filter`] (event
//! subscriptions, in a [`share_group`] or not). [`topic_matches`] applies MQTT's wildcard
//! rules, for tests and for routing what arrives. Because snake_case is lossy, a filter can
//! match a message meant for a name that differs only in case or punctuation;
//! [`command_is_for`], [`response_is_for`] and [`event_matches`] check the envelope's exact
//! names after a message arrives.
//!
//! Everything here is pure: strings in, strings out.

mod filter;
mod matching;
mod prefix;
mod snake_case;

use tributary::envelope::Envelope;

pub use filter::{
    command_filter_instance, command_filter_shared, command_share_group, event_filter,
    response_filter, share_group, EventFilterSpec, ShareGroup,
};
pub use matching::{
    command_is_for, event_matches, is_addressed_to, is_event, response_is_for, topic_matches,
};
pub use prefix::TopicPrefix;
pub use snake_case::snake_case;

/// How a topic writes an absent value: PURISTA writes `__none__`, whose snake_case is `none`.
pub const NONE: &str = "none";

/// PURISTA's default topic prefix.
pub const DEFAULT_PREFIX: &str = "purista";

/// The longest topic name or filter MQTT allows, in bytes.
pub const MAX_TOPIC_LEN: usize = 65_535;

/// Why a prefix, name or topic cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TopicError {
    /// The topic prefix breaks the rule named.
    #[error("topic prefix {prefix:?} {rule}")]
    Prefix {
        /// The prefix as given.
        prefix: String,
        /// The rule it breaks.
        rule: &'static str,
    },
    /// A name or id would not make a usable topic level.
    #[error("{field} {value:?} cannot be a topic level: {rule}")]
    Level {
        /// Which field the value came from (`receiver.serviceName`, `eventName`, …).
        field: &'static str,
        /// The value as given, before snake_case.
        value: String,
        /// The rule its snake_case breaks.
        rule: &'static str,
    },
    /// A share group name breaks the rule named.
    #[error("share group {name:?} {rule}")]
    ShareGroup {
        /// The name as given.
        name: String,
        /// The rule it breaks.
        rule: &'static str,
    },
    /// The topic or filter is longer than MQTT allows.
    #[error("topic has {len} bytes, more than mqtt's {MAX_TOPIC_LEN}")]
    TooLong {
        /// Its length in bytes.
        len: usize,
    },
}

/// The topic PURISTA's MQTT bridge publishes `envelope` to, byte for byte.
///
/// The 13 levels of the [module docs](self), each through [`snake_case`], an absent value
/// (`None`) as [`NONE`]. An empty string is not absent: like PURISTA, which joins the levels
/// with `path.posix.join`, it leaves an empty level that the join drops, so the lifecycle
/// notices of a service (sender target `""`) get 12-level topics that no 13-level filter
/// matches. The join's other rewrites (`.` and `..` levels, a trailing `/`) are reproduced
/// too; they only arise from values without any ASCII letter or digit.
///
/// # Errors
///
/// [`TopicError::Level`] when a value's snake_case holds a wildcard (`+`, `#`) or NUL (a broker
/// refuses such a publish and PURISTA would send it anyway); [`TopicError::TooLong`] past
/// [`MAX_TOPIC_LEN`]; [`TopicError::Prefix`] if the join rewrote the topic to start with
/// `$`.
pub fn publish_topic(prefix: &TopicPrefix, envelope: &Envelope) -> Result<String, TopicError> {
    let values = publish_levels(envelope);
    let capacity = prefix.as_str().len()
        + values
            .iter()
            .map(|(_, value)| value.map_or(NONE.len(), |v| v.len() + 4) + 1)
            .sum::<usize>();
    let mut topic = String::with_capacity(capacity);
    topic.push_str(prefix.as_str());
    // Whether each level is a plain one, which the join leaves as it is: then the topic is
    // the levels joined with `/`, written here straight into one string.
    let mut plain = true;
    for (field, value) in values {
        topic.push('/');
        let Some(value) = value else {
            topic.push_str(NONE);
            continue;
        };
        let start = topic.len();
        if snake_case::snake_case_into(&mut topic, value) {
            // Words only: ASCII letters, digits and `_`.
            continue;
        }
        let level = &topic[start..];
        if let Some(rule) = level_rule(level) {
            return Err(TopicError::Level {
                field,
                value: value.to_owned(),
                rule,
            });
        }
        plain &= !(level.is_empty() || level.contains('/') || level == "." || level == "..");
    }
    if plain {
        check_len(topic)
    } else {
        joined_publish_topic(prefix, envelope)
    }
}

/// Why a topic level cannot be published, if it cannot.
fn level_rule(level: &str) -> Option<&'static str> {
    if level.contains(['+', '#']) {
        Some("its snake_case contains a wildcard (`+` or `#`)")
    } else if level.contains('\0') {
        Some("it contains nul")
    } else {
        None
    }
}

/// The 12 values of a publish topic after the prefix, with the field each comes from.
fn publish_levels(envelope: &Envelope) -> [(&'static str, Option<&str>); 12] {
    let receiver = envelope.receiver.as_ref();
    [
        ("messageType", Some(envelope.message_type.as_str())),
        ("principalId", envelope.principal_id.as_deref()),
        ("tenantId", envelope.tenant_id.as_deref()),
        ("sender.instanceId", envelope.sender.instance_id.as_deref()),
        ("sender.serviceName", Some(&envelope.sender.service_name)),
        (
            "sender.serviceVersion",
            Some(&envelope.sender.service_version),
        ),
        (
            "sender.serviceTarget",
            Some(&envelope.sender.service_target),
        ),
        ("eventName", envelope.event_name.as_deref()),
        (
            "receiver.instanceId",
            receiver.and_then(|r| r.instance_id.as_deref()),
        ),
        (
            "receiver.serviceName",
            receiver.map(|r| r.service_name.as_str()),
        ),
        (
            "receiver.serviceVersion",
            receiver.map(|r| r.service_version.as_str()),
        ),
        (
            "receiver.serviceTarget",
            receiver.map(|r| r.service_target.as_str()),
        ),
    ]
}

/// [`publish_topic`] for values that the join rewrites (empty, `.`, `..` or with a `/`):
/// level by level, then joined as Node.js joins paths.
fn joined_publish_topic(prefix: &TopicPrefix, envelope: &Envelope) -> Result<String, TopicError> {
    let mut levels = Vec::with_capacity(13);
    levels.push(prefix.as_str().to_owned());
    for (field, value) in publish_levels(envelope) {
        let level = value.map_or_else(|| NONE.to_owned(), snake_case);
        if let Some(rule) = level_rule(&level) {
            return Err(TopicError::Level {
                field,
                value: value.unwrap_or_default().to_owned(),
                rule,
            });
        }
        levels.push(level);
    }
    let topic = posix_join(&levels);
    if topic.starts_with('$') {
        return Err(TopicError::Prefix {
            prefix: prefix.as_str().to_owned(),
            rule: "was dropped by `..` levels, leaving a topic that starts with `$`",
        });
    }
    check_len(topic)
}

/// `path.posix.join(...parts)` as Node.js computes it: the non-empty parts joined with `/`,
/// then empty and `.` segments dropped, each `..` removing the segment before it (kept when
/// there is none), and a trailing `/` kept.
///
/// The first part is a [`TopicPrefix`], which never starts with `/`, so the path is never
/// absolute (Node.js treats those differently).
fn posix_join(parts: &[String]) -> String {
    let joined = parts
        .iter()
        .filter(|part| !part.is_empty())
        .map(String::as_str)
        .collect::<Vec<_>>()
        .join("/");
    let mut segments: Vec<&str> = Vec::new();
    for segment in joined.split('/') {
        match segment {
            "" | "." => {}
            ".." if segments.last().is_some_and(|last| *last != "..") => {
                segments.pop();
            }
            _ => segments.push(segment),
        }
    }
    let mut path = if segments.is_empty() {
        ".".to_owned()
    } else {
        segments.join("/")
    };
    if joined.ends_with('/') {
        path.push('/');
    }
    path
}

/// The snake_case of `value` if it makes one whole filter level that PURISTA's topics can
/// carry: not empty, no `/`, no wildcard, no NUL, not `.` or `..` (the join would drop it).
/// Only values without any ASCII letter or digit can fail, as snake_case returns them as
/// they are.
fn filter_level(field: &'static str, value: &str) -> Result<String, TopicError> {
    let level = snake_case(value);
    let rule = if level.is_empty() {
        Some("its snake_case is empty")
    } else if level.contains('/') {
        Some("its snake_case contains `/`")
    } else if level.contains(['+', '#']) {
        Some("its snake_case contains a wildcard (`+` or `#`)")
    } else if level.contains('\0') {
        Some("it contains nul")
    } else if level == "." || level == ".." {
        Some("its snake_case is `.` or `..`")
    } else {
        None
    };
    match rule {
        Some(rule) => Err(TopicError::Level {
            field,
            value: value.to_owned(),
            rule,
        }),
        None => Ok(level),
    }
}

fn check_len(topic: String) -> Result<String, TopicError> {
    if topic.len() > MAX_TOPIC_LEN {
        Err(TopicError::TooLong { len: topic.len() })
    } else {
        Ok(topic)
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;
    use tributary::envelope::{MessageType, ServiceAddress};

    use super::*;

    fn join(parts: &[&str]) -> String {
        posix_join(&parts.iter().map(|p| (*p).to_owned()).collect::<Vec<_>>())
    }

    /// Expected values from Node.js 20: `path.posix.join(...parts)`.
    #[test]
    fn joins_like_node_path_posix_join() {
        for (parts, expected) in [
            (&["purista", "a", "", "b"][..], "purista/a/b"),
            (&["purista", "a", ".", "b"], "purista/a/b"),
            (&["purista", "a", "..", "b"], "purista/b"),
            (&["purista", "..", "..", "b"], "../b"),
            (&["purista", "a", "/", "b"], "purista/a/b"),
            (&["purista", "a", "b/"], "purista/a/b/"),
            (&["purista", "a", "/"], "purista/a/"),
            (&["purista", ".."], "."),
            (&["purista", "..", "/"], "./"),
            (&["purista", "...", "b"], "purista/.../b"),
            (&["", ""], "."),
        ] {
            assert_eq!(join(parts), expected, "{parts:?}");
        }
    }

    fn envelope() -> Envelope {
        let mut command = Envelope::command(
            ServiceAddress::new("Gateway", "1", "httpPost").with_instance_id("a".repeat(32)),
            ServiceAddress::new("UserService", "1", "createUser"),
            json!({}),
            json!({}),
        );
        command.tenant_id = Some("tenantB".to_owned());
        command
    }

    #[test]
    fn publish_topic_writes_absent_values_as_none() {
        let topic = publish_topic(&TopicPrefix::default(), &envelope());
        assert_eq!(
            topic.as_deref(),
            Ok(
                "purista/command/none/tenant_b/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa/gateway/1/\
                http_post/none/none/user_service/1/create_user"
            )
        );
    }

    #[test]
    fn publish_topic_refuses_wildcards_and_nul() {
        let mut bad = envelope();
        bad.tenant_id = Some("+".to_owned());
        assert_eq!(
            publish_topic(&TopicPrefix::default(), &bad),
            Err(TopicError::Level {
                field: "tenantId",
                value: "+".to_owned(),
                rule: "its snake_case contains a wildcard (`+` or `#`)",
            })
        );
        bad.tenant_id = None;
        bad.event_name = Some("#".to_owned());
        assert!(matches!(
            publish_topic(&TopicPrefix::default(), &bad),
            Err(TopicError::Level {
                field: "eventName",
                ..
            })
        ));
        // NUL is dropped by snake_case when the value has a word; alone it is kept.
        bad.event_name = Some("\0".to_owned());
        assert!(matches!(
            publish_topic(&TopicPrefix::default(), &bad),
            Err(TopicError::Level {
                field: "eventName",
                ..
            })
        ));
    }

    #[test]
    fn publish_topic_collapses_empty_and_dot_values_like_purista() {
        let mut info = Envelope::new(
            MessageType::InfoServiceReady,
            ServiceAddress::new("UserService", "1", "").with_instance_id("b".repeat(32)),
        );
        let prefix = TopicPrefix::default();
        let twelve = "purista/info_service_ready/none/none/bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb/\
                      user_service/1/none/none/none/none/none";
        assert_eq!(publish_topic(&prefix, &info).as_deref(), Ok(twelve));
        info.sender.service_target = ".".to_owned();
        assert_eq!(publish_topic(&prefix, &info).as_deref(), Ok(twelve));
        info.sender.service_target = "..".to_owned();
        assert_eq!(
            publish_topic(&prefix, &info).as_deref(),
            Ok(
                "purista/info_service_ready/none/none/bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb/\
                user_service/none/none/none/none/none"
            )
        );
    }

    #[test]
    fn publish_topic_has_a_length_limit() {
        let mut long = envelope();
        long.event_name = Some("e".repeat(MAX_TOPIC_LEN));
        assert!(matches!(
            publish_topic(&TopicPrefix::default(), &long),
            Err(TopicError::TooLong { .. })
        ));
    }

    #[test]
    fn filter_levels_must_be_whole_levels() {
        assert_eq!(
            filter_level("f", "createUser").as_deref(),
            Ok("create_user")
        );
        // Kept as it is by snake_case: odd, but a level a topic can carry.
        assert_eq!(filter_level("f", "-").as_deref(), Ok("-"));
        for (bad, rule) in [
            ("", "its snake_case is empty"),
            ("/", "its snake_case contains `/`"),
            ("+", "its snake_case contains a wildcard (`+` or `#`)"),
            ("#", "its snake_case contains a wildcard (`+` or `#`)"),
            ("\0", "it contains nul"),
            ("..", "its snake_case is `.` or `..`"),
        ] {
            assert_eq!(
                filter_level("f", bad),
                Err(TopicError::Level {
                    field: "f",
                    value: bad.to_owned(),
                    rule
                }),
                "{bad:?}"
            );
        }
    }
}
