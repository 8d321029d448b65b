"""Fixtures for the end-to-end suite: a real dsconn server, SDK clients, TCP targets.

The server binary comes from $DSCONN_BIN (tests/sdk/run sets it; default
<repo>/target/debug/dsconn). Everything listens on 127.0.0.1 only.
"""

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
from pathlib import Path

import pytest
import requests
from huaweicloudsdkcore.auth.credentials import BasicCredentials
from huaweicloudsdkcore.http.http_config import HttpConfig
from huaweicloudsdkcore.http.http_handler import HttpHandler
from huaweicloudsdkdli.v1 import DliClient

from helpers import REPO, new_project_id

LOOPBACK = "127.0.0.1"
STARTUP_TIMEOUT_S = 20.0

# Loopback traffic must never be sent to a proxy from the environment.
_no_proxy = os.environ.get("NO_PROXY", "")
if LOOPBACK not in _no_proxy.split(","):
    os.environ["NO_PROXY"] = os.environ["no_proxy"] = ",".join(
        p for p in (LOOPBACK, "localhost", _no_proxy) if p
    )


def dsconn_bin() -> Path:
    return Path(os.environ.get("DSCONN_BIN") or REPO / "target" / "debug" / "dsconn")


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((LOOPBACK, 0))
        return s.getsockname()[1]


class Server:
    def __init__(self, proc, port, data_dir, stderr_path):
        self.proc = proc
        self.port = port
        self.data_dir = data_dir
        self.stderr_path = stderr_path
        self.base_url = f"http://{LOOPBACK}:{port}"

    def stderr(self) -> str:
        try:
            return Path(self.stderr_path).read_text(errors="replace")
        except OSError:
            return ""

    def url(self, project_id, *rest) -> str:
        return "/".join([self.base_url, "v2.0", project_id, "datasource-connection", *rest])


@pytest.fixture(scope="session")
def server():
    binary = dsconn_bin()
    if not (binary.is_file() and os.access(binary, os.X_OK)):
        pytest.fail(f"dsconn binary not found or not executable: {binary} "
                    "(build it with `cargo build` or set DSCONN_BIN)", pytrace=False)

    work = tempfile.mkdtemp(prefix="dsconn-sdk-")
    data_dir = os.path.join(work, "data")
    os.mkdir(data_dir)
    stdout_path = os.path.join(work, "stdout.log")
    stderr_path = os.path.join(work, "stderr.log")
    port = free_port()
    cmd = [str(binary), "serve",
           "--listen", f"{LOOPBACK}:{port}",
           "--data-dir", data_dir,
           "--check-timeout", "1s",
           "--auth", "none"]
    with open(stdout_path, "wb") as out, open(stderr_path, "wb") as err:
        proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=out, stderr=err)
    srv = Server(proc, port, data_dir, stderr_path)

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
                    break
                last = f"HTTP {r.status_code}: {r.text[:200]}"
            except requests.RequestException as e:
                last = repr(e)
            if time.monotonic() > deadline:
                pytest.fail(f"dsconn did not answer GET /healthz with 200 within "
                            f"{STARTUP_TIMEOUT_S:.0f}s (last: {last})\ncommand: {' '.join(cmd)}\n"
                            f"stderr:\n{srv.stderr()}", pytrace=False)
            time.sleep(0.05)
        yield srv
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=5)
        shutil.rmtree(work, ignore_errors=True)


@pytest.fixture
def project_id():
    """A fresh project per test, so tests never see each other's connections."""
    return new_project_id()


class RecordingClient:
    """A DliClient plus the raw HTTP responses it received (newest last)."""

    def __init__(self, base_url, project_id, ak="HPUATESTAK0000000001",
                 sk="testSecretKey0000000000000000000000000001"):
        self.project_id = project_id
        self.responses = []
        handler = HttpHandler().add_response_handler(
            lambda **kw: self.responses.append(kw["response"]))
        config = HttpConfig.get_default_config()
        config.timeout = (5, 10)
        self.sdk = (DliClient.new_builder()
                    .with_credentials(BasicCredentials(ak, sk, project_id))
                    .with_endpoints([base_url])
                    .with_http_config(config)
                    .with_http_handler(handler)
                    .build())

    def __getattr__(self, name):
        return getattr(self.sdk, name)

    @property
    def last_response(self):
        assert self.responses, "the SDK did not receive any HTTP response"
        return self.responses[-1]


@pytest.fixture
def client_for(server):
    """Factory: an SDK client bound to a given project id."""
    made = []

    def make(project_id):
        c = RecordingClient(server.base_url, project_id)
        made.append(c)
        return c

    yield make
    for c in made:
        c.sdk.close()


@pytest.fixture
def dli(client_for, project_id):
    """The official SDK client for this test's project."""
    return client_for(project_id)


class Listener:
    """A loopback TCP server that accepts connections and closes them at once."""

    def __init__(self):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind((LOOPBACK, 0))
        self.sock.listen(64)
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.accepted = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="tcp-listener", daemon=True)
        self._thread.start()

    @property
    def address(self):
        return f"{LOOPBACK}:{self.port}"

    def _run(self):
        while not self._stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except (socket.timeout, OSError):
                continue
            self.accepted += 1
            conn.close()

    def close(self):
        self._stop.set()
        self._thread.join(timeout=2)
        self.sock.close()


@pytest.fixture(scope="session")
def tcp_listener():
    listener = Listener()
    yield listener
    listener.close()


@pytest.fixture
def closed_port():
    """A loopback port on which nothing listens (connect is refused at once)."""
    return free_port()


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
