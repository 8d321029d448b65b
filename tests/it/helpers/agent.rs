//! A real `dsconn agent` child process, its log kept for the test to read.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Settings and profiles of the machine running the tests must not leak into an agent.
const INHERITED_SETTINGS: &[&str] = &[
    "DSCONN_PROFILE",
    "DSCONN_ENDPOINT",
    "DSCONN_TOKEN",
    "DSCONN_SIGNING_ALGORITHM",
    "DSCONN_AGENT_NAME",
    "DSCONN_ALLOW_CIDRS",
    "DSCONN_DENY_CIDRS",
    "HUAWEICLOUD_SDK_AK",
    "HUAWEICLOUD_SDK_SK",
    "HUAWEICLOUD_SDK_PROJECT_ID",
];

/// What an agent is started with.
pub struct AgentSpec<'a> {
    pub endpoint: String,
    pub project: &'a str,
    pub token: &'a str,
    /// `--name`; None: the agent's default name.
    pub name: Option<&'a str>,
    pub queues: &'a [&'a str],
    /// An empty directory for XDG_CONFIG_HOME, so no profile file is read.
    pub config_home: &'a Path,
    /// More flags; a `--probe-mode` here replaces the default `tcp`.
    pub extra_args: &'a [&'a str],
}

pub struct AgentProcess {
    pub child: Child,
    lines: Arc<Mutex<Vec<String>>>,
}

impl AgentProcess {
    /// Starts `<base> agent ...` where `base` is the dsconn binary, on the host or
    /// wrapped (e.g. in `ip netns exec`); probe mode tcp (unless `extra_args` say) with
    /// a 1 s check timeout.
    pub fn start(mut base: Command, spec: &AgentSpec<'_>) -> Self {
        for name in INHERITED_SETTINGS {
            base.env_remove(name);
        }
        base.arg("agent")
            .args(["--endpoint", &spec.endpoint, "--project", spec.project])
            .args(["--token", spec.token])
            .args(["--check-timeout", "1s", "--log-format", "pretty"])
            .args(spec.extra_args);
        if !spec.extra_args.contains(&"--probe-mode") {
            base.args(["--probe-mode", "tcp"]);
        }
        if let Some(name) = spec.name {
            base.args(["--name", name]);
        }
        for queue in spec.queues {
            base.args(["--queue", queue]);
        }
        let mut child = base
            .env("XDG_CONFIG_HOME", spec.config_home)
            .env("DSCONN_LOG", "info")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("dsconn agent starts");
        let stderr = child.stderr.take().expect("stderr piped");
        let lines = Arc::new(Mutex::new(Vec::new()));
        let kept = Arc::clone(&lines);
        let name = spec.name.unwrap_or("(default name)").to_owned();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if std::env::var_os("TEST_LOG").is_some() {
                    eprintln!("[agent {name}] {line}");
                }
                kept.lock().unwrap_or_else(|p| p.into_inner()).push(line);
            }
        });
        Self { child, lines }
    }

    pub fn pid(&self) -> i32 {
        i32::try_from(self.child.id()).expect("pid fits")
    }

    /// The log so far.
    pub fn log(&self) -> Vec<String> {
        self.lines.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Waits up to `deadline` for the agent to exit on its own: its status, or None if
    /// it is still running.
    pub fn exited_within(&mut self, deadline: Duration) -> Option<std::process::ExitStatus> {
        let until = Instant::now() + deadline;
        loop {
            if let Some(status) = self.child.try_wait().expect("agent waited for") {
                return Some(status);
            }
            if Instant::now() >= until {
                return None;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Waits (up to 10 s) until `count` log lines contain `needle`.
    pub fn wait_for_lines(&self, needle: &str, count: usize) {
        let until = Instant::now() + Duration::from_secs(10);
        loop {
            let log = self.log();
            if log.iter().filter(|line| line.contains(needle)).count() >= count {
                return;
            }
            assert!(
                Instant::now() < until,
                "no {count} lines with {needle:?}:\n{}",
                log.join("\n")
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Sends SIGTERM and waits (up to `deadline`) for the agent to exit; its status.
    pub fn terminate(&mut self, deadline: Duration) -> std::process::ExitStatus {
        use nix::sys::signal::{Signal, kill};
        use nix::unistd::Pid;
        kill(Pid::from_raw(self.pid()), Signal::SIGTERM).expect("SIGTERM sent");
        let until = Instant::now() + deadline;
        loop {
            if let Some(status) = self.child.try_wait().expect("agent waited for") {
                return status;
            }
            assert!(
                Instant::now() < until,
                "the agent did not stop within {deadline:?} of SIGTERM:\n{}",
                self.log().join("\n")
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// SIGKILL, then reap.
    pub fn kill(&mut self) {
        self.child.kill().expect("SIGKILL sent");
        self.child.wait().expect("agent reaped");
    }

    /// The agent's resident set size in KiB (`VmRSS` of /proc/<pid>/status).
    pub fn rss_kib(&self) -> Option<u64> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid())).ok()?;
        status
            .lines()
            .find_map(|line| line.strip_prefix("VmRSS:"))?
            .trim()
            .trim_end_matches("kB")
            .trim()
            .parse()
            .ok()
    }

    /// The program the agent's pid runs (`dsconn`, also when started through
    /// `ip netns exec`, which execs it).
    pub fn program(&self) -> String {
        std::fs::read_to_string(format!("/proc/{}/comm", self.pid()))
            .unwrap_or_default()
            .trim()
            .to_owned()
    }
}

impl Drop for AgentProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
