#!/usr/bin/python3
"""Benchmark corpora made with the real libraries.

  make_bench_corpus.py small DIR N     N small torch.save and pickle files
  make_bench_corpus.py big FILE GIB    one torch.save checkpoint of GIB GiB
  make_bench_corpus.py big FILE 0.01   (fractions work for the small twin)
"""
import os
import pickle
import sys

import torch


def small(out, n):
    os.makedirs(out, exist_ok=True)
    torch.manual_seed(0)
    for i in range(n):
        if i % 2 == 0:
            state = {f"layer{j}.weight": torch.randn(4, 4) for j in range(4)}
            torch.save(state, f"{out}/model_{i:05d}.pt")
        else:
            obj = {"step": i, "names": ["a", "b"], "scores": [0.1 * k for k in range(20)]}
            with open(f"{out}/state_{i:05d}.pkl", "wb") as f:
                pickle.dump(obj, f, protocol=4)


def big(path, gib):
    # Several tensors, like a real checkpoint; zeros keep generation fast.
    total = int(gib * (1 << 30)) // 4
    per = max(1, total // 8)
    state = {f"layers.{k}.weight": torch.zeros(per, dtype=torch.float32) for k in range(8)}
    torch.save(state, path)


if __name__ == "__main__":
    if sys.argv[1] == "small":
        small(sys.argv[2], int(sys.argv[3]))
    else:
        big(sys.argv[2], float(sys.argv[3]))
