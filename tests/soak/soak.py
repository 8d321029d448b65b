#!/usr/bin/env python3
"""Soak: a real `dsconn serve` under mixed load from this (second) process, on loopback.

Workers list, show, create and delete connections and send bad requests for a fixed time
(60 s by default) at a bounded rate and a bounded request count. The run fails on:

- any unexpected status or error code, a transport error, or a response without
  `X-Request-Id` or with a non-JSON content type;
- server RSS (/proc/PID/status VmRSS, read every second) growing 10 % or more from the
  first 10 s after the warm-up to the last 10 s of the load (medians of each);
- the data afterwards differing from what the client recorded: every acknowledged
  create present with its name, url, service and tags, ACTIVE when its url is the
  local listener and FAILED when it is a closed port; every acknowledged delete
  DELETED; nothing listed that the client did not create.

Before the load, --prefill connections are created (half deleted) and the table is
scanned through every pooled SQLite connection, so the RSS baseline is not taken while
the page caches are still filling. Known inconsistencies outside these criteria (a list
whose `count` is below its own page) are printed as findings; --fail-on-findings makes
them fail the run.

Standard library only. Each worker owns its connections (tag `owner=wN`), so its own
view is exact: a list filtered by its tag must return exactly the ids it holds.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import random
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
import harness  # noqa: E402  (tests/harness.py: ports, listener, processes)
from harness import Listener, closed_port  # noqa: E402

PROJECT = "soakproject"
MAX_LIVE_PER_WORKER = 60
# Concurrent whole-table reads after the prefill: more than the server's SQLite pool (8).
WARM_READERS = 12
UNEXPECTED_KEPT = 40
# Seconds of RSS readings whose median stands for the start and the end of the load.
RSS_WINDOW = 10


def log(message: str) -> None:
    print(f"soak: {message}", file=sys.stderr, flush=True)


# --- the server and the probe targets ------------------------------------------------


class Server:
    """`dsconn serve` on 127.0.0.1:0 in a fresh data dir; its log is drained by a thread."""

    def __init__(self, binary: str, data_dir: str) -> None:
        self.error_lines: list[str] = []
        self.token = harness.issue_token(binary, data_dir)
        self.process = harness.start_serve(
            binary, "--listen", "127.0.0.1:0", "--data-dir", data_dir,
            "--probe-mode", "tcp", "--check-timeout", "1s",
            # The load creates far more than the default per-project budgets allow.
            "--checks-per-minute", "1000000", "--connection-quota", "100000",
            env=dict(os.environ, DSCONN_LOG_FORMAT="json", DSCONN_LOG="info"),
            stderr=subprocess.PIPE,
        )
        listening = threading.Event()
        self.address = ""

        def drain() -> None:
            assert self.process.stderr is not None
            for raw in self.process.stderr:
                line = raw.decode("utf-8", "replace").rstrip()
                try:
                    entry = json.loads(line)
                except ValueError:
                    entry = {}
                if not self.address and harness.listen_address(line):
                    self.address = harness.listen_address(line)
                    listening.set()
                level = str(entry.get("level", "")).upper() if isinstance(entry, dict) else ""
                if level == "ERROR" or "panicked" in line:
                    self.error_lines.append(line[:500])
                if os.environ.get("TEST_LOG"):
                    print(line, file=sys.stderr)

        threading.Thread(target=drain, daemon=True).start()
        if not listening.wait(20):
            self.stop()
            raise SystemExit("soak: dsconn did not report its listen address within 20 s")

    def status_fields(self, *keys: str) -> dict[str, int]:
        """The first number of each named line of /proc/PID/status (KiB, or a count)."""
        fields = {}
        with open(f"/proc/{self.process.pid}/status", encoding="ascii") as status:
            for line in status:
                key, _, value = line.partition(":")
                if key in keys:
                    fields[key] = int(value.split()[0])
        return fields

    def rss_kib(self) -> int:
        return self.status_fields("VmRSS")["VmRSS"]

    def memory_breakdown(self) -> str:
        """RSS split into heap and mapped files, and the thread count: what to look at
        when the growth check fails (heap growth is ours; file growth is the binary's
        pages being touched)."""
        fields = self.status_fields("RssAnon", "RssFile", "RssShmem", "Threads")
        return ", ".join(f"{key} {value}" for key, value in fields.items())

    def stop(self) -> int | None:
        """SIGTERM, then SIGKILL after 15 s; the exit code of a clean stop."""
        return harness.stop_process(self.process, grace=15)


# --- the load -------------------------------------------------------------------------


@dataclass
class Record:
    name: str
    url: str
    tags: list[dict[str, str]]
    reachable: bool


@dataclass
class Shared:
    """What all workers share: the request budget and the failures."""

    deadline: float
    max_requests: int
    lock: threading.Lock = field(default_factory=threading.Lock)
    sent: int = 0
    unexpected: list[str] = field(default_factory=list)
    unexpected_count: int = 0
    findings: Counter = field(default_factory=Counter)
    by_op: Counter = field(default_factory=Counter)

    def take(self) -> bool:
        with self.lock:
            if self.sent >= self.max_requests or time.monotonic() >= self.deadline:
                return False
            self.sent += 1
            return True

    def finding(self, kind: str, detail: str) -> None:
        """A known server inconsistency outside the soak's criteria: reported, and a
        failure only with --fail-on-findings."""
        with self.lock:
            self.findings[kind] += 1
            if self.findings[kind] == 1:
                log(f"finding: {kind}: {detail}")

    def fail(self, message: str) -> None:
        with self.lock:
            self.unexpected_count += 1
            if len(self.unexpected) < UNEXPECTED_KEPT:
                self.unexpected.append(message)


class Worker(threading.Thread):
    def __init__(self, owner: str, address: str, token: str, shared: Shared,
                 interval: float, live_url: str, refused_url: str, seed: int) -> None:
        super().__init__(daemon=True)
        self.owner = owner
        self.host, port = address.rsplit(":", 1)
        self.port = int(port)
        self.token = token
        self.shared = shared
        self.interval = interval
        self.live_url = live_url
        self.refused_url = refused_url
        self.random = random.Random(seed)
        self.live: dict[str, Record] = {}
        self.deleted: dict[str, Record] = {}
        self.sequence = 0
        self.connection: http.client.HTTPConnection | None = None
        self.collection = f"/v2.0/{PROJECT}/datasource-connection"

    # HTTP ------------------------------------------------------------------------------

    def request(self, op: str, method: str, path: str, body: bytes | None = None,
                headers: dict[str, str] | None = None, token: bool = True,
                fresh: bool = False) -> tuple[int, dict] | None:
        """One request; None (and a recorded failure) when no proper answer came."""
        all_headers = {"Content-Type": "application/json"} if body is not None else {}
        if token:
            all_headers["X-Auth-Token"] = self.token
        all_headers.update(headers or {})
        if fresh:
            all_headers["Connection"] = "close"
        connection = (
            http.client.HTTPConnection(self.host, self.port, timeout=10)
            if fresh else self._connection()
        )
        try:
            connection.request(method, path, body=body, headers=all_headers)
            response = connection.getresponse()
            raw = response.read()
        except (OSError, http.client.HTTPException) as error:
            connection.close()
            self.connection = None
            self.shared.fail(f"{op} {method} {path}: no answer: {error!r}")
            return None
        finally:
            if fresh:
                connection.close()
        with self.shared.lock:
            self.shared.by_op[f"{op} {response.status}"] += 1
        if response.will_close and not fresh:
            connection.close()
            self.connection = None
        if not response.getheader("X-Request-Id"):
            self.shared.fail(f"{op} {method} {path}: {response.status} without X-Request-Id")
        if not (response.getheader("Content-Type") or "").startswith("application/json"):
            self.shared.fail(f"{op} {method} {path}: content type "
                             f"{response.getheader('Content-Type')!r}")
        try:
            parsed = json.loads(raw) if raw else {}
        except ValueError:
            self.shared.fail(f"{op} {method} {path}: {response.status} body is not JSON: {raw[:200]!r}")
            return None
        return response.status, parsed

    def _connection(self) -> http.client.HTTPConnection:
        if self.connection is None:
            self.connection = http.client.HTTPConnection(self.host, self.port, timeout=10)
        return self.connection

    def expect(self, op: str, answer: tuple[int, dict] | None,
               *allowed: tuple[int, str | None]) -> tuple[int, dict] | None:
        if answer is None:
            return None
        status, body = answer
        code = body.get("error_code") if isinstance(body, dict) else None
        for want_status, want_code in allowed:
            if status == want_status and (want_code is None or code == want_code):
                return answer
        self.shared.fail(f"{op}: got {status} {json.dumps(body)[:300]}, "
                         f"wanted one of {allowed}")
        return None

    # operations ------------------------------------------------------------------------

    def run(self) -> None:
        next_at = time.monotonic()
        while self.shared.take():
            self.step()
            next_at += self.interval
            pause = next_at - time.monotonic()
            if pause > 0:
                time.sleep(pause)
        if self.connection is not None:
            self.connection.close()

    def step(self) -> None:
        roll = self.random.random()
        if roll < 0.20:
            self.list()
        elif roll < 0.45:
            self.show()
        elif roll < 0.67:
            if len(self.live) >= MAX_LIVE_PER_WORKER:
                self.delete()
            else:
                self.create()
        elif roll < 0.82:
            self.delete()
        else:
            self.bad_request()

    def list(self) -> None:
        choice = self.random.random()
        if choice < 0.4:
            # Its own live connections, exactly: every id it holds, and no other. (Not the
            # deleted ones: they pile up, and answers that grow with the run would make
            # the RSS comparison measure the data instead of leaks.)
            answer = self.expect("list own", self.request(
                "list own", "GET",
                f"{self.collection}?tags=owner={self.owner}&state=CREATING,ACTIVE,FAILED"),
                (200, None))
            if answer is None:
                return
            ids = {c["connection_id"] for c in answer[1]["connections"]}
            want = set(self.live)
            if ids != want or answer[1]["count"] != len(want):
                self.shared.fail(
                    f"list own {self.owner}: {len(ids)} listed, count {answer[1]['count']}, "
                    f"{len(want)} held; missing {sorted(want - ids)[:3]}, "
                    f"extra {sorted(ids - want)[:3]}")
            return
        query = self.random.choice([
            "limit=20",
            f"limit=10&offset={self.random.randint(0, 200)}",
            "state=ACTIVE,FAILED&limit=25&order=asc",
            f"name={self.owner}-&limit=5",
            "service=RDS&tags=soak=yes&limit=50",
            "state=DELETED&limit=10",
        ])
        answer = self.expect("list", self.request("list", "GET", f"{self.collection}?{query}"),
                             (200, None))
        if answer is not None and len(answer[1]["connections"]) > answer[1]["count"]:
            # The page and the count are read in two statements, not one snapshot.
            self.shared.finding(
                "list count below its own page",
                f"GET ?{query} answered count {answer[1]['count']} with "
                f"{len(answer[1]['connections'])} connections")

    def show(self) -> None:
        held = list(self.live.items()) + list(self.deleted.items())
        if not held:
            return self.create()
        connection_id, record = self.random.choice(held)
        answer = self.expect("show", self.request(
            "show", "GET", f"{self.collection}/{connection_id}"), (200, None))
        if answer is None:
            return
        body = answer[1]
        deleted = connection_id in self.deleted
        if (body.get("name") != record.name or (body.get("state") == "DELETED") != deleted
                or body.get("destination") != record.url):
            self.shared.fail(f"show {connection_id}: {json.dumps(body)[:300]} "
                             f"but the client holds {record} deleted={deleted}")

    def create(self) -> None:
        self.sequence += 1
        name = f"{self.owner}-{self.sequence}"
        reachable = self.random.random() < 0.6
        url = self.live_url if reachable else self.refused_url
        if reachable and self.random.random() < 0.3:
            url = f"{self.live_url}, {self.live_url}"
        tags = [{"key": "owner", "value": self.owner}, {"key": "soak", "value": "yes"}]
        body = json.dumps({"name": name, "service": "RDS", "url": url, "tags": tags,
                           "security_group_id": "sg-soak", "network_id": "net-soak"})
        answer = self.expect("create", self.request(
            "create", "POST", self.collection, body.encode()), (201, None))
        if answer is None:
            return
        connection_id = answer[1].get("connection_id")
        if not isinstance(connection_id, str) or connection_id in self.live:
            self.shared.fail(f"create {name}: connection_id {connection_id!r}")
            return
        self.live[connection_id] = Record(name, url, tags, reachable)

    def delete(self) -> None:
        if not self.live:
            return self.create()
        connection_id = self.random.choice(list(self.live))
        answer = self.expect("delete", self.request(
            "delete", "DELETE", f"{self.collection}/{connection_id}"),
            (200, None), (400, "DLI.0007"))
        if answer is not None and answer[0] == 200:
            self.deleted[connection_id] = self.live.pop(connection_id)

    # A failed authentication is 401, or 429 once this address has failed faster than the
    # server's per-address limit of failures allows (the soak sends many on purpose).
    AUTH_FAILURE_ANSWERS = [(401, "APIG.0301"), (429, "APIG.0308")]

    def bad_request(self) -> None:
        auth_failure = self.AUTH_FAILURE_ANSWERS
        c = self.collection
        unknown = f"{c}/{uuid.uuid4()}"
        create = {"name": f"{self.owner}-bad", "service": "RDS", "url": self.live_url,
                  "security_group_id": "sg", "network_id": "net"}
        cases = [
            ("bad json", "POST", c, b"{bad", {}, True, (400, "DLI.0001")),
            ("missing fields", "POST", c, b'{"name":"x"}', {}, True, (400, "DLI.0001")),
            ("content type", "POST", c, json.dumps(create).encode(),
             {"Content-Type": "text/plain"}, True, (400, "DLI.0001")),
            ("scheme in url", "POST", c, json.dumps(dict(create, url="mysql://db:1")).encode(),
             {}, True, (400, "DLI.0001")),
            ("bad tag", "POST", c, json.dumps(dict(create, tags=[{"key": "_sys_x", "value": ""}])).encode(),
             {}, True, (400, "DLI.0001")),
            ("unknown id", "GET", unknown, None, {}, True, (400, "DLI.0002")),
            ("malformed id", "GET", f"{c}/not-a-uuid", None, {}, True, (400, "DLI.0002")),
            ("delete unknown", "DELETE", unknown, None, {}, True, (400, "DLI.0002")),
            ("no credentials", "GET", c, None, {}, False, auth_failure),
            ("unknown token", "GET", c, None, {"X-Auth-Token": "dsct_nope"}, False, auth_failure),
            ("forged signature", "GET", c, None,
             {"Authorization": "SDK-HMAC-SHA256 Access=AK, SignedHeaders=host;x-sdk-date, Signature=00",
              "X-Sdk-Date": time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())},
             False, auth_failure),
            ("unknown path", "GET", f"/v2.0/{PROJECT}/nothing", None, {}, True, (404, "APIG.0101")),
            ("unknown method", "PUT", c, None, {}, True, (404, "APIG.0101")),
            ("bad tags filter", "GET", f"{c}?tags==v", None, {}, True, (400, "DLI.0001")),
            ("bad limit", "GET", f"{c}?limit=0", None, {}, True, (400, "DLI.0001")),
            ("repeated parameter", "GET", f"{c}?limit=1&limit=2", None, {}, True, (400, "DLI.0001")),
            ("bad state", "GET", f"{c}?state=BOGUS", None, {}, True, (400, "DLI.0001")),
            ("bad project", "GET", "/v2.0/bad%20project/datasource-connection", None, {}, True,
             (400, "DLI.0001")),
        ]
        if self.live:
            taken = self.random.choice(list(self.live.values()))
            other = dict(create, name=taken.name, url=self.refused_url if taken.reachable
                         else self.live_url)
            cases.append(("duplicate name", "POST", c, json.dumps(other).encode(), {}, True,
                          (400, "DLI.0006")))
        if self.random.random() < 0.1:
            # On its own connection: the server may answer before reading the body.
            big = json.dumps(dict(create, padding="x" * 70_000)).encode()
            cases = [("body too large", "POST", c, big, {}, True, (413, "APIG.0201"))]
        op, method, path, body, headers, token, wanted = self.random.choice(cases)
        wanted = wanted if isinstance(wanted, list) else [wanted]
        fresh = op == "body too large"
        self.expect(f"bad: {op}", self.request(f"bad: {op}", method, path, body, headers,
                                               token, fresh), *wanted)


def prefill(server: Server, listener: Listener, args: argparse.Namespace, seed: int,
            failures: list[str]) -> list[Worker]:
    """Creates --prefill connections and deletes about half, as fast as the server goes.

    The load then starts on a database of a realistic size whose pages SQLite's caches
    (one per pooled connection) have already taken in: RSS growth measured after the
    warm-up is then growth the load causes, not caches filling up to their bound.
    """
    began = time.monotonic()
    shared = Shared(deadline=began + 120, max_requests=args.prefill * 2 + 100)
    seeders = [
        Worker(f"s{i}", server.address, server.token, shared, 0, listener.address,
               f"127.0.0.1:{closed_port()}", seed + 1000 + i)
        for i in range(args.workers)
    ]
    share = args.prefill // len(seeders)

    def fill(worker: Worker) -> None:
        for _ in range(share):
            if shared.take():
                worker.create()
        time.sleep(1)  # Lets the checks finish, so the deletes are not refused.
        for _ in range(share // 2):
            if shared.take():
                worker.delete()
        if worker.connection is not None:
            worker.connection.close()

    threads = [threading.Thread(target=fill, args=(w,), daemon=True) for w in seeders]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(150)
    # Reads that scan the whole table but answer almost nothing, several at once, so
    # that each pooled SQLite connection has the database in its page cache (512 KiB
    # each) before the baseline: otherwise RSS grows during the run by the
    # caches filling up as the database grows, which is bounded and not a leak.
    readers = [threading.Thread(target=scan, args=(server.address, server.token, index),
                                daemon=True)
               for index in range(WARM_READERS)]
    for reader in readers:
        reader.start()
    for reader in readers:
        reader.join(60)
    live = sum(len(w.live) for w in seeders)
    deleted = sum(len(w.deleted) for w in seeders)
    log(f"prefill: {live} live and {deleted} deleted connections in "
        f"{time.monotonic() - began:.1f} s; RSS {server.rss_kib()} KiB")
    if shared.unexpected_count:
        failures.append(f"{shared.unexpected_count} unexpected answers in the prefill:\n    "
                        + "\n    ".join(shared.unexpected))
    return seeders


# --- the checks after the load --------------------------------------------------------


def list_all(address: str, token: str) -> dict:
    connection = http.client.HTTPConnection(*address.rsplit(":", 1), timeout=60)
    try:
        connection.request("GET", f"/v2.0/{PROJECT}/datasource-connection",
                           headers={"X-Auth-Token": token})
        response = connection.getresponse()
        body = json.loads(response.read())
    finally:
        connection.close()
    if response.status != 200:
        raise SystemExit(f"soak: final list answered {response.status}: {body}")
    return body


def scan(address: str, token: str, index: int) -> None:
    """Queries that make SQLite read every connection and tag, answering nothing.

    Each reader's queries differ from the others' (by `index`): the server computes
    concurrent identical reads once, which would warm one pooled connection, not all.
    """
    connection = http.client.HTTPConnection(*address.rsplit(":", 1), timeout=60)
    try:
        for query in (f"name=no-such-name-{index}", f"tags=no-such-key-{index}=x&limit=1",
                      f"state=DELETED&limit=1&offset={1_000_000 + index}&order=asc"):
            connection.request("GET", f"/v2.0/{PROJECT}/datasource-connection?{query}",
                               headers={"X-Auth-Token": token})
            connection.getresponse().read()
    finally:
        connection.close()


def check_data(address: str, token: str, workers: list[Worker]) -> list[str]:
    deadline = time.monotonic() + 30
    while True:
        listed = list_all(address, token)
        creating = [c for c in listed["connections"] if c["state"] == "CREATING"]
        if not creating or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    problems = []
    if creating:
        problems.append(f"{len(creating)} connections still CREATING 30 s after the load")
    by_id = {c["connection_id"]: c for c in listed["connections"]}
    held: dict[str, tuple[Record, bool]] = {}
    for worker in workers:
        held.update({i: (r, False) for i, r in worker.live.items()})
        held.update({i: (r, True) for i, r in worker.deleted.items()})
    if listed["count"] != len(listed["connections"]):
        problems.append(f"count {listed['count']} != {len(listed['connections'])} listed")
    for extra in sorted(set(by_id) - set(held))[:10]:
        problems.append(f"listed but never acknowledged: {json.dumps(by_id[extra])[:300]}")
    for connection_id, (record, deleted) in held.items():
        got = by_id.get(connection_id)
        if got is None:
            problems.append(f"acknowledged {connection_id} ({record.name}) is missing")
            continue
        want_state = "DELETED" if deleted else ("ACTIVE" if record.reachable else "FAILED")
        wrong = []
        if got["state"] != want_state:
            wrong.append(f"state {got['state']} (want {want_state})")
        if got["name"] != record.name or got["destination"] != record.url:
            wrong.append(f"name/destination {got['name']!r} {got['destination']!r}")
        if got["service"] != "RDS":
            wrong.append(f"service {got['service']!r}")
        if sorted(got.get("tags") or [], key=lambda t: t["key"]) != record.tags:
            wrong.append(f"tags {got.get('tags')!r}")
        if wrong:
            problems.append(f"{connection_id} ({record.name}): " + "; ".join(wrong))
    return problems[:40]


# --- main -----------------------------------------------------------------------------


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--bin", required=True, help="dsconn binary")
    parser.add_argument("--duration", type=float, default=60, help="seconds of load")
    parser.add_argument("--warmup", type=float, default=10,
                        help="seconds of load before the RSS baseline")
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--rate", type=float, default=400, help="most requests per second, all workers")
    parser.add_argument("--max-requests", type=int, default=60_000)
    parser.add_argument("--max-rss-growth", type=float, default=0.10)
    parser.add_argument("--fail-on-findings", action="store_true",
                        help="fail on known inconsistencies outside the soak's criteria")
    parser.add_argument("--prefill", type=int, default=3000,
                        help="connections created (half then deleted) before the load")
    args = parser.parse_args()
    # A SIGTERM (e.g. from `timeout`) unwinds like an exception, so the server is
    # stopped and the data dir removed.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    if args.warmup >= args.duration:
        parser.error("--warmup must be shorter than --duration")

    failures: list[str] = []
    with tempfile.TemporaryDirectory(prefix="dsconn-soak.") as data_dir:
        server = Server(args.bin, data_dir)  # First: no other thread yet at its fork.
        listener = Listener()
        try:
            log(f"server pid {server.process.pid} on {server.address}; "
                f"{args.duration:.0f} s of load, {args.workers} workers, "
                f"at most {args.rate:.0f} req/s and {args.max_requests} requests")
            seed = random.randrange(2**32)
            log(f"seed {seed}")
            seeders = prefill(server, listener, args, seed, failures)
            started = time.monotonic()
            shared = Shared(deadline=started + args.duration, max_requests=args.max_requests)
            workers = [
                Worker(f"w{i}", server.address, server.token, shared,
                       args.workers / args.rate, listener.address,
                       f"127.0.0.1:{closed_port()}", seed + i)
                for i in range(args.workers)
            ]
            for worker in workers:
                worker.start()
            log(f"at the start of the load: {server.memory_breakdown()}")
            # RSS once a second. Growth compares the median of the first RSS_WINDOW
            # seconds after the warm-up with the median of the last RSS_WINDOW seconds:
            # single readings swing by a few MiB with whatever answer is in flight (a
            # momentary peak is not growth), while a leak moves the whole window.
            samples: list[tuple[float, int]] = []
            next_sample = started
            while any(w.is_alive() for w in workers):
                now = time.monotonic()
                if now >= next_sample:
                    samples.append((now - started, server.rss_kib()))
                    next_sample += 1
                if server.process.poll() is not None:
                    failures.append(f"the server exited with {server.process.returncode} under load")
                    break
                time.sleep(0.05)
            for worker in workers:
                worker.join(30)
            elapsed = time.monotonic() - started
            if server.process.poll() is None:
                log(f"at the end of the load: {server.memory_breakdown()}")
            log("RSS KiB every 5 s: " + ", ".join(
                f"{t:.0f}s={kib}" for t, kib in samples if round(t) % 5 == 0))
            after_warmup = [kib for t, kib in samples if t >= args.warmup]
            if len(after_warmup) < 2 * RSS_WINDOW:
                failures.append(f"too few RSS samples after the warm-up: {len(after_warmup)}")
            else:
                first = statistics.median(after_warmup[:RSS_WINDOW])
                last = statistics.median(after_warmup[-RSS_WINDOW:])
                growth = (last - first) / first
                log(f"RSS median of the first {RSS_WINDOW} s after warm-up {first:.0f} KiB, "
                    f"of the last {RSS_WINDOW} s {last:.0f} KiB: {growth:+.1%} "
                    f"(limit {args.max_rss_growth:.0%}); peak {max(after_warmup)} KiB")
                if growth >= args.max_rss_growth:
                    failures.append(f"RSS grew {growth:+.1%} ({first:.0f} -> {last:.0f} KiB)")
            total = sum(shared.by_op.values())
            log(f"{shared.sent} requests sent, {total} answered in {elapsed:.1f} s "
                f"({total / elapsed:.0f}/s)")
            for key, count in sorted(shared.by_op.items()):
                log(f"  {count:6d}  {key}")
            held = sum(len(w.live) for w in workers)
            deleted = sum(len(w.deleted) for w in workers)
            log(f"client holds {held} live and {deleted} deleted connections")
            for kind, count in shared.findings.items():
                log(f"finding: {kind}: {count} times")
                if args.fail_on_findings:
                    failures.append(f"finding: {kind}: {count} times")
            if shared.unexpected_count:
                failures.append(f"{shared.unexpected_count} unexpected answers, first ones:\n    "
                                + "\n    ".join(shared.unexpected))
            if server.process.poll() is None:
                problems = check_data(server.address, server.token, workers + seeders)
                if problems:
                    failures.append("the data differs from what the client recorded:\n    "
                                    + "\n    ".join(problems))
                else:
                    log(f"data matches the client's record ({held + deleted} connections "
                        "from the load, and the prefill)")
            database = sum(os.path.getsize(os.path.join(data_dir, name))
                           for name in os.listdir(data_dir) if name.startswith("dsconn.db"))
            log(f"database and WAL at the end: {database // 1024} KiB")
            if server.error_lines:
                failures.append(f"{len(server.error_lines)} ERROR log lines, first ones:\n    "
                                + "\n    ".join(server.error_lines[:10]))
        finally:
            code = server.stop()
            listener.stop()
        if code != 0:
            failures.append(f"the server did not stop cleanly on SIGTERM (exit {code})")

    for failure in failures:
        log(f"FAIL: {failure}")
    if failures:
        print("soak: 0 passed, 1 failed")
        return 1
    print("soak: 1 passed, 0 failed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
