//! DLI's datasource authentications (auth infos): their types, their fields and the rules
//! a set of fields must meet (Terraform's pairings, what each type needs and allows).
//! Pure: the API reads requests into [`Fields`], seals the secret ones and stores them.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::ValidationError;

/// Longest auth info name.
pub const MAX_NAME_CHARS: usize = 128;
/// Longest value of any other field (user names, OBS paths, passwords).
pub const MAX_FIELD_CHARS: usize = 1024;

/// What a credential authenticates to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum DatasourceType {
    /// A user name and password (DWS, RDS, DDS, DCS).
    #[serde(rename = "passwd")]
    Passwd,
    /// CSS security mode: a user name and password, optionally a certificate.
    #[serde(rename = "CSS")]
    Css,
    /// MRS Kerberos: `krb5_conf` and `keytab`.
    #[serde(rename = "KRB")]
    Krb,
    /// Kafka over SSL: a truststore and a keystore with their passwords.
    #[serde(rename = "Kafka_SSL")]
    KafkaSsl,
}

impl DatasourceType {
    pub const ALL: [DatasourceType; 4] = [Self::Passwd, Self::Css, Self::Krb, Self::KafkaSsl];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Passwd => "passwd",
            Self::Css => "CSS",
            Self::Krb => "KRB",
            Self::KafkaSsl => "Kafka_SSL",
        }
    }

    /// The type DLI spells `raw`, ignoring ASCII case.
    pub fn parse(raw: &str) -> Option<Self> {
        Self::ALL
            .into_iter()
            .find(|kind| kind.as_str().eq_ignore_ascii_case(raw))
    }

    /// The fields that must be set for this type (beyond Terraform's pairings).
    fn required(self) -> &'static [Field] {
        use Field::*;
        match self {
            Self::Passwd | Self::Css => &[UserName, Password],
            Self::Krb => &[Krb5Conf, Keytab],
            Self::KafkaSsl => &[TruststoreLocation],
        }
    }

    /// The fields that may be set for this type.
    fn allowed(self) -> &'static [Field] {
        use Field::*;
        match self {
            Self::Passwd => &[UserName, Password],
            Self::Css => &[UserName, Password, CertificateLocation],
            Self::Krb => &[UserName, Krb5Conf, Keytab],
            Self::KafkaSsl => &[
                TruststoreLocation,
                TruststorePassword,
                KeystoreLocation,
                KeystorePassword,
                KeyPassword,
            ],
        }
    }
}

crate::domain::string_enum_schema!(
    DatasourceType,
    "DatasourceType",
    "What a credential authenticates to: `passwd` (DWS, RDS, DDS, DCS), `CSS` (CSS \
     security mode), `KRB` (MRS Kerberos) or `Kafka_SSL`. Matched ignoring case on input."
);

/// The fields of an auth info other than its name and type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Field {
    UserName,
    Password,
    CertificateLocation,
    Krb5Conf,
    Keytab,
    TruststoreLocation,
    TruststorePassword,
    KeystoreLocation,
    KeystorePassword,
    KeyPassword,
}

impl Field {
    pub const ALL: [Field; 10] = [
        Self::UserName,
        Self::Password,
        Self::CertificateLocation,
        Self::Krb5Conf,
        Self::Keytab,
        Self::TruststoreLocation,
        Self::TruststorePassword,
        Self::KeystoreLocation,
        Self::KeystorePassword,
        Self::KeyPassword,
    ];

    /// Its wire name, also its key in the stored JSON objects.
    pub fn name(self) -> &'static str {
        match self {
            Self::UserName => "user_name",
            Self::Password => "password",
            Self::CertificateLocation => "certificate_location",
            Self::Krb5Conf => "krb5_conf",
            Self::Keytab => "keytab",
            Self::TruststoreLocation => "truststore_location",
            Self::TruststorePassword => "truststore_password",
            Self::KeystoreLocation => "keystore_location",
            Self::KeystorePassword => "keystore_password",
            Self::KeyPassword => "key_password",
        }
    }

    pub fn is_secret(self) -> bool {
        matches!(
            self,
            Self::Password | Self::TruststorePassword | Self::KeystorePassword | Self::KeyPassword
        )
    }

    /// An OBS path (`obs://bucket/key`).
    pub fn is_location(self) -> bool {
        matches!(
            self,
            Self::CertificateLocation
                | Self::Krb5Conf
                | Self::Keytab
                | Self::TruststoreLocation
                | Self::KeystoreLocation
        )
    }

    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|field| field.name() == name)
    }
}

/// A name under the rules (1-128 of `[A-Za-z0-9_]`), or None.
pub fn valid_name(raw: &str) -> Option<&str> {
    let fits = (1..=MAX_NAME_CHARS).contains(&raw.len())
        && raw.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
    fits.then_some(raw)
}

/// The name of a request body, checked.
pub fn parse_name(value: &Option<Value>) -> Result<String, ValidationError> {
    match value {
        None | Some(Value::Null) => Err(ValidationError::new("auth_info_name is required")),
        Some(Value::String(raw)) if raw.is_empty() => {
            Err(ValidationError::new("auth_info_name is required"))
        }
        Some(Value::String(raw)) => valid_name(raw).map(str::to_owned).ok_or_else(|| {
            ValidationError::new("auth_info_name must be 1-128 letters, digits and underscores")
        }),
        Some(_) => Err(ValidationError::new("auth_info_name must be a string")),
    }
}

/// The type of a request body, matched ignoring case.
pub fn parse_type(value: &Value) -> Result<DatasourceType, ValidationError> {
    value
        .as_str()
        .and_then(DatasourceType::parse)
        .ok_or_else(|| {
            ValidationError::new("datasource_type must be one of passwd, CSS, KRB, Kafka_SSL")
        })
}

/// A non-secret field's text: None when not given (null or `""`).
pub fn plain_field(field: Field, value: &Option<Value>) -> Result<Option<String>, ValidationError> {
    let name = field.name();
    let text = match value {
        None | Some(Value::Null) => return Ok(None),
        Some(Value::String(text)) if text.is_empty() => return Ok(None),
        Some(Value::String(text)) => text,
        Some(_) => return Err(ValidationError::new(format!("{name} must be a string"))),
    };
    if text.chars().count() > MAX_FIELD_CHARS || text.chars().any(char::is_control) {
        return Err(ValidationError::new(format!(
            "{name} must be at most {MAX_FIELD_CHARS} characters, without control characters"
        )));
    }
    if field.is_location() {
        let path = text
            .get(..6)
            .filter(|scheme| scheme.eq_ignore_ascii_case("obs://"))
            .map(|_| &text[6..]);
        if path.is_none_or(str::is_empty) {
            return Err(ValidationError::new(format!(
                "{name} must be an OBS path such as obs://bucket/path/file"
            )));
        }
    }
    Ok(Some(text.clone()))
}

/// An auth info's fields other than its name and type: the plain ones (stored as the
/// `attributes` JSON) and the secret ones (sealed).
#[derive(Debug, Clone)]
pub struct Fields<S> {
    pub plain: BTreeMap<Field, String>,
    /// The secret values: generic so that this module needs no secret type of its own.
    pub secret: BTreeMap<Field, S>,
}

impl<S> Default for Fields<S> {
    fn default() -> Self {
        Self {
            plain: BTreeMap::new(),
            secret: BTreeMap::new(),
        }
    }
}

impl<S> Fields<S> {
    pub fn has(&self, field: Field) -> bool {
        self.plain.contains_key(&field) || self.secret.contains_key(&field)
    }

    pub fn set(&self) -> impl Iterator<Item = Field> + '_ {
        self.plain.keys().chain(self.secret.keys()).copied()
    }

    /// Terraform's pairings, then what the type needs and allows.
    pub fn check(&self, kind: DatasourceType) -> Result<(), ValidationError> {
        use Field::*;
        let requires: [(Field, &[Field]); 3] = [
            (
                TruststoreLocation,
                &[
                    TruststorePassword,
                    KeystoreLocation,
                    KeystorePassword,
                    KeyPassword,
                ],
            ),
            (Krb5Conf, &[Keytab]),
            (Keytab, &[Krb5Conf]),
        ];
        for (field, companions) in requires {
            if let Some(missing) = companions
                .iter()
                .find(|companion| self.has(field) && !self.has(**companion))
            {
                return Err(ValidationError::new(format!(
                    "{} requires {}",
                    field.name(),
                    missing.name()
                )));
            }
        }
        let conflicts = [
            (UserName, TruststoreLocation),
            (CertificateLocation, TruststoreLocation),
            (CertificateLocation, Krb5Conf),
        ];
        for (field, other) in conflicts {
            if self.has(field) && self.has(other) {
                return Err(ValidationError::new(format!(
                    "{} conflicts with {}",
                    field.name(),
                    other.name()
                )));
            }
        }
        if let Some(missing) = kind.required().iter().find(|field| !self.has(**field)) {
            return Err(ValidationError::new(format!(
                "datasource_type {} requires {}",
                kind.as_str(),
                missing.name()
            )));
        }
        if let Some(extra) = self.set().find(|field| !kind.allowed().contains(field)) {
            return Err(ValidationError::new(format!(
                "{} does not apply to datasource_type {}",
                extra.name(),
                kind.as_str()
            )));
        }
        Ok(())
    }

    pub fn attributes(&self) -> Map<String, Value> {
        self.plain
            .iter()
            .map(|(field, text)| (field.name().to_owned(), Value::String(text.clone())))
            .collect()
    }
}

/// The plain fields of a stored record's `attributes`.
pub fn plain_fields(attributes: &Map<String, Value>) -> BTreeMap<Field, String> {
    attributes
        .iter()
        .filter_map(|(key, value)| Some((Field::from_name(key)?, value.as_str()?.to_owned())))
        .filter(|(field, _)| !field.is_secret())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn types_match_ignoring_case_and_answer_dli_spelling() {
        for (raw, kind) in [
            ("passwd", DatasourceType::Passwd),
            ("PASSWD", DatasourceType::Passwd),
            ("krb", DatasourceType::Krb),
            ("kafka_ssl", DatasourceType::KafkaSsl),
            ("Css", DatasourceType::Css),
        ] {
            assert_eq!(DatasourceType::parse(raw), Some(kind), "{raw}");
        }
        assert_eq!(DatasourceType::parse("Kafka-SSL"), None);
        assert_eq!(DatasourceType::KafkaSsl.as_str(), "Kafka_SSL");
    }

    #[test]
    fn names_are_1_to_128_letters_digits_and_underscores() {
        assert!(valid_name("a").is_some());
        assert!(valid_name(&"a".repeat(128)).is_some());
        assert!(valid_name(&"a".repeat(129)).is_none());
        assert!(valid_name("").is_none());
        assert!(valid_name("a-b").is_none());
        assert!(valid_name("a b").is_none());
        assert!(valid_name("é").is_none());
    }
}
