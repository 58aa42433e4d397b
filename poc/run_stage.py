#!/usr/bin/env python3
"""Runs roi's feasibility stage programs and judges their results.

Two uses:
  run_stage.py [--wrapper wine] [--expect-exit N] STAGE.exe [stage args...]
      Runs one stage with --json, checks that the JSON has the agreed shape and
      that the exit status agrees with it, prints one line per check, and exits
      0 when the stage passed (or exited with N, when --expect-exit is given),
      1 otherwise. The meson tests of suite 'poc' use this.
  run_stage.py --table --build-dir DIR [--wrapper wine] [--summary FILE]
      Runs every gate of GATES below and prints the pass/fail table that
      scripts/gates shows; exits 1 if any gate failed. --summary writes
      "PASSED FAILED" for scripts/test to count.

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

# (label, stage, extra arguments, figures shown in the table). A stage whose
# source directory does not exist yet is listed as "not written".
GATES = [
    ("stage0_wake", "stage0_wake", [], ["wake_rtt_p50", "wake_rtt_p99", "producers_no_loss"]),
    ("stage1_accept", "stage1_accept", [], ["accept_via_afd_helper", "accept_via_base_handle"]),
    ("stage2_echo 1 MiB", "stage2_echo", [], ["echo_throughput", "blocking_throughput", "echo_vs_blocking"]),
    ("stage2_echo 64 MiB", "stage2_echo", ["--bytes", str(64 << 20)],
     ["echo_throughput", "blocking_throughput", "echo_vs_blocking"]),
    ("stage3_stress", "stage3_stress", [], ["cycles", "records_reclaimed", "handle_high_water", "memory_growth"]),
]

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


def run(exe, args, wrapper):
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
            return None, None, ["could not start: %s" % e], time.monotonic() - t0
        secs = time.monotonic() - t0
        out_f.seek(0)
        err_f.seek(0)
        proc.stdout, proc.stderr = out_f.read(), err_f.read()
    out = proc.stdout.decode("utf-8", "replace").strip()
    stage = os.path.splitext(os.path.basename(exe))[0]
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
    if opts.expect_exit is not None:
        ok = status == opts.expect_exit and not [p for p in problems if "disagrees" not in p]
        print("%s: exit %s, expected %d -> %s" % (opts.exe, status, opts.expect_exit, "ok" if ok else "WRONG"))
        return 0 if ok else 1
    ok = status == 0 and doc is not None and doc.get("passed") is True and not problems
    print("%s: %s in %.1f s" % (os.path.basename(opts.exe), "PASS" if ok else "FAIL", secs))
    return 0 if ok else 1


def table(opts):
    src_root = os.path.dirname(os.path.abspath(__file__))
    rows, passed, failed = [], 0, 0
    for label, stage, args, figures in GATES:
        if not os.path.isdir(os.path.join(src_root, stage)):
            rows.append((label, "not written", "-", "-", "this stage does not exist yet"))
            continue
        exe = os.path.join(opts.build_dir, "poc", stage, stage + ".exe")
        if not os.path.exists(exe):
            rows.append((label, "FAIL", "-", "-", "not built: %s is missing" % exe))
            failed += 1
            continue
        print("== %s %s" % (label, " ".join(args)))
        status, doc, problems, secs = run(exe, args, opts.wrapper)
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
    ap.add_argument("--build-dir", help="the Windows build directory (with --table)")
    ap.add_argument("--summary", help="file to write 'PASSED FAILED' to (with --table)")
    ap.add_argument("--expect-exit", type=int, help="pass when the stage exits with this status")
    ap.add_argument("exe", nargs="?")
    ap.add_argument("args", nargs=argparse.REMAINDER)
    opts = ap.parse_args()
    if opts.table:
        if not opts.build_dir:
            ap.error("--table needs --build-dir")
        return table(opts)
    if not opts.exe:
        ap.error("name a stage program")
    return single(opts)


if __name__ == "__main__":
    sys.exit(main())
