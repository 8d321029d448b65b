//! A network namespace joined to the host by a veth pair, for tests that run a process
//! in "another network". The pair gets a random /30 of 10.213.0.0/16 (host end .1,
//! namespace end .2), both ends and the namespace's `lo` up, and nothing else: no
//! default route inside, so the namespace reaches the host's veth address and nothing
//! beyond. Dropping it (also on a panic) deletes the namespace, which removes the veth.

use std::io::{BufRead, BufReader};
use std::net::Ipv4Addr;
use std::process::{Child, Command, Stdio};

/// A namespace with one veth link to the host.
pub struct VethNamespace {
    pub name: String,
    /// The host end's address: what a process inside dials to reach the host.
    pub host_ip: Ipv4Addr,
    /// The namespace end's address: where the host sees the namespace's traffic from.
    pub inside_ip: Ipv4Addr,
    host_link: String,
}

/// Runs `ip <args>`, panicking with its stderr when it fails.
fn ip(args: &[&str]) {
    let output = Command::new("ip").args(args).output().expect("ip runs");
    assert!(
        output.status.success(),
        "ip {}: {}",
        args.join(" "),
        String::from_utf8_lossy(&output.stderr)
    );
}

/// A /30 of 10.213.0.0/16 that no interface of the host uses yet: (host end, inside end).
fn free_slash30() -> (Ipv4Addr, Ipv4Addr) {
    let output = Command::new("ip")
        .args(["-o", "-4", "addr", "show"])
        .output()
        .expect("ip runs");
    let in_use = String::from_utf8_lossy(&output.stdout).into_owned();
    for _ in 0..64 {
        // 16384 /30s; the first and last are skipped only to keep addresses unremarkable.
        let block = rand::Rng::gen_range(&mut rand::thread_rng(), 1u32..16383) * 4;
        let base = u32::from(Ipv4Addr::new(10, 213, 0, 0)) + block;
        let (host, inside) = (Ipv4Addr::from(base + 1), Ipv4Addr::from(base + 2));
        if !in_use.contains(&format!("inet {host}/"))
            && !in_use.contains(&format!("inet {inside}/"))
        {
            return (host, inside);
        }
    }
    panic!("no free /30 in 10.213.0.0/16")
}

impl VethNamespace {
    /// None when `ip netns` cannot be used here and the test is not required to run
    /// (neither `CI` nor `DSCONN_REQUIRE_NETNS` set): the skip rule of the other
    /// namespace tests.
    pub fn create() -> Option<Self> {
        let suffix = uuid::Uuid::new_v4().simple().to_string();
        let name = format!("dsconn-veth-{}", &suffix[..12]);
        let required =
            std::env::var_os("CI").is_some() || std::env::var_os("DSCONN_REQUIRE_NETNS").is_some();
        match Command::new("ip").args(["netns", "add", &name]).output() {
            Ok(output) if output.status.success() => {}
            outcome => {
                let why = match outcome {
                    Ok(output) => String::from_utf8_lossy(&output.stderr).into_owned(),
                    Err(error) => error.to_string(),
                };
                assert!(
                    !required,
                    "`ip netns add` failed and CI or DSCONN_REQUIRE_NETNS is set: {why}"
                );
                eprintln!("SKIPPED: `ip netns add` is not available here ({why})");
                return None;
            }
        }
        let (host_ip, inside_ip) = free_slash30();
        // Interface names are at most 15 bytes.
        let host_link = format!("dsv{}h", &suffix[..8]);
        let inside_link = format!("dsv{}n", &suffix[..8]);
        // From here on Drop cleans up whatever the steps below managed to make.
        let namespace = Self {
            name,
            host_ip,
            inside_ip,
            host_link,
        };
        let ns = namespace.name.as_str();
        ip(&[
            "link",
            "add",
            &namespace.host_link,
            "type",
            "veth",
            "peer",
            "name",
            &inside_link,
            "netns",
            ns,
        ]);
        ip(&[
            "addr",
            "add",
            &format!("{host_ip}/30"),
            "dev",
            &namespace.host_link,
        ]);
        ip(&["link", "set", &namespace.host_link, "up"]);
        ip(&[
            "-n",
            ns,
            "addr",
            "add",
            &format!("{inside_ip}/30"),
            "dev",
            &inside_link,
        ]);
        ip(&["-n", ns, "link", "set", &inside_link, "up"]);
        ip(&["-n", ns, "link", "set", "lo", "up"]);
        Some(namespace)
    }

    /// `program` run inside the namespace (`ip netns exec` execs it: the child's pid is
    /// the program's).
    pub fn command(&self, program: impl AsRef<std::ffi::OsStr>) -> Command {
        let mut command = Command::new("ip");
        command.args(["netns", "exec", &self.name]).arg(program);
        command
    }

    /// A TCP listener on the namespace's own 127.0.0.1 that accepts (and closes) every
    /// connection: reachable from inside only.
    pub fn loopback_listener(&self) -> NamespaceListener {
        const ACCEPT_FOREVER: &str = "import socket\n\
            s = socket.socket()\n\
            s.bind(('127.0.0.1', 0))\n\
            s.listen(64)\n\
            print(s.getsockname()[1], flush=True)\n\
            while True:\n    s.accept()[0].close()\n";
        let mut child = self
            .command("python3")
            .args(["-c", ACCEPT_FOREVER])
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("python3 starts in the namespace");
        let mut line = String::new();
        BufReader::new(child.stdout.take().expect("stdout piped"))
            .read_line(&mut line)
            .expect("the listener reports its port");
        let port = line.trim().parse().unwrap_or_else(|_| {
            let _ = child.kill();
            panic!("no port from the namespace's listener: {line:?}")
        });
        NamespaceListener { child, port }
    }
}

impl Drop for VethNamespace {
    fn drop(&mut self) {
        // Deleting the host end removes its peer too; deleting the namespace removes
        // the peer in any case. Either may already be gone.
        let _ = Command::new("ip")
            .args(["link", "delete", &self.host_link])
            .output();
        let _ = Command::new("ip")
            .args(["netns", "delete", &self.name])
            .output();
    }
}

/// A listener process inside a namespace; killed when dropped.
pub struct NamespaceListener {
    child: Child,
    pub port: u16,
}

impl Drop for NamespaceListener {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
