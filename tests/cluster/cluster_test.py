"""The cluster with real processes on loopback: gauntlet-coordinator (TLS,
tokens), gauntlet-worker (sandboxed parsers) and the gauntlet CLI as a client.

Each test starts its own coordinator and workers in a temporary directory,
kills them with SIGKILL where the test says so, and checks what a user
relies on: every file gets exactly one verdict, malicious files are found,
tenants share fairly, duplicates hit the cache, bad requests get clear
errors, and /metrics passes promtool.

Run by ctest (label "cluster") with the binaries in the environment:
GAUNTLET, GAUNTLET_COORDINATOR_BIN, GAUNTLET_WORKER_BIN, REAL_FIXTURES.
"""

import json
import os
import pickle
import re
import shutil
import signal
import subprocess
import threading
import time
import unittest

from harness import COORDINATOR, GAUNTLET, ClusterTestCase, Payload

PROMTOOL = shutil.which("promtool")


class ClusterTest(ClusterTestCase):
    # Under ASan and UBSan (GAUNTLET_SANITIZED=1) a slow file takes ~8 times
    # as long to scan (0.8 s against 0.1 s for the CLI). The scenarios that
    # interrupt a job need it still running when they do, not long: there
    # they use a third of the files (about 16 s of scanning instead of 50 s;
    # the whole file 143 s instead of 338 s on 2 cores).
    SLOW_SHARE = 0.35 if os.environ.get("GAUNTLET_SANITIZED") == "1" else 1.0

    # Corpora ----------------------------------------------------------------

    def slow_count(self, count):
        """How many slow files a job of `count` (as tuned for a normal build)
        gets in this build."""
        return max(20, round(count * self.SLOW_SHARE))

    def write_distinct(self, directory, count, malicious_every=0):
        """Small distinct pickles; every Nth one is a payload."""
        os.makedirs(directory, exist_ok=True)
        names = []
        for i in range(count):
            path = os.path.join(directory, f"model_{i:05d}.pkl")
            if malicious_every and i % malicious_every == 0:
                data = pickle.dumps(Payload(f"echo pwned {i}"), protocol=2)
            else:
                data = pickle.dumps({"layer": i, "weights": [i, i + 1, i + 2]}, protocol=4)
            with open(path, "wb") as f:
                f.write(data)
            names.append(path)
        return names

    def write_slow(self, directory, count):
        """Hard links to one ~1 MB pickle that takes tens of milliseconds to
        analyse, so a job lasts long enough to be interrupted."""
        os.makedirs(directory, exist_ok=True)
        source = os.path.join(self.root, "slow.pkl")
        if not os.path.exists(source):
            with open(source, "wb") as f:
                f.write(pickle.dumps([i * 7919 % 100003 for i in range(300000)], protocol=2))
        for i in range(count):
            os.link(source, os.path.join(directory, f"slow_{i:04d}.pkl"))

    @staticmethod
    def describe_errors(report):
        return "\n".join(f'{f["path"]}: {f["verdict"]} ' + "; ".join(x["message"] for x in f["findings"])
                         for f in report["files"] if f["verdict"] != "CLEAN")[:2000]

    def assert_every_file_once(self, report, expected):
        paths = [f["path"] for f in report["files"]]
        self.assertEqual(len(paths), expected)
        self.assertEqual(len(set(paths)), expected, "a file got more than one verdict")

    # Tests ------------------------------------------------------------------

    def test_thousand_file_job_across_three_workers(self):
        cluster = self.cluster(workers=3)
        self.write_distinct(os.path.join(cluster.data, "registry"), 1000, malicious_every=100)
        result = cluster.cli(os.path.join(cluster.data, "registry"))
        self.assertEqual(result.returncode, 1, result.stderr)  # Findings at HIGH or above.
        report = json.loads(result.stdout)
        self.assert_every_file_once(report, 1000)
        self.assertEqual(report["summary"]["malicious"], 10)
        self.assertEqual(report["summary"]["clean"], 990)
        payload = next(f for f in report["files"] if f["path"].endswith("model_00000.pkl"))
        self.assertEqual(payload["verdict"], "MALICIOUS")
        rules = {(x["rule_id"], x["severity"]) for x in payload["findings"]}
        self.assertIn(("pickle.dangerous_global", "CRITICAL"), rules)
        # Three workers shared the work.
        busy = [cluster.metric("gauntlet_worker_tasks_total", port=w.metrics_port)
                for w in cluster.workers]
        self.assertTrue(all(n > 0 for n in busy), busy)

    def test_names_that_are_not_utf8_lose_no_finding(self):
        # One lease batch holds a payload named with bytes that are not
        # UTF-8 and its neighbours: every one keeps its verdict.
        cluster = self.cluster(workers=1)
        directory = os.path.join(cluster.data, "odd")
        self.write_distinct(directory, 6, malicious_every=3)
        with open(os.path.join(directory.encode(), b"evil\xff\xfe.pkl"), "wb") as f:
            f.write(pickle.dumps(Payload("echo pwned"), protocol=2))
        result = cluster.cli(directory)
        self.assertEqual(result.returncode, 1, result.stderr)
        report = json.loads(result.stdout)
        self.assert_every_file_once(report, 7)
        self.assertEqual(report["summary"]["malicious"], 3, self.describe_errors(report))
        self.assertEqual(report["summary"]["clean"], 4, self.describe_errors(report))
        odd = next(f for f in report["files"] if "evil" in f["path"])
        self.assertEqual(odd["verdict"], "MALICIOUS")

    def test_fifos_and_symlink_loops_are_errors_not_hangs(self):
        # A FIFO under an allowed root used to block a worker slot for good
        # (heartbeats kept its lease alive); with the verdict cache on, the
        # worker hashes files before scanning them.
        cluster = self.cluster(workers=1)
        directory = os.path.join(cluster.data, "odd")
        self.write_distinct(directory, 4, malicious_every=4)
        os.mkfifo(os.path.join(directory, "pipe.pkl"))
        os.symlink("loop_b", os.path.join(directory, "loop_a"))
        os.symlink("loop_a", os.path.join(directory, "loop_b"))
        result = cluster.cli(directory)
        self.assertEqual(result.returncode, 1, result.stderr)
        report = json.loads(result.stdout)
        self.assert_every_file_once(report, 7)
        by_name = {os.path.basename(f["path"]): f for f in report["files"]}
        for name in ("pipe.pkl", "loop_a", "loop_b"):
            self.assertEqual(by_name[name]["verdict"], "ERROR", by_name[name])
            self.assertEqual(by_name[name]["findings"][0]["rule_id"], "scan.not_regular_file")
        self.assertEqual(by_name["model_00000.pkl"]["verdict"], "MALICIOUS")

    def test_unreadable_directory_is_an_error_not_a_pass(self):
        # Run as an unprivileged user: root reads a mode-000 directory anyway.
        tree = os.path.join(self.root, "walk")
        self.write_distinct(os.path.join(tree, "open"), 2)
        self.write_distinct(os.path.join(tree, "locked"), 2, malicious_every=1)
        os.chmod(os.path.join(tree, "locked"), 0)
        for path in (self.root, tree, os.path.join(tree, "open")):
            os.chmod(path, 0o755)
        command = [GAUNTLET, "scan", tree, "--format", "json", "--no-progress"]
        if os.geteuid() == 0:
            command = ["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups"] + command
        result = subprocess.run(command, capture_output=True, text=True, timeout=120)
        self.assertEqual(result.returncode, 2, result.stderr)
        report = json.loads(result.stdout)
        by_path = {f["path"]: f for f in report["files"]}
        locked = by_path[os.path.join(tree, "locked")]
        self.assertEqual(locked["verdict"], "ERROR")
        self.assertIn("Permission denied", locked["findings"][0]["message"])
        self.assertEqual(report["summary"]["clean"], 2)

    def test_worker_killed_mid_job_loses_no_file(self):
        cluster = self.cluster(workers=2, slots=1, extra=["--no-verdict-cache"])
        files = self.slow_count(150)
        self.write_slow(os.path.join(cluster.data, "slow"), files)
        client = cluster.cli_background(os.path.join(cluster.data, "slow"))
        cluster.wait_for_progress(10)
        cluster.workers[0].send_signal(signal.SIGKILL)
        out, err = client.communicate(timeout=180)
        report = json.loads(out)
        self.assertEqual(client.returncode, 0, err + self.describe_errors(report))
        self.assert_every_file_once(report, files)
        self.assertEqual(report["summary"]["clean"], files)
        self.assertGreaterEqual(cluster.metric("gauntlet_lease_expiries_total"), 1)
        self.assertEqual(cluster.metric("gauntlet_tasks_dead_lettered_total"), 0)

    def test_coordinator_killed_and_restarted_finishes_the_job_exactly_once(self):
        cluster = self.cluster(workers=2, slots=1, extra=["--no-verdict-cache"])
        files = self.slow_count(150)
        self.write_slow(os.path.join(cluster.data, "slow"), files)
        client = cluster.cli_background(os.path.join(cluster.data, "slow"))
        cluster.wait_for_progress(20)
        cluster.coordinator.send_signal(signal.SIGKILL)
        cluster.coordinator.wait()
        cluster.coordinator.stdout.close()
        time.sleep(0.5)
        cluster.start_coordinator()  # Same database, same port.
        out, err = client.communicate(timeout=180)
        self.assertEqual(client.returncode, 0, err)
        report = json.loads(out)
        self.assert_every_file_once(report, files)
        self.assertEqual(report["summary"]["clean"], files)
        listing = cluster.jobs("list").stdout
        self.assertIn("state=SUCCEEDED", listing)
        self.assertIn(f"files={files}/{files}", listing)

    def test_tenants_share_the_cluster_fairly(self):
        cluster = self.cluster(workers=1, slots=1, extra=["--no-verdict-cache"])
        # Not fewer under ASan: the small job's CLI takes seconds to start
        # there, and the big one must outlast that by far.
        big_files = 120
        self.write_slow(os.path.join(cluster.data, "big"), big_files)
        self.write_slow(os.path.join(cluster.data, "small"), 5)
        big = cluster.cli_background(os.path.join(cluster.data, "big"), tenant="student-a")
        cluster.wait_for_progress(5)
        small = cluster.cli(os.path.join(cluster.data, "small"), tenant="student-b")
        self.assertEqual(small.returncode, 0, small.stderr)
        # When the 5-file job is done, the big one that started first is far
        # from done: the single slot alternated between the tenants.
        big_line = next(line for line in cluster.jobs("list", "--tenant", "student-a").stdout.splitlines())
        big_done = int(re.search(rf"files=(\d+)/{big_files}", big_line).group(1))
        self.assertLess(big_done, big_files // 2, big_line)
        self.assertIsNone(big.poll(), "the 5-file job must not wait for the big one")
        big_out, _ = big.communicate(timeout=300)
        self.assert_every_file_once(json.loads(big_out), big_files)
        self.assert_every_file_once(json.loads(small.stdout), 5)

    def test_duplicate_heavy_job_hits_the_cache(self):
        cluster = self.cluster(workers=2)
        registry = os.path.join(cluster.data, "mirror")
        distinct = self.write_distinct(os.path.join(self.root, "distinct"), 5, malicious_every=5)
        os.makedirs(registry)
        for i in range(200):
            shutil.copy(distinct[i % 5], os.path.join(registry, f"copy_{i:03d}.pkl"))
        first = json.loads(cluster.cli(registry).stdout)
        self.assert_every_file_once(first, 200)
        self.assertEqual(first["summary"]["malicious"], 40)
        hits = cluster.metric("gauntlet_cache_requests_total", 'outcome="hit"')
        merged = cluster.metric("gauntlet_cache_requests_total", 'outcome="merged"')
        self.assertGreaterEqual(hits + merged, 195)  # Five distinct contents.
        second = json.loads(cluster.cli(registry).stdout)
        self.assertEqual(second["summary"]["malicious"], 40)
        self.assertEqual(cluster.metric("gauntlet_cache_requests_total", 'outcome="hit"') - hits, 200)
        self.assertIn("cached=200", cluster.jobs("list").stdout.splitlines()[0])

    def test_a_second_coordinator_on_the_same_port_is_refused(self):
        # gRPC's default SO_REUSEPORT would let both serve, each seeing half
        # of the jobs and workers.
        cluster = self.cluster(workers=0)
        second = subprocess.run(
            [COORDINATOR, "--listen", cluster.target, "--metrics-listen", "127.0.0.1:0",
             "--db", os.path.join(self.root, "second.db"), "--insecure"],
            capture_output=True, text=True, timeout=60)
        self.assertEqual(second.returncode, 1, second.stderr)
        self.assertIn(f"cannot listen on {cluster.target}", second.stderr)

    def test_bad_requests_get_clear_errors(self):
        cluster = self.cluster(workers=1, extra=["--tenant-queue-limit", "5"])
        files = self.write_distinct(os.path.join(cluster.data, "ok"), 10)
        outside = os.path.join(self.root, "outside.pkl")
        with open(outside, "wb") as f:
            f.write(pickle.dumps(1))
        bad_policy = os.path.join(self.root, "bad.toml")
        with open(bad_policy, "w") as f:
            f.write("[limits]\nno_such_key = 1\n")
        cases = [
            ([os.path.join(cluster.data, "missing.pkl")], "no such file or directory"),
            ([outside], "outside the roots"),
            (["--policy", bad_policy, files[0]], "no_such_key"),
            ([os.path.join(cluster.data, "ok")], "limit is 5"),
        ]
        for args, message in cases:
            result = cluster.cli(*args)
            self.assertEqual(result.returncode, 2, (args, result.stderr))
            self.assertIn(message, result.stderr, args)
        self.assertIn("no job 'nonsense'", cluster.jobs("get", "nonsense").stderr)
        self.assertIn("no job 'job-424242'", cluster.jobs("get", "job-424242").stderr)

    def test_every_outcome_exits_and_reports_the_same_locally_and_on_the_cluster(self):
        """One exit-code rule (0 clean, 1 a finding at --fail-on, 2 not fully
        analysed) over the same typed report, whether the scan ran in this
        process or on the cluster: a table of outcomes, each run both ways."""
        cluster = self.cluster(workers=1)
        directory = os.path.join(cluster.data, "outcomes")
        os.makedirs(directory)

        def write(name, data):
            path = os.path.join(directory, name)
            with open(path, "wb") as f:
                f.write(data)
            return path

        clean = write("clean.pkl", pickle.dumps({"weights": [1, 2, 3]}, protocol=4))
        # An unknown global that is never called: a LOW finding, below --fail-on HIGH.
        unknown = write("unknown.pkl", b"\x80\x02cacme_private_module\nHelper\n.")
        malicious = write("malicious.pkl", pickle.dumps(Payload("echo pwned"), protocol=2))
        truncated = write("truncated.pkl", pickle.dumps(list(range(200)), protocol=2)[:40])
        cases = [  # (paths, extra arguments, exit code)
            ([clean], [], 0),
            ([unknown], [], 0),
            ([unknown], ["--fail-on", "LOW"], 1),
            ([malicious], [], 1),
            ([truncated], [], 2),                     # Not fully analysed: never a pass.
            ([truncated, malicious], [], 1),          # A finding at --fail-on comes first.
            ([clean, truncated], ["--fail-on", "CRITICAL"], 2),
        ]
        for paths, extra, expected in cases:
            local = subprocess.run([GAUNTLET, "scan", "--no-progress", "--format", "json", *extra, *paths],
                                   capture_output=True, text=True, timeout=60)
            remote = cluster.cli(*extra, *paths)
            case = (paths, extra)
            self.assertEqual(local.returncode, expected, (case, local.stderr))
            self.assertEqual(remote.returncode, expected, (case, remote.stderr))

            def verdicts(stdout):
                report = json.loads(stdout)
                return [(f["path"], f["verdict"], sorted(x["rule_id"] for x in f["findings"]))
                        for f in report["files"]], report["summary"]

            local_files, local_summary = verdicts(local.stdout)
            remote_files, remote_summary = verdicts(remote.stdout)
            self.assertEqual(local_files, remote_files, case)
            for key in ("files", "clean", "suspicious", "malicious", "error"):
                self.assertEqual(local_summary[key], remote_summary[key], (case, key))
        self.assertEqual(verdicts(cluster.cli(unknown).stdout)[0][0][2], ["pickle.unknown_global"])
        # Markdown is rendered from the typed report too: the same both ways
        # but for the run's duration (the summary row's last cell).
        def markdown(stdout):
            return re.sub(r"\| [0-9.]+ \|\n", "| (seconds) |\n", stdout, count=1)

        local = subprocess.run([GAUNTLET, "scan", "--no-progress", "--format", "markdown", malicious, truncated],
                               capture_output=True, text=True, timeout=60)
        remote = cluster.cli(malicious, truncated, fmt="markdown")
        self.assertEqual(remote.returncode, 1, remote.stderr)
        self.assertIn("# Gauntlet scan: MALICIOUS", remote.stdout)
        self.assertEqual(markdown(local.stdout), markdown(remote.stdout))

    def test_uploads_reach_workers_through_the_content_store(self):
        cluster = self.cluster(workers=1)
        outside = self.write_distinct(os.path.join(self.root, "laptop"), 4, malicious_every=2)
        result = cluster.cli("--upload", os.path.join(self.root, "laptop"))
        self.assertEqual(result.returncode, 1, result.stderr)
        report = json.loads(result.stdout)
        self.assert_every_file_once(report, 4)
        self.assertEqual(report["summary"]["malicious"], 2)
        self.assertEqual(sorted(f["path"] for f in report["files"]), sorted(outside))

    def test_uploaded_model_folders_get_the_same_model_verdicts_as_paths(self):
        """An upload keeps its folders: models are grouped and gated (the
        license the worker read from the card) exactly as a by-path scan's."""
        cluster = self.cluster(workers=1)
        root = os.path.realpath(os.path.join(cluster.data, "registry"))
        for model, license_line in (("org-a/model", "license: apache-2.0"), ("org-b/model", "license: mit")):
            folder = os.path.join(root, model)
            os.makedirs(os.path.join(folder, "adapter"))
            with open(os.path.join(folder, "README.md"), "w") as f:
                f.write(f"---\n{license_line}\n---\n# A model\n")
            with open(os.path.join(folder, "config.json"), "w") as f:
                f.write("{}")
            with open(os.path.join(folder, "adapter", "adapter_config.json"), "w") as f:
                f.write("{}")
        with open(os.path.join(root, "org-a/model/adapter/weights.pkl"), "wb") as f:
            f.write(pickle.dumps(Payload("echo pwned"), protocol=2))
        policy = os.path.join(self.root, "registry.toml")
        with open(policy, "w") as f:
            f.write('[registry]\nallowed_licenses = ["mit"]\n')

        def models(result):
            self.assertEqual(result.returncode, 1, result.stderr)
            report = json.loads(result.stdout)
            return sorted((os.path.relpath(m["path"], root), m["verdict"], m.get("license", ""),
                           sorted(x["rule_id"] for x in m["findings"])) for m in report["models"])

        by_path = models(cluster.cli("--policy", policy, root))
        uploaded = models(cluster.cli("--policy", policy, "--upload", root))
        self.assertEqual(uploaded, by_path)
        self.assertEqual(by_path, [
            ("org-a/model", "SUSPICIOUS", "apache-2.0", ["policy.license_not_allowed"]),
            ("org-a/model/adapter", "MALICIOUS", "", ["policy.license_missing"]),
            ("org-b/model", "CLEAN", "mit", []),
            ("org-b/model/adapter", "SUSPICIOUS", "", ["policy.license_missing"]),
        ])

    def test_retention_deletes_finished_jobs_and_their_uploads(self):
        cluster = self.cluster(workers=1, extra=["--job-retention", "4s", "--blob-retention", "1s",
                                                 "--retention-interval", "1s"])
        self.write_distinct(os.path.join(self.root, "laptop"), 2)
        result = cluster.cli("--upload", os.path.join(self.root, "laptop"))
        self.assertEqual(result.returncode, 0, result.stderr)
        job_id = re.search(r"(job-[0-9a-f]{32})", cluster.jobs("list").stdout).group(1)
        blobs = os.path.join(self.root, "coordinator.db.blobs")
        # No count of the stored uploads here: with a 1 s retention a slow (sanitizer) build may
        # already have swept them. The deleted-blobs counter reaching exactly 2 and the empty
        # store below prove both uploads went through the store and were removed.
        deadline = time.time() + 20
        while time.time() < deadline and (
                cluster.metric("gauntlet_retention_deleted_total", 'kind="blobs"') < 2
                or cluster.metric("gauntlet_retention_deleted_total", 'kind="jobs"') < 1):
            time.sleep(0.2)
        self.assertEqual(cluster.metric("gauntlet_retention_deleted_total", 'kind="blobs"'), 2)
        self.assertGreaterEqual(cluster.metric("gauntlet_retention_deleted_total", 'kind="jobs"'), 1)
        self.assertIn(f"no job '{job_id}'", cluster.jobs("get", job_id).stderr)
        self.assertEqual([n for n in os.listdir(blobs) if n != "tmp"], [])

    def test_a_full_disk_under_the_store_fails_loudly_and_loses_nothing(self):
        store = os.path.join(self.root, "store")
        os.makedirs(store)
        mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=6m", "tmpfs", store],
                                 capture_output=True)
        if mounted.returncode != 0:
            self.skipTest("cannot mount a small tmpfs here (needs root and CAP_SYS_ADMIN)")
        self.addCleanup(subprocess.run, ["umount", "-l", store])
        cluster = self.cluster(workers=1, slots=1, db=os.path.join(store, "c.db"), extra=[
            "--blob-dir", os.path.join(self.root, "blobs"), "--no-verdict-cache",
            "--max-attempts", "20"])
        files = self.slow_count(60)
        self.write_slow(os.path.join(cluster.data, "slow"), files)
        client = cluster.cli_background(os.path.join(cluster.data, "slow"))
        cluster.wait_for_progress(5)
        filler = os.path.join(store, "filler")
        with open(filler, "wb") as f:  # Fill the disk to the last byte.
            try:
                while True:
                    f.write(b"\0" * 65536)
                    f.flush()
            except OSError:
                pass
        deadline = time.time() + 30
        while time.time() < deadline and cluster.metric("gauntlet_store_errors_total") < 1:
            time.sleep(0.2)
        self.assertGreaterEqual(cluster.metric("gauntlet_store_errors_total"), 1)
        os.remove(filler)  # Space is back: the job goes on.
        out, err = client.communicate(timeout=240)
        report = json.loads(out)
        self.assertEqual(client.returncode, 0, err + self.describe_errors(report))
        self.assert_every_file_once(report, files)
        self.assertEqual(report["summary"]["clean"], files)

    def test_sigterm_drains_a_worker_without_losing_files(self):
        cluster = self.cluster(workers=2, slots=1, extra=["--no-verdict-cache"])
        files = self.slow_count(100)
        self.write_slow(os.path.join(cluster.data, "slow"), files)
        client = cluster.cli_background(os.path.join(cluster.data, "slow"))
        cluster.wait_for_progress(10)
        draining = cluster.workers[0]
        draining.send_signal(signal.SIGTERM)
        self.assertEqual(draining.wait(timeout=30), 0)
        out, err = client.communicate(timeout=180)
        report = json.loads(out)
        self.assert_every_file_once(report, files)
        self.assertEqual(report["summary"]["clean"], files)
        self.assertEqual(cluster.metric("gauntlet_tasks_dead_lettered_total"), 0)
        self.assertEqual(cluster.metric("gauntlet_late_results_dropped_total"), 0)

    def test_jobs_commands_get_watch_and_cancel(self):
        cluster = self.cluster(workers=1, slots=1, extra=["--no-verdict-cache"])
        self.write_slow(os.path.join(cluster.data, "slow"), 200)
        client = cluster.cli_background(os.path.join(cluster.data, "slow"), tenant="lab-7")
        cluster.wait_for_progress(3)
        job_id = re.match(r"(job-[0-9a-f]{32})",
                          cluster.jobs("list", "--tenant", "lab-7").stdout).group(1)
        got = cluster.jobs("get", job_id)
        self.assertEqual(got.returncode, 0, got.stderr)
        self.assertIn("tenant=lab-7", got.stdout)
        self.assertIn("state=RUNNING", got.stdout)
        watcher = cluster.jobs_background("watch", job_id, env=cluster.tenant_env("lab-7"))
        cancelled = cluster.jobs("cancel", job_id)
        self.assertEqual(cancelled.returncode, 0, cancelled.stderr)
        self.assertIn("state=CANCELLED", cancelled.stdout)
        self.assertIn("max_severity=none", cancelled.stdout)  # The typed scan summary.
        watched, _ = watcher.communicate(timeout=60)
        self.assertRegex(watched, r"CLEAN +\S+slow_\d+\.pkl")  # Per-file verdicts streamed.
        self.assertIn("state=CANCELLED", watched.splitlines()[-1])
        out, err = client.communicate(timeout=60)
        self.assertEqual(client.returncode, 2, "a cancelled job is not a pass")
        self.assertIn("was cancelled after", err)
        self.assertLess(len(json.loads(out)["files"]), 200)

    def test_health_service_and_reflection(self):
        import grpc  # python3-grpcio
        cluster = self.cluster(workers=0)
        with open(cluster.pki.ca, "rb") as f:
            credentials = grpc.ssl_channel_credentials(root_certificates=f.read())
        # Health and reflection answer without a token (probes, grpcurl).
        channel = grpc.secure_channel(cluster.target, credentials)
        check = channel.unary_unary("/grpc.health.v1.Health/Check")
        # HealthCheckRequest{service: ""} is empty; the reply is status SERVING (field 1 = 1).
        self.assertEqual(check(b"", timeout=10), b"\x08\x01")
        reflect = channel.stream_stream("/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo")
        # ServerReflectionRequest{list_services: ""} (field 7).
        replies = b"".join(reflect(iter([b"\x3a\x00"]), timeout=10))
        self.assertIn(b"gauntlet.v1.ClientService", replies)
        self.assertIn(b"gauntlet.v1.WorkerService", replies)
        channel.close()

    @unittest.skipUnless(PROMTOOL, "promtool (Debian package prometheus) is not installed")
    def test_metrics_pass_promtool(self):
        cluster = self.cluster(workers=1)
        self.write_distinct(os.path.join(cluster.data, "m"), 20, malicious_every=10)
        cluster.cli(os.path.join(cluster.data, "m"))
        for port in (cluster.coordinator_metrics, cluster.workers[0].metrics_port):
            text = cluster.metrics(port)
            self.assertIn("gauntlet_build_info", text)
            check = subprocess.run([PROMTOOL, "check", "metrics"], input=text,
                                   capture_output=True, text=True)
            self.assertEqual(check.returncode, 0, check.stdout + check.stderr)
        self.assertEqual(cluster.metric("gauntlet_tasks_completed_total", 'verdict="malicious"'), 2)
        self.assertEqual(cluster.metric("gauntlet_jobs_completed_total", 'verdict="malicious"'), 1)


@unittest.skipUnless(os.path.isdir(os.environ.get("REAL_FIXTURES", "")), "no real fixtures")
class SandboxParityTest(unittest.TestCase):
    def test_real_fixtures_scan_the_same_inside_the_sandbox(self):
        fixtures = os.environ["REAL_FIXTURES"]
        reports = []
        for extra in ([], ["--isolate"]):
            result = subprocess.run([GAUNTLET, "scan", fixtures, "--format", "json", "--no-progress"]
                                    + extra, capture_output=True, text=True, timeout=300)
            report = json.loads(result.stdout)
            reports.append({f["path"]: (f["verdict"], sorted(x["rule_id"] for x in f["findings"]))
                            for f in report["files"]})
        self.assertGreater(len(reports[0]), 40)
        self.assertEqual(reports[0], reports[1])


if __name__ == "__main__":
    unittest.main(verbosity=2)
