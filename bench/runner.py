#!/usr/bin/env python3
"""Runs roi's benchmarks side by side and records them (docs/design.md section 7).

scripts/bench installs what is missing, builds, and then runs this script,
which a person can also run by hand on existing builds (see --help).

Every figure is a set of cases (roi and its peers) measured in one run: each
repetition runs every case of the figure once, one after the other, so that
the machine's noise falls on all of them alike. The whole set is run twice,
with no CPU affinity and with every process (and the Wine server) pinned to
CPU 0. Each run is one process with a time limit; its result line (see
bench_util.h) is parsed, and the medians, minima and maxima are printed, then
written with the ratios into bench/RESULTS.md between the markers
<!-- bench:begin --> and <!-- bench:end --> (the text around them is kept),
and the ping-pong figures are drawn into bench/pingpong.png with gnuplot.

The hostile-peer figure (bench/hostile.py) runs only when --only names it:
each attack against examples/echo_server, natively and under Wine, with no
CPU affinity and once each (it is about bounds, not speed). Its tables go
between <!-- hostile:begin --> and <!-- hostile:end --> of bench/RESULTS.md.
"""

import argparse
import datetime
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

import hostile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RUN_LIMIT_S = 60  # the bound on any one run
BEGIN, END = "<!-- bench:begin -->", "<!-- bench:end -->"
HOSTILE_BEGIN, HOSTILE_END = "<!-- hostile:begin -->", "<!-- hostile:end -->"


class Case:
    """One implementation within a figure: a command and how to read it."""

    def __init__(self, label, prog, args, wine=False, scale=1.0, idle_peer=False):
        self.label = label  # e.g. "roi epoll", "libuv", "roi afd (Wine)"
        self.prog = prog  # program name under <build>/bench
        self.args = args
        self.wine = wine
        self.scale = scale  # multiplies the program's value (2: round trips -> events)
        self.idle_peer = idle_peer  # needs bench/idle_peer's port as --peer-port
        self.values = {}  # affinity -> [values]
        self.failure = None


class Figure:
    """A set of cases measured side by side, and the ratios to report."""

    def __init__(self, key, title, unit, cases, ratios, note="", lower_better=False):
        self.key = key
        self.title = title
        self.unit = unit
        self.cases = cases
        self.ratios = ratios  # [(numerator label, denominator label, target text)]
        self.note = note
        self.lower_better = lower_better


def figures(args, have):
    """The figures of a full run. have(prog, wine) tells whether a program was built."""
    s, w = ["--seconds", str(args.seconds), "--warmup", str(args.warmup)], []
    figs = []
    conns = [1, 100, 1000]
    for n in conns:
        cases = [
            Case("roi epoll", "bench_scale", ["--backend", "epoll", "--busy", str(n)] + s, scale=2),
            Case("roi poll", "bench_scale", ["--backend", "poll", "--busy", str(n)] + s, scale=2),
            Case("libuv", "peer_libuv", ["--figure", "pingpong", "--conns", str(n)] + s, scale=2),
            Case("libevent", "peer_libevent", ["--figure", "pingpong", "--conns", str(n)] + s,
                 scale=2),
            Case("roi afd (Wine)", "bench_scale", ["--backend", "afd", "--busy", str(n)] + s,
                 wine=True, scale=2),
            Case("roi poll (Wine)", "bench_scale", ["--backend", "poll", "--busy", str(n)] + s,
                 wine=True, scale=2),
            # The same program driven through roi/epoll.h (the epoll_* layer).
            Case("roi epoll API (Wine)", "bench_epoll", ["--busy", str(n)] + s, wine=True,
                 scale=2),
        ]
        figs.append(Figure(
            f"pingpong-{n}", f"Ping-pong, {n} connection{'s' if n > 1 else ''}", "events/s",
            cases,
            [("roi epoll", "libuv", "at least 1.0 at 100 and 1,000"),
             ("roi epoll", "libevent", ""), ("roi poll", "libuv", ""),
             ("roi afd (Wine)", "roi poll (Wine)", ""),
             ("roi epoll API (Wine)", "roi afd (Wine)", "")]))
    sc = ["--busy", "10", "--seconds", str(args.seconds), "--warmup", str(args.warmup)]
    idle = ["--idle", str(args.idle)]
    figs.append(Figure(
        "scaling", f"Scaling: 10 busy connections alone and with {args.idle:,} idle ones",
        "round trips/s",
        [Case("roi epoll, alone", "bench_scale", ["--backend", "epoll"] + sc),
         Case("roi epoll, with idle", "bench_scale", ["--backend", "epoll"] + sc + idle,
              idle_peer=True),
         Case("roi afd (Wine), alone", "bench_scale", ["--backend", "afd"] + sc, wine=True),
         Case("roi afd (Wine), with idle", "bench_scale", ["--backend", "afd"] + sc + idle,
              wine=True, idle_peer=True),
         Case("roi epoll API (Wine), alone", "bench_epoll", sc, wine=True),
         Case("roi epoll API (Wine), with idle", "bench_epoll", sc + idle, wine=True,
              idle_peer=True)],
        [("roi epoll, with idle", "roi epoll, alone", "at least 0.8"),
         ("roi afd (Wine), with idle", "roi afd (Wine), alone", "at least 0.8"),
         ("roi epoll API (Wine), with idle", "roi epoll API (Wine), alone", ""),
         ("roi epoll API (Wine), with idle", "roi afd (Wine), with idle", "")]))
    figs.append(Figure(
        "wake", "Cross-thread wake round trips", "round trips/s",
        [Case("roi epoll", "bench_wake", ["--impl", "roi", "--backend", "epoll"] + s),
         Case("bare eventfd", "bench_wake", ["--impl", "eventfd"] + s),
         Case("roi afd (Wine)", "bench_wake", ["--impl", "roi", "--backend", "afd"] + s,
              wine=True),
         Case("bare IOCP post (Wine)", "bench_wake", ["--impl", "iocp"] + s, wine=True)],
        [("roi epoll", "bare eventfd", "at least 0.67 (within 1.5x)"),
         ("roi afd (Wine)", "bare IOCP post (Wine)", "at least 0.67 (within 1.5x)")]))
    figs.append(Figure(
        "bulk", "Bulk: one connection, 64 KiB chunks", "MB/s",
        [Case("roi epoll", "bench_bulk", ["--impl", "roi", "--backend", "epoll"] + s, scale=1e-6),
         Case("blocking send/recv", "bench_bulk", ["--impl", "blocking"] + s, scale=1e-6),
         Case("roi afd (Wine)", "bench_bulk", ["--impl", "roi", "--backend", "afd"] + s,
              wine=True, scale=1e-6),
         Case("blocking send/recv (Wine)", "bench_bulk", ["--impl", "blocking"] + s, wine=True,
              scale=1e-6)],
        [("roi epoll", "blocking send/recv", "at least 0.9"),
         ("roi afd (Wine)", "blocking send/recv (Wine)", "at least 0.9")]))
    for fig, size, unit, target in (("push", 64, "messages/s", "at least 1.2"),
                                    ("push", 1024, "messages/s", "at least 1.5"),
                                    ("reqrep", 64, "round trips/s", "at least 1.1")):
        a = ["--figure", fig, "--size", str(size)] + s
        title = (f"Engine: one-way messages of {size} B" if fig == "push" else
                 f"Engine: request/reply round trips of {size} B")
        figs.append(Figure(
            f"engine-{fig}-{size}", title, unit,
            [Case("roi", "bench_engine", a + ["--backend", "epoll"]),
             Case("ZeroMQ", "peer_zmq", a), Case("nng", "peer_nng", a)],
            [("roi", "ZeroMQ", target), ("roi", "nng", "")],
            note=("ZeroMQ PUSH/PULL, nng push0/pull0" if fig == "push" else
                  "ZeroMQ REQ/REP, nng req0/rep0")))
    ch = ["--figure", "churn", "--conns", "10"] + s
    figs.append(Figure(
        "churn", "Churn: connect, accept and close cycles, 10 in flight", "cycles/s",
        [Case("roi epoll", "bench_churn", ch + ["--backend", "epoll"]),
         Case("roi poll", "bench_churn", ch + ["--backend", "poll"]),
         Case("libuv", "peer_libuv", ch), Case("libevent", "peer_libevent", ch)],
        [("roi epoll", "libuv", ""), ("roi epoll", "libevent", "")]))
    mem = ["--figure", "memory", "--conns", "5000"]
    figs.append(Figure(
        "memory", "Memory per open connection (both ends in one loop, 5,000 connections)",
        "bytes", [Case("roi epoll", "bench_churn", mem + ["--backend", "epoll"]),
                  Case("roi poll", "bench_churn", mem + ["--backend", "poll"]),
                  Case("libuv", "peer_libuv", mem), Case("libevent", "peer_libevent", mem)],
        [("roi epoll", "libuv", ""), ("roi epoll", "libevent", "")], lower_better=True))
    if args.diagnostics:
        sc_idle = sc + idle
        figs.append(Figure(
            "scaling-diag", "Scaling diagnostics under Wine: where the idle sockets are",
            "round trips/s",
            [Case("afd, idle in the measured poller", "bench_scale",
                  ["--backend", "afd"] + sc_idle, wine=True, idle_peer=True),
             Case("afd, idle in a poller never waited on", "bench_scale",
                  ["--backend", "afd", "--idle-in", "other"] + sc_idle, wine=True,
                  idle_peer=True),
             Case("afd, idle not registered", "bench_scale",
                  ["--backend", "afd", "--idle-in", "none"] + sc_idle, wine=True,
                  idle_peer=True)], []))
    selected = [f for f in figs if not args.only or any(f.key.startswith(o) for o in args.only)]
    for f in selected:
        f.cases = [c for c in f.cases if have(c) and not (args.no_wine and c.wine)]
    return [f for f in selected if f.cases]


class Runner:
    def __init__(self, args):
        self.args = args
        self.native = os.path.join(args.native_dir, "bench")
        self.win = os.path.join(args.win_dir, "bench")
        self.wine_pin = None  # the affinity the bench prefix's wineserver runs with
        self.env = dict(os.environ)
        self.env.update(WINEDEBUG="-all", WINEDLLOVERRIDES="mscoree,mshtml=", WINEARCH="win64",
                        WINEPREFIX=os.environ.get("ROI_BENCH_WINEPREFIX", os.path.expanduser(
                            "~/.local/share/roi/wineprefix-bench")))
        self.missing = set()

    def exe(self, case):
        if case.wine:
            return os.path.join(self.win, case.prog + ".exe")
        return os.path.join(self.native, case.prog)

    def have(self, case):
        ok = os.path.isfile(self.exe(case)) and (not case.wine or shutil.which("wine"))
        if not ok:
            self.missing.add(("Wine " if case.wine else "") + case.prog)
        return ok

    def wine_server(self, aff):
        """Restarts the bench prefix's wineserver with the affinity of the runs."""
        if self.wine_pin == aff:
            return
        pin = ["taskset", "-c", "0"] if aff == "pinned" else []
        env = self.env
        # Never pipes: the server and the prefix's services outlive these
        # commands and would hold a pipe open, so a read to its end would hang.
        quiet = dict(env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                     stderr=subprocess.DEVNULL, check=False)
        if not os.path.isfile(os.path.join(env["WINEPREFIX"], "system.reg")):
            say(f"creating the Wine prefix {env['WINEPREFIX']} (once)")
            os.makedirs(env["WINEPREFIX"], exist_ok=True)
            subprocess.run(["wine", "wineboot", "-i"], **quiet)
        subprocess.run(["wineserver", "-k"], **quiet)
        subprocess.run(["wineserver", "-w"], **quiet)
        # -p: the server stays up between the runs instead of ending three
        # seconds after each, so every run finds it started and pinned alike.
        subprocess.run(pin + ["wineserver", "-p"], **quiet)
        # The first program of a session starts the prefix's services, which
        # inherit its affinity: let that happen before anything is measured.
        subprocess.run(pin + ["wine", "cmd", "/c", "exit"], **quiet)
        self.wine_pin = aff

    def stop_wine(self):
        if self.wine_pin is not None:
            subprocess.run(["wineserver", "-k"], env=self.env, stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL, check=False)
            self.wine_pin = None

    def run(self, case, aff):
        """Runs one case once; returns its value or raises RuntimeError."""
        pin = ["taskset", "-c", "0"] if aff == "pinned" else []
        cmd = pin + (["wine"] if case.wine else []) + [self.exe(case)] + case.args
        peer = None
        if case.wine:
            self.wine_server(aff)
        try:
            if case.idle_peer:
                peer = subprocess.Popen(pin + [os.path.join(self.native, "idle_peer")],
                                        stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                        text=True)
                port = peer.stdout.readline().strip()
                if not port.isdigit():
                    raise RuntimeError("idle_peer did not print its port")
                cmd += ["--peer-port", port]
            # Files, not pipes: a process Wine starts on the side would hold a
            # pipe open after the program ends, and reading it would wait.
            with tempfile.TemporaryFile("w+") as o, tempfile.TemporaryFile("w+") as e:
                try:
                    p = subprocess.run(cmd, env=self.env, stdin=subprocess.DEVNULL, stdout=o,
                                       stderr=e, timeout=RUN_LIMIT_S)
                except subprocess.TimeoutExpired:
                    raise RuntimeError(f"no result within {RUN_LIMIT_S} s: {' '.join(cmd)}")
                o.seek(0)
                e.seek(0)
                out, err = o.read().replace("\r", ""), e.read().replace("\r", "")
        finally:
            if peer:
                peer.stdin.close()
                try:
                    peer.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    peer.kill()
                    peer.wait()
        line = next((l for l in out.splitlines() if re.search(r"\b(value|rate)=", l)), None)
        if p.returncode != 0 or line is None:
            tail = "\n".join((out + err).splitlines()[-8:])
            raise RuntimeError(f"exit {p.returncode}: {' '.join(cmd)}\n{tail}")
        fields = dict(kv.split("=", 1) for kv in line.split() if "=" in kv)
        return float(fields.get("value", fields.get("rate"))) * case.scale


def say(msg):
    print(f"[roi] {msg}", flush=True)


def fmt(v):
    if v >= 100:
        return f"{v:,.0f}"
    return f"{v:.3g}" if v < 10 else f"{v:.1f}"


def median(vs):
    return statistics.median(vs) if vs else None


def tables(figs, modes):
    """The results in Markdown: one table per figure, then the ratios."""
    out = []
    for f in figs:
        out.append(f"### {f.title}\n")
        if f.note:
            out.append(f"{f.note}.\n")
        head = "| implementation | " + " | ".join(
            f"{m}: median {f.unit} (min-max)" for m in modes) + " |"
        out += [head, "|---|" + "---|" * len(modes)]
        for c in f.cases:
            cells = []
            for m in modes:
                vs = c.values.get(m, [])
                if c.failure and not vs:
                    cells.append("failed")
                elif not vs:
                    cells.append("-")
                else:
                    cells.append(f"{fmt(median(vs))} ({fmt(min(vs))}-{fmt(max(vs))}, "
                                 f"{len(vs)} runs)")
            out.append(f"| {c.label} | " + " | ".join(cells) + " |")
        rows = []
        by_label = {c.label: c for c in f.cases}
        for num, den, target in f.ratios:
            if num not in by_label or den not in by_label:
                continue
            cells = []
            for m in modes:
                a, b = median(by_label[num].values.get(m, [])), median(
                    by_label[den].values.get(m, []))
                cells.append(f"{a / b:.2f}" if a and b else "-")
            rows.append(f"| {num} / {den} | " + " | ".join(cells) + f" | {target} |")
        if rows:
            out += ["", "| ratio of medians | " + " | ".join(modes) + " | target |",
                    "|---|" + "---|" * (len(modes) + 1)] + rows
            if f.lower_better:
                out.append("\n(Lower is better here: a ratio below 1 means roi uses less.)")
        out.append("")
    return "\n".join(out)


def chart(figs, modes, path):
    """Draws events/s against connections for the ping-pong figures."""
    if not shutil.which("gnuplot"):
        say("no gnuplot: the chart is not drawn")
        return False
    pp = [f for f in figs if f.key.startswith("pingpong-")]
    if not pp:
        return False
    labels = [c.label for c in pp[0].cases]
    datafile = path + ".dat"
    with open(datafile, "w") as d:
        for label in labels:
            for m in modes:
                d.write(f"# {label}, {m}\n")
                for f in pp:
                    n = int(f.key.split("-")[1])
                    c = next((c for c in f.cases if c.label == label), None)
                    if c and c.values.get(m):
                        d.write(f"{n} {median(c.values[m])}\n")
                d.write("\n\n")
    plots = []
    idx = 0
    for li, label in enumerate(labels):
        for mi, m in enumerate(modes):
            plots.append(f"'{datafile}' index {idx} with linespoints lw 2 dt {1 + 2 * mi} "
                         f"lc {li + 1} pt {li + 4} title '{label}, {m}'")
            idx += 1
    script = f"""
set terminal pngcairo size 1000,640 font ',11'
set output '{path}'
set title 'Ping-pong: events/s against open connections (medians; Wine shows relative cost only)'
set logscale xy
set xrange [0.7:1500]
set xtics ('1' 1, '100' 100, '1000' 1000)
set xlabel 'connections'
set ylabel 'events/s'
set key outside right
set grid
plot {', '.join(plots)}
"""
    r = subprocess.run(["gnuplot"], input=script, text=True, capture_output=True)
    os.unlink(datafile)
    if r.returncode != 0:
        say(f"gnuplot failed: {r.stderr.strip()}")
        return False
    return True


def write_results(path, body, begin=BEGIN, end=END):
    """Replaces the text between the markers begin and end of path."""
    text = open(path).read() if os.path.exists(path) else f"# Benchmark results\n\n{begin}\n{end}\n"
    if begin not in text or end not in text:
        text += f"\n{begin}\n{end}\n"
    head, rest = text.split(begin, 1)
    tail = rest.split(end, 1)[1]
    with open(path, "w") as f:
        f.write(head + begin + "\n" + body + "\n" + end + tail)


def machine():
    cpu = "?"
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    wine = subprocess.run(["wine", "--version"], capture_output=True, text=True).stdout.strip() \
        if shutil.which("wine") else "no Wine"
    distro = "?"
    try:
        distro = dict(l.rstrip().split("=", 1) for l in open("/etc/os-release") if "=" in l) \
            .get("PRETTY_NAME", "?").strip('"')
    except OSError:
        pass
    return (f"{os.cpu_count()} CPUs ({cpu}), {distro}, Linux {platform.release()}, {wine}")


def run_figures(args, r, figs, modes):
    """Runs the figures and reports them; returns the number of failed runs."""
    start = time.time()
    load0 = open("/proc/loadavg").read().split()[:3]
    date0 = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    say(f"{args.command}: {len(figs)} figures, {args.reps} runs of each case per affinity")
    failures = 0
    try:
        for m in modes:
            for f in figs:
                for rep in range(args.reps):
                    for c in f.cases:
                        if c.failure:
                            continue
                        t = time.time()
                        try:
                            v = r.run(c, m)
                        except RuntimeError as e:
                            c.failure = str(e)
                            failures += 1
                            say(f"FAILED {f.key} / {c.label} / {m}: {e}")
                            continue
                        c.values.setdefault(m, []).append(v)
                        print(f"  {f.key:16} {m:6} {c.label:28} {fmt(v):>12} {f.unit}"
                              f"  ({time.time() - t:.1f} s)", flush=True)
    finally:
        r.stop_wine()
    elapsed = time.time() - start
    load1 = open("/proc/loadavg").read().split()[:3]
    body = tables(figs, modes)
    print("\n" + body)
    say(f"total time {elapsed:.0f} s, {failures} failed runs")
    if args.write == "yes":
        header = (f"Command: `{args.command}`, started {date0}, took {elapsed / 60:.1f} min.\n"
                  f"Machine: {machine()}.\n"
                  f"Load average {' '.join(load0)} at the start, {' '.join(load1)} at the end.\n"
                  f"Each case: {args.reps} runs per affinity, {args.seconds} s measured after "
                  f"a {args.warmup} s warm-up; 'none' = no affinity, 'pinned' = every process "
                  f"on CPU 0 (`taskset -c 0`).\n")
        png = os.path.join(ROOT, "bench", "pingpong.png")
        if chart(figs, modes, png):
            header += "\n![events/s against connections](pingpong.png)\n"
        write_results(os.path.join(ROOT, "bench", "RESULTS.md"), header + "\n" + body)
        say("wrote bench/RESULTS.md")
    return failures


def run_hostile(args, r, write):
    """Runs the hostile-peer figure (bench/hostile.py) against the native
    echo_server and, unless --no-wine, echo_server.exe under Wine; prints it
    and, if write, writes it into bench/RESULTS.md. Returns the number of
    attacks that could not be measured (1 when no server was built)."""
    modes = [hostile.Mode("native", os.path.join(args.native_dir, "examples", "echo_server"),
                          dict(os.environ), False)]
    if not args.no_wine:
        modes.append(hostile.Mode("Wine", os.path.join(args.win_dir, "examples",
                                                       "echo_server.exe"), r.env, True))
    start = time.time()
    load0 = open("/proc/loadavg").read().split()[:3]
    date0 = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    say(f"{args.command}: hostile peers, {args.hostile_seconds:g} s per attack, with no CPU "
        "affinity only (these figures are about bounds, not speed), one run of each")
    results = {}
    try:
        for m in modes:
            if not os.path.isfile(m.exe) or (m.wine and not shutil.which("wine")):
                say(f"not built, left out: {m.name} echo_server ({m.exe})")
                continue
            if m.wine:
                r.wine_server("none")
            results[m] = hostile.run_mode(m, args.hostile_seconds, args.hostile_long, say)
    finally:
        r.stop_wine()
    if not results:
        say("nothing to run")
        return 1
    elapsed = time.time() - start
    load1 = open("/proc/loadavg").read().split()[:3]
    body = hostile.markdown(results, args.hostile_seconds, args.hostile_long)
    print("\n" + body)
    failures = sum(1 for rs in results.values() for x in rs if x.failed)
    say(f"hostile: total time {elapsed:.0f} s, {failures} attacks not measured")
    if write:
        header = (f"Command: `{args.command}`, started {date0}, took {elapsed / 60:.1f} min.\n"
                  f"Machine: {machine()}.\n"
                  f"Load average {' '.join(load0)} at the start, {' '.join(load1)} at the end.\n"
                  "No CPU affinity (these figures are about bounds, not speed); one run of each "
                  "attack.\n")
        write_results(os.path.join(ROOT, "bench", "RESULTS.md"), header + "\n" + body,
                      HOSTILE_BEGIN, HOSTILE_END)
        say("wrote the hostile section of bench/RESULTS.md")
    return failures


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--native-dir", required=True, help="native build directory")
    ap.add_argument("--win-dir", required=True, help="Windows build directory")
    ap.add_argument("--reps", type=int, default=5, help="runs of each case per affinity (5)")
    ap.add_argument("--seconds", type=float, default=0.4, help="measured time per run (0.4)")
    ap.add_argument("--warmup", type=float, default=0.1, help="warm-up per run (0.1)")
    ap.add_argument("--idle", type=int, default=10000, help="idle connections (10000)")
    ap.add_argument("--affinity", choices=["none", "pinned", "both"], default="both")
    ap.add_argument("--only", default="", help="figures, comma-separated prefixes "
                    "(pingpong, scaling, wake, bulk, engine, churn, memory, scaling-diag; "
                    "hostile runs only when named here)")
    ap.add_argument("--diagnostics", action="store_true",
                    help="add the Wine scaling diagnostics (where the idle sockets live)")
    ap.add_argument("--no-wine", action="store_true", help="leave out the Wine cases")
    ap.add_argument("--hostile-seconds", type=float, default=30.0,
                    help="length of each hostile attack (30)")
    ap.add_argument("--hostile-long", type=float, default=60.0,
                    help="length of the hostile figure's long flood (60)")
    ap.add_argument("--write", choices=["yes", "no"], default=None,
                    help="write bench/RESULTS.md and bench/pingpong.png (default: yes "
                    "for a full run, every figure at 5 runs or more, or the hostile figure "
                    "at its full lengths with Wine; no otherwise)")
    ap.add_argument("--command", default="bench/runner.py", help="the command to record")
    args = ap.parse_args()
    args.only = [o for o in args.only.split(",") if o]
    if "scaling-diag" in args.only:
        args.diagnostics = True
    modes = ["none", "pinned"] if args.affinity == "both" else [args.affinity]
    with_hostile = any("hostile".startswith(o) for o in args.only)
    write_hostile = args.write == "yes" or (
        args.write is None and args.hostile_seconds >= 30 and args.hostile_long >= 60 and
        not args.no_wine)
    if args.write is None:
        full = not args.only and args.reps >= 5 and args.affinity == "both" and not args.no_wine
        args.write = "yes" if full else "no"

    r = Runner(args)
    figs = figures(args, r.have)
    if r.missing:
        say("not built, left out: " + ", ".join(sorted(r.missing)))
    if not figs and not with_hostile:
        say("nothing to run")
        return 1
    failures = run_figures(args, r, figs, modes) if figs else 0
    if with_hostile:
        failures += run_hostile(args, r, write_hostile)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
