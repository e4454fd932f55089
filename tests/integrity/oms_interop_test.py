#!/usr/bin/python3
"""`gauntlet sign`/`verify` against an implementation nobody here wrote: the
OpenSSF model-signing format checked with Python's hashlib and the openssl
command line. Every digest gauntlet signs is recomputed, its signature is
verified by `openssl pkeyutl`, and a bundle made only with Python and openssl
(the way sigstore/model-transparency lays it out) must verify with gauntlet
and fail, naming the file, once a file changes.

usage: oms_interop_test.py GAUNTLET"""
import base64
import hashlib
import json
import os
import pathlib
import subprocess
import sys
import tempfile
import unittest

GAUNTLET = sys.argv.pop(1) if len(sys.argv) > 1 else "build/cli/gauntlet"
IGNORED = ["model.sig", ".git", ".gitattributes", ".github", ".gitignore"]
KEYS = {"p256": (["-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256"], "sha256"),
        "p384": (["-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-384"], "sha384"),
        "ed25519": (["-algorithm", "ED25519"], None)}


def openssl(*args, data=None):
    return subprocess.run(["openssl", *args], input=data, capture_output=True, check=True).stdout


def pae(payload_type, payload):
    return b"DSSEv1 %d %s %d %s" % (len(payload_type), payload_type.encode(), len(payload), payload)


class OmsInterop(unittest.TestCase):
    def setUp(self):
        self.tmp = pathlib.Path(tempfile.mkdtemp(prefix="gauntlet_oms_"))
        self.model = self.tmp / "tiny-model"
        files = {"config.json": b'{"hidden_size": 8}\n', "empty.txt": b"",
                 "weights/model-00001-of-00002.safetensors": os.urandom(1 << 20),
                 "weights/model-00002-of-00002.safetensors": os.urandom(3000),
                 "donn\u00e9es/\u00e9t\u00e9 2024.bin": b"\x00" * 17, "B upper.txt": b"B",
                 "a lower.txt": b"a", ".gitignore": b"*.tmp\n", ".git/HEAD": b"ref\n"}
        for name, data in files.items():
            (self.model / name).parent.mkdir(parents=True, exist_ok=True)
            (self.model / name).write_bytes(data)
        self.keys = {}
        for name, (options, digest) in KEYS.items():
            private = self.tmp / f"{name}.pem"
            openssl("genpkey", *options, "-out", str(private))
            public = self.tmp / f"{name}.pub"
            openssl("pkey", "-in", str(private), "-pubout", "-out", str(public))
            self.keys[name] = (private, public, digest)

    def tearDown(self):
        subprocess.run(["rm", "-rf", str(self.tmp)], check=True)

    def gauntlet(self, *args):
        return subprocess.run([GAUNTLET, *args], capture_output=True, text=True)

    def expected_resources(self):
        resources = []
        for path in sorted(p.relative_to(self.model).as_posix() for p in self.model.rglob("*")
                           if p.is_file()):
            if any(path == i or path.startswith(i + "/") for i in IGNORED):
                continue
            digest = hashlib.sha256((self.model / path).read_bytes()).hexdigest()
            resources.append({"name": path, "algorithm": "sha256", "digest": digest})
        return resources

    def openssl_verifies(self, public, digest, message, signature):
        (self.tmp / "message").write_bytes(message)
        (self.tmp / "signature").write_bytes(signature)
        args = ["pkeyutl", "-verify", "-pubin", "-inkey", str(public), "-rawin",
                "-in", str(self.tmp / "message"), "-sigfile", str(self.tmp / "signature")]
        if digest:
            args += ["-digest", digest]
        return subprocess.run(["openssl", *args], capture_output=True).returncode == 0

    def test_gauntlet_signature_checks_out_with_hashlib_and_openssl(self):
        for name, (private, public, digest) in self.keys.items():
            with self.subTest(key=name):
                result = self.gauntlet("sign", "--key", str(private), str(self.model))
                self.assertEqual(result.returncode, 0, result.stderr)
                bundle = json.loads((self.model / "model.sig").read_text())
                self.assertEqual(bundle["mediaType"],
                                 "application/vnd.dev.sigstore.bundle.v0.3+json")
                # The key hint is the SHA-256 of the public key's PEM as openssl writes it.
                self.assertEqual(bundle["verificationMaterial"]["publicKey"]["hint"],
                                 hashlib.sha256(public.read_bytes()).hexdigest())
                envelope = bundle["dsseEnvelope"]
                payload = base64.b64decode(envelope["payload"])
                statement = json.loads(payload)
                resources = statement["predicate"]["resources"]
                self.assertEqual(resources, self.expected_resources())
                root = hashlib.sha256(b"".join(bytes.fromhex(r["digest"]) for r in resources))
                self.assertEqual(statement["subject"],
                                 [{"name": "tiny-model", "digest": {"sha256": root.hexdigest()}}])
                self.assertEqual(statement["predicateType"], "https://model_signing/signature/v1.0")
                signature = base64.b64decode(envelope["signatures"][0]["sig"])
                message = pae(envelope["payloadType"], payload)
                self.assertTrue(self.openssl_verifies(public, digest, message, signature))
                self.assertFalse(self.openssl_verifies(public, digest, message + b" ", signature))

    def sign_independently(self, private, digest):
        """model.sig made with Python and openssl alone, laid out as
        sigstore/model-transparency's key-based signer writes it."""
        resources = self.expected_resources()
        root = hashlib.sha256(b"".join(bytes.fromhex(r["digest"]) for r in resources)).hexdigest()
        statement = {"_type": "https://in-toto.io/Statement/v1",
                     "subject": [{"name": self.model.name, "digest": {"sha256": root}}],
                     "predicateType": "https://model_signing/signature/v1.0",
                     "predicate": {"serialization": {"method": "files", "hash_type": "sha256",
                                                     "allow_symlinks": False,
                                                     "ignore_paths": IGNORED},
                                   "resources": resources}}
        payload = json.dumps(statement, indent=1).encode()
        (self.tmp / "message").write_bytes(pae("application/vnd.in-toto+json", payload))
        args = ["pkeyutl", "-sign", "-inkey", str(private), "-rawin", "-in", str(self.tmp / "message")]
        signature = openssl(*(args + (["-digest", digest] if digest else [])))
        public_pem = openssl("pkey", "-in", str(private), "-pubout")
        bundle = {"mediaType": "application/vnd.dev.sigstore.bundle.v0.3+json",
                  "verificationMaterial": {"publicKey": {"hint": hashlib.sha256(public_pem).hexdigest()},
                                           "tlogEntries": []},
                  "dsseEnvelope": {"payload": base64.b64encode(payload).decode(),
                                   "payloadType": "application/vnd.in-toto+json",
                                   "signatures": [{"sig": base64.b64encode(signature).decode(),
                                                   "keyid": ""}]}}
        (self.model / "model.sig").write_text(json.dumps(bundle))

    def test_independent_signature_verifies_and_catches_a_change(self):
        for name, (private, public, digest) in self.keys.items():
            with self.subTest(key=name):
                self.sign_independently(private, digest)
                result = self.gauntlet("verify", "--key", str(public), str(self.model))
                self.assertEqual(result.returncode, 0, result.stdout + result.stderr)
                shard = self.model / "weights/model-00002-of-00002.safetensors"
                original = shard.read_bytes()
                shard.write_bytes(original[:-1] + bytes([original[-1] ^ 1]))
                result = self.gauntlet("verify", "--key", str(public), "--format", "json",
                                       str(self.model))
                self.assertEqual(result.returncode, 1, result.stderr)
                self.assertEqual(json.loads(result.stdout)["changes"],
                                 [{"path": "weights/model-00002-of-00002.safetensors",
                                   "change": "changed"}])
                shard.write_bytes(original)


if __name__ == "__main__":
    unittest.main()
