//! Datasource authentication (auth infos) through the API, on v3 and the deprecated
//! v2.0 paths: the lifecycle, every validation rule, paging, isolation, and that the
//! passwords never come back out (answers, errors, the log, the database files).

use std::ffi::OsStr;

use dsconn::api::auth_infos::MAX_AUTH_INFOS_PER_PROJECT;
use dsconn::credentials::auth_info_sealing_context as sealing_context;
use dsconn::domain::ProjectId;
use dsconn::store::{AuthInfoRecord, CreateNamedOutcome, NewAuthInfo};
use serde_json::{Value, json};

use crate::helpers::{
    LoggedServer, TestApp, assert_dli_error, new_project, spawn_app, spawn_app_in, spawn_app_with,
};

const VERSIONS: [&str; 2] = ["v3", "v2.0"];

fn collection(app: &TestApp, version: &str, project: &str) -> String {
    app.url(&format!("/{version}/{project}/datasource/auth-infos"))
}

async fn create(app: &TestApp, version: &str, project: &str, body: &Value) -> reqwest::Response {
    app.post(collection(app, version, project))
        .json(body)
        .send()
        .await
        .expect("sent")
}

async fn update(app: &TestApp, version: &str, project: &str, body: &Value) -> reqwest::Response {
    app.put(collection(app, version, project))
        .json(body)
        .send()
        .await
        .expect("sent")
}

async fn delete(app: &TestApp, version: &str, project: &str, name: &str) -> reqwest::Response {
    app.delete_request(format!("{}/{name}", collection(app, version, project)))
        .send()
        .await
        .expect("sent")
}

async fn list(app: &TestApp, version: &str, project: &str, query: &str) -> Value {
    let response = app
        .get(format!("{}{query}", collection(app, version, project)))
        .send()
        .await
        .expect("sent");
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.expect("json");
    assert_eq!(body["is_success"], true, "{body}");
    body
}

async fn the_one(app: &TestApp, version: &str, project: &str, name: &str) -> Value {
    let body = list(app, version, project, &format!("?auth_info_name={name}")).await;
    assert_eq!(body["count"], 1, "{body}");
    body["auth_infos"][0].clone()
}

fn passwd(name: &str, password: &str) -> Value {
    json!({
        "auth_info_name": name,
        "datasource_type": "passwd",
        "user_name": "etl",
        "password": password,
    })
}

fn kafka(name: &str) -> Value {
    json!({
        "auth_info_name": name,
        "datasource_type": "Kafka_SSL",
        "truststore_location": "obs://bucket/kafka/truststore.jks",
        "truststore_password": "trust-pw-1",
        "keystore_location": "obs://bucket/kafka/keystore.jks",
        "keystore_password": "keystore-pw-1",
        "key_password": "key-pw-1",
    })
}

async fn stored(app: &TestApp, project: &str, name: &str) -> AuthInfoRecord {
    let project = ProjectId::parse(project).expect("project");
    app.store
        .get_auth_info(&project, name)
        .await
        .expect("read")
        .expect("stored")
}

/// The stored secret fields, opened with the server's key file.
pub(crate) async fn opened_secrets(app: &TestApp, project: &str, name: &str) -> Value {
    let record = stored(app, project, name).await;
    let project = ProjectId::parse(project).expect("project");
    let opened = app
        .secrets
        .open(&record.sealed_secrets, &sealing_context(&project, name))
        .expect("opens with the key file");
    serde_json::from_str(opened.expose()).expect("a JSON object")
}

#[tokio::test]
async fn an_auth_info_is_created_listed_updated_and_deleted_on_v3_and_v2() {
    let app = spawn_app().await;
    for version in VERSIONS {
        let project = new_project();
        let created = create(&app, version, &project, &passwd("orders_login", "pw-one")).await;
        assert_eq!(created.status(), 201, "{version}");
        let body: Value = created.json().await.expect("json");
        assert_eq!(body, json!({"is_success": true, "message": ""}));

        let duplicate = create(&app, version, &project, &passwd("orders_login", "pw-x")).await;
        let message = assert_dli_error(duplicate, 400, "DLI.0006").await;
        assert!(message.contains("orders_login already exists"), "{message}");

        let item = the_one(&app, version, &project, "orders_login").await;
        let created_at = item["create_time"].as_i64().expect("ms");
        assert_eq!(item["update_time"], created_at);
        assert_eq!(item["auth_info_name"], "orders_login");
        assert_eq!(item["datasource_type"], "passwd");
        assert_eq!(item["user_name"], "etl");
        assert!(
            item["owner"]
                .as_str()
                .is_some_and(|owner| !owner.is_empty())
        );
        assert!(item.get("password").is_none(), "{item}");
        assert!(
            item.get("certificate_location").is_none(),
            "not set: left out"
        );

        let updated = update(
            &app,
            version,
            &project,
            &json!({"auth_info_name": "orders_login", "user_name": "loader"}),
        )
        .await;
        assert_eq!(updated.status(), 200);
        let body: Value = updated.json().await.expect("json");
        assert_eq!(
            body,
            json!({"is_success": true, "message": "Update success."})
        );
        let item = the_one(&app, version, &project, "orders_login").await;
        assert_eq!(item["user_name"], "loader");
        assert_eq!(item["create_time"], created_at);
        assert!(item["update_time"].as_i64().expect("ms") > created_at);
        // Only the fields given change: the password is kept.
        assert_eq!(
            opened_secrets(&app, &project, "orders_login").await,
            json!({"password": "pw-one"})
        );

        let retyped = update(
            &app,
            version,
            &project,
            &json!({"auth_info_name": "orders_login", "datasource_type": "KRB"}),
        )
        .await;
        let message = assert_dli_error(retyped, 400, "DLI.0001").await;
        assert!(
            message.contains("datasource_type cannot be updated"),
            "{message}"
        );
        let same_type = update(
            &app,
            version,
            &project,
            &json!({"auth_info_name": "orders_login", "datasource_type": "PASSWD"}),
        )
        .await;
        assert_eq!(same_type.status(), 200, "the stored type, in any case");

        let unknown = update(&app, version, &project, &passwd("nobody", "p")).await;
        let message = assert_dli_error(unknown, 400, "DLI.0001").await;
        assert_eq!(message, "auth info nobody does not exist");

        let deleted = delete(&app, version, &project, "orders_login").await;
        assert_eq!(deleted.status(), 200);
        let body: Value = deleted.json().await.expect("json");
        assert_eq!(body, json!({"is_success": true, "message": ""}));
        let again = delete(&app, version, &project, "orders_login").await;
        let message = assert_dli_error(again, 400, "DLI.0001").await;
        assert_eq!(message, "auth info orders_login does not exist");
        let gone = list(&app, version, &project, "?auth_info_name=orders_login").await;
        assert_eq!(gone["count"], 0);
        assert_eq!(gone["auth_infos"], json!([]));
    }
}

#[tokio::test]
async fn v3_and_v2_paths_serve_the_same_records() {
    let app = spawn_app().await;
    let project = new_project();
    let created = create(&app, "v2.0", &project, &passwd("shared_one", "p")).await;
    assert_eq!(created.status(), 201);
    assert_eq!(
        the_one(&app, "v3", &project, "shared_one").await["user_name"],
        "etl"
    );
    assert_eq!(
        delete(&app, "v3", &project, "shared_one").await.status(),
        200
    );
    assert_eq!(list(&app, "v2.0", &project, "").await["count"], 0);
}

#[tokio::test]
async fn v2_takes_username_and_answers_user_name() {
    let app = spawn_app().await;
    let project = new_project();
    for version in VERSIONS {
        let name = format!("old_style_{}", version.replace('.', "_"));
        let body = json!({
            "auth_info_name": name, "datasource_type": "passwd",
            "username": "legacy", "password": "p",
        });
        assert_eq!(create(&app, version, &project, &body).await.status(), 201);
        let item = the_one(&app, version, &project, &name).await;
        assert_eq!(item["user_name"], "legacy");
        assert!(item.get("username").is_none(), "{item}");
    }
    let both = json!({
        "auth_info_name": "both_names", "datasource_type": "passwd",
        "user_name": "a", "username": "b", "password": "p",
    });
    let message =
        assert_dli_error(create(&app, "v2.0", &project, &both).await, 400, "DLI.0001").await;
    assert!(message.contains("user_name and username"), "{message}");
}

#[tokio::test]
async fn every_validation_rule_refuses_and_stores_nothing() {
    let app = spawn_app().await;
    let project = new_project();
    let with = |changes: Value| {
        let mut body = passwd("rule_case", "p");
        for (key, value) in changes.as_object().expect("object") {
            if value.is_null() {
                body.as_object_mut().expect("object").remove(key);
            } else {
                body[key] = value.clone();
            }
        }
        body
    };
    let kafka_without = |field: &str| {
        let mut body = kafka("rule_case");
        body.as_object_mut().expect("object").remove(field);
        body
    };
    let cases: Vec<(Value, &str)> = vec![
        (
            with(json!({"auth_info_name": null})),
            "auth_info_name is required",
        ),
        (
            with(json!({"auth_info_name": ""})),
            "auth_info_name is required",
        ),
        (
            with(json!({"auth_info_name": "a-b"})),
            "auth_info_name must be 1-128",
        ),
        (
            with(json!({"auth_info_name": "x".repeat(129)})),
            "auth_info_name must be 1-128",
        ),
        (
            with(json!({"auth_info_name": 7})),
            "auth_info_name must be a string",
        ),
        (
            with(json!({"datasource_type": null})),
            "datasource_type is required",
        ),
        (
            with(json!({"datasource_type": "mysql"})),
            "datasource_type must be one of",
        ),
        (
            with(json!({"user_name": null})),
            "datasource_type passwd requires user_name",
        ),
        (
            with(json!({"password": null})),
            "datasource_type passwd requires password",
        ),
        (
            with(json!({"user_name": ["a"]})),
            "user_name must be a string",
        ),
        (
            with(json!({"user_name": "u".repeat(1025)})),
            "user_name must be at most 1024",
        ),
        (
            with(json!({"password": "p".repeat(1025)})),
            "password must be at most 1024",
        ),
        (
            with(json!({"password": 12345})),
            "password must be a string",
        ),
        (
            with(json!({"certificate_location": "obs://b/c.cer"})),
            "certificate_location does not apply to datasource_type passwd",
        ),
        (
            with(json!({"datasource_type": "CSS", "certificate_location": "/local/c.cer"})),
            "certificate_location must be an OBS path",
        ),
        (
            json!({"auth_info_name": "rule_case", "datasource_type": "KRB", "krb5_conf": "obs://b/krb5.conf"}),
            "krb5_conf requires keytab",
        ),
        (
            json!({"auth_info_name": "rule_case", "datasource_type": "KRB", "keytab": "obs://b/u.keytab"}),
            "keytab requires krb5_conf",
        ),
        (
            json!({"auth_info_name": "rule_case", "datasource_type": "KRB",
                   "krb5_conf": "obs://b/krb5.conf", "keytab": "obs://b/u.keytab",
                   "certificate_location": "obs://b/c.cer"}),
            "certificate_location conflicts with krb5_conf",
        ),
        (
            json!({"auth_info_name": "rule_case", "datasource_type": "KRB",
                   "krb5_conf": "obs://b/krb5.conf", "keytab": "obs://b/u.keytab", "password": "p"}),
            "password does not apply to datasource_type KRB",
        ),
        (
            kafka_without("truststore_password"),
            "truststore_location requires truststore_password",
        ),
        (
            kafka_without("keystore_location"),
            "truststore_location requires keystore_location",
        ),
        (
            kafka_without("keystore_password"),
            "truststore_location requires keystore_password",
        ),
        (
            kafka_without("key_password"),
            "truststore_location requires key_password",
        ),
        (
            kafka_without("truststore_location"),
            "datasource_type Kafka_SSL requires truststore_location",
        ),
        (
            {
                let mut body = kafka("rule_case");
                body["user_name"] = "u".into();
                body
            },
            "user_name conflicts with truststore_location",
        ),
        (
            {
                let mut body = kafka("rule_case");
                body["certificate_location"] = "obs://b/c.cer".into();
                body
            },
            "certificate_location conflicts with truststore_location",
        ),
    ];
    for version in VERSIONS {
        for (body, expected) in &cases {
            let response = create(&app, version, &project, body).await;
            let message = assert_dli_error(response, 400, "DLI.0001").await;
            assert!(message.contains(expected), "{version} {body}: {message}");
        }
    }
    assert_eq!(list(&app, "v3", &project, "").await["count"], 0);

    // No body at all is `{}`; the SDK sends none when a caller leaves it unset.
    let empty = app
        .post(collection(&app, "v3", &project))
        .header("content-type", "application/json")
        .send()
        .await
        .expect("sent");
    let message = assert_dli_error(empty, 400, "DLI.0001").await;
    assert_eq!(message, "auth_info_name is required");

    // Each type's valid shape is stored, in DLI's spelling whatever the case given.
    let valid = [
        json!({"auth_info_name": "t_passwd", "datasource_type": "PassWD", "user_name": "u", "password": "p"}),
        json!({"auth_info_name": "t_css", "datasource_type": "css", "user_name": "u", "password": "p",
               "certificate_location": "obs://b/c.cer"}),
        json!({"auth_info_name": "t_krb", "datasource_type": "krb", "user_name": "u",
               "krb5_conf": "obs://b/krb5.conf", "keytab": "obs://b/u.keytab"}),
        kafka("t_kafka"),
        // Unknown fields are ignored, as by the classic create; null and "" are not given.
        json!({"auth_info_name": "t_extra", "datasource_type": "passwd", "user_name": "u",
               "password": "p", "color": "blue", "keytab": null, "krb5_conf": ""}),
    ];
    for body in &valid {
        assert_eq!(
            create(&app, "v3", &project, body).await.status(),
            201,
            "{body}"
        );
    }
    let types: Vec<Value> = list(&app, "v3", &project, "").await["auth_infos"]
        .as_array()
        .expect("items")
        .iter()
        .map(|item| item["datasource_type"].clone())
        .collect();
    assert_eq!(types, ["passwd", "CSS", "KRB", "Kafka_SSL", "passwd"]);
}

#[tokio::test]
async fn an_update_merges_into_the_stored_record_and_is_checked_as_a_whole() {
    let app = spawn_app().await;
    let project = new_project();
    assert_eq!(
        create(&app, "v3", &project, &kafka("stream"))
            .await
            .status(),
        201
    );

    // What Terraform sends: every field it holds except key_password.
    let terraform = json!({
        "auth_info_name": "stream",
        "truststore_location": "obs://bucket/kafka/truststore2.jks",
        "truststore_password": "trust-pw-2",
        "keystore_location": "obs://bucket/kafka/keystore.jks",
        "keystore_password": "keystore-pw-1",
    });
    assert_eq!(update(&app, "v3", &project, &terraform).await.status(), 200);
    assert_eq!(
        opened_secrets(&app, &project, "stream").await,
        json!({
            "truststore_password": "trust-pw-2",
            "keystore_password": "keystore-pw-1",
            "key_password": "key-pw-1",
        })
    );
    let item = the_one(&app, "v3", &project, "stream").await;
    assert_eq!(
        item["truststore_location"],
        "obs://bucket/kafka/truststore2.jks"
    );

    let refusals = [
        (
            json!({"auth_info_name": "stream", "key_password": "other"}),
            "key_password cannot be updated",
        ),
        (
            json!({"auth_info_name": "stream", "user_name": "u"}),
            "user_name conflicts with truststore_location",
        ),
        (
            json!({"auth_info_name": "stream", "krb5_conf": "obs://b/k"}),
            "krb5_conf requires keytab",
        ),
        (
            json!({"auth_info_name": "stream", "keystore_location": "s3://b/k"}),
            "keystore_location must be an OBS path",
        ),
        (json!({}), "auth_info_name is required"),
    ];
    for (body, expected) in refusals {
        let message =
            assert_dli_error(update(&app, "v3", &project, &body).await, 400, "DLI.0001").await;
        assert!(message.contains(expected), "{body}: {message}");
    }
    let same_key = json!({"auth_info_name": "stream", "key_password": "key-pw-1"});
    assert_eq!(update(&app, "v3", &project, &same_key).await.status(), 200);

    let css = json!({"auth_info_name": "search", "datasource_type": "CSS", "user_name": "u",
                     "password": "p", "certificate_location": "obs://b/one.cer"});
    assert_eq!(create(&app, "v3", &project, &css).await.status(), 201);
    let moved = json!({"auth_info_name": "search", "certificate_location": "obs://b/two.cer"});
    let message =
        assert_dli_error(update(&app, "v3", &project, &moved).await, 400, "DLI.0001").await;
    assert!(
        message.contains("certificate_location cannot be updated"),
        "{message}"
    );
    assert_eq!(
        the_one(&app, "v3", &project, "search").await["certificate_location"],
        "obs://b/one.cer"
    );
}

#[tokio::test]
async fn lists_filter_by_exact_name_and_page_by_offset_oldest_first() {
    let app = spawn_app().await;
    let project = new_project();
    let names = ["p_c", "p_a", "p_e", "p_b", "p_d"];
    for name in names {
        assert_eq!(
            create(&app, "v3", &project, &passwd(name, "p"))
                .await
                .status(),
            201
        );
    }
    let all = list(&app, "v3", &project, "").await;
    assert_eq!(all["count"], 5);
    let order: Vec<(i64, String)> = all["auth_infos"]
        .as_array()
        .expect("items")
        .iter()
        .map(|item| {
            (
                item["create_time"].as_i64().expect("ms"),
                item["auth_info_name"].as_str().expect("name").to_owned(),
            )
        })
        .collect();
    let mut sorted = order.clone();
    sorted.sort();
    assert_eq!(order, sorted, "by create_time, then name");

    let mut paged = Vec::new();
    for offset in [0, 2, 4, 6] {
        let page = list(&app, "v3", &project, &format!("?limit=2&offset={offset}")).await;
        assert_eq!(page["count"], 5, "the total, on every page");
        let items = page["auth_infos"].as_array().expect("items");
        assert_eq!(items.len(), [2, 2, 1, 0][offset / 2]);
        paged.extend(items.iter().map(|item| item["auth_info_name"].clone()));
    }
    let listed: Vec<Value> = order.iter().map(|(_, name)| name.clone().into()).collect();
    assert_eq!(paged, listed);
    assert_eq!(
        list(&app, "v3", &project, "?limit=0").await["auth_infos"]
            .as_array()
            .map(Vec::len),
        Some(5)
    );

    // Exact names only: no prefix, no case folding; a name no record can have is a miss.
    for miss in ["p_", "P_A", "p_a%25", "no-such-name", "p_az"] {
        let page = list(&app, "v3", &project, &format!("?auth_info_name={miss}")).await;
        assert_eq!(page["auth_infos"], json!([]), "{miss}");
        assert_eq!(page["count"], 0);
    }
    assert_eq!(
        list(&app, "v3", &project, "?auth_info_name=").await["count"],
        5
    );

    for bad in [
        "?limit=1001",
        "?limit=-1",
        "?limit=x",
        "?offset=-1",
        "?offset=1.5",
    ] {
        let response = app
            .get(format!("{}{bad}", collection(&app, "v3", &project)))
            .send()
            .await
            .expect("sent");
        assert_dli_error(response, 400, "DLI.0001").await;
    }
}

#[tokio::test]
async fn another_projects_auth_infos_are_invisible_and_untouchable() {
    let app = spawn_app().await;
    let (owner, other) = (new_project(), new_project());
    assert_eq!(
        create(&app, "v3", &owner, &passwd("mine", "p"))
            .await
            .status(),
        201
    );
    assert_eq!(
        list(&app, "v3", &other, "?auth_info_name=mine").await["count"],
        0
    );
    let message = assert_dli_error(delete(&app, "v3", &other, "mine").await, 400, "DLI.0001").await;
    assert_eq!(message, "auth info mine does not exist");
    let stranger_update = update(
        &app,
        "v3",
        &other,
        &json!({"auth_info_name": "mine", "user_name": "x"}),
    )
    .await;
    assert_dli_error(stranger_update, 400, "DLI.0001").await;
    // The same name is free in another project.
    assert_eq!(
        create(&app, "v3", &other, &passwd("mine", "q"))
            .await
            .status(),
        201
    );
    assert_eq!(
        the_one(&app, "v3", &owner, "mine").await["user_name"],
        "etl"
    );

    // A token of one project may not use another's.
    let token = dsconn::issuing::create_token(
        &app.store,
        dsconn::domain::ProjectScope::Projects(vec![other.clone()]),
        std::time::Duration::from_secs(600),
    )
    .await
    .expect("token");
    let refused = app
        .client
        .get(collection(&app, "v3", &owner))
        .header("X-Auth-Token", token.token.expose())
        .send()
        .await
        .expect("sent");
    assert_dli_error(refused, 403, "APIG.0302").await;
    let item = {
        let response = app
            .client
            .get(format!(
                "{}?auth_info_name=mine",
                collection(&app, "v3", &other)
            ))
            .header("X-Auth-Token", token.token.expose())
            .send()
            .await
            .expect("sent");
        let body: Value = response.json().await.expect("json");
        body["auth_infos"][0].clone()
    };
    assert_eq!(
        item["owner"],
        app_token_id(&app).await,
        "created with the test's token"
    );
}

/// The id of the test app's own token (the owner of what it creates).
async fn app_token_id(app: &TestApp) -> Value {
    let whoami: Value = app
        .get(app.url("/dsconn/v1/whoami"))
        .send()
        .await
        .expect("sent")
        .json()
        .await
        .expect("json");
    whoami["id"].clone()
}

#[tokio::test]
async fn a_project_holds_at_most_1000_auth_infos() {
    let app = spawn_app_with(|config| {
        config.storage.sqlite_durability = dsconn::store::Durability::ProcessCrash;
    })
    .await;
    let project = new_project();
    let id = ProjectId::parse(&project).expect("project");
    for n in 1..MAX_AUTH_INFOS_PER_PROJECT {
        let new = NewAuthInfo {
            project_id: id.clone(),
            name: format!("filled_{n}"),
            datasource_type: "passwd".into(),
            attributes: serde_json::Map::new(),
            sealed_secrets: Vec::new(),
            owner: "test".into(),
            create_time: i64::from(n),
        };
        let outcome = app
            .store
            .create_auth_info(&new, MAX_AUTH_INFOS_PER_PROJECT)
            .await
            .expect("stored");
        assert_eq!(outcome, CreateNamedOutcome::Created);
    }
    assert_eq!(
        create(&app, "v3", &project, &passwd("last_one", "p"))
            .await
            .status(),
        201
    );
    let full = create(&app, "v3", &project, &passwd("one_too_many", "p")).await;
    let message = assert_dli_error(full, 400, "DLI.1028").await;
    assert!(message.contains("maximum of 1000 auth infos"), "{message}");
    assert_eq!(
        list(&app, "v3", &project, "?limit=0").await["auth_infos"]
            .as_array()
            .map(Vec::len),
        Some(1000)
    );
    // Another project is not affected.
    assert_eq!(
        create(&app, "v3", &new_project(), &passwd("one_too_many", "p"))
            .await
            .status(),
        201
    );
}

/// Distinctive passwords of the leak test; none may be found anywhere after it.
const LEAK_MARKERS: [&str; 6] = [
    "Zq8-pass-first",
    "Zq8-pass-second",
    "Zq8-trust-store",
    "Zq8-key-store",
    "Zq8-key-only",
    "Zq8-trust-rotated",
];

#[tokio::test]
async fn passwords_never_leave_the_server_nor_reach_its_log_or_its_files_in_clear() {
    let data = tempfile::tempdir().expect("temp dir");
    let server = LoggedServer::start(
        "trace",
        &[
            OsStr::new("--auth"),
            OsStr::new("none"),
            OsStr::new("--data-dir"),
            data.path().as_os_str(),
        ],
    );
    let client = reqwest::Client::new();
    let project = new_project();
    let url = |version: &str| server.url(&format!("/{version}/{project}/datasource/auth-infos"));
    let mut bodies = Vec::new();
    let mut send = async |request: reqwest::RequestBuilder| {
        let response = request.send().await.expect("sent");
        let status = response.status().as_u16();
        bodies.push(response.text().await.expect("body"));
        status
    };
    let [first, second, trust, keystore, key, rotated] = LEAK_MARKERS;

    assert_eq!(
        send(client.post(url("v3")).json(&passwd("leak_a", first))).await,
        201
    );
    let mut kafka_body = kafka("leak_k");
    kafka_body["truststore_password"] = trust.into();
    kafka_body["keystore_password"] = keystore.into();
    kafka_body["key_password"] = key.into();
    assert_eq!(send(client.post(url("v2.0")).json(&kafka_body)).await, 201);
    // Refused bodies carrying passwords: the errors must not echo them.
    assert_eq!(
        send(client.post(url("v3")).json(&passwd("leak_a", first))).await,
        400
    );
    let mut not_kafka = kafka_body.clone();
    not_kafka["password"] = second.into();
    assert_eq!(send(client.post(url("v3")).json(&not_kafka)).await, 400);
    let mut wrong_type = passwd("leak_b", first);
    wrong_type["user_name"] = json!({ "nested": second });
    assert_eq!(send(client.post(url("v3")).json(&wrong_type)).await, 400);
    assert_eq!(
        send(
            client
                .post(url("v3"))
                .header("content-type", "application/json")
                .body(format!(
                    "{{\"password\": \"{second}\", \"auth_info_name\": "
                ))
        )
        .await,
        400
    );
    assert_eq!(
        send(
            client
                .put(url("v3"))
                .json(&json!({"auth_info_name": "leak_a", "password": second}))
        )
        .await,
        200
    );
    assert_eq!(
        send(
            client
                .put(url("v2.0"))
                .json(&json!({"auth_info_name": "leak_k", "truststore_password": rotated}))
        )
        .await,
        200
    );
    assert_eq!(
        send(
            client
                .put(url("v3"))
                .json(&json!({"auth_info_name": "leak_k", "key_password": second}))
        )
        .await,
        400
    );
    assert_eq!(
        send(
            client
                .put(url("v3"))
                .json(&json!({"auth_info_name": "nobody", "password": second}))
        )
        .await,
        400
    );
    for version in VERSIONS {
        assert_eq!(send(client.get(url(version))).await, 200);
        assert_eq!(
            send(client.get(format!("{}?auth_info_name=leak_k", url(version)))).await,
            200
        );
    }
    assert_eq!(send(client.get(server.url("/metrics"))).await, 200);

    assert!(
        bodies.iter().any(|body| body.contains("leak_k")),
        "the list answered"
    );
    for marker in LEAK_MARKERS {
        for body in &bodies {
            assert!(!body.contains(marker), "{marker} answered: {body}");
        }
        let log = server.log();
        assert!(
            log.iter().any(|line| line.contains("auth info updated")),
            "the log is read"
        );
        for line in &log {
            assert!(!line.contains(marker), "{marker} logged: {line}");
        }
    }

    // On disk: neither the database nor its WAL holds any of them in clear, while the
    // key file opens what is sealed.
    let mut files = 0;
    for entry in std::fs::read_dir(data.path()).expect("data dir") {
        let path = entry.expect("entry").path();
        if path.is_file() {
            files += 1;
            let bytes = std::fs::read(&path).expect("readable");
            for marker in LEAK_MARKERS {
                assert!(
                    !bytes.windows(marker.len()).any(|w| w == marker.as_bytes()),
                    "{marker} in clear in {}",
                    path.display()
                );
            }
        }
    }
    assert!(files >= 2, "the database and the key file");
    drop(server);
    let app = spawn_app_in(data.path(), |_| {}).await;
    assert_eq!(
        opened_secrets(&app, &project, "leak_a").await,
        json!({ "password": second })
    );
    assert_eq!(
        opened_secrets(&app, &project, "leak_k").await,
        json!({"truststore_password": rotated, "keystore_password": keystore, "key_password": key})
    );
    // Bound to project and name: the row's secrets do not open as another's.
    let record = stored(&app, &project, "leak_a").await;
    let id = ProjectId::parse(&project).expect("project");
    assert!(
        app.secrets
            .open(&record.sealed_secrets, &sealing_context(&id, "leak_k"))
            .is_err()
    );
    let elsewhere = ProjectId::parse(&new_project()).expect("project");
    assert!(
        app.secrets
            .open(
                &record.sealed_secrets,
                &sealing_context(&elsewhere, "leak_a")
            )
            .is_err()
    );
    app.stop().await;
}
