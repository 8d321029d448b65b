//! Wire types of binding queues to classic connections.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::domain::QueueName;

/// `{"queues": [...]}` of associate-queue and disassociate-queue.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
#[schema(example = json!({"queues": ["etl_queue"]}))]
pub struct QueuesRequest {
    /// 1-100 queue names; repeats count once. `default` is refused (DLI.0007).
    #[serde(default)]
    #[schema(value_type = Vec<QueueName>, required = true, min_items = 1, max_items = 100)]
    pub queues: Option<Vec<String>>,
}
