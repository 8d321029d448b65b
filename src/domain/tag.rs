use std::collections::HashSet;

use serde::{Deserialize, Serialize};

use super::connection::{ValidationError, quoted};

pub const MAX_TAGS: usize = 20;
const MAX_KEY_CHARS: usize = 128;
const MAX_VALUE_CHARS: usize = 255;
const RESERVED_KEY_PREFIX: &str = "_sys_";

/// A `{key, value}` label on a connection.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[schema(description = "A `{key, value}` label of a connection, as given at create.")]
pub struct Tag {
    pub key: String,
    pub value: String,
}

fn is_tag_char(c: char) -> bool {
    c.is_alphanumeric() || matches!(c, ' ' | '_' | '.' | ':' | '=' | '+' | '-' | '@')
}

fn check_text(what: &str, text: &str, min: usize, max: usize) -> Result<(), ValidationError> {
    let length = text.chars().count();
    if length < min || length > max {
        return Err(ValidationError::new(format!(
            "{what} must be {min} to {max} characters, got {length}"
        )));
    }
    if let Some(bad) = text.chars().find(|c| !is_tag_char(*c)) {
        return Err(ValidationError::new(format!(
            "{what} {} contains {bad:?}: use letters, digits, spaces and _ . : = + - @",
            quoted(text)
        )));
    }
    if text.starts_with(' ') || text.ends_with(' ') {
        return Err(ValidationError::new(format!(
            "{what} {} must not start or end with a space",
            quoted(text)
        )));
    }
    Ok(())
}

impl Tag {
    pub fn parse(key: &str, value: &str) -> Result<Self, ValidationError> {
        check_text("tag key", key, 1, MAX_KEY_CHARS)?;
        if key.starts_with(RESERVED_KEY_PREFIX) {
            return Err(ValidationError::new(format!(
                "tag key {} is reserved: keys must not start with {RESERVED_KEY_PREFIX}",
                quoted(key)
            )));
        }
        check_text("tag value", value, 0, MAX_VALUE_CHARS)?;
        Ok(Self {
            key: key.to_owned(),
            value: value.to_owned(),
        })
    }
}

/// The tags of one connection: at most 20, keys unique.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Tags(Vec<Tag>);

impl Tags {
    pub fn parse(pairs: &[(String, String)]) -> Result<Self, ValidationError> {
        if pairs.len() > MAX_TAGS {
            return Err(ValidationError::new(format!(
                "at most {MAX_TAGS} tags are allowed, got {}",
                pairs.len()
            )));
        }
        let mut seen = HashSet::new();
        let mut tags = Vec::with_capacity(pairs.len());
        for (key, value) in pairs {
            let tag = Tag::parse(key, value)?;
            if !seen.insert(tag.key.clone()) {
                return Err(ValidationError::new(format!(
                    "tag key {} appears more than once",
                    quoted(key)
                )));
            }
            tags.push(tag);
        }
        Ok(Self(tags))
    }

    pub fn as_slice(&self) -> &[Tag] {
        &self.0
    }
}

/// One term of DLI's list filter `tags=k1=v1,k2`: a key, and a value unless any will do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TagFilterTerm {
    pub key: String,
    pub value: Option<String>,
}

/// DLI's `tags` query parameter: every term must match (AND).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TagFilter(Vec<TagFilterTerm>);

impl TagFilter {
    /// Parses `k1=v1,k2=v2`; a bare `k` matches any value of that key. The value is
    /// everything after the first `=`, since tag values may contain `=` (never `,`).
    pub fn parse(raw: &str) -> Result<Self, ValidationError> {
        if raw.trim().is_empty() {
            return Ok(Self::default());
        }
        let terms = raw
            .split(',')
            .map(|item| {
                let (key, value) = match item.split_once('=') {
                    Some((key, value)) => (key.trim(), Some(value.trim())),
                    None => (item.trim(), None),
                };
                if key.is_empty() {
                    return Err(ValidationError::new(format!(
                        "tags filter {} has an empty key: write k1=v1,k2=v2 or k",
                        quoted(raw)
                    )));
                }
                if key.chars().count() > MAX_KEY_CHARS
                    || value.is_some_and(|v| v.chars().count() > MAX_VALUE_CHARS)
                {
                    return Err(ValidationError::new(
                        "tags filter has a key or value longer than a tag may be",
                    ));
                }
                Ok(TagFilterTerm {
                    key: key.to_owned(),
                    value: value.map(str::to_owned),
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        if terms.len() > MAX_TAGS {
            return Err(ValidationError::new(format!(
                "tags filter may have at most {MAX_TAGS} terms"
            )));
        }
        Ok(Self(terms))
    }

    pub fn terms(&self) -> &[TagFilterTerm] {
        &self.0
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Whether a connection with these tags passes the filter.
    pub fn matches(&self, tags: &[Tag]) -> bool {
        self.0.iter().all(|term| {
            tags.iter().any(|tag| {
                tag.key == term.key && term.value.as_ref().is_none_or(|v| *v == tag.value)
            })
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use rstest::rstest;

    fn pairs(items: &[(&str, &str)]) -> Vec<(String, String)> {
        items
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn tags_of_any_script_and_the_allowed_symbols_are_accepted() {
        let tags = Tags::parse(&pairs(&[
            ("环境", "生产"),
            ("a.b:c=d+e-f@g h", ""),
            ("k", "v=w"),
        ]));
        assert_eq!(tags.map(|t| t.as_slice().len()), Ok(3));
    }

    #[rstest]
    #[case(&[("", "v")], "1 to 128")]
    #[case(&[("k!", "v")], "contains '!'")]
    #[case(&[(" k", "v")], "start or end with a space")]
    #[case(&[("k", "v ")], "start or end with a space")]
    #[case(&[("_sys_owner", "v")], "reserved")]
    #[case(&[("k", "a"), ("k", "b")], "more than once")]
    fn bad_tags_are_refused_with_a_reason(#[case] items: &[(&str, &str)], #[case] reason: &str) {
        let error = Tags::parse(&pairs(items)).expect_err("must be refused");
        assert!(error.0.contains(reason), "{error}");
    }

    #[test]
    fn long_keys_and_values_and_too_many_tags_are_refused() {
        assert!(Tags::parse(&pairs(&[(&"k".repeat(129), "v")])).is_err());
        assert!(Tags::parse(&pairs(&[("k", &"v".repeat(256))])).is_err());
        let many: Vec<(String, String)> =
            (0..21).map(|i| (format!("k{i}"), String::new())).collect();
        assert!(Tags::parse(&many).is_err());
    }

    #[test]
    fn filters_match_all_terms_and_bare_keys_match_any_value() {
        let tags = vec![
            Tag::parse("env", "prod").expect("valid"),
            Tag::parse("team", "data").expect("valid"),
        ];
        let check = |raw: &str| TagFilter::parse(raw).expect("valid filter").matches(&tags);
        assert!(check("env=prod"));
        assert!(check("env=prod,team=data"));
        assert!(check("env"));
        assert!(check(""));
        assert!(!check("env=dev"));
        assert!(!check("env=prod,team=web"));
        assert!(!check("owner"));
    }

    #[test]
    fn filter_values_keep_their_equals_signs() {
        let filter = TagFilter::parse("k=a=b").expect("valid");
        assert_eq!(filter.terms()[0].value.as_deref(), Some("a=b"));
    }

    #[test]
    fn filters_with_empty_keys_are_refused() {
        assert!(TagFilter::parse("=v").is_err());
        assert!(TagFilter::parse("a=1,,b").is_err());
    }

    proptest! {
        #[test]
        fn a_filter_built_from_tags_matches_them(
            items in proptest::collection::btree_map("[a-z]{1,8}", "[a-z0-9]{0,8}", 1..6)
        ) {
            let tags: Vec<Tag> = items.iter().map(|(k, v)| Tag::parse(k, v).expect("valid")).collect();
            let raw = items.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join(",");
            prop_assert!(TagFilter::parse(&raw).expect("valid").matches(&tags));
        }
    }
}
