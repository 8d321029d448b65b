//! The stored form of a connection's tags.

use crate::domain::Tag;

/// A connection's tags as the store keeps them: the JSON array dsconn wrote at create,
/// checked to be JSON when read, and answered as it is (no parse and re-serialisation
/// per row on the read path).
#[derive(Debug, Clone)]
pub struct StoredTags(String);

impl StoredTags {
    /// Stored tags text, checked to be a JSON array of objects of strings (what a create
    /// stores): the answers copy it into their JSON, so anything else would make them
    /// invalid. Checked without building the tags: it runs for every row read.
    pub fn from_stored(json: String) -> Result<Self, String> {
        if is_array_of_string_objects(&json) {
            Ok(Self(json))
        } else {
            Err("not a JSON array of {key, value} objects".to_owned())
        }
    }

    /// The text of `tags`, as a create stores it.
    pub fn of(tags: &[Tag]) -> Self {
        Self(serde_json::to_string(tags).unwrap_or_else(|_| "[]".to_owned()))
    }

    /// The JSON text, to be written into an answer as it is.
    pub fn json(&self) -> &str {
        &self.0
    }

    /// The tags themselves (validated when read, so this does not fail on a record the
    /// store returned; an empty list if it ever did).
    pub fn parsed(&self) -> Vec<Tag> {
        serde_json::from_str(&self.0).unwrap_or_default()
    }
}

impl PartialEq for StoredTags {
    fn eq(&self, other: &Self) -> bool {
        self.parsed() == other.parsed()
    }
}

/// Whether `json` is a JSON array of objects whose values are strings, e.g.
/// `[{"key":"env","value":"prod"}]`. serde_json checks it without building the tags:
/// the visitors below accept any string and keep nothing, since this runs for every row
/// read.
fn is_array_of_string_objects(json: &str) -> bool {
    serde_json::from_str::<Vec<StringObject>>(json).is_ok()
}

/// A JSON object whose values are all strings, checked and dropped.
struct StringObject;

/// A JSON string, checked and dropped.
struct AnyString;

impl<'de> serde::Deserialize<'de> for StringObject {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl<'de> serde::de::Visitor<'de> for Visitor {
            type Value = StringObject;
            fn expecting(&self, formatter: &mut std::fmt::Formatter) -> std::fmt::Result {
                formatter.write_str("an object of strings")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut map: A,
            ) -> Result<StringObject, A::Error> {
                while map.next_entry::<AnyString, AnyString>()?.is_some() {}
                Ok(StringObject)
            }
        }
        deserializer.deserialize_map(Visitor)
    }
}

impl<'de> serde::Deserialize<'de> for AnyString {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl serde::de::Visitor<'_> for Visitor {
            type Value = AnyString;
            fn expecting(&self, formatter: &mut std::fmt::Formatter) -> std::fmt::Result {
                formatter.write_str("a string")
            }
            fn visit_str<E: serde::de::Error>(self, _: &str) -> Result<AnyString, E> {
                Ok(AnyString)
            }
        }
        deserializer.deserialize_str(Visitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stored_tags_are_taken_as_written_and_anything_else_refused() {
        let tags = [
            Tag {
                key: "env".to_owned(),
                value: "prod".to_owned(),
            },
            Tag {
                key: "clé :=+-@.".to_owned(),
                value: String::new(),
            },
        ];
        for written in [&tags[..0], &tags[..1], &tags[..]] {
            let json = serde_json::to_string(written).expect("serialises");
            let stored = StoredTags::from_stored(json.clone()).expect("as written");
            assert_eq!(
                (stored.json(), stored.parsed()),
                (json.as_str(), written.to_vec())
            );
        }
        for valid in [
            " [ ] ",
            "[{}]",
            r#"[ {"key" : "a\"\\\/\b\f\n\r\t\u00e9", "value":"x"} , {"key":"b","value":""} ]"#,
        ] {
            assert!(StoredTags::from_stored(valid.to_owned()).is_ok(), "{valid}");
        }
        for broken in [
            "",
            "[",
            "]",
            "{}",
            "[{]",
            "[{}",
            "[{},]",
            "[,{}]",
            "[{}{}]",
            r#"[{"key":1}]"#,
            r#"[{"key":null}]"#,
            r#"[{"key":"a",}]"#,
            r#"[{"key":"a" "value":"b"}]"#,
            r#"[{"key":"a\x"}]"#,
            r#"[{"key":"a\u12g4"}]"#,
            r#"[{"key":"a\u12"}]"#,
            "[{\"key\":\"a\u{1}\"}]",
            r#"[{"key":"unterminated}]"#,
            r#"[{"key":"a"}] x"#,
            r#"[{"key":"a"}]]"#,
        ] {
            assert!(
                StoredTags::from_stored(broken.to_owned()).is_err(),
                "{broken}"
            );
        }
    }
}
