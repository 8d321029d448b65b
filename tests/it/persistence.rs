//! What is stored survives a restart on the same data dir.

use crate::helpers::{TcpTarget, closed_port, create_body, new_project, spawn_app_in};

#[tokio::test]
async fn a_restart_on_the_same_data_dir_lists_the_same_connections() {
    let data_dir = tempfile::tempdir().expect("temp dir");
    let target = TcpTarget::start().await;
    let project = new_project();
    let app = spawn_app_in(data_dir.path(), |_| {}).await;
    let mut body = create_body("kept", "RDS", &target.address.to_string());
    body["tags"] = serde_json::json!([{"key": "env", "value": "prod"}]);
    let active = app.create_ok(&project, &body).await;
    let failed = app
        .create_ok(
            &project,
            &create_body("broken", "DWS", &format!("127.0.0.1:{}", closed_port())),
        )
        .await;
    app.settled(&project, &active).await;
    app.settled(&project, &failed).await;
    assert_eq!(app.delete(&project, &failed).await.status(), 200);
    let before = app.list(&project, "").await;
    app.stop().await;

    let app = spawn_app_in(data_dir.path(), |_| {}).await;
    let after = app.list(&project, "").await;
    assert_eq!(before, after);
    assert_eq!(after.count, 2);
    assert_eq!(app.list(&project, "tags=env%3Dprod").await.count, 1);
}

#[tokio::test]
async fn a_second_server_on_the_same_data_dir_is_refused() {
    let data_dir = tempfile::tempdir().expect("temp dir");
    let _first = spawn_app_in(data_dir.path(), |_| {}).await;
    let config = dsconn::config::ServeConfig::for_data_dir(data_dir.path());
    let error = dsconn::app::Application::build(&config)
        .await
        .err()
        .expect("second server refused");
    assert!(
        format!("{error:#}").contains("in use by another dsconn process"),
        "{error:#}"
    );
}

/// A key file that did not seal the database's secrets: start-up fails naming it.
async fn refused_with_key(data_dir: &std::path::Path, key_file: &std::path::Path) -> String {
    let mut config = dsconn::config::ServeConfig::for_data_dir(data_dir);
    config.storage.secret_key_file = Some(key_file.to_path_buf());
    let error = dsconn::app::Application::build(&config)
        .await
        .err()
        .expect("a server with another key file is refused");
    format!("{error:#}")
}

#[tokio::test]
async fn a_server_with_another_key_file_refuses_to_start() {
    let data_dir = tempfile::tempdir().expect("temp dir");
    let other_key = data_dir.path().join("other.key");
    // A database with a credential sealed by its key, and one with no secret at all yet:
    // both know their key.
    for with_credential in [true, false] {
        let dir = tempfile::tempdir().expect("temp dir");
        let app = spawn_app_in(dir.path(), |_| {}).await;
        if with_credential {
            app.issue_credential(dsconn::domain::ProjectScope::All)
                .await;
        }
        app.stop().await;
        let message = refused_with_key(dir.path(), &other_key).await;
        assert!(
            message.contains("does not match this database"),
            "{message}"
        );
        assert!(
            message.contains(&other_key.display().to_string()),
            "the message names the file: {message}"
        );
        // The database's own key still opens it.
        spawn_app_in(dir.path(), |_| {}).await.stop().await;
    }
}

#[test]
fn serve_and_credential_create_exit_non_zero_with_another_key_file() {
    let data_dir = tempfile::tempdir().expect("temp dir");
    let dir = data_dir.path().to_str().expect("utf-8 path");
    let other_key = data_dir.path().join("other.key");
    let other_key = other_key.to_str().expect("utf-8 path");
    // Bounded: a server that wrongly starts is killed, and the test fails, not hangs.
    let dsconn = |args: &[&str]| {
        let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_dsconn"))
            .args(args)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("run dsconn");
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
        while child.try_wait().expect("poll dsconn").is_none() {
            if std::time::Instant::now() > deadline {
                let _ = child.kill();
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        child.wait_with_output().expect("dsconn output")
    };
    let created = dsconn(&["credential", "create", "--all-projects", "--data-dir", dir]);
    assert!(created.status.success(), "{created:?}");
    for args in [
        vec!["serve", "--listen", "127.0.0.1:0", "--data-dir", dir],
        vec!["credential", "create", "--all-projects", "--data-dir", dir],
    ] {
        let mut args = args;
        args.extend(["--secret-key-file", other_key]);
        let outcome = dsconn(&args);
        let stderr = String::from_utf8_lossy(&outcome.stderr);
        assert!(!outcome.status.success(), "{args:?} must fail: {stderr}");
        assert!(
            stderr.contains("does not match this database") && stderr.contains(other_key),
            "{args:?}: {stderr}"
        );
    }
}

/// The mode bits of a path (permissions only).
fn mode_of(path: &std::path::Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path)
        .unwrap_or_else(|error| panic!("{}: {error}", path.display()))
        .permissions()
        .mode()
        & 0o777
}

/// Issue 24: `dsconn.db`, `-wal` and `-shm` were created 0644 (access keys, token hashes,
/// every project's urls, hosts and routes readable by any local user). A new data dir is
/// 0700 and the database files 0600; an existing loose one is warned about at start-up.
#[test]
fn the_data_dir_is_private_and_a_loose_one_is_warned_about_at_start_up() {
    use std::os::unix::fs::PermissionsExt;
    let parent = tempfile::tempdir().expect("temp dir");
    let data_dir = parent.path().join("data");
    let args = [std::ffi::OsStr::new("--data-dir"), data_dir.as_os_str()];
    let server = crate::helpers::LoggedServer::start("info", &args);
    assert_eq!(mode_of(&data_dir), 0o700, "data dir");
    for file in ["dsconn.db", "dsconn.db-wal", "dsconn.db-shm", "secret.key"] {
        assert_eq!(mode_of(&data_dir.join(file)), 0o600, "{file}");
    }
    assert!(
        !server
            .log()
            .iter()
            .any(|line| line.contains("open to other users")),
        "{:?}",
        server.log()
    );
    drop(server);

    // As an older dsconn (or a hand) left them.
    for (path, mode) in [
        (data_dir.clone(), 0o755),
        (data_dir.join("dsconn.db"), 0o644),
    ] {
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).expect("chmod");
    }
    let server = crate::helpers::LoggedServer::start("info", &args);
    let database = data_dir.join("dsconn.db");
    for (path, fix) in [(&data_dir, "chmod 700"), (&database, "chmod 600")] {
        let line = server.wait_for_line(&format!("{fix} {}", path.display()));
        assert!(
            line.contains("WARN") && line.contains("open to other users"),
            "{line}"
        );
    }
}
