//! Issue 27: the provider's standard DLI network stack (its example
//! `examples/dli/queue-public-network-connectivity`, plus a connection privilege for a
//! second project and a datasource auth), replayed as terraform-provider-huaweicloud
//! sends it: AK/SK-signed requests with `Content-Type: application/json;charset=utf8`,
//! each success accepted only with the resource's OkCodes and `is_success` not false,
//! each read following the provider's JSON paths, pagers and waits (minus their sleeps).
//!
//! apply -> refresh twice (no change) -> update (cu_count, hosts, a route, the pool) ->
//! import of each resource by its import id -> destroy in Terraform's order -> nothing
//! left. Run on SQLite and on PostgreSQL. A second story destroys a stack whose queue
//! was deleted outside Terraform: the queue's Read says "gone", not an error.

use dsconn::domain::ProjectScope;
use serde_json::{Value, json};

use crate::helpers::services::fresh_postgres_database;
use crate::helpers::{
    SignedRequest, TestApp, TestCredential, new_project, spawn_app, spawn_app_with,
};

const TERRAFORM_CONTENT_TYPE: &str = "application/json;charset=utf8";

/// golangsdk's default OkCodes for POST and PUT.
const DEFAULT_WRITE: &[u16] = &[200, 201, 202];
/// golangsdk's default OkCodes for DELETE.
const DEFAULT_DELETE: &[u16] = &[200, 202, 204];

const POOL: &str = "tf_pool";
const QUEUE: &str = "tf_queue";
const AUTH: &str = "tf_auth";

use reqwest::Method;

struct Provider<'a> {
    app: &'a TestApp,
    credential: TestCredential,
    project: String,
}

impl Provider<'_> {
    async fn request(&self, method: Method, target: &str, body: Option<&Value>) -> (u16, Value) {
        let request = SignedRequest {
            method,
            target: target.to_owned(),
            body: body.map(|b| b.to_string().into_bytes()).unwrap_or_default(),
            credential: &self.credential,
            sdk_date: None,
            extra_headers: vec![("content-type", TERRAFORM_CONTENT_TYPE.to_owned())],
        };
        let response = self.app.signed(&request).await;
        let status = response.status().as_u16();
        let text = response.text().await.expect("body");
        let body = serde_json::from_str(&text).unwrap_or(Value::Null);
        (status, body)
    }

    /// A call that must end in one of `ok` with `is_success` not false (the provider's
    /// `utils.PathSearch("is_success", body, true)`).
    async fn ok(&self, method: Method, target: &str, body: Option<Value>, ok: &[u16]) -> Value {
        let (status, answer) = self.request(method.clone(), target, body.as_ref()).await;
        assert!(
            ok.contains(&status),
            "{method} {target}: {status} not in {ok:?}: {answer}"
        );
        assert_ne!(answer["is_success"], false, "{method} {target}: {answer}");
        answer
    }

    fn p(&self) -> &str {
        &self.project
    }

    /// golangsdk's offset pager: pages until an empty one, the next offset being this
    /// one's plus its limit (or, without one, its size).
    async fn pages(&self, path: &str, query: &str, key: &str) -> Vec<Value> {
        let mut all = Vec::new();
        let mut offset = 0;
        loop {
            let mut target = format!("{path}?{query}");
            if offset > 0 {
                target = format!("{target}&offset={offset}");
            }
            let page = self.ok(Method::GET, &target, None, &[200]).await;
            let items = page[key].as_array().cloned().expect("the pager's array");
            if items.is_empty() {
                return all;
            }
            let limit = query
                .split('&')
                .find_map(|pair| pair.strip_prefix("limit="))
                .and_then(|limit| limit.parse().ok())
                .unwrap_or(items.len());
            offset += limit;
            all.extend(items);
            assert!(offset < 10_000, "the pager must end");
        }
    }

    // ---- Reads, as the provider makes them (None: gone) ----

    /// `GetElasticResourcePoolByName`: `?offset=N&limit=100` until an empty page, then
    /// `[?elastic_resource_pool_name=='<lower>']`.
    async fn pool(&self, name: &str) -> Option<Value> {
        let mut offset = 0;
        let mut pools = Vec::new();
        loop {
            let page = self
                .ok(
                    Method::GET,
                    &format!(
                        "/v3/{}/elastic-resource-pools?offset={offset}&limit=100",
                        self.p()
                    ),
                    None,
                    &[200],
                )
                .await;
            let items = page["elastic_resource_pools"]
                .as_array()
                .cloned()
                .unwrap_or_default();
            if items.is_empty() {
                break;
            }
            offset += items.len();
            pools.extend(items);
        }
        let lower = name.to_lowercase();
        pools
            .into_iter()
            .find(|pool| pool["elastic_resource_pool_name"] == lower.as_str())
    }

    /// The pool resource's state (what Read sets).
    async fn pool_state(&self, name: &str) -> Option<Value> {
        let pool = self.pool(name).await?;
        assert_eq!(
            pool["status"], "AVAILABLE",
            "waitForElasticResourcePoolStatusCompleted"
        );
        for key in ["resource_id", "create_time", "charging_mode", "label"] {
            assert!(pool.get(key).is_some(), "{key} in {pool}");
        }
        Some(json!({
            "id": pool["resource_id"], "name": pool["elastic_resource_pool_name"],
            "max_cu": pool["max_cu"], "min_cu": pool["min_cu"],
            "description": pool["description"], "cidr": pool["cidr_in_vpc"],
            "label": pool["label"], "enterprise_project_id": pool["enterprise_project_id"],
        }))
    }

    /// `resourceDliQueueRead`: the queue in ListQueues (absent: gone), its pool's queue
    /// list for `queue_scaling_policies`, then its properties for `spark_driver`.
    async fn queue_state(&self, name: &str, queue_type: &str) -> Option<Value> {
        let list = self
            .ok(
                Method::GET,
                &format!("/v1.0/{}/queues?queue_type={queue_type}", self.p()),
                None,
                &[200],
            )
            .await;
        assert_eq!(list["is_success"], true);
        let queue = list["queues"]
            .as_array()
            .expect("queues")
            .iter()
            .find(|queue| queue["queue_name"] == name)
            .cloned()?;
        let pool = queue["elastic_resource_pool_name"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        let mut policies = Value::Null;
        if !pool.is_empty() {
            let queues = self
                .pages(
                    &format!("/v3/{}/elastic-resource-pools/{pool}/queues", self.p()),
                    &format!("limit=100&queue_name={name}"),
                    "queues",
                )
                .await;
            let found = queues
                .iter()
                .find(|item| item["queue_name"] == name)
                .unwrap_or_else(|| {
                    panic!("unable to find the queue ({name}) under the pool ({pool})")
                });
            policies = found["queue_scaling_policies"].clone();
        }
        let properties = self
            .pages(
                &format!("/v3/{}/queues/{name}/properties", self.p()),
                "",
                "properties",
            )
            .await;
        let mut driver = serde_json::Map::new();
        for property in &properties {
            let value = property["value"]
                .as_str()
                .expect("property values are strings");
            match property["key"].as_str().expect("key") {
                "computeEngine.maxInstance" => {
                    driver.insert(
                        "max_instance".into(),
                        value.parse::<i64>().expect("int").into(),
                    );
                }
                "job.maxConcurrent" => {
                    driver.insert(
                        "max_concurrent".into(),
                        value.parse::<i64>().expect("int").into(),
                    );
                }
                "computeEngine.maxPrefetchInstance" => {
                    driver.insert("max_prefetch_instance".into(), value.into());
                }
                _ => {}
            }
        }
        Some(json!({
            "id": queue["resource_id"], "name": queue["queue_name"],
            "queue_type": queue["queue_type"], "cu_count": queue["cu_count"],
            "vpc_cidr": queue["cidr_in_vpc"], "owner": queue["owner"],
            "create_time": queue["create_time"], "resource_mode": queue["resource_mode"],
            "platform": queue["platform"],
            "elastic_resource_pool_name": queue["elastic_resource_pool_name"],
            "scaling_policies": policies, "spark_driver": driver,
        }))
    }

    fn connection_path(&self, id: &str) -> String {
        format!("/v2.0/{}/datasource/enhanced-connections/{id}", self.p())
    }

    /// The connection resource's Read (E3): DELETED is gone.
    async fn connection_state(&self, id: &str) -> Option<Value> {
        let read = self
            .ok(Method::GET, &self.connection_path(id), None, &[200])
            .await;
        if read["status"] == "DELETED" {
            return None;
        }
        let routes: Vec<Value> = read["routes"]
            .as_array()
            .expect("routes")
            .iter()
            .map(|route| json!({"name": route["name"], "cidr": route["cidr"]}))
            .collect();
        Some(json!({
            "name": read["name"], "vpc_id": read["dest_vpc_id"], "subnet_id": read["dest_network_id"],
            "hosts": read["hosts"], "routes": routes, "status": read["status"],
        }))
    }

    /// The associate resource's Read: `elastic_resource_pools[*].name`; empty is gone.
    async fn association_state(&self, id: &str) -> Option<Value> {
        let read = self
            .ok(Method::GET, &self.connection_path(id), None, &[200])
            .await;
        let pools: Vec<Value> = read["elastic_resource_pools"]
            .as_array()
            .map(|pools| pools.iter().map(|pool| pool["name"].clone()).collect())
            .unwrap_or_default();
        (read["status"] != "DELETED" && !pools.is_empty()).then(|| json!(pools))
    }

    /// The privilege resource's Read (E10, `privileges[?project_id=='<p>']`).
    async fn privilege_state(&self, id: &str, grantee: &str) -> Option<Value> {
        let (status, read) = self
            .request(
                Method::GET,
                &format!("{}/privileges", self.connection_path(id)),
                None,
            )
            .await;
        if status == 400 && read["error_code"] == "DLI.0001" {
            return None;
        }
        assert_eq!(status, 200, "{read}");
        read["privileges"]
            .as_array()
            .expect("privileges")
            .iter()
            .find(|grant| grant["project_id"] == grantee)
            .map(|grant| grant["privileges"].clone())
    }

    /// The auth resource's Read (A2 by name): an empty list is gone.
    async fn auth_state(&self, name: &str) -> Option<Value> {
        let read = self
            .ok(
                Method::GET,
                &format!(
                    "/v3/{}/datasource/auth-infos?auth_info_name={name}",
                    self.p()
                ),
                None,
                &[200],
            )
            .await;
        let item = read["auth_infos"].get(0)?.clone();
        assert!(
            item.get("password").is_none(),
            "secrets never come back: {item}"
        );
        Some(
            json!({"name": item["auth_info_name"], "type": item["datasource_type"],
                    "user_name": item["user_name"]}),
        )
    }

    /// The data sources of the stack: `huaweicloud_dli_queues` (page-size/current-page
    /// until a short page), `huaweicloud_dli_quotas` and `huaweicloud_dli_agency`.
    async fn data_sources(&self) -> Value {
        let mut queues = Vec::new();
        for page in 1.. {
            let answer = self
                .ok(
                    Method::GET,
                    &format!(
                        "/v1.0/{}/queues?page-size=100&queue_type=all&current-page={page}",
                        self.p()
                    ),
                    None,
                    &[200],
                )
                .await;
            let items = answer["queues"].as_array().cloned().expect("queues");
            let short = items.len() < 100;
            queues.extend(items.into_iter().map(|queue| queue["queue_name"].clone()));
            if short {
                break;
            }
        }
        let quotas = self
            .ok(
                Method::GET,
                &format!("/v3/{}/quotas?type=QUEUE", self.p()),
                None,
                &[200],
            )
            .await;
        let agency = self
            .ok(
                Method::GET,
                &format!("/v2/{}/agency", self.p()),
                None,
                &[200],
            )
            .await;
        json!({"queues": queues, "queue_quota": quotas["quotas"]["resources"],
               "agency": agency["current_roles"]})
    }

    /// Every Read of the stack, as one state.
    async fn refresh(&self, id: &str, grantee: &str) -> Value {
        json!({
            "pool": self.pool_state(POOL).await,
            "queue": self.queue_state(QUEUE, "sql").await,
            "connection": self.connection_state(id).await,
            "association": self.association_state(id).await,
            "privilege": self.privilege_state(id, grantee).await,
            "auth": self.auth_state(AUTH).await,
            "data": self.data_sources().await,
        })
    }
}

async fn provider(app: &TestApp) -> Provider<'_> {
    let project = new_project();
    Provider {
        credential: app
            .issue_credential(ProjectScope::Projects(vec![project.clone()]))
            .await,
        app,
        project,
    }
}

fn policies() -> Value {
    json!([
        {"priority": 1, "impact_start_time": "00:00", "impact_stop_time": "09:00", "min_cu": 16, "max_cu": 32},
        {"priority": 2, "impact_start_time": "09:00", "impact_stop_time": "24:00", "min_cu": 16, "max_cu": 64},
    ])
}

/// Apply: pool, queue in the pool (policies, spark_driver), agency, connection with
/// hosts and routes, pool association, privilege for `grantee`, auth. The connection id.
async fn apply(tf: &Provider<'_>, grantee: &str) -> String {
    let p = tf.p().to_owned();
    // huaweicloud_dli_elastic_resource_pool: create, then wait for AVAILABLE.
    let created = tf
        .ok(
            Method::POST,
            &format!("/v3/{p}/elastic-resource-pools"),
            Some(
                json!({"elastic_resource_pool_name": POOL, "description": "tf pool",
                "max_cu": 64, "min_cu": 16, "cidr_in_vpc": "172.16.0.0/18",
                "tags": [], "label": {"spec": "basic"}}),
            ),
            DEFAULT_WRITE,
        )
        .await;
    assert_eq!(created["elastic_resource_pool_name"], POOL);
    assert!(tf.pool_state(POOL).await.is_some());

    // huaweicloud_dli_queue: create (OkCodes [200] only), then policies and properties.
    let created = tf
        .ok(
            Method::POST,
            &format!("/v1.0/{p}/queues"),
            Some(
                json!({"queue_name": QUEUE, "queue_type": "sql", "cu_count": 16,
                "platform": "x86_64", "resource_mode": 1, "description": "tf queue",
                "elastic_resource_pool_name": POOL}),
            ),
            &[200],
        )
        .await;
    assert_eq!(created["queue_name"], QUEUE);
    tf.ok(
        Method::PUT,
        &format!("/v3/{p}/elastic-resource-pools/{POOL}/queues/{QUEUE}"),
        Some(json!({"queue_scaling_policies": policies()})),
        DEFAULT_WRITE,
    )
    .await;
    tf.ok(
        Method::PUT,
        &format!("/v3/{p}/queues/{QUEUE}/properties"),
        Some(
            json!({"properties": {"computeEngine.maxInstance": 2, "job.maxConcurrent": 4,
            "computeEngine.maxPrefetchInstance": 1}}),
        ),
        DEFAULT_WRITE,
    )
    .await;
    let queue = tf
        .queue_state(QUEUE, "sql")
        .await
        .expect("the queue is read back");
    assert_eq!(queue["scaling_policies"], policies());
    assert_eq!(
        queue["spark_driver"],
        json!({"max_instance": 2, "max_concurrent": 4, "max_prefetch_instance": "1"})
    );
    assert_eq!(
        queue["vpc_cidr"], "172.16.0.0/18",
        "a queue in a pool has the pool's network"
    );

    // huaweicloud_dli_agency (the example's prerequisite).
    tf.ok(
        Method::POST,
        &format!("/v2/{p}/agency"),
        Some(json!({"roles": ["obs_adm", "dis_adm", "vpc_netadm"]})),
        &[200],
    )
    .await;

    // huaweicloud_dli_datasource_connection: E1 (201), then one v2.0 route call each.
    let created = tf
        .ok(
            Method::POST,
            &format!("/v2.0/{p}/datasource/enhanced-connections"),
            Some(json!({"name": "tf_conn", "dest_vpc_id": "vpc-0123", "dest_network_id": "subnet-0123",
                "queues": [], "tags": null,
                "hosts": [{"name": "db.internal", "ip": "192.168.0.10"}]})),
            &[201],
        )
        .await;
    let id = created["connection_id"]
        .as_str()
        .expect("connection_id")
        .to_owned();
    for (name, cidr) in [("route_1", "192.168.0.0/24"), ("route_2", "10.10.0.0/16")] {
        tf.ok(
            Method::POST,
            &format!("{}/routes", tf.connection_path(&id)),
            Some(json!({"name": name, "cidr": cidr})),
            DEFAULT_WRITE,
        )
        .await;
    }

    // huaweicloud_dli_datasource_connection_associate (depends_on the queue).
    tf.ok(
        Method::POST,
        &format!("{}/associate-queue", tf.connection_path(&id)),
        Some(json!({"elastic_resource_pools": [POOL]})),
        DEFAULT_WRITE,
    )
    .await;

    // huaweicloud_dli_datasource_connection_privilege for a second project.
    tf.ok(
        Method::PUT,
        &format!("/v1.0/{p}/authorization"),
        Some(json!({"projectId": grantee, "action": "grant",
            "privileges": [{"object": format!("edsconnections.{id}"), "privileges": ["BIND_QUEUE"]}]})),
        &[200],
    )
    .await;

    // huaweicloud_dli_datasource_auth: A1 (201).
    tf.ok(
        Method::POST,
        &format!("/v3/{p}/datasource/auth-infos"),
        Some(json!({"auth_info_name": AUTH, "datasource_type": "passwd",
            "user_name": "admin", "password": "Terraform-pw-1"})),
        &[201],
    )
    .await;
    id
}

/// The full life of the stack on one server.
async fn full_life(app: &TestApp) {
    let tf = provider(app).await;
    let p = tf.p().to_owned();
    let grantee = new_project();
    let id = apply(&tf, &grantee).await;

    // Refresh, twice: every Read answers, and nothing changes between them.
    let first = tf.refresh(&id, &grantee).await;
    let second = tf.refresh(&id, &grantee).await;
    assert_eq!(first, second, "a refresh with no change changes nothing");
    for part in [
        "pool",
        "queue",
        "connection",
        "association",
        "privilege",
        "auth",
    ] {
        assert!(!first[part].is_null(), "{part} is read: {first}");
    }
    assert_eq!(first["association"], json!([POOL]));
    assert_eq!(first["privilege"], json!(["BIND_QUEUE"]));
    assert_eq!(first["data"]["queues"], json!([QUEUE]));
    assert_eq!(
        first["data"]["agency"],
        json!(["obs_adm", "dis_adm", "vpc_netadm"])
    );
    assert_eq!(first["data"]["queue_quota"][0]["used"], 1);

    // Update cu_count 16 -> 48: the action (OkCodes [200]), then ShowQueue's camelCase
    // cuCount polled until it reads the target (Queue4Get).
    tf.ok(
        Method::PUT,
        &format!("/v1.0/{p}/queues/{QUEUE}/action"),
        Some(json!({"action": "scale_out", "cu_count": 32})),
        &[200],
    )
    .await;
    let shown = tf
        .ok(
            Method::GET,
            &format!("/v1.0/{p}/queues/{QUEUE}"),
            None,
            &[200],
        )
        .await;
    assert_eq!(shown["cuCount"], 48, "{shown}");
    // Update the hosts (E7) and replace a route (E9' then E8').
    tf.ok(
        Method::PUT,
        &tf.connection_path(&id),
        Some(json!({"hosts": [{"name": "db.internal", "ip": "192.168.0.11"}]})),
        DEFAULT_WRITE,
    )
    .await;
    tf.ok(
        Method::DELETE,
        &format!("{}/routes/route_2", tf.connection_path(&id)),
        None,
        DEFAULT_DELETE,
    )
    .await;
    // A route into the pool's network is refused, naming both, and changes nothing.
    let (status, refused) = tf
        .request(
            Method::POST,
            &format!("{}/routes", tf.connection_path(&id)),
            Some(&json!({"name": "route_3", "cidr": "172.16.8.0/24"})),
        )
        .await;
    assert_eq!(
        (status, &refused["error_code"]),
        (400, &json!("DLI.0001")),
        "{refused}"
    );
    let message = refused["error_msg"].as_str().expect("message");
    assert!(
        message.contains("172.16.0.0/18") && message.contains("172.16.8.0/24"),
        "{message}"
    );
    tf.ok(
        Method::POST,
        &format!("{}/routes", tf.connection_path(&id)),
        Some(json!({"name": "route_3", "cidr": "10.20.0.0/16"})),
        DEFAULT_WRITE,
    )
    .await;
    // The pool's metadata, then the wait for AVAILABLE.
    tf.ok(
        Method::PUT,
        &format!("/v3/{p}/elastic-resource-pools/{POOL}"),
        Some(json!({"description": "tf pool v2", "max_cu": 96, "min_cu": 16})),
        DEFAULT_WRITE,
    )
    .await;
    let updated = tf.refresh(&id, &grantee).await;
    assert_eq!(updated["queue"]["cu_count"], 48);
    assert_eq!(updated["pool"]["max_cu"], 96);
    assert_eq!(updated["pool"]["description"], "tf pool v2");
    assert_eq!(
        updated["connection"]["hosts"],
        json!([{"name": "db.internal", "ip": "192.168.0.11"}])
    );
    assert_eq!(
        updated["connection"]["routes"],
        json!([{"name": "route_1", "cidr": "192.168.0.0/24"}, {"name": "route_3", "cidr": "10.20.0.0/16"}])
    );
    assert_eq!(
        tf.refresh(&id, &grantee).await,
        updated,
        "the plan is empty after the update"
    );

    // Import by each resource's import id: the Reads from the id alone give the state.
    assert_eq!(
        tf.pool_state(POOL).await,
        Some(updated["pool"].clone()),
        "pool <name>"
    );
    let queue = tf.queue_state(QUEUE, "sql").await; // queue: <name> or <queue_type>/<name>
    assert_eq!(Some(updated["queue"].clone()), queue);
    assert_eq!(
        Some(updated["connection"].clone()),
        tf.connection_state(&id).await
    );
    assert_eq!(
        Some(updated["association"].clone()),
        tf.association_state(&id).await
    );
    assert_eq!(
        Some(updated["privilege"].clone()),
        tf.privilege_state(&id, &grantee).await,
        "privilege <connection_id>/<project_id>"
    );
    assert_eq!(Some(updated["auth"].clone()), tf.auth_state(AUTH).await);

    // Destroy in Terraform's order: the reverse of the dependencies.
    tf.ok(
        Method::DELETE,
        &format!("/v3/{p}/datasource/auth-infos/{AUTH}"),
        None,
        &[200],
    )
    .await;
    tf.ok(
        Method::PUT,
        &format!("/v1.0/{p}/authorization"),
        Some(json!({"projectId": grantee, "action": "revoke",
            "privileges": [{"object": format!("edsconnections.{id}"), "privileges": ["BIND_QUEUE"]}]})),
        &[200],
    )
    .await;
    tf.ok(
        Method::POST,
        &format!("{}/disassociate-queue", tf.connection_path(&id)),
        Some(json!({"elastic_resource_pools": [POOL]})),
        DEFAULT_WRITE,
    )
    .await;
    assert_eq!(tf.association_state(&id).await, None);
    tf.ok(Method::DELETE, &tf.connection_path(&id), None, &[200])
        .await;
    tf.ok(
        Method::POST,
        &format!("/v2/{p}/agency"),
        Some(json!({"roles": []})),
        &[200],
    )
    .await;
    tf.ok(
        Method::DELETE,
        &format!("/v1.0/{p}/queues/{QUEUE}"),
        None,
        &[200],
    )
    .await;
    tf.ok(
        Method::DELETE,
        &format!("/v3/{p}/elastic-resource-pools/{POOL}"),
        None,
        &[200],
    )
    .await;
    // waitForElasticResourcePoolDeleted: gone from the list.
    assert_eq!(tf.pool(POOL).await, None);

    // Nothing left.
    let gone = tf.refresh(&id, &grantee).await;
    for part in [
        "pool",
        "queue",
        "connection",
        "association",
        "privilege",
        "auth",
    ] {
        assert!(gone[part].is_null(), "{part} is gone: {gone}");
    }
    assert_eq!(gone["data"]["queues"], json!([]));
    assert_eq!(gone["data"]["agency"], json!([]));
    let connections = tf
        .ok(
            Method::GET,
            &format!("/v2.0/{p}/datasource/enhanced-connections?status=ACTIVE"),
            None,
            &[200],
        )
        .await;
    assert_eq!(connections["connections"], json!([]));
}

#[tokio::test]
async fn the_standard_stack_lives_as_terraform_drives_it_on_sqlite() {
    let app = spawn_app().await;
    full_life(&app).await;
    app.stop().await;
}

#[tokio::test]
async fn the_standard_stack_lives_as_terraform_drives_it_on_postgresql() {
    let Some(database) = fresh_postgres_database().await else {
        return;
    };
    let url = database.url().to_owned();
    let app = spawn_app_with(|config| config.storage.database_url = Some(url)).await;
    full_life(&app).await;
    app.stop().await;
    database.drop_now().await;
}

#[tokio::test]
async fn a_stack_whose_queue_was_deleted_outside_terraform_is_read_as_gone_and_destroyed() {
    let app = spawn_app().await;
    let tf = provider(&app).await;
    let p = tf.p().to_owned();
    let grantee = new_project();
    let id = apply(&tf, &grantee).await;

    // Someone deletes the queue with another tool.
    tf.ok(
        Method::DELETE,
        &format!("/v1.0/{p}/queues/{QUEUE}"),
        None,
        &[200],
    )
    .await;
    // Refresh: the queue's Read finds it missing from ListQueues (gone, removed from
    // the state), and no other Read fails.
    let state = tf.refresh(&id, &grantee).await;
    assert!(state["queue"].is_null(), "{state}");
    assert!(!state["pool"].is_null() && !state["association"].is_null());
    // The pool's queue list no longer names it either.
    let queues = tf
        .pages(
            &format!("/v3/{p}/elastic-resource-pools/{POOL}/queues"),
            "limit=100",
            "queues",
        )
        .await;
    assert!(queues.is_empty(), "{queues:?}");

    // Destroy the rest; the queue is not in the state, so it is not deleted again.
    tf.ok(
        Method::DELETE,
        &format!("/v3/{p}/datasource/auth-infos/{AUTH}"),
        None,
        &[200],
    )
    .await;
    tf.ok(
        Method::POST,
        &format!("{}/disassociate-queue", tf.connection_path(&id)),
        Some(json!({"elastic_resource_pools": [POOL]})),
        DEFAULT_WRITE,
    )
    .await;
    tf.ok(Method::DELETE, &tf.connection_path(&id), None, &[200])
        .await;
    tf.ok(
        Method::DELETE,
        &format!("/v3/{p}/elastic-resource-pools/{POOL}"),
        None,
        &[200],
    )
    .await;
    let gone = tf.refresh(&id, &grantee).await;
    for part in [
        "pool",
        "queue",
        "connection",
        "association",
        "privilege",
        "auth",
    ] {
        assert!(gone[part].is_null(), "{part} is gone: {gone}");
    }
    app.stop().await;
}
