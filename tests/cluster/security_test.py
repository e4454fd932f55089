"""Attacks on a running cluster (docs/security.md), each with the outcome a
user relies on: a real gauntlet-coordinator over TLS with certificates made
here by OpenSSL, real workers, the gauntlet CLI, and a raw gRPC client
(python3-grpcio, messages compiled here from gauntlet.proto) that plays the
attacker: no credentials, another tenant's token, a rogue worker.

Run by ctest (label "security") with GAUNTLET, GAUNTLET_COORDINATOR_BIN,
GAUNTLET_WORKER_BIN and GAUNTLET_PROTO_DIR in the environment.
"""

import hashlib
import importlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import unittest

import grpc

from harness import COORDINATOR, ClusterTestCase, malicious_pickle

STUBS = tempfile.mkdtemp(prefix="gauntlet_stubs_")
subprocess.run(["protoc", f"--proto_path={os.environ['GAUNTLET_PROTO_DIR']}",
                f"--python_out={STUBS}", "gauntlet/v1/gauntlet.proto"], check=True)
sys.path.insert(0, STUBS)
pb = importlib.import_module("gauntlet.v1.gauntlet_pb2")

UNAUTHENTICATED = grpc.StatusCode.UNAUTHENTICATED
PERMISSION_DENIED = grpc.StatusCode.PERMISSION_DENIED
NOT_FOUND = grpc.StatusCode.NOT_FOUND

# service/method -> (request type, response type, streaming kind)
METHODS = {
    "ClientService/SubmitScan": (pb.SubmitScanRequest, pb.SubmitScanResponse, "unary"),
    "ClientService/GetJob": (pb.GetJobRequest, pb.Job, "unary"),
    "ClientService/ListJobs": (pb.ListJobsRequest, pb.ListJobsResponse, "unary"),
    "ClientService/CancelJob": (pb.CancelJobRequest, pb.Job, "unary"),
    "ClientService/WatchJob": (pb.WatchJobRequest, pb.WatchJobEvent, "stream"),
    "ClientService/GetReport": (pb.GetReportRequest, pb.ReportChunk, "stream"),
    "ClientService/FindMissingBlobs": (pb.FindMissingBlobsRequest, pb.FindMissingBlobsResponse,
                                       "unary"),
    "ClientService/UploadBlob": (pb.UploadBlobRequest, pb.UploadBlobResponse, "upload"),
    "WorkerService/Register": (pb.RegisterRequest, pb.RegisterResponse, "unary"),
    "WorkerService/Lease": (pb.LeaseRequest, pb.LeaseResponse, "unary"),
    "WorkerService/Heartbeat": (pb.HeartbeatRequest, pb.HeartbeatResponse, "unary"),
    "WorkerService/CheckCache": (pb.CheckCacheRequest, pb.CheckCacheResponse, "unary"),
    "WorkerService/ReportResults": (pb.ReportResultsRequest, pb.ReportResultsResponse, "unary"),
    "WorkerService/FetchBlob": (pb.FetchBlobRequest, pb.BlobChunk, "stream"),
}


def read(path):
    with open(path, "rb") as f:
        return f.read()


class Client:
    """A raw gRPC caller with a given token (or none) and TLS settings."""

    def __init__(self, cluster, token_file=None, *, ca=None, cert=None, key=None, plaintext=False):
        if plaintext:
            self.channel = grpc.insecure_channel(cluster.target)
        else:
            credentials = grpc.ssl_channel_credentials(
                root_certificates=read(ca or cluster.pki.ca),
                private_key=read(key) if key else None,
                certificate_chain=read(cert) if cert else None)
            self.channel = grpc.secure_channel(cluster.target, credentials)
        self.metadata = []
        if token_file:
            with open(token_file) as f:
                self.metadata = [("authorization", "Bearer " + f.read().strip())]

    def call(self, method, request):
        request_type, response_type, kind = METHODS[method]
        path = "/gauntlet.v1." + method
        serialize, parse = request_type.SerializeToString, response_type.FromString
        if kind == "unary":
            stub = self.channel.unary_unary(path, serialize, parse)
            return stub(request, metadata=self.metadata, timeout=20)
        if kind == "upload":
            stub = self.channel.stream_unary(path, serialize, parse)
            return stub(iter(request), metadata=self.metadata, timeout=20)
        stub = self.channel.unary_stream(path, serialize, parse)
        return list(stub(request, metadata=self.metadata, timeout=20))

    def code(self, method, request):
        """The status code the call ends with (OK when it succeeds)."""
        try:
            self.call(method, request)
            return grpc.StatusCode.OK
        except grpc.RpcError as error:
            return error.code()

    def close(self):
        self.channel.close()


class SecurityTest(ClusterTestCase):
    def client(self, cluster, token_file=None, **kwargs):
        client = Client(cluster, token_file, **kwargs)
        self.addCleanup(client.close)
        return client

    def write(self, cluster, name, data):
        path = os.path.join(cluster.data, name)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "wb") as f:
            f.write(data)
        return path

    def submit(self, client, *paths):
        return client.call("ClientService/SubmitScan", pb.SubmitScanRequest(paths=[
            p.encode() for p in paths])).job

    def wait_for_job(self, client, job_id, timeout=60):
        deadline = time.time() + timeout
        while time.time() < deadline:
            job = client.call("ClientService/GetJob", pb.GetJobRequest(job_id=job_id.encode()))
            if job.state in (pb.SUCCEEDED, pb.CANCELLED):
                return job
            time.sleep(0.1)
        raise AssertionError(f"{job_id} did not finish")

    def test_calls_without_valid_credentials_are_unauthenticated(self):
        cluster = self.cluster(workers=0)
        anonymous = self.client(cluster)
        mistyped = os.path.join(self.root, "mistyped.token")
        token = read(cluster.token("tenant", "alice")).decode().strip()
        with open(mistyped, "w") as f:  # One character off.
            f.write(token[:-1] + ("1" if token.endswith("0") else "0") + "\n")
        guessed = self.client(cluster, mistyped)
        for caller in (anonymous, guessed):
            for method, request in [
                    ("ClientService/SubmitScan", pb.SubmitScanRequest(paths=[b"/etc/passwd"])),
                    ("ClientService/ListJobs", pb.ListJobsRequest()),
                    ("ClientService/FindMissingBlobs", pb.FindMissingBlobsRequest()),
                    ("WorkerService/Register", pb.RegisterRequest(name="anonymous")),
                    ("WorkerService/ReportResults", pb.ReportResultsRequest(worker_id="w-1")),
                    ("WorkerService/FetchBlob", pb.FetchBlobRequest())]:
                self.assertEqual(caller.code(method, request), UNAUTHENTICATED, method)
        # The CLI says what is missing and exits 2.
        no_token = cluster.tenant_env()
        del no_token["GAUNTLET_TOKEN_FILE"]
        result = cluster.cli(cluster.data, env=no_token)
        self.assertEqual(result.returncode, 2, result.stderr)
        self.assertIn("no credentials", result.stderr)
        # Plaintext against the TLS port gets nowhere.
        plaintext = self.client(cluster, cluster.token("tenant", "alice"), plaintext=True)
        self.assertEqual(plaintext.code("ClientService/ListJobs", pb.ListJobsRequest()),
                         grpc.StatusCode.UNAVAILABLE)
        self.assertGreaterEqual(
            cluster.metric("gauntlet_calls_refused_total", 'reason="unauthenticated"'), 12)
        refusals = [e for e in cluster.audit() if e["action"] == "authentication"]
        self.assertGreaterEqual(len(refusals), 12)
        self.assertTrue(all(e["outcome"] == "unauthenticated" and e["peer"] for e in refusals))

    def test_tenants_cannot_see_or_touch_each_others_jobs(self):
        cluster = self.cluster(workers=0)
        alice = self.client(cluster, cluster.token("tenant", "alice"))
        bob = self.client(cluster, cluster.token("tenant", "bob"))
        job = self.submit(alice, self.write(cluster, "a/model.pkl", b"\x80\x02K\x01."))
        self.assertEqual(job.tenant, "alice")
        self.assertRegex(job.id, r"^job-[0-9a-f]{32}$")
        for method, request in [
                ("ClientService/GetJob", pb.GetJobRequest(job_id=job.id.encode())),
                ("ClientService/CancelJob", pb.CancelJobRequest(job_id=job.id.encode())),
                ("ClientService/WatchJob", pb.WatchJobRequest(job_id=job.id.encode())),
                ("ClientService/GetReport", pb.GetReportRequest(job_id=job.id.encode()))]:
            self.assertEqual(bob.code(method, request), NOT_FOUND, method)
        self.assertEqual(len(bob.call("ClientService/ListJobs",
                                      pb.ListJobsRequest(tenant=b"alice")).jobs), 0)
        # A tenant token cannot submit as another tenant.
        self.assertEqual(bob.code("ClientService/SubmitScan", pb.SubmitScanRequest(
            tenant=b"alice", paths=[job.id.encode()])), PERMISSION_DENIED)
        cancel = cluster.jobs("cancel", job.id, env=cluster.tenant_env("bob"))
        self.assertEqual(cancel.returncode, 2, cancel.stderr)
        self.assertIn(f"no job '{job.id}'", cancel.stderr)
        self.assertEqual(alice.call("ClientService/GetJob", pb.GetJobRequest(job_id=job.id.encode())).state,
                         pb.QUEUED, "bob's cancel changed nothing")
        # The instructor (admin) sees and may cancel every tenant's jobs.
        listing = cluster.jobs("list")
        self.assertEqual(listing.returncode, 0, listing.stderr)
        self.assertIn(job.id, listing.stdout)
        self.assertIn("state=CANCELLED", cluster.jobs("cancel", job.id).stdout)
        actions = [(e["action"], e.get("tenant"), e.get("job_id"), e["outcome"])
                   for e in cluster.audit()]
        self.assertIn(("submit_scan", "alice", job.id, "ok"), actions)
        self.assertIn(("cancel", "bob", job.id, "NOT_FOUND"), actions)
        self.assertIn(("cancel", "instructor", job.id, "ok"), actions)

    def test_roles_keep_clients_and_workers_apart_and_revocation_is_immediate(self):
        cluster = self.cluster(workers=0)
        tenant = self.client(cluster, cluster.token("tenant", "alice"))
        worker = self.client(cluster, cluster.worker_token)
        for method, request in [("WorkerService/Register", pb.RegisterRequest(name="x")),
                                ("WorkerService/Lease", pb.LeaseRequest(worker_id="w")),
                                ("WorkerService/ReportResults", pb.ReportResultsRequest()),
                                ("WorkerService/FetchBlob", pb.FetchBlobRequest())]:
            self.assertEqual(tenant.code(method, request), PERMISSION_DENIED, method)
        for method, request in [("ClientService/SubmitScan", pb.SubmitScanRequest()),
                                ("ClientService/ListJobs", pb.ListJobsRequest())]:
            self.assertEqual(worker.code(method, request), PERMISSION_DENIED, method)
        self.assertGreaterEqual(
            cluster.metric("gauntlet_calls_refused_total", 'reason="permission_denied"'), 6)

        token = subprocess.run(  # The spelling: --tenant T, role tenant by default.
            [COORDINATOR, "tokens", "create", "--tenant", "carol", "--db", cluster.db],
            capture_output=True, text=True, check=True).stdout.strip()
        token_file = os.path.join(self.root, "carol.token")
        with open(token_file, "w") as f:
            f.write(token)
        carol = self.client(cluster, token_file)
        self.assertEqual(carol.code("ClientService/ListJobs", pb.ListJobsRequest()),
                         grpc.StatusCode.OK)
        listing = subprocess.run([COORDINATOR, "tokens", "list", "--db", cluster.db],
                                 capture_output=True, text=True, check=True).stdout
        self.assertNotIn(token, listing, "tokens are never shown again")
        token_id = re.search(r"^([0-9a-f]{16})  tenant  carol", listing, re.M).group(1)
        self.assertEqual(token_id, token.split("_")[1])
        revoked = subprocess.run([COORDINATOR, "tokens", "revoke", token_id, "--db", cluster.db,
                                  "--audit-log", cluster.audit_log],
                                 capture_output=True, text=True)
        self.assertEqual(revoked.returncode, 0, revoked.stderr)
        self.assertEqual(carol.code("ClientService/ListJobs", pb.ListJobsRequest()),
                         UNAUTHENTICATED)
        with open(cluster.db, "rb") as f:
            self.assertNotIn(token.encode(), f.read(), "tokens are stored hashed")
        actions = [e["action"] for e in cluster.audit()]
        self.assertIn("token_create", actions)
        self.assertIn("token_revoke", actions)

    def test_forged_results_and_cache_poisoning_are_refused(self):
        cluster = self.cluster(workers=0)
        alice = self.client(cluster, cluster.token("tenant", "alice"))
        evil = self.write(cluster, "alice/model.pkl", malicious_pickle())
        job = self.submit(alice, evil)

        honest = self.client(cluster, cluster.worker_token)
        honest_id = honest.call("WorkerService/Register",
                                pb.RegisterRequest(name="honest", max_leases=1)).worker_id
        lease = honest.call("WorkerService/Lease",
                            pb.LeaseRequest(worker_id=honest_id, max_tasks=1)).tasks[0]
        clean = pb.TaskResult(lease_id=lease.lease_id, result=pb.FileResult(verdict=pb.CLEAN))
        digest = pb.Digest(sha256=hashlib.sha256(read(evil)).hexdigest(),
                           size_bytes=len(read(evil)))

        # Anonymous: the attack of the issue, refused at the door.
        anonymous = self.client(cluster)
        self.assertEqual(anonymous.code("WorkerService/Register", pb.RegisterRequest()),
                         UNAUTHENTICATED)
        self.assertEqual(anonymous.code("WorkerService/ReportResults", pb.ReportResultsRequest(
            worker_id=honest_id, results=[clean])), UNAUTHENTICATED)
        # Another authenticated worker identity cannot speak for the lease holder...
        rogue = self.client(cluster, cluster.token("worker", "rogue"))
        self.assertEqual(rogue.code("WorkerService/ReportResults", pb.ReportResultsRequest(
            worker_id=honest_id, results=[clean])), PERMISSION_DENIED)
        self.assertEqual(rogue.code("WorkerService/CheckCache", pb.CheckCacheRequest(
            lease_id=lease.lease_id, digest=digest)), PERMISSION_DENIED)
        # ...nor report on a lease it does not hold under its own worker id.
        rogue_id = rogue.call("WorkerService/Register", pb.RegisterRequest(name="rogue")).worker_id
        reply = rogue.call("WorkerService/ReportResults",
                           pb.ReportResultsRequest(worker_id=rogue_id, results=[clean]))
        self.assertEqual(list(reply.accepted), [False])
        self.assertEqual(alice.call("ClientService/GetJob", pb.GetJobRequest(job_id=job.id.encode()))
                         .done_tasks, 0, "no forged verdict was applied")

        # The honest worker hands the lease back; a real worker scans the file.
        honest.call("WorkerService/ReportResults", pb.ReportResultsRequest(
            worker_id=honest_id, results=[pb.TaskResult(lease_id=lease.lease_id, released=True)]))
        cluster.add_worker(slots=1)
        done = self.wait_for_job(alice, job.id)
        self.assertEqual(done.verdict, pb.MALICIOUS)
        # The same bytes under another name and tenant: still MALICIOUS.
        bob_copy = self.write(cluster, "bob/renamed.bin", read(evil))
        result = cluster.cli(bob_copy, tenant="bob")
        self.assertEqual(result.returncode, 1, result.stderr)
        self.assertEqual(json.loads(result.stdout)["files"][0]["verdict"], "MALICIOUS")
        # After a compromise, an admin drops one worker identity's entries.
        dropped = subprocess.run([COORDINATOR, "cache", "drop", "--worker", "worker:scan-pool",
                                  "--db", cluster.db, "--audit-log", cluster.audit_log],
                                 capture_output=True, text=True)
        self.assertEqual(dropped.returncode, 0, dropped.stderr)
        self.assertIn("dropped 1 verdict cache entries written by worker:scan-pool",
                      dropped.stdout)

    def test_a_file_swapped_for_a_symlink_after_submit_is_refused_at_open(self):
        cluster = self.cluster(workers=0)
        alice = self.client(cluster, cluster.token("tenant", "alice"))
        model = self.write(cluster, "alice/model.pkl", b"\x80\x02K\x01.")
        job = self.submit(alice, model)
        # After the submit-time check, the file becomes a link to a file the
        # workers can read but the job may not (outside --allow-root).
        outside = os.path.join(self.root, "not-allowed.pkl")
        with open(outside, "wb") as f:
            f.write(malicious_pickle())
        os.remove(model)
        os.symlink(outside, model)
        cluster.add_worker(slots=1)
        done = self.wait_for_job(alice, job.id)
        self.assertEqual(done.verdict, pb.ERROR)
        report = b"".join(chunk.data for chunk in alice.call(
            "ClientService/GetReport", pb.GetReportRequest(job_id=job.id.encode(),
                                                           format=pb.JSON)))
        entry = json.loads(report)["files"][0]
        self.assertEqual(entry["verdict"], "ERROR")
        self.assertIn("outside the allowed root", entry["findings"][0]["message"])
        self.assertNotIn("pickle", " ".join(f["rule_id"] for f in entry["findings"]),
                         "the file outside the root was never read")

    def test_workers_may_authenticate_with_client_certificates(self):
        cluster = self.cluster(workers=0)
        cluster.add_worker(slots=1, credentials=["--tls-cert", cluster.pki.worker_cert,
                                                 "--tls-key", cluster.pki.worker_key])
        self.write(cluster, "m/evil.pkl", malicious_pickle())
        result = cluster.cli(os.path.join(cluster.data, "m"))
        self.assertEqual(result.returncode, 1, result.stderr)
        # A certificate from another CA is refused in the handshake.
        rogue = self.client(cluster, cert=cluster.pki.rogue_cert, key=cluster.pki.rogue_key)
        self.assertIn(rogue.code("WorkerService/Register", pb.RegisterRequest()),
                      (grpc.StatusCode.UNAVAILABLE, UNAUTHENTICATED))
        # A client certificate is a worker credential only.
        cert_client = self.client(cluster, cert=cluster.pki.worker_cert,
                                  key=cluster.pki.worker_key)
        self.assertEqual(cert_client.code("ClientService/ListJobs", pb.ListJobsRequest()),
                         PERMISSION_DENIED)

    def test_blobs_are_private_to_their_tenant_and_bounded(self):
        cluster = self.cluster(workers=0, extra=["--tenant-blob-quota-mb", "1"])
        alice = self.client(cluster, cluster.token("tenant", "alice"))
        bob = self.client(cluster, cluster.token("tenant", "bob"))
        data = malicious_pickle()
        digest = pb.Digest(sha256=hashlib.sha256(data).hexdigest(), size_bytes=len(data))
        alice.call("ClientService/UploadBlob", [pb.UploadBlobRequest(digest=digest, data=data)])
        self.assertEqual(len(alice.call("ClientService/FindMissingBlobs",
                                        pb.FindMissingBlobsRequest(digests=[digest])).missing), 0)
        self.assertEqual(len(bob.call("ClientService/FindMissingBlobs",
                                      pb.FindMissingBlobsRequest(digests=[digest])).missing), 1,
                         "bob cannot learn what alice uploaded")
        upload = pb.SubmitScanRequest(uploads=[pb.UploadedFile(name=b"model.pkl", digest=digest)])
        self.assertEqual(bob.code("ClientService/SubmitScan", upload), NOT_FOUND)
        worker = self.client(cluster, cluster.worker_token)
        self.assertEqual(worker.code("WorkerService/FetchBlob", pb.FetchBlobRequest(digest=digest)),
                         NOT_FOUND, "no lease needs it")
        traversal = pb.SubmitScanRequest(uploads=[pb.UploadedFile(name=b"../../../etc/passwd",
                                                                  digest=digest)])
        try:
            alice.call("ClientService/SubmitScan", traversal)
            self.fail("a traversal name was accepted")
        except grpc.RpcError as error:
            self.assertEqual(error.code(), grpc.StatusCode.INVALID_ARGUMENT)
            self.assertIn("'..'", error.details())
        big = os.urandom(2 << 20)
        big_digest = pb.Digest(sha256=hashlib.sha256(big).hexdigest(), size_bytes=len(big))
        try:
            alice.call("ClientService/UploadBlob",
                       [pb.UploadBlobRequest(digest=big_digest, data=big[:1024])])
            self.fail("an upload over the quota was accepted")
        except grpc.RpcError as error:
            self.assertEqual(error.code(), grpc.StatusCode.RESOURCE_EXHAUSTED)
            self.assertIn("quota", error.details())

    def test_a_bad_tenant_name_and_a_huge_policy_are_invalid_arguments(self):
        cluster = self.cluster(workers=0)
        admin = self.client(cluster, cluster.admin_token)
        path = self.write(cluster, "x.pkl", b"\x80\x02K\x01.")
        # Field 1 (tenant) with bytes that are not UTF-8, then field 2 (a path).
        raw = b"\x0a\x03\xff\xfe\x41" + b"\x12" + bytes([len(path)]) + path.encode()
        stub = admin.channel.unary_unary("/gauntlet.v1.ClientService/SubmitScan", lambda r: r,
                                         pb.SubmitScanResponse.FromString)
        try:
            stub(raw, metadata=admin.metadata, timeout=20)
            self.fail("an invalid tenant name was accepted")
        except grpc.RpcError as error:
            self.assertEqual(error.code(), grpc.StatusCode.INVALID_ARGUMENT)
            self.assertTrue(error.details())
        huge = pb.SubmitScanRequest(paths=[path.encode()], policy_toml=b"#" * (2 << 20))
        self.assertEqual(admin.code("ClientService/SubmitScan", huge),
                         grpc.StatusCode.INVALID_ARGUMENT)

    def test_an_emptied_store_is_refused_at_start(self):
        db = os.path.join(self.root, "emptied.db")
        open(db, "w").close()
        command = [COORDINATOR, "--listen", "127.0.0.1:0", "--metrics-listen", "127.0.0.1:0",
                   "--db", db, "--insecure"]
        refused = subprocess.run(command, capture_output=True, text=True, timeout=30)
        self.assertEqual(refused.returncode, 1, refused.stderr)
        self.assertIn("is an empty file", refused.stderr)
        self.assertIn("--init-db", refused.stderr)
        started = subprocess.Popen(command + ["--init-db"], stdout=subprocess.PIPE,
                                   stderr=subprocess.DEVNULL, text=True)
        self.assertTrue(started.stdout.readline().startswith("listening on"))
        started.kill()
        started.wait()
        started.stdout.close()

    def test_rotated_server_certificates_are_picked_up_without_a_restart(self):
        cluster = self.cluster(workers=0)
        pki = cluster.pki
        # A new CA and server certificate replace the files in place.
        rotated = os.path.join(self.root, "rotated")
        shutil.copytree(pki.dir, rotated)
        subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
                        "-keyout", "new-ca.key", "-out", "new-ca.pem", "-subj", "/CN=new CA",
                        "-addext", "basicConstraints=critical,CA:TRUE",
                        "-addext", "keyUsage=critical,keyCertSign,cRLSign"],
                       cwd=rotated, check=True, capture_output=True)
        subprocess.run(["openssl", "x509", "-req", "-in", "server.csr", "-CA", "new-ca.pem",
                        "-CAkey", "new-ca.key", "-CAcreateserial", "-days", "2",
                        "-out", "server.pem", "-extfile", "server.ext"],
                       cwd=rotated, check=True, capture_output=True)
        old_cert = read(pki.server_cert)
        try:
            shutil.copy(os.path.join(rotated, "server.pem"), pki.server_cert)
            token = cluster.token("tenant", "alice")
            deadline = time.time() + 30
            while time.time() < deadline:
                fresh = Client(cluster, token, ca=os.path.join(rotated, "new-ca.pem"))
                code = fresh.code("ClientService/ListJobs", pb.ListJobsRequest())
                fresh.close()
                if code == grpc.StatusCode.OK:
                    break
                time.sleep(1)
            self.assertEqual(code, grpc.StatusCode.OK, "the new certificate was never served")
        finally:
            with open(pki.server_cert, "wb") as f:
                f.write(old_cert)


def tearDownModule():
    shutil.rmtree(STUBS, ignore_errors=True)


if __name__ == "__main__":
    unittest.main(verbosity=2)
