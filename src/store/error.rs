//! The store's error, one type for every backend.

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("a live connection with this name already exists in the project")]
    DuplicateName,
    #[error("the project has reached its connection quota of {quota}")]
    QuotaExceeded { quota: u32 },
    #[error("{0}")]
    Config(String),
    #[error("stored data is not valid: {0}")]
    Corrupt(String),
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    #[error("database migration failed: {0}")]
    Migration(#[from] sqlx::migrate::MigrateError),
    #[error("the database schema does not match this build: {0}")]
    SchemaNotCurrent(String),
    /// A queue to bind is neither stored in the project nor declared.
    #[error("There is no queue named {0}")]
    UnknownQueue(String),
    /// A grouped commit failed: the write is not stored.
    #[error("the commit holding this write failed: {0}")]
    GroupCommit(String),
    #[error("{context}: {source}")]
    Io {
        context: String,
        source: std::io::Error,
    },
}
