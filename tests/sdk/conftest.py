"""Fixtures for the end-to-end suite: a real dsconn server, SDK clients, TCP targets.

The server binary comes from $DSCONN_BIN (tests/sdk/run sets it; default
<repo>/target/debug/dsconn). Everything listens on 127.0.0.1 only.

The server runs with authentication on (its default, `--auth required`). Before it
starts, the admin CLI issues an all-projects AK/SK credential and an all-projects
token on its data dir: SDK clients sign with that credential unless told
otherwise, raw-HTTP tests send that token.
"""

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
import requests
from huaweicloudsdkcore.auth.credentials import BasicCredentials
from huaweicloudsdkcore.http.http_config import HttpConfig
from huaweicloudsdkcore.http.http_handler import HttpHandler
from huaweicloudsdkdli.v1 import DliClient

from helpers import REPO, new_project_id

sys.path.insert(0, str(REPO / "tests"))
import harness  # noqa: E402  (tests/harness.py: ports, listener, processes)
from harness import LOOPBACK, dsconn_env, free_port  # noqa: E402

STARTUP_TIMEOUT_S = 20.0

# Loopback traffic must never be sent to a proxy from the environment.
_no_proxy = os.environ.get("NO_PROXY", "")
if LOOPBACK not in _no_proxy.split(","):
    os.environ["NO_PROXY"] = os.environ["no_proxy"] = ",".join(
        p for p in (LOOPBACK, "localhost", _no_proxy) if p
    )


def dsconn_bin() -> Path:
    return Path(os.environ.get("DSCONN_BIN") or REPO / "target" / "debug" / "dsconn")


class CliError(AssertionError):
    pass


def run_cli(data_dir, *args, timeout=30):
    """Run `dsconn <args> --data-dir <data_dir>`; return its stdout. Fails on a non-zero exit."""
    cmd = [str(dsconn_bin()), *args, "--data-dir", str(data_dir)]
    done = subprocess.run(cmd, stdin=subprocess.DEVNULL, capture_output=True, text=True,
                          timeout=timeout, env=dsconn_env())
    if done.returncode != 0:
        raise CliError(f"{' '.join(cmd)} exited with {done.returncode}\n"
                       f"stdout:\n{done.stdout}\nstderr:\n{done.stderr}")
    return done.stdout


def scope_args(projects, all_projects):
    assert bool(projects) != bool(all_projects), "give projects or all_projects, not both"
    return ["--all-projects"] if all_projects else [a for p in projects for a in ("--project", p)]


class Server:
    def __init__(self, proc, port, data_dir, stdout_path, stderr_path):
        self.proc = proc
        self.port = port
        self.data_dir = data_dir
        self.stdout_path = stdout_path
        self.stderr_path = stderr_path
        self.base_url = f"http://{LOOPBACK}:{port}"
        # Set by the session fixture: the admin credential and token every test may use.
        self.admin_ak = None
        self.admin_sk = None
        self.token = None

    def stdout(self) -> str:
        try:
            return Path(self.stdout_path).read_text(errors="replace")
        except OSError:
            return ""

    def stderr(self) -> str:
        try:
            return Path(self.stderr_path).read_text(errors="replace")
        except OSError:
            return ""

    def url(self, project_id, *rest) -> str:
        return "/".join([self.base_url, "v2.0", project_id, "datasource-connection", *rest])

    # ---- the admin CLI on this server's data dir

    def cli(self, *args) -> str:
        """Run `dsconn <args> --data-dir <this server's data dir>`; its stdout."""
        return run_cli(self.data_dir, *args)

    def cli_json(self, *args):
        out = self.cli(*args, "--output", "json")
        try:
            return json.loads(out)
        except ValueError:
            raise CliError(f"dsconn {' '.join(args)} --output json printed no JSON: {out!r}")

    def new_credential(self, *projects, all_projects=False) -> dict:
        """A new AK/SK: {"access_key", "secret_key", "projects", "all_projects"}."""
        return self.cli_json("credential", "create", *scope_args(projects, all_projects))

    def new_token(self, *projects, all_projects=False, ttl="12h") -> dict:
        """A new token: {"id", "token", "expires_at", "projects", "all_projects"}."""
        return self.cli_json("token", "create", *scope_args(projects, all_projects), "--ttl", ttl)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)


def require_binary() -> Path:
    binary = dsconn_bin()
    if not (binary.is_file() and os.access(binary, os.X_OK)):
        pytest.fail(f"dsconn binary not found or not executable: {binary} "
                    "(build it with `cargo build` or set DSCONN_BIN)", pytrace=False)
    return binary


def probe_args(binary) -> list:
    """This suite's destinations are plain TCP listeners that accept and close, and a
    reachable one must make a connection ACTIVE: ask for TCP-only checks (the protocol
    checks have their own tests against real servers)."""
    return ["--probe-mode", "tcp"]


def start_server(data_dir, log_dir, *extra_args) -> Server:
    """Start `dsconn serve` on a free loopback port and wait until /healthz answers 200.
    The caller must stop() it."""
    binary = require_binary()
    stdout_path = os.path.join(log_dir, "stdout.log")
    stderr_path = os.path.join(log_dir, "stderr.log")
    port = free_port()
    serve_args = ["--listen", f"{LOOPBACK}:{port}",
                  "--data-dir", str(data_dir),
                  "--check-timeout", "1s",
                  *([] if "--probe-mode" in extra_args else probe_args(binary)),
                  *extra_args]
    cmd = [str(binary), "serve", *serve_args]
    with open(stdout_path, "wb") as out, open(stderr_path, "wb") as err:
        proc = harness.start_serve(binary, *serve_args, stdout=out, stderr=err,
                                   die_with_us=False)
    srv = Server(proc, port, data_dir, stdout_path, stderr_path)

    try:
        deadline = time.monotonic() + STARTUP_TIMEOUT_S
        last = "no answer yet"
        while True:
            if proc.poll() is not None:
                pytest.fail(f"dsconn exited with {proc.returncode} during startup\n"
                            f"command: {' '.join(cmd)}\nstderr:\n{srv.stderr()}", pytrace=False)
            try:
                r = requests.get(f"{srv.base_url}/healthz", timeout=1)
                if r.status_code == 200:
                    return srv
                last = f"HTTP {r.status_code}: {r.text[:200]}"
            except requests.RequestException as e:
                last = repr(e)
            if time.monotonic() > deadline:
                pytest.fail(f"dsconn did not answer GET /healthz with 200 within "
                            f"{STARTUP_TIMEOUT_S:.0f}s (last: {last})\ncommand: {' '.join(cmd)}\n"
                            f"stderr:\n{srv.stderr()}", pytrace=False)
            time.sleep(0.05)
    except BaseException:
        srv.stop()
        raise


@pytest.fixture(scope="session")
def server():
    """One dsconn for the session, authentication on (no --auth flag: the default)."""
    require_binary()
    work = tempfile.mkdtemp(prefix="dsconn-sdk-")
    data_dir = os.path.join(work, "data")
    os.mkdir(data_dir)
    srv = None
    try:
        admin = run_cli(data_dir, "credential", "create", "--all-projects", "--output", "json")
        token = run_cli(data_dir, "token", "create", "--all-projects", "--ttl", "12h", "--output", "json")
        admin, token = json.loads(admin), json.loads(token)
        # The suite makes many deliberate bad signatures from one address; the
        # per-address failure limit has its own test with a server of its own.
        srv = start_server(data_dir, work, "--auth-failure-burst", "1000000")
        srv.admin_ak, srv.admin_sk = admin["access_key"], admin["secret_key"]
        srv.token = token["token"]
        yield srv
    finally:
        if srv is not None:
            srv.stop()
        shutil.rmtree(work, ignore_errors=True)


@pytest.fixture
def project_id():
    """A fresh project per test, so tests never see each other's connections."""
    return new_project_id()


class RecordingClient:
    """A DliClient plus the raw HTTP responses it received (newest last)."""

    def __init__(self, base_url, project_id, ak, sk, before_send=None, signing=None):
        """before_send(request), if given, sees each SdkRequest after the SDK signed it
        and before it is sent, and may change it (to tamper with a signed request).
        signing(builder, credentials, config, base_url), if given, sets up how the client
        signs and where it sends (a signing algorithm, the derived signer) and returns
        the builder; by default it signs SDK-HMAC-SHA256 for base_url."""
        self.project_id = project_id
        self.responses = []
        handler = HttpHandler().add_response_handler(
            lambda **kw: self.responses.append(kw["response"]))
        if before_send is not None:
            handler.add_request_handler(lambda **kw: before_send(kw["request"]))
        config = HttpConfig.get_default_config()
        config.timeout = (5, 10)
        credentials = BasicCredentials(ak, sk, project_id)
        builder = DliClient.new_builder().with_http_config(config).with_http_handler(handler)
        if signing is None:
            builder = builder.with_credentials(credentials).with_endpoints([base_url])
        else:
            builder = signing(builder, credentials, config, base_url)
        self.sdk = builder.build()

    def __getattr__(self, name):
        return getattr(self.sdk, name)

    @property
    def last_response(self):
        assert self.responses, "the SDK did not receive any HTTP response"
        return self.responses[-1]


@pytest.fixture
def client_for(server):
    """Factory: an SDK client bound to a given project id, signing with the admin
    credential unless given another AK/SK, aimed at the session's server unless
    given another base_url."""
    made = []

    def make(project_id, ak=None, sk=None, before_send=None, base_url=None, signing=None):
        c = RecordingClient(base_url or server.base_url, project_id,
                            ak or server.admin_ak, sk or server.admin_sk,
                            before_send=before_send, signing=signing)
        made.append(c)
        return c

    yield make
    for c in made:
        c.sdk.close()


@pytest.fixture
def dli(client_for, project_id):
    """The official SDK client for this test's project."""
    return client_for(project_id)


@pytest.fixture(scope="session")
def tcp_listener():
    listener = harness.Listener(backlog=64)
    yield listener
    listener.close()


@pytest.fixture
def closed_port():
    """A loopback port on which nothing listens (connect is refused at once)."""
    return harness.closed_port()


@pytest.fixture(scope="session")
def blackhole_port():
    """A loopback port whose connects hang: the listener never accepts and its
    accept queue is full, so the kernel drops further SYNs. A probe against it
    lasts the server's whole --check-timeout, keeping the connection CREATING."""
    ls = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    ls.bind((LOOPBACK, 0))
    ls.listen(0)
    port = ls.getsockname()[1]
    fillers = []
    try:
        for _ in range(16):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.setblocking(False)
            s.connect_ex((LOOPBACK, port))
            fillers.append(s)
            time.sleep(0.02)
            probe = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            probe.settimeout(0.3)
            try:
                probe.connect((LOOPBACK, port))
            except (socket.timeout, TimeoutError):
                break
            finally:
                probe.close()
        else:
            pytest.fail("could not make a loopback port whose connects hang")
        yield port
    finally:
        for s in fillers:
            s.close()
        ls.close()
