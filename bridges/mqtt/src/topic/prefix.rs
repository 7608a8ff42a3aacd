//! The topic prefix: the first level(s) of every topic and filter.

use std::fmt;
use std::str::FromStr;

use super::{TopicError, DEFAULT_PREFIX, MAX_TOPIC_LEN};

/// The first level(s) of every topic: `purista` unless configured.
///
/// PURISTA's prefix is one level, but several (`fleet/purista`) are allowed. A prefix is
/// non-empty, has no empty, `.` or `..` level (PURISTA joins topics like `path.posix.join`,
/// which would rewrite those), holds no wildcard (`+`, `#`) and no NUL, and does not start
/// with `$` (brokers reserve such topics). It is written as given, not snake_cased.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct TopicPrefix(String);

impl TopicPrefix {
    /// Checks `prefix` against the rules above.
    pub fn new(prefix: impl Into<String>) -> Result<Self, TopicError> {
        let prefix = prefix.into();
        let rule = if prefix.is_empty() {
            Some("is empty")
        } else if prefix.starts_with('$') {
            Some("starts with `$`")
        } else if prefix.contains(['+', '#']) {
            Some("contains a wildcard (`+` or `#`)")
        } else if prefix.contains('\0') {
            Some("contains nul")
        } else if prefix.split('/').any(str::is_empty) {
            Some("has an empty level")
        } else if prefix.split('/').any(|level| level == "." || level == "..") {
            Some("has a `.` or `..` level")
        } else if prefix.len() > MAX_TOPIC_LEN {
            Some("is longer than a topic may be")
        } else {
            None
        };
        match rule {
            Some(rule) => Err(TopicError::Prefix { prefix, rule }),
            None => Ok(Self(prefix)),
        }
    }

    /// The prefix as written in topics.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl Default for TopicPrefix {
    /// [`DEFAULT_PREFIX`], `purista`.
    fn default() -> Self {
        Self(DEFAULT_PREFIX.to_owned())
    }
}

impl FromStr for TopicPrefix {
    type Err = TopicError;

    fn from_str(prefix: &str) -> Result<Self, Self::Err> {
        Self::new(prefix)
    }
}

impl TryFrom<String> for TopicPrefix {
    type Error = TopicError;

    fn try_from(prefix: String) -> Result<Self, Self::Error> {
        Self::new(prefix)
    }
}

impl AsRef<str> for TopicPrefix {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for TopicPrefix {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefix_rules() {
        assert_eq!(TopicPrefix::default().as_str(), "purista");
        assert_eq!(
            "fleet/purista"
                .parse::<TopicPrefix>()
                .map(|p| p.to_string()),
            Ok("fleet/purista".to_owned())
        );
        for (bad, rule) in [
            ("", "is empty"),
            ("$SYS", "starts with `$`"),
            ("a/+", "contains a wildcard (`+` or `#`)"),
            ("#", "contains a wildcard (`+` or `#`)"),
            ("a\0", "contains nul"),
            ("/purista", "has an empty level"),
            ("purista/", "has an empty level"),
            ("a//b", "has an empty level"),
            ("a/../b", "has a `.` or `..` level"),
            (".", "has a `.` or `..` level"),
        ] {
            assert_eq!(
                TopicPrefix::new(bad),
                Err(TopicError::Prefix {
                    prefix: bad.to_owned(),
                    rule
                }),
                "{bad:?}"
            );
        }
    }
}
