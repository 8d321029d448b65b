//! Issuing and revoking credentials and tokens: shared by the CLI, the first-start
//! bootstrap and the tests.

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::credentials::{
    Secret, SecretBox, SecretsError, generate_access_key, generate_secret_key, generate_token,
    hash_token,
};
use crate::domain::{ProjectId, ProjectScope, ValidationError, now_millis};
use crate::store::{DynStore, NewCredential, NewToken, StoreError};

#[derive(Debug, thiserror::Error)]
pub enum IssuingError {
    #[error(transparent)]
    Invalid(#[from] ValidationError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Secrets(#[from] SecretsError),
    #[error(
        "the key file {} does not match this database: its secrets were sealed with another \
         key. Copy the key file of the first server (its --secret-key-file, by default \
         <data-dir>/secret.key) to {}, or point --secret-key-file at that file",
        .0.display(), .0.display()
    )]
    KeyFileMismatch(PathBuf),
}

/// Loads (or, for a new database, creates) the key file that seals secret keys, and makes
/// sure it is the database's own key: a process with another key would answer every
/// signed request with 500, so it refuses to start instead.
pub async fn open_secrets(store: &DynStore, key_file: &Path) -> Result<SecretBox, IssuingError> {
    let secrets = SecretBox::load_or_create_file(key_file)?;
    let mismatch = || IssuingError::KeyFileMismatch(key_file.to_path_buf());
    // Databases made before the key check existed: judge the key by a stored secret.
    if let Some(credential) = store.list_credentials().await?.first()
        && secrets
            .open(&credential.sealed_secret_key, &credential.access_key)
            .is_err()
    {
        return Err(mismatch());
    }
    let stored = store.key_check(&secrets.key_check_value()).await?;
    if !secrets.opens_key_check(&stored) {
        return Err(mismatch());
    }
    Ok(secrets)
}

/// A credential as issued: the only time its secret key is known in clear.
#[derive(Debug, Clone)]
pub struct IssuedCredential {
    pub access_key: String,
    pub secret_key: Secret,
    pub scope: ProjectScope,
}

/// A token as issued: the only time the token itself is known.
#[derive(Debug, Clone)]
pub struct IssuedToken {
    pub id: String,
    pub token: Secret,
    pub scope: ProjectScope,
    pub expires_at: i64,
}

/// Validates project ids for a scope; an empty list is refused (use `All`).
pub fn scope_of(projects: &[String], all_projects: bool) -> Result<ProjectScope, ValidationError> {
    if all_projects {
        if !projects.is_empty() {
            return Err(ValidationError::new(
                "give either --all-projects or --project, not both",
            ));
        }
        return Ok(ProjectScope::All);
    }
    if projects.is_empty() {
        return Err(ValidationError::new(
            "give at least one --project, or --all-projects",
        ));
    }
    let mut validated = Vec::with_capacity(projects.len());
    for project in projects {
        let project = ProjectId::parse(project)?;
        if !validated.iter().any(|p: &String| p == project.as_str()) {
            validated.push(project.as_str().to_owned());
        }
    }
    Ok(ProjectScope::Projects(validated))
}

pub async fn create_credential(
    store: &DynStore,
    secrets: &SecretBox,
    scope: ProjectScope,
) -> Result<IssuedCredential, IssuingError> {
    let access_key = generate_access_key();
    let secret_key = generate_secret_key();
    store
        .insert_credential(&NewCredential {
            sealed_secret_key: secrets.seal(&secret_key, &access_key),
            access_key: access_key.clone(),
            scope: scope.clone(),
            created_at: now_millis(),
        })
        .await?;
    Ok(IssuedCredential {
        access_key,
        secret_key,
        scope,
    })
}

pub async fn create_token(
    store: &DynStore,
    scope: ProjectScope,
    ttl: Duration,
) -> Result<IssuedToken, IssuingError> {
    if ttl.is_zero() {
        return Err(ValidationError::new("the token's time to live must be more than 0").into());
    }
    let token = generate_token();
    let id = uuid::Uuid::new_v4().to_string();
    let created_at = now_millis();
    let expires_at = created_at.saturating_add(i64::try_from(ttl.as_millis()).unwrap_or(i64::MAX));
    store
        .insert_token(&NewToken {
            id: id.clone(),
            token_hash: hash_token(token.expose()),
            scope: scope.clone(),
            created_at,
            expires_at,
        })
        .await?;
    Ok(IssuedToken {
        id,
        token,
        scope,
        expires_at,
    })
}
