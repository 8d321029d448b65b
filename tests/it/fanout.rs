//! Fan-out of one check, against the real binary: names that resolve to hundreds of
//! loopback addresses that all hang must not make the server open a socket per address,
//! nor store and answer one clause per address.

use std::net::{IpAddr, Ipv4Addr};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use serde_json::{Value, json};

use crate::helpers::{
    DnsServer, HangingTarget, ServerProcess, closed_port, create_body, new_project, spawn_app_with,
};

/// Endpoints in each url, and addresses of each endpoint's name.
const ENDPOINTS: usize = 11;
const ADDRESSES_PER_NAME: usize = 300;
/// The server's outbound limit in these tests: less than PARALLEL checks may dial at
/// once on their own, so only the shared limit keeps them under it.
const MAX_CONCURRENT_CHECKS: usize = 24;
/// Checks run at once by the socket test.
const PARALLEL: usize = 3;
/// File descriptors a check may add on top of its dials: the client's connection, DNS
/// over TCP, the database's journal, the runtime.
const FD_SLACK: usize = 16;

/// `count` distinct loopback addresses starting at 127.0.<first>.1.
fn loopback_addresses(first: u8, count: usize) -> Vec<IpAddr> {
    (0..count)
        .map(|index| {
            let third = first.wrapping_add(u8::try_from(index / 250).expect("small"));
            let fourth = u8::try_from(index % 250 + 1).expect("small");
            IpAddr::V4(Ipv4Addr::new(127, 0, third, fourth))
        })
        .collect()
}

/// A DNS server where `n<i>.fanout.test` has ADDRESSES_PER_NAME loopback addresses.
async fn fanout_dns() -> DnsServer {
    let names: Vec<(String, Vec<IpAddr>)> = (0..ENDPOINTS)
        .map(|index| {
            let first = u8::try_from(10 + 2 * index).expect("small");
            (
                format!("n{index}.fanout.test"),
                loopback_addresses(first, ADDRESSES_PER_NAME),
            )
        })
        .collect();
    let records: Vec<(&str, &[IpAddr])> = names
        .iter()
        .map(|(name, ips)| (name.as_str(), ips.as_slice()))
        .collect();
    DnsServer::start(&records).await
}

fn fanout_url(port: u16) -> String {
    (0..ENDPOINTS)
        .map(|index| format!("n{index}.fanout.test:{port}"))
        .collect::<Vec<_>>()
        .join(",")
}

fn start_server(data_dir: &Path, dns: &DnsServer) -> ServerProcess {
    let dns = dns.address.to_string();
    let limit = MAX_CONCURRENT_CHECKS.to_string();
    ServerProcess::start(&[
        "--auth".as_ref(),
        "none".as_ref(),
        "--probe-mode".as_ref(),
        "tcp".as_ref(),
        "--check-timeout".as_ref(),
        "400ms".as_ref(),
        "--dns-server".as_ref(),
        dns.as_ref(),
        "--max-concurrent-checks".as_ref(),
        limit.as_ref(),
        "--data-dir".as_ref(),
        data_dir.as_os_str(),
    ])
}

fn open_fds(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .map(|entries| entries.count())
        .unwrap_or(0)
}

/// Samples the process's open file descriptors until dropped; `peak()` is the highest.
struct FdSampler {
    peak: Arc<AtomicUsize>,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl FdSampler {
    fn start(pid: u32) -> Self {
        let peak = Arc::new(AtomicUsize::new(open_fds(pid)));
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let (peak, stop) = (Arc::clone(&peak), Arc::clone(&stop));
            std::thread::spawn(move || {
                while !stop.load(Ordering::SeqCst) {
                    peak.fetch_max(open_fds(pid), Ordering::SeqCst);
                    std::thread::sleep(Duration::from_millis(2));
                }
            })
        };
        Self {
            peak,
            stop,
            thread: Some(thread),
        }
    }

    fn finish(mut self) -> usize {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
        self.peak.load(Ordering::SeqCst)
    }
}

/// Runs `action` while sampling the server's fds; returns the rise over the idle count.
async fn fd_rise<F: Future<Output = ()>>(server: &ServerProcess, what: &str, action: F) -> usize {
    let pid = server.child.id();
    let idle = open_fds(pid);
    let sampler = FdSampler::start(pid);
    action.await;
    let peak = sampler.finish();
    let rise = peak.saturating_sub(idle);
    eprintln!("{what}: idle {idle} fds, peak {peak} (+{rise})");
    rise
}

async fn wait_settled(client: &reqwest::Client, url: &str) -> Value {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        let body: Value = client
            .get(url)
            .send()
            .await
            .expect("show sent")
            .json()
            .await
            .expect("show body");
        if body["state"] != "CREATING" {
            return body;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "still CREATING: {url}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_check_of_thousands_of_hanging_addresses_opens_at_most_the_limit_of_sockets() {
    let work = tempfile::tempdir().expect("temp dir");
    let dns = fanout_dns().await;
    let target = HangingTarget::start_for_all_loopback();
    let server = start_server(work.path(), &dns);
    let client = reqwest::Client::new();
    let project = new_project();
    let collection = server.collection(&project);
    let url = fanout_url(target.address.port());
    let limit = MAX_CONCURRENT_CHECKS + FD_SLACK;
    let mut rises = Vec::new();

    let rise = fd_rise(&server, "tests of a definition", async {
        let tests = (0..PARALLEL).map(|_| async {
            let response = client
                .post(format!("{collection}/test"))
                .json(&json!({"service": "RDS", "url": url}))
                .send()
                .await
                .expect("test sent");
            assert_eq!(response.status(), 200);
            let body: Value = response.json().await.expect("test body");
            assert_eq!(body["connectivity"], "UNREACHABLE", "{body}");
        });
        futures::future::join_all(tests).await;
    })
    .await;
    rises.push(("tests of a definition", rise));

    let mut ids = Vec::new();
    let rise = fd_rise(&server, "creates", async {
        ids = create_all(&client, &collection, &url, PARALLEL).await;
        for id in &ids {
            let settled = wait_settled(&client, &format!("{collection}/{id}")).await;
            assert_eq!(settled["state"], "FAILED", "{settled}");
        }
    })
    .await;
    rises.push(("creates", rise));

    let rise = fd_rise(&server, "tests of a connection", async {
        let (client, collection) = (&client, &collection);
        let tests = ids.iter().map(|id| async move {
            let response = client
                .post(format!("{collection}/{id}/test"))
                .send()
                .await
                .expect("test sent");
            assert_eq!(response.status(), 200);
        });
        futures::future::join_all(tests).await;
    })
    .await;
    rises.push(("tests of a connection", rise));
    for (what, rise) in rises {
        assert!(rise <= limit, "{what} opened {rise} fds, limit {limit}");
    }
}

/// Creates `count` connections to `url` (names fanout0, fanout1, ...); their ids.
async fn create_all(
    client: &reqwest::Client,
    collection: &str,
    url: &str,
    count: usize,
) -> Vec<String> {
    let mut ids = Vec::with_capacity(count);
    for index in 0..count {
        let response = client
            .post(collection)
            .json(&create_body(&format!("fanout{index}"), "RDS", url))
            .send()
            .await
            .expect("create sent");
        assert_eq!(response.status(), 201);
        let body: Value = response.json().await.expect("create body");
        ids.push(body["connection_id"].as_str().expect("id").to_owned());
    }
    ids
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_connections_with_thousands_of_addresses_have_bounded_bodies() {
    const CONNECTIONS: usize = 11;
    let work = tempfile::tempdir().expect("temp dir");
    let dns = fanout_dns().await;
    let target = HangingTarget::start_for_all_loopback();
    let server = start_server(work.path(), &dns);
    let client = reqwest::Client::new();
    let project = new_project();
    let collection = server.collection(&project);
    let url = fanout_url(target.address.port());

    let ids = create_all(&client, &collection, &url, CONNECTIONS).await;
    let (mut messages, mut show_sizes) = (Vec::new(), Vec::new());
    for id in &ids {
        let show_url = format!("{collection}/{id}");
        let settled = wait_settled(&client, &show_url).await;
        assert_eq!(settled["state"], "FAILED");
        messages.push(settled["message"].as_str().expect("message").to_owned());
        let show = client
            .get(&show_url)
            .send()
            .await
            .expect("show sent")
            .bytes()
            .await
            .expect("show body");
        eprintln!("show body: {} bytes", show.len());
        show_sizes.push(show.len());
    }
    let list = client
        .get(&collection)
        .send()
        .await
        .expect("list sent")
        .bytes()
        .await
        .expect("list body");
    let list: Value = serde_json::from_slice(&list).expect("list json");
    let items = list["connections"].as_array().expect("connections");
    assert_eq!(items.len(), CONNECTIONS);
    let item_sizes: Vec<usize> = items
        .iter()
        .map(|item| serde_json::to_vec(item).expect("json").len())
        .collect();
    eprintln!("list items: {item_sizes:?} bytes");
    for size in show_sizes {
        assert!(size <= 64 * 1024, "show body of {size} bytes");
    }
    for size in item_sizes {
        assert!(size <= 16 * 1024, "list item of {size} bytes");
    }
    // Eleven checks of 300 addresses share a small limit: on a busy machine some wait
    // longer than a check may for their lookups, and say so instead of what they skipped.
    for message in &messages {
        assert!(
            message.contains("more addresses not checked")
                || message.contains("outbound limit (--max-concurrent-checks) stayed busy"),
            "the message says what was left out: {message}"
        );
    }
    assert!(
        messages
            .iter()
            .any(|message| message.contains("more addresses not checked")),
        "{messages:?}"
    );
}

#[tokio::test]
async fn the_check_budget_is_charged_per_address_dialled() {
    // Two names of 300 refusing addresses each: dozens of dials per request.
    let port = closed_port();
    let first = loopback_addresses(100, ADDRESSES_PER_NAME);
    let second = loopback_addresses(110, ADDRESSES_PER_NAME);
    let dns = DnsServer::start(&[
        ("a.budget.test", first.as_slice()),
        ("b.budget.test", second.as_slice()),
    ])
    .await;
    let app = spawn_app_with(|config| {
        config.probe.dns_server = Some(dns.address);
        config.probe.check_timeout = Duration::from_millis(500);
        config.checks_per_minute = 40;
    })
    .await;
    let project = new_project();
    let path = format!("/v2.0/{project}/datasource-connection/test");
    let body =
        json!({"service": "RDS", "url": format!("a.budget.test:{port},b.budget.test:{port}")});
    let first = crate::helpers::post_json(&app, &path, &body).await;
    assert_eq!(first.status(), 200);
    let first: Value = first.json().await.expect("test body");
    let dialled = first["endpoints"].as_array().expect("endpoints").len();
    assert!(dialled > 20, "dials: {dialled}");
    let second = crate::helpers::post_json(&app, &path, &body).await;
    crate::helpers::assert_dli_error(second, 429, "APIG.0308").await;
}
