//! Every signing algorithm through the real server: the same verify path, so the same
//! clock-skew, isolation and error rules hold for each.

use dsconn::domain::ProjectScope;
use dsconn::signing::{Algorithm, SigningMode};
use serde_json::Value;

use crate::helpers::{
    SignedRequest, TcpTarget, TestApp, TestCredential, assert_dli_error, create_body, new_project,
    spawn_app,
};

fn request<'a>(
    credential: &'a TestCredential,
    method: reqwest::Method,
    target: String,
    body: Vec<u8>,
    project: &str,
) -> SignedRequest<'a> {
    SignedRequest {
        method,
        target,
        body,
        credential,
        sdk_date: None,
        extra_headers: vec![("x-project-id", project.to_owned())],
    }
}

async fn send(
    app: &TestApp,
    request: &SignedRequest<'_>,
    algorithm: Algorithm,
) -> reqwest::Response {
    let headers = app.sign_with(request, SigningMode::of(algorithm));
    app.send_signed(request, headers, request.body.clone())
        .await
}

#[tokio::test]
async fn each_algorithm_creates_and_lists_and_a_wrong_key_or_stale_date_is_refused() {
    let app = spawn_app().await;
    let target = TcpTarget::start().await;
    for algorithm in Algorithm::ALL {
        let project = new_project();
        let credential = app
            .issue_credential(ProjectScope::Projects(vec![project.clone()]))
            .await;
        let collection = format!("/v2.0/{project}/datasource-connection");

        let body = create_body("signed", "RDS", &target.address.to_string());
        let create = request(
            &credential,
            reqwest::Method::POST,
            collection.clone(),
            serde_json::to_vec(&body).expect("json"),
            &project,
        );
        let response = send(&app, &create, algorithm).await;
        assert_eq!(response.status(), 201, "{algorithm}");

        let list = request(
            &credential,
            reqwest::Method::GET,
            collection.clone(),
            Vec::new(),
            &project,
        );
        let response = send(&app, &list, algorithm).await;
        assert_eq!(response.status(), 200, "{algorithm}");
        let listed: Value = response.json().await.expect("json");
        assert_eq!(listed["count"], 1, "{algorithm}");

        let forged = TestCredential {
            access_key: credential.access_key.clone(),
            secret_key: "x".repeat(40),
        };
        let wrong = request(
            &forged,
            reqwest::Method::GET,
            collection.clone(),
            Vec::new(),
            &project,
        );
        let response = send(&app, &wrong, algorithm).await;
        let message = assert_dli_error(response, 401, "APIG.0301").await;
        assert!(
            !message.contains(&credential.secret_key),
            "{algorithm}: {message}"
        );

        let mut stale = request(
            &credential,
            reqwest::Method::GET,
            collection,
            Vec::new(),
            &project,
        );
        stale.sdk_date = Some(
            (chrono::Utc::now() - chrono::Duration::minutes(16))
                .format(dsconn::signing::DATE_FORMAT)
                .to_string(),
        );
        let response = send(&app, &stale, algorithm).await;
        let message = assert_dli_error(response, 401, "APIG.0301").await;
        assert!(message.contains("15 minutes"), "{algorithm}: {message}");

        let other_project = new_project();
        let elsewhere = request(
            &credential,
            reqwest::Method::GET,
            format!("/v2.0/{other_project}/datasource-connection"),
            Vec::new(),
            &other_project,
        );
        let response = send(&app, &elsewhere, algorithm).await;
        assert_dli_error(response, 403, "APIG.0302").await;
    }
}

#[tokio::test]
async fn an_unknown_algorithm_is_refused_with_the_list_of_accepted_ones() {
    let app = spawn_app().await;
    let response = app
        .client
        .get(app.collection(&new_project()))
        .header(
            "authorization",
            "SDK-HMAC-SHA512 Access=AK, SignedHeaders=host;x-sdk-date, Signature=00",
        )
        .send()
        .await
        .expect("sent");
    let message = assert_dli_error(response, 401, "APIG.0301").await;
    for algorithm in Algorithm::ALL {
        assert!(message.contains(algorithm.name()), "{message}");
    }
}

fn cli(config_home: &std::path::Path) -> std::process::Command {
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_dsconn"));
    for name in [
        "DSCONN_ENDPOINT",
        "DSCONN_TOKEN",
        "DSCONN_PROFILE",
        "DSCONN_SIGNING_ALGORITHM",
        "HUAWEICLOUD_SDK_AK",
        "HUAWEICLOUD_SDK_SK",
        "HUAWEICLOUD_SDK_PROJECT_ID",
    ] {
        command.env_remove(name);
    }
    command.env("XDG_CONFIG_HOME", config_home);
    command
}

async fn output(mut command: std::process::Command) -> std::process::Output {
    tokio::task::spawn_blocking(move || command.output().expect("dsconn runs"))
        .await
        .expect("joined")
}

#[tokio::test]
async fn the_cli_signs_with_the_flag_or_the_profile_algorithm_and_refuses_unknown_ones() {
    let app = spawn_app().await;
    let project = new_project();
    let credential = app
        .issue_credential(ProjectScope::Projects(vec![project.clone()]))
        .await;
    let home = tempfile::tempdir().expect("temp dir");
    std::fs::create_dir_all(home.path().join("dsconn")).expect("config dir");
    std::fs::write(
        home.path().join("dsconn").join("config.toml"),
        format!(
            "[profiles.default]\nendpoint = \"http://{}\"\nproject = \"{project}\"\n\
             ak = \"{}\"\nsk = \"{}\"\nsigning_algorithm = \"SDK-SM2-SM3\"\n",
            app.address, credential.access_key, credential.secret_key
        ),
    )
    .expect("config written");

    let mut from_profile = cli(home.path());
    from_profile.args(["list", "-o", "json"]);
    let listed = output(from_profile).await;
    assert!(
        listed.status.success(),
        "{}",
        String::from_utf8_lossy(&listed.stderr)
    );

    for algorithm in Algorithm::ALL {
        let mut from_flag = cli(home.path());
        from_flag.args([
            "list",
            "-o",
            "json",
            "--signing-algorithm",
            algorithm.name(),
        ]);
        let listed = output(from_flag).await;
        assert!(
            listed.status.success(),
            "{algorithm}: {}",
            String::from_utf8_lossy(&listed.stderr)
        );
    }

    // The algorithm really is used: a wrong SK fails in a non-default one, naming it.
    let mut wrong = cli(home.path());
    wrong
        .args(["list", "--signing-algorithm", "SDK-HMAC-SM3"])
        .env("HUAWEICLOUD_SDK_AK", &credential.access_key)
        .env("HUAWEICLOUD_SDK_SK", "x".repeat(40));
    let refused = output(wrong).await;
    assert_eq!(refused.status.code(), Some(1));
    let message = String::from_utf8_lossy(&refused.stderr);
    assert!(
        message.contains("APIG.0301") && message.contains("(SDK-HMAC-SM3)"),
        "{message}"
    );

    let mut unknown = cli(home.path());
    unknown.args(["list", "--signing-algorithm", "SDK-HMAC-MD5"]);
    let refused = output(unknown).await;
    assert_eq!(refused.status.code(), Some(2));
    let message = String::from_utf8_lossy(&refused.stderr);
    for algorithm in Algorithm::ALL {
        assert!(message.contains(algorithm.name()), "{message}");
    }
}
