#!/usr/bin/python3
"""The bulk benign test: at least 1,500 healthy files written by the real
libraries (tests/fixtures/make_bulk_benign.py) must all come back CLEAN from
`gauntlet scan`, in process and under --isolate. A healthy file reported
SUSPICIOUS, MALICIOUS or ERROR is a false alarm that gets a registry gate
switched off, so every one is listed with its findings.

Environment: GAUNTLET (the CLI), BULK_DIR (where to write the files).
"""
import collections
import json
import os
import shutil
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
GAUNTLET = os.environ["GAUNTLET"]
OUT = os.environ["BULK_DIR"]


def scan(extra):
    report_path = os.path.join(OUT + ".report.json")
    proc = subprocess.run([GAUNTLET, "scan", OUT, "--format", "json", "--output", report_path,
                           "--no-progress"] + extra, capture_output=True, text=True, timeout=900)
    with open(report_path) as f:
        report = json.load(f)
    return proc.returncode, report["files"]


def main():
    shutil.rmtree(OUT, ignore_errors=True)
    made = subprocess.run(["/usr/bin/python3", os.path.join(HERE, "..", "fixtures", "make_bulk_benign.py"),
                           OUT], check=True, capture_output=True, text=True,
                          env=dict(os.environ, OMP_WAIT_POLICY="PASSIVE"))
    written = int(made.stdout.split()[-1])
    failures = 0
    for mode, extra in (("in-process", []), ("isolated", ["--isolate"])):
        rc, files = scan(extra)
        verdicts = collections.Counter(f["verdict"] for f in files)
        print(f"{mode}: {len(files)} files, verdicts {dict(verdicts)}, exit {rc}")
        bad = [f for f in files if f["verdict"] != "CLEAN"]
        for f in bad[:50]:
            print(f"  {f['verdict']} {f['path']} ({f['format']})")
            for finding in f["findings"]:
                print(f"      {finding['severity']} {finding['rule_id']} {finding['message'][:160]}")
        if len(files) < 1500 or len(files) < written or bad or rc != 0:
            failures += 1
    print(f"{2 - failures} passed, {failures} failed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
