//! The prober against loopback listeners: caps, order, policy and timeouts.

use super::*;

fn tcp_prober() -> Prober {
    Prober::new(
        ProbeMode::Tcp,
        Resolver::System,
        Duration::from_secs(2),
        OutboundPolicy::default(),
        Simulator::default(),
        64,
    )
}

#[tokio::test]
async fn a_listening_port_is_reachable_and_a_closed_one_is_refused() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let open = listener.local_addr().expect("address").port();
    let closed = {
        let socket = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        socket.local_addr().expect("address").port()
    };
    let url = format!("127.0.0.1:{open},127.0.0.1:{closed}");
    let endpoints = EndpointList::parse(&url, Service::Rds).expect("valid url");
    let report = tcp_prober()
        .check_endpoints(Some(Service::Rds), &endpoints, |_| async {})
        .await;
    assert_eq!(report.checks.len(), 2);
    assert!(report.checks[0].reachable);
    assert_eq!(
        report.checks[1].reason,
        Some(FailureReason::ConnectionRefused)
    );
    assert!(report.any_reachable());
}

#[tokio::test]
async fn a_denied_address_is_refused_without_a_connection() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let port = listener.local_addr().expect("address").port();
    let policy = OutboundPolicy::new(Vec::new(), vec!["127.0.0.1/32".parse().expect("net")]);
    let prober = Prober::new(
        ProbeMode::Full,
        Resolver::System,
        Duration::from_secs(2),
        policy,
        Simulator::default(),
        64,
    );
    let endpoints =
        EndpointList::parse(&format!("127.0.0.1:{port}"), Service::Rds).expect("valid url");
    let report = prober
        .check_endpoints(Some(Service::Rds), &endpoints, |_| async {})
        .await;
    assert_eq!(report.checks[0].reason, Some(FailureReason::DeniedByPolicy));
    let accepted = tokio::time::timeout(Duration::from_millis(200), listener.accept()).await;
    assert!(
        accepted.is_err(),
        "no connection may reach a denied address"
    );
}

#[test]
fn a_failure_summary_names_a_few_failures_and_counts_the_rest() {
    let failure = |index: usize| AddressCheck {
        connected: false,
        endpoint: format!("db{index}.example:3306"),
        address: None,
        reachable: false,
        reason: Some(FailureReason::Timeout),
        detail: "x".repeat(10_000),
        latency_ms: 1,
    };
    let report = CheckReport {
        checks: (0..1000).map(failure).collect(),
        not_checked: 5000,
    };
    let summary = report.failure_summary();
    assert!(summary.contains("and 992 more failures"), "{summary}");
    assert!(
        summary.contains("and 5000 more addresses not checked"),
        "{summary}"
    );
    assert!(summary.len() < 4096, "{} characters", summary.len());
}

#[test]
fn reasons_round_trip_through_their_names() {
    for reason in FailureReason::ALL {
        assert_eq!(FailureReason::parse(reason.as_str()), Some(reason));
        let json = serde_json::to_string(&reason).expect("json");
        assert_eq!(json, format!("\"{}\"", reason.as_str()));
    }
}
