//! A throwaway PostgreSQL cluster on a free loopback port, made with the machine's own
//! PostgreSQL binaries: for tests that stop and start the database, which must never
//! touch the machine's shared server.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use crate::helpers::{free_port, services};

pub struct PgCluster {
    bin: PathBuf,
    data: PathBuf,
    pub port: u16,
    _root: tempfile::TempDir,
}

/// The newest PostgreSQL's binaries; None (after saying so) when none is installed.
fn postgres_bin() -> Option<PathBuf> {
    let base = Path::new("/usr/lib/postgresql");
    let mut versions: Vec<PathBuf> = std::fs::read_dir(base)
        .into_iter()
        .flatten()
        .filter_map(Result::ok)
        .map(|entry| entry.path().join("bin"))
        .filter(|bin| bin.join("initdb").exists())
        .collect();
    versions.sort();
    let newest = versions.pop();
    if newest.is_none() {
        services::missing(
            "PostgreSQL's server binaries",
            "no initdb under /usr/lib/postgresql/*/bin",
        );
    }
    newest
}

/// PostgreSQL refuses to run as root: as root, run its tools as the `postgres` user.
fn as_postgres(program: &Path) -> Command {
    if nix::unistd::geteuid().is_root() {
        let mut command = Command::new("runuser");
        command.args(["-u", "postgres", "--"]).arg(program);
        command
    } else {
        Command::new(program)
    }
}

fn run(mut command: Command, what: &str) {
    let output = command
        .output()
        .unwrap_or_else(|error| panic!("{what}: {error}"));
    assert!(
        output.status.success(),
        "{what} failed: {}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

impl PgCluster {
    /// initdb and start; trust authentication, listening on 127.0.0.1 only. None when
    /// PostgreSQL is not installed and services are not required (a skip).
    pub fn start() -> Option<Self> {
        let bin = postgres_bin()?;
        let root = tempfile::Builder::new()
            .prefix("dsconn-pg-")
            .tempdir()
            .expect("temp dir");
        let data = root.path().join("data");
        if nix::unistd::geteuid().is_root() {
            let status = Command::new("chown")
                .args(["-R", "postgres:postgres"])
                .arg(root.path())
                .status()
                .expect("chown runs");
            assert!(status.success(), "chown of the cluster dir");
        }
        let mut initdb = as_postgres(&bin.join("initdb"));
        initdb
            .arg("-D")
            .arg(&data)
            .args(["-A", "trust", "-U", "postgres", "--no-sync"]);
        run(initdb, "initdb");
        let cluster = Self {
            bin,
            data,
            port: free_port(),
            _root: root,
        };
        cluster.start_server();
        Some(cluster)
    }

    pub fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }

    /// Starts the server (again) and waits until it accepts connections.
    pub fn start_server(&self) {
        let options = format!(
            "-p {} -c listen_addresses=127.0.0.1 -k {} -c fsync=off",
            self.port,
            self.data.display()
        );
        let mut pg_ctl = as_postgres(&self.bin.join("pg_ctl"));
        pg_ctl
            .arg("-D")
            .arg(&self.data)
            .args(["-o", &options, "-w", "-t", "30", "-l"])
            .arg(self.data.join("server.log"))
            .arg("start");
        run(pg_ctl, "pg_ctl start");
    }

    /// Stops the server: connections are cut, as in an outage.
    pub fn stop_server(&self) {
        let mut pg_ctl = as_postgres(&self.bin.join("pg_ctl"));
        pg_ctl
            .arg("-D")
            .arg(&self.data)
            .args(["-m", "fast", "-w", "-t", "30", "stop"]);
        run(pg_ctl, "pg_ctl stop");
    }
}

impl Drop for PgCluster {
    fn drop(&mut self) {
        let mut pg_ctl = as_postgres(&self.bin.join("pg_ctl"));
        pg_ctl
            .arg("-D")
            .arg(&self.data)
            .args(["-m", "immediate", "-w", "-t", "10", "stop"]);
        let _ = pg_ctl.output();
        std::thread::sleep(Duration::from_millis(50));
    }
}
