#!/usr/bin/python3
"""Hostile HDF5 through the plain CLI (no --isolate). libhdf5 is not hardened
against hostile input: mutated Keras .h5 files crash it (heap writes in the
global-heap read behind the model_config attribute) or make it spin. The CLI
must hand such files to the parser sandbox, so each bad file costs only its
own ERROR verdict: the process never dies or hangs, and every other file of
the run (a malicious pickle among them) is still reported.

Environment: GAUNTLET (the CLI), H5_DIR (a scratch folder).
"""
import json
import os
import pickle
import random
import shutil
import subprocess
import sys

import h5py
import numpy as np

GAUNTLET = os.environ["GAUNTLET"]
OUT = os.environ["H5_DIR"]
MUTANTS = 300


class RunsCommand:
    def __reduce__(self):
        return (os.system, ("touch /tmp/gauntlet-was-here",))


def keras_h5(path):
    config = json.dumps({"class_name": "Sequential", "config": {"name": "seq", "layers": [
        {"class_name": "Dense", "config": {"name": "dense", "units": 4, "activation": "relu"}}]}})
    with h5py.File(path, "w") as f:
        f.attrs["model_config"] = config
        f.attrs["training_config"] = json.dumps({"loss": "mse"})
        f.attrs["keras_version"] = "2.13.1"
        weights = f.create_group("model_weights/dense/dense")
        weights["kernel:0"] = np.random.default_rng(1).normal(size=(4, 4)).astype("f4")
        weights["bias:0"] = np.zeros(4, dtype="f4")


def main():
    shutil.rmtree(OUT, ignore_errors=True)
    os.makedirs(f"{OUT}/mutants")
    keras_h5(f"{OUT}/model.h5")
    original = open(f"{OUT}/model.h5", "rb").read()
    rng = random.Random(20261127)
    for i in range(MUTANTS):
        data = bytearray(original)
        # Flip bytes where the superblock, object headers and the global heap
        # holding the attributes live.
        for _ in range(rng.randint(1, 8)):
            pos = rng.randrange(0, min(len(data), 4096))
            data[pos] = rng.randrange(256)
        open(f"{OUT}/mutants/m{i:03d}.h5", "wb").write(bytes(data))
    with open(f"{OUT}/evil.pkl", "wb") as f:
        pickle.dump(RunsCommand(), f, protocol=2)

    policy = f"{OUT}.policy.toml"
    open(policy, "w").write("[limits]\ntimeout_seconds = 5.0\n")
    proc = subprocess.run([GAUNTLET, "scan", OUT, "--format", "json", "--no-progress",
                           "--policy", policy], capture_output=True, text=True, timeout=600)
    failures = []
    if proc.returncode not in (1, 2):
        failures.append(f"exit status {proc.returncode} (a signal is negative): {proc.stderr[-2000:]}")
    report = json.loads(proc.stdout) if proc.stdout.startswith("{") else {"files": []}
    files = {os.path.relpath(f["path"], OUT): f for f in report["files"]}
    if len(files) != MUTANTS + 2:
        failures.append(f"{len(files)} files reported, {MUTANTS + 2} expected")
    if files.get("evil.pkl", {}).get("verdict") != "MALICIOUS":
        failures.append("the malicious pickle beside the mutants was not reported MALICIOUS")
    if files.get("model.h5", {}).get("verdict") != "CLEAN":
        failures.append(f"the healthy Keras file is {files.get('model.h5', {}).get('verdict')}")
    verdicts = {}
    sandbox_endings = 0
    for name, f in files.items():
        verdicts[f["verdict"]] = verdicts.get(f["verdict"], 0) + 1
        sandbox_endings += any(x["rule_id"].startswith("sandbox.") for x in f["findings"])
    print(f"{len(files)} files: {verdicts}; {sandbox_endings} ended by the sandbox "
          f"(crash, hang or memory); exit {proc.returncode}")
    for failure in failures:
        print("FAIL:", failure)
    print(f"{0 if failures else 1} passed, {1 if failures else 0} failed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
