#!/usr/bin/python3
"""`gauntlet inspect adapter|checkpoint` against numpy: adapters and
checkpoints written here as safetensors (F32, F16, BF16), every update norm,
effective rank and difference recomputed with numpy's SVD on the full
out x in product, and each kind of tampering named with its rule, severity
and exit code.

usage: weight_forensics_test.py GAUNTLET"""
import json
import pathlib
import shutil
import struct
import subprocess
import sys
import tempfile
import unittest

import numpy as np

GAUNTLET = sys.argv.pop(1) if len(sys.argv) > 1 else "build/cli/gauntlet"
PREFIX = "base_model.model.model.layers.{}.self_attn.{}"


def to_bytes(array, dtype):
    if dtype == "F32":
        return array.astype("<f4").tobytes()
    if dtype == "F16":
        return array.astype("<f2").tobytes()
    if dtype == "BF16":  # The high half of each float32 (truncated).
        return (array.astype("<f4").view("<u4") >> 16).astype("<u2").tobytes()
    raise ValueError(dtype)


def stored(array, dtype):
    """The values as the file holds them."""
    if dtype == "F16":
        return array.astype(np.float16).astype(np.float64)
    if dtype == "BF16":
        return ((array.astype("<f4").view("<u4") >> 16) << 16).view("<f4").astype(np.float64)
    return array.astype(np.float32).astype(np.float64)


def write_safetensors(path, tensors):
    """tensors: name -> (array, dtype)."""
    header, blobs, offset = {}, [], 0
    for name, (array, dtype) in tensors.items():
        blob = to_bytes(array, dtype)
        header[name] = {"dtype": dtype, "shape": list(array.shape),
                        "data_offsets": [offset, offset + len(blob)]}
        blobs.append(blob)
        offset += len(blob)
    text = json.dumps(header).encode()
    text += b" " * (-len(text) % 8)
    path.write_bytes(struct.pack("<Q", len(text)) + text + b"".join(blobs))


class WeightForensics(unittest.TestCase):
    def setUp(self):
        self.tmp = pathlib.Path(tempfile.mkdtemp(prefix="gauntlet_forensics_"))
        self.rng = np.random.default_rng(5)

    def tearDown(self):
        shutil.rmtree(self.tmp)

    def adapter(self, name, modules, r=8, alpha=16, extra=None, config=None, dtype="F32"):
        """modules: list of (layer, proj, in, out); returns {module: (A, B)}."""
        folder = self.tmp / name
        folder.mkdir()
        tensors, factors = {}, {}
        for layer, proj, n_in, n_out in modules:
            a = self.rng.normal(size=(r, n_in)) * 0.1
            b = self.rng.normal(size=(n_out, r)) * 0.05
            key = PREFIX.format(layer, proj)
            tensors[key + ".lora_A.weight"] = (a, dtype)
            tensors[key + ".lora_B.weight"] = (b, dtype)
            factors[key[len("base_model.model."):]] = (stored(a, dtype), stored(b, dtype))
        tensors.update(extra or {})
        write_safetensors(folder / "adapter_model.safetensors", tensors)
        settings = {"peft_type": "LORA", "r": r, "lora_alpha": alpha,
                    "target_modules": sorted({m[1] for m in modules})}
        settings.update(config or {})
        (folder / "adapter_config.json").write_text(json.dumps(settings))
        return folder, factors, alpha / r

    def inspect(self, *args):
        result = subprocess.run([GAUNTLET, "inspect", *args, "--format", "json"],
                                capture_output=True, text=True)
        self.assertIn(result.returncode, (0, 1), result.stderr)
        return result.returncode, json.loads(result.stdout)

    def rules(self, report):
        return sorted((f["rule_id"], f["severity"]) for f in report["findings"])

    def test_norms_and_ranks_match_numpy_in_every_dtype(self):
        for dtype in ("F32", "F16", "BF16"):
            with self.subTest(dtype=dtype):
                modules = [(0, "q_proj", 48, 48), (0, "v_proj", 48, 24), (1, "q_proj", 48, 48)]
                folder, factors, scale = self.adapter(f"a-{dtype}", modules, dtype=dtype)
                code, report = self.inspect("adapter", str(folder))
                self.assertEqual(code, 0)
                self.assertEqual(report["findings"], [])
                for module in report["modules"]:
                    a, b = factors[module["module"]]
                    singular = np.linalg.svd(scale * b @ a, compute_uv=False)
                    self.assertAlmostEqual(module["update_norm"], np.sqrt((singular ** 2).sum()),
                                           delta=1e-4 * module["update_norm"])
                    p = singular[:8] / singular[:8].sum()
                    self.assertAlmostEqual(module["effective_rank"], np.exp(-(p * np.log(p)).sum()),
                                           delta=1e-3)
                    self.assertAlmostEqual(module["top_singular_share"], p[0], delta=1e-4)

    def test_difference_from_a_reference_adapter_matches_numpy(self):
        modules = [(0, "q_proj", 32, 32), (1, "q_proj", 32, 32)]
        first, f1, s1 = self.adapter("first", modules, r=8, alpha=16)
        second, f2, s2 = self.adapter("second", modules, r=4, alpha=4)
        code, report = self.inspect("adapter", str(first), "--against", str(second))
        self.assertEqual(report["against_kind"], "adapter")
        for module in report["modules"]:
            (a1, b1), (a2, b2) = f1[module["module"]], f2[module["module"]]
            expected = np.linalg.norm(s1 * b1 @ a1 - s2 * b2 @ a2)
            self.assertAlmostEqual(module["difference"], expected, delta=1e-4 * expected)

    def test_tampered_adapters_are_named(self):
        modules = [(0, "q_proj", 16, 16), (0, "v_proj", 16, 16)]
        cases = {
            "full-tensor": ({"base_model.model.lm_head.weight": (np.ones((16, 16)), "F32")}, {},
                            [("adapter.unexpected_tensor", "HIGH")], 1),
            "saved-module": ({"base_model.model.lm_head.weight": (np.ones((16, 16)), "F32")},
                             {"modules_to_save": ["lm_head"]},
                             [("adapter.unexpected_tensor", "MEDIUM")], 0),
            "wrong-rank": ({}, {"r": 4}, [("adapter.config_mismatch", "HIGH")] * 2, 1),
            "unlisted-module": ({}, {"target_modules": ["q_proj", "k_proj"]},
                                [("adapter.config_mismatch", "HIGH"),
                                 ("adapter.config_mismatch", "MEDIUM")], 1),
            "nan": ({PREFIX.format(1, "q_proj") + ".lora_A.weight": (np.full((8, 16), np.nan), "F32"),
                     PREFIX.format(1, "q_proj") + ".lora_B.weight": (np.ones((16, 8)), "F32")}, {},
                    [("weights.non_finite", "HIGH")], 1),
            "no-pair": ({PREFIX.format(2, "q_proj") + ".lora_A.weight": (np.ones((8, 16)), "F32")}, {},
                        [("adapter.shape_mismatch", "HIGH")], 1),
        }
        for name, (extra, config, expected, exit_code) in cases.items():
            with self.subTest(case=name):
                folder, _, _ = self.adapter(name, modules, extra=extra, config=config)
                code, report = self.inspect("adapter", str(folder))
                self.assertEqual(self.rules(report), sorted(expected))
                self.assertEqual(code, exit_code)

    def checkpoint(self, name, tensors, shards=1):
        folder = self.tmp / name
        folder.mkdir()
        if shards == 1:
            write_safetensors(folder / "model.safetensors", tensors)
            return folder
        names = sorted(tensors)
        weight_map = {}
        for i in range(shards):
            shard = f"model-{i + 1:05d}-of-{shards:05d}.safetensors"
            part = {n: tensors[n] for n in names[i::shards]}
            write_safetensors(folder / shard, part)
            weight_map.update({n: shard for n in part})
        (folder / "model.safetensors.index.json").write_text(json.dumps({"weight_map": weight_map}))
        return folder

    def test_adapter_against_its_base_and_another_model(self):
        base = {f"model.layers.0.self_attn.{p}.weight": (self.rng.normal(size=(16, 16)), "F32")
                for p in ("q_proj", "v_proj")}
        base_folder = self.checkpoint("base", base)
        folder, factors, scale = self.adapter("fits", [(0, "q_proj", 16, 16), (0, "v_proj", 16, 16)])
        code, report = self.inspect("adapter", str(folder), "--against", str(base_folder))
        self.assertEqual((code, report["findings"]), (0, []))
        for module in report["modules"]:
            a, b = factors[module["module"]]
            weight = base[module["module"] + ".weight"][0]
            self.assertAlmostEqual(module["relative_to_base"],
                                   np.linalg.norm(scale * b @ a) / np.linalg.norm(weight), delta=1e-5)
        other, _, _ = self.adapter("other", [(0, "q_proj", 32, 16), (3, "q_proj", 16, 16)])
        code, report = self.inspect("adapter", str(other), "--against", str(base_folder))
        self.assertEqual(code, 1)
        self.assertEqual(self.rules(report), [("adapter.shape_mismatch", "HIGH")] * 2)

    def test_checkpoints_changes_and_index(self):
        tensors = {f"layer{i}.weight": (self.rng.normal(size=(8, 8)), "F32") for i in range(4)}
        reference = self.checkpoint("reference", tensors, shards=2)
        edited = dict(tensors)
        delta = np.zeros((8, 8))
        delta[3, 5] = 0.5
        edited["layer2.weight"] = (tensors["layer2.weight"][0] + delta, "F32")
        edited["layer3.weight"] = (np.ones((4, 16)), "F32")
        del edited["layer1.weight"]
        edited["extra.weight"] = (np.ones((2, 2)), "BF16")
        changed = self.checkpoint("edited", edited, shards=2)
        code, report = self.inspect("checkpoint", str(changed), "--against", str(reference))
        self.assertEqual(code, 0)  # Changes are MEDIUM at most: reported, not failed by default.
        by_status = {c["tensor"]: c["status"] for c in report["changes"]}
        self.assertEqual(by_status, {"layer2.weight": "changed", "layer3.weight": "reshaped",
                                     "layer1.weight": "removed", "extra.weight": "added"})
        change = next(c for c in report["changes"] if c["tensor"] == "layer2.weight")
        original = stored(tensors["layer2.weight"][0], "F32")
        self.assertAlmostEqual(change["relative_change"],
                               np.linalg.norm(stored(edited["layer2.weight"][0], "F32") - original) /
                               np.linalg.norm(original), delta=1e-6)
        self.assertEqual(self.rules(report), [("weights.layout_changed", "MEDIUM")] * 3)

        (changed / "model-00002-of-00002.safetensors").unlink()
        code, report = self.inspect("checkpoint", str(changed))
        self.assertEqual(code, 1)
        self.assertIn(("weights.index_inconsistent", "HIGH"), self.rules(report))

        nan = self.checkpoint("nan", {"w": (np.array([[1.0, np.inf]]), "F16")})
        code, report = self.inspect("checkpoint", str(nan))
        self.assertEqual((code, self.rules(report)), (1, [("weights.non_finite", "HIGH")]))

    def test_bad_input_exits_two_with_a_message(self):
        empty = self.tmp / "empty"
        empty.mkdir()
        for args, message in ((["adapter", str(empty)], "adapter_config.json"),
                              (["checkpoint", str(empty)], "no model.safetensors")):
            result = subprocess.run([GAUNTLET, "inspect", *args], capture_output=True, text=True)
            self.assertEqual(result.returncode, 2, result.stderr)
            self.assertIn(message, result.stderr)
        # Ranks no tensor could have (found by the fuzzer: r = 3.3e46 was cast
        # to an integer) are refused by name, in r and in rank_pattern.
        for name, settings, message in (
                ("huge-r", {"r": 3.3e46}, "r must be a whole number"),
                ("fractional-r", {"r": 2.5}, "r must be a whole number"),
                ("huge-pattern", {"rank_pattern": {"q_proj": 1e300}},
                 'rank_pattern["q_proj"] must be a whole number')):
            folder, _, _ = self.adapter(name, [(0, "q_proj", 8, 8)], config=settings)
            result = subprocess.run([GAUNTLET, "inspect", "adapter", str(folder)],
                                    capture_output=True, text=True)
            self.assertEqual(result.returncode, 2, result.stderr)
            self.assertIn(message, result.stderr)
        folder, _, _ = self.adapter("broken", [(0, "q_proj", 8, 8)])
        (folder / "adapter_model.safetensors").write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00{not json}")
        result = subprocess.run([GAUNTLET, "inspect", "adapter", str(folder)], capture_output=True,
                                text=True)
        self.assertEqual(result.returncode, 2, result.stderr)
        self.assertIn("adapter_model.safetensors", result.stderr)


if __name__ == "__main__":
    unittest.main()
