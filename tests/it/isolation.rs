//! Every read and write is scoped to the path's project.

use crate::helpers::{TcpTarget, assert_dli_error, create_body, new_project, spawn_app};

#[tokio::test]
async fn another_projects_connection_behaves_exactly_like_an_unknown_one() {
    let app = spawn_app().await;
    let target = TcpTarget::start().await;
    let owner = new_project();
    let stranger = new_project();
    let id = app
        .create_ok(
            &owner,
            &create_body("private", "RDS", &target.address.to_string()),
        )
        .await;
    app.settled(&owner, &id).await;

    assert_eq!(app.list(&stranger, "").await.count, 0);
    assert_eq!(app.list(&stranger, "tags=").await.count, 0);
    let unknown = uuid::Uuid::new_v4().to_string();
    let foreign = assert_dli_error(app.show_raw(&stranger, &id).await, 400, "DLI.0002").await;
    let missing = assert_dli_error(app.show_raw(&stranger, &unknown).await, 400, "DLI.0002").await;
    assert_eq!(foreign.replace(&id, "ID"), missing.replace(&unknown, "ID"));
    assert_dli_error(app.delete(&stranger, &id).await, 400, "DLI.0002").await;

    let still = app.show(&owner, &id).await;
    assert_eq!(
        still.state, "ACTIVE",
        "the stranger's delete changed nothing"
    );
    // The same name is free in the other project.
    app.create_ok(
        &stranger,
        &create_body("private", "RDS", &target.address.to_string()),
    )
    .await;
    assert_eq!(app.list(&owner, "").await.count, 1);
}
