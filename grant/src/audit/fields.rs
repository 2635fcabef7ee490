//! A log record as read, before the mapping's rules: the `timeUnixNano` and the attributes
//! the mapping knows, each kept as it came (a string, a number, the wrong type…), borrowed
//! from the input where possible. Both encodings fill it — OTLP JSON through
//! [`json_read`](super::json_read), without building a `Value` tree, and the collector's
//! protobuf reader through [`LogRecordFields::push_attribute`] — and
//! [`AuditRecord::from_otlp_fields`](super::AuditRecord::from_otlp_fields) applies the one
//! set of rules to either.
//!
//! Attributes are checked as they are read, in order, and the first problem is kept: an
//! attribute without a string key, one without a value, one whose key was already seen.

use std::borrow::Cow;

use std::fmt;

use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};

use super::json_read::{otherwise, Fields, OptBool, OptStr, Repeated, Scalar, Shaped};
use super::otlp::{names, RecordError};

/// Attribute names the mapping reads, in slot order (checked by a test against [`slot`]).
#[cfg(test)]
const KNOWN: [&str; SLOTS] = [
    names::DECISION,
    names::REASON,
    names::ROUTE,
    names::GRANT_ID,
    names::SUBJECT,
    names::CLIENT_ID,
    names::APPROVERS,
    names::BREAK_GLASS,
    names::SCOPES_GRANTED,
    names::SCOPE_REQUIRED,
    names::TOKEN_DIGEST,
    names::STREAM_ID,
    names::SEQUENCE,
    names::METHOD,
    names::AUTHORITY,
    names::PATH,
    names::MODEL,
    names::STATUS,
    names::DURATION_MS,
    names::REQUEST_BYTES,
    names::RESPONSE_BYTES,
    names::CLIENT_ADDRESS,
    names::USER_AGENT,
    names::REQUEST_ID,
    names::INPUT_TOKENS,
    names::OUTPUT_TOKENS,
    names::LIMIT_REQUESTS,
    names::LIMIT_TOKENS,
];

const SLOTS: usize = 28;

/// The slot of a known attribute name.
pub(crate) fn slot(name: &str) -> Option<usize> {
    // A `match` on the strings: the compiler dispatches on length first, so an unknown name
    // costs a comparison or two, not one per known name.
    Some(match name {
        names::DECISION => 0,
        names::REASON => 1,
        names::ROUTE => 2,
        names::GRANT_ID => 3,
        names::SUBJECT => 4,
        names::CLIENT_ID => 5,
        names::APPROVERS => 6,
        names::BREAK_GLASS => 7,
        names::SCOPES_GRANTED => 8,
        names::SCOPE_REQUIRED => 9,
        names::TOKEN_DIGEST => 10,
        names::STREAM_ID => 11,
        names::SEQUENCE => 12,
        names::METHOD => 13,
        names::AUTHORITY => 14,
        names::PATH => 15,
        names::MODEL => 16,
        names::STATUS => 17,
        names::DURATION_MS => 18,
        names::REQUEST_BYTES => 19,
        names::RESPONSE_BYTES => 20,
        names::CLIENT_ADDRESS => 21,
        names::USER_AGENT => 22,
        names::REQUEST_ID => 23,
        names::INPUT_TOKENS => 24,
        names::OUTPUT_TOKENS => 25,
        names::LIMIT_REQUESTS => 26,
        names::LIMIT_TOKENS => 27,
        _ => return None,
    })
}

/// An attribute's `AnyValue`, as the mapping reads it: whichever of its forms is there.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AnyValueFields<'a> {
    /// `stringValue`, if a string.
    pub string: Option<Cow<'a, str>>,
    /// `intValue`, as read.
    pub int: Scalar<'a>,
    /// `boolValue`, if a boolean.
    pub boolean: Option<bool>,
    /// The strings among `arrayValue.values` (`stringValue` of each), in order.
    pub strings: Vec<Cow<'a, str>>,
}

/// One log record's fields, as read.
#[derive(Debug, Clone, PartialEq)]
pub struct LogRecordFields<'a> {
    /// `timeUnixNano`, as read.
    pub time_unix_nano: Scalar<'a>,
    /// `None` when `attributes` is missing or not an array.
    pub(crate) attributes: Option<Attributes<'a>>,
}

impl Default for LogRecordFields<'_> {
    fn default() -> Self {
        LogRecordFields {
            time_unix_nano: Scalar::Absent,
            attributes: None,
        }
    }
}

/// The attributes of one record, checked as they arrive.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Attributes<'a> {
    /// Known attributes' values, by [`slot`].
    pub(crate) known: [Option<AnyValueFields<'a>>; SLOTS],
    /// Names of attributes the mapping does not read, to refuse a repeated one too.
    unknown: Vec<Cow<'a, str>>,
    /// The first attribute that is not well formed.
    pub(crate) problem: Option<RecordError>,
}

impl Default for Attributes<'_> {
    fn default() -> Self {
        Attributes {
            known: std::array::from_fn(|_| None),
            unknown: Vec::new(),
            problem: None,
        }
    }
}

impl<'a> LogRecordFields<'a> {
    /// A record with this time and, so far, an empty attribute list.
    pub fn new(time_unix_nano: u64) -> Self {
        LogRecordFields {
            time_unix_nano: Scalar::PosInt(time_unix_nano),
            attributes: Some(Attributes::default()),
        }
    }

    /// Adds the next attribute (after the first problem, attributes are no longer looked at).
    pub fn push_attribute(&mut self, key: Cow<'a, str>, value: AnyValueFields<'a>) {
        let attributes = self.attributes.get_or_insert_with(Attributes::default);
        attributes.push(Some(key), Some(value));
    }
}

impl<'a> Attributes<'a> {
    fn push(&mut self, key: Option<Cow<'a, str>>, value: Option<AnyValueFields<'a>>) {
        if self.problem.is_some() {
            return;
        }
        let Some(key) = key else {
            self.problem = Some(RecordError::bad("attributes"));
            return;
        };
        let Some(value) = value else {
            self.problem = Some(RecordError::bad(&key));
            return;
        };
        let repeated = match slot(&key) {
            Some(slot) => self.known[slot].replace(value).is_some(),
            None if self.unknown.contains(&key) => true,
            None => {
                self.unknown.push(key.clone());
                false
            }
        };
        if repeated {
            self.problem = Some(RecordError {
                field: key.into_owned(),
                problem: "attribute repeated",
            });
        }
    }

    /// The value of a known attribute.
    pub(crate) fn get(&self, name: &str) -> Option<&AnyValueFields<'a>> {
        slot(name).and_then(|slot| self.known[slot].as_ref())
    }
}

impl<'de> Fields<'de> for LogRecordFields<'de> {
    fn index(name: &str) -> Option<u8> {
        match name {
            "timeUnixNano" => Some(0),
            "attributes" => Some(1),
            _ => None,
        }
    }

    fn read<A: MapAccess<'de>>(&mut self, index: u8, map: &mut A) -> Result<(), A::Error> {
        if index == 0 {
            self.time_unix_nano = map.next_value()?;
            return Ok(());
        }
        self.attributes = map.next_value::<AttributeList>()?.0;
        Ok(())
    }
}

/// `attributes`: an array, each attribute checked as it is read (no list of them is kept);
/// `None` for anything else, `null` included — a record's attribute list is required.
struct AttributeList<'a>(Option<Attributes<'a>>);

impl<'de> Deserialize<'de> for AttributeList<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = AttributeList<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("any JSON value")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
                let mut attributes = Attributes::default();
                while let Some(item) = seq.next_element::<Shaped<AttributeFields>>()? {
                    match item {
                        Shaped::Object(attribute) => {
                            attributes.push(attribute.key.0, attribute.value.map(Into::into));
                        }
                        Shaped::Other => attributes.push(None, None),
                    }
                }
                Ok(AttributeList(Some(attributes)))
            }
            otherwise!(AttributeList(None), except seq);
        }
        deserializer.deserialize_any(V)
    }
}

/// `{"key": …, "value": …}`.
#[derive(Debug, Default)]
struct AttributeFields<'a> {
    key: OptStr<'a>,
    /// Present (any JSON value; an object is read) or not.
    value: Option<Shaped<AnyValueFields<'a>>>,
}

impl<'a> From<Shaped<AnyValueFields<'a>>> for AnyValueFields<'a> {
    fn from(value: Shaped<AnyValueFields<'a>>) -> Self {
        match value {
            Shaped::Object(fields) => fields,
            Shaped::Other => AnyValueFields::default(),
        }
    }
}

impl<'de> Fields<'de> for AttributeFields<'de> {
    fn index(name: &str) -> Option<u8> {
        match name {
            "key" => Some(0),
            "value" => Some(1),
            _ => None,
        }
    }

    fn read<A: MapAccess<'de>>(&mut self, index: u8, map: &mut A) -> Result<(), A::Error> {
        if index == 0 {
            self.key = map.next_value()?;
        } else {
            self.value = Some(map.next_value()?);
        }
        Ok(())
    }
}

impl<'de> Fields<'de> for AnyValueFields<'de> {
    fn index(name: &str) -> Option<u8> {
        match name {
            "stringValue" => Some(0),
            "intValue" => Some(1),
            "boolValue" => Some(2),
            "arrayValue" => Some(3),
            _ => None,
        }
    }

    fn read<A: MapAccess<'de>>(&mut self, index: u8, map: &mut A) -> Result<(), A::Error> {
        match index {
            0 => self.string = map.next_value::<OptStr>()?.0,
            1 => self.int = map.next_value()?,
            2 => self.boolean = map.next_value::<OptBool>()?.0,
            _ => {
                self.strings = match map.next_value::<Shaped<ArrayValueFields>>()? {
                    Shaped::Object(array) => array.strings,
                    Shaped::Other => Vec::new(),
                }
            }
        }
        Ok(())
    }
}

/// `{"values": [{"stringValue": …}, …]}`, keeping the strings.
#[derive(Debug, Default)]
struct ArrayValueFields<'a> {
    strings: Vec<Cow<'a, str>>,
}

impl<'de> Fields<'de> for ArrayValueFields<'de> {
    fn index(name: &str) -> Option<u8> {
        (name == "values").then_some(0)
    }

    fn read<A: MapAccess<'de>>(&mut self, _: u8, map: &mut A) -> Result<(), A::Error> {
        self.strings = match map.next_value::<Repeated<Shaped<StringValueFields>>>()? {
            Repeated::Items(items) => items
                .into_iter()
                .filter_map(|item| match item {
                    Shaped::Object(fields) => fields.string.0,
                    Shaped::Other => None,
                })
                .collect(),
            // A `values` that is `null` or not an array holds no strings.
            Repeated::NotArray => Vec::new(),
        };
        Ok(())
    }
}

/// An array element's `{"stringValue": …}`.
#[derive(Debug, Default)]
struct StringValueFields<'a> {
    string: OptStr<'a>,
}

impl<'de> Fields<'de> for StringValueFields<'de> {
    fn index(name: &str) -> Option<u8> {
        (name == "stringValue").then_some(0)
    }

    fn read<A: MapAccess<'de>>(&mut self, _: u8, map: &mut A) -> Result<(), A::Error> {
        self.string = map.next_value()?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_known_name_has_its_own_slot() {
        for (index, name) in KNOWN.iter().enumerate() {
            assert_eq!(slot(name), Some(index), "{name}");
        }
        assert_eq!(slot("jitgate.unknown"), None);
    }
}
