//! Reading JSON the way a `serde_json::Value` tree would be read — every byte parsed and
//! checked by the same parser, a repeated object key replacing the earlier one, any value
//! allowed anywhere — but keeping only the fields a reader names, borrowed from the input
//! where they need no unescaping, and no tree.
//!
//! Nothing here ever fails on a value's type: a field of the wrong shape is kept as such
//! ([`Shaped::Other`], [`Repeated::NotArray`], [`Scalar::Other`]…) for the caller to refuse
//! with its own message, exactly where a walk over the `Value` tree would have. So the only
//! errors are the parser's own (syntax, nesting depth, number range), with the same text and
//! position as when parsing into a `Value`. Values are always read through
//! `deserialize_any`, never `IgnoredAny`, whose lighter scan accepts input a `Value` refuses.
//!
//! The same readers work on JSON text (`serde_json::Deserializer`) and on a `&Value`, so a
//! mapping written once reads both.

use std::borrow::Cow;
use std::fmt;
use std::marker::PhantomData;

use serde::de::{self, Deserialize, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};

/// An object whose named fields are read; the others are parsed and dropped.
pub trait Fields<'de>: Default {
    /// The index of the field called `name`, if it is read.
    fn index(name: &str) -> Option<u8>;

    /// Reads the value of field `index`. A name repeated in one object is read again and
    /// the last value wins, as when a JSON object is read into a map.
    fn read<A: MapAccess<'de>>(&mut self, index: u8, map: &mut A) -> Result<(), A::Error>;
}

/// A value where an object is expected.
#[derive(Debug, Clone, PartialEq)]
pub enum Shaped<T> {
    /// An object, with its fields read.
    Object(T),
    /// Anything else.
    Other,
}

/// A value where an array is expected (a repeated field of the protobuf JSON mapping).
#[derive(Debug, Clone, PartialEq)]
pub enum Repeated<T> {
    /// An array, or `null` or no value at all (empty, as the protobuf JSON mapping says).
    Items(Vec<T>),
    /// Anything else.
    NotArray,
}

impl<T> Default for Repeated<T> {
    fn default() -> Self {
        Repeated::Items(Vec::new())
    }
}

/// A value where a number or a string holding one is expected, as read.
#[derive(Debug, Clone, Default, PartialEq)]
pub enum Scalar<'a> {
    /// The field is not there.
    #[default]
    Absent,
    /// A string.
    Str(Cow<'a, str>),
    /// A non-negative integer.
    PosInt(u64),
    /// A negative integer.
    NegInt(i64),
    /// A number with a fraction or an exponent, or an integer too large for 64 bits.
    Float,
    /// `null`, a boolean, an array or an object.
    Other,
}

/// A string, or `None` for any other value.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct OptStr<'a>(pub Option<Cow<'a, str>>);

/// A boolean, or `None` for any other value.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct OptBool(pub Option<bool>);

/// Any JSON value, parsed and checked as a `Value` would be, then dropped.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct AnyJson;

/// The visitor methods for values of the wrong shape: each returns `$other`, after parsing
/// (and so checking) a container's contents.
macro_rules! otherwise {
    ($other:expr, except $($skip:ident),*) => {
        otherwise!(@bool $($skip)* ; $other);
        otherwise!(@num $($skip)* ; $other);
        otherwise!(@str $($skip)* ; $other);
        otherwise!(@unit $($skip)* ; $other);
        otherwise!(@seq $($skip)* ; $other);
        otherwise!(@map $($skip)* ; $other);
    };
    (@bool bool $($rest:ident)* ; $other:expr) => {};
    (@bool $first:ident $($rest:ident)* ; $other:expr) => { otherwise!(@bool $($rest)* ; $other); };
    (@bool ; $other:expr) => {
        fn visit_bool<E: de::Error>(self, _: bool) -> Result<Self::Value, E> { Ok($other) }
    };
    (@num num $($rest:ident)* ; $other:expr) => {};
    (@num $first:ident $($rest:ident)* ; $other:expr) => { otherwise!(@num $($rest)* ; $other); };
    (@num ; $other:expr) => {
        fn visit_i64<E: de::Error>(self, _: i64) -> Result<Self::Value, E> { Ok($other) }
        fn visit_u64<E: de::Error>(self, _: u64) -> Result<Self::Value, E> { Ok($other) }
        fn visit_f64<E: de::Error>(self, _: f64) -> Result<Self::Value, E> { Ok($other) }
    };
    (@str str $($rest:ident)* ; $other:expr) => {};
    (@str $first:ident $($rest:ident)* ; $other:expr) => { otherwise!(@str $($rest)* ; $other); };
    (@str ; $other:expr) => {
        fn visit_str<E: de::Error>(self, _: &str) -> Result<Self::Value, E> { Ok($other) }
    };
    (@unit unit $($rest:ident)* ; $other:expr) => {};
    (@unit $first:ident $($rest:ident)* ; $other:expr) => { otherwise!(@unit $($rest)* ; $other); };
    (@unit ; $other:expr) => {
        fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> { Ok($other) }
        fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> { Ok($other) }
    };
    (@seq seq $($rest:ident)* ; $other:expr) => {};
    (@seq $first:ident $($rest:ident)* ; $other:expr) => { otherwise!(@seq $($rest)* ; $other); };
    (@seq ; $other:expr) => {
        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
            while seq.next_element::<$crate::audit::json_read::AnyJson>()?.is_some() {}
            Ok($other)
        }
    };
    (@map map $($rest:ident)* ; $other:expr) => {};
    (@map $first:ident $($rest:ident)* ; $other:expr) => { otherwise!(@map $($rest)* ; $other); };
    (@map ; $other:expr) => {
        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
            while map
                .next_entry::<$crate::audit::json_read::AnyJson, $crate::audit::json_read::AnyJson>()?
                .is_some()
            {}
            Ok($other)
        }
    };
}
pub(crate) use otherwise;

impl<'de> Deserialize<'de> for AnyJson {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = AnyJson;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("any JSON value")
            }
            fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<AnyJson, D::Error> {
                AnyJson::deserialize(d)
            }
            otherwise!(AnyJson, except);
        }
        deserializer.deserialize_any(V)
    }
}

impl<'de, T: Fields<'de>> Deserialize<'de> for Shaped<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct V<T>(PhantomData<T>);
        impl<'de, T: Fields<'de>> Visitor<'de> for V<T> {
            type Value = Shaped<T>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("any JSON value")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Shaped<T>, A::Error> {
                let mut fields = T::default();
                while let Some(index) = map.next_key_seed(FieldIndex::<T>(PhantomData))? {
                    match index {
                        Some(index) => fields.read(index, &mut map)?,
                        None => {
                            map.next_value::<AnyJson>()?;
                        }
                    }
                }
                Ok(Shaped::Object(fields))
            }
            otherwise!(Shaped::Other, except map);
        }
        deserializer.deserialize_any(V(PhantomData))
    }
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Repeated<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct V<T>(PhantomData<T>);
        impl<'de, T: Deserialize<'de>> Visitor<'de> for V<T> {
            type Value = Repeated<T>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("any JSON value")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Repeated<T>, A::Error> {
                let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(4096));
                while let Some(item) = seq.next_element()? {
                    items.push(item);
                }
                Ok(Repeated::Items(items))
            }
            fn visit_unit<E: de::Error>(self) -> Result<Repeated<T>, E> {
                Ok(Repeated::Items(Vec::new()))
            }
            fn visit_none<E: de::Error>(self) -> Result<Repeated<T>, E> {
                Ok(Repeated::Items(Vec::new()))
            }
            otherwise!(Repeated::NotArray, except seq, unit);
        }
        deserializer.deserialize_any(V(PhantomData))
    }
}

impl<'de> Deserialize<'de> for Scalar<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Scalar<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("any JSON value")
            }
            fn visit_borrowed_str<E: de::Error>(self, s: &'de str) -> Result<Scalar<'de>, E> {
                Ok(Scalar::Str(Cow::Borrowed(s)))
            }
            fn visit_str<E: de::Error>(self, s: &str) -> Result<Scalar<'de>, E> {
                Ok(Scalar::Str(Cow::Owned(s.to_owned())))
            }
            fn visit_string<E: de::Error>(self, s: String) -> Result<Scalar<'de>, E> {
                Ok(Scalar::Str(Cow::Owned(s)))
            }
            fn visit_u64<E: de::Error>(self, n: u64) -> Result<Scalar<'de>, E> {
                Ok(Scalar::PosInt(n))
            }
            fn visit_i64<E: de::Error>(self, n: i64) -> Result<Scalar<'de>, E> {
                // As a `Value` stores it: non-negative integers are positive ones.
                Ok(u64::try_from(n).map_or(Scalar::NegInt(n), Scalar::PosInt))
            }
            fn visit_f64<E: de::Error>(self, _: f64) -> Result<Scalar<'de>, E> {
                Ok(Scalar::Float)
            }
            otherwise!(Scalar::Other, except num, str);
        }
        deserializer.deserialize_any(V)
    }
}

impl<'de> Deserialize<'de> for OptStr<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = OptStr<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("any JSON value")
            }
            fn visit_borrowed_str<E: de::Error>(self, s: &'de str) -> Result<OptStr<'de>, E> {
                Ok(OptStr(Some(Cow::Borrowed(s))))
            }
            fn visit_str<E: de::Error>(self, s: &str) -> Result<OptStr<'de>, E> {
                Ok(OptStr(Some(Cow::Owned(s.to_owned()))))
            }
            fn visit_string<E: de::Error>(self, s: String) -> Result<OptStr<'de>, E> {
                Ok(OptStr(Some(Cow::Owned(s))))
            }
            otherwise!(OptStr(None), except str);
        }
        deserializer.deserialize_any(V)
    }
}

impl<'de> Deserialize<'de> for OptBool {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = OptBool;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("any JSON value")
            }
            fn visit_bool<E: de::Error>(self, b: bool) -> Result<OptBool, E> {
                Ok(OptBool(Some(b)))
            }
            otherwise!(OptBool(None), except bool);
        }
        deserializer.deserialize_any(V)
    }
}

/// Reads an object key as the index [`Fields::index`] gives it, without keeping the key.
struct FieldIndex<T>(PhantomData<T>);

impl<'de, T: Fields<'de>> DeserializeSeed<'de> for FieldIndex<T> {
    type Value = Option<u8>;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Option<u8>, D::Error> {
        struct V<T>(PhantomData<T>);
        impl<'de, T: Fields<'de>> Visitor<'de> for V<T> {
            type Value = Option<u8>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an object key")
            }
            fn visit_str<E: de::Error>(self, key: &str) -> Result<Option<u8>, E> {
                Ok(T::index(key))
            }
            otherwise!(None, except str);
        }
        // As a `Value` reads keys: as strings.
        deserializer.deserialize_str(V::<T>(PhantomData))
    }
}

#[cfg(test)]
mod tests {
    use serde_json::{json, Value};

    use super::*;

    #[derive(Debug, Default, PartialEq)]
    struct Pair<'a> {
        name: OptStr<'a>,
        count: Scalar<'a>,
        list: Repeated<Shaped<Pair<'a>>>,
    }

    impl<'de> Fields<'de> for Pair<'de> {
        fn index(name: &str) -> Option<u8> {
            match name {
                "name" => Some(0),
                "count" => Some(1),
                "list" => Some(2),
                _ => None,
            }
        }
        fn read<A: MapAccess<'de>>(&mut self, index: u8, map: &mut A) -> Result<(), A::Error> {
            match index {
                0 => self.name = map.next_value()?,
                1 => self.count = map.next_value()?,
                _ => self.list = map.next_value()?,
            }
            Ok(())
        }
    }

    fn read(text: &str) -> Result<Shaped<Pair<'_>>, String> {
        serde_json::from_str(text).map_err(|e| e.to_string())
    }

    #[test]
    fn keeps_shapes_and_the_last_of_repeated_keys() {
        let Shaped::Object(pair) = read(
            r#"{"name":1,"x":{"y":[1e5,null]},"name":"b\u0061","count":-3,"list":[7,{"count":"9"}]}"#,
        )
        .unwrap() else {
            panic!("an object")
        };
        assert_eq!(pair.name, OptStr(Some("ba".into())));
        assert_eq!(pair.count, Scalar::NegInt(-3));
        let Repeated::Items(items) = pair.list else {
            panic!("an array")
        };
        assert_eq!(items[0], Shaped::Other);
        assert!(matches!(&items[1], Shaped::Object(p) if p.count == Scalar::Str("9".into())));
        assert_eq!(read("[1]").unwrap(), Shaped::Other);
        let Shaped::Object(pair) = read(r#"{"list":null,"count":1.5}"#).unwrap() else {
            panic!("an object")
        };
        assert_eq!(pair.list, Repeated::Items(vec![]));
        assert_eq!(pair.count, Scalar::Float);
        let Shaped::Object(pair) = read(r#"{"list":{"a":[]}}"#).unwrap() else {
            panic!("an object")
        };
        assert_eq!(pair.list, Repeated::NotArray);
    }

    #[test]
    fn refuses_exactly_what_a_value_refuses() {
        let deep = format!("{}{}", "[".repeat(200), "]".repeat(200));
        let nested_deep = format!(r#"{{"x":{deep}}}"#);
        let cases = [
            "",
            "{",
            r#"{"name":"\ud800"}"#,
            r#"{"x":1e400}"#,
            r#"{"x":"tab	in string"}"#,
            r#"{"x":[1,]}"#,
            r#"{"x":1} x"#,
            r#"{1:2}"#,
            &nested_deep,
        ];
        for text in cases {
            let expected = serde_json::from_str::<Value>(text).map(|_| ());
            let got = read(text).map(|_| ());
            assert_eq!(got, expected.map_err(|e| e.to_string()), "{text:.40}");
        }
        // Bytes that are not UTF-8, in a string the reader skips.
        let bytes = b"{\"x\":\"\xff\"}";
        assert_eq!(
            serde_json::from_slice::<Shaped<Pair>>(bytes)
                .map_err(|e| e.to_string())
                .map(|_| ()),
            serde_json::from_slice::<Value>(bytes)
                .map_err(|e| e.to_string())
                .map(|_| ())
        );
    }

    #[test]
    fn reads_a_value_tree_the_same_way() {
        let value = json!({"name": "n", "count": 5, "list": [{"count": 18446744073709551615u64}]});
        let Shaped::Object(pair) = Shaped::<Pair>::deserialize(&value).unwrap() else {
            panic!("an object")
        };
        assert_eq!(pair.name, OptStr(Some("n".into())));
        assert_eq!(pair.count, Scalar::PosInt(5));
    }
}
