//! A JSON client of one project on a dsconn server, as the end-to-end tests of checks use
//! it: requests with a token, answers as JSON, and queue connection tests run to their end.

use std::time::{Duration, Instant};

use serde_json::{Value, json};

/// How long a queue connection test may run before a test gives up on it.
const TEST_DEADLINE: Duration = Duration::from_secs(30);

pub struct ProjectApi {
    pub client: reqwest::Client,
    /// `http://host:port` (or https).
    pub base: String,
    pub project: String,
}

impl ProjectApi {
    /// The status and JSON answer of `method path` with `body`.
    pub async fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<&Value>,
    ) -> (u16, Value) {
        let mut request = self.client.request(method, format!("{}{path}", self.base));
        if let Some(body) = body {
            request = request.json(body);
        }
        let response = request.send().await.expect("sent");
        let status = response.status().as_u16();
        (status, response.json().await.expect("json"))
    }

    /// The answer of a request that must succeed.
    pub async fn ok(&self, method: reqwest::Method, path: &str, body: Option<&Value>) -> Value {
        let (status, answer) = self.send(method.clone(), path, body).await;
        assert!(
            (200..300).contains(&status),
            "{method} {path}: {status} {answer}"
        );
        answer
    }

    pub async fn post_ok(&self, path: &str, body: &Value) -> Value {
        self.ok(reqwest::Method::POST, path, Some(body)).await
    }

    /// Creates a `passwd` auth info of the project.
    pub async fn auth_info(&self, name: &str, user: &str, password: &str) {
        let path = format!("/v3/{}/datasource/auth-infos", self.project);
        self.post_ok(
            &path,
            &json!({"auth_info_name": name, "datasource_type": "passwd",
                    "user_name": user, "password": password}),
        )
        .await;
    }

    /// Runs a queue connection test of `body` to its answer.
    pub async fn queue_test(&self, queue: &str, body: &Value) -> Value {
        let base = format!("/v1.0/{}/queues/{queue}/connection-test", self.project);
        let created = self.post_ok(&base, body).await;
        let task = created["task_id"].as_i64().expect("task id");
        let started = Instant::now();
        loop {
            let answer = self
                .ok(reqwest::Method::GET, &format!("{base}/{task}"), None)
                .await;
            if answer["connectivity"] != "CHECKING" {
                return answer;
            }
            assert!(
                started.elapsed() < TEST_DEADLINE,
                "still checking: {answer}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

/// The stage named `name` of an answer's (or a binding's) `stages`; null when absent.
pub fn stage<'a>(answer: &'a Value, name: &str) -> &'a Value {
    answer["stages"]
        .as_array()
        .and_then(|stages| stages.iter().find(|stage| stage["stage"] == name))
        .unwrap_or(&Value::Null)
}

/// Whether `stage`'s message contains `needle`.
pub fn says(stage: &Value, needle: &str) -> bool {
    stage["message"]
        .as_str()
        .is_some_and(|message| message.contains(needle))
}
