//! The OpenAPI document: served without credentials, equal to the committed insta
//! snapshot `docs/openapi.snap` (the published copy: the served JSON after insta's
//! three-line header), and naming only routes that exist.
//!
//! After an intended API change, regenerate the snapshot with one command and commit it:
//!
//!     INSTA_UPDATE=always cargo test --test it openapi::
//!
//! (or `cargo insta test --accept -- openapi::` with cargo-insta installed).

use serde_json::Value;

use crate::helpers::{spawn_app, spawn_app_with};

/// The served document, as text.
async fn served_document() -> String {
    let app = spawn_app().await;
    let response = app
        .client
        .get(app.url("/openapi.json"))
        .send()
        .await
        .expect("sent");
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "application/json");
    let text = response.text().await.expect("text");
    app.stop().await;
    text
}

#[tokio::test]
async fn the_committed_openapi_document_is_the_served_one() {
    let served = served_document().await;
    let document: Value = serde_json::from_str(&served).expect("the document is JSON");
    assert_eq!(document["openapi"], "3.1.0");
    insta::with_settings!({
        // Beside the other docs rather than in tests/it/snapshots/: it is published.
        snapshot_path => "../../docs",
        prepend_module_to_snapshot => false,
        omit_expression => true,
        description => "GET /openapi.json; regenerate: INSTA_UPDATE=always cargo test --test it openapi::",
    }, {
        insta::assert_snapshot!("openapi", served);
    });
}

/// A concrete path for a documented template: a valid project and a fresh UUID.
fn concrete(template: &str) -> String {
    template
        .replace("{project_id}", "p-openapi")
        .replace("{connection_id}", &uuid::Uuid::new_v4().to_string())
}

#[tokio::test]
async fn every_documented_operation_is_routed() {
    // Every secured operation is one failed authentication: more than the default burst.
    let app = spawn_app_with(|config| config.auth_failure_burst = 1000).await;
    let document: Value = app
        .client
        .get(app.url("/openapi.json"))
        .send()
        .await
        .expect("sent")
        .json()
        .await
        .expect("json");
    let paths = document["paths"].as_object().expect("paths");
    assert!(paths.len() >= 12, "{paths:?}");
    for (template, item) in paths {
        for (method, operation) in item.as_object().expect("path item") {
            let method: reqwest::Method = method.to_uppercase().parse().expect("method");
            // Without credentials: a routed operation answers 401 (or, when it needs
            // none, 200); an unrouted one would answer 404.
            let response = app
                .client
                .request(method.clone(), app.url(&concrete(template)))
                .send()
                .await
                .expect("sent");
            let status = response.status().as_u16();
            let secured = operation.get("security").is_some();
            let expected = if secured { 401 } else { 200 };
            assert_eq!(status, expected, "{method} {template}");
            assert!(
                operation["responses"]
                    .as_object()
                    .expect("responses")
                    .contains_key(&status.to_string()),
                "{method} {template} does not document {status}"
            );
        }
    }
}
