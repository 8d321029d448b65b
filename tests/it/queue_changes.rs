//! Issue 27: changes of a stored queue after its create. Each is a compare-and-swap of
//! the queue's stored fields, so concurrent changes are all kept; bad input changes nothing.

use serde_json::{Value, json};

use crate::helpers::{TestApp, assert_dli_error, create_queues, new_project, spawn_app_with};

async fn action(app: &TestApp, project: &str, queue: &str, body: &Value) -> reqwest::Response {
    app.put(app.url(&format!("/v1.0/{project}/queues/{queue}/action")))
        .json(body)
        .send()
        .await
        .expect("sent")
}

async fn shown(app: &TestApp, project: &str, queue: &str) -> Value {
    app.get(app.url(&format!("/v1.0/{project}/queues/{queue}")))
        .send()
        .await
        .expect("sent")
        .json()
        .await
        .expect("json")
}

#[tokio::test]
async fn concurrent_scales_of_one_queue_are_all_kept_and_bad_ones_change_nothing() {
    let app = spawn_app_with(|config| {
        config.queues = vec![dsconn::domain::QueueName::parse("shared").expect("name")];
    })
    .await;
    let project = new_project();
    create_queues(&app, &project, &["busy"]).await;
    let properties = app.url(&format!("/v3/{project}/queues/busy/properties"));

    // 24 scale-outs by 1 and 8 property writes at once: every one lands.
    let scale = json!({"action": "scale_out", "cu_count": 1});
    let scales = (0..24).map(|_| action(&app, &project, "busy", &scale));
    let writes = (0..8).map(|n| {
        app.put(properties.clone())
            .json(&json!({"properties": {"job.maxConcurrent": n + 1}}))
            .send()
    });
    let (scales, writes) = tokio::join!(
        futures::future::join_all(scales),
        futures::future::join_all(writes)
    );
    let refused: Vec<_> = scales.iter().filter(|r| r.status() != 200).collect();
    assert!(refused.is_empty(), "{refused:?}");
    assert!(
        writes
            .iter()
            .all(|r| r.as_ref().expect("sent").status() == 200)
    );
    assert_eq!(shown(&app, &project, "busy").await["cuCount"], 16 + 24);

    // Refusals change nothing.
    for (body, code) in [
        (json!({"action": "scale_in", "cu_count": 40}), "DLI.0001"),
        (json!({"action": "scale_out"}), "DLI.0001"),
        (json!({"action": "scale_out", "cu_count": "2"}), "DLI.0001"),
        (json!({"action": "restart", "force": "yes"}), "DLI.0001"),
        (json!({}), "DLI.0001"),
    ] {
        assert_dli_error(action(&app, &project, "busy", &body).await, 400, code).await;
    }
    assert_eq!(shown(&app, &project, "busy").await["cuCount"], 40);
    let response = app
        .put(properties.clone())
        .json(&json!({"properties": {"job.maxConcurrent": 0, "computeEngine.maxInstance": 2}}))
        .send()
        .await
        .expect("sent");
    assert_dli_error(response, 400, "DLI.0001").await;
    let response = app
        .put(properties.clone())
        .json(&json!({"properties": {"made.up": "1"}}))
        .send()
        .await
        .expect("sent");
    let message = assert_dli_error(response, 400, "DLI.0001").await;
    assert!(
        message.contains("made.up") && message.contains("job.maxConcurrent"),
        "{message}"
    );
    let listed: Value = app
        .get(properties)
        .send()
        .await
        .expect("sent")
        .json()
        .await
        .expect("json");
    assert_eq!(listed["count"], 1, "{listed}");
    assert_eq!(listed["properties"][0]["key"], "job.maxConcurrent");

    // Unknown and declared queues.
    let response = action(&app, &project, "nope", &json!({"action": "restart"})).await;
    assert_dli_error(response, 400, "DLI.0002").await;
    let response = action(&app, &project, "shared", &json!({"action": "restart"})).await;
    let message = assert_dli_error(response, 400, "DLI.0007").await;
    assert!(message.contains("--queue"), "{message}");
    app.stop().await;
}
