//! Authentication and project isolation: AK/SK signatures, tokens, lockout, bootstrap.

use std::process::Command;
use std::time::{Duration, Instant};

use dsconn::domain::ProjectScope;
use serde_json::Value;

use crate::helpers::{
    SignedRequest, TcpTarget, TestApp, TestCredential, assert_dli_error, create_body, new_project,
    spawn_app, spawn_app_with,
};

fn list_request<'a>(
    credential: &'a TestCredential,
    project: &str,
    query: &str,
) -> SignedRequest<'a> {
    let target = if query.is_empty() {
        format!("/v2.0/{project}/datasource-connection")
    } else {
        format!("/v2.0/{project}/datasource-connection?{query}")
    };
    SignedRequest {
        method: reqwest::Method::GET,
        target,
        body: Vec::new(),
        credential,
        sdk_date: None,
        extra_headers: vec![("x-project-id", project.to_owned())],
    }
}

fn create_request<'a>(
    credential: &'a TestCredential,
    project: &str,
    body: &Value,
) -> SignedRequest<'a> {
    SignedRequest {
        method: reqwest::Method::POST,
        target: format!("/v2.0/{project}/datasource-connection"),
        body: serde_json::to_vec(body).expect("json"),
        credential,
        sdk_date: None,
        extra_headers: vec![("x-project-id", project.to_owned())],
    }
}

async fn project_credential(app: &TestApp, project: &str) -> TestCredential {
    app.issue_credential(ProjectScope::Projects(vec![project.to_owned()]))
        .await
}

#[tokio::test]
async fn a_request_without_credentials_is_refused_with_401() {
    let app = spawn_app().await;
    let response = app
        .client
        .get(app.collection(&new_project()))
        .send()
        .await
        .expect("sent");
    let message = assert_dli_error(response, 401, "APIG.0301").await;
    assert!(message.contains("no credentials"), "{message}");
}

#[tokio::test]
async fn a_correctly_signed_request_lists_and_creates() {
    let app = spawn_app().await;
    let target = TcpTarget::start().await;
    let project = new_project();
    let credential = project_credential(&app, &project).await;

    let body = create_body("signed", "RDS", &target.address.to_string());
    let response = app
        .signed(&create_request(&credential, &project, &body))
        .await;
    assert_eq!(response.status(), 201);

    let response = app
        .signed(&list_request(&credential, &project, "tags=&limit=10"))
        .await;
    assert_eq!(response.status(), 200);
    let list: Value = response.json().await.expect("json");
    assert_eq!(list["count"], 1);
}

#[tokio::test]
async fn a_wrong_secret_key_is_refused_without_echoing_any_secret() {
    let app = spawn_app().await;
    let project = new_project();
    let real = project_credential(&app, &project).await;
    let forged = TestCredential {
        access_key: real.access_key.clone(),
        secret_key: "x".repeat(40),
    };
    let response = app.signed(&list_request(&forged, &project, "")).await;
    let message = assert_dli_error(response, 401, "APIG.0301").await;
    assert!(message.contains("signature does not match"), "{message}");
    assert!(!message.contains(&real.secret_key) && !message.contains(&forged.secret_key));
}

#[tokio::test]
async fn an_unknown_access_key_is_refused() {
    let app = spawn_app().await;
    let stranger = TestCredential {
        access_key: "UNKNOWNAK00000000000".into(),
        secret_key: "s".repeat(40),
    };
    let response = app
        .signed(&list_request(&stranger, &new_project(), ""))
        .await;
    let message = assert_dli_error(response, 401, "APIG.0301").await;
    assert!(message.contains("unknown or revoked"), "{message}");
}

#[tokio::test]
async fn a_signature_dated_outside_fifteen_minutes_is_refused() {
    let app = spawn_app().await;
    let project = new_project();
    let credential = project_credential(&app, &project).await;
    let mut request = list_request(&credential, &project, "");
    let stale = chrono::Utc::now() - chrono::Duration::minutes(16);
    request.sdk_date = Some(stale.format(dsconn::signing::DATE_FORMAT).to_string());
    let message = assert_dli_error(app.signed(&request).await, 401, "APIG.0301").await;
    assert!(message.contains("15 minutes"), "{message}");

    let recent = chrono::Utc::now() - chrono::Duration::minutes(14);
    request.sdk_date = Some(recent.format(dsconn::signing::DATE_FORMAT).to_string());
    assert_eq!(app.signed(&request).await.status(), 200);
}

#[tokio::test]
async fn a_tampered_body_or_query_is_refused_and_changes_nothing() {
    let app = spawn_app().await;
    let project = new_project();
    let credential = project_credential(&app, &project).await;

    let request = create_request(
        &credential,
        &project,
        &create_body("honest", "RDS", "db:3306"),
    );
    let headers = app.sign(&request);
    let tampered = serde_json::to_vec(&create_body("evil", "RDS", "db:3306")).expect("json");
    let response = app.send_signed(&request, headers, tampered).await;
    assert_dli_error(response, 401, "APIG.0301").await;

    let request = list_request(&credential, &project, "tags=env%3Dprod");
    let headers = app.sign(&request);
    let mut altered = list_request(&credential, &project, "tags=env%3Ddev");
    altered.sdk_date = None;
    let response = app.send_signed(&altered, headers, Vec::new()).await;
    assert_dli_error(response, 401, "APIG.0301").await;

    assert_eq!(app.list(&project, "").await.count, 0, "nothing was created");
}

#[tokio::test]
async fn a_signature_that_does_not_cover_host_and_date_is_refused() {
    let app = spawn_app().await;
    let project = new_project();
    let credential = project_credential(&app, &project).await;
    let request = list_request(&credential, &project, "");
    let mut headers = app.sign(&request);
    let authorization = headers["authorization"].to_str().expect("ascii").to_owned();
    let weakened = authorization.replace("host;", "");
    headers.insert("authorization", weakened.parse().expect("header"));
    let message = assert_dli_error(
        app.send_signed(&request, headers, Vec::new()).await,
        401,
        "APIG.0301",
    )
    .await;
    assert!(message.contains("must be signed"), "{message}");
}

#[tokio::test]
async fn a_credential_of_one_project_cannot_touch_another_and_learns_nothing() {
    let app = spawn_app().await;
    let target = TcpTarget::start().await;
    let project_a = new_project();
    let project_b = new_project();
    let id_b = app
        .create_ok(
            &project_b,
            &create_body("secret-of-b", "RDS", &target.address.to_string()),
        )
        .await;
    app.settled(&project_b, &id_b).await;
    let credential_a = project_credential(&app, &project_a).await;

    let mut list = list_request(&credential_a, &project_b, "");
    list.extra_headers = vec![("x-project-id", project_b.clone())];
    let response = app.signed(&list).await;
    assert_eq!(response.status(), 403);
    let text = response.text().await.expect("body");
    assert!(text.contains("APIG.0302"), "{text}");
    assert!(
        !text.contains("secret-of-b") && !text.contains(&id_b),
        "{text}"
    );

    let delete = SignedRequest {
        method: reqwest::Method::DELETE,
        target: format!("/v2.0/{project_b}/datasource-connection/{id_b}"),
        body: Vec::new(),
        credential: &credential_a,
        sdk_date: None,
        extra_headers: vec![],
    };
    assert_dli_error(app.signed(&delete).await, 403, "APIG.0302").await;
    assert_eq!(app.show(&project_b, &id_b).await.state, "ACTIVE");
}

#[tokio::test]
async fn x_project_id_must_match_the_path() {
    let app = spawn_app().await;
    let project = new_project();
    let credential = app.issue_credential(ProjectScope::All).await;
    let mut request = list_request(&credential, &project, "");
    request.extra_headers = vec![("x-project-id", "someone-else".to_owned())];
    let message = assert_dli_error(app.signed(&request).await, 403, "APIG.0302").await;
    assert!(message.contains("X-Project-Id"), "{message}");
}

#[tokio::test]
async fn an_access_key_is_locked_after_more_than_five_bad_signatures_in_a_row() {
    let app = spawn_app().await;
    let project = new_project();
    let credential = project_credential(&app, &project).await;
    let forged = TestCredential {
        access_key: credential.access_key.clone(),
        secret_key: "wrong".into(),
    };
    // Failures interrupted by a success do not count towards a lock.
    for _ in 0..5 {
        assert_eq!(
            app.signed(&list_request(&forged, &project, ""))
                .await
                .status(),
            401
        );
    }
    assert_eq!(
        app.signed(&list_request(&credential, &project, ""))
            .await
            .status(),
        200
    );
    for _ in 0..5 {
        assert_eq!(
            app.signed(&list_request(&forged, &project, ""))
                .await
                .status(),
            401
        );
    }
    assert_eq!(
        app.signed(&list_request(&credential, &project, ""))
            .await
            .status(),
        200
    );

    for _ in 0..6 {
        assert_eq!(
            app.signed(&list_request(&forged, &project, ""))
                .await
                .status(),
            401
        );
    }
    let response = app.signed(&list_request(&credential, &project, "")).await;
    let message = assert_dli_error(response, 401, "APIG.0301").await;
    assert!(message.contains("locked until"), "{message}");
}

#[tokio::test]
async fn tokens_work_for_their_projects_only_and_stop_when_revoked_or_expired() {
    let app = spawn_app().await;
    let project = new_project();
    let issued = dsconn::admin::create_token(
        &app.store,
        ProjectScope::Projects(vec![project.clone()]),
        Duration::from_secs(3600),
    )
    .await
    .expect("token");
    let with_token = |project: &str| {
        app.client
            .get(app.collection(project))
            .header("X-Auth-Token", issued.token.expose())
    };
    assert_eq!(
        with_token(&project).send().await.expect("sent").status(),
        200
    );
    assert_dli_error(
        with_token(&new_project()).send().await.expect("sent"),
        403,
        "APIG.0302",
    )
    .await;

    assert!(
        app.store
            .revoke_token(&issued.id, dsconn::domain::now_millis())
            .await
            .expect("revoked")
    );
    let deadline = Instant::now() + Duration::from_millis(1500);
    loop {
        let status = with_token(&project).send().await.expect("sent").status();
        if status == 401 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "a revoked token still works after 1.5 s"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    let short =
        dsconn::admin::create_token(&app.store, ProjectScope::All, Duration::from_millis(300))
            .await
            .expect("token");
    let send = || {
        app.client
            .get(app.collection(&project))
            .header("X-Auth-Token", short.token.expose())
            .send()
    };
    assert_eq!(send().await.expect("sent").status(), 200);
    tokio::time::sleep(Duration::from_millis(400)).await;
    let message = assert_dli_error(send().await.expect("sent"), 401, "APIG.0301").await;
    assert!(message.contains("expired"), "{message}");

    let message = assert_dli_error(
        app.client
            .get(app.collection(&project))
            .header("X-Auth-Token", "dsct_not-a-real-token")
            .send()
            .await
            .expect("sent"),
        401,
        "APIG.0301",
    )
    .await;
    assert!(message.contains("unknown or revoked"), "{message}");
}

#[tokio::test]
async fn auth_none_accepts_unsigned_requests() {
    let app = spawn_app_with(|config| config.auth = dsconn::config::AuthMode::None).await;
    let response = app
        .client
        .get(app.collection(&new_project()))
        .send()
        .await
        .expect("sent");
    assert_eq!(response.status(), 200);
}

fn dsconn(args: &[&str], data_dir: &std::path::Path) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_dsconn"))
        .args(args)
        .arg("--data-dir")
        .arg(data_dir)
        .output()
        .expect("dsconn runs")
}

#[tokio::test]
async fn the_credential_cli_issues_lists_without_secrets_and_revokes_against_a_running_server() {
    let data_dir = tempfile::tempdir().expect("temp dir");
    let app = crate::helpers::spawn_app_in(data_dir.path(), |_| {}).await;
    let project = new_project();

    let created = dsconn(
        &[
            "credential",
            "create",
            "--project",
            &project,
            "--output",
            "json",
        ],
        data_dir.path(),
    );
    assert!(
        created.status.success(),
        "{}",
        String::from_utf8_lossy(&created.stderr)
    );
    let issued: Value = serde_json::from_slice(&created.stdout).expect("json");
    let credential = TestCredential {
        access_key: issued["access_key"]
            .as_str()
            .expect("access_key")
            .to_owned(),
        secret_key: issued["secret_key"]
            .as_str()
            .expect("secret_key")
            .to_owned(),
    };
    assert_eq!(credential.access_key.len(), 20);
    assert_eq!(credential.secret_key.len(), 40);
    assert_eq!(issued["projects"], serde_json::json!([project]));
    assert_eq!(
        app.signed(&list_request(&credential, &project, ""))
            .await
            .status(),
        200
    );

    let listed = dsconn(&["credential", "list", "--output", "json"], data_dir.path());
    let listed_text = String::from_utf8_lossy(&listed.stdout).into_owned();
    assert!(
        listed_text.contains(&credential.access_key),
        "{listed_text}"
    );
    assert!(
        !listed_text.contains(&credential.secret_key),
        "list must never show secret keys"
    );
    let database = std::fs::read(data_dir.path().join("dsconn.db")).expect("database file");
    let wal = std::fs::read(data_dir.path().join("dsconn.db-wal")).unwrap_or_default();
    for bytes in [&database, &wal] {
        assert!(
            !bytes
                .windows(40)
                .any(|w| w == credential.secret_key.as_bytes()),
            "the secret key is stored encrypted"
        );
    }

    let revoked = dsconn(
        &["credential", "revoke", &credential.access_key],
        data_dir.path(),
    );
    assert!(revoked.status.success());
    let deadline = Instant::now() + Duration::from_millis(1500);
    loop {
        if app
            .signed(&list_request(&credential, &project, ""))
            .await
            .status()
            == 401
        {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the running server still accepts a revoked key"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let again = dsconn(
        &["credential", "revoke", &credential.access_key],
        data_dir.path(),
    );
    assert!(!again.status.success(), "revoking twice says so");
}

#[tokio::test]
async fn the_first_start_prints_one_credential_on_stdout_and_never_logs_it() {
    use std::io::{BufRead, BufReader};
    let data_dir = tempfile::tempdir().expect("temp dir");
    let start = || {
        Command::new(env!("CARGO_BIN_EXE_dsconn"))
            .args(["serve", "--listen", "127.0.0.1:0"])
            .arg("--data-dir")
            .arg(data_dir.path())
            .env("DSCONN_LOG", "debug")
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("dsconn starts")
    };
    let read_until_serving = |mut child: std::process::Child| {
        let stderr = child.stderr.take().expect("stderr");
        let mut log = String::new();
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            log.push_str(&line);
            log.push('\n');
            if line.contains("dsconn is serving") {
                break;
            }
        }
        let _ = child.kill();
        let output = child.wait_with_output().expect("output");
        (String::from_utf8_lossy(&output.stdout).into_owned(), log)
    };

    let first = start();
    let (stdout, log) = read_until_serving(first);
    let secret = stdout
        .lines()
        .find_map(|line| line.trim().strip_prefix("secret key: "))
        .expect("the secret key is printed")
        .to_owned();
    assert_eq!(secret.len(), 40);
    assert!(
        stdout.contains("access key: ") && stdout.contains("project id: "),
        "{stdout}"
    );
    assert!(
        stdout.contains("HUAWEICLOUD_SDK_AK="),
        "a one-line example follows: {stdout}"
    );
    assert!(
        !log.contains(&secret),
        "the secret key must not reach the log"
    );

    let second = start();
    let (stdout, _) = read_until_serving(second);
    assert!(
        !stdout.contains("secret key"),
        "printed only once: {stdout}"
    );
}

#[tokio::test]
async fn whoami_names_the_caller_and_its_projects() {
    let app = spawn_app().await;
    let project = new_project();
    let credential = project_credential(&app, &project).await;
    let request = SignedRequest {
        method: reqwest::Method::GET,
        target: "/dsconn/v1/whoami".into(),
        body: Vec::new(),
        credential: &credential,
        sdk_date: None,
        extra_headers: vec![],
    };
    let body: Value = app.signed(&request).await.json().await.expect("json");
    assert_eq!(body["kind"], "access_key");
    assert_eq!(body["id"], credential.access_key.as_str());
    assert_eq!(body["projects"], serde_json::json!([project]));
    assert_eq!(body["all_projects"], false);

    let body: Value = app
        .get(app.url("/dsconn/v1/whoami"))
        .send()
        .await
        .expect("sent")
        .json()
        .await
        .expect("json");
    assert_eq!(
        (body["kind"].as_str(), body["all_projects"].as_bool()),
        (Some("token"), Some(true))
    );
    let anonymous = app
        .client
        .get(app.url("/dsconn/v1/whoami"))
        .send()
        .await
        .expect("sent");
    assert_dli_error(anonymous, 401, "APIG.0301").await;
}
