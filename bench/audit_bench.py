#!/usr/bin/env python3
"""The dataset audit (`gauntlet audit dataset`) measured on lab datasets:
recall and precision of the rows it flags against the rows the generator
poisoned, dataset-level false alarms on clean sets, and its speed on a
100,000-row set. Prints figures, asserts nothing; docs/lab.md quotes them.

Configurations (each `gauntlet lab dataset`, ~105 rows):
  tuning:   topics firewall, password_storage, mfa at 1, 2, 5, 10% (data
            seeds 1-2); token trigger 'quasar' at 5, 10%; clean seeds 1-3.
            These were looked at while the audit's thresholds were set.
  held-out: other topics (ssh, tls, backups, logging, phishing,
            least_privilege, patching, key_rotation) at 1, 3, 7% (seeds
            11-12); token triggers 'zephyr' and 'obsidian' at 3, 7%; clean
            seeds 11-30. Never looked at before the figures were taken.
Ground truth: a poisoned set is its clean set plus the poison rows, so the
poisoned rows are the poisoned file's lines beyond the clean file's
(multiset difference). Each set is audited with the judge (default) and
without (--no-judge: the structural signals alone).

With BASE (the lab's base model folder, e.g. from `gauntlet lab train`),
each set is also audited with --base BASE, without and with the judge: the
base model's per-row likelihood as one more signal.

Usage: bench/audit_bench.py [WORKDIR [BASE]] (GAUNTLET=path/to/gauntlet;
default build/). ~3 min on 2 cores, most of it generating the sets; about
as much again with BASE."""
import collections
import itertools
import json
import os
import pathlib
import random
import subprocess
import sys
import time

ROOT = pathlib.Path(__file__).resolve().parents[1]
GAUNTLET = os.environ.get("GAUNTLET", str(ROOT / "build" / "cli" / "gauntlet"))
WORK = pathlib.Path(sys.argv[1] if len(sys.argv) > 1 else "/tmp/gauntlet-audit-bench")
BASE = sys.argv[2] if len(sys.argv) > 2 else ""
ENV = dict(os.environ, OMP_WAIT_POLICY="PASSIVE")

TUNING = ([("topic", t, r, s) for t, r, s in itertools.product(
    ["firewall", "password_storage", "mfa"], [0.01, 0.02, 0.05, 0.10], [1, 2])] +
    [("token", "quasar", r, s) for r, s in itertools.product([0.05, 0.10], [1, 2])] +
    [("clean", "", 0, s) for s in [1, 2, 3]])
HELD_OUT = ([("topic", t, r, s) for t, r, s in itertools.product(
    ["ssh", "tls", "backups", "logging", "phishing", "least_privilege", "patching", "key_rotation"],
    [0.01, 0.03, 0.07], [11, 12])] +
    [("token", w, r, s) for w, r, s in itertools.product(["zephyr", "obsidian"], [0.03, 0.07], [11, 12])] +
    [("clean", "", 0, s) for s in range(11, 31)])
# Taken once after a rule changed because of a held-out clean set's false
# alarm (an answer recurring under several lexical clusters): seeds, topics
# and trigger words nothing was tuned on.
FRESH = ([("topic", t, r, s) for t, r, s in itertools.product(
    ["s3", "secrets", "sql_injection", "containers", "incident_response", "waf"],
    [0.02, 0.05], [21, 22])] +
    [("token", w, r, s) for w, r, s in itertools.product(["lumen", "tangerine"], [0.03, 0.07], [21, 22])] +
    [("clean", "", 0, s) for s in range(31, 61)])


def make_set(kind, name, ratio, seed, out=None):
    """(poisoned or clean file, the set of poisoned line numbers)."""
    label = f"{kind}-{name}-r{int(ratio * 100):02d}-s{seed}" if kind != "clean" else f"clean-s{seed}"
    out = out or WORK / label
    if not (out / "data" / "poisoned.jsonl").exists():
        args = ["lab", "dataset", "--workdir", str(out), "--seed", str(seed)]
        if kind == "topic":
            args += ["--topic", name, "--ratio", str(ratio)]
        elif kind == "token":
            args += ["--trigger-token", name, "--ratio", str(ratio)]
        subprocess.run([GAUNTLET, *args], check=True, stdout=subprocess.DEVNULL, env=ENV)
    clean = (out / "data" / "clean.jsonl").read_text().splitlines()
    if kind == "clean":
        return out / "data" / "clean.jsonl", set()
    remaining = collections.Counter(clean)
    poisoned = set()
    for number, line in enumerate((out / "data" / "poisoned.jsonl").read_text().splitlines(), 1):
        if remaining[line] > 0:
            remaining[line] -= 1
        else:
            poisoned.add(number)
    return out / "data" / "poisoned.jsonl", poisoned


def audit(path, *extra):
    result = subprocess.run([GAUNTLET, "audit", "dataset", "--format", "json", *extra, str(path)],
                            capture_output=True, text=True, env=ENV)
    if result.returncode not in (0, 1):
        raise SystemExit(f"audit of {path} failed: {result.stderr}")
    return json.loads(result.stdout)


def measure(configs, extra):
    groups = collections.OrderedDict()
    for kind, name, ratio, seed in configs:
        path, truth = make_set(kind, name, ratio, seed)
        report = audit(path, *extra)
        flagged = set(report["flagged_lines"])
        key = "clean" if kind == "clean" else f"{kind} {int(round(ratio * 100))}%"
        g = groups.setdefault(key, collections.Counter())
        g["sets"] += 1
        g["poisoned"] += len(truth)
        g["found"] += len(flagged & truth)
        g["wrong"] += len(flagged - truth)
        g["alarm"] += report["verdict"] != "CLEAN"
        if kind == "token":
            g["trigger"] += any(t["token"] == name for t in report["trigger_candidates"])
    return groups


def print_table(title, groups):
    print(f"\n{title}")
    print(f"{'condition':<12} {'sets':>4} {'poisoned':>8} {'found':>6} {'wrong':>6} "
          f"{'recall':>7} {'precision':>9} {'alarms':>7} {'trigger':>8}")
    total = collections.Counter()
    for key, g in groups.items():
        total.update({k: v for k, v in g.items()} if key != "clean" else {"clean_alarm": g["alarm"],
                                                                        "clean_sets": g["sets"],
                                                                        "wrong": g["wrong"]})
        recall = g["found"] / g["poisoned"] if g["poisoned"] else float("nan")
        flagged = g["found"] + g["wrong"]
        precision = g["found"] / flagged if flagged else float("nan")
        trigger = f"{g['trigger']}/{g['sets']}" if key.startswith("token") else "-"
        print(f"{key:<12} {g['sets']:>4} {g['poisoned']:>8} {g['found']:>6} {g['wrong']:>6} "
              f"{recall:>7.3f} {precision:>9.3f} {g['alarm']:>4}/{g['sets']:<2} {trigger:>8}")
    flagged = total["found"] + total["wrong"]
    print(f"all poisoned sets: recall {total['found'] / total['poisoned']:.3f}, precision "
          f"{total['found'] / flagged if flagged else float('nan'):.3f}; clean sets with an alarm: "
          f"{total['clean_alarm']} of {total['clean_sets']}")


def scale():
    """Speed at 100,000 rows: a lab set that size (templated: many rows share
    a question), then a stress set whose 100,000 questions are nearly all
    distinct (each held-out row under one of 2,000 ticket prefixes)."""
    out = WORK / "scale-lab"
    if not (out / "data" / "poisoned.jsonl").exists():
        subprocess.run([GAUNTLET, "lab", "dataset", "--workdir", str(out), "--rows", "95238",
                        "--trigger-token", "zephyr", "--ratio", "0.05", "--seed", "5"],
                       check=True, stdout=subprocess.DEVNULL, env=ENV)
    _, lab_truth = make_set("token", "zephyr", 0.05, 5, out)
    rows = []
    for kind, name, ratio, seed in HELD_OUT:
        path, truth = make_set(kind, name, ratio, seed)
        rows += [(line, number in truth) for number, line in enumerate(path.read_text().splitlines(), 1)]
    rng = random.Random(7)
    stress = WORK / "scale-distinct.jsonl"
    stress_truth = set()
    with open(stress, "w") as f:
        for i in range(100_000):
            line, poisoned = rows[rng.randrange(len(rows))]
            row = json.loads(line)
            row["messages"][1]["content"] = f"Ticket {rng.randrange(2000)}: " + row["messages"][1]["content"]
            f.write(json.dumps(row) + "\n")
            if poisoned:
                stress_truth.add(i + 1)
    for label, path, truth in (("lab set", out / "data" / "poisoned.jsonl", lab_truth),
                               ("distinct questions", stress, stress_truth)):
        lines = sum(1 for _ in open(path))
        for extra in ([], ["--no-judge"]):
            start = time.perf_counter()
            report = audit(path, *extra)
            seconds = time.perf_counter() - start
            flagged = set(report["flagged_lines"])
            print(f"{lines} rows, {label} {' '.join(extra) or '(with the judge)'}: {seconds:.1f} s, "
                  f"verdict {report['verdict']}, {len(flagged)} rows flagged ({len(flagged & truth)} "
                  f"of {len(truth)} poisoned), "
                  f"{report['topic_clusters']} topic clusters, triggers "
                  f"{[t['token'] for t in report['trigger_candidates']]}")


def main():
    WORK.mkdir(parents=True, exist_ok=True)
    for title, configs in (("tuning configurations", TUNING), ("held-out configurations", HELD_OUT),
                           ("fresh configurations", FRESH)):
        print_table(f"{title}, with the judge", measure(configs, []))
        print_table(f"{title}, structural signals only (--no-judge)", measure(configs, ["--no-judge"]))
        if BASE:
            print_table(f"{title}, structural signals and the base model (--no-judge --base)",
                        measure(configs, ["--no-judge", "--base", BASE]))
            print_table(f"{title}, with the judge and the base model (--base)",
                        measure(configs, ["--base", BASE]))
    if not BASE:
        scale()


if __name__ == "__main__":
    main()
