//! Cheap-to-clone strings and identifiers: the names and ids every message carries.

use std::fmt;
use std::ops::Deref;
use std::str::FromStr;
use std::sync::Arc;

/// An immutable string that clones without allocating: a `&'static str` from a contract, or
/// a shared string that arrived at run time (from the wire, from configuration).
#[derive(Clone)]
pub struct Text(Repr);

#[derive(Clone)]
enum Repr {
    Static(&'static str),
    Shared(Arc<str>),
}

impl Text {
    /// A text borrowed for the whole program, as contracts name things.
    pub const fn from_static(s: &'static str) -> Self {
        Text(Repr::Static(s))
    }

    /// The text as a `&str`.
    pub fn as_str(&self) -> &str {
        match &self.0 {
            Repr::Static(s) => s,
            Repr::Shared(s) => s,
        }
    }
}

impl Deref for Text {
    type Target = str;
    fn deref(&self) -> &str {
        self.as_str()
    }
}

impl AsRef<str> for Text {
    fn as_ref(&self) -> &str {
        self.as_str()
    }
}

impl From<&'static str> for Text {
    fn from(s: &'static str) -> Self {
        Text::from_static(s)
    }
}

impl From<String> for Text {
    fn from(s: String) -> Self {
        Text(Repr::Shared(s.into()))
    }
}

impl From<Arc<str>> for Text {
    fn from(s: Arc<str>) -> Self {
        Text(Repr::Shared(s))
    }
}

impl PartialEq for Text {
    fn eq(&self, other: &Self) -> bool {
        self.as_str() == other.as_str()
    }
}

impl PartialEq<str> for Text {
    fn eq(&self, other: &str) -> bool {
        self.as_str() == other
    }
}

impl PartialEq<&str> for Text {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

impl Eq for Text {}

impl std::hash::Hash for Text {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.as_str().hash(state)
    }
}

impl fmt::Debug for Text {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

impl fmt::Display for Text {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A message, correlation or trace id.
///
/// Ids made here are random 128-bit numbers written as 32 lowercase hex characters, as
/// PURISTA writes them; they are formatted only when something reads them as text. Ids that
/// arrive from elsewhere are kept verbatim, whatever their form (PURISTA accepts a caller's
/// `traceId` as it is, `trace-abc` say).
#[derive(Clone)]
pub struct Id(IdRepr);

#[derive(Clone)]
enum IdRepr {
    Random(u128),
    Text(Text),
}

impl Id {
    /// A fresh random id.
    pub fn random() -> Self {
        Id(IdRepr::Random(fastrand::u128(..)))
    }

    /// The id as text: 32 hex characters for ids made here.
    pub fn to_text(&self) -> Text {
        match &self.0 {
            IdRepr::Random(n) => Text::from(Arc::<str>::from(hex32(*n).as_str())),
            IdRepr::Text(t) => t.clone(),
        }
    }
}

impl From<Text> for Id {
    fn from(t: Text) -> Self {
        Id(IdRepr::Text(t))
    }
}

impl From<String> for Id {
    fn from(s: String) -> Self {
        Id(IdRepr::Text(s.into()))
    }
}

impl From<&'static str> for Id {
    fn from(s: &'static str) -> Self {
        Id(IdRepr::Text(s.into()))
    }
}

impl PartialEq for Id {
    fn eq(&self, other: &Self) -> bool {
        match (&self.0, &other.0) {
            (IdRepr::Random(a), IdRepr::Random(b)) => a == b,
            (IdRepr::Text(a), IdRepr::Text(b)) => a == b,
            _ => self.to_string() == other.to_string(),
        }
    }
}

impl Eq for Id {}

impl fmt::Display for Id {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.0 {
            IdRepr::Random(n) => f.write_str(hex32(*n).as_str()),
            IdRepr::Text(t) => f.write_str(t),
        }
    }
}

impl fmt::Debug for Id {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Id({self})")
    }
}

/// `n` as 32 lowercase hex digits, written on the stack: ids are formatted for every message
/// that leaves a node, and `{:032x}` into a growing string took several steps each time.
struct Hex32([u8; 32]);

impl Hex32 {
    fn as_str(&self) -> &str {
        // Only ASCII hex digits are ever written.
        std::str::from_utf8(&self.0).unwrap_or_default()
    }
}

fn hex32(mut n: u128) -> Hex32 {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = [b'0'; 32];
    for digit in out.iter_mut().rev() {
        *digit = DIGITS[(n & 0xf) as usize];
        n >>= 4;
    }
    Hex32(out)
}

/// The id of one node: 32 lowercase hex characters, as PURISTA's instance ids are.
///
/// It names the node in topics, in the `sender.instanceId` of everything the node sends, and in
/// the MQTT client id, so it must stay the same across restarts wherever a session has to
/// survive one.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct InstanceId([u8; 32]);

/// Why a string is not an [`InstanceId`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum InstanceIdError {
    /// The string does not have 32 characters.
    #[error("an instance id has 32 characters, this one has {0}")]
    Length(usize),
    /// A character is not a lowercase hex digit.
    #[error("an instance id holds lowercase hex digits only, found {0:?}")]
    Character(char),
}

impl InstanceId {
    /// A fresh random instance id.
    pub fn random() -> Self {
        InstanceId(hex32(fastrand::u128(..)).0)
    }

    /// The id as a `&str`.
    pub fn as_str(&self) -> &str {
        std::str::from_utf8(&self.0).expect("an instance id holds ASCII hex digits only")
    }
}

impl FromStr for InstanceId {
    type Err = InstanceIdError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s.len() != 32 {
            return Err(InstanceIdError::Length(s.chars().count()));
        }
        if let Some(c) = s.chars().find(|c| !matches!(c, '0'..='9' | 'a'..='f')) {
            return Err(InstanceIdError::Character(c));
        }
        let mut bytes = [0u8; 32];
        bytes.copy_from_slice(s.as_bytes());
        Ok(InstanceId(bytes))
    }
}

impl fmt::Display for InstanceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for InstanceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "InstanceId({})", self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_written_as_32_lowercase_hex_digits() {
        let mut values = vec![0, 1, 0xabc, u128::MAX, u128::MAX >> 4, 1 << 127];
        values.extend((0..100).map(|_| fastrand::u128(..)));
        for n in values {
            let expected = format!("{n:032x}");
            assert_eq!(hex32(n).as_str(), expected);
            assert_eq!(Id(IdRepr::Random(n)).to_string(), expected);
            assert_eq!(Id(IdRepr::Random(n)).to_text().as_str(), expected);
        }
        let instance = InstanceId::random();
        assert!(instance.as_str().parse::<InstanceId>().is_ok());
    }

    #[test]
    fn instance_id_accepts_32_lowercase_hex() {
        let id: InstanceId = "a1b2c3d4e5f60718293a4b5c6d7e8f90".parse().expect("valid");
        assert_eq!(id.as_str(), "a1b2c3d4e5f60718293a4b5c6d7e8f90");
        assert_eq!(InstanceId::random().as_str().len(), 32);
    }

    #[test]
    fn instance_id_says_which_rule_was_broken() {
        assert_eq!("abc".parse::<InstanceId>(), Err(InstanceIdError::Length(3)));
        assert_eq!(
            "A1b2c3d4e5f60718293a4b5c6d7e8f90".parse::<InstanceId>(),
            Err(InstanceIdError::Character('A'))
        );
    }

    #[test]
    fn random_ids_read_as_32_hex_and_compare_with_their_text() {
        let id = Id::random();
        let text = id.to_string();
        assert_eq!(text.len(), 32);
        assert_eq!(id, Id::from(text));
        assert_ne!(Id::random(), Id::random());
    }
}
