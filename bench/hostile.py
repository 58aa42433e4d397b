#!/usr/bin/env python3
"""Measures what hostile peers cost a roi engine server (examples/echo_server).

`scripts/bench --only hostile` runs this through bench/runner.py, once with the
native echo_server and once with echo_server.exe under Wine. Each attack gets a
fresh server. A good client keeps 16 requests in flight against it while an
attacker (a child process running this file with --attacker, so that neither
slows the other through Python's one interpreter lock) does its worst. The
server's resident set is sampled every 0.5 s, its CPU time is read at both ends
of the measured window, and the good client's echoes are counted and checked.
ATTACKS says what each attack does; the targets are in targets().

By hand, against one server (a .exe runs under Wine with the caller's
WINEPREFIX):

    bench/hostile.py --server build/bench/examples/echo_server
    bench/hostile.py --server build/bench/examples/echo_server --attacks flood,stall --seconds 10

Python 3 standard library only; Linux only (it reads /proc).
"""

import argparse
import collections
import errno
import json
import os
import re
import resource
import select
import selectors
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time

HOST = "127.0.0.1"

# The wire format (lib/include/roi/message.h): channel u16, proto u8 (bits 0-3
# opcode, bit 4 origin engine, bit 5 more), status u8, message id u64,
# text-header length u16, body length u16, all big-endian.
HEADER = struct.Struct(">HBBQHH")
REQUEST, RESPONSE, SIGNAL, HELLO_REQUEST, HELLO_RESPONSE = 0, 1, 2, 3, 4
ORIGIN_ENGINE = 0x10
STATUS_CHANNEL_CLOSED = 22
MAX_BODY = 65535  # the largest body a u16 length allows

WINDOW = 16  # the good client's requests in flight
BODY = 64  # the good client's body size
ANSWER_TIMEOUT = 10.0  # the longest the good client waits for any answer
SETTLE = 1.0  # the attack runs this long before the good client's window opens
SAMPLE_EVERY = 0.5  # how often the server's resident set is read
RSS_GUARD = 2 << 30  # past this the attack is stopped at once
NOFILE = 64  # the server's descriptor limit in the fdexhaust attack
EXHAUST_SECONDS = 10.0  # the length of the fd-exhaustion CPU reading
CONNECT_TIMEOUT = 3.0  # an attacking connect not done by then is given up
GRACE = 3.0  # how long a process may take to end before it is killed


def frame(opcode, msg_id, body=b"", headers=b"", status=0, flags=0, body_len=None):
    """One frame on channel 1. body_len, when given, is the body length the
    header promises (more than is sent, for a stalled frame)."""
    return HEADER.pack(1, opcode | flags, status, msg_id, len(headers),
                       len(body) if body_len is None else body_len) + headers + body


def request_body(msg_id):
    """The good client's body for a request: its id, repeated, so that an
    echo with the right id and another request's body is caught."""
    return msg_id.to_bytes(8, "big") * (BODY // 8)


HELLO = frame(HELLO_REQUEST, 1)


class Group:
    """Attacking connections that behave alike: how many are kept open, what
    each sends once connected, and how many a second may replace those the
    server closes (so that an attack measures what it names, not connection
    churn)."""

    def __init__(self, count, opening, rate, flood=False):
        self.count = count
        self.opening = opening
        self.rate = rate
        self.flood = flood  # after the opening, sends Requests for ever


class Attack:
    def __init__(self, text, groups):
        self.text = text
        self.groups = groups


ATTACKS = {
    "none": Attack("no attack: the baseline for the good client's rate", []),
    "flood": Attack(
        "one connection sends a Hello, then Requests with 65,535-byte bodies (the most a "
        "frame holds: 64 KiB does not fit the u16 length) as fast as its socket takes them, "
        "and never reads", [Group(1, HELLO, 10, flood=True)]),
    "stall": Attack(
        "200 connections each send a Hello, then the header of a Request promising a "
        "65,535-byte body and 10 bytes of it, then nothing (slowloris); any the server "
        "closes is replaced (up to 200 a second)",
        [Group(200, HELLO + frame(REQUEST, 2, b"x" * 10, body_len=MAX_BODY), 200)]),
    "nohello": Attack(
        "1,000 connections that send nothing, and 10 that send a Request without a Hello; "
        "any the server closes is replaced (up to 1,000 and 100 a second)",
        [Group(1000, b"", 1000), Group(10, frame(REQUEST, 1, request_body(1)), 100)]),
    "forge": Attack(
        "connections that send a Hello, then a Signal with the origin bit set (proto 0x12, "
        "'made by the engine'), status 22 (channel_closed) and a '~reason:22' header, as "
        "the engine's own close notice has; up to 100 open, about 100 new ones a second",
        [Group(100, HELLO + frame(SIGNAL, 1, headers=b"~reason:22\r\n",
                                  status=STATUS_CHANNEL_CLOSED, flags=ORIGIN_ENGINE), 100)]),
    "fdexhaust": Attack(
        f"the server runs under `prlimit --nofile={NOFILE}:{NOFILE}`; the good client "
        "connects first, then 100 connections that send nothing are kept open (any the "
        "server closes is replaced, up to 100 a second). The server's CPU is read over 10 s of exhaustion with "
        "the good client idle, then the good client runs; at the end the attack's "
        "connections close and a new client is timed from then to its first echo",
        [Group(100, b"", 100)]),
}


# ---------------------------------------------------------------------------
# The attacker: a child process, so that it never competes with the good
# client for the interpreter.


class Conn:
    def __init__(self, group, sock):
        self.group = group
        self.sock = sock
        self.connecting = True
        self.started = time.monotonic()
        self.pending = memoryview(b"")  # the rest of the flood frame being sent
        self.next_id = 2  # the flood's next request id (the Hello was 1)


def attacker(kind, port, limit):
    """Runs one attack until its standard input closes or limit seconds pass,
    then closes every connection and prints what it saw as one JSON line."""
    # 1,010 connections may pass a soft limit of 1,024 with the rest.
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    groups = ATTACKS[kind].groups
    flood_body = b"f" * MAX_BODY
    sel = selectors.DefaultSelector()
    sel.register(sys.stdin.fileno(), selectors.EVENT_READ, None)
    stats = collections.Counter()
    open_in = collections.Counter()  # group index -> connections open or connecting
    # A token bucket per group paces the replacements; it starts full, so
    # that the first connections all open at once.
    tokens = [float(g.count) for g in groups]
    last = time.monotonic()
    deadline = last + limit

    def drop(c, closed_by_server):
        sel.unregister(c.sock)
        c.sock.close()
        open_in[c.group] -= 1
        stats["closed by server" if closed_by_server else "failed"] += 1

    def opened(c):
        c.connecting = False
        stats["opened"] += 1
        try:
            # The openings are a few dozen bytes; a fresh socket takes them whole.
            c.sock.send(groups[c.group].opening)
        except OSError:
            drop(c, True)
            return
        # The flood waits for room to write; the others only watch for the
        # server closing them (whatever it sends is read and dropped).
        sel.modify(c.sock, selectors.EVENT_WRITE if groups[c.group].flood else
                   selectors.EVENT_READ, c)

    def pump(c):
        # Sends until the socket would block or 20 ms pass; then the select
        # below sleeps until there is room again (at most 50 ms).
        end = time.monotonic() + 0.02
        while time.monotonic() < end:
            if not c.pending:
                c.pending = memoryview(frame(REQUEST, c.next_id, flood_body))
                c.next_id += 1
            try:
                n = c.sock.send(c.pending)
            except BlockingIOError:
                return
            except OSError:
                drop(c, True)
                return
            stats["bytes sent"] += n
            c.pending = c.pending[n:]

    stop = False
    while not stop and time.monotonic() < deadline:
        now = time.monotonic()
        for i, g in enumerate(groups):
            tokens[i] = min(float(g.count), tokens[i] + (now - last) * g.rate)
            while open_in[i] < g.count and tokens[i] >= 1:
                tokens[i] -= 1
                s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
                s.setblocking(False)
                err = s.connect_ex((HOST, port))
                if err not in (0, errno.EINPROGRESS):
                    s.close()
                    stats["failed"] += 1
                    continue
                open_in[i] += 1
                sel.register(s, selectors.EVENT_WRITE, Conn(i, s))
        last = now
        for key, _ in sel.select(0.05):
            c = key.data
            if c is None:
                stop = not os.read(key.fd, 4096)
            elif c.connecting:
                if c.sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR):
                    drop(c, False)
                else:
                    opened(c)
            elif groups[c.group].flood:
                pump(c)
            else:
                try:
                    gone = not c.sock.recv(65536)
                except BlockingIOError:
                    gone = False
                except OSError:
                    gone = True
                if gone:
                    drop(c, True)
        now = time.monotonic()
        for key in list(sel.get_map().values()):
            c = key.data
            if c is not None and c.connecting and now - c.started > CONNECT_TIMEOUT:
                drop(c, False)
    for key in list(sel.get_map().values()):
        if key.data is not None:
            key.data.sock.close()
    print(json.dumps(stats), flush=True)
    return 0


# ---------------------------------------------------------------------------
# The good client.


class GoodClient:
    """A well-behaved client: a Hello, then a window of 16 Requests of 64 B in
    flight (ids 1, 2, ...), each Response checked for its id, body and order."""

    def __init__(self, port):
        self.port = port
        self.sock = None
        self.readable = self.writable = None  # poll objects for the socket
        self.buf = bytearray()
        self.echoes = self.wrong = self.missing = 0
        self.seconds = 0.0  # the length of the window in which it sent
        self.error = None

    def connect(self):
        """Connects and says Hello; raises OSError (or TimeoutError) on failure."""
        self.sock = socket.create_connection((HOST, self.port), timeout=ANSWER_TIMEOUT)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.sock.setblocking(False)
        self.readable, self.writable = select.poll(), select.poll()
        self.readable.register(self.sock, select.POLLIN)
        self.writable.register(self.sock, select.POLLOUT)
        self._send(HELLO)
        deadline = time.monotonic() + ANSWER_TIMEOUT
        while time.monotonic() < deadline:
            for (_, proto, status, _, _, _), _, _ in self._frames(0.2):
                if proto != HELLO_RESPONSE or status != 0:
                    raise ConnectionError(f"the Hello was answered with proto {proto:#x}, "
                                          f"status {status}")
                return
        raise TimeoutError(f"no HelloResponse within {ANSWER_TIMEOUT:g} s")

    def close(self):
        if self.sock:
            self.sock.close()

    def _send(self, data):
        view = memoryview(data)
        deadline = time.monotonic() + ANSWER_TIMEOUT
        while view:
            try:
                view = view[self.sock.send(view):]
            except BlockingIOError:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError(f"the server took nothing for {ANSWER_TIMEOUT:g} s")
                self.writable.poll(left * 1000)

    def _frames(self, timeout):
        """The frames that arrive within timeout seconds (none on a timeout)."""
        if not self.readable.poll(timeout * 1000):
            return []
        try:
            data = self.sock.recv(1 << 16)
        except BlockingIOError:
            return []
        if not data:
            raise ConnectionError("the server closed the connection")
        self.buf += data
        out = []
        while len(self.buf) >= HEADER.size:
            head = HEADER.unpack_from(self.buf)
            end = HEADER.size + head[4] + head[5]
            if len(self.buf) < end:
                break
            out.append((head, bytes(self.buf[HEADER.size:HEADER.size + head[4]]),
                        bytes(self.buf[HEADER.size + head[4]:end])))
            del self.buf[:end]
        return out

    def run(self, until, stop, limit=None):
        """Echoes until the time until (time.monotonic()), until stop is set or
        until limit requests have been sent, then waits for the answers still
        due. Never raises: a failure is kept in self.error, and the requests
        it left unanswered count as missing."""
        outstanding = collections.deque()
        next_id = 1
        start = heard = time.monotonic()
        sending = True
        try:
            while True:
                now = time.monotonic()
                if sending and (now >= until or stop.is_set() or
                                (limit is not None and next_id > limit)):
                    sending = False
                    self.seconds = now - start
                if not sending and now - start - self.seconds > ANSWER_TIMEOUT:
                    raise TimeoutError(f"answers still due {ANSWER_TIMEOUT:g} s after the "
                                       "last request")
                if sending and len(outstanding) < WINDOW:
                    batch = []
                    while len(outstanding) < WINDOW and (limit is None or next_id <= limit):
                        outstanding.append(next_id)
                        batch.append(frame(REQUEST, next_id, request_body(next_id)))
                        next_id += 1
                    self._send(b"".join(batch))
                if not outstanding:
                    break
                frames = self._frames(0.2)
                if frames:
                    heard = time.monotonic()
                elif time.monotonic() - heard > ANSWER_TIMEOUT:
                    raise TimeoutError(f"no answer for {ANSWER_TIMEOUT:g} s")
                for (_, proto, status, msg_id, _, _), _, body in frames:
                    if (proto == RESPONSE and status == 0 and outstanding and
                            msg_id == outstanding[0] and body == request_body(msg_id)):
                        outstanding.popleft()
                        self.echoes += 1
                    else:
                        self.wrong += 1
                        if msg_id in outstanding:
                            outstanding.remove(msg_id)
        except OSError as e:
            self.error = str(e) or type(e).__name__
        if sending:
            self.seconds = time.monotonic() - start
        self.missing += len(outstanding)


# ---------------------------------------------------------------------------
# The server under measurement, and what /proc says of it.


class Mode:
    """How the server is started: natively, or under Wine."""

    def __init__(self, name, exe, env, wine):
        self.name = name
        self.exe = exe
        self.env = env
        self.wine = wine

    def command(self, nofile=None):
        cmd = (["wine"] if self.wine else []) + [self.exe, f"tcp|{HOST}|0"]
        return (["prlimit", f"--nofile={nofile}:{nofile}"] if nofile else []) + cmd

    def wineserver(self):
        """The pid of the wineserver of this mode's prefix, or None. Each
        wineserver works in a directory named after its prefix's device and
        inode ("server-fe00-a9e001"), which tells one prefix's from another's."""
        if not self.wine:
            return None
        try:
            st = os.stat(self.env.get("WINEPREFIX", os.path.expanduser("~/.wine")))
        except OSError:
            return None
        want = f"server-{st.st_dev:x}-{st.st_ino:x}"
        for pid in pids():
            try:
                if (read_proc(pid, "comm").startswith("wineserver") and
                        os.path.basename(os.readlink(f"/proc/{pid}/cwd")) == want):
                    return pid
            except OSError:
                continue
        return None


def pids():
    return [int(d) for d in os.listdir("/proc") if d.isdigit()]


def read_proc(pid, name):
    with open(f"/proc/{pid}/{name}", "rb") as f:
        return f.read().decode(errors="replace")


def rss(pid):
    """The resident set in bytes, or None once the process is gone."""
    try:
        m = re.search(r"^VmRSS:\s+(\d+) kB", read_proc(pid, "status"), re.M)
    except OSError:
        return None
    return int(m.group(1)) * 1024 if m else None


def cpu_seconds(pid):
    """User plus system time of every thread of the process, or None."""
    if pid is None:
        return None
    try:
        fields = read_proc(pid, "stat").rsplit(")", 1)[1].split()
    except OSError:
        return None
    # Fields 14 and 15 of stat(5); the split starts at field 3.
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def percent(cpu0, cpu1, seconds):
    if cpu0 is None or cpu1 is None or seconds <= 0:
        return None
    return 100.0 * (cpu1 - cpu0) / seconds


class Server:
    """One echo server process. Under Wine the program runs as a Linux
    process of its own (the loader execs into it), so /proc reads it alike."""

    def __init__(self, mode, nofile=None):
        self.out = tempfile.TemporaryFile()
        self.err = tempfile.TemporaryFile()
        # Files, not pipes: a process Wine starts on the side could hold a
        # pipe open after the server ends, and reading it would wait.
        self.proc = subprocess.Popen(mode.command(nofile), env=mode.env,
                                     stdin=subprocess.DEVNULL, stdout=self.out, stderr=self.err)
        self.pid = None
        try:
            self.port = self._wait_listening(30.0)
            self.pid = self._find(os.path.basename(mode.exe))
        except RuntimeError:
            self.stop()
            raise

    def _output(self, f):
        return os.pread(f.fileno(), 1 << 16, 0).decode(errors="replace").replace("\r", "")

    def _wait_listening(self, limit):
        deadline = time.monotonic() + limit
        while time.monotonic() < deadline:
            m = re.search(r"listening on tcp\|[^|]+\|(\d+)", self._output(self.out))
            if m:
                return int(m.group(1))
            if self.proc.poll() is not None:
                raise RuntimeError(f"the server exited with status {self.proc.returncode}: "
                                   + " / ".join(self._output(self.err).splitlines()[-3:]))
            time.sleep(0.05)
        raise RuntimeError(f"the server did not listen within {limit:g} s")

    def _find(self, name):
        """The pid running the server program: the one started (prlimit and
        Wine's loader exec into it), else a child of it by that name."""
        def is_server(pid):
            try:
                argv0 = read_proc(pid, "cmdline").split("\0")[0]
            except OSError:
                return False
            return re.split(r"[/\\]", argv0)[-1] == name
        if is_server(self.proc.pid):
            return self.proc.pid
        for pid in pids():
            try:
                ppid = int(read_proc(pid, "stat").rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            if ppid == self.proc.pid and is_server(pid):
                return pid
        raise RuntimeError(f"no process runs {name}")

    def descriptors(self):
        try:
            return len(os.listdir(f"/proc/{self.pid}/fd"))
        except OSError:
            return None

    def stop(self):
        """Ends the server: SIGTERM, then SIGKILL after a grace period."""
        for sig in (signal.SIGTERM, signal.SIGKILL):
            # Only while the process started is not reaped: its pid (and its
            # child's) cannot have been reused yet.
            if self.proc.poll() is not None:
                break
            for pid in {self.proc.pid, self.pid} - {None}:
                try:
                    os.kill(pid, sig)
                except ProcessLookupError:
                    pass
            try:
                self.proc.wait(timeout=GRACE)
            except subprocess.TimeoutExpired:
                pass
        self.out.close()
        self.err.close()


class Sampler(threading.Thread):
    """Reads the server's resident set every 0.5 s and keeps the peak. Past
    2 GiB, or when the server is gone, it calls trip() at once."""

    def __init__(self, pid, trip):
        super().__init__(daemon=True)
        self.pid = pid
        self.trip = trip
        self.peak = rss(pid) or 0
        self.start_time = time.monotonic()
        self.tripped = None  # why, once tripped
        self.done = threading.Event()

    def run(self):
        while not self.done.wait(SAMPLE_EVERY):
            v = rss(self.pid)
            if v is None:
                self.tripped = "the server exited; attack stopped"
            else:
                self.peak = max(self.peak, v)
                if v > RSS_GUARD:
                    self.tripped = (f"guard: RSS passed {RSS_GUARD >> 30} GiB after "
                                    f"{time.monotonic() - self.start_time:.1f} s; "
                                    "attack stopped")
            if self.tripped:
                self.trip()
                return

    def finish(self):
        self.done.set()
        self.join(timeout=5)


class Attacker:
    """The attacker child process."""

    def __init__(self, kind, port, limit):
        self.proc = subprocess.Popen(
            [sys.executable, os.path.abspath(__file__), "--attacker", kind, "--port",
             str(port), "--limit", str(limit)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        self.stats = None

    def kill(self):
        self.proc.kill()

    def stop(self):
        """Asks it to close its connections and end (closing its standard
        input), kills it after a grace period, and keeps what it reported."""
        if self.stats is not None:
            return
        try:
            out, _ = self.proc.communicate(timeout=GRACE + 2)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            out, _ = self.proc.communicate(timeout=GRACE)
        try:
            self.stats = json.loads(out.strip().splitlines()[-1])
        except (ValueError, IndexError):
            self.stats = {}


# ---------------------------------------------------------------------------
# One attack against one server.


class Result:
    def __init__(self, name, kind, seconds):
        self.name = name  # "flood-60" for the long flood, else the kind
        self.kind = kind
        self.seconds = seconds
        self.rss_start = self.rss_end = self.peak = None
        self.cpu = self.wineserver_cpu = None
        self.rate = None
        self.echoes = self.wrong = self.missing = 0
        self.hello = None  # seconds the good client took to connect and say Hello
        self.attacker = {}
        self.notes = []
        self.exhaust_cpu = None  # fdexhaust: server CPU % with the good client idle
        self.exhaust_seconds = 0.0
        self.fds = None  # fdexhaust: the server's descriptors once exhausted
        self.recovery = None  # fdexhaust: seconds to a new client's first echo
        self.tripped = False
        self.skipped = None  # why the attack was not run
        self.failed = None  # why it could not be measured (the server did not start, ...)


def run_case(mode, name, kind, seconds):
    """Starts a server, runs one attack against it with the good client, and
    returns what was measured. Every wait here is bounded."""
    r = Result(name, kind, seconds)
    fdx = kind == "fdexhaust"
    exhaust = min(EXHAUST_SECONDS, seconds) if fdx else 0.0
    stop = threading.Event()
    server = attacker = sampler = good = None

    def trip():
        stop.set()
        if attacker:
            attacker.kill()

    try:
        server = Server(mode, NOFILE if fdx else None)
        if fdx:
            good = GoodClient(server.port)
            good.connect()
        r.rss_start = rss(server.pid)
        if ATTACKS[kind].groups:
            # The attacker's own bound: every phase of the attack, and a margin.
            attacker = Attacker(kind, server.port, SETTLE + exhaust + seconds + 60)
        sampler = Sampler(server.pid, trip)
        sampler.start()
        stop.wait(SETTLE)
        if fdx and not stop.is_set():
            # Exhaustion is reached when every descriptor the limit allows is
            # in use: accept() then fails with EMFILE.
            end = time.monotonic() + 5
            while server.descriptors() != NOFILE and time.monotonic() < end:
                time.sleep(0.05)
            r.fds = server.descriptors()
            c0, t0 = cpu_seconds(server.pid), time.monotonic()
            stop.wait(exhaust)
            r.exhaust_seconds = time.monotonic() - t0
            r.exhaust_cpu = percent(c0, cpu_seconds(server.pid), r.exhaust_seconds)
        if good is None and not stop.is_set():
            t = time.monotonic()
            good = GoodClient(server.port)
            good.connect()
            r.hello = time.monotonic() - t
        ws = mode.wineserver()
        c0, w0, t0 = cpu_seconds(server.pid), cpu_seconds(ws), time.monotonic()
        if good and not stop.is_set():
            good.run(t0 + seconds, stop)
        t1 = time.monotonic()
        r.cpu = percent(c0, cpu_seconds(server.pid), t1 - t0)
        r.wineserver_cpu = percent(w0, cpu_seconds(ws), t1 - t0)
        r.rss_end = rss(server.pid)
        if attacker:
            attacker.stop()
        if fdx and not stop.is_set():
            r.recovery = time_new_client(server.port, r)
    except (OSError, RuntimeError) as e:
        r.failed = str(e) or type(e).__name__
        r.notes.append(f"failed: {r.failed}")
    finally:
        if sampler:
            sampler.finish()
        if attacker:
            attacker.stop()
        if server:
            server.stop()
    if sampler:
        r.peak = max(sampler.peak, r.rss_end or 0)
        if sampler.tripped:
            r.tripped = True
            r.notes.insert(0, sampler.tripped)
            r.rss_end = r.rss_end or sampler.peak
    if attacker:
        r.attacker = attacker.stats
    if good:
        good.close()
        r.echoes, r.wrong, r.missing = good.echoes, good.wrong, good.missing
        r.rate = good.echoes / good.seconds if good.seconds > 0 else None
        if good.error:
            r.notes.append(f"good client: {good.error}")
    return r


def time_new_client(port, r):
    """Seconds from now (the attack's connections just closed) until a new
    client has its first echo, or None if it had none within the limit."""
    t = time.monotonic()
    c = GoodClient(port)
    try:
        c.connect()
        c.run(t + ANSWER_TIMEOUT, threading.Event(), limit=1)
    except OSError as e:
        c.error = str(e) or type(e).__name__
    finally:
        c.close()
    if c.echoes != 1:
        r.notes.append(f"no new client served within {ANSWER_TIMEOUT:g} s after the attack"
                       + (f" ({c.error})" if c.error else ""))
        return None
    return time.monotonic() - t


def cases(mode, seconds, long_seconds):
    """The attacks to run, in order: (name, kind, seconds, why skipped or None)."""
    def skipped(kind):
        if kind != "fdexhaust":
            return None
        if mode.wine:
            return ("not measured under Wine: there every socket is a descriptor of the "
                    "shared wineserver process, not of the server process, so the server's "
                    "limit cannot be exhausted")
        return None if shutil.which("prlimit") else "not measured: no prlimit"
    return ([(k, k, seconds, skipped(k)) for k in ATTACKS] +
            [(f"flood-{long_seconds:g}", "flood", long_seconds, None)])


def run_mode(mode, seconds, long_seconds, say, chosen=()):
    """Runs every attack (or those named in chosen) against mode's server;
    returns the Results."""
    results = []
    for name, kind, secs, skipped in cases(mode, seconds, long_seconds):
        if chosen and name not in chosen and kind not in chosen:
            continue
        if skipped:
            r = Result(name, kind, secs)
            r.skipped = skipped
            say(f"hostile {mode.name} {name}: {skipped}")
        else:
            r = run_case(mode, name, kind, secs)
            say(f"hostile {mode.name} {name}: {progress(r)}")
        results.append(r)
    return results


# ---------------------------------------------------------------------------
# Reporting.


def mib(v):
    return "-" if v is None else f"{v / (1 << 20):.1f}"


def pct(v):
    return "-" if v is None else f"{v:.1f} %"


def progress(r):
    return (f"RSS {mib(r.rss_start)} -> {mib(r.rss_end)} MiB (peak {mib(r.peak)}), "
            f"CPU {pct(r.cpu)}, {r.rate or 0:,.0f} echoes/s, {r.wrong} wrong, "
            f"{r.missing} missing" + "".join(f"; {n}" for n in r.notes))


def attacker_text(r):
    """What the attacker reported: connections, closes, bytes."""
    stats = r.attacker
    if not stats:
        return "killed by the guard" if r.tripped else "-"
    opened = stats.get("opened", 0)
    text = f"opened {opened:,}, closed by server {stats.get('closed by server', 0):,}"
    if r.kind == "flood":
        text = (f"{opened} connection{'s' if opened != 1 else ''}, "
                f"{stats.get('bytes sent', 0) / 1e9:.2f} GB sent")
        if stats.get("closed by server"):
            text += f", closed by server {stats['closed by server']}"
    if stats.get("failed"):
        text += f", connects failed {stats['failed']:,}"
    return text


def table(mode, results):
    """One mode's results in Markdown."""
    base = next((r.rate for r in results if r.kind == "none" and r.rate), None)
    ws = mode.wine
    head = ["attack", "s", "server RSS at start, MiB", "growth at end / peak, MiB",
            "server CPU"] + (["wineserver CPU"] if ws else []) + [
            "good client echoes/s", "vs none", "wrong / missing", "Hello during attack",
            "attacker", "notes"]
    out = ["| " + " | ".join(head) + " |", "|---" * len(head) + "|"]
    for r in results:
        if r.skipped:
            out.append(f"| {r.name} | " + " | ".join(["-"] * (len(head) - 2)) +
                       f" | {r.skipped} |")
            continue
        notes = list(r.notes)
        if r.kind == "fdexhaust":
            notes.insert(0, f"{r.exhaust_seconds:.0f} s of exhaustion, good client idle: "
                            f"server CPU {pct(r.exhaust_cpu)}, descriptors "
                            f"{r.fds}/{NOFILE}")
            if r.recovery is not None:
                notes.append(f"new client's first echo {r.recovery * 1000:.0f} ms after the "
                             "attack's connections closed")
        growth = ("-" if r.rss_start is None or r.rss_end is None else
                  f"{mib(r.rss_end - r.rss_start)} / {mib(r.peak - r.rss_start)}")
        cells = [r.name, f"{r.seconds:g}", mib(r.rss_start), growth, pct(r.cpu)]
        if ws:
            cells.append(pct(r.wineserver_cpu))
        cells += [f"{r.rate:,.0f}" if r.rate else "-",
                  f"{r.rate / base:.2f}" if r.rate and base else "-",
                  f"{r.wrong} / {r.missing}",
                  "-" if r.hello is None else f"{r.hello * 1000:.0f} ms",
                  attacker_text(r), "; ".join(notes) or "-"]
        out.append("| " + " | ".join(cells) + " |")
    return "\n".join(out)


def targets(results, long_seconds):
    """The targets, judged on each mode's results: Markdown rows."""
    limits = {False: 32 << 20, True: 64 << 20}
    modes = list(results)
    rows = []

    def flood(mode, rs):
        r = next((r for r in rs if r.name == f"flood-{long_seconds:g}"), None)
        if r is None or r.rss_start is None or r.peak is None:
            return "not measured"
        growth = r.peak - r.rss_start
        limit = limits[mode.wine]
        verdict = "met" if growth < limit and not r.tripped else "NOT met"
        return f"{mib(growth)} MiB (limit {limit >> 20}): {verdict}"

    def fd_row(mode, rs):
        """The fdexhaust result, or why there is none."""
        r = next((r for r in rs if r.kind == "fdexhaust"), None)
        if r is None or r.skipped:
            return None, "not measured (Wine)" if mode.wine else "not measured"
        return r, None

    def exhaust(mode, rs):
        r, why = fd_row(mode, rs)
        if r is None:
            return why
        if r.exhaust_cpu is None:
            return "not measured"
        return (f"{pct(r.exhaust_cpu)} over {r.exhaust_seconds:.0f} s: "
                f"{'met' if r.exhaust_cpu < 5 else 'NOT met'}")

    def recovery(mode, rs):
        r, why = fd_row(mode, rs)
        if r is None:
            return why
        if r.recovery is None:
            return "no echo within 10 s: NOT met"
        return f"{r.recovery:.2f} s: {'met' if r.recovery < 1 else 'NOT met'}"

    def right(mode, rs):
        bad = [r.name for r in rs if not r.skipped and (r.wrong or r.missing or not r.echoes)]
        return "yes" if not bad else "NO: " + ", ".join(bad)

    for text, judge in (
            (f"flood for {long_seconds:g} s" +
             ("" if long_seconds == 60 else " (the target is for 60 s)") +
             ": server RSS growth (peak) < 32 MiB natively, < 64 MiB under Wine", flood),
            ("10 s of descriptor exhaustion: server CPU < 5 % of one CPU", exhaust),
            ("a new client served (first echo) within 1 s of descriptors coming back",
             recovery),
            ("the good client got every echo right in every attack", right)):
        rows.append(f"| {text} | " + " | ".join(judge(m, results[m]) for m in modes) + " |")
    return ("| target | " + " | ".join(m.name for m in modes) + " |\n" +
            "|---" * (len(modes) + 1) + "|\n" + "\n".join(rows))


def markdown(results, seconds, long_seconds):
    """Every mode's table and the targets, with what each attack does."""
    out = [f"Each attack runs against a fresh echo_server (roi's default backend: epoll "
           f"natively, afd under Wine) for {SETTLE:g} s, then for the measured window of "
           f"the length given (s) while the good client runs: a Hello, then {WINDOW} "
           f"Requests of {BODY} B in flight, every Response checked for its id, order and "
           "body. Server RSS is VmRSS of the server process, sampled every "
           f"{SAMPLE_EVERY:g} s; growth is from the start of the attack to its end and to "
           "the peak sample. Server CPU is user + system time over the window, in % of one "
           f"CPU. An attack whose server passes {RSS_GUARD >> 30} GiB is stopped at once. "
           "'Hello during attack' is the time the good client took to connect and be "
           "answered once the attack was under way. Attacks:", ""]
    out += [f"- **{k}**: {a.text}." for k, a in ATTACKS.items()]
    out.append(f"- **flood-{long_seconds:g}**: the flood, for {long_seconds:g} s.")
    for mode, rs in results.items():
        out += ["", f"### {mode.name}", "", table(mode, rs)]
    out += ["", "### Targets", "", targets(results, long_seconds)]
    return "\n".join(out) + "\n"


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--server", help="the echo_server program (a .exe runs under Wine)")
    ap.add_argument("--seconds", type=float, default=30.0, help="length of each attack (30)")
    ap.add_argument("--long", type=float, default=60.0, help="length of the long flood (60)")
    ap.add_argument("--attacks", default="", help="comma-separated names (default: all)")
    ap.add_argument("--attacker", choices=list(ATTACKS), help=argparse.SUPPRESS)
    ap.add_argument("--port", type=int, help=argparse.SUPPRESS)
    ap.add_argument("--limit", type=float, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.attacker:
        return attacker(args.attacker, args.port, args.limit)
    if not args.server:
        ap.error("--server is required")
    wine = args.server.endswith(".exe")
    mode = Mode("Wine" if wine else "native", args.server, dict(os.environ), wine)
    chosen = [a for a in args.attacks.split(",") if a]
    results = run_mode(mode, args.seconds, args.long, lambda m: print(m, flush=True), chosen)
    print("\n" + markdown({mode: results}, args.seconds, args.long))
    return 0


if __name__ == "__main__":
    sys.exit(main())
