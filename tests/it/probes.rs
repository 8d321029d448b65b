//! Protocol-aware checks against real servers on this machine, the outbound policy, and
//! checks on demand. Every target is on loopback.

use std::net::IpAddr;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::helpers::{
    DnsServer, HangingTarget, HttpTarget, TcpTarget, TestApp, assert_dli_error, closed_port,
    create_body, new_project, post_json, spawn_app_with,
};

use crate::helpers::services::{self, MARIADB, POSTGRES};

/// Both database servers are up, or the test is skipped (it says so).
async fn both_databases() -> bool {
    services::mariadb().await.is_some() & services::postgres().await.is_some()
}

async fn full_app() -> TestApp {
    spawn_app_with(|config| config.probe.probe_mode = dsconn::probe::ProbeMode::Full).await
}

/// Creates a connection and returns its show body once settled.
async fn settle(app: &TestApp, service: &str, url: &str) -> Value {
    let project = new_project();
    let id = app
        .create_ok(&project, &create_body("probe", service, url))
        .await;
    app.settled(&project, &id).await;
    app.show_raw(&project, &id)
        .await
        .json()
        .await
        .expect("show json")
}

#[tokio::test]
async fn rds_speaks_to_mariadb_and_dws_to_postgresql() {
    if !both_databases().await {
        return;
    }
    let app = full_app().await;
    let rds = settle(&app, "RDS", MARIADB).await;
    assert_eq!(
        rds["state"], "ACTIVE",
        "is MariaDB up? run scripts/ensure-services: {rds}"
    );
    assert_eq!(rds["connectivity"], "REACHABLE");
    assert_eq!(rds["endpoints"][0]["outcome"], "REACHABLE");
    let detail = rds["endpoints"][0]["message"].as_str().expect("message");
    assert!(
        detail.contains("MariaDB") || detail.contains("MySQL"),
        "{detail}"
    );

    let dws = settle(&app, "DWS", POSTGRES).await;
    assert_eq!(dws["state"], "ACTIVE", "is PostgreSQL up? {dws}");
    assert!(
        dws["endpoints"][0]["message"]
            .as_str()
            .expect("message")
            .contains("PostgreSQL")
    );
}

#[tokio::test]
async fn a_service_on_the_wrong_port_is_a_protocol_mismatch() {
    if !both_databases().await {
        return;
    }
    let app = full_app().await;
    for (service, url) in [("RDS", POSTGRES), ("DWS", MARIADB)] {
        let connection = settle(&app, service, url).await;
        assert_eq!(connection["state"], "FAILED", "{connection}");
        assert_eq!(
            connection["failure_reason"], "PROTOCOL_MISMATCH",
            "{connection}"
        );
        assert_eq!(connection["endpoints"][0]["reason"], "PROTOCOL_MISMATCH");
        assert!(
            connection["message"]
                .as_str()
                .expect("message")
                .contains(url)
        );
    }
}

#[tokio::test]
async fn css_and_opentsdb_check_their_http_answers() {
    let app = full_app().await;
    let search = HttpTarget::start(
        200,
        r#"{"name":"n1","cluster_name":"c","version":{"number":"8.11.0"},"tagline":"You Know, for Search"}"#,
    )
    .await;
    let locked = HttpTarget::start(401, r#"{"error":"security_exception"}"#).await;
    let tsdb = HttpTarget::start(200, r#"{"version":"2.4.1","short_revision":"abc"}"#).await;
    let other = HttpTarget::start(200, r#"{"hello":"world"}"#).await;

    assert_eq!(
        settle(&app, "CSS", &search.address.to_string()).await["state"],
        "ACTIVE"
    );
    let with_auth = settle(&app, "CSS", &locked.address.to_string()).await;
    assert_eq!(
        with_auth["state"], "ACTIVE",
        "a 401 is a cluster asking for credentials: {with_auth}"
    );
    assert_eq!(
        settle(&app, "MRS.OpenTSDB", &tsdb.address.to_string()).await["state"],
        "ACTIVE"
    );
    let not_search = settle(&app, "CSS", &other.address.to_string()).await;
    assert_eq!(
        not_search["failure_reason"], "PROTOCOL_MISMATCH",
        "{not_search}"
    );
    let not_zookeeper = settle(&app, "CloudTable", &search.address.to_string()).await;
    assert_eq!(
        not_zookeeper["failure_reason"], "PROTOCOL_MISMATCH",
        "{not_zookeeper}"
    );
}

#[tokio::test]
async fn refused_unresolvable_and_silent_destinations_have_their_reasons() {
    let dns = DnsServer::start(&[]).await;
    let dns_address = dns.address;
    let app = spawn_app_with(|config| {
        config.probe.probe_mode = dsconn::probe::ProbeMode::Full;
        config.probe.dns_server = Some(dns_address);
    })
    .await;
    let refused = settle(&app, "RDS", &format!("127.0.0.1:{}", closed_port())).await;
    assert_eq!(refused["failure_reason"], "CONNECTION_REFUSED");
    let unknown = settle(&app, "RDS", "nowhere.dsconn.test:3306").await;
    assert_eq!(unknown["failure_reason"], "DNS_FAILED");
    assert_eq!(unknown["endpoints"][0]["address"], Value::Null);
}

#[tokio::test]
async fn a_silent_destination_times_out_within_the_timeout_plus_ten_percent() {
    let timeout = Duration::from_secs(1);
    let app = spawn_app_with(|config| {
        config.probe.probe_mode = dsconn::probe::ProbeMode::Full;
        config.probe.check_timeout = timeout;
    })
    .await;
    let hanging = HangingTarget::start();
    let project = new_project();
    let started = Instant::now();
    let response = post_json(
        &app,
        &format!("/v2.0/{project}/datasource-connection/test"),
        &json!({"service": "RDS", "url": hanging.address.to_string()}),
    )
    .await;
    let elapsed = started.elapsed();
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.expect("json");
    assert_eq!(body["connectivity"], "UNREACHABLE");
    assert_eq!(body["failure_reason"], "TIMEOUT");
    assert!(elapsed >= timeout, "{elapsed:?}");
    // The check's own time is held to the timeout + 10 %; the whole request, which also
    // waits for this shared machine's scheduler, only to end well before a hang would.
    let took = Duration::from_millis(
        body["endpoints"][0]["latency_ms"]
            .as_u64()
            .expect("latency"),
    );
    assert!(took >= timeout.mul_f64(0.99), "{took:?}: {body}");
    assert!(
        took <= timeout.mul_f64(1.1),
        "the check took {took:?}, over the timeout + 10 %: {body}"
    );
    assert!(elapsed < timeout * 3, "{elapsed:?}");
}

#[tokio::test]
async fn a_denied_address_fails_by_policy_and_no_packet_reaches_it() {
    let target = TcpTarget::start_on("127.0.0.2:0").await;
    let app = spawn_app_with(|config| {
        config.probe.probe_mode = dsconn::probe::ProbeMode::Full;
        config.probe.deny_cidrs = vec!["127.0.0.2/32".parse().expect("net")];
    })
    .await;
    let connection = settle(&app, "RDS", &target.address.to_string()).await;
    assert_eq!(connection["state"], "FAILED");
    assert_eq!(connection["failure_reason"], "DENIED_BY_POLICY");
    assert!(
        connection["message"]
            .as_str()
            .expect("message")
            .contains("127.0.0.2/32")
    );
    assert_eq!(
        target.accepted(),
        0,
        "the denied address never saw a connection"
    );
}

#[tokio::test]
async fn link_local_metadata_addresses_are_denied_by_default_without_traffic() {
    // No packet is sent: the policy refuses before connecting, so this address is safe
    // to name in a test.
    let app = full_app().await;
    let project = new_project();
    let response = post_json(
        &app,
        &format!("/v2.0/{project}/datasource-connection/test"),
        &json!({"service": "CSS", "url": "169.254.169.254:80"}),
    )
    .await;
    let body: Value = response.json().await.expect("json");
    assert_eq!(body["failure_reason"], "DENIED_BY_POLICY", "{body}");
    assert_eq!(
        body["endpoints"][0]["latency_ms"]
            .as_u64()
            .map(|ms| ms < 50),
        Some(true)
    );
}

#[tokio::test]
async fn testing_a_definition_answers_per_endpoint_and_stores_nothing() {
    if services::mariadb().await.is_none() {
        return;
    }
    let app = full_app().await;
    let project = new_project();
    let url = format!("{MARIADB},127.0.0.1:{}", closed_port());
    let response = post_json(
        &app,
        &format!("/v2.0/{project}/datasource-connection/test"),
        &json!({"service": "rds", "url": url}),
    )
    .await;
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.expect("json");
    assert_eq!(body["connectivity"], "REACHABLE");
    assert_eq!(body["endpoints"].as_array().map(Vec::len), Some(2));
    assert_eq!(body["endpoints"][1]["reason"], "CONNECTION_REFUSED");
    assert_eq!(app.list(&project, "").await.count, 0);

    let bad = post_json(
        &app,
        &format!("/v2.0/{project}/datasource-connection/test"),
        &json!({"service": "rds", "url": "mysql://db"}),
    )
    .await;
    assert_dli_error(bad, 400, "DLI.0001").await;
}

#[tokio::test]
async fn testing_a_saved_connection_updates_its_connectivity() {
    let app =
        spawn_app_with(|config| config.probe.probe_mode = dsconn::probe::ProbeMode::Full).await;
    let target = HttpTarget::start(200, r#"{"version":{"number":"7.10.2"}}"#).await;
    let project = new_project();
    let id = app
        .create_ok(
            &project,
            &create_body("search", "CSS", &target.address.to_string()),
        )
        .await;
    app.settled(&project, &id).await;
    let address = target.address;
    drop(target);
    // The listener is gone; give the aborted task a moment to release the port.
    tokio::time::sleep(Duration::from_millis(50)).await;
    let response = post_json(
        &app,
        &format!("/v2.0/{project}/datasource-connection/{id}/test"),
        &json!({}),
    )
    .await;
    let body: Value = response.json().await.expect("json");
    assert_eq!(body["connectivity"], "UNREACHABLE", "{body} ({address})");
    let shown = app.show(&project, &id).await;
    assert_eq!(shown.state, "ACTIVE", "state keeps DLI's meaning");
    assert_eq!(shown.connectivity.as_deref(), Some("UNREACHABLE"));
}

#[tokio::test]
async fn names_resolving_to_a_denied_address_are_refused_per_address() {
    let allowed = TcpTarget::start_on("127.0.0.1:0").await;
    let port = allowed.address.port();
    let addresses: [IpAddr; 2] = [
        "127.0.0.1".parse().expect("ip"),
        "127.0.0.3".parse().expect("ip"),
    ];
    let dns = DnsServer::start(&[("mixed.dsconn.test", &addresses)]).await;
    let dns_address = dns.address;
    let app = spawn_app_with(|config| {
        config.probe.dns_server = Some(dns_address);
        config.probe.deny_cidrs = vec!["127.0.0.3/32".parse().expect("net")];
    })
    .await;
    let connection = settle(&app, "RDS", &format!("mixed.dsconn.test:{port}")).await;
    assert_eq!(connection["state"], "ACTIVE", "{connection}");
    let reasons: Vec<&Value> = connection["endpoints"]
        .as_array()
        .expect("endpoints")
        .iter()
        .map(|e| &e["reason"])
        .collect();
    assert!(
        reasons.contains(&&json!("DENIED_BY_POLICY")),
        "{connection}"
    );
}
