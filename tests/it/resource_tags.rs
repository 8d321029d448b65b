//! DLI's v3 tag API on enhanced connections (`dli_enhanced_datasource`).

use serde_json::{Value, json};

use crate::helpers::spawn_app;
use crate::sharing::{Caller, error_pair, not_exist};

const TYPE: &str = "/v3/{p}/dli_enhanced_datasource";

fn tags(pairs: &[(&str, &str)]) -> Value {
    json!({"tags": pairs.iter().map(|(k, v)| json!({"key": k, "value": v})).collect::<Vec<_>>()})
}

fn invalid(message: &str) -> Value {
    json!({"error_code": "DLI.0001", "error_msg": message})
}

#[tokio::test]
async fn tags_are_set_overwritten_removed_and_found() {
    let app = spawn_app().await;
    let owner = Caller::new(&app).await;
    let orders = owner
        .create_connection("orders", json!({"tags": [{"key": "env", "value": "prod"}]}))
        .await;
    let bare = owner.create_connection("bare", json!({})).await;
    let one = format!("{TYPE}/{orders}/tags");

    let (status, answer) = owner
        .call(
            "POST",
            &format!("{one}/create"),
            Some(tags(&[("team", "data"), ("env", "dev")])),
        )
        .await;
    assert_eq!(
        (status, answer),
        (200, json!({"is_success": true, "message": ""}))
    );
    let (status, shown) = owner.call("GET", &one, None).await;
    assert_eq!(status, 200);
    assert_eq!(
        shown,
        json!({"tags": [{"key": "env", "value": "dev"}, {"key": "team", "value": "data"}], "count": 2})
    );
    // E2's tag filter reads the indexed copy: it agrees.
    let (_, list) = owner
        .call(
            "GET",
            "/v2.0/{p}/datasource/enhanced-connections?tags=team%3Ddata",
            None,
        )
        .await;
    assert_eq!(list["connections"][0]["id"], orders.as_str(), "{list}");

    let (status, keys) = owner.call("GET", &format!("{TYPE}/tags"), None).await;
    assert_eq!(status, 200);
    assert_eq!(
        keys,
        json!({"tags": [{"key": "env", "values": ["dev"]}, {"key": "team", "values": ["data"]}], "count": 2})
    );

    let filter = format!("{TYPE}/resource-instances/filter");
    let count = format!("{TYPE}/resource-instances/count");
    let (status, found) = owner
        .call(
            "POST",
            &filter,
            Some(json!({"tags": [{"key": "env", "values": ["dev", "prod"]}]})),
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(
        found,
        json!({"total_count": 1, "resources": [{"resource_id": orders, "resource_name": "orders",
            "resource_detail": {}, "tags": [{"key": "env", "value": "dev"}, {"key": "team", "value": "data"}]}]})
    );
    let (_, found) = owner
        .call("POST", &filter, Some(json!({"without_any_tag": true})))
        .await;
    assert_eq!(found["resources"][0]["resource_id"], bare.as_str());
    let (_, found) = owner
        .call(
            "POST",
            &format!("{filter}?limit=1&offset=1"),
            Some(json!({})),
        )
        .await;
    assert_eq!(
        (
            found["total_count"].clone(),
            found["resources"].as_array().map(Vec::len)
        ),
        (json!(2), Some(1))
    );
    let (_, counted) = owner
        .call(
            "POST",
            &count,
            Some(json!({"matches": [{"key": "resource_name", "value": "ORD"}]})),
        )
        .await;
    assert_eq!(counted, json!({"total_count": 1}));
    // No body at all reads as {}.
    let (status, counted) = owner.call("POST", &count, None).await;
    assert_eq!((status, counted), (200, json!({"total_count": 2})));

    let (status, _) = owner
        .call(
            "POST",
            &format!("{one}/delete"),
            Some(json!({"tags": [{"key": "env"}, {"key": "missing"}]})),
        )
        .await;
    assert_eq!(status, 200);
    let (_, shown) = owner.call("GET", &one, None).await;
    assert_eq!(
        shown,
        json!({"tags": [{"key": "team", "value": "data"}], "count": 1})
    );

    // A deleted connection has no tags to change.
    let (status, _) = owner
        .call(
            "DELETE",
            &format!("/v2.0/{{p}}/datasource/enhanced-connections/{orders}"),
            None,
        )
        .await;
    assert_eq!(status, 200);
    let (status, answer) = owner.call("GET", &one, None).await;
    assert_eq!((status, error_pair(&answer)), (400, not_exist(&orders)));
    let (_, keys) = owner.call("GET", &format!("{TYPE}/tags"), None).await;
    assert_eq!(keys, json!({"tags": [], "count": 0}));
}

#[tokio::test]
async fn bad_tag_requests_are_refused_and_change_nothing() {
    let app = spawn_app().await;
    let owner = Caller::new(&app).await;
    let id = owner.create_connection("tagged", json!({})).await;
    let one = format!("{TYPE}/{id}/tags");
    let create = format!("{one}/create");

    let many: Vec<(String, String)> = (0..20).map(|i| (format!("k{i}"), "v".to_owned())).collect();
    let many: Vec<(&str, &str)> = many.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let (status, _) = owner.call("POST", &create, Some(tags(&many))).await;
    assert_eq!(status, 200);
    let (status, answer) = owner
        .call("POST", &create, Some(tags(&[("one_more", "v")])))
        .await;
    assert_eq!(
        (status, error_pair(&answer)),
        (
            400,
            json!({"error_code": "DLI.1028", "error_msg": "a connection may have at most 20 tags; this would leave 21"})
        )
    );
    // Overwriting a value of a full connection is fine.
    let (status, _) = owner
        .call("POST", &create, Some(tags(&[("k0", "w")])))
        .await;
    assert_eq!(status, 200);

    let refusals: Vec<(String, Option<Value>, Value)> = vec![
        (
            create.clone(),
            Some(tags(&[("_sys_x", "v")])),
            invalid("tag key \"_sys_x\" is reserved: keys must not start with _sys_"),
        ),
        (
            create.clone(),
            Some(tags(&[("a", "1"), ("a", "2")])),
            invalid("tag key \"a\" appears more than once"),
        ),
        (
            create.clone(),
            Some(json!({"tags": []})),
            invalid("tags must list 1 to 20 tags, got 0"),
        ),
        (create.clone(), None, invalid("tags is required")),
        (
            create.clone(),
            Some(json!({"tags": [{"key": "k"}]})),
            invalid("tags[0].value is required"),
        ),
        (
            format!("/v3/{{p}}/dli_queue/{id}/tags/create"),
            Some(tags(&[("a", "1")])),
            invalid("resource type dli_queue is not supported"),
        ),
        (
            format!("/v3/{{p}}/{}/tags", "x".repeat(100)),
            None,
            invalid(&format!(
                "resource type {} is not supported",
                "x".repeat(64)
            )),
        ),
        (
            format!("{TYPE}/{}/tags", "x".repeat(1001)),
            None,
            invalid("resource_id must be at most 1000 characters"),
        ),
        (
            format!("{TYPE}/not-an-id/tags"),
            None,
            not_exist("not-an-id"),
        ),
        (
            format!("{TYPE}/tags?limit=0"),
            None,
            invalid("limit must be 1 to 1000"),
        ),
        (
            format!("{TYPE}/resource-instances/filter"),
            Some(json!({"matches": [{"key": "id", "value": "x"}]})),
            invalid("matches[0].key must be resource_name"),
        ),
    ];
    for (path, body, expected) in refusals {
        let method = if body.is_some() || path.ends_with("/create") {
            "POST"
        } else {
            "GET"
        };
        let (status, answer) = owner.call(method, &path, body).await;
        assert_eq!(
            (status, error_pair(&answer)),
            (400, expected),
            "{method} {path}"
        );
    }
    let (_, shown) = owner.call("GET", &one, None).await;
    assert_eq!(shown["count"], 20);
    assert_eq!(shown["tags"][0], json!({"key": "k0", "value": "w"}));
    // Another project's connection is unknown.
    let stranger = Caller::new(&app).await;
    let (status, answer) = stranger
        .call("GET", &format!("{TYPE}/{id}/tags"), None)
        .await;
    assert_eq!((status, error_pair(&answer)), (400, not_exist(&id)));
}
