#!/usr/bin/env python3
"""Helpers for bench/run (standard library only).

Each subcommand does one job for the shell script and, where it measures something,
writes a small JSON "fact" file; `report` turns the facts and wrk's results into
BENCHMARKS.md. Everything talks to 127.0.0.1 only, and every loop is bounded.
"""

import argparse
import asyncio
import concurrent.futures
import http.client
import json
import os
import platform
import re
import resource
import signal
import socket
import sqlite3
import statistics
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests"))
import harness  # noqa: E402  (tests/harness.py: ports, listener, processes)
from harness import LOOPBACK, free_port, stop_process  # noqa: E402


def log(message):
    print(f"[bench] {message}", file=sys.stderr, flush=True)


def write_json(path, value):
    with open(path, "w", encoding="utf-8") as out:
        json.dump(value, out, indent=2, sort_keys=True)
        out.write("\n")


def read_json(path):
    with open(path, encoding="utf-8") as source:
        return json.load(source)


def token():
    return os.environ["BENCH_TOKEN"]


class Api:
    """A keep-alive HTTP/1.1 client for dsconn, one connection per thread."""

    def __init__(self, port, timeout=30.0):
        self.port = port
        self.timeout = timeout
        self.local = threading.local()

    def _connection(self):
        if getattr(self.local, "conn", None) is None:
            self.local.conn = http.client.HTTPConnection(LOOPBACK, self.port, timeout=self.timeout)
        return self.local.conn

    def request(self, method, path, body=None, attempts=3):
        """Returns (status, body bytes); reconnects and retries on a dropped connection."""
        headers = {"X-Auth-Token": token()}
        payload = None
        if body is not None:
            payload = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        for attempt in range(attempts):
            conn = self._connection()
            try:
                conn.request(method, path, body=payload, headers=headers)
                response = conn.getresponse()
                return response.status, response.read()
            except (OSError, http.client.HTTPException):
                conn.close()
                self.local.conn = None
                if attempt + 1 == attempts:
                    raise
                time.sleep(0.2 * (attempt + 1))
        raise AssertionError("unreachable")

    def get_json(self, path):
        status, body = self.request("GET", path)
        if status != 200:
            raise SystemExit(f"GET {path} answered {status}: {body[:300]!r}")
        return json.loads(body)

    def count(self, project, query=""):
        """The list's `count` for a filter, fetching one row at most."""
        sep = "&" if query else ""
        return self.get_json(f"/v2.0/{project}/datasource-connection?{query}{sep}limit=1")["count"]


# --- processes and ports -------------------------------------------------------------


def cmd_listener(args):
    """A TCP server that accepts and closes: the destination that makes checks ACTIVE."""
    listener = harness.Listener(backlog=4096, max_seconds=args.max_seconds)
    print(listener.port, flush=True)
    listener.wait()


def cmd_closed_port(_args):
    """A loopback port nobody listens on (bound, then released): checks there FAIL."""
    print(harness.closed_port())


def pid_alive(pid):
    try:
        os.kill(pid, 0)
        return True
    except ProcessLookupError:
        return False


def cmd_wait_serving(args):
    """Waits for dsconn's `dsconn is serving` log line and prints its listen address."""
    deadline = time.monotonic() + args.timeout
    while time.monotonic() < deadline:
        try:
            with open(args.log, encoding="utf-8", errors="replace") as source:
                for line in source:
                    listen = harness.listen_address(line)
                    if listen:
                        print(listen.rsplit(":", 1)[1])
                        return
        except FileNotFoundError:
            pass
        if not pid_alive(args.pid):
            raise SystemExit(f"dsconn exited before serving; log:\n{tail(args.log)}")
        time.sleep(0.05)
    raise SystemExit(f"dsconn did not serve within {args.timeout}s; log:\n{tail(args.log)}")


def tail(path, lines=20):
    try:
        with open(path, encoding="utf-8", errors="replace") as source:
            return "".join(source.readlines()[-lines:])
    except FileNotFoundError:
        return "(no log)"


def rss_kib(pid):
    """VmRSS of a process from /proc, in KiB."""
    with open(f"/proc/{pid}/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise SystemExit(f"no VmRSS for pid {pid}")


def cmd_rss(args):
    value = rss_kib(args.pid)
    write_json(args.out, {"rss_kib": value, "at": args.label})
    log(f"RSS {args.label}: {value / 1024:.1f} MiB")


def http_status(port, path, timeout=1.0):
    """One GET with a fresh connection; the status code, or None if not answered."""
    try:
        conn = http.client.HTTPConnection(LOOPBACK, port, timeout=timeout)
        conn.request("GET", path)
        status = conn.getresponse().status
        conn.close()
        return status
    except (OSError, http.client.HTTPException):
        return None


def cmd_startup(args):
    """Spawns a server several times and measures spawn -> first 200 on a path.

    The command gets `{port}` replaced by a free loopback port. With --rss-after, also
    reads the server's VmRSS that long after its first answer (idle memory).
    """
    samples_ms, rss_samples = [], []
    for run in range(args.runs):
        port = free_port()
        command = [part.replace("{port}", str(port)) for part in args.command]
        with open(args.log, "a", encoding="utf-8") as server_log:
            started = time.monotonic()
            process = subprocess.Popen(command, stdout=server_log, stderr=server_log)
            try:
                deadline = started + args.timeout
                while True:
                    if http_status(port, args.path, timeout=args.timeout) == 200:
                        samples_ms.append((time.monotonic() - started) * 1000.0)
                        break
                    if process.poll() is not None:
                        raise SystemExit(f"{command[0]} exited early; log: {args.log}")
                    if time.monotonic() > deadline:
                        raise SystemExit(f"{command[0]} answered nothing in {args.timeout}s")
                    time.sleep(0.001)
                if args.rss_after is not None:
                    time.sleep(args.rss_after)
                    rss_samples.append(rss_kib(process.pid))
            finally:
                stop_process(process)
        log(f"start-up run {run + 1}/{args.runs}: {samples_ms[-1]:.1f} ms")
    fact = {"samples_ms": samples_ms, "median_ms": statistics.median(samples_ms)}
    if rss_samples:
        fact["rss_kib"] = max(rss_samples)
    write_json(args.out, fact)


# --- seeding and checking state through the API ------------------------------------------

SERVICES = ["RDS", "DWS", "CSS"]
SEED_ATTEMPTS = 5


def connection_body(prefix, index, listen_port, closed_port, failed_every):
    """A realistic create body; every failed_every-th points at a closed port (FAILED)."""
    failing = failed_every > 0 and index % failed_every == failed_every - 1
    port = closed_port if failing else listen_port
    return {
        "name": f"{prefix}-{index:06d}",
        "service": SERVICES[index % len(SERVICES)],
        "url": f"{LOOPBACK}:{port}",
        "security_group_id": "sg-bench-0001",
        "network_id": "net-bench-0001",
        "tags": [
            {"key": "env", "value": "prod" if index % 2 else "dev"},
            {"key": "team", "value": f"team-{index % 10}"},
        ],
    }


def cmd_seed(args):
    """Creates `count` connections through the API with `concurrency` clients."""
    api = Api(args.port)
    path = f"/v2.0/{args.project}/datasource-connection"
    next_index = iter(range(args.count))
    lock = threading.Lock()
    done = [0]
    started = time.monotonic()
    report_every = max(1, args.count // 10)
    # Create rate per tenth of the seeding: shows whether creates slow down as the
    # project grows.
    marks = [(0, started)]
    rates = []
    retried = {}

    def create_all():
        while True:
            with lock:
                index = next(next_index, None)
            if index is None:
                return
            body = connection_body(args.prefix, index, args.listen_port, args.closed_port,
                                   args.failed_every)
            for attempt in range(SEED_ATTEMPTS):
                status, answer = api.request("POST", path, body)
                # A retried create whose first try was committed answers "duplicate name".
                if status == 201 or (status == 400 and b"DLI.0006" in answer):
                    break
                # A server error (e.g. SQLite's "database is locked" after its busy
                # timeout) or throttling: counted for the report, retried like a client
                # would, a few times.
                if status in (429, 500, 503) and attempt + 1 < SEED_ATTEMPTS:
                    with lock:
                        retried[str(status)] = retried.get(str(status), 0) + 1
                    time.sleep(0.5 * (attempt + 1))
                    continue
                raise SystemExit(f"create #{index} answered {status}: {answer[:300]!r}")
            with lock:
                done[0] += 1
                if done[0] % report_every == 0:
                    now = time.monotonic()
                    rate = (done[0] - marks[-1][0]) / (now - marks[-1][1])
                    marks.append((done[0], now))
                    rates.append(round(rate))
                    log(f"{args.project}: {done[0]}/{args.count} created "
                        f"(last {report_every}: {rate:.0f}/s)")

    with concurrent.futures.ThreadPoolExecutor(args.concurrency) as pool:
        workers = [pool.submit(create_all) for _ in range(args.concurrency)]
        for worker in workers:
            worker.result()
    elapsed = time.monotonic() - started
    write_json(args.out, {
        "project": args.project,
        "count": args.count,
        "concurrency": args.concurrency,
        "seconds": elapsed,
        "per_second": args.count / elapsed,
        "rate_per_tenth": rates,
        "retried": retried,
    })
    if retried:
        log(f"{args.project}: creates retried after a server error, by status: {retried}")


def cmd_settle(args):
    """Waits until no connection of the project is CREATING, then records state counts."""
    api = Api(args.port)
    started = time.monotonic()
    deadline = started + args.timeout
    while True:
        creating = api.count(args.project, "state=CREATING")
        if creating == 0:
            break
        if time.monotonic() > deadline:
            raise SystemExit(f"{args.project}: {creating} still CREATING after {args.timeout}s")
        time.sleep(0.5)
    fact = {
        "project": args.project,
        "total": api.count(args.project),
        "active": api.count(args.project, "state=ACTIVE"),
        "failed": api.count(args.project, "state=FAILED"),
        "settle_seconds": time.monotonic() - started,
    }
    if args.expect is not None and fact["total"] != args.expect:
        raise SystemExit(f"{args.project}: {fact['total']} connections, expected {args.expect}")
    write_json(args.out, fact)
    log(f"{args.project}: {fact['total']} connections ({fact['active']} ACTIVE, "
        f"{fact['failed']} FAILED)")


def cmd_fetch(args):
    """Saves the exact body dsconn answers for a path: what the static server will serve."""
    status, body = Api(args.port).request("GET", args.path)
    if status != 200:
        raise SystemExit(f"GET {args.path} answered {status}: {body[:300]!r}")
    json.loads(body)
    with open(args.out, "wb") as out:
        out.write(body)
    print(len(body))


def cmd_first_id(args):
    """The id of the newest connection in a project (to benchmark show)."""
    listing = Api(args.port).get_json(f"/v2.0/{args.project}/datasource-connection?limit=1")
    print(listing["connections"][0]["connection_id"])


def cmd_durability(args):
    """After a SIGKILL and restart: is every acknowledged create stored?"""
    with open(args.ids, encoding="ascii") as source:
        acknowledged = {line.strip() for line in source if line.strip()}
    listing = Api(args.port, timeout=120).get_json(f"/v2.0/{args.project}/datasource-connection")
    stored = {item["connection_id"] for item in listing["connections"]}
    fact = {
        "acknowledged": len(acknowledged),
        "stored": len(stored),
        "missing": len(acknowledged - stored),
        # Committed while wrk was stopping, so never acknowledged: not a loss.
        "unacknowledged_stored": len(stored - acknowledged),
    }
    write_json(args.out, fact)
    log(f"durability: {fact}")


def cmd_sweep(args):
    """Measures one health re-check sweep of a project whose ACTIVE connections are all due.

    The server was (re)started at --since-ms with every connection overdue; this polls the
    list until every ACTIVE connection shows a last_checked_at after that, sampling the
    server's RSS meanwhile. The sweep time uses the server's own timestamps, so the poll
    period only delays the answer, it does not enter the figure. Polls read small pages
    and stop at the first page with a connection not yet re-checked, so they cost the
    server about one page each (an unpaged list of 10,000 would itself take tens of MiB
    and skew both the time and the memory measured). The memory figures leave out the
    last poll, which reads every page once the sweep is over.
    """
    api = Api(args.port, timeout=60)
    rss = [rss_kib(args.pid)]
    deadline = time.monotonic() + args.timeout
    next_poll = time.monotonic()
    while True:
        rss.append(rss_kib(args.pid))
        if time.monotonic() >= next_poll:
            checked = sweep_progress(api, args.project, args.since_ms)
            if checked is False:
                write_json(args.out, {"measured": False,
                                      "why": "the list has no last_checked_at field"})
                return
            if checked:
                break
            if time.monotonic() > deadline:
                raise SystemExit(f"sweep: not every connection re-checked after {args.timeout}s")
            next_poll = time.monotonic() + args.poll
        time.sleep(0.25)
    fact = {
        "measured": True,
        "connections": len(checked),
        "first_to_last_s": (max(checked) - min(checked)) / 1000.0,
        "spawn_to_last_s": (max(checked) - args.since_ms) / 1000.0,
        "rss_before_kib": rss[0],
        "rss_peak_kib": max(rss),
        "rss_after_kib": rss[-1],
    }
    write_json(args.out, fact)
    log(f"sweep: {fact}")


def sweep_progress(api, project, since_ms, page=200):
    """The re-check times of every ACTIVE connection if all are after since_ms; None if
    some is not yet; False if the server reports no last_checked_at at all."""
    times = []
    for offset in range(0, 10_000_000, page):
        items = api.get_json(f"/v2.0/{project}/datasource-connection"
                             f"?state=ACTIVE&limit={page}&offset={offset}")["connections"]
        if items and "last_checked_at" not in items[0]:
            return False
        for item in items:
            if (item.get("last_checked_at") or 0) < since_ms:
                return None
            times.append(item["last_checked_at"])
        if len(items) < page:
            return times or None
    return None


def cmd_sqlite_baseline(args):
    """Durable single-row commits/s of SQLite on this disk (WAL, synchronous=FULL).

    The physical limit for creates acknowledged one commit each: dsconn can beat it
    only by grouping commits.
    """
    path = os.path.join(args.dir, "baseline.db")
    for suffix in ("", "-wal", "-shm"):   # a fresh database each time
        if os.path.exists(path + suffix):
            os.remove(path + suffix)
    db = sqlite3.connect(path, isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=FULL")
    db.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, body TEXT NOT NULL)")
    body = "x" * 400
    commits = 0
    started = time.monotonic()
    while time.monotonic() - started < args.seconds:
        db.execute("BEGIN")
        db.execute("INSERT INTO t (body) VALUES (?)", (body,))
        db.execute("COMMIT")
        commits += 1
    elapsed = time.monotonic() - started
    db.close()
    write_json(args.out, {"commits": commits, "seconds": elapsed, "per_second": commits / elapsed})


# The PostgreSQL baseline's one statement: an autocommit INSERT of a 400-byte row, as
# sqlite-baseline writes; a create's own row is of that order.
PG_BASELINE_SQL = "INSERT INTO bench_commits (body) VALUES (repeat('x', 400));\n"
PG_SETTINGS = ("server_version", "synchronous_commit", "fsync", "wal_sync_method",
               "commit_delay", "max_connections")


def cmd_pg_baseline(args):
    """Durable single-statement commits/s of PostgreSQL: pgbench with `clients` clients
    (one thread, as wrk has), each running one autocommit INSERT after another, prepared
    as dsconn's statements are. The physical limit for creates committed one statement
    each: dsconn can beat it only by grouping or pipelining writes. The server's settings
    that decide what a commit costs are recorded beside the rate."""
    if not (args.host.startswith("127.") or args.host in ("::1", "localhost")):
        raise SystemExit(f"pg-baseline: {args.host} is not loopback")
    script = os.path.join(args.dir, "pg_commit.sql")
    with open(script, "w", encoding="ascii") as out:
        out.write(PG_BASELINE_SQL)
    connect = ["-h", args.host, "-p", str(args.port), "-U", args.user]
    env = dict(os.environ, PGCONNECT_TIMEOUT="10")
    command = ["pgbench", "--no-vacuum", "--protocol=prepared", "--file", script,
               "--client", str(args.clients), "--jobs", "1", "--time", str(args.seconds),
               *connect, args.db]
    try:
        done = subprocess.run(command, capture_output=True, text=True, env=env, check=False,
                              timeout=args.seconds + 120, stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        raise SystemExit(f"pgbench ran over {args.seconds + 120} s: {' '.join(command)}")
    tps = re.search(r"^tps = ([0-9.]+)", done.stdout, re.M)
    if done.returncode != 0 or not tps:
        raise SystemExit(f"pgbench failed (exit {done.returncode}): {' '.join(command)}\n"
                         f"{done.stdout[-2000:]}{done.stderr[-2000:]}")
    processed = re.search(r"^number of transactions actually processed: (\d+)", done.stdout,
                          re.M)
    latency = re.search(r"^latency average = ([0-9.]+) ms", done.stdout, re.M)
    query = "SELECT " + ", ".join(f"current_setting('{name}')" for name in PG_SETTINGS)
    shown = subprocess.run(["psql", "-X", "-A", "-t", "-F", "|", *connect, "-d", args.db,
                            "-c", query], capture_output=True, text=True, env=env, check=True,
                           timeout=60, stdin=subprocess.DEVNULL).stdout.strip()
    fact = {"clients": args.clients, "seconds": args.seconds,
            "per_second": float(tps.group(1)),
            "commits": int(processed.group(1)) if processed else None,
            "latency_mean_ms": float(latency.group(1)) if latency else None,
            "statement": PG_BASELINE_SQL.strip(),
            "settings": dict(zip(PG_SETTINGS, shown.split("|")))}
    write_json(args.out, fact)
    log(f"PostgreSQL, {args.clients} client(s): {fact['per_second']:,.0f} commits/s, "
        f"latency mean {fact['latency_mean_ms']} ms")


# --- the audit trail (issue 28) ----------------------------------------------------------


def events_path(project, query):
    return f"/dsconn/v1/{project}/events?{query}"


def event_ids(api, project, query=""):
    """Every event id of a project matching `query`, oldest first, paging by the cursor."""
    ids, after = [], None
    for _ in range(100_000):
        cursor = f"&after={after}" if after is not None else ""
        page = api.get_json(events_path(project, f"order=asc&limit=1000{query}{cursor}"))
        ids.extend(event["id"] for event in page["events"])
        after = page.get("next")
        if after is None:
            return ids
    raise SystemExit(f"{project}: more than 100,000 pages of events")


def cmd_events_check(args):
    """After the create runs with and without events: each run with events recorded one
    create event per stored connection, each run without recorded none. Otherwise the
    ratio compares the wrong things, and the step is broken."""
    api = Api(args.port, timeout=60)
    fact = {}
    for project, recorded in [(p, True) for p in args.recorded] + \
                              [(p, False) for p in args.unrecorded]:
        connections = api.count(project)
        creates = len(event_ids(api, project, "&resource_type=connection&action=create"))
        every = len(event_ids(api, project))
        fact[project] = {"connections": connections, "create_events": creates, "events": every}
        expected = connections if recorded else 0
        if creates != expected or (not recorded and every):
            raise SystemExit(f"{project}: {connections} connections, {creates} create events "
                             f"({every} events in all); expected {expected} create events")
        log(f"{project}: {connections} connections, {creates} create events, {every} in all")
    write_json(args.out, fact)


def cmd_fanout_writer(args):
    """The fan-out's writer (a process of its own, so that it takes no time from the
    readers): creates at a steady pace, waits until every check has ended, then writes
    the ids of every event the project has, oldest first: what each reader must get."""
    api = Api(args.port)
    path = f"/v2.0/{args.project}/datasource-connection"
    started = time.monotonic()
    for index in range(args.count):
        delay = started + index / args.rate - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        body = connection_body(args.project, index, args.listen_port, args.listen_port, 0)
        status, answer = api.request("POST", path, body)
        if status != 201:
            raise SystemExit(f"create #{index} answered {status}: {answer[:300]!r}")
    seconds = time.monotonic() - started
    deadline = time.monotonic() + 120
    while api.count(args.project, "state=CREATING"):
        if time.monotonic() > deadline:
            raise SystemExit(f"{args.project}: checks still running after 120 s")
        time.sleep(0.1)
    write_json(args.out, {"created": args.count, "seconds": seconds,
                          "per_second": args.count / seconds,
                          "events": event_ids(api, args.project)})


class EventStream:
    """One SSE reader: decodes the chunked body as it arrives and keeps every frame with
    the time its last byte was read. The events' JSON is parsed afterwards, so that a
    reader does as little as possible while receiving (the receive times are the point)."""

    def __init__(self):
        self.raw = bytearray()
        self.chunk_left = None   # None: a chunk-size line comes next
        self.text = bytearray()
        self.frames = []         # (receive ms, event, id, data)
        self.last_id = 0
        self.ready = False
        self.ended = None        # why the stream ended early, if it did

    def feed(self, data, now_ms):
        self.raw += data
        while True:
            if self.chunk_left is None:
                end = self.raw.find(b"\r\n")
                if end < 0:
                    break
                size = int(bytes(self.raw[:end]).split(b";")[0], 16)
                del self.raw[:end + 2]
                if size == 0:
                    self.ended = "the server ended the stream"
                    break
                self.chunk_left = size
            elif len(self.raw) >= self.chunk_left + 2:
                self.text += self.raw[:self.chunk_left]
                del self.raw[:self.chunk_left + 2]
                self.chunk_left = None
            else:
                break
        while (end := self.text.find(b"\n\n")) >= 0:
            frame = bytes(self.text[:end])
            del self.text[:end + 2]
            self._frame(frame, now_ms)

    def _frame(self, frame, now_ms):
        fields = {}
        for line in frame.split(b"\n"):
            if line.startswith(b":"):   # a comment: the heartbeat
                continue
            name, _, value = line.partition(b":")
            fields[name.decode()] = value[1:] if value.startswith(b" ") else value
        event = fields.get("event", b"message").decode()
        if event == "ready":
            self.ready = True
        elif event == "change":
            self.last_id = int(fields["id"])
            self.frames.append((now_ms, int(fields["id"]), fields["data"]))
        elif "data" in fields or "event" in fields:
            self.ended = f"event {event!r}: {fields.get('data', b'')[:200]!r}"


async def read_stream(port, project, stream):
    """Opens the project's event stream over a raw HTTP/1.1 connection and feeds `stream`
    until cancelled, the server ends it, or it ends early (then `stream.ended` says why)."""
    try:
        reader, writer = await asyncio.open_connection(LOOPBACK, port)
    except OSError as error:
        stream.ended = f"connect: {error}"
        return
    try:
        writer.write(f"GET /dsconn/v1/{project}/events/stream HTTP/1.1\r\n"
                     f"Host: {LOOPBACK}:{port}\r\nX-Auth-Token: {token()}\r\n"
                     "Accept: text/event-stream\r\n\r\n".encode())
        await writer.drain()
        head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1")
        status = head.split(" ", 2)[1]
        if status != "200" or "transfer-encoding: chunked" not in head.lower():
            body = await asyncio.wait_for(reader.read(500), 5)
            stream.ended = f"answered {head.splitlines()[0]!r}: {body!r}"
            return
        while stream.ended is None:
            data = await reader.read(65536)
            now_ms = time.time() * 1000.0
            if not data:
                stream.ended = "the server closed the connection"
                return
            stream.feed(data, now_ms)
    except asyncio.IncompleteReadError:
        stream.ended = "the server closed the connection before answering"
    except (OSError, ValueError, asyncio.LimitOverrunError) as error:
        stream.ended = f"{type(error).__name__}: {error}"
    finally:
        writer.close()


def percentile(ordered, pct):
    """Nearest-rank percentile of a sorted list."""
    rank = max(1, -(-len(ordered) * pct // 100))
    return ordered[int(rank) - 1]


def cmd_fanout(args):
    """Event stream fan-out: `clients` readers on one project's stream, then a writer
    making changes at a steady pace. Each reader must get every event of the project
    exactly once, in id order (else the step is broken); the figure is the delivery
    delay, receive time minus the event's commit time, over every reader and event."""
    streams = [EventStream() for _ in range(args.clients)]

    def broken():
        for index, stream in enumerate(streams):
            if stream.ended:
                return f"reader {index}: {stream.ended}"
        return None

    async def wait_until(condition, seconds, what):
        deadline = time.monotonic() + seconds
        while not condition():
            if why := broken():
                raise SystemExit(f"fan-out: {why}")
            if time.monotonic() > deadline:
                raise SystemExit(f"fan-out: {what} after {seconds} s")
            await asyncio.sleep(0.02)

    async def run():
        tasks = [asyncio.create_task(read_stream(args.port, args.project, stream))
                 for stream in streams]
        writer = None
        try:
            await wait_until(lambda: all(s.ready for s in streams), 30,
                             f"{sum(not s.ready for s in streams)} readers not ready")
            cpu_server, cpu_self = process_cpu_s(args.pid), process_cpu_s(os.getpid())
            started = time.monotonic()
            writer = await asyncio.create_subprocess_exec(
                sys.executable, os.path.abspath(__file__), "fanout-writer",
                "--port", str(args.port), "--project", args.project,
                "--count", str(args.count), "--rate", str(args.rate),
                "--listen-port", str(args.listen_port), "--out", args.writer_out)
            await wait_until(lambda: writer.returncode is not None, 300, "the writer still runs")
            if writer.returncode != 0:
                raise SystemExit(f"fan-out: the writer failed (exit {writer.returncode})")
            expected = read_json(args.writer_out)["events"]
            if not expected:
                raise SystemExit("fan-out: the writer's changes recorded no events")
            await wait_until(lambda: all(s.last_id >= expected[-1] for s in streams), 60,
                             "not every reader has the last event")
            elapsed = time.monotonic() - started
            cpu = {"server": process_cpu_s(args.pid) - cpu_server,
                   "readers": process_cpu_s(os.getpid()) - cpu_self}
            # Time for a duplicate or a stray event to show before the readers close.
            await asyncio.sleep(0.5)
            if why := broken():
                raise SystemExit(f"fan-out: {why}")
            return expected, elapsed, cpu
        finally:
            if writer is not None and writer.returncode is None:
                writer.kill()
                await writer.wait()
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

    expected, elapsed, cpu = asyncio.run(run())
    delays, by_event = [], {}
    for index, stream in enumerate(streams):
        got = [event_id for _, event_id, _ in stream.frames]
        if got != expected:
            missing = sorted(set(expected) - set(got))
            unexpected = sorted(set(got) - set(expected))
            raise SystemExit(
                f"fan-out: reader {index} got {len(got)} events, expected {len(expected)} "
                f"in id order: {len(missing)} missing (first {missing[:5]}), "
                f"{len(got) - len(set(got))} duplicates, in order: {got == sorted(got)}, "
                f"unexpected: {unexpected[:5]}")
        for received, event_id, data in stream.frames:
            event = json.loads(data)
            if event["id"] != event_id or event.get("project_id") != args.project:
                raise SystemExit(f"fan-out: frame id {event_id} carried {data[:300]!r}")
            delays.append(received - event["time"])
            by_event.setdefault(event_id, []).append(received)
    delays.sort()
    spreads = sorted(max(times) - min(times) for times in by_event.values())
    writer = read_json(args.writer_out)
    fact = {
        "measured": True,
        "clients": args.clients,
        "writes": args.count,
        "rate_asked": args.rate,
        "rate_achieved": writer["per_second"],
        "events": len(expected),
        "deliveries": len(delays),
        "delay_ms": {"p50": percentile(delays, 50), "p99": percentile(delays, 99),
                     "max": delays[-1], "mean": statistics.mean(delays)},
        "spread_ms": {"p99": percentile(spreads, 99), "max": spreads[-1]},
        "cpu_pct_of_one_core": {name: round(100 * seconds / elapsed)
                                for name, seconds in cpu.items()},
    }
    write_json(args.out, fact)
    log(f"fan-out to {args.clients}: {len(expected)} events to every reader, once each, in "
        f"order; delivery p50 {fact['delay_ms']['p50']:.1f} ms, p99 "
        f"{fact['delay_ms']['p99']:.1f} ms, max {fact['delay_ms']['max']:.1f} ms; CPU % of a "
        f"core: server {fact['cpu_pct_of_one_core']['server']}, readers "
        f"{fact['cpu_pct_of_one_core']['readers']}")


# --- wrk ------------------------------------------------------------------------------


CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def machine_busy_s():
    """CPU seconds all cores spent busy since boot (iowait counts as idle)."""
    with open("/proc/stat", encoding="ascii") as stat:
        fields = [int(x) for x in stat.readline().split()[1:]]
    user, nice, system, _idle, _iowait, irq, softirq, steal = fields[:8]
    return (user + nice + system + irq + softirq + steal) / CLOCK_TICKS


def process_cpu_s(pid):
    """CPU seconds a process (all its threads) has used."""
    with open(f"/proc/{pid}/stat", encoding="ascii") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def children_cpu_s():
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def cmd_wrk(args):
    """Runs wrk and records its result plus where the machine's CPU went meanwhile:
    the server under test, wrk, and everything else (other work skews the figures, and
    this shows by how much). A run with failed requests is a broken step."""
    raw = os.path.join(args.dir, f"{args.name}.txt")
    # wrk has been seen (once, in CI) to exit 0 having printed nothing at all, not even
    # its "Running" line; such a run measured nothing, so it is run once more.
    for attempt in (1, 2):
        busy, server, client = machine_busy_s(), process_cpu_s(args.pid), children_cpu_s()
        started = time.monotonic()
        with open(raw, "w", encoding="utf-8") as out:
            completed = subprocess.run(args.command, stdout=out, stderr=subprocess.STDOUT,
                                       check=False)
        elapsed = time.monotonic() - started
        with open(raw, encoding="utf-8", errors="replace") as source:
            text = source.read()
        if completed.returncode == 0 and not text.strip() and attempt == 1:
            log(f"{args.name}: wrk exited 0 with no output; running it once more")
            continue
        break
    cpu = {
        "server": process_cpu_s(args.pid) - server,
        "wrk": children_cpu_s() - client,
        "machine": machine_busy_s() - busy,
    }
    cpu["other"] = max(0.0, cpu["machine"] - cpu["server"] - cpu["wrk"])
    cpu_pct = {name: round(100 * seconds / elapsed) for name, seconds in cpu.items()}
    lines = [line for line in text.splitlines() if line.startswith("BENCH_JSON ")]
    if completed.returncode != 0 or not lines:
        raise SystemExit(f"{raw}: wrk failed (exit {completed.returncode}):\n{text[-2000:]}")
    result = json.loads(lines[-1][len("BENCH_JSON "):])
    errors = result["errors"]
    if result["requests"] == 0 or errors["connect"] or (errors["status"] and not args.allow_status):
        raise SystemExit(f"{raw}: failed requests: {json.dumps(result)}")
    result["rps"] = result["requests"] / (result["duration_us"] / 1e6)
    result["name"] = args.name
    result["cpu_pct_of_one_core"] = cpu_pct
    write_json(os.path.join(args.dir, f"{args.name}.json"), result)
    extra = f", {result['created']} created" if "created" in result else ""
    if errors["timeout"]:
        extra += f", {errors['timeout']} timed out"
    log(f"{args.name}: {result['rps']:.0f} req/s, p50 {result['latency_us']['p50'] / 1000:.2f} ms, "
        f"p99 {result['latency_us']['p99'] / 1000:.2f} ms{extra}; CPU % of a core: "
        f"server {cpu_pct['server']}, wrk {cpu_pct['wrk']}, other {cpu_pct['other']}")


# --- the report -----------------------------------------------------------------------


def machine():
    def run(*command):
        try:
            return subprocess.run(command, capture_output=True, text=True, check=True).stdout
        except (OSError, subprocess.CalledProcessError):
            return ""

    cpu = "unknown"
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as info:
            for line in info:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return {
        "nproc": run("nproc").strip(),
        "cpu": cpu,
        "kernel": platform.release(),
        "free": run("free", "-h").rstrip(),
        "wrk": run("sh", "-c", "wrk --version 2>&1 | head -1").strip(),
        "rustc": run("rustc", "--version").strip(),
    }


class Facts:
    def __init__(self, work):
        self.work = work

    def wrk(self, name):
        return self._load(os.path.join(self.work, "wrk", f"{name}.json"))

    def fact(self, name):
        return self._load(os.path.join(self.work, "facts", f"{name}.json"))

    @staticmethod
    def _load(path):
        return read_json(path) if os.path.exists(path) else None


def fmt_rps(value):
    return f"{value:,.0f} req/s"


def fmt_ms(us):
    return f"{us / 1000:.2f} ms"


def fmt_mib(kib):
    return f"{kib / 1024:.1f} MiB"


def yes_no(met):
    if met is None:
        return "—"
    return "yes" if met else "**NO**"


class Report:
    """Markdown tables: figure, baseline, ratio, target, met."""

    def __init__(self, facts):
        self.facts = facts
        self.sections = []
        self.summary = []

    def table(self, title, rows, notes=(), runs=()):
        """runs: the wrk runs behind the table, for the note on other CPU use."""
        notes = [note for note in notes if note]
        load = cpu_note(self.facts, runs)
        if load:
            notes.append(load)
        lines = [f"### {title}", "",
                 "| measure | figure | baseline | ratio | target | met |",
                 "|---|---|---|---|---|---|"]
        for row in rows:
            lines.append("| " + " | ".join(row[:5]) + f" | {yes_no(row[5])} |")
            if row[5] is not None:
                self.summary.append((title, row[0], row[1], row[4], row[5]))
        lines.extend(["", " ".join(notes), ""] if notes else [""])
        self.sections.append("\n".join(lines))


def rps_row(label, ours, base, base_label, minimum):
    ratio = ours["rps"] / base["rps"]
    return [label, fmt_rps(ours["rps"]), f"{fmt_rps(base['rps'])} ({base_label})",
            f"{ratio:.2f}x", f"≥ {minimum}x {base_label}", ratio >= minimum]


def p99_row(label, ours, base, limit_ms):
    p99 = ours["latency_us"]["p99"]
    ratio = p99 / max(base["latency_us"]["p99"], 1)
    return [label, fmt_ms(p99), f"{fmt_ms(base['latency_us']['p99'])} (static)",
            f"{ratio:.2f}x", f"< {limit_ms} ms", p99 < limit_ms * 1000]


def context_row(label, ours, base, base_label="static"):
    ratio = ours["latency_us"]["p99"] / max(base["latency_us"]["p99"], 1)
    return [label, fmt_ms(ours["latency_us"]["p99"]),
            f"{fmt_ms(base['latency_us']['p99'])} ({base_label})", f"{ratio:.2f}x", "—", None]


UNCACHED_NOTE = ("Rows marked *uncached* are the same requests to a server started with "
                 "`--read-cache-ttl 0`, so every request runs the queries and the "
                 "serialisation, as after any write to the project (issue 19's targets for "
                 "reads right after writes).")


def uncached_rows(facts, name, base, min_ratio=None, p99_limit_ms=None):
    """Rows for a read measured again with the read cache off, when it was: throughput
    against static (a target when `min_ratio` is given) and p99 (a target when
    `p99_limit_ms` is given)."""
    ours = facts.wrk(f"{name}.uncached")
    if not ours:
        return []
    ratio = ours["rps"] / base["rps"]
    p99 = ours["latency_us"]["p99"]
    return [["uncached: throughput", fmt_rps(ours["rps"]), f"{fmt_rps(base['rps'])} (static)",
             f"{ratio:.2f}x", f"≥ {min_ratio}x static" if min_ratio else "—",
             ratio >= min_ratio if min_ratio else None],
            ["uncached: latency p99", fmt_ms(p99),
             f"{fmt_ms(base['latency_us']['p99'])} (static)",
             f"{p99 / max(base['latency_us']['p99'], 1):.2f}x",
             f"< {p99_limit_ms} ms" if p99_limit_ms else "—",
             p99 < p99_limit_ms * 1000 if p99_limit_ms else None]]


def cpu_note(facts, runs):
    """Which share of a core other processes took during each run (0 on a quiet machine)."""
    parts = []
    for name in runs:
        result = facts.wrk(name)
        if result and "cpu_pct_of_one_core" in result:
            cpu = result["cpu_pct_of_one_core"]
            parts.append(f"{name} {cpu['other']} % (server {cpu['server']} %, wrk {cpu['wrk']} %)")
    if not parts:
        return ""
    return "CPU used by other processes during each run, in % of one core: " + "; ".join(parts) + "."


def timeout_note(result, name):
    timeouts = result["errors"]["timeout"]
    if not timeouts:
        return ""
    return (f"**{timeouts:,} of {name}'s requests timed out (30 s) and are missing from its "
            "latency figures.**")


def body_note(work, name):
    path = os.path.join(work, "bodies", f"{name}.json")
    if os.path.exists(path):
        return f"Body: {os.path.getsize(path):,} bytes."
    return ""


def stored_total(facts):
    """Connections in the main database when start-up is measured."""
    total = sum(facts.fact(f"settle_{name}")["total"] for name in ("a", "b", "c"))
    return total + facts.fact("durability")["stored"]


def build_report(args):
    facts = Facts(args.work)
    report = Report(facts)
    sizes = read_json(os.path.join(args.work, "facts", "sizes.json"))

    healthz_table(report, facts, args.work)

    # List of 100.
    ours, base = facts.wrk("list_a"), facts.wrk("list_a.static")
    report.table(f"List, {sizes['a']:,} connections, authenticated (`GET .../datasource-connection`)", [
        rps_row("throughput", ours, base, "static", 0.8),
        p99_row("latency p99", ours, base, 2),
        *uncached_rows(facts, "list_a", base, min_ratio=0.2),
    ], [body_note(args.work, "list_a"), UNCACHED_NOTE],
        ["list_a", "list_a.static", "list_a.uncached"])

    # List of 10,000 unpaged, and paging.
    ours, base = facts.wrk("list_b"), facts.wrk("list_b.static")
    rows = [rps_row("unpaged throughput", ours, base, "static", 0.5),
            context_row("unpaged latency p99", ours, base)]
    first = facts.wrk("page_b_0")
    for offset in sizes["offsets"][1:]:
        page = facts.wrk(f"page_b_{offset}")
        slowdown = first["rps"] / page["rps"]
        rows.append([f"page `limit={sizes['limit']}&offset={offset}` throughput",
                     fmt_rps(page["rps"]), f"{fmt_rps(first['rps'])} (offset 0)",
                     f"{slowdown:.2f}x offset 0's time", "≤ 1.2x offset 0's time",
                     slowdown <= 1.2])
    first_uncached = facts.wrk("page_b_0.uncached")
    for offset in sizes["offsets"]:
        page = facts.wrk(f"page_b_{offset}.uncached")
        if page and first_uncached:
            rows.append([f"uncached: page `offset={offset}` throughput", fmt_rps(page["rps"]),
                         f"{fmt_rps(first_uncached['rps'])} (uncached offset 0)",
                         f"{first_uncached['rps'] / page['rps']:.2f}x offset 0's time",
                         "—", None])
    rows.append([f"page `limit={sizes['limit']}&offset=0` latency p99",
                 fmt_ms(first["latency_us"]["p99"]), "—", "—", "—", None])
    rss_b = facts.fact("rss_after_list_b")
    rows.insert(2, ["server RSS after the unpaged run", fmt_mib(rss_b["rss_kib"]), "—", "—",
                    "—", None])
    report.table(f"List, {sizes['b']:,} connections: unpaged and paged", rows,
                 [body_note(args.work, "list_b"), timeout_note(ours, "list_b"),
                  "Paged rows: time per request relative to the first page (offset 0's "
                  "req/s divided by this offset's)."],
                 ["list_b", "list_b.static"] +
                 [f"page_b_{offset}{kind}" for kind in ("", ".uncached")
                  for offset in sizes["offsets"]])

    # Show.
    ours, base = facts.wrk("show"), facts.wrk("show.static")
    report.table("Show (`GET .../datasource-connection/{id}`)", [
        rps_row("throughput", ours, base, "static", 0.6),
        context_row("latency p99", ours, base),
        *uncached_rows(facts, "show", base, min_ratio=0.4),
    ], [body_note(args.work, "show")], ["show", "show.static", "show.uncached"])

    # Create and durability.
    create, durable = facts.wrk("create"), facts.fact("durability")
    commits = [facts.fact(f"commits_create_{when}")["per_second"] for when in ("before", "after")]
    commit_rate = statistics.mean(commits)
    created_rate = create["created"] / (create["duration_us"] / 1e6)
    rows = [["acknowledged creates/s", f"{created_rate:,.0f}/s",
             f"{commit_rate:,.0f} commits/s (SQLite alone; {commits[0]:,.0f} before, "
             f"{commits[1]:,.0f} after)",
             f"{created_rate / commit_rate:.2f}x", "≥ 1.0x the commit rate",
             created_rate >= commit_rate],
            ["create latency p99", fmt_ms(create["latency_us"]["p99"]), "—", "—", "—", None],
            ["acknowledged creates lost after SIGKILL",
             f"{durable['missing']} of {durable['acknowledged']:,}",
             f"{durable['stored']:,} stored after restart", "—", "0 lost",
             durable["missing"] == 0]]
    notes = [f"{create['created']:,} creates answered 201 in {create['duration_us'] / 1e6:.1f} s with "
             f"{sizes['create_clients']} concurrent clients; {create['other']} other answers"
             f"{' (e.g. ' + create['other_sample'] + ')' if create['other'] else ''}; "
             f"{create['errors']['timeout']} timeouts. "
             f"{durable['unacknowledged_stored']} stored connections were committed while wrk "
             "was stopping and never acknowledged (not a loss). Baseline: one Python sqlite3 "
             "writer committing one 400-byte row per transaction on the same disk, WAL, "
             "synchronous=FULL, for 2 s right before and right after the create run: the "
             "rate of durable commits without grouping several writes into one commit. "
             "It drifts with the disk's other work, hence two readings."]
    report.table("Create (`POST .../datasource-connection`), durable", rows, notes, ["create"])

    # Issue 29: the same creates on PostgreSQL.
    pg_tables(report, facts, sizes)

    # Issue 28: creates with and without the audit trail, and the stream's fan-out.
    events_tables(report, facts, sizes)

    # 100,000 in one project.
    seed_c, rss_c = facts.fact("seed_c"), facts.fact("rss_after_seed_c")
    rss_c_load = facts.fact("rss_after_page_c")
    ours, base = facts.wrk("page_c_0"), facts.wrk("page_c_0.static")
    peak_rss = max(rss_c["rss_kib"], rss_c_load["rss_kib"])
    rows = [["server RSS after seeding and paging", fmt_mib(peak_rss),
             "—", "—", "< 150 MiB", peak_rss < 150 * 1024],
            context_row("first page `limit=100` latency p99", ours, base),
            ["first page throughput", fmt_rps(ours["rps"]), f"{fmt_rps(base['rps'])} (static)",
             f"{ours['rps'] / base['rps']:.2f}x", "—", None],
            *uncached_rows(facts, "page_c_0", base, p99_limit_ms=5)]
    tenths = seed_c.get("rate_per_tenth", [])
    if len(tenths) >= 2 and tenths[0]:
        slowdown = tenths[-1] / tenths[0]
        rows.insert(1, ["seeding: the last tenth's create rate", f"{tenths[-1]:,}/s",
                        f"{tenths[0]:,}/s (the first tenth's)", f"{slowdown:.2f}x",
                        "≥ 0.8x the first tenth's", slowdown >= 0.8])
    notes = [f"Seeded {seed_c['count']:,} connections through the API with "
             f"{seed_c['concurrency']} concurrent clients in {seed_c['seconds']:.1f} s "
             f"({seed_c['per_second']:,.0f}/s on average; per tenth of the seeding, first "
             f"to last: {', '.join(str(r) for r in seed_c.get('rate_per_tenth', []))} /s). "
             f"Creates retried after a server error while seeding (by status): "
             f"{seed_c.get('retried') or 'none'}. RSS right after seeding "
             f"{fmt_mib(rss_c['rss_kib'])}, after the first-page run {fmt_mib(rss_c_load['rss_kib'])}."]
    report.table(f"{sizes['c']:,} connections in one project", rows, notes,
                 ["page_c_0", "page_c_0.static", "page_c_0.uncached"])

    # Re-check sweep.
    sweep = facts.fact("sweep")
    if sweep and sweep.get("measured"):
        growth = sweep["rss_peak_kib"] - sweep["rss_before_kib"]
        commit_rate = facts.fact("commits_sweep")["per_second"]
        floor_s = sweep["connections"] / commit_rate
        rows = [["sweep, first to last re-check", f"{sweep['first_to_last_s']:.2f} s",
                 f"{floor_s:.2f} s (one commit per re-check at {commit_rate:,.0f} commits/s)",
                 f"{sweep['first_to_last_s'] / floor_s:.2f}x", "≤ 1.0x the floor",
                 sweep["first_to_last_s"] <= floor_s],
                ["RSS growth during the sweep", fmt_mib(growth),
                 f"{fmt_mib(sweep['rss_before_kib'])} before", "—", "flat (< 10 MiB)",
                 growth < 10 * 1024]]
        notes = [f"{sweep['connections']:,} ACTIVE connections, all overdue, re-checked by a "
                 f"server restarted for that alone; times are the server's own "
                 f"last_checked_at. From the restart to the last re-check: "
                 f"{sweep['spawn_to_last_s']:.2f} s. Peak RSS {fmt_mib(sweep['rss_peak_kib'])}. "
                 "Baseline: the SQLite commit rate on this disk measured just before, as the "
                 "floor for a sweep that commits each re-check on its own."]
    else:
        why = (sweep or {}).get("why", "re-checks not implemented")
        rows = [["sweep of ACTIVE connections", f"not measured: {why}", "—", "—",
                 "≤ 1.0x the one-commit floor, memory flat", None]]
        notes = []
    report.table(f"Health re-check sweep of {sizes['sweep']:,} ACTIVE connections", rows, notes)

    # Issue 29: a thousand agents (bench/agents).
    agents_tables(report, facts, sizes)

    # Idle and start-up.
    idle, idle_base = facts.fact("idle"), facts.fact("idle.static")
    start, start_base = facts.fact("startup"), facts.fact("startup.static")
    rows = [["idle RSS (empty data dir)", fmt_mib(idle["rss_kib"]),
             f"{fmt_mib(idle_base['rss_kib'])} (static)",
             f"{idle['rss_kib'] / idle_base['rss_kib']:.1f}x", "< 20 MiB",
             idle["rss_kib"] < 20 * 1024],
            [f"start-up to first answer, existing database of {stored_total(facts):,} "
             f"connections (median of {len(start['samples_ms'])})",
             f"{start['median_ms']:.0f} ms", f"{start_base['median_ms']:.0f} ms (static)",
             f"{start['median_ms'] / max(start_base['median_ms'], 0.001):.1f}x", "< 200 ms",
             start["median_ms"] < 200]]
    notes = ["Start-up samples (ms): " + ", ".join(f"{s:.0f}" for s in start["samples_ms"]) +
             f". Idle start-up on the empty data dir: {idle['median_ms']:.0f} ms."]
    report.table("Idle memory and start-up", rows, notes)
    return report, sizes


def healthz_table(report, facts, work):
    """Issue 29: the fixed cost of a request, what every request pays before its own work."""
    ours, base = facts.wrk("healthz"), facts.wrk("healthz.static")
    if not ours:
        return
    report.table("Health check (`GET /healthz`): the fixed cost of a request", [
        rps_row("throughput", ours, base, "static", 0.8),
        context_row("latency p99", ours, base),
    ], [body_note(work, "healthz"),
        "No authentication, no database: what is measured is the server's middleware "
        "(request id, tracing span, metrics, limiters, the access log line) against a bare "
        "hyper server answering the same bytes. The token header goes to both, as to every "
        "read here."],
        ["healthz", "healthz.static"])


def pg_tables(report, facts, sizes):
    """Issue 29, item 3: durable creates on PostgreSQL against PostgreSQL's own rate of
    single-statement commits on the same server and database, in the same run."""
    title = "Create on PostgreSQL (`--database-url postgres://...`), durable"
    skipped = facts.fact("pg")
    if skipped:
        report.table(title, [["acknowledged creates/s", f"not measured: {skipped['why']}", "—",
                              "—", "≥ 1.0x the commit rate", None]])
        return
    create = facts.wrk("create_pg")
    if not create:
        return
    before, after = facts.fact("pg_commits_before"), facts.fact("pg_commits_after")
    single = facts.fact("pg_commits_1")
    commit_rate = statistics.mean([before["per_second"], after["per_second"]])
    created_rate = created_per_second(create)
    clients = before["clients"]
    rows = [["acknowledged creates/s", f"{created_rate:,.0f}/s",
             f"{commit_rate:,.0f} commits/s (PostgreSQL alone, {clients} clients; "
             f"{before['per_second']:,.0f} before, {after['per_second']:,.0f} after)",
             f"{created_rate / commit_rate:.2f}x", "≥ 1.0x the commit rate",
             created_rate >= commit_rate],
            ["PostgreSQL alone, 1 client", f"{single['per_second']:,.0f} commits/s", "—",
             f"{single['per_second'] / commit_rate:.2f}x the {clients} clients' rate", "—",
             None]]
    base_mean = [run["latency_mean_ms"] for run in (before, after)
                 if run.get("latency_mean_ms") is not None]
    rows.append(["create latency mean", fmt_ms(create["latency_us"]["mean"]),
                 f"{statistics.mean(base_mean):.2f} ms (a commit, {clients} clients)"
                 if base_mean else "—",
                 f"{create['latency_us']['mean'] / 1000 / statistics.mean(base_mean):.2f}x"
                 if base_mean else "—", "—", None])
    rows.append(["create latency p99", fmt_ms(create["latency_us"]["p99"]), "—", "—", "—",
                 None])
    settle = facts.fact("settle_create_pg") or {}
    settings = before.get("settings", {})
    shown = ", ".join(f"{name} {settings[name]}" for name in
                      ("server_version", "synchronous_commit", "fsync", "wal_sync_method",
                       "commit_delay") if name in settings)
    notes = [f"{create['created']:,} creates answered 201 in {create['duration_us'] / 1e6:.1f} s "
             f"with {sizes['create_clients']} concurrent clients after a {sizes['warmup']} "
             f"warm-up; {create['other']} other answers"
             f"{' (e.g. ' + create['other_sample'] + ')' if create['other'] else ''}; "
             f"{create['errors']['timeout']} timeouts; {settle.get('total', '?'):,} connections "
             "stored in the project once their checks ended (warm-up included). The server: "
             "the flags above plus `--database-url` naming a database created for this run "
             "on the machine's PostgreSQL (loopback, dropped afterwards), dsconn's default "
             "pool. Baseline: pgbench on the same server and database, "
             f"`--client {clients} --jobs 1 --time {before['seconds']} --protocol=prepared`, "
             f"each transaction one autocommit `{before['statement']}` into a table of its "
             "own, right before and right after the dsconn run (the figure is their mean); "
             "the 1-client rate was taken before them, as context. PostgreSQL: "
             f"{shown or 'settings not read'}."]
    report.table(title, rows, notes, ["create_pg"])


def agents_tables(report, facts, sizes):
    """Issue 29, item 4: bench/agents' figures. Its own `no agents` window (the same
    server with its queues and connections, before any agent registered) is the baseline."""
    del sizes
    agents = facts.fact("agents")
    if not agents:
        return
    idle, load, none = agents["idle"], agents["load"], agents["no_agents"]
    targets = agents["targets"]
    n = agents["agents"]
    rate = load["binds"]["asked_per_s"]
    cpu, cpu_none = (fact["cpu_pct_of_one_core"]["server"] for fact in (idle, none))
    latency, bind = load["work_to_agent_ms"], load["bind_answer_ms"]

    def ms(value):
        return f"{value:,.1f} ms"

    rows = [[f"idle server CPU, {n} agents", f"{cpu:.1f} % of one core",
             f"{cpu_none:.1f} % (no agents)", "—", f"< {targets['idle_cpu_pct']:g} %",
             cpu < targets["idle_cpu_pct"]],
            [f"idle server RSS (max in the window), {n} agents",
             f"{idle['rss_max_mib']:.1f} MiB", f"{none['rss_max_mib']:.1f} MiB (no agents)",
             f"{idle['rss_max_mib'] / max(none['rss_max_mib'], 0.1):.1f}x",
             f"< {targets['idle_rss_mib']:g} MiB", idle["rss_max_mib"] < targets["idle_rss_mib"]],
            [f"idle store writes, {n} agents", f"{idle['commits_per_s']:,.1f}/s",
             f"{none['commits_per_s']:,.1f}/s (no agents)", "—",
             f"< {targets['idle_writes']:g}/s", idle["commits_per_s"] < targets["idle_writes"]],
            [f"work to agent p50, {rate:g} binds/s", ms(latency["p50"]),
             f"{ms(bind['p50'])} (the bind request's own latency)", "—", "—", None],
            [f"work to agent p99, {rate:g} binds/s", ms(latency["p99"]),
             f"{ms(bind['p99'])} (the bind request's own latency)", "—",
             f"< {targets['p99_ms']:g} ms", latency["p99"] < targets["p99_ms"]],
            [f"server CPU under {rate:g} binds/s", f"{load['cpu_pct_of_one_core']['server']:.1f} "
             "% of one core", "—", "—", "—", None]]
    binds = load["binds"]
    lag = (load.get("bench_loop_lag_ms") or {}).get("p99")
    idle_requests = ", ".join(f"{k} {v}" for k, v in idle["requests_per_s"].items()) or "none"
    mode = "" if agents["mode"] == "full" else (
        f" **Quick mode: {n} agents, not the 1,000 the targets speak of; a smoke test.**")
    notes = [f"`bench/agents{' --quick' if agents['mode'] == 'quick' else ''}`: one server "
             f"(its own data dir, SQLite) with {n} simulated agents, one queue each, in "
             f"{agents['projects']} projects, each from its own loopback address, long-polling "
             "for work as `dsconn agent` does; windows of "
             f"{idle['seconds']:g} s with no agent, idle, and under load. Work to agent: "
             "from the bind's answer read by the binder to the agent's claim answer read; "
             f"{binds['acknowledged_per_s']:g} binds/s acknowledged in the window "
             f"({binds['in_window']:,}), max {ms(latency['max'])}; the bench's event loop, "
             f"which times both, lagged p99 {lag} ms. Store writes: SQLite commits (the WAL "
             f"index's change counter). Idle requests/s: {idle_requests}. CPU of the bench "
             f"itself idle {idle['cpu_pct_of_one_core']['bench']:.1f} %, of other processes "
             f"{idle['cpu_pct_of_one_core']['other']:.1f} %; under load "
             f"{load['cpu_pct_of_one_core']['bench']:.1f} % and "
             f"{load['cpu_pct_of_one_core']['other']:.1f} %.{mode}"]
    report.table(f"Agents: {n:,} long-polling one server (`bench/agents`, issue 29)",
                 rows, notes)


# Runs of the create step with and without events, in the order they ran.
EVENT_RUNS = {"without": ["create_noevents.1", "create_noevents.2"],
              "with": ["create_events.1", "create_events.2"]}


def created_per_second(result):
    return result["created"] / (result["duration_us"] / 1e6)


def events_tables(report, facts, sizes):
    """Issue 28: what recording the audit trail costs creates, and the stream's fan-out."""
    create_title = "Create with the audit trail recorded and not (issue 28)"
    fanout_title = f"Event stream fan-out to {sizes['fanout_clients']} clients (issue 28)"
    skipped = facts.fact("events")
    if skipped:
        why = f"not measured: {skipped['why']}"
        report.table(create_title, [["acknowledged creates/s, events recorded", why, "—", "—",
                                     "≥ 0.9x without events", None]])
        report.table(fanout_title, [["delivery p99", why, "—", "—", "—", None]])
        return

    runs = {side: [facts.wrk(name) for name in names] for side, names in EVENT_RUNS.items()}
    rate = {side: statistics.mean(created_per_second(run) for run in results)
            for side, results in runs.items()}
    p99 = {side: statistics.mean(run["latency_us"]["p99"] for run in results)
           for side, results in runs.items()}
    ratio = rate["with"] / rate["without"]
    rows = [["acknowledged creates/s, events recorded", f"{rate['with']:,.0f}/s",
             f"{rate['without']:,.0f}/s (`--bench-without-events`)", f"{ratio:.2f}x",
             "≥ 0.9x without events", ratio >= 0.9],
            ["create latency p99, events recorded", fmt_ms(p99["with"]),
             f"{fmt_ms(p99['without'])} (without events)",
             f"{p99['with'] / max(p99['without'], 1):.2f}x", "—", None]]
    each = "; ".join(f"{side}: " + ", ".join(f"{created_per_second(run):,.0f}/s"
                                             for run in results)
                     for side, results in runs.items())
    every = [run for results in runs.values() for run in results]
    other = sum(run["other"] for run in every)
    timeouts = sum(run["errors"]["timeout"] for run in every)
    checked = facts.fact("events_check")
    recorded = sum(checked[project]["create_events"] for project in checked)
    notes = [f"Four runs of {sizes['wrk_duration']} with {sizes['create_clients']} clients, "
             "in the order without, with, with, without events, so that a drift of the "
             "disk's commit rate during the step weighs on both sides alike. Each run has a "
             "server started for it (`--bench-without-events` or not) on one data dir, a "
             f"fresh project and a {sizes['warmup']} warm-up, and its checks end before the "
             f"next run. Figures are the mean of a side's two runs ({each}). With events a "
             "create records two: its own and its check's state change. Checked afterwards: "
             f"every connection of the runs with events has its create event ({recorded:,}), "
             f"the runs without have none. {other} answers other than 201, {timeouts} timeouts."]
    report.table(create_title, rows, notes, EVENT_RUNS["without"][:1] + EVENT_RUNS["with"] +
                 EVENT_RUNS["without"][1:])

    fan, one = facts.fact("fanout"), facts.fact("fanout_1")
    rows = [[f"delivery {name}", f"{fan['delay_ms'][name]:.1f} ms",
             f"{one['delay_ms'][name]:.1f} ms (1 client)",
             f"{fan['delay_ms'][name] / max(one['delay_ms'][name], 0.1):.1f}x", "—", None]
            for name in ("p50", "p99", "max")]
    rows.append(["every client got every event once, in id order",
                 f"{fan['clients']} of {fan['clients']} clients, {fan['events']} events each",
                 f"1 of 1, {one['events']} events", "—", "every client", True])
    cpu = fan["cpu_pct_of_one_core"]
    notes = [f"A writer (a process of its own) created {fan['writes']} connections at "
             f"{fan['rate_asked']:g}/s ({fan['rate_achieved']:.1f}/s achieved) in a fresh "
             f"project while {fan['clients']} clients read its stream: {fan['events']} events "
             "(a create, and the state its check ends in), "
             f"{fan['deliveries']:,} deliveries. Delivery: the time a client read an event's "
             "last byte minus the event's `time` (its commit, ms since the epoch, the same "
             "clock), so a figure is good to about 1 ms. One Python asyncio process reads "
             "every client, and its own scheduling counts in the figures: it used "
             f"{cpu['readers']} % of a core, the server {cpu['server']} %. Baseline: the "
             "same writes and "
             "harness with one client, in the same run. Between the first and the last client "
             f"to receive an event: p99 {fan['spread_ms']['p99']:.1f} ms, max "
             f"{fan['spread_ms']['max']:.1f} ms. The server had `--max-connections-per-client "
             "1024 --event-streams-per-client 1024` besides the flags above, as every client "
             "comes from 127.0.0.1."]
    report.table(fanout_title, rows, notes)


# What BENCH_ONLY can name: each part's tables, and the report's line about the data.
ONLY_PARTS = {
    "events": (events_tables, "- Only the audit trail's steps (`BENCH_ONLY=events`).\n"),
    "pg": (pg_tables, "- Only the creates on PostgreSQL (`BENCH_ONLY=pg`).\n"),
    "agents": (agents_tables, "- Only `bench/agents` (`BENCH_ONLY=agents`).\n"),
}


WHY_HEADING = "## Why a target is missed, and what would close it"
HISTORY_HEADING = "## History: decisions made by measuring"


def previous_why_section(path):
    """The body of the explanations section of an existing BENCHMARKS.md, written by
    hand, so that a new run does not erase it; None if there is none to keep."""
    try:
        with open(path, encoding="utf-8") as source:
            text = source.read()
    except FileNotFoundError:
        return None
    if WHY_HEADING not in text:
        return None
    body = text.split(WHY_HEADING, 1)[1].split(HISTORY_HEADING, 1)[0].strip()
    body = re.sub(r"^_Written for an earlier run[^\n]*\n+", "", body)
    if not body or body.startswith("_To be written"):
        return None
    return body + "\n"


def cmd_report(args):
    whole = args.only == "all"
    if whole:
        report, sizes = build_report(args)
        seeds = {name: read_json(os.path.join(args.work, "facts", f"{name}.json"))
                 for name in ("settle_a", "settle_b", "settle_c")}
        data = f"""- Data, seeded through the API: project A {seeds['settle_a']['total']:,} \
connections,
  B {seeds['settle_b']['total']:,}, C {seeds['settle_c']['total']:,} (about 90 % ACTIVE
  against a local accept-and-close listener, 10 % FAILED against a closed loopback port;
  two tags each; services RDS, DWS, CSS).
"""
    else:   # BENCH_ONLY=PART: that part's steps alone
        facts = Facts(args.work)
        report = Report(facts)
        sizes = read_json(os.path.join(args.work, "facts", "sizes.json"))
        tables, data = ONLY_PARTS[args.only]
        tables(report, facts, sizes)
    info = machine()
    met = sum(1 for row in report.summary if row[4])
    load = {}
    for when in ("start", "end"):
        with open(os.path.join(args.work, "facts", f"load_{when}.txt"), encoding="ascii") as f:
            load[when] = f.read().strip()
    header = f"""# Benchmarks

Measured by `bench/run` in one run: every figure next to its baseline from the same run.
The baseline for reads is `bench/static-server` (a tiny hyper server) answering the very
bytes dsconn returned for the same request: what this machine and client can do for that
body, with no routing, auth, database or serialisation. Ratios are dsconn / baseline.
Absolute numbers depend on the machine and are context only.

- Date: {time.strftime('%Y-%m-%d %H:%M:%S %Z')}
- Command: `{args.command}` ({args.mode} mode)
- Machine: {info['nproc']} CPUs, {info['cpu']}, Linux {info['kernel']}
- Tools: {info['wrk']}; {info['rustc']}
- Load: `wrk -t1 -c{sizes['wrk_connections']} -d{sizes['wrk_duration']} --latency`, loopback,
  `X-Auth-Token` on every request (auth on); wrk and the server share the machine's cores.
- Server flags: `{args.server_flags}`
- Load average (1, 5, 15 min) after the build: {load['start']}; before the report: {load['end']}
  (the suite's own load counts in the latter).
{data}
```
{info['free']}
```

Targets met: {met} of {len(report.summary)}.

## Results

"""
    why = previous_why_section(args.out) if args.mode == "full" and whole else None
    # target/ is not there when CARGO_TARGET_DIR builds elsewhere.
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    with open(args.out, "w", encoding="utf-8") as out:
        out.write(header)
        out.write("\n".join(report.sections))
        if args.mode == "full" and whole:
            out.write(f"\n{WHY_HEADING}\n\n")
            if why:
                out.write("_Written for an earlier run and carried over by bench/run: check it "
                          "against the figures above._\n\n" + why)
            else:
                out.write("_To be written for each missed target._\n")
        # Decisions measured in earlier sessions: kept with every new run.
        history = os.path.join(os.path.dirname(os.path.abspath(__file__)), "history.md")
        if whole and os.path.exists(history):
            with open(history, encoding="utf-8") as kept:
                out.write(f"\n{HISTORY_HEADING}\n\n{kept.read()}")
    print(f"\nResults ({args.mode} mode) written to {args.out}: {met} of "
          f"{len(report.summary)} targets met")
    for title, measure, figure, target, ok in report.summary:
        print(f"  {'met   ' if ok else 'MISSED'}  {title.split('(')[0].strip()}: "
              f"{measure} {figure} (target {target})")


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    sub = commands.add_parser("listener")
    sub.add_argument("--max-seconds", type=float, default=3600)
    sub.set_defaults(run=cmd_listener)

    sub = commands.add_parser("closed-port")
    sub.set_defaults(run=cmd_closed_port)

    sub = commands.add_parser("wait-serving")
    sub.add_argument("log")
    sub.add_argument("pid", type=int)
    sub.add_argument("--timeout", type=float, default=60)
    sub.set_defaults(run=cmd_wait_serving)

    sub = commands.add_parser("rss")
    sub.add_argument("pid", type=int)
    sub.add_argument("--label", default="")
    sub.add_argument("--out", required=True)
    sub.set_defaults(run=cmd_rss)

    sub = commands.add_parser("startup")
    sub.add_argument("--runs", type=int, default=5)
    sub.add_argument("--path", default="/healthz")
    sub.add_argument("--timeout", type=float, default=60)
    sub.add_argument("--rss-after", type=float)
    sub.add_argument("--log", required=True)
    sub.add_argument("--out", required=True)
    sub.add_argument("command", nargs="+")
    sub.set_defaults(run=cmd_startup)

    sub = commands.add_parser("seed")
    sub.add_argument("--port", type=int, required=True)
    sub.add_argument("--project", required=True)
    sub.add_argument("--count", type=int, required=True)
    sub.add_argument("--concurrency", type=int, default=32)
    sub.add_argument("--listen-port", type=int, required=True)
    sub.add_argument("--closed-port", type=int, required=True)
    sub.add_argument("--failed-every", type=int, default=10)
    sub.add_argument("--prefix", default="conn")
    sub.add_argument("--out", required=True)
    sub.set_defaults(run=cmd_seed)

    sub = commands.add_parser("settle")
    sub.add_argument("--port", type=int, required=True)
    sub.add_argument("--project", required=True)
    sub.add_argument("--expect", type=int)
    sub.add_argument("--timeout", type=float, default=600)
    sub.add_argument("--out", required=True)
    sub.set_defaults(run=cmd_settle)

    sub = commands.add_parser("fetch")
    sub.add_argument("--port", type=int, required=True)
    sub.add_argument("--path", required=True)
    sub.add_argument("--out", required=True)
    sub.set_defaults(run=cmd_fetch)

    sub = commands.add_parser("first-id")
    sub.add_argument("--port", type=int, required=True)
    sub.add_argument("--project", required=True)
    sub.set_defaults(run=cmd_first_id)

    sub = commands.add_parser("durability")
    sub.add_argument("--port", type=int, required=True)
    sub.add_argument("--project", required=True)
    sub.add_argument("--ids", required=True)
    sub.add_argument("--out", required=True)
    sub.set_defaults(run=cmd_durability)

    sub = commands.add_parser("sweep")
    sub.add_argument("--port", type=int, required=True)
    sub.add_argument("--pid", type=int, required=True)
    sub.add_argument("--project", required=True)
    sub.add_argument("--since-ms", type=int, required=True)
    sub.add_argument("--poll", type=float, default=2.0)
    sub.add_argument("--timeout", type=float, default=300)
    sub.add_argument("--out", required=True)
    sub.set_defaults(run=cmd_sweep)

    sub = commands.add_parser("sqlite-baseline")
    sub.add_argument("--dir", required=True)
    sub.add_argument("--seconds", type=float, default=3)
    sub.add_argument("--out", required=True)
    sub.set_defaults(run=cmd_sqlite_baseline)

    sub = commands.add_parser("pg-baseline")
    sub.add_argument("--host", default=LOOPBACK)
    sub.add_argument("--port", type=int, default=5432)
    sub.add_argument("--user", default="postgres")
    sub.add_argument("--db", required=True)
    sub.add_argument("--clients", type=int, required=True)
    sub.add_argument("--seconds", type=int, required=True)
    sub.add_argument("--dir", required=True, help="where the pgbench script is written")
    sub.add_argument("--out", required=True)
    sub.set_defaults(run=cmd_pg_baseline)

    sub = commands.add_parser("events-check")
    sub.add_argument("--port", type=int, required=True)
    sub.add_argument("--recorded", nargs="+", default=[], help="projects written with events")
    sub.add_argument("--unrecorded", nargs="+", default=[], help="and without")
    sub.add_argument("--out", required=True)
    sub.set_defaults(run=cmd_events_check)

    sub = commands.add_parser("fanout")
    sub.add_argument("--port", type=int, required=True)
    sub.add_argument("--pid", type=int, required=True, help="the server under test")
    sub.add_argument("--project", required=True)
    sub.add_argument("--clients", type=int, required=True)
    sub.add_argument("--count", type=int, required=True, help="creates the writer makes")
    sub.add_argument("--rate", type=float, required=True, help="creates per second")
    sub.add_argument("--listen-port", type=int, required=True)
    sub.add_argument("--writer-out", required=True)
    sub.add_argument("--out", required=True)
    sub.set_defaults(run=cmd_fanout)

    sub = commands.add_parser("fanout-writer")
    sub.add_argument("--port", type=int, required=True)
    sub.add_argument("--project", required=True)
    sub.add_argument("--count", type=int, required=True)
    sub.add_argument("--rate", type=float, required=True)
    sub.add_argument("--listen-port", type=int, required=True)
    sub.add_argument("--out", required=True)
    sub.set_defaults(run=cmd_fanout_writer)

    sub = commands.add_parser("wrk")
    sub.add_argument("--name", required=True)
    sub.add_argument("--dir", required=True)
    sub.add_argument("--pid", type=int, required=True, help="the server under test")
    sub.add_argument("--allow-status", action="store_true")
    sub.add_argument("command", nargs="+")
    sub.set_defaults(run=cmd_wrk)

    sub = commands.add_parser("report")
    sub.add_argument("--work", required=True)
    sub.add_argument("--mode", required=True)
    sub.add_argument("--out", required=True)
    sub.add_argument("--command", required=True)
    sub.add_argument("--server-flags", required=True)
    sub.add_argument("--only", choices=["all", *ONLY_PARTS], default="all")
    sub.set_defaults(run=cmd_report)

    args = parser.parse_args()
    args.run(args)


if __name__ == "__main__":
    main()
