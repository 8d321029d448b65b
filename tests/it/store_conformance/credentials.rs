//! Bindings of a connection that names an auth info (issue 26), on both backends: their
//! claims carry the connection's session and the last failed login; one FAILED for its
//! credentials is still re-checked (by the server or the queue's agent) and heals; and
//! setting the connection's auth info again forgets the failure.

use dsconn::domain::{BindingStatus, QueueWorkKind, Service};
use dsconn::store::{
    BindingConnectivity, BindingCredentials, BindingResult, BindingVerdict, ClaimTerms,
    ConnectionKey, DynStore, LoginMark,
};
use rstest::rstest;

use super::{
    Backend, LEASE, LEASE_MS, T0, agent, agent_claim, connection, get, held, open, project,
};

const SESSION: &str = r#"{"auth_info_name":"shop","database":"shop"}"#;
const NEVER: i64 = i64::MAX;

fn login_failed(at: i64) -> BindingResult {
    BindingResult {
        active: false,
        reachable: true,
        err_msg: "queue q, checked from the server: login failed: denied".to_owned(),
        failure_reason: None,
        checked_from: "server".to_owned(),
        next_check_at: T0 + 100,
        credentials: BindingCredentials {
            stages: Some(r#"[{"stage":"login","verdict":"FAILED"}]"#.to_owned()),
            failed: true,
            login: LoginMark::Failed(at),
        },
    }
}

#[rstest]
#[case::sqlite(Backend::Sqlite)]
#[case::postgres(Backend::Postgres)]
#[tokio::test]
async fn credentialed_bindings_are_rechecked_until_they_heal(#[case] backend: Backend) {
    let Some(stores) = open(backend).await else {
        return;
    };
    credentials_story(&stores.first, &stores.second).await;
    stores.finish().await;
}

async fn credentials_story(first: &DynStore, second: &DynStore) {
    let p = project("proj-credentials");
    let mut c1 = connection(&p, "c1", Service::Dws, &[], &["q_s"], T0);
    c1.session = Some(SESSION.to_owned());
    first.create_connection(&c1, 10).await.expect("create");
    let plain = connection(&p, "c2", Service::Dws, &[], &["q_s"], T0 + 1);
    first.create_connection(&plain, 10).await.expect("create");
    let shown = get(first, &p, c1.id).await;
    assert_eq!(shown.session.as_deref(), Some(SESSION));

    // The server claims both first checks; the credentialed one comes with its session.
    let claimed = second
        .claim_pending_bindings(ClaimTerms::new("server", LEASE, 10, T0 + 2), NEVER)
        .await
        .expect("claim");
    assert_eq!(claimed.len(), 2, "{claimed:?}");
    let ours = claimed.iter().find(|b| b.check.id == c1.id).expect("c1's");
    assert_eq!(ours.check.session.as_deref(), Some(SESSION));
    assert_eq!(
        (ours.status, ours.login_failed_at),
        (BindingStatus::Creating, None)
    );
    let theirs = claimed
        .iter()
        .find(|b| b.check.id == plain.id)
        .expect("c2's");
    assert_eq!(theirs.check.session, None);

    // Its login FAILED: FAILED, reached, with the stages; the other binding is ACTIVE.
    assert!(
        first
            .record_binding_result(
                held(&ours.peer_id, "q_s", "server"),
                &login_failed(T0 + 3),
                T0 + 4
            )
            .await
            .expect("record")
    );
    let mut active = login_failed(0);
    active.active = true;
    active.err_msg.clear();
    active.credentials = BindingCredentials::default();
    first
        .record_binding_result(held(&theirs.peer_id, "q_s", "server"), &active, T0 + 4)
        .await
        .expect("record");
    let binding = get(first, &p, c1.id).await.queues.remove(0);
    assert_eq!(binding.status, BindingStatus::Failed);
    assert_eq!(binding.connectivity.as_deref(), Some("REACHABLE"));
    assert!(
        binding
            .stages
            .as_deref()
            .is_some_and(|s| s.contains("login"))
    );

    // Due, it is re-checked with the failure's time; the plain connection's ACTIVE
    // binding is not the server's to re-check (its connection's re-check covers it).
    let due = second
        .claim_pending_bindings(ClaimTerms::new("server", LEASE, 10, T0 + 100), NEVER)
        .await
        .expect("claim");
    assert_eq!(due.len(), 1, "{due:?}");
    assert_eq!(due[0].peer_id, ours.peer_id);
    assert_eq!(due[0].status, BindingStatus::Failed);
    assert_eq!(due[0].login_failed_at, Some(T0 + 3));
    // A re-check whose login was skipped keeps it FAILED, the failure and its message.
    let skipped = BindingConnectivity {
        reachable: true,
        checked_from: "server".to_owned(),
        next_check_at: T0 + 200,
        credentials: BindingCredentials {
            stages: Some(r#"[{"stage":"login","verdict":"SKIPPED"}]"#.to_owned()),
            failed: true,
            login: LoginMark::Keep,
        },
        verdict: Some(BindingVerdict {
            active: false,
            err_msg: "login skipped: last login failed".to_owned(),
            failure_reason: None,
        }),
    };
    assert!(
        first
            .record_binding_connectivity(held(&ours.peer_id, "q_s", "server"), &skipped, T0 + 101)
            .await
            .expect("record")
    );
    let binding = get(first, &p, c1.id).await.queues.remove(0);
    assert_eq!(binding.status, BindingStatus::Failed);
    assert_eq!(binding.err_msg, "login skipped: last login failed");

    // An agent of the queue takes the next re-check, with the session and the failure.
    let a1 = agent(&p, "a1", &["q_s"], T0 + 150);
    first.register_agent(&a1, 2).await.expect("register");
    let work = second
        .claim_agent_work(
            agent_claim(&p, &a1.agent_id, LEASE, 10, T0 + 200),
            "10.0.0.9",
        )
        .await
        .expect("claim")
        .expect("registered");
    let ours_work: Vec<_> = work
        .iter()
        .filter(|w| w.connection_id == Some(c1.id))
        .collect();
    assert_eq!(ours_work.len(), 1, "{work:?}");
    assert_eq!(ours_work[0].kind, QueueWorkKind::RecheckBinding);
    assert_eq!(ours_work[0].session.as_deref(), Some(SESSION));
    assert_eq!(ours_work[0].login_failed_at, Some(T0 + 3));
    // Its login PASSED: ACTIVE, the failure forgotten.
    let owner = format!("agent:{}", a1.agent_id);
    let healed = BindingConnectivity {
        reachable: true,
        checked_from: "agent:a1".to_owned(),
        next_check_at: T0 + 400,
        credentials: BindingCredentials {
            stages: Some(r#"[{"stage":"login","verdict":"PASSED"}]"#.to_owned()),
            failed: false,
            login: LoginMark::Passed,
        },
        verdict: Some(BindingVerdict {
            active: true,
            err_msg: String::new(),
            failure_reason: None,
        }),
    };
    assert!(
        first
            .record_binding_connectivity(held(&ours.peer_id, "q_s", &owner), &healed, T0 + 201)
            .await
            .expect("record")
    );
    let binding = get(first, &p, c1.id).await.queues.remove(0);
    assert_eq!(
        (binding.status, binding.err_msg.as_str()),
        (BindingStatus::Active, "")
    );
    assert_eq!(binding.checked_from.as_deref(), Some("agent:a1"));

    // A connection that named no auth info names one: its ACTIVE binding (never checked
    // with a login) is the server's to re-check at once, with the session (once the
    // agent's claim on its plain re-check has lapsed).
    assert!(
        second
            .set_connection_session(ConnectionKey::new(&p, plain.id), Some(SESSION), T0 + 250)
            .await
            .expect("set")
    );
    let now_due = second
        .claim_pending_bindings(
            ClaimTerms::new("server", LEASE, 10, T0 + 200 + LEASE_MS + 1),
            NEVER,
        )
        .await
        .expect("claim");
    let theirs_now: Vec<_> = now_due.iter().filter(|b| b.check.id == plain.id).collect();
    assert_eq!(theirs_now.len(), 1, "{now_due:?}");
    assert_eq!(theirs_now[0].status, BindingStatus::Active);
    assert_eq!(theirs_now[0].check.session.as_deref(), Some(SESSION));

    // Setting the auth info again (here: clearing it) makes the bindings due at once and
    // forgets their stages; an unknown connection is not found.
    assert!(
        second
            .set_connection_session(ConnectionKey::new(&p, c1.id), None, T0 + 300)
            .await
            .expect("set")
    );
    let shown = get(first, &p, c1.id).await;
    assert_eq!(shown.session, None);
    assert_eq!(shown.queues[0].stages, None);
    assert_eq!(shown.queues[0].status, BindingStatus::Active);
    assert!(
        !second
            .set_connection_session(
                ConnectionKey::new(&project("proj-none"), c1.id),
                Some(SESSION),
                T0 + 300
            )
            .await
            .expect("set")
    );
}
