//! What a job needs on a data source: a privilege, on a table or on the database itself.
//! The `privileges` stage of a credentialed check asks the source's own catalog for each.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize};

/// Longest table (or `schema.table`, `database.table`, index) name a request may name.
pub const MAX_TABLE_CHARS: usize = 128;

/// One privilege a job needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Privilege {
    Select,
    Insert,
    Update,
    Delete,
    Create,
}

impl Privilege {
    pub const ALL: [Privilege; 5] = [
        Privilege::Select,
        Privilege::Insert,
        Privilege::Update,
        Privilege::Delete,
        Privilege::Create,
    ];

    /// The SQL spelling, which is also the wire's.
    pub fn as_str(self) -> &'static str {
        match self {
            Privilege::Select => "SELECT",
            Privilege::Insert => "INSERT",
            Privilege::Update => "UPDATE",
            Privilege::Delete => "DELETE",
            Privilege::Create => "CREATE",
        }
    }

    /// Any ASCII case; None for anything else.
    pub fn parse(raw: &str) -> Option<Self> {
        Self::ALL
            .into_iter()
            .find(|privilege| privilege.as_str().eq_ignore_ascii_case(raw.trim()))
    }
}

impl fmt::Display for Privilege {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

// Written by hand so `select` reads as well as `SELECT`, as the CLI form does.
impl<'de> Deserialize<'de> for Privilege {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let raw = String::deserialize(deserializer)?;
        Privilege::parse(&raw).ok_or_else(|| serde::de::Error::custom(unknown_privilege(&raw)))
    }
}

super::string_enum_schema!(
    Privilege,
    "Privilege",
    "A privilege a job needs on the data source (any case is accepted)."
);

fn unknown_privilege(raw: &str) -> String {
    let shown: String = raw.chars().take(32).collect();
    format!("unknown privilege {shown:?}: expected SELECT, INSERT, UPDATE, DELETE or CREATE")
}

/// What a job needs on the data source, checked by the privileges stage.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct PrivilegeRequest {
    /// SELECT, INSERT, UPDATE, DELETE or CREATE (upper case on the wire; parse case-insensitively).
    pub privilege: Privilege,
    /// `table` or `schema.table` (PostgreSQL) / `database.table` (MySQL); for CSS an index
    /// name. None: on the database itself (CREATE = can create tables in it).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "table_name"
    )]
    #[schema(max_length = 128, pattern = r"^[A-Za-z0-9_.$-]+$")]
    pub table: Option<String>,
}

fn table_name<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<String>, D::Error> {
    let raw = Option::<String>::deserialize(deserializer)?;
    raw.map(|table| check_table(&table).map(|()| table))
        .transpose()
        .map_err(serde::de::Error::custom)
}

/// Bounds a table name: 1 to [`MAX_TABLE_CHARS`] of `[A-Za-z0-9_.$-]`, so it can be
/// shown and bound to a catalog query as it is.
fn check_table(table: &str) -> Result<(), String> {
    if table.is_empty() {
        return Err("the table name after ':' is empty".to_owned());
    }
    let length = table.chars().count();
    if length > MAX_TABLE_CHARS {
        return Err(format!(
            "the table name has {length} characters; at most {MAX_TABLE_CHARS} are allowed"
        ));
    }
    if let Some(bad) = table
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '$' | '-')))
    {
        return Err(format!(
            "the table name contains {bad:?}; only letters, digits and _ . $ - are allowed"
        ));
    }
    if table.starts_with('.') || table.ends_with('.') || table.contains("..") {
        return Err(format!(
            "the table name {table:?} has an empty part around a '.'"
        ));
    }
    Ok(())
}

impl PrivilegeRequest {
    /// The CLI form: `SELECT:orders`, `select:public.orders`, `CREATE`. Err: a message naming
    /// what is wrong. Bound lengths (table name <= 128 chars, only [A-Za-z0-9_.$-]).
    pub fn parse(text: &str) -> Result<Self, String> {
        let text = text.trim();
        let (privilege, table) = match text.split_once(':') {
            Some((privilege, table)) => (privilege, Some(table.trim())),
            None => (text, None),
        };
        let privilege = Privilege::parse(privilege).ok_or_else(|| unknown_privilege(privilege))?;
        if let Some(table) = table {
            check_table(table)?;
        }
        Ok(Self {
            privilege,
            table: table.map(str::to_owned),
        })
    }
}

impl fmt::Display for PrivilegeRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.table {
            Some(table) => write!(f, "{}:{table}", self.privilege),
            None => write!(f, "{}", self.privilege),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;

    #[rstest]
    #[case("SELECT:orders", Privilege::Select, Some("orders"))]
    #[case("select:public.orders", Privilege::Select, Some("public.orders"))]
    #[case(" Insert:shop.t_1$x-y ", Privilege::Insert, Some("shop.t_1$x-y"))]
    #[case("CREATE", Privilege::Create, None)]
    #[case("delete", Privilege::Delete, None)]
    fn the_cli_form_parses(
        #[case] text: &str,
        #[case] privilege: Privilege,
        #[case] table: Option<&str>,
    ) {
        let parsed = PrivilegeRequest::parse(text).expect("parses");
        assert_eq!(parsed.privilege, privilege);
        assert_eq!(parsed.table.as_deref(), table);
    }

    #[rstest]
    #[case("GRANT:orders", "unknown privilege")]
    #[case("", "unknown privilege")]
    #[case("SELECT:", "empty")]
    #[case("SELECT:a b", "contains ' '")]
    #[case("SELECT:a;drop", "contains ';'")]
    #[case("SELECT:'x'", "contains '\\''")]
    #[case("SELECT:.orders", "empty part")]
    #[case("SELECT:a..b", "empty part")]
    fn a_wrong_cli_form_says_what_is_wrong(#[case] text: &str, #[case] expected: &str) {
        let error = PrivilegeRequest::parse(text).expect_err("refused");
        assert!(error.contains(expected), "{text:?}: {error}");
    }

    #[test]
    fn a_table_name_longer_than_the_bound_is_refused() {
        let long = format!("SELECT:{}", "t".repeat(MAX_TABLE_CHARS + 1));
        let error = PrivilegeRequest::parse(&long).expect_err("refused");
        assert!(error.contains("129 characters"), "{error}");
        let fits = format!("SELECT:{}", "t".repeat(MAX_TABLE_CHARS));
        assert!(PrivilegeRequest::parse(&fits).is_ok());
    }

    #[test]
    fn display_gives_the_cli_form_back() {
        for text in ["SELECT:public.orders", "CREATE", "UPDATE:t"] {
            let parsed = PrivilegeRequest::parse(text).expect("parses");
            assert_eq!(parsed.to_string(), text);
            assert_eq!(PrivilegeRequest::parse(&parsed.to_string()), Ok(parsed));
        }
    }

    #[test]
    fn the_wire_form_is_upper_case_and_reads_any_case() {
        let request = PrivilegeRequest::parse("select:orders").expect("parses");
        let json = serde_json::to_value(&request).expect("serializes");
        assert_eq!(
            json,
            serde_json::json!({"privilege": "SELECT", "table": "orders"})
        );
        let read: PrivilegeRequest =
            serde_json::from_value(serde_json::json!({"privilege": "insert"})).expect("reads");
        assert_eq!(read.privilege, Privilege::Insert);
        assert_eq!(read.table, None);
        assert_eq!(
            serde_json::to_value(&read).expect("serializes"),
            serde_json::json!({"privilege": "INSERT"})
        );
        let bad = serde_json::from_value::<PrivilegeRequest>(
            serde_json::json!({"privilege": "SELECT", "table": "a;b"}),
        );
        assert!(bad.is_err());
    }
}
