#!/usr/bin/python3
"""The source layout's rules, checked on every build (ctest layout.*).

Data flows one way: cli -> coordinator -> worker -> scanners/evaluators, with
abtest/, hf/, integrity/, proto/ and common/ below them. A folder may include a folder
below it, never one above it, and the folder graph has no cycle. The
`gauntlet` binary links no libtorch (it must start in milliseconds).

usage: include_graph_test.py SOURCE_DIR [GAUNTLET_BINARY]
"""
import os
import re
import subprocess
import sys
import unittest

SOURCE_DIR = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "../..")
GAUNTLET = sys.argv[2] if len(sys.argv) > 2 else ""

# The product's folders; worker/ counts as its three parts.
FOLDERS = ["cli", "coordinator", "worker/cluster", "worker/eval", "worker/scan", "abtest", "hf",
           "integrity", "proto", "common"]
# What each folder must never include (besides what the cycle check finds).
FORBIDDEN = {
    "coordinator": {"worker/cluster", "worker/eval", "worker/scan", "cli"},
    "worker/cluster": {"coordinator", "cli", "worker/eval"},
    "worker/eval": {"coordinator", "cli"},
    "worker/scan": {"coordinator", "cli", "worker/cluster", "worker/eval", "abtest", "hf"},
    "abtest": {"coordinator", "cli", "worker/cluster", "worker/eval", "worker/scan"},
    "hf": {"coordinator", "cli", "worker/cluster", "worker/eval", "worker/scan", "abtest"},
    "integrity": {"coordinator", "cli", "worker/cluster", "worker/eval", "abtest", "hf", "proto"},
    "proto": {"coordinator", "cli", "worker/cluster", "worker/eval", "worker/scan", "abtest", "hf"},
    "common": {"coordinator", "cli", "worker/cluster", "worker/eval", "worker/scan", "abtest", "hf",
               "integrity", "proto"},
}
INCLUDE = re.compile(r'^\s*#\s*include\s*"([^"]+)"', re.M)


def folder_of(path):
    for folder in FOLDERS:
        if path == folder or path.startswith(folder + "/"):
            return folder
    return None


def include_edges(source_dir):
    """(from folder, to folder, file, included header) for every cross-folder include."""
    edges = []
    for folder in FOLDERS:
        root = os.path.join(source_dir, folder)
        for directory, _, files in os.walk(root):
            for name in files:
                if not name.endswith((".h", ".cc", ".in")):
                    continue
                path = os.path.join(directory, name)
                relative = os.path.relpath(path, source_dir)
                with open(path, encoding="utf-8", errors="replace") as f:
                    text = f.read()
                for header in INCLUDE.findall(text):
                    target = folder_of(header)
                    if target and target != folder:
                        edges.append((folder, target, relative, header))
    return edges


def find_cycle(edges):
    graph = {}
    for source, target, _, _ in edges:
        graph.setdefault(source, set()).add(target)
    state = {}

    def visit(node, path):
        state[node] = "open"
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == "open":
                return path[path.index(nxt):] + [nxt] if nxt in path else path + [nxt]
            if nxt not in state:
                found = visit(nxt, path + [nxt])
                if found:
                    return found
        state[node] = "done"
        return None

    for node in sorted(graph):
        if node not in state:
            found = visit(node, [node])
            if found:
                return found
    return None


class IncludeGraphTest(unittest.TestCase):
    def test_no_folder_includes_a_folder_above_it(self):
        edges = include_edges(SOURCE_DIR)
        self.assertTrue(edges, "no includes found: wrong SOURCE_DIR?")
        bad = [f"{file} includes {header} ({source} -> {target})"
               for source, target, file, header in edges if target in FORBIDDEN.get(source, ())]
        self.assertEqual(bad, [], "\n".join(bad))

    def test_the_folder_graph_has_no_cycle(self):
        cycle = find_cycle(include_edges(SOURCE_DIR))
        self.assertIsNone(cycle, " -> ".join(cycle or []))

    def test_the_checker_sees_a_cycle_and_a_forbidden_edge(self):
        # The check itself must be able to fail.
        edges = [("coordinator", "worker/cluster", "coordinator/x.cc", "worker/cluster/worker.h"),
                 ("worker/cluster", "coordinator", "worker/cluster/y.cc", "coordinator/a.h")]
        self.assertEqual(find_cycle(edges), ["coordinator", "worker/cluster", "coordinator"])
        self.assertIn("worker/cluster", FORBIDDEN["coordinator"])

    @unittest.skipUnless(GAUNTLET, "no gauntlet binary given")
    def test_gauntlet_links_no_libtorch(self):
        libraries = subprocess.run(["ldd", GAUNTLET], capture_output=True, text=True,
                                   check=True).stdout
        self.assertIn("libc.so", libraries)
        self.assertNotRegex(libraries, r"libtorch|libc10", "gauntlet must start without libtorch")


if __name__ == "__main__":
    unittest.main(argv=[sys.argv[0]])
