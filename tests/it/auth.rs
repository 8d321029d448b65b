//! Authentication and project isolation: AK/SK signatures, tokens, the limit on failed
//! attempts, host binding, bootstrap.

use std::process::Command;
use std::time::{Duration, Instant};

use dsconn::domain::ProjectScope;
use serde_json::Value;

use crate::helpers::{
    SignedRequest, TcpTarget, TestApp, TestCredential, assert_dli_error, client_from, create_body,
    new_project, spawn_app, spawn_app_with,
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
async fn bad_signatures_never_lock_out_the_owner_and_are_rate_limited_per_address() {
    let app = spawn_app_with(|config| {
        config.auth_failure_burst = 5;
        config.auth_failures_per_second = 1;
    })
    .await;
    let project = new_project();
    let credential = project_credential(&app, &project).await;
    let forged = TestCredential {
        access_key: credential.access_key.clone(),
        secret_key: "wrong".into(),
    };
    for _ in 0..5 {
        let response = app.signed(&list_request(&forged, &project, "")).await;
        assert_dli_error(response, 401, "APIG.0301").await;
    }
    // Past the burst, this address's failures are answered 429 (one per second still
    // gets through as 401 as the bucket refills).
    let mut limited = None;
    for _ in 0..5 {
        let response = app.signed(&list_request(&forged, &project, "")).await;
        if response.status() == 429 {
            limited = Some(response);
            break;
        }
    }
    let limited = limited.expect("bad signatures past the burst are rate-limited");
    assert!(limited.headers().contains_key("retry-after"));
    let message = assert_dli_error(limited, 429, "APIG.0308").await;
    assert!(message.contains("failed authentication"), "{message}");

    // The owner is never refused for a stranger's failures: not from another address,
    // and not from the very address that is being rate-limited.
    let elsewhere = client_from("127.0.0.2");
    let response = app
        .signed_via(&elsewhere, &list_request(&credential, &project, ""))
        .await;
    assert_eq!(response.status(), 200);
    let response = app.signed(&list_request(&credential, &project, "")).await;
    assert_eq!(response.status(), 200);
    // And the other address has its own, untouched budget for failures.
    let response = app
        .signed_via(&elsewhere, &list_request(&forged, &project, ""))
        .await;
    assert_dli_error(response, 401, "APIG.0301").await;

    let metrics = reqwest::get(app.url("/metrics"))
        .await
        .expect("metrics")
        .text()
        .await
        .expect("text");
    for reason in ["signature", "rate_limited"] {
        assert!(
            metrics.contains(&format!(
                "dsconn_auth_failures_total{{reason=\"{reason}\"}}"
            )),
            "{metrics}"
        );
    }
}

#[tokio::test]
async fn unknown_revoked_and_wrongly_signed_keys_get_the_same_answer() {
    let app = spawn_app().await;
    let project = new_project();
    let real = project_credential(&app, &project).await;
    let revoked = project_credential(&app, &project).await;
    assert!(
        app.store
            .revoke_credential(&revoked.access_key, dsconn::domain::now_millis())
            .await
            .expect("revoked")
    );
    let answer = |credential: TestCredential| {
        let app = &app;
        let project = project.clone();
        async move {
            let response = app.signed(&list_request(&credential, &project, "")).await;
            // The access key's excerpt is the only part that may differ.
            let prefix = credential.access_key.chars().take(8).collect::<String>();
            assert_dli_error(response, 401, "APIG.0301")
                .await
                .replace(&prefix, "<AK>")
        }
    };
    let wrong_secret = answer(TestCredential {
        access_key: real.access_key.clone(),
        secret_key: "x".repeat(40),
    })
    .await;
    let unknown = answer(TestCredential {
        access_key: format!("{}UNKNOWN000000", &real.access_key[..8]),
        secret_key: "x".repeat(40),
    })
    .await;
    let revoked = answer(revoked).await;
    assert_eq!(unknown, wrong_secret);
    assert_eq!(revoked, wrong_secret);
    assert!(!wrong_secret.contains(&real.secret_key));
}

#[tokio::test]
async fn client_values_are_echoed_as_a_short_excerpt_only() {
    let app = spawn_app_with(|config| config.max_header_bytes = 64 * 1024).await;
    let project = new_project();
    let huge = TestCredential {
        access_key: "K".repeat(15_000),
        secret_key: "s".repeat(40),
    };
    let message = assert_dli_error(
        app.signed(&list_request(&huge, &project, "")).await,
        401,
        "APIG.0301",
    )
    .await;
    assert!(message.contains("KKKKKKKK..."), "{message}");
    assert!(!message.contains(&"K".repeat(9)), "{message}");
    assert!(message.len() < 400, "{} bytes", message.len());

    let credential = app.issue_credential(ProjectScope::All).await;
    let mut request = list_request(&credential, &project, "");
    request.extra_headers = vec![("x-project-id", "P".repeat(10_000))];
    let message = assert_dli_error(app.signed(&request).await, 403, "APIG.0302").await;
    assert!(!message.contains(&"P".repeat(9)), "{message}");
    assert!(message.len() < 400, "{} bytes", message.len());
}

#[tokio::test]
async fn with_allowed_hosts_a_signature_made_for_another_host_is_refused() {
    let app = spawn_app_with(|config| {
        config.allowed_hosts = vec![
            dsconn::config::AllowedHost::parse("127.0.0.1").expect("host"),
            dsconn::config::AllowedHost::parse("dli.example.com:443").expect("host"),
        ];
    })
    .await;
    let project = new_project();
    let credential = project_credential(&app, &project).await;
    // The test signs for the address it connects to: 127.0.0.1:<port>.
    assert_eq!(
        app.signed(&list_request(&credential, &project, ""))
            .await
            .status(),
        200
    );
    for host in [
        "dli.cn-north-4.myhuaweicloud.com",
        "dli.example.com:8443",
        "127.0.0.2",
    ] {
        let mut request = list_request(&credential, &project, "");
        request.extra_headers.push(("host", host.to_owned()));
        let message = assert_dli_error(app.signed(&request).await, 401, "APIG.0301").await;
        assert!(message.contains("does not serve"), "{host}: {message}");
    }
    // Tokens are not signatures for a host, and are not affected.
    assert_eq!(app.list_raw(&project, "").await.status(), 200);
}

#[tokio::test]
async fn plus_and_percent_2b_in_a_query_mean_what_was_signed() {
    let app = spawn_app().await;
    let target = TcpTarget::start().await;
    let project = new_project();
    let credential = project_credential(&app, &project).await;
    for (name, value) in [("plus", "a+b"), ("space", "a b")] {
        let mut body = create_body(name, "RDS", &target.address.to_string());
        body["tags"] = serde_json::json!([{"key": "k", "value": value}]);
        assert_eq!(
            app.signed(&create_request(&credential, &project, &body))
                .await
                .status(),
            201
        );
    }
    let names = |response: reqwest::Response| async move {
        let status = response.status();
        let body: Value = response.json().await.expect("json");
        assert_eq!(status, 200, "{body}");
        body["connections"]
            .as_array()
            .expect("connections")
            .iter()
            .map(|c| c["name"].as_str().expect("name").to_owned())
            .collect::<Vec<_>>()
    };
    // %2B is a plus, signed and read alike.
    let response = app
        .signed(&list_request(&credential, &project, "tags=k%3Da%2Bb"))
        .await;
    assert_eq!(names(response).await, ["plus"]);

    // A bare '+' is read as a space (form encoding), so it verifies against a signature
    // of a space, and the handler acts on the space...
    let signed_for_space = list_request(&credential, &project, "tags=k%3Da%20b");
    let headers = app.sign(&signed_for_space);
    let sent = list_request(&credential, &project, "tags=k%3Da+b");
    let response = app.send_signed(&sent, headers, Vec::new()).await;
    assert_eq!(names(response).await, ["space"]);

    // ...and a signature of a plus does not cover a bare '+', which means a space.
    let signed_for_plus = list_request(&credential, &project, "tags=k%3Da%2Bb");
    let headers = app.sign(&signed_for_plus);
    let response = app.send_signed(&sent, headers, Vec::new()).await;
    assert_dli_error(response, 401, "APIG.0301").await;
}

#[tokio::test]
async fn tokens_work_for_their_projects_only_and_stop_when_revoked_or_expired() {
    let app = spawn_app().await;
    let project = new_project();
    let issued = dsconn::issuing::create_token(
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
        dsconn::issuing::create_token(&app.store, ProjectScope::All, Duration::from_millis(300))
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

// Several threads: the CLI runs as a blocking child process while the in-process server
// must keep going (a current-thread runtime froze the server mid-transaction, and the
// CLI's write then found the database locked).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
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
    assert!(
        revoked.status.success(),
        "{}",
        String::from_utf8_lossy(&revoked.stderr)
    );
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
    let request = SignedRequest::get("/dsconn/v1/whoami", &credential);
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

#[tokio::test]
async fn the_projects_offered_are_the_callers_own_or_those_that_hold_something() {
    let app = spawn_app().await;
    let (busy, emptied, queued) = (new_project(), new_project(), new_project());
    let definition = serde_json::json!({"name": "c1", "service": "RDS", "url": "127.0.0.1:1",
        "security_group_id": "sg-1", "network_id": "net-1"});
    app.create_ok(&busy, &definition).await;
    // A project whose only connection was deleted holds nothing any more.
    let gone = app.create_ok(&emptied, &definition).await;
    app.settled(&emptied, &gone).await;
    assert_eq!(app.delete(&emptied, &gone).await.status(), 200);
    let queue = app
        .post(app.url(&format!("/v1.0/{queued}/queues")))
        .json(&serde_json::json!({"queue_name": "etl", "cu_count": 16}))
        .send()
        .await
        .expect("sent");
    assert!(queue.status().is_success(), "{}", queue.status());

    // An all-projects token: every project that holds something, in order.
    let body: Value = app
        .get(app.url("/dsconn/v1/projects"))
        .send()
        .await
        .expect("sent")
        .json()
        .await
        .expect("json");
    let listed: Vec<&str> = body["projects"]
        .as_array()
        .expect("projects")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    let mut expected = vec![busy.as_str(), queued.as_str()];
    expected.sort_unstable();
    assert_eq!(listed, expected, "{body}");
    assert_eq!(body["truncated"], false);

    // A credential of one project: that project, whatever the server holds.
    let credential = project_credential(&app, &emptied).await;
    let request = SignedRequest::get("/dsconn/v1/projects", &credential);
    let body: Value = app.signed(&request).await.json().await.expect("json");
    assert_eq!(body["projects"], serde_json::json!([emptied]), "{body}");
    let anonymous = app
        .client
        .get(app.url("/dsconn/v1/projects"))
        .send()
        .await
        .expect("sent");
    assert_dli_error(anonymous, 401, "APIG.0301").await;
}
