//! The pure rules of a check's end, case by case.

use super::*;
use crate::check::Charging;
use crate::domain::{EndpointList, Service};
use crate::probe::{AddressCheck, FailureReason};

const NEXT: i64 = 42_000;

fn at_server() -> Circumstances {
    Circumstances {
        next_check_at: NEXT,
        place: Place::Server,
        server_bindings: Some(7),
        stages: Vec::new(),
        checked_at: 1,
    }
}

fn id() -> ConnectionId {
    ConnectionId::parse("3f2c1e0a-8b7d-4c6e-9a5f-1b2c3d4e5f60").expect("id")
}

fn endpoints() -> EndpointList {
    EndpointList::parse("db.example:3306, 127.0.0.1:3306", Service::Rds).expect("url")
}

fn report(reachable: bool) -> CheckReport {
    CheckReport {
        checks: vec![AddressCheck {
            connected: false,
            endpoint: "db.example:3306".into(),
            address: None,
            reachable,
            reason: (!reachable).then_some(FailureReason::ConnectionRefused),
            detail: if reachable {
                "MariaDB greeting"
            } else {
                "refused"
            }
            .into(),
            latency_ms: 1,
        }],
        not_checked: 0,
    }
}

/// What `purpose` records when the server's check reached (or did not reach) the
/// test endpoints; with the report and endpoints it was given.
fn checked(purpose: &Purpose, reachable: bool) -> (Record, CheckReport, EndpointList) {
    let (report, endpoints) = (report(reachable), endpoints());
    let record = outcome(purpose, Ok(&report), &endpoints.normalized(), &at_server());
    (record, report, endpoints)
}

fn create() -> Purpose {
    Purpose::Create {
        id: id(),
        owner: "w1".into(),
    }
}

fn bind() -> Purpose {
    Purpose::Bind {
        id: id(),
        peer_id: "peer-1".into(),
        queue: "q1".into(),
        owner: "w1".into(),
    }
}

fn recheck() -> Purpose {
    Purpose::Recheck {
        id: id(),
        owner: "w1".into(),
    }
}

#[test]
fn a_reachable_create_is_active_with_its_normalized_url_and_a_recheck_time() {
    let (record, report, endpoints) = checked(&create(), true);
    let Record::Check {
        id: written,
        owner,
        result,
    } = record
    else {
        panic!("a create records a check result");
    };
    assert_eq!((written, owner.as_str()), (id(), "w1"));
    assert_eq!(result.state, ConnectionState::Active);
    assert_eq!(result.connection_url, endpoints.normalized());
    assert_eq!(result.next_check_at, Some(NEXT));
    assert_eq!(result.message, "");
    assert_eq!(result.report, report_json(&report));
}

#[test]
fn an_unreachable_create_fails_with_the_summary_and_reason_and_no_url() {
    let (record, report, endpoints) = checked(&create(), false);
    let Record::Check { result, .. } = record else {
        panic!("a create records a check result");
    };
    assert_eq!(result.state, ConnectionState::Failed);
    assert_eq!(result.message, report.failure_summary());
    assert_eq!(result.failure_reason.as_deref(), Some("CONNECTION_REFUSED"));
    assert_eq!(result.connection_url, "");
    // Kept for a queue's check that turns the connection ACTIVE after all.
    assert_eq!(result.next_check_at, Some(NEXT));
    assert_eq!(result.normalized_url, endpoints.normalized());
}

#[test]
fn a_create_whose_stored_url_no_longer_parses_fails_with_advice() {
    let Record::Check { result, .. } = outcome(&create(), Err("corrupt row"), "", &at_server())
    else {
        panic!("a create records a check result");
    };
    assert_eq!(result.state, ConnectionState::Failed);
    assert_eq!(result.message, INVALID_STORED_URL);
    assert_eq!(result.report, "{}");
}

#[test]
fn a_binding_is_active_or_names_its_queue_in_the_failure() {
    let endpoints = endpoints();
    let Record::Binding {
        held: Held { key: peer_id, .. },
        result,
    } = outcome(
        &bind(),
        Ok(&report(true)),
        &endpoints.normalized(),
        &at_server(),
    )
    else {
        panic!("a binding records a binding result");
    };
    assert_eq!(peer_id, "peer-1");
    assert!(result.active);
    assert_eq!(result.err_msg, "");

    let failed = report(false);
    let Record::Binding { result, .. } =
        outcome(&bind(), Ok(&failed), &endpoints.normalized(), &at_server())
    else {
        panic!("a binding records a binding result");
    };
    assert!(!result.active);
    assert_eq!(
        result.err_msg,
        format!(
            "queue q1, checked from the server: {}",
            failed.failure_summary()
        )
    );
    assert_eq!(result.failure_reason.as_deref(), Some("CONNECTION_REFUSED"));

    let Record::Binding { result, .. } =
        outcome(&bind(), Err("connection x: bad url"), "", &at_server())
    else {
        panic!("a binding records a binding result");
    };
    assert!(!result.active);
    assert_eq!(result.err_msg, "connection x: bad url");
}

#[test]
fn a_recheck_records_connectivity_under_its_claim_and_reschedules() {
    let (record, report, _) = checked(&recheck(), false);
    let Record::Connectivity {
        id: written,
        owner,
        connectivity,
    } = record
    else {
        panic!("a re-check records connectivity");
    };
    assert_eq!((written, owner.as_deref()), (id(), Some("w1")));
    assert!(!connectivity.reachable);
    assert_eq!(connectivity.report, report_json(&report));
    assert_eq!(connectivity.next_check_at, Some(NEXT));

    let Record::Connectivity { connectivity, .. } =
        outcome(&recheck(), Err("bad"), "", &at_server())
    else {
        panic!("a re-check records connectivity");
    };
    assert!(
        !connectivity.reachable,
        "a url that does not parse reaches nothing"
    );
    assert_eq!(connectivity.report, report_json(&CheckReport::default()));
}

#[test]
fn a_test_records_connectivity_without_a_claim_or_schedule_and_a_definition_nothing() {
    let (record, report, endpoints) = checked(&Purpose::Test { id: id() }, true);
    let Record::Connectivity {
        owner,
        connectivity,
        ..
    } = record
    else {
        panic!("a test records connectivity");
    };
    assert_eq!(owner, None);
    assert!(connectivity.reachable);
    assert_eq!(connectivity.next_check_at, None);
    assert!(matches!(
        outcome(
            &Purpose::TestDefinition,
            Ok(&report),
            &endpoints.normalized(),
            &at_server()
        ),
        Record::Nothing
    ));
}

#[test]
fn a_panic_fails_a_create_or_binding_and_gives_a_recheck_back_untouched() {
    let Record::Check { result, .. } = after_panic(&create(), &at_server()) else {
        panic!("a create records a check result");
    };
    assert_eq!(result.state, ConnectionState::Failed);
    assert!(
        result.message.contains("internal error"),
        "{}",
        result.message
    );
    assert!(
        result.message.contains(&id().to_string()),
        "{}",
        result.message
    );

    let Record::Binding { result, .. } = after_panic(&bind(), &at_server()) else {
        panic!("a binding records a binding result");
    };
    assert!(!result.active);
    assert!(
        result.err_msg.contains("internal error"),
        "{}",
        result.err_msg
    );

    let Record::ReleaseRecheck { next_check_at, .. } = after_panic(&recheck(), &at_server()) else {
        panic!("a re-check is released");
    };
    assert_eq!(next_check_at, NEXT);
}

#[test]
fn each_purpose_pays_as_its_origin_requires() {
    assert_eq!(create().charging(), Charging::Drain);
    assert_eq!(bind().charging(), Charging::Drain);
    assert_eq!(recheck().charging(), Charging::Free);
    assert_eq!(Purpose::Test { id: id() }.charging(), Charging::Upfront);
    assert_eq!(Purpose::TestDefinition.charging(), Charging::Upfront);
    let labels: Vec<_> = [create(), bind(), recheck(), Purpose::TestDefinition]
        .iter()
        .map(Purpose::label)
        .collect();
    assert_eq!(labels, ["create", "bind", "recheck", "test"]);
}

#[test]
fn a_setup_is_active_or_says_why_its_place_cannot_take_the_connection() {
    let setup = Purpose::Setup {
        peer_id: "peer-1".into(),
        name: "q1".into(),
        owner: "agent:a1".into(),
    };
    let agent = Circumstances {
        place: Place::Agent("etl".into()),
        ..at_server()
    };
    let Record::Setup { outcome: taken, .. } =
        outcome(&setup, Ok(&CheckReport::default()), "", &agent)
    else {
        panic!("a set-up records a set-up outcome");
    };
    assert!(taken.active);
    assert_eq!(
        (taken.message.as_str(), taken.checked_from.as_str()),
        ("", "agent:etl")
    );
    let Record::Setup {
        held: Held {
            key: peer_id,
            queue: name,
            owner,
        },
        outcome: refused,
    } = outcome(
        &setup,
        Err("route 10.0.0.0/8 leads nowhere"),
        "",
        &at_server(),
    )
    else {
        panic!("a set-up records a set-up outcome");
    };
    assert_eq!(
        (peer_id.as_str(), name.as_str(), owner.as_str()),
        ("peer-1", "q1", "agent:a1")
    );
    assert!(!refused.active);
    assert_eq!(
        refused.message,
        "the server cannot take this connection's hosts and routes: route 10.0.0.0/8 leads nowhere"
    );
    assert!(matches!(after_panic(&setup, &at_server()), Record::Nothing));
}
