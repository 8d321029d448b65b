//! The auth info story (datasource authentication records and their sealed secrets), run
//! against both backends like the rest of the conformance suite.

use dsconn::domain::ProjectId;
use dsconn::store::{
    AuthInfoChange, AuthInfoPage, AuthInfoQuery, AuthInfoUpdateOutcome, CreateNamedOutcome,
    DynStore, NewAuthInfo,
};
use rstest::rstest;

use super::{Backend, T0, open, owned, project};

fn auth_info(p: &ProjectId, name: &str, create_time: i64) -> NewAuthInfo {
    let mut attributes = serde_json::Map::new();
    attributes.insert("user_name".into(), "etl".into());
    NewAuthInfo {
        project_id: p.clone(),
        name: name.to_owned(),
        datasource_type: "passwd".into(),
        attributes,
        sealed_secrets: vec![1, 2, 3, 0, 255],
        owner: "AKOWNER".into(),
        create_time,
    }
}

fn auth_names(page: &AuthInfoPage) -> Vec<String> {
    page.items.iter().map(|item| item.name.clone()).collect()
}

#[rstest]
#[case::sqlite(Backend::Sqlite)]
#[case::postgres(Backend::Postgres)]
#[tokio::test]
async fn auth_infos_are_created_listed_updated_and_deleted_alike(#[case] backend: Backend) {
    let Some(stores) = open(backend).await else {
        return;
    };
    auth_info_story(&stores.first, &stores.second).await;
    stores.finish().await;
}

async fn auth_info_story(first: &DynStore, second: &DynStore) {
    let pa = project("proj-auth-a");
    let pb = project("proj-auth-b");
    let create = |store: &DynStore, new: NewAuthInfo, cap: u32| {
        let store = store.clone();
        async move { store.create_auth_info(&new, cap).await.expect("create") }
    };

    // Create: names are unique per project (also through the other handle), case-
    // sensitive, and the cap counts the project's rows only.
    assert_eq!(
        create(first, auth_info(&pa, "b_two", T0 + 1), 3).await,
        CreateNamedOutcome::Created
    );
    assert_eq!(
        create(first, auth_info(&pa, "a_one", T0 + 1), 3).await,
        CreateNamedOutcome::Created
    );
    assert_eq!(
        create(second, auth_info(&pa, "a_one", T0 + 9), 3).await,
        CreateNamedOutcome::AlreadyExists
    );
    assert_eq!(
        create(second, auth_info(&pa, "A_ONE", T0), 3).await,
        CreateNamedOutcome::Created
    );
    assert_eq!(
        create(first, auth_info(&pa, "c_four", T0 + 2), 3).await,
        CreateNamedOutcome::CapReached
    );
    assert_eq!(
        create(first, auth_info(&pb, "a_one", T0 + 5), 3).await,
        CreateNamedOutcome::Created
    );

    // Read back as written, bytes of the sealed column included.
    let record = second
        .get_auth_info(&pa, "a_one")
        .await
        .expect("get")
        .expect("stored");
    assert_eq!(record.datasource_type, "passwd");
    assert_eq!(record.attributes["user_name"], "etl");
    assert_eq!(record.sealed_secrets, vec![1, 2, 3, 0, 255]);
    assert_eq!(record.owner, "AKOWNER");
    assert_eq!((record.create_time, record.update_time), (T0 + 1, T0 + 1));
    assert!(
        first
            .get_auth_info(&pb, "b_two")
            .await
            .expect("get")
            .is_none()
    );

    // Lists: by create_time then name; the total is before offset and limit; exact names.
    let list = |store: &DynStore, p: &ProjectId, name: Option<&str>, offset: u64, limit: u64| {
        let store = store.clone();
        let p = p.clone();
        let query = AuthInfoQuery {
            name: name.map(str::to_owned),
            offset,
            limit,
        };
        async move { store.list_auth_infos(&p, &query).await.expect("list") }
    };
    let all = list(first, &pa, None, 0, 100).await;
    assert_eq!(all.total, 3);
    assert_eq!(auth_names(&all), ["A_ONE", "a_one", "b_two"]);
    let page = list(second, &pa, None, 1, 1).await;
    assert_eq!((page.total, auth_names(&page)), (3, owned(&["a_one"])));
    let past = list(first, &pa, None, 5, 10).await;
    assert_eq!((past.total, past.items.len()), (3, 0));
    let named = list(first, &pa, Some("a_one"), 0, 100).await;
    assert_eq!((named.total, auth_names(&named)), (1, owned(&["a_one"])));
    let miss = list(first, &pa, Some("a_on"), 0, 100).await;
    assert_eq!((miss.total, miss.items.len()), (0, 0));
    assert_eq!(
        auth_names(&list(second, &pb, None, 0, 100).await),
        ["a_one"]
    );

    // Update: a compare-and-set on update_time.
    let mut attributes = serde_json::Map::new();
    attributes.insert("user_name".into(), "loader".into());
    let change = AuthInfoChange {
        attributes,
        sealed_secrets: vec![9, 9],
        read_update_time: T0 + 1,
        update_time: T0 + 50,
    };
    assert_eq!(
        first
            .update_auth_info(&pa, "a_one", &change)
            .await
            .expect("update"),
        AuthInfoUpdateOutcome::Updated
    );
    // The same read again (another replica's lost race) changes nothing.
    let stale = AuthInfoChange {
        sealed_secrets: vec![7],
        update_time: T0 + 60,
        ..change.clone()
    };
    assert_eq!(
        second
            .update_auth_info(&pa, "a_one", &stale)
            .await
            .expect("update"),
        AuthInfoUpdateOutcome::ChangedMeanwhile
    );
    assert_eq!(
        second
            .update_auth_info(&pa, "nobody", &change)
            .await
            .expect("update"),
        AuthInfoUpdateOutcome::NotFound
    );
    assert_eq!(
        second
            .update_auth_info(&pb, "b_two", &change)
            .await
            .expect("update"),
        AuthInfoUpdateOutcome::NotFound,
        "another project's name"
    );
    let record = second
        .get_auth_info(&pa, "a_one")
        .await
        .expect("get")
        .expect("stored");
    assert_eq!(record.attributes["user_name"], "loader");
    assert_eq!(record.sealed_secrets, vec![9, 9]);
    assert_eq!((record.create_time, record.update_time), (T0 + 1, T0 + 50));
    let other = second
        .get_auth_info(&pb, "a_one")
        .await
        .expect("get")
        .expect("stored");
    assert_eq!(
        other.attributes["user_name"], "etl",
        "the other project's is untouched"
    );

    // Delete: once; the name and a place under the cap are free again.
    assert!(second.delete_auth_info(&pa, "a_one").await.expect("delete"));
    assert!(!first.delete_auth_info(&pa, "a_one").await.expect("delete"));
    assert!(
        first
            .get_auth_info(&pb, "a_one")
            .await
            .expect("get")
            .is_some()
    );
    assert_eq!(
        create(first, auth_info(&pa, "a_one", T0 + 70), 3).await,
        CreateNamedOutcome::Created
    );
    assert_eq!(list(second, &pa, None, 0, 100).await.total, 3);
}
