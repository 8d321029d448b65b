//! An HTTP client for dsconn (or DLI itself): signs requests with the shared signing
//! module and answers with the API's own wire types.

use std::path::Path;
use std::time::Duration;

use http::{HeaderMap, HeaderName, HeaderValue, Method};
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::api::auth_infos::types::ListAuthInfosResponse;
use crate::api::bindings::types::QueuesRequest;
use crate::api::connections::types::{
    ConnectionResponse, CreateConnectionRequest, CreateConnectionResponse, ListConnectionsResponse,
};
use crate::api::enhanced::types::{
    CreateEnhancedConnectionRequest, CreateEnhancedConnectionResponse, CreateEnhancedRouteRequest,
    EnhancedBindingsRequest, ListEnhancedConnectionsResponse, ShowEnhancedConnectionResponse,
    UpdateEnhancedConnectionRequest,
};
use crate::api::queue_tests::{
    CreateConnectivityTaskRequest, CreateConnectivityTaskResponse, ShowConnectivityTaskResponse,
};
use crate::api::queues::types::{
    CreateQueueRequest, CreateQueueResponse, ListQueuesResponse, ShowQueueResponse,
};
use crate::api::resource_tags::types::ResourceTagsResponse;
use crate::api::sharing::types::{AuthorizationPrivilegesResponse, AuthorizationRequest};
use crate::api::types::{SuccessResponse, TestDefinitionRequest, TestResponse};
use crate::signing::{self, Algorithm, KeyPair, SigningMode};

mod answers;
mod events;
mod tls;
pub use answers::ClientError;
use answers::{api_error, request_id};
pub use events::{EventStream, StreamFrame};
pub use tls::secrets_may_travel;

const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
const USER_AGENT: &str = concat!("dsconn-cli/", env!("CARGO_PKG_VERSION"));

/// How requests are authenticated, and where that came from (for error advice).
#[derive(Clone)]
pub enum ClientAuth {
    None,
    AccessKey {
        access_key: String,
        secret_key: String,
        algorithm: Algorithm,
    },
    Token(String),
}

impl std::fmt::Debug for ClientAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ClientAuth::None => f.write_str("None"),
            ClientAuth::AccessKey {
                access_key,
                algorithm,
                ..
            } => {
                write!(f, "AccessKey({access_key}, <secret redacted>, {algorithm})")
            }
            ClientAuth::Token(_) => f.write_str("Token(<redacted>)"),
        }
    }
}

/// A filter for [`Client::list`]; each field maps to a query parameter.
#[derive(Debug, Clone, Default)]
pub struct ListFilter {
    pub tags: Vec<String>,
    pub states: Vec<String>,
    pub name: Option<String>,
    pub service: Option<String>,
    pub limit: Option<u32>,
    pub offset: Option<u32>,
}

impl ListFilter {
    /// The query string, encoded as the SDK encodes it (so signing matches exactly).
    fn query(&self) -> String {
        let mut pairs: Vec<(&str, String)> = Vec::new();
        if !self.tags.is_empty() {
            pairs.push(("tags", self.tags.join(",")));
        }
        if !self.states.is_empty() {
            pairs.push(("state", self.states.join(",")));
        }
        if let Some(name) = &self.name {
            pairs.push(("name", name.clone()));
        }
        if let Some(service) = &self.service {
            pairs.push(("service", service.clone()));
        }
        query_string(pairs, self.limit, self.offset)
    }
}

/// `pairs` and the paging, encoded as the SDK encodes a query (so signing matches exactly).
fn query_string(mut pairs: Vec<(&str, String)>, limit: Option<u32>, offset: Option<u32>) -> String {
    pairs.extend(limit.map(|limit| ("limit", limit.to_string())));
    pairs.extend(offset.map(|offset| ("offset", offset.to_string())));
    pairs
        .iter()
        .map(|(key, value)| format!("{}={}", signing::encode(key), signing::encode(value)))
        .collect::<Vec<_>>()
        .join("&")
}

/// A filter for [`Client::list_enhanced`] (E2's query parameters).
#[derive(Debug, Clone, Default)]
pub struct EnhancedListFilter {
    /// `ACTIVE` or `DELETED`; the server lists ACTIVE ones without it.
    pub status: Option<String>,
    /// Exact name.
    pub name: Option<String>,
    /// `key=value` pairs; all must match.
    pub tags: Vec<String>,
    pub limit: Option<u32>,
    pub offset: Option<u32>,
}

impl EnhancedListFilter {
    fn query(&self) -> String {
        let mut pairs: Vec<(&str, String)> = Vec::new();
        if let Some(status) = &self.status {
            pairs.push(("status", status.clone()));
        }
        if let Some(name) = &self.name {
            pairs.push(("name", name.clone()));
        }
        if !self.tags.is_empty() {
            pairs.push(("tags", self.tags.join(",")));
        }
        query_string(pairs, self.limit, self.offset)
    }
}

/// A response body both typed and raw: the CLI prints the raw JSON for scripts.
#[derive(Debug, Clone)]
pub struct Answer<T> {
    pub value: T,
    pub raw: Value,
}

pub struct Client {
    http: reqwest::Client,
    endpoint: reqwest::Url,
    project: String,
    auth: ClientAuth,
}

impl Client {
    /// A client of `endpoint`; with `ca_cert`, the PEM CAs in it are trusted too.
    pub fn new(
        endpoint: &str,
        project: &str,
        auth: ClientAuth,
        ca_cert: Option<&Path>,
    ) -> Result<Self, ClientError> {
        let mut endpoint = reqwest::Url::parse(endpoint).map_err(|error| {
            ClientError::Settings(format!(
                "the endpoint {endpoint:?} is not a URL ({error}); write e.g. http://127.0.0.1:8080"
            ))
        })?;
        if !matches!(endpoint.scheme(), "http" | "https") || endpoint.host_str().is_none() {
            return Err(ClientError::Settings(format!(
                "the endpoint {endpoint} must be an http:// or https:// URL with a host"
            )));
        }
        // Paths are joined onto the endpoint, so it must end in '/'.
        if !endpoint.path().ends_with('/') {
            let path = format!("{}/", endpoint.path());
            endpoint.set_path(&path);
        }
        let http = tls::trusting(reqwest::Client::builder(), ca_cert)
            .map_err(ClientError::Settings)?
            .timeout(REQUEST_TIMEOUT)
            .connect_timeout(CONNECT_TIMEOUT)
            .user_agent(USER_AGENT)
            .build()
            .map_err(|error| {
                ClientError::Settings(format!("cannot build the HTTP client: {error}"))
            })?;
        Ok(Self {
            http,
            endpoint,
            project: project.to_owned(),
            auth,
        })
    }

    pub fn endpoint(&self) -> &str {
        self.endpoint.as_str()
    }

    pub fn project(&self) -> &str {
        &self.project
    }

    /// A call to any path under the endpoint (`path` without a leading '/', its
    /// segments already encoded), with an optional JSON body.
    pub async fn request<T: DeserializeOwned, B: serde::Serialize>(
        &self,
        method: Method,
        path: &str,
        body: Option<&B>,
    ) -> Result<Answer<T>, ClientError> {
        let body = body
            .map(serde_json::to_vec)
            .transpose()
            .map_err(|error| ClientError::Settings(format!("cannot encode the body: {error}")))?;
        self.call(method, path, "", body).await
    }

    fn collection_path(&self) -> String {
        format!(
            "v2.0/{}/datasource-connection",
            signing::encode(&self.project)
        )
    }

    async fn call<T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        query: &str,
        body: Option<Vec<u8>>,
    ) -> Result<Answer<T>, ClientError> {
        let mut url = self.endpoint.join(path).map_err(|error| {
            ClientError::Settings(format!("cannot build a request URL: {error}"))
        })?;
        url.set_query((!query.is_empty()).then_some(query));
        let body = body.unwrap_or_default();
        let headers = self.headers(&method, &url, &body)?;
        let response = self
            .http
            .request(method, url)
            .headers(headers)
            .body(body)
            .send()
            .await
            .map_err(|error| self.unreachable(&error))?;
        let status = response.status().as_u16();
        let request_id = request_id(&response);
        let bytes = response
            .bytes()
            .await
            .map_err(|error| self.unreachable(&error))?;
        let mut raw: Value =
            serde_json::from_slice(&bytes).map_err(|error| ClientError::Protocol {
                endpoint: self.endpoint.to_string(),
                status,
                detail: format!("not JSON ({error})"),
            })?;
        // Whatever the server sends, what the CLI prints (tables, messages, errors, the
        // raw JSON) and the agent logs holds no control or bidi characters.
        crate::domain::text::clean_json(&mut raw);
        if status >= 400 {
            return Err(api_error(status, &raw, request_id, || raw.to_string()));
        }
        let value = serde_json::from_value(raw.clone()).map_err(|error| ClientError::Protocol {
            endpoint: self.endpoint.to_string(),
            status,
            detail: error.to_string(),
        })?;
        Ok(Answer { value, raw })
    }

    fn unreachable(&self, error: &reqwest::Error) -> ClientError {
        if let Some(untrusted) = tls::untrusted_certificate(error, &self.endpoint) {
            return ClientError::Settings(untrusted);
        }
        // The innermost cause says what happened ("Connection refused"); the outer
        // layers only repeat the URL.
        let mut detail = if error.is_timeout() {
            "timed out".to_owned()
        } else {
            error.to_string()
        };
        let mut source = std::error::Error::source(error);
        while let Some(cause) = source {
            detail = cause.to_string();
            source = cause.source();
        }
        ClientError::Unreachable {
            endpoint: self.endpoint.to_string(),
            detail,
        }
    }

    fn headers(
        &self,
        method: &Method,
        url: &reqwest::Url,
        body: &[u8],
    ) -> Result<HeaderMap, ClientError> {
        let mut headers = HeaderMap::new();
        let header = |value: &str| {
            HeaderValue::from_str(value).map_err(|_| {
                ClientError::Settings(format!("{value:?} is not a valid header value"))
            })
        };
        let host = match url.port() {
            Some(port) => format!("{}:{port}", url.host_str().unwrap_or_default()),
            None => url.host_str().unwrap_or_default().to_owned(),
        };
        headers.insert(http::header::HOST, header(&host)?);
        headers.insert(
            http::header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        headers.insert(
            http::header::USER_AGENT,
            HeaderValue::from_static(USER_AGENT),
        );
        headers.insert(
            HeaderName::from_static("x-project-id"),
            header(&self.project)?,
        );
        match &self.auth {
            ClientAuth::None => {}
            ClientAuth::Token(token) => {
                headers.insert(HeaderName::from_static("x-auth-token"), header(token)?);
            }
            ClientAuth::AccessKey {
                access_key,
                secret_key,
                algorithm,
            } => signing::sign(
                KeyPair {
                    access_key,
                    secret_key,
                },
                SigningMode::of(*algorithm),
                method,
                url.path(),
                url.query().unwrap_or_default(),
                &mut headers,
                body,
                chrono::Utc::now(),
            )
            .map_err(|error| ClientError::Settings(error.to_string()))?,
        }
        Ok(headers)
    }

    pub async fn list(
        &self,
        filter: &ListFilter,
    ) -> Result<Answer<ListConnectionsResponse>, ClientError> {
        self.call(Method::GET, &self.collection_path(), &filter.query(), None)
            .await
    }

    pub async fn show(&self, id: &str) -> Result<Answer<ConnectionResponse>, ClientError> {
        let path = format!("{}/{}", self.collection_path(), signing::encode(id));
        self.call(Method::GET, &path, "", None).await
    }

    pub async fn create(
        &self,
        request: &CreateConnectionRequest,
    ) -> Result<Answer<CreateConnectionResponse>, ClientError> {
        let body = serde_json::to_vec(request).map_err(|error| {
            ClientError::Settings(format!("cannot encode the request: {error}"))
        })?;
        self.call(Method::POST, &self.collection_path(), "", Some(body))
            .await
    }

    /// Checks a saved connection now.
    pub async fn test_connection(&self, id: &str) -> Result<Answer<TestResponse>, ClientError> {
        let path = format!("{}/{}/test", self.collection_path(), signing::encode(id));
        self.call(Method::POST, &path, "", Some(b"{}".to_vec()))
            .await
    }

    /// Checks a definition without saving it.
    pub async fn test_definition(
        &self,
        request: &TestDefinitionRequest,
    ) -> Result<Answer<TestResponse>, ClientError> {
        let body = serde_json::to_vec(request).map_err(|error| {
            ClientError::Settings(format!("cannot encode the request: {error}"))
        })?;
        let path = format!("{}/test", self.collection_path());
        self.call(Method::POST, &path, "", Some(body)).await
    }

    pub async fn delete(&self, id: &str) -> Result<Answer<SuccessResponse>, ClientError> {
        let path = format!("{}/{}", self.collection_path(), signing::encode(id));
        self.call(Method::DELETE, &path, "", None).await
    }

    /// DLI's AssociateQueueToDatasourceConnection (classic): binds queues.
    pub async fn associate_queues(
        &self,
        id: &str,
        queues: &[String],
    ) -> Result<Answer<SuccessResponse>, ClientError> {
        self.change_queues(id, queues, "associate-queue").await
    }

    /// DLI's DisassociateQueueFromDatasourceConnection (classic): unbinds queues.
    pub async fn disassociate_queues(
        &self,
        id: &str,
        queues: &[String],
    ) -> Result<Answer<SuccessResponse>, ClientError> {
        self.change_queues(id, queues, "disassociate-queue").await
    }

    async fn change_queues(
        &self,
        id: &str,
        queues: &[String],
        action: &str,
    ) -> Result<Answer<SuccessResponse>, ClientError> {
        let path = format!(
            "{}/{}/{action}",
            self.collection_path(),
            signing::encode(id)
        );
        let body = QueuesRequest {
            queues: Some(queues.to_vec()),
        };
        self.request(Method::POST, &path, Some(&body)).await
    }

    // ---- Datasource authentication (DLI's `/v3/{project_id}/datasource/auth-infos`) ----

    fn auth_infos_path(&self) -> String {
        format!(
            "v3/{}/datasource/auth-infos",
            signing::encode(&self.project)
        )
    }

    /// CreateJobAuthInfo; `body` is the request's JSON (its passwords included).
    pub async fn create_auth_info(
        &self,
        body: &Value,
    ) -> Result<Answer<SuccessResponse>, ClientError> {
        self.request(Method::POST, &self.auth_infos_path(), Some(body))
            .await
    }

    /// ListJobAuthInfos; `name` selects one by its exact name.
    pub async fn list_auth_infos(
        &self,
        name: Option<&str>,
    ) -> Result<Answer<ListAuthInfosResponse>, ClientError> {
        let mut query = "limit=0".to_owned();
        if let Some(name) = name {
            query.push_str(&format!("&auth_info_name={}", signing::encode(name)));
        }
        self.call(Method::GET, &self.auth_infos_path(), &query, None)
            .await
    }

    /// UpdateJobAuthInfo: changes only the fields `body` gives.
    pub async fn update_auth_info(
        &self,
        body: &Value,
    ) -> Result<Answer<SuccessResponse>, ClientError> {
        self.request(Method::PUT, &self.auth_infos_path(), Some(body))
            .await
    }

    /// DeleteJobAuthInfo.
    pub async fn delete_auth_info(
        &self,
        name: &str,
    ) -> Result<Answer<SuccessResponse>, ClientError> {
        let path = format!("{}/{}", self.auth_infos_path(), signing::encode(name));
        self.call(Method::DELETE, &path, "", None).await
    }

    // ---- Queues (DLI's `/v1.0/{project_id}/queues`) ----

    fn queues_path(&self) -> String {
        format!("v1.0/{}/queues", signing::encode(&self.project))
    }

    pub async fn create_queue(
        &self,
        request: &CreateQueueRequest,
    ) -> Result<Answer<CreateQueueResponse>, ClientError> {
        let body = serde_json::to_vec(request).map_err(|error| {
            ClientError::Settings(format!("cannot encode the request: {error}"))
        })?;
        self.call(Method::POST, &self.queues_path(), "", Some(body))
            .await
    }

    /// `queue_type`: `sql`, `general` or `all` (the server's default is `sql`).
    pub async fn list_queues(
        &self,
        queue_type: &str,
    ) -> Result<Answer<ListQueuesResponse>, ClientError> {
        let query = format!("queue_type={}", signing::encode(queue_type));
        self.call(Method::GET, &self.queues_path(), &query, None)
            .await
    }

    pub async fn show_queue(&self, name: &str) -> Result<Answer<ShowQueueResponse>, ClientError> {
        let path = format!("{}/{}", self.queues_path(), signing::encode(name));
        self.call(Method::GET, &path, "", None).await
    }

    pub async fn delete_queue(&self, name: &str) -> Result<Answer<SuccessResponse>, ClientError> {
        let path = format!("{}/{}", self.queues_path(), signing::encode(name));
        self.call(Method::DELETE, &path, "", None).await
    }

    // ---- Elastic resource pools (DLI's `/v3/{project_id}/elastic-resource-pools`) ----

    fn pools_path(&self) -> String {
        format!(
            "v3/{}/elastic-resource-pools",
            signing::encode(&self.project)
        )
    }

    pub async fn create_pool(
        &self,
        request: &crate::api::pools::types::CreatePoolRequest,
    ) -> Result<Answer<crate::api::pools::types::CreatePoolResponse>, ClientError> {
        self.request(Method::POST, &self.pools_path(), Some(request))
            .await
    }

    /// One page of pools (`name`: a case-insensitive part of the name).
    pub async fn list_pools(
        &self,
        name: Option<&str>,
        offset: usize,
    ) -> Result<Answer<crate::api::pools::types::ListPoolsResponse>, ClientError> {
        let mut query = format!("limit=100&offset={offset}");
        if let Some(name) = name {
            query.push_str(&format!("&name={}", signing::encode(name)));
        }
        self.call(Method::GET, &self.pools_path(), &query, None)
            .await
    }

    pub async fn delete_pool(&self, name: &str) -> Result<Answer<SuccessResponse>, ClientError> {
        let path = format!("{}/{}", self.pools_path(), signing::encode(name));
        self.call(Method::DELETE, &path, "", None).await
    }

    /// The pool's queues with their scaling policies (first 100).
    pub async fn list_pool_queues(
        &self,
        pool: &str,
    ) -> Result<Answer<crate::api::pools::types::ListPoolQueuesResponse>, ClientError> {
        let path = format!("{}/{}/queues", self.pools_path(), signing::encode(pool));
        self.call(Method::GET, &path, "limit=100", None).await
    }

    /// Moves a queue that is in no pool into `pool`.
    pub async fn add_pool_queue(
        &self,
        pool: &str,
        queue: &str,
    ) -> Result<Answer<SuccessResponse>, ClientError> {
        let path = format!("{}/{}/queues", self.pools_path(), signing::encode(pool));
        let body = crate::api::pools::types::AssociatePoolQueueRequest {
            queue_name: Some(Value::String(queue.to_owned())),
        };
        self.request(Method::POST, &path, Some(&body)).await
    }

    /// DLI's CreateConnectivityTask: is the request's `address` reachable from the
    /// queue (and with its extensions, does it log in)?
    pub async fn create_queue_test(
        &self,
        queue: &str,
        body: &CreateConnectivityTaskRequest,
    ) -> Result<Answer<CreateConnectivityTaskResponse>, ClientError> {
        let path = format!(
            "{}/{}/connection-test",
            self.queues_path(),
            signing::encode(queue)
        );
        self.request(Method::POST, &path, Some(body)).await
    }

    /// DLI's ShowConnectivityTask.
    pub async fn show_queue_test(
        &self,
        queue: &str,
        task_id: i64,
    ) -> Result<Answer<ShowConnectivityTaskResponse>, ClientError> {
        let path = format!(
            "{}/{}/connection-test/{task_id}",
            self.queues_path(),
            signing::encode(queue)
        );
        self.call(Method::GET, &path, "", None).await
    }
    // ---- Enhanced connections (DLI's `/v2.0/{project_id}/datasource/enhanced-connections`) ----

    fn enhanced_path(&self) -> String {
        format!(
            "v2.0/{}/datasource/enhanced-connections",
            signing::encode(&self.project)
        )
    }

    fn enhanced_connection_path(&self, id: &str) -> String {
        format!("{}/{}", self.enhanced_path(), signing::encode(id))
    }

    /// E1.
    pub async fn create_enhanced(
        &self,
        request: &CreateEnhancedConnectionRequest,
    ) -> Result<Answer<CreateEnhancedConnectionResponse>, ClientError> {
        self.request(Method::POST, &self.enhanced_path(), Some(request))
            .await
    }

    /// E2.
    pub async fn list_enhanced(
        &self,
        filter: &EnhancedListFilter,
    ) -> Result<Answer<ListEnhancedConnectionsResponse>, ClientError> {
        self.call(Method::GET, &self.enhanced_path(), &filter.query(), None)
            .await
    }

    /// E3.
    pub async fn show_enhanced(
        &self,
        id: &str,
    ) -> Result<Answer<ShowEnhancedConnectionResponse>, ClientError> {
        self.call(Method::GET, &self.enhanced_connection_path(id), "", None)
            .await
    }

    /// E4.
    pub async fn delete_enhanced(&self, id: &str) -> Result<Answer<SuccessResponse>, ClientError> {
        self.call(Method::DELETE, &self.enhanced_connection_path(id), "", None)
            .await
    }

    /// E5: binds queues and/or pools of this project.
    pub async fn bind_enhanced(
        &self,
        id: &str,
        request: &EnhancedBindingsRequest,
    ) -> Result<Answer<SuccessResponse>, ClientError> {
        self.change_enhanced_bindings(id, request, "associate-queue")
            .await
    }

    /// E6: unbinds queues and/or pools of this project.
    pub async fn unbind_enhanced(
        &self,
        id: &str,
        request: &EnhancedBindingsRequest,
    ) -> Result<Answer<SuccessResponse>, ClientError> {
        self.change_enhanced_bindings(id, request, "disassociate-queue")
            .await
    }

    async fn change_enhanced_bindings(
        &self,
        id: &str,
        request: &EnhancedBindingsRequest,
        action: &str,
    ) -> Result<Answer<SuccessResponse>, ClientError> {
        let path = format!("{}/{action}", self.enhanced_connection_path(id));
        self.request(Method::POST, &path, Some(request)).await
    }

    /// E7: replaces the host list.
    pub async fn update_enhanced_hosts(
        &self,
        id: &str,
        request: &UpdateEnhancedConnectionRequest,
    ) -> Result<Answer<SuccessResponse>, ClientError> {
        self.request(
            Method::PUT,
            &self.enhanced_connection_path(id),
            Some(request),
        )
        .await
    }

    /// E8 (the v3 path).
    pub async fn add_enhanced_route(
        &self,
        id: &str,
        request: &CreateEnhancedRouteRequest,
    ) -> Result<Answer<SuccessResponse>, ClientError> {
        let path = format!(
            "v3/{}/datasource/enhanced-connections/{}/routes",
            signing::encode(&self.project),
            signing::encode(id)
        );
        self.request(Method::POST, &path, Some(request)).await
    }

    /// E9 (the v3 path).
    pub async fn delete_enhanced_route(
        &self,
        id: &str,
        name: &str,
    ) -> Result<Answer<SuccessResponse>, ClientError> {
        let path = format!(
            "v3/{}/datasource/enhanced-connections/{}/routes/{}",
            signing::encode(&self.project),
            signing::encode(id),
            signing::encode(name)
        );
        self.call(Method::DELETE, &path, "", None).await
    }

    /// RunAuthorizationAction: grants, revokes or replaces another project's privileges.
    pub async fn authorize(
        &self,
        request: &AuthorizationRequest,
    ) -> Result<Answer<SuccessResponse>, ClientError> {
        let path = format!("v1.0/{}/authorization", signing::encode(&self.project));
        self.request(Method::PUT, &path, Some(request)).await
    }

    /// ListAuthorizationPrivileges of one enhanced connection.
    pub async fn enhanced_privileges(
        &self,
        id: &str,
    ) -> Result<Answer<AuthorizationPrivilegesResponse>, ClientError> {
        let path = format!(
            "v1.0/{}/authorization/privileges",
            signing::encode(&self.project)
        );
        let query = format!(
            "object={}",
            signing::encode(&format!("edsconnections.{id}"))
        );
        self.call(Method::GET, &path, &query, None).await
    }

    /// The tags of an enhanced connection (DLI's v3 tag API).
    pub async fn enhanced_tags(
        &self,
        id: &str,
    ) -> Result<Answer<ResourceTagsResponse>, ClientError> {
        let path = format!(
            "v3/{}/{}/{}/tags",
            signing::encode(&self.project),
            crate::api::resource_tags::RESOURCE_TYPE,
            signing::encode(id)
        );
        self.call(Method::GET, &path, "", None).await
    }
}
