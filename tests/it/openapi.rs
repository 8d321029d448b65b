//! The OpenAPI document: served without credentials, equal to the committed
//! `docs/openapi.json`, and naming only routes that exist.

use serde_json::Value;

use crate::helpers::spawn_app;

/// The committed copy of the document.
const COMMITTED: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/docs/openapi.json");
/// Set to `1` to rewrite `docs/openapi.json` from the served document.
const UPDATE_VAR: &str = "UPDATE_OPENAPI";

/// The served document, as text, with the trailing newline the committed file has.
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
    format!("{text}\n")
}

#[tokio::test]
async fn the_committed_openapi_document_is_the_served_one() {
    let served = served_document().await;
    let document: Value = serde_json::from_str(&served).expect("the document is JSON");
    assert_eq!(document["openapi"], "3.1.0");

    if std::env::var(UPDATE_VAR).is_ok_and(|value| value == "1") {
        std::fs::write(COMMITTED, &served).expect("docs/openapi.json written");
        return;
    }
    let committed = std::fs::read_to_string(COMMITTED).unwrap_or_default();
    if committed != served {
        let first_difference = committed
            .lines()
            .zip(served.lines())
            .position(|(old, new)| old != new)
            .unwrap_or_else(|| committed.lines().count().min(served.lines().count()));
        panic!(
            "docs/openapi.json is not the document the server serves at /openapi.json \
             (first difference at line {}). If the API change is intended, regenerate it \
             with\n\n    {UPDATE_VAR}=1 cargo test --test it openapi::\n\nand commit the \
             file with the change.",
            first_difference + 1
        );
    }
}

/// A concrete path for a documented template: a valid project and a fresh UUID.
fn concrete(template: &str) -> String {
    template
        .replace("{project_id}", "p-openapi")
        .replace("{connection_id}", &uuid::Uuid::new_v4().to_string())
}

#[tokio::test]
async fn every_documented_operation_is_routed() {
    let app = spawn_app().await;
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
