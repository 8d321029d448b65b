//! Placeholder until the hsession branch lands (its version replaces this file).

use serde::{Deserialize, Serialize};

/// What a job needs on the data source, checked by the privileges stage.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct PrivilegeRequest {
    pub privilege: Privilege,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub table: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Privilege {
    Select,
    Insert,
    Update,
    Delete,
    Create,
}

impl PrivilegeRequest {
    pub fn parse(text: &str) -> Result<Self, String> {
        let (privilege, table) = match text.split_once(':') {
            Some((privilege, table)) => (privilege, Some(table.to_owned())),
            None => (text, None),
        };
        let privilege = match privilege.to_ascii_uppercase().as_str() {
            "SELECT" => Privilege::Select,
            "INSERT" => Privilege::Insert,
            "UPDATE" => Privilege::Update,
            "DELETE" => Privilege::Delete,
            "CREATE" => Privilege::Create,
            _ => return Err(format!("unknown privilege {privilege:?}")),
        };
        Ok(Self { privilege, table })
    }
}
