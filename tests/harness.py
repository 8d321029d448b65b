"""The Python test harness shared by the SDK suite (tests/sdk/conftest.py), the soak
(tests/soak/soak.py) and the benchmark (bench/bench.py): loopback ports, the
accept-and-close listener that makes checks ACTIVE, and the environment and start of a
`dsconn serve` process. Standard library only (the soak and the benchmark need no venv).

Everything here is on loopback (127.0.0.1).
"""

from __future__ import annotations

import ctypes
import json
import os
import re
import signal
import socket
import subprocess
import threading
import time

LOOPBACK = "127.0.0.1"


def free_port() -> int:
    """A loopback port nothing listens on (bound, then released): free for a server to
    bind, and a destination whose connects are refused."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((LOOPBACK, 0))
        return sock.getsockname()[1]


def closed_port() -> int:
    """A loopback port whose connects are refused at once."""
    return free_port()


class Listener:
    """A loopback TCP server that accepts connections and closes them at once, on a
    thread of its own, for at most `max_seconds` (None: until close())."""

    def __init__(self, backlog: int = 512, max_seconds: float | None = None) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind((LOOPBACK, 0))
        self.sock.listen(backlog)
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.address = f"{LOOPBACK}:{self.port}"
        self.accepted = 0
        self._deadline = None if max_seconds is None else time.monotonic() + max_seconds
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="tcp-listener", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            if self._deadline is not None and time.monotonic() > self._deadline:
                break
            try:
                conn, _ = self.sock.accept()
            except OSError:  # includes the accept timeout
                continue
            self.accepted += 1
            conn.close()

    def wait(self) -> None:
        """Blocks until the listener's time is up (or close())."""
        self._thread.join()

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self.sock.close()

    stop = close


def dsconn_env(**overrides: str) -> dict:
    """The environment for dsconn processes: the caller's, without its DSCONN_*
    settings (DSCONN_AUTH=none there would silently turn authentication off), plus
    `overrides`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("DSCONN_")}
    env.update(overrides)
    return env


_PRETTY_LISTEN = re.compile(r'listen[=":\s]+"?(127\.0\.0\.1:\d+)')


def listen_address(line: str) -> str | None:
    """The address in dsconn's `dsconn is serving` log line, in either log format
    (JSON or pretty); None for any other line."""
    if "dsconn is serving" not in line:
        return None
    try:
        entry = json.loads(line)
    except ValueError:
        entry = None
    if isinstance(entry, dict):
        return entry.get("listen") or None
    match = _PRETTY_LISTEN.search(line)
    return match.group(1) if match else None


def die_with_parent() -> None:
    """In a child (preexec_fn): SIGKILL when this process dies, however it dies (Linux)."""
    ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


def start_serve(binary, *args, env=None, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                die_with_us: bool = True) -> subprocess.Popen:
    """Starts `dsconn serve <args>` with no standard input (and, by default, killed
    when this process dies). The caller chooses --listen and waits for readiness."""
    return subprocess.Popen(
        [str(binary), "serve", *map(str, args)],
        stdin=subprocess.DEVNULL, stdout=stdout, stderr=stderr,
        env=dsconn_env() if env is None else env,
        preexec_fn=die_with_parent if die_with_us else None,
    )


def stop_process(process: subprocess.Popen, grace: float = 15.0) -> int | None:
    """SIGTERM, then SIGKILL after `grace` seconds; the exit code of a clean stop."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            return process.wait(grace)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(5)
            return None
    return process.returncode


def issue_token(binary, data_dir, ttl: str = "1h") -> str:
    """An all-projects token issued on a data dir with the CLI, as an operator would
    (who creates the data dir first: admin commands never create one)."""
    os.makedirs(data_dir, mode=0o700, exist_ok=True)
    issued = subprocess.run(
        [str(binary), "token", "create", "--all-projects", "--ttl", ttl,
         "--output", "json", "--data-dir", str(data_dir)],
        check=True, capture_output=True, timeout=60, env=dsconn_env(), stdin=subprocess.DEVNULL,
    )
    return json.loads(issued.stdout)["token"]
