//! The sharing and tag story of enhanced connections (grants to other projects, tags
//! after create), run against both backends like the rest of the conformance suite.

use dsconn::domain::{ConnectionId, ProjectId, QueueName, Tag, TagFilter, Tags};
use dsconn::store::enhanced_sharing::{
    BIND_QUEUE, ConnectionAccess, GrantAction, GrantChange, GrantOutcome, GrantRequest,
    MAX_GRANTEES_PER_CONNECTION, TagChange, TagsOutcome,
};
use dsconn::store::{
    ConnectionKey, DynStore, EnhancedAccess, EnhancedBind, EnhancedLimits, EnhancedListQuery,
    EnhancedStatus, NewEnhancedConnection,
};
use rstest::rstest;

use super::{Backend, T0, new_queue, open, project};

const LIMITS: EnhancedLimits = EnhancedLimits {
    connections_per_project: 1000,
    bindings_per_connection: 100,
    routes_per_connection: 100,
};

fn tag(key: &str, value: &str) -> Tag {
    Tag::parse(key, value).expect("valid tag")
}

async fn create(
    store: &DynStore,
    owner: &ProjectId,
    name: &str,
    tags: &[(&str, &str)],
) -> ConnectionId {
    let pairs: Vec<(String, String)> = tags
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    let new = NewEnhancedConnection {
        id: ConnectionId::generate(),
        project_id: owner.clone(),
        name: name.to_owned(),
        dest_vpc_id: "vpc-1".into(),
        dest_network_id: "net-1".into(),
        routetable_id: None,
        hosts: Vec::new(),
        tags: Tags::parse(&pairs).expect("valid tags"),
        queues: Vec::new(),
        pools: Vec::new(),
        now: T0,
    };
    let outcome = store
        .create_enhanced(&new, &[], &LIMITS)
        .await
        .expect("create");
    assert_eq!(outcome, Ok(()));
    new.id
}

fn grant(
    owner: &ProjectId,
    grantee: &ProjectId,
    action: GrantAction,
    ids: &[ConnectionId],
    privileges: &[&str],
) -> GrantRequest {
    GrantRequest {
        owner: owner.clone(),
        grantee: grantee.clone(),
        action,
        changes: ids
            .iter()
            .map(|id| GrantChange {
                connection_id: *id,
                privileges: privileges.iter().map(|p| (*p).to_owned()).collect(),
            })
            .collect(),
        now: T0 + 10,
    }
}

async fn owner_view(
    store: &DynStore,
    owner: &ProjectId,
    id: ConnectionId,
) -> dsconn::store::EnhancedConnectionRecord {
    let view = store
        .get_enhanced(owner, id)
        .await
        .expect("get")
        .expect("visible to its owner");
    assert_eq!(view.access, EnhancedAccess::Owner);
    view.connection
}

#[rstest]
#[case::sqlite(Backend::Sqlite)]
#[case::postgres(Backend::Postgres)]
#[tokio::test]
async fn grants_and_tags_of_enhanced_connections_behave_alike(#[case] backend: Backend) {
    let Some(stores) = open(backend).await else {
        return;
    };
    sharing_story(&stores.first, &stores.second).await;
    tag_story(&stores.first, &stores.second).await;
    stores.finish().await;
}

async fn sharing_story(first: &DynStore, second: &DynStore) {
    let owner = project("sharing-owner");
    let grantee = project("sharing-grantee");
    let stranger = project("sharing-stranger");
    let queue = new_queue(&grantee, "etl", T0);
    first.create_queue(&queue, 10).await.expect("queue");
    let id = create(first, &owner, "shared", &[]).await;
    let unknown = ConnectionId::generate();

    assert_eq!(
        first.enhanced_access(&owner, id).await.expect("access"),
        Some(ConnectionAccess::OwnerLive)
    );
    assert_eq!(
        first.enhanced_access(&grantee, id).await.expect("access"),
        None
    );
    assert!(owner_view(first, &owner, id).await.is_privis);

    // All or nothing: one unknown object and nothing is granted.
    let outcome = first
        .apply_grants(&grant(
            &owner,
            &grantee,
            GrantAction::Grant,
            &[id, unknown],
            &[BIND_QUEUE],
        ))
        .await
        .expect("grant");
    assert_eq!(outcome, GrantOutcome::NotFound(unknown));
    assert_eq!(
        second.enhanced_access(&grantee, id).await.expect("access"),
        None
    );
    assert_eq!(
        second.list_grants(&owner, id).await.expect("grants"),
        Some(Vec::new())
    );

    // Another project cannot grant what it does not own.
    let outcome = first
        .apply_grants(&grant(
            &stranger,
            &grantee,
            GrantAction::Grant,
            &[id],
            &[BIND_QUEUE],
        ))
        .await
        .expect("grant");
    assert_eq!(outcome, GrantOutcome::NotFound(id));
    assert_eq!(
        second.list_grants(&stranger, id).await.expect("grants"),
        None
    );

    let outcome = first
        .apply_grants(&grant(
            &owner,
            &grantee,
            GrantAction::Grant,
            &[id],
            &[BIND_QUEUE],
        ))
        .await
        .expect("grant");
    assert_eq!(outcome, GrantOutcome::Applied);
    // Granting twice keeps one grant with one privilege.
    let outcome = second
        .apply_grants(&grant(
            &owner,
            &grantee,
            GrantAction::Grant,
            &[id],
            &[BIND_QUEUE],
        ))
        .await
        .expect("grant");
    assert_eq!(outcome, GrantOutcome::Applied);
    let grants = second
        .list_grants(&owner, id)
        .await
        .expect("grants")
        .expect("owned");
    assert_eq!(grants.len(), 1);
    assert_eq!(grants[0].grantee_project_id, grantee.as_str());
    assert_eq!(grants[0].privileges, [BIND_QUEUE]);
    assert_eq!(
        second.enhanced_access(&grantee, id).await.expect("access"),
        Some(ConnectionAccess::Grantee)
    );
    assert_eq!(
        second.enhanced_access(&stranger, id).await.expect("access"),
        None
    );
    assert!(!owner_view(second, &owner, id).await.is_privis);

    // The grantee binds its own queue; the owner sees that binding.
    let etl = QueueName::parse("etl").expect("queue name");
    let bound = second
        .bind_enhanced(
            ConnectionKey::new(&grantee, id),
            EnhancedBind {
                queues: std::slice::from_ref(&etl),
                pools: &[],
                declared: &[],
                limits: &LIMITS,
                now: T0 + 20,
            },
        )
        .await
        .expect("bind");
    assert_eq!(bound, Ok(()));
    let bindings = owner_view(first, &owner, id).await.bindings;
    assert_eq!(bindings.len(), 1);
    assert_eq!(bindings[0].project_id, grantee.as_str());

    // An update to nothing revokes, and takes the grantee's bindings with it.
    let outcome = first
        .apply_grants(&grant(&owner, &grantee, GrantAction::Update, &[id], &[]))
        .await
        .expect("update");
    assert_eq!(outcome, GrantOutcome::Applied);
    assert_eq!(
        second.enhanced_access(&grantee, id).await.expect("access"),
        None
    );
    let after = owner_view(second, &owner, id).await;
    assert!(after.bindings.is_empty(), "{:?}", after.bindings);
    assert!(after.is_privis);
    // Revoking what is not granted changes nothing and is not an error.
    let outcome = first
        .apply_grants(&grant(
            &owner,
            &grantee,
            GrantAction::Revoke,
            &[id],
            &[BIND_QUEUE],
        ))
        .await
        .expect("revoke");
    assert_eq!(outcome, GrantOutcome::Applied);

    // At most MAX_GRANTEES_PER_CONNECTION projects; re-granting one of them still works.
    for index in 0..MAX_GRANTEES_PER_CONNECTION {
        let other = project(&format!("grantee-{index}"));
        let outcome = first
            .apply_grants(&grant(
                &owner,
                &other,
                GrantAction::Grant,
                &[id],
                &[BIND_QUEUE],
            ))
            .await
            .expect("grant");
        assert_eq!(outcome, GrantOutcome::Applied);
    }
    let outcome = second
        .apply_grants(&grant(
            &owner,
            &grantee,
            GrantAction::Grant,
            &[id],
            &[BIND_QUEUE],
        ))
        .await
        .expect("grant");
    assert_eq!(outcome, GrantOutcome::TooManyGrantees(id));
    let outcome = second
        .apply_grants(&grant(
            &owner,
            &project("grantee-0"),
            GrantAction::Grant,
            &[id],
            &[BIND_QUEUE],
        ))
        .await
        .expect("grant");
    assert_eq!(outcome, GrantOutcome::Applied);

    // A deleted connection has no grants and takes none.
    let deleted = first
        .delete_enhanced(&owner, id, T0 + 30)
        .await
        .expect("delete");
    assert_eq!(deleted, Ok(()));
    assert_eq!(
        second.enhanced_access(&owner, id).await.expect("access"),
        Some(ConnectionAccess::OwnerDeleted)
    );
    assert_eq!(
        second
            .enhanced_access(&project("grantee-1"), id)
            .await
            .expect("access"),
        None
    );
    assert_eq!(second.list_grants(&owner, id).await.expect("grants"), None);
    let outcome = first
        .apply_grants(&grant(
            &owner,
            &grantee,
            GrantAction::Grant,
            &[id],
            &[BIND_QUEUE],
        ))
        .await
        .expect("grant");
    assert_eq!(outcome, GrantOutcome::NotFound(id));
}

async fn tag_story(first: &DynStore, second: &DynStore) {
    let owner = project("tags-owner");
    let id = create(first, &owner, "tagged", &[("a", "1")]).await;
    let bare = create(first, &owner, "bare", &[]).await;

    let set = TagChange::Set(vec![tag("b", "2"), tag("a", "9")]);
    assert_eq!(
        first
            .change_tags(ConnectionKey::new(&owner, id), &set, T0 + 1)
            .await
            .expect("set"),
        TagsOutcome::Applied
    );
    let expected = vec![tag("a", "9"), tag("b", "2")];
    assert_eq!(
        second.connection_tags(&owner, id).await.expect("tags"),
        Some(expected.clone())
    );
    // The JSON copy that shows read and the indexed rows that list filters read agree.
    assert_eq!(owner_view(second, &owner, id).await.tags, expected);
    let query = |filter: &str| EnhancedListQuery {
        status: EnhancedStatus::Active,
        name: None,
        tags: TagFilter::parse(filter).expect("filter"),
        limit: 100,
        offset: 0,
    };
    let listed = second
        .list_enhanced(&owner, &query("b=2"))
        .await
        .expect("list");
    assert_eq!(listed.iter().map(|c| c.id).collect::<Vec<_>>(), [id]);
    assert!(
        second
            .list_enhanced(&owner, &query("a=1"))
            .await
            .expect("list")
            .is_empty()
    );

    // Too many after the change: nothing changes.
    let many = TagChange::Set((0..19).map(|i| tag(&format!("k{i}"), "v")).collect());
    assert_eq!(
        first
            .change_tags(ConnectionKey::new(&owner, id), &many, T0 + 2)
            .await
            .expect("set"),
        TagsOutcome::TooMany(21)
    );
    assert_eq!(
        second.connection_tags(&owner, id).await.expect("tags"),
        Some(expected)
    );

    let remove = TagChange::Remove(vec!["a".into(), "missing".into()]);
    assert_eq!(
        first
            .change_tags(ConnectionKey::new(&owner, id), &remove, T0 + 3)
            .await
            .expect("remove"),
        TagsOutcome::Applied
    );
    assert_eq!(
        second.connection_tags(&owner, id).await.expect("tags"),
        Some(vec![tag("b", "2")])
    );
    assert!(
        second
            .list_enhanced(&owner, &query("a"))
            .await
            .expect("list")
            .is_empty()
    );

    let tagged = second.tagged_connections(&owner).await.expect("tagged");
    // Both were created at T0: the id orders them.
    let mut expected = vec![(id.to_string(), 1), (bare.to_string(), 0)];
    expected.sort();
    let summary: Vec<(String, usize)> = tagged
        .iter()
        .map(|c| (c.id.clone(), c.tags.len()))
        .collect();
    assert_eq!(summary, expected);

    // Another project's connection, and a deleted one, are not found.
    let stranger = project("tags-stranger");
    assert_eq!(
        first
            .change_tags(ConnectionKey::new(&stranger, id), &remove, T0 + 4)
            .await
            .expect("change"),
        TagsOutcome::NotFound
    );
    assert_eq!(
        second.connection_tags(&stranger, id).await.expect("tags"),
        None
    );
    let _refusal = first
        .delete_enhanced(&owner, id, T0 + 5)
        .await
        .expect("delete");
    assert_eq!(
        first
            .change_tags(ConnectionKey::new(&owner, id), &set, T0 + 6)
            .await
            .expect("change"),
        TagsOutcome::NotFound
    );
    assert_eq!(
        second.connection_tags(&owner, id).await.expect("tags"),
        None
    );
    let names: Vec<String> = second
        .tagged_connections(&owner)
        .await
        .expect("tagged")
        .into_iter()
        .map(|c| c.name)
        .collect();
    assert_eq!(names, ["bare"]);
}
