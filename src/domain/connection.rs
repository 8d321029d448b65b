use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// A client mistake in one field. The message is shown to the user as DLI's `error_msg`,
/// so it names the field, the rule and (when safe) the offending value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ValidationError(pub String);

impl ValidationError {
    pub fn new(message: impl Into<String>) -> Self {
        Self(message.into())
    }
}

fn is_name_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_' || c == '-'
}

/// Quote a user-supplied value for an error message without letting a huge or
/// multi-line value flood the message.
pub(crate) fn quoted(value: &str) -> String {
    const MAX_SHOWN: usize = 80;
    let shown: String = value.chars().take(MAX_SHOWN).collect();
    let ellipsis = if value.chars().count() > MAX_SHOWN {
        "..."
    } else {
        ""
    };
    format!("{:?}{ellipsis}", shown)
}

/// `project_id` from the path: 1-64 characters of `[A-Za-z0-9_-]`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ProjectId(String);

impl ProjectId {
    pub fn parse(raw: &str) -> Result<Self, ValidationError> {
        let length = raw.chars().count();
        if !(1..=64).contains(&length) || !raw.chars().all(is_name_char) {
            return Err(ValidationError::new(format!(
                "project_id must be 1 to 64 characters of letters, digits, '_' and '-', got {}",
                quoted(raw)
            )));
        }
        Ok(Self(raw.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ProjectId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// `connection_id`: a UUID v4, written in the hyphenated lower-case form.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ConnectionId(Uuid);

impl ConnectionId {
    /// The all-zero id, for work that names no connection.
    pub fn nil() -> Self {
        Self(Uuid::nil())
    }

    pub fn generate() -> Self {
        Self(Uuid::new_v4())
    }

    /// Parses an id from a path. Anything that is not a UUID cannot name a connection.
    pub fn parse(raw: &str) -> Option<Self> {
        Uuid::parse_str(raw).ok().map(Self)
    }

    pub fn as_uuid(&self) -> &Uuid {
        &self.0
    }
}

impl fmt::Display for ConnectionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.hyphenated().fmt(f)
    }
}

/// A connection's user-chosen name: 1-64 characters of letters, digits, `_` and `-`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectionName(String);

impl ConnectionName {
    pub fn parse(raw: &str) -> Result<Self, ValidationError> {
        let length = raw.chars().count();
        if length == 0 {
            return Err(ValidationError::new("name must not be empty"));
        }
        if length > 64 {
            return Err(ValidationError::new(format!(
                "name must be at most 64 characters, got {length}"
            )));
        }
        if !raw.chars().all(is_name_char) {
            return Err(ValidationError::new(format!(
                "name may contain only letters, digits, '_' and '-', got {}",
                quoted(raw)
            )));
        }
        Ok(Self(raw.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A compute queue's name: 1-128 letters, digits and `_`. DLI treats queue names
/// case-insensitively and keeps them in lower case, so upper case is folded.
#[derive(Debug, Clone, PartialEq, Eq, Hash, utoipa::ToSchema)]
#[schema(
    description = "A compute queue's name: 1-128 letters, digits and `_`; upper case is \
        folded to lower case (DLI's names are case-insensitive).",
    min_length = 1,
    max_length = 128,
    pattern = r"^[A-Za-z0-9_]{1,128}$",
    example = "etl_queue"
)]
pub struct QueueName(String);

impl QueueName {
    /// DLI's shared queue, which can never be bound.
    pub const DEFAULT: &'static str = "default";

    /// A name that may refer to a queue (bindings, paths): the character rule only, so
    /// that names stored before queues were created stay addressable.
    pub fn parse(raw: &str) -> Result<Self, ValidationError> {
        parse_dli_name("queue name", raw).map(Self)
    }

    /// A name for a new queue: DLI's full rule, which also refuses names of only digits
    /// or starting with `_`.
    pub fn parse_new(raw: &str) -> Result<Self, ValidationError> {
        parse_new_dli_name("queue_name", raw).map(Self)
    }

    pub fn is_default(&self) -> bool {
        self.0 == Self::DEFAULT
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// 1-128 ASCII letters, digits and `_`, folded to lower case: DLI's queue and
/// elastic-resource-pool names.
pub(crate) fn parse_dli_name(field: &str, raw: &str) -> Result<String, ValidationError> {
    let length = raw.chars().count();
    let valid_chars = raw.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    if !(1..=128).contains(&length) || !valid_chars {
        return Err(ValidationError::new(format!(
            "{field} must be 1 to 128 letters, digits and '_', got {}",
            quoted(raw)
        )));
    }
    Ok(raw.to_ascii_lowercase())
}

/// [`parse_dli_name`] plus DLI's rule for a new name: not only digits, not starting
/// with `_`.
pub(crate) fn parse_new_dli_name(field: &str, raw: &str) -> Result<String, ValidationError> {
    let name = parse_dli_name(field, raw)?;
    if name.starts_with('_') || name.chars().all(|c| c.is_ascii_digit()) {
        return Err(ValidationError::new(format!(
            "{field} must not start with '_' or be only digits, got {}",
            quoted(raw)
        )));
    }
    Ok(name)
}

/// The peer service a connection leads to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Service {
    CloudTable,
    CloudTableOpenTsdb,
    MrsOpenTsdb,
    Dws,
    Rds,
    Css,
}

impl Service {
    pub const ALL: [Service; 6] = [
        Service::CloudTable,
        Service::CloudTableOpenTsdb,
        Service::MrsOpenTsdb,
        Service::Dws,
        Service::Rds,
        Service::Css,
    ];

    /// The canonical spelling, as stored and answered.
    pub fn as_str(self) -> &'static str {
        match self {
            Service::CloudTable => "CloudTable",
            Service::CloudTableOpenTsdb => "CloudTable.OpenTSDB",
            Service::MrsOpenTsdb => "MRS.OpenTSDB",
            Service::Dws => "DWS",
            Service::Rds => "RDS",
            Service::Css => "CSS",
        }
    }

    /// The port an endpoint without one takes.
    pub fn default_port(self) -> u16 {
        match self {
            Service::CloudTable => 2181,
            Service::CloudTableOpenTsdb | Service::MrsOpenTsdb => 4242,
            Service::Dws => 8000,
            Service::Rds => 3306,
            Service::Css => 9200,
        }
    }

    /// Matches case-insensitively, as DLI does.
    pub fn parse(raw: &str) -> Result<Self, ValidationError> {
        Self::ALL
            .into_iter()
            .find(|service| service.as_str().eq_ignore_ascii_case(raw.trim()))
            .ok_or_else(|| {
                let known: Vec<&str> = Self::ALL.iter().map(|s| s.as_str()).collect();
                ValidationError::new(format!(
                    "service must be one of {}, got {}",
                    known.join(", "),
                    quoted(raw)
                ))
            })
    }
}

impl fmt::Display for Service {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// On the wire as its canonical spelling; read case-insensitively, as requests are.
impl Serialize for Service {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for Service {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let raw = String::deserialize(deserializer)?;
        Service::parse(&raw).map_err(serde::de::Error::custom)
    }
}

super::string_enum_schema!(
    Service,
    "Service",
    "The peer service. Requests match it case-insensitively; answers use this spelling."
);

/// A connection's life: `CREATING` -> `ACTIVE` | `FAILED` -> `DELETED`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ConnectionState {
    Creating,
    Active,
    Failed,
    Deleted,
}

impl ConnectionState {
    pub const ALL: [ConnectionState; 4] = [
        ConnectionState::Creating,
        ConnectionState::Active,
        ConnectionState::Failed,
        ConnectionState::Deleted,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ConnectionState::Creating => "CREATING",
            ConnectionState::Active => "ACTIVE",
            ConnectionState::Failed => "FAILED",
            ConnectionState::Deleted => "DELETED",
        }
    }

    /// Only a connection whose check has finished may be deleted: deleting one that is
    /// still being created would race the check that is writing its result.
    pub fn can_be_deleted(self) -> bool {
        !matches!(self, ConnectionState::Creating)
    }

    /// The states a delete moves to DELETED (a DELETED one is already gone).
    pub const DELETABLE: &'static [ConnectionState] =
        &[ConnectionState::Active, ConnectionState::Failed];
    /// The states a reactivate moves back to CREATING.
    pub const REACTIVATABLE: &'static [ConnectionState] = &[ConnectionState::Failed];
    /// The states in which queues can be bound and unbound: every live one.
    pub const BINDABLE: &'static [ConnectionState] = &[
        ConnectionState::Creating,
        ConnectionState::Active,
        ConnectionState::Failed,
    ];

    pub fn is_deletable(self) -> bool {
        Self::DELETABLE.contains(&self)
    }

    pub fn is_reactivatable(self) -> bool {
        Self::REACTIVATABLE.contains(&self)
    }

    pub fn is_bindable(self) -> bool {
        Self::BINDABLE.contains(&self)
    }
}

impl FromStr for ConnectionState {
    type Err = ValidationError;

    fn from_str(raw: &str) -> Result<Self, Self::Err> {
        match raw.trim().to_ascii_uppercase().as_str() {
            "CREATING" => Ok(ConnectionState::Creating),
            "ACTIVE" => Ok(ConnectionState::Active),
            "FAILED" => Ok(ConnectionState::Failed),
            "DELETED" => Ok(ConnectionState::Deleted),
            _ => Err(ValidationError::new(format!(
                "state must be one of CREATING, ACTIVE, FAILED, DELETED, got {}",
                quoted(raw)
            ))),
        }
    }
}

impl fmt::Display for ConnectionState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

super::string_enum_schema!(
    ConnectionState,
    "ConnectionState",
    "A connection's life: CREATING -> ACTIVE | FAILED -> DELETED."
);

/// `security_group_id` or `network_id`: opaque references to the user's network,
/// required, non-empty, at most 64 characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NetworkRef(String);

impl NetworkRef {
    pub fn parse(field: &str, raw: &str) -> Result<Self, ValidationError> {
        if raw.trim().is_empty() {
            return Err(ValidationError::new(format!("{field} must not be empty")));
        }
        let length = raw.chars().count();
        if length > 64 {
            return Err(ValidationError::new(format!(
                "{field} must be at most 64 characters, got {length}"
            )));
        }
        if raw.chars().any(char::is_control) {
            return Err(ValidationError::new(format!(
                "{field} must not contain control characters"
            )));
        }
        Ok(Self(raw.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

super::reads_as_str!(Service);
super::reads_as_str!(ConnectionState);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn services_travel_as_their_canonical_spelling_and_read_case_insensitively() {
        for service in Service::ALL {
            let json = serde_json::to_value(service).expect("serialises");
            assert_eq!(json, service.as_str());
            assert_eq!(serde_json::from_value::<Service>(json).ok(), Some(service));
        }
        let lower: Result<Service, _> = serde_json::from_str("\"cloudtable.opentsdb\"");
        assert_eq!(lower.ok(), Some(Service::CloudTableOpenTsdb));
        assert!(serde_json::from_str::<Service>("\"mongo\"").is_err());
        for state in ConnectionState::ALL {
            assert_eq!(
                serde_json::to_value(state).ok(),
                Some(state.as_str().into())
            );
        }
    }
    use rstest::rstest;

    #[rstest]
    #[case("a")]
    #[case("my_conn-01")]
    #[case(&"x".repeat(64))]
    fn valid_names_are_accepted(#[case] raw: &str) {
        assert_eq!(ConnectionName::parse(raw).map(|n| n.0), Ok(raw.to_owned()));
    }

    #[rstest]
    #[case("")]
    #[case("bad name")]
    #[case("naïve")]
    #[case("dot.ted")]
    #[case(&"x".repeat(65))]
    fn invalid_names_are_refused(#[case] raw: &str) {
        assert!(ConnectionName::parse(raw).is_err());
    }

    #[rstest]
    #[case("cloudtable", Service::CloudTable)]
    #[case("CloudTable.OPENTSDB", Service::CloudTableOpenTsdb)]
    #[case("mrs.opentsdb", Service::MrsOpenTsdb)]
    #[case("dws", Service::Dws)]
    #[case("Rds", Service::Rds)]
    #[case("css", Service::Css)]
    fn services_match_case_insensitively(#[case] raw: &str, #[case] expected: Service) {
        assert_eq!(Service::parse(raw), Ok(expected));
    }

    #[test]
    fn unknown_service_names_the_choices() {
        let error = Service::parse("mongo").expect_err("must be refused");
        assert!(error.0.contains("CloudTable.OpenTSDB"), "{error}");
        assert!(error.0.contains("\"mongo\""), "{error}");
    }

    #[test]
    fn queue_names_follow_dli_rules() {
        assert!(QueueName::parse("etl_queue_1").is_ok());
        assert!(QueueName::parse("default").is_ok_and(|q| q.is_default()));
        assert_eq!(
            QueueName::parse("Upper").map(|q| q.as_str().to_owned()),
            Ok("upper".into())
        );
        assert!(QueueName::parse("bad name").is_err());
        assert!(QueueName::parse_new("_lead").is_err());
        assert!(QueueName::parse_new("123").is_err());
        assert!(QueueName::parse_new("q123").is_ok());
        assert!(
            QueueName::parse("_old").is_ok(),
            "stored names stay addressable"
        );
        assert!(QueueName::parse("").is_err());
        assert!(QueueName::parse(&"q".repeat(129)).is_err());
    }

    #[test]
    fn project_ids_follow_the_charset_and_length() {
        assert!(ProjectId::parse("5f0c1e2d3b4a49588776655443322110").is_ok());
        assert!(ProjectId::parse("").is_err());
        assert!(ProjectId::parse(&"p".repeat(65)).is_err());
        assert!(ProjectId::parse("a/b").is_err());
    }

    #[test]
    fn only_finished_connections_can_be_deleted() {
        assert!(!ConnectionState::Creating.can_be_deleted());
        assert!(ConnectionState::Active.can_be_deleted());
        assert!(ConnectionState::Failed.can_be_deleted());
        assert!(ConnectionState::Deleted.can_be_deleted());
    }

    #[test]
    fn state_rules_follow_the_life_of_a_connection() {
        use ConnectionState::*;
        let deletable: Vec<_> = [Creating, Active, Failed, Deleted]
            .into_iter()
            .filter(|state| state.is_deletable())
            .collect();
        assert_eq!(deletable, [Active, Failed]);
        assert!(Failed.is_reactivatable());
        assert!(
            ![Creating, Active, Deleted]
                .iter()
                .any(|s| s.is_reactivatable())
        );
        assert!([Creating, Active, Failed].iter().all(|s| s.is_bindable()));
        assert!(!Deleted.is_bindable());
        // Every state a delete accepts may be asked to be deleted.
        assert!(deletable.iter().all(|state| state.can_be_deleted()));
    }

    #[test]
    fn network_refs_must_be_present_and_short() {
        assert!(NetworkRef::parse("network_id", "net-1").is_ok());
        assert!(NetworkRef::parse("network_id", " ").is_err());
        assert!(NetworkRef::parse("network_id", &"n".repeat(65)).is_err());
    }
}
