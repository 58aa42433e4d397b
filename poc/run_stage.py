#!/usr/bin/env python3
"""Runs roi's feasibility stage programs and judges their results.

Two uses:
  run_stage.py [--wrapper wine] [--expect-exit N] [--expect-fail CHECK[=VALUE]]...
               STAGE.exe [stage args...]
      Runs one stage with --json, checks that the JSON has the agreed shape and
      that the exit status agrees with it, prints one line per check, and exits
      0 when the stage passed (or exited with N, when --expect-exit is given),
      1 otherwise. --expect-fail also requires the named check to be there and
      to have failed (with that value, when =VALUE is given): a test that must
      fail then fails for the reason it is about. The meson tests of suites
      'poc' and 'poc-extra' use this.
  run_stage.py --table [--dir DIR] [--wrapper wine] [--summary FILE]
      Runs every gate of GATES below and prints the pass/fail table that
      scripts/gates shows; exits 1 if any gate failed, 2 if no stage program
      was found at all. DIR (default: the current directory) is either a plain
      folder holding the stage programs (stage0_wake.exe ... stage3_stress.exe,
      or the same names without .exe; a program renamed with a suffix, such as
      stage0_wake-x86.exe, is taken when it is the only one of its stage), or a
      Meson build directory, where they are DIR/poc/<stage>/<stage>.exe.
      --build-dir is another name for --dir.
      --summary writes "PASSED FAILED" for scripts/test to count.

The agreed JSON shape (docs/design.md section 2, the same for every stage):
  {"stage": NAME, "passed": BOOL, ["error": TEXT,]
   "checks": [{"name": TEXT, "passed": BOOL, "value": NUMBER, "unit": TEXT,
               "detail": TEXT}, ...]}
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

# (label, stage, extra arguments, figures shown in the table).
GATES = [
    ("stage0_wake", "stage0_wake", [], ["wake_rtt_p50", "wake_rtt_p99", "producers_no_loss"]),
    ("stage1_accept", "stage1_accept", [], ["accept_via_afd_helper", "accept_via_base_handle"]),
    ("stage2_echo 1 MiB", "stage2_echo", [], ["echo_throughput", "blocking_throughput", "echo_vs_blocking"]),
    ("stage2_echo 64 MiB", "stage2_echo", ["--bytes", str(64 << 20)],
     ["echo_throughput", "blocking_throughput", "echo_vs_blocking"]),
    ("stage3_stress", "stage3_stress", [],
     ["cycles", "records_reclaimed", "live_sockets", "handle_high_water", "memory_growth"]),
]
STAGES = sorted(set(g[1] for g in GATES))

RUN_TIMEOUT_S = 300  # each stage has its own watchdog; this is a last resort


def shape_errors(doc, stage):
    """Returns a list of ways `doc` departs from the agreed shape."""
    errs = []
    if not isinstance(doc, dict):
        return ["the JSON is not an object"]
    if doc.get("stage") != stage:
        errs.append("'stage' is %r, expected %r" % (doc.get("stage"), stage))
    if not isinstance(doc.get("passed"), bool):
        errs.append("'passed' is not a boolean")
    checks = doc.get("checks")
    if not isinstance(checks, list):
        return errs + ["'checks' is not a list"]
    for i, c in enumerate(checks):
        if not isinstance(c, dict):
            errs.append("check %d is not an object" % i)
            continue
        for key, types in (("name", str), ("passed", bool), ("value", (int, float)), ("unit", str)):
            if not isinstance(c.get(key), types) or (key == "value" and isinstance(c.get(key), bool)):
                errs.append("check %d (%s): '%s' missing or of the wrong type" % (i, c.get("name"), key))
    if doc.get("passed") is True and any(not c.get("passed") for c in checks if isinstance(c, dict)):
        errs.append("'passed' is true although a check failed")
    if doc.get("passed") is True and not checks:
        errs.append("'passed' is true with no checks")
    return errs


def stage_of(exe):
    """The stage a program file is expected to be: its name without the extension,
    or the known stage its name begins with (stage0_wake-i686.exe is stage0_wake)."""
    base = os.path.splitext(os.path.basename(exe))[0]
    for stage in STAGES:
        if base == stage or base.startswith(stage):
            return stage
    return base


def run(exe, args, wrapper, stage=None):
    """Runs a stage with --json. Returns (exit status, parsed JSON or None, problems, seconds)."""
    cmd = ([wrapper] if wrapper else []) + [exe, "--json"] + list(args)
    # Output goes to files, not pipes: a wineserver started by this run inherits
    # the descriptors and would hold a pipe open for seconds after the stage ended.
    with tempfile.TemporaryFile() as out_f, tempfile.TemporaryFile() as err_f:
        t0 = time.monotonic()
        try:
            proc = subprocess.run(cmd, stdout=out_f, stderr=err_f, timeout=RUN_TIMEOUT_S, check=False)
        except subprocess.TimeoutExpired:
            return None, None, ["did not finish within %d s" % RUN_TIMEOUT_S], time.monotonic() - t0
        except OSError as e:
            hint = ""
            if not wrapper and os.name != "nt":
                hint = " (a Windows program: run it through Wine with --wrapper wine)"
            return None, None, ["could not start: %s%s" % (e, hint)], time.monotonic() - t0
        secs = time.monotonic() - t0
        out_f.seek(0)
        err_f.seek(0)
        proc.stdout, proc.stderr = out_f.read(), err_f.read()
    out = proc.stdout.decode("utf-8", "replace").strip()
    stage = stage or stage_of(exe)
    try:
        doc = json.loads(out)
    except ValueError as e:
        tail = proc.stderr.decode("utf-8", "replace").strip()[-400:]
        return proc.returncode, None, ["output is not valid JSON (%s): %r %s" % (e, out[:200], tail)], secs
    problems = shape_errors(doc, stage)
    want = 0 if doc.get("passed") else (2 if "error" in doc else 1)
    if proc.returncode != want:
        problems.append("exit status %d disagrees with the JSON (expected %d)" % (proc.returncode, want))
    return proc.returncode, doc, problems, secs


def fmt_value(v):
    return ("%.0f" % v) if abs(v) >= 1000 or float(v).is_integer() else ("%.2f" % v)


def print_checks(doc):
    for c in doc.get("checks", []):
        print("  %s  %-24s %14s %-10s %s" % ("PASS" if c.get("passed") else "FAIL", c.get("name"),
                                            fmt_value(c.get("value", 0)), c.get("unit", ""),
                                            c.get("detail", "")))
    if "error" in doc:
        print("  cannot run: %s" % doc["error"])


def single(opts):
    status, doc, problems, secs = run(opts.exe, opts.args, opts.wrapper)
    if doc is not None:
        print_checks(doc)
    for p in problems:
        print("  problem: %s" % p)
    wrong = []
    for want in opts.expect_fail:
        name, _, value = want.partition("=")
        c = {c.get("name"): c for c in (doc or {}).get("checks", [])}.get(name)
        if c is None:
            wrong.append("check %s is missing" % name)
        elif c.get("passed"):
            wrong.append("check %s passed" % name)
        elif value and c.get("value") != float(value):
            wrong.append("check %s has value %s, expected %s" % (name, fmt_value(c.get("value", 0)), value))
        else:
            print("  expected failure: %s (value %s)" % (name, fmt_value(c.get("value", 0))))
    for w in wrong:
        print("  problem: %s" % w)
    if opts.expect_exit is not None:
        ok = (status == opts.expect_exit and not wrong
              and not [p for p in problems if "disagrees" not in p])
        print("%s: exit %s, expected %d -> %s" % (opts.exe, status, opts.expect_exit, "ok" if ok else "WRONG"))
        return 0 if ok else 1
    if opts.expect_fail:
        print("%s: --expect-fail needs --expect-exit" % os.path.basename(opts.exe))
        return 1
    ok = status == 0 and doc is not None and doc.get("passed") is True and not problems
    print("%s: %s in %.1f s" % (os.path.basename(opts.exe), "PASS" if ok else "FAIL", secs))
    return 0 if ok else 1


def find_stage(folder, stage):
    """Finds the program of `stage` in `folder`. Returns (path or None, problem or None).

    Looks first in the folder itself (a plain folder of copied programs:
    stage0_wake.exe, or stage0_wake without .exe), then in Meson's build layout
    (folder/poc/stage0_wake/stage0_wake.exe). A program renamed with a suffix
    (stage0_wake-x64.exe) is found when it is the only one of its stage."""
    places = [folder, os.path.join(folder, "poc", stage)]
    for place in places:
        for name in (stage + ".exe", stage):
            path = os.path.join(place, name)
            if os.path.isfile(path):
                return path, None
    try:
        names = sorted(os.listdir(folder))
    except OSError:
        names = []
    prefix = stage.split("_")[0] + "_"  # stage0_
    found = [n for n in names if n.lower().startswith(prefix) and stage_of(n) == stage
             and os.path.isfile(os.path.join(folder, n))
             and (n.lower().endswith(".exe") or "." not in n)]
    if len(found) == 1:
        return os.path.join(folder, found[0]), None
    if len(found) > 1:
        return None, "several programs could be %s: %s" % (stage, ", ".join(found))
    return None, None


def table(opts):
    folder = opts.dir
    if not os.path.isdir(folder):
        print("gates: %s is not a folder" % folder)
        return 2
    exes = {}
    for stage in STAGES:
        exes[stage] = find_stage(folder, stage)
    if not any(path for path, _ in exes.values()):
        print("gates: no stage program found in %s: looked for %s (with or without .exe) "
              "in the folder itself and in Meson's layout %s" % (
                  os.path.abspath(folder), ", ".join(s + ".exe" for s in STAGES),
                  os.path.join(folder, "poc", "<stage>", "<stage>.exe")))
        print("gates: nothing was run")
        return 2
    rows, passed, failed = [], 0, 0
    for label, stage, args, figures in GATES:
        exe, why = exes[stage]
        if not exe:
            rows.append((label, "FAIL", "-", "-",
                         why or "not found: no %s.exe in %s or %s" % (
                             stage, folder, os.path.join(folder, "poc", stage))))
            failed += 1
            continue
        print("== %s %s(%s)" % (label, " ".join(args) + " " if args else "", exe))
        status, doc, problems, secs = run(exe, args, opts.wrapper, stage)
        if doc is not None:
            print_checks(doc)
        for p in problems:
            print("  problem: %s" % p)
        ok = status == 0 and doc is not None and doc.get("passed") is True and not problems
        checks = doc.get("checks", []) if doc else []
        n_ok = sum(1 for c in checks if c.get("passed"))
        by_name = {c.get("name"): c for c in checks}
        figs = ["%s %s %s" % (f, fmt_value(by_name[f]["value"]), by_name[f].get("unit", ""))
                for f in figures if f in by_name]
        if doc is not None and "error" in doc:
            figs = ["cannot run: " + doc["error"]]
        elif problems:
            figs = problems[:1] + figs
        rows.append((label, "PASS" if ok else "FAIL", "%d/%d" % (n_ok, len(checks)),
                     "%.1f s" % secs, "; ".join(figs)))
        passed += ok
        failed += not ok
    print()
    head = ("gate", "result", "checks", "time", "figures")
    widths = [max(len(r[i]) for r in rows + [head]) for i in range(4)]
    line = "  ".join("%-*s" % (w, h) for w, h in zip(widths, head[:4])) + "  " + head[4]
    print(line)
    print("-" * len(line))
    for r in rows:
        print("  ".join("%-*s" % (w, v) for w, v in zip(widths, r[:4])) + "  " + r[4])
    print()
    print("gates: %d passed, %d failed" % (passed, failed))
    if opts.summary:
        with open(opts.summary, "w") as f:
            f.write("%d %d\n" % (passed, failed))
    return 0 if failed == 0 else 1


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--wrapper", default="", help="program that runs a Windows .exe (wine)")
    ap.add_argument("--table", action="store_true", help="run every gate and print the table")
    ap.add_argument("--dir", "--build-dir", dest="dir", default=".",
                    help="with --table: a folder of stage programs, or a Meson build "
                         "directory (default: the current directory)")
    ap.add_argument("--summary", help="file to write 'PASSED FAILED' to (with --table)")
    ap.add_argument("--expect-exit", type=int, help="pass when the stage exits with this status")
    ap.add_argument("--expect-fail", action="append", default=[], metavar="CHECK[=VALUE]",
                    help="with --expect-exit: the named check must be there and have "
                         "failed (with that value, when given); may be repeated")
    ap.add_argument("exe", nargs="?")
    ap.add_argument("args", nargs=argparse.REMAINDER)
    opts = ap.parse_args()
    if opts.table:
        if opts.exe:
            ap.error("--table takes no program; name the folder with --dir")
        return table(opts)
    if not opts.exe:
        ap.error("name a stage program")
    return single(opts)


if __name__ == "__main__":
    sys.exit(main())
