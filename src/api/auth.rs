//! Who is calling, and whether they may touch a project. Every handler asks through
//! [`Principal::authorize`], so request signing plugs in here without touching them.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;

use super::error::ApiError;
use super::state::AppState;
use crate::config::AuthMode;
use crate::domain::ProjectId;

/// The authenticated caller of a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Principal {
    /// `--auth none`: local emulation, every project open.
    Anonymous,
}

impl Principal {
    /// Parses the path's project and checks that this caller may use it.
    pub fn authorize(&self, raw_project: &str) -> Result<ProjectId, ApiError> {
        let project = ProjectId::parse(raw_project)?;
        match self {
            Principal::Anonymous => Ok(project),
        }
    }
}

impl FromRequestParts<AppState> for Principal {
    type Rejection = ApiError;

    async fn from_request_parts(
        _parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        match state.settings.auth {
            AuthMode::None => Ok(Principal::Anonymous),
        }
    }
}
