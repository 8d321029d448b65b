//! The list operation: order, count, DLI's tags filter and the extension filters.

use serde_json::json;

use crate::helpers::{assert_dli_error, closed_port, create_body, new_project, spawn_app};

async fn seed(app: &crate::helpers::TestApp, project: &str) -> Vec<String> {
    let url = format!("127.0.0.1:{}", closed_port());
    let specs = [
        (
            "alpha",
            "RDS",
            json!([{"key": "env", "value": "prod"}, {"key": "team", "value": "data"}]),
        ),
        ("beta", "DWS", json!([{"key": "env", "value": "dev"}])),
        ("gamma", "CSS", json!([{"key": "team", "value": "web"}])),
        ("delta", "RDS", json!([])),
    ];
    let mut ids = Vec::new();
    for (name, service, tags) in specs {
        let mut body = create_body(name, service, &url);
        body["tags"] = tags;
        ids.push(app.create_ok(project, &body).await);
        // Distinct create times make the order assertions exact.
        tokio::time::sleep(std::time::Duration::from_millis(3)).await;
    }
    ids
}

fn names(list: &dsconn::api::connections::types::ListConnectionsResponse) -> Vec<&str> {
    list.connections.iter().map(|c| c.name.as_str()).collect()
}

#[tokio::test]
async fn the_list_is_newest_first_with_every_field_and_a_count() {
    let app = spawn_app().await;
    let project = new_project();
    let empty = app.list(&project, "").await;
    assert_eq!((empty.count, empty.connections.len()), (0, 0));
    assert!(empty.is_success);
    assert_eq!(empty.message, "");

    seed(&app, &project).await;
    let list = app.list(&project, "").await;
    assert_eq!(list.count, 4);
    assert_eq!(names(&list), ["delta", "gamma", "beta", "alpha"]);
    let alpha = &list.connections[3];
    assert_eq!(alpha.tags.len(), 2);
    assert_eq!(alpha.service, "RDS");
    let ascending = app.list(&project, "order=asc").await;
    assert_eq!(names(&ascending), ["alpha", "beta", "gamma", "delta"]);
}

#[tokio::test]
async fn the_tags_filter_matches_all_terms_and_bare_keys() {
    let app = spawn_app().await;
    let project = new_project();
    seed(&app, &project).await;
    let cases = [
        ("tags=env%3Dprod", vec!["alpha"]),
        ("tags=env", vec!["beta", "alpha"]),
        ("tags=env%3Dprod%2Cteam%3Ddata", vec!["alpha"]),
        ("tags=env%3Dprod%2Cteam%3Dweb", vec![]),
        ("tags=team", vec!["gamma", "alpha"]),
        ("tags=owner", vec![]),
        ("tags=", vec!["delta", "gamma", "beta", "alpha"]),
    ];
    for (query, expected) in cases {
        let list = app.list(&project, query).await;
        assert_eq!(names(&list), expected, "{query}");
        assert_eq!(list.count as usize, expected.len(), "{query}");
    }
}

#[tokio::test]
async fn extension_filters_and_paging_narrow_the_list_and_count_before_paging() {
    let app = spawn_app().await;
    let project = new_project();
    seed(&app, &project).await;
    let by_service = app.list(&project, "service=rds").await;
    assert_eq!(names(&by_service), ["delta", "alpha"]);
    let by_name = app.list(&project, "name=ET").await;
    assert_eq!(names(&by_name), ["beta"]);
    let page = app.list(&project, "limit=2&offset=1").await;
    assert_eq!(page.count, 4);
    assert_eq!(names(&page), ["gamma", "beta"]);
    let beyond = app.list(&project, "limit=2&offset=10").await;
    assert_eq!((beyond.count, beyond.connections.len()), (4, 0));
}

#[tokio::test]
async fn the_state_filter_takes_a_comma_list() {
    let app = spawn_app().await;
    let project = new_project();
    let ids = seed(&app, &project).await;
    for id in &ids {
        app.settled(&project, id).await;
    }
    assert_eq!(app.delete(&project, &ids[0]).await.status(), 200);
    assert_eq!(names(&app.list(&project, "state=DELETED").await), ["alpha"]);
    assert_eq!(app.list(&project, "state=failed,deleted").await.count, 4);
    assert_eq!(app.list(&project, "state=ACTIVE").await.count, 0);
}

#[tokio::test]
async fn bad_list_parameters_are_refused_with_dli_errors() {
    let app = spawn_app().await;
    let project = new_project();
    for query in [
        "limit=0",
        "limit=-1",
        "limit=abc",
        "limit=1001",
        "offset=x",
        "state=GONE",
        "service=mongo",
        "order=sideways",
        "tags=%3Dvalue",
        "tags=a&tags=b",
    ] {
        assert_dli_error(app.list_raw(&project, query).await, 400, "DLI.0001").await;
    }
}
