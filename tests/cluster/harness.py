"""A real cluster on loopback for the integration tests: gauntlet-coordinator
over TLS (certificates made here with OpenSSL), sandboxed gauntlet-workers
that authenticate with a worker token, and the gauntlet CLI as a client with
a tenant token. Shared by cluster_test.py and security_test.py.

Binaries come from the environment: GAUNTLET, GAUNTLET_COORDINATOR_BIN,
GAUNTLET_WORKER_BIN.
"""

import atexit
import os
import pickle
import re
import shutil
import socket
import subprocess
import tempfile
import time
import unittest
import urllib.request

GAUNTLET = os.environ["GAUNTLET"]
COORDINATOR = os.environ["GAUNTLET_COORDINATOR_BIN"]
WORKER = os.environ["GAUNTLET_WORKER_BIN"]


class Payload:
    """Pickles to os.system(...) when loaded."""

    def __init__(self, command):
        self.command = command

    def __reduce__(self):
        return (os.system, (self.command,))


def malicious_pickle(command="echo pwned"):
    return pickle.dumps(Payload(command), protocol=2)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_on_free_ports(start, taken):
    """start() launches a server on ports it picks with free_port() and
    returns None once the server serves, else its error output. A picked
    port is only free when picked: another process may bind it first, so a
    start whose error says `taken` is tried again (it picks new ports), up
    to five times. Returns start()'s last result."""
    for _ in range(5):
        error = start()
        if error is None or taken not in error:
            return error
    return error


def read_address(process, prefix, timeout=10):
    """Reads the process's stdout until a line 'PREFIX HOST:PORT'."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        line = process.stdout.readline()
        if not line:
            break
        match = re.match(prefix + r" (\S+):(\d+)", line)
        if match:
            return int(match.group(2))
    raise AssertionError(f"process never printed '{prefix} HOST:PORT'")


def openssl(*args, cwd):
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)


class Pki:
    """A test CA, the coordinator's certificate (for 127.0.0.1 and localhost),
    a worker client certificate, and a client certificate from another CA."""

    def __init__(self, directory):
        self.dir = directory
        os.makedirs(directory, exist_ok=True)
        self.ca = self.path("ca.pem")
        self.ca_key = self.path("ca.key")
        self.make_ca("ca", "Gauntlet test CA")
        self.server_cert, self.server_key = self.issue(
            "server", "coordinator", "subjectAltName=IP:127.0.0.1,DNS:localhost")
        self.worker_cert, self.worker_key = self.issue("worker", "scan-pool-cert", None)
        self.make_ca("rogue-ca", "Someone else's CA")
        self.rogue_cert, self.rogue_key = self.issue("rogue", "rogue-worker", None, ca="rogue-ca")

    def path(self, name):
        return os.path.join(self.dir, name)

    def make_ca(self, name, subject):
        openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
                "-keyout", f"{name}.key", "-out", f"{name}.pem", "-subj", f"/CN={subject}",
                "-addext", "basicConstraints=critical,CA:TRUE",
                "-addext", "keyUsage=critical,keyCertSign,cRLSign", cwd=self.dir)

    def issue(self, name, common_name, extension, ca="ca"):
        openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", f"{name}.key",
                "-out", f"{name}.csr", "-subj", f"/CN={common_name}", cwd=self.dir)
        extra = []
        if extension:
            with open(self.path(f"{name}.ext"), "w") as f:
                f.write(extension + "\n")
            extra = ["-extfile", f"{name}.ext"]
        openssl("x509", "-req", "-in", f"{name}.csr", "-CA", f"{ca}.pem", "-CAkey", f"{ca}.key",
                "-CAcreateserial", "-days", "2", "-out", f"{name}.pem", *extra, cwd=self.dir)
        return self.path(f"{name}.pem"), self.path(f"{name}.key")


_PKI = {}


def pki():
    """One PKI per test process (RSA keys take a moment)."""
    if "pki" not in _PKI:
        root = tempfile.mkdtemp(prefix="gauntlet_pki_")
        atexit.register(shutil.rmtree, root, ignore_errors=True)
        _PKI["pki"] = Pki(root)
    return _PKI["pki"]


class Cluster:
    def __init__(self, root, *, workers=2, slots=2, lease_ttl_ms=1500, extra=(),
                 port=None, tls=True, db=None):
        self.root = root
        self.data = os.path.join(root, "data")
        os.makedirs(self.data, exist_ok=True)
        self.db = db or os.path.join(root, "coordinator.db")
        self.audit_log = os.path.join(root, "audit.log")
        self.lease_ttl_ms = lease_ttl_ms
        self.extra = list(extra)
        # Port 0 unless given: the coordinator binds a free port and prints it
        # (a port picked here and closed again could be taken by another test
        # before the coordinator binds it). Restarts reuse the bound port.
        self.port = port
        self.tls = tls
        self.pki = pki() if tls else None
        self.tokens = {}
        self.workers = []
        self.admin_token = self.token("admin", "instructor")
        self.worker_token = self.token("worker", "scan-pool")
        self.start_coordinator()
        for _ in range(workers):
            self.add_worker(slots)

    @property
    def target(self):
        return f"127.0.0.1:{self.port}"

    def create_token(self, role, name):
        """A new token (as text) from `gauntlet-coordinator tokens create`."""
        result = subprocess.run(
            [COORDINATOR, "tokens", "create", "--role", role, name, "--db", self.db,
             "--audit-log", self.audit_log], capture_output=True, text=True, timeout=30, check=True)
        return result.stdout.strip()

    def token(self, role, name):
        """A token file for (role, name), made once."""
        if (role, name) not in self.tokens:
            path = os.path.join(self.root, f"{role}-{name}.token")
            with open(path, "w") as f:
                f.write(self.create_token(role, name) + "\n")
            self.tokens[(role, name)] = path
        return self.tokens[(role, name)]

    def transport_flags(self):
        return ["--tls-ca", self.pki.ca] if self.tls else ["--insecure"]

    def env(self, token_file):
        """The environment a client process authenticates with."""
        env = dict(os.environ)
        env["GAUNTLET_TOKEN_FILE"] = token_file
        if self.tls:
            env["GAUNTLET_TLS_CA"] = self.pki.ca
        else:
            env["GAUNTLET_INSECURE"] = "1"
        return env

    def tenant_env(self, tenant="default"):
        return self.env(self.token("tenant", tenant))

    def start_coordinator(self):
        security = (["--tls-cert", self.pki.server_cert, "--tls-key", self.pki.server_key,
                     "--tls-client-ca", self.pki.ca] if self.tls else ["--insecure"])
        self.coordinator = subprocess.Popen(
            [COORDINATOR, "--listen", f"127.0.0.1:{self.port or 0}",
             "--metrics-listen", "127.0.0.1:0", "--db", self.db, "--allow-root", self.data,
             "--lease-ttl-ms", str(self.lease_ttl_ms), "--audit-log", self.audit_log]
            + security + self.extra,
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        bound = read_address(self.coordinator, "listening on")
        assert self.port in (None, bound)
        self.port = bound
        self.coordinator_metrics = read_address(self.coordinator, "metrics on")

    def add_worker(self, slots=2, credentials=None, extra=()):
        """A sandboxed worker; `credentials` replaces the worker token flags."""
        if credentials is None:
            credentials = ["--token-file", self.worker_token]
        worker = subprocess.Popen(
            [WORKER, "--coordinator", self.target, "--metrics-listen", "127.0.0.1:0",
             "--slots", str(slots), "--drain-timeout-ms", "20000"]
            + self.transport_flags() + list(credentials) + list(extra),
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        worker.metrics_port = read_address(worker, "metrics on")
        self.workers.append(worker)
        return worker

    def scan_command(self, args, fmt="json"):
        return [GAUNTLET, "scan", "--coordinator", self.target, "--no-progress", "--format",
                fmt] + list(args)

    def cli(self, *args, tenant="default", fmt="json", env=None):
        return subprocess.run(self.scan_command(args, fmt), capture_output=True, text=True,
                              timeout=300, env=env or self.tenant_env(tenant))

    def cli_background(self, *args, tenant="default"):
        return subprocess.Popen(self.scan_command(args), stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True, env=self.tenant_env(tenant))

    def jobs(self, *args, env=None):
        """`gauntlet jobs ...`, as the admin unless `env` says otherwise."""
        return subprocess.run([GAUNTLET, "jobs", *args, "--coordinator", self.target],
                              capture_output=True, text=True, timeout=60,
                              env=env or self.env(self.admin_token))

    def jobs_background(self, *args, env=None):
        return subprocess.Popen([GAUNTLET, "jobs", *args, "--coordinator", self.target],
                                stdout=subprocess.PIPE, text=True,
                                env=env or self.env(self.admin_token))

    def done_tasks(self):
        listing = self.jobs("list").stdout
        match = re.search(r"files=(\d+)/(\d+)", listing)
        return int(match.group(1)) if match else 0

    def wait_for_progress(self, done, timeout=60):
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.done_tasks() >= done:
                return
            time.sleep(0.05)
        raise AssertionError(f"job never reached {done} finished files")

    def metrics(self, port=None):
        url = f"http://127.0.0.1:{port or self.coordinator_metrics}/metrics"
        return urllib.request.urlopen(url, timeout=10).read().decode()

    def metric(self, name, labels="", port=None):
        total = 0.0
        for line in self.metrics(port).splitlines():
            if line.startswith(name) and labels in line and not line.startswith("#"):
                head = line.rsplit(" ", 1)[0]
                if head == name or head.startswith(name + "{"):
                    total += float(line.rsplit(" ", 1)[1])
        return total

    def audit(self):
        """The audit log's events, parsed."""
        import json
        with open(self.audit_log) as f:
            return [json.loads(line) for line in f if line.strip()]

    def stop(self):
        for process in self.workers + [self.coordinator]:
            if process.poll() is None:
                process.kill()
            process.wait()
            if process.stdout:
                process.stdout.close()


class ClusterTestCase(unittest.TestCase):
    """Each test gets a temporary directory and the clusters it starts are
    stopped (SIGKILL) when it ends."""

    def setUp(self):
        self.root = tempfile.mkdtemp(prefix="gauntlet_cluster_")
        self.addCleanup(shutil.rmtree, self.root, ignore_errors=True)

    def cluster(self, **kwargs):
        cluster = Cluster(self.root, **kwargs)
        self.addCleanup(cluster.stop)
        return cluster
