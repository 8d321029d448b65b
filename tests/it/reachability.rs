//! What the lifecycle worker decides for real destinations on this machine.

use std::net::IpAddr;
use std::time::{Duration, Instant};

use crate::helpers::{
    DnsServer, HangingTarget, TcpTarget, closed_port, create_body, new_project, spawn_app,
    spawn_app_with,
};

#[tokio::test]
async fn a_connection_to_a_listening_port_becomes_active() {
    let app = spawn_app().await;
    let target = TcpTarget::start().await;
    let project = new_project();
    let url = target.address.to_string();
    let id = app
        .create_ok(&project, &create_body("live", "RDS", &url))
        .await;
    let connection = app.settled(&project, &id).await;
    assert_eq!(connection.state, "ACTIVE", "{connection:?}");
    assert_eq!(connection.process, 1.0);
    assert_eq!(connection.connection_url, url);
    assert_eq!(connection.message, "");
    assert!(target.accepted() >= 1, "the check really connected");
}

#[tokio::test]
async fn a_connection_to_a_closed_port_fails_with_a_message_naming_it() {
    let app = spawn_app().await;
    let project = new_project();
    let port = closed_port();
    let id = app
        .create_ok(
            &project,
            &create_body("dead", "DWS", &format!("127.0.0.1:{port}")),
        )
        .await;
    let connection = app.settled(&project, &id).await;
    assert_eq!(connection.state, "FAILED");
    assert_eq!(connection.connection_url, "");
    assert!(
        connection.message.contains(&format!("127.0.0.1:{port}")),
        "{}",
        connection.message
    );
    assert!(
        connection.message.contains("connection refused"),
        "{}",
        connection.message
    );
}

#[tokio::test]
async fn one_reachable_endpoint_of_three_is_enough_for_active() {
    let app = spawn_app().await;
    let target = TcpTarget::start().await;
    let project = new_project();
    let url = format!(
        "127.0.0.1:{},{},127.0.0.1:{}",
        closed_port(),
        target.address,
        closed_port()
    );
    let id = app
        .create_ok(&project, &create_body("mixed", "CSS", &url))
        .await;
    let connection = app.settled(&project, &id).await;
    assert_eq!(connection.state, "ACTIVE", "{connection:?}");
    assert_eq!(connection.connection_url, url);
}

#[tokio::test]
async fn default_ports_are_filled_into_the_connection_url() {
    // 3306 is MariaDB's port on this machine; checking it only opens a TCP connection.
    // The assertion is on the URL, whatever the state.
    let app = spawn_app().await;
    let project = new_project();
    let id = app
        .create_ok(&project, &create_body("defaults", "RDS", "127.0.0.1"))
        .await;
    let connection = app.settled(&project, &id).await;
    if connection.state == "ACTIVE" {
        assert_eq!(connection.connection_url, "127.0.0.1:3306");
    } else {
        assert!(
            connection.message.contains("127.0.0.1:3306"),
            "{}",
            connection.message
        );
    }
}

#[tokio::test]
async fn a_destination_that_never_answers_fails_with_a_timeout_after_the_check_timeout() {
    let app =
        spawn_app_with(|config| config.probe.check_timeout = Duration::from_millis(800)).await;
    let hanging = HangingTarget::start();
    let project = new_project();
    let started = Instant::now();
    let id = app
        .create_ok(
            &project,
            &create_body("silent", "RDS", &hanging.address.to_string()),
        )
        .await;
    let connection = app.settled(&project, &id).await;
    let elapsed = started.elapsed();
    assert_eq!(connection.state, "FAILED");
    assert!(
        connection.message.contains("no answer within 800ms"),
        "{}",
        connection.message
    );
    assert!(elapsed >= Duration::from_millis(800), "{elapsed:?}");
}

#[tokio::test]
async fn process_advances_as_endpoints_finish() {
    let app = spawn_app_with(|config| config.probe.check_timeout = Duration::from_secs(3)).await;
    let hanging = HangingTarget::start();
    let project = new_project();
    let url = format!("127.0.0.1:{},{}", closed_port(), hanging.address);
    let id = app
        .create_ok(&project, &create_body("halfway", "RDS", &url))
        .await;
    let first = app.show(&project, &id).await;
    assert_eq!(first.state, "CREATING");
    assert!(first.process < 1.0);
    // The closed port answers at once, the hanging one only after 3 s: in between the
    // connection is CREATING at 0.5.
    let deadline = Instant::now() + Duration::from_secs(2);
    loop {
        let connection = app.show(&project, &id).await;
        if connection.process == 0.5 {
            assert_eq!(connection.state, "CREATING");
            break;
        }
        assert!(
            Instant::now() < deadline,
            "process never reached 0.5: {connection:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let done = app.settled(&project, &id).await;
    assert_eq!(done.state, "FAILED");
    assert_eq!(done.process, 1.0);
}

#[tokio::test]
async fn every_address_of_a_name_is_checked_and_an_unknown_name_fails_on_dns() {
    let first = TcpTarget::start_on("127.0.0.1:0").await;
    let port = first.address.port();
    let Ok(second) = tokio::net::TcpListener::bind(("127.0.0.2", port)).await else {
        // 127.0.0.2 is loopback on Linux; skip quietly elsewhere only if it is missing.
        panic!("127.0.0.2:{port} cannot be bound on this machine");
    };
    let second_accepts = tokio::spawn(async move { second.accept().await.is_ok() });
    let addresses: [IpAddr; 2] = [
        "127.0.0.1".parse().expect("ip"),
        "127.0.0.2".parse().expect("ip"),
    ];
    let dns = DnsServer::start(&[("db.dsconn.test", &addresses)]).await;
    let dns_address = dns.address;
    let app = spawn_app_with(|config| config.probe.dns_server = Some(dns_address)).await;
    let project = new_project();

    let id = app
        .create_ok(
            &project,
            &create_body("named", "RDS", &format!("db.dsconn.test:{port}")),
        )
        .await;
    let connection = app.settled(&project, &id).await;
    assert_eq!(connection.state, "ACTIVE", "{connection:?}");
    assert_eq!(connection.connection_url, format!("db.dsconn.test:{port}"));
    assert!(first.accepted() >= 1);
    assert!(
        tokio::time::timeout(Duration::from_secs(5), second_accepts)
            .await
            .expect("second address checked")
            .expect("accept task"),
        "the second address of the name was connected to"
    );

    let id = app
        .create_ok(
            &project,
            &create_body("unknown", "RDS", "nowhere.dsconn.test:3306"),
        )
        .await;
    let connection = app.settled(&project, &id).await;
    assert_eq!(connection.state, "FAILED");
    assert!(
        connection.message.contains("nowhere.dsconn.test:3306"),
        "{}",
        connection.message
    );
    assert!(
        connection.message.contains("DNS lookup"),
        "{}",
        connection.message
    );
}
