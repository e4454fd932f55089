"""Runs what the Kubernetes manifests run. Renders k8s/ (its kustomization),
takes every container's command line from the rendered Deployments and
StatefulSets, and starts the real binaries with it on loopback: the same
flags and values, with only what cannot exist here mapped (each volume's
mount path to a local folder holding what its Secret or claim would,
0.0.0.0:PORT to a free loopback port, a Service address to the port its
pod listens on, --device=cuda to cpu on a machine without a GPU). Then it
asks every probe the manifests declare, checks each worker registered, and
scans a clean and a malicious file through the started cluster. A flag a
binary rejects, a probe path it does not serve or a Secret key it cannot
read fails here. It also checks that it can fail: the coordinator started
with one flag misspelt must exit 2.
Usage: manifest_startup_test.py K8S_DIR   (binaries from the environment)"""
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request

import yaml

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "cluster"))
sys.path.insert(0, HERE)
import harness  # noqa: E402  (the cluster tests' PKI, ports and pickles)
from render import render  # noqa: E402

BINARIES = {
    "gauntlet-coordinator": os.environ["GAUNTLET_COORDINATOR_BIN"],
    "gauntlet-worker": os.environ["GAUNTLET_WORKER_BIN"],
    "gauntlet-eval-worker": os.environ["GAUNTLET_EVAL_WORKER_BIN"],
}
GAUNTLET = os.environ["GAUNTLET"]
WORKLOADS = ("Deployment", "StatefulSet", "DaemonSet")


class Container:
    def __init__(self, workload, spec, pod):
        self.name = f"{workload['kind']}/{workload['metadata']['name']}/{spec['name']}"
        self.labels = workload["spec"]["template"]["metadata"]["labels"]
        self.spec = spec
        self.pod = pod
        self.args = list(spec.get("command", [])) + list(spec.get("args", []))
        self.ports = {}  # containerPort -> the loopback port it listens on here.
        self.process = None


class Deployment:
    """The manifests' containers, started on loopback."""

    def __init__(self, documents, root):
        self.documents = documents
        self.root = root
        self.pki = harness.pki()
        self.claims = {}
        self.services = {d["metadata"]["name"]: d for d in documents if d["kind"] == "Service"}
        self.containers = []
        for workload in documents:
            if workload["kind"] not in WORKLOADS:
                continue
            pod = workload["spec"]["template"]["spec"]
            for spec in pod["containers"]:
                self.containers.append(Container(workload, spec, pod))
        self.coordinator_db = None
        self.secrets = {}

    # ---- volumes
    def volume_dir(self, container, volume_name):
        """A local folder holding what the named volume would."""
        pod = container.pod
        volume = next((v for v in pod.get("volumes", []) if v["name"] == volume_name), None)
        if volume is None:  # A StatefulSet's volumeClaimTemplate: the pod's own disk.
            return self.fresh(f"{container.name}/{volume_name}")
        if "persistentVolumeClaim" in volume:  # Shared by every pod that claims it.
            claim = volume["persistentVolumeClaim"]["claimName"]
            if claim not in self.claims:
                self.claims[claim] = self.fresh(f"claims/{claim}")
            return self.claims[claim]
        if "secret" in volume:
            directory = self.fresh(f"{container.name}/{volume_name}")
            data = self.secrets[volume["secret"]["secretName"]]
            items = volume["secret"].get("items") or [{"key": k, "path": k} for k in data]
            for item in items:
                shutil.copyfile(data[item["key"]], os.path.join(directory, item["path"]))
            return directory
        if "emptyDir" in volume:
            return self.fresh(f"{container.name}/{volume_name}")
        sys.exit(f"{container.name}: volume {volume_name} of an unknown kind")

    def fresh(self, name):
        path = os.path.join(self.root, name.replace("/", "_"))
        os.makedirs(path, exist_ok=True)
        return path

    # ---- command lines
    def local_args(self, container):
        mounts = sorted(((m["mountPath"], self.volume_dir(container, m["name"]))
                         for m in container.spec.get("volumeMounts", [])),
                        key=lambda mount: -len(mount[0]))
        args = [BINARIES[container.args[0]]]
        for arg in container.args[1:]:
            for mount_path, local in mounts:  # The longest mount path that holds it.
                arg, found = re.subn(r"(^|=)" + re.escape(mount_path) + r"(?=/|$)",
                                     lambda m, local=local: m.group(1) + local, arg)
                if found:
                    break
            arg = re.sub(r"(?:0\.0\.0\.0|\[::\]):(\d+)",
                         lambda m: f"127.0.0.1:{self.listen_port(container, int(m.group(1)))}", arg)
            arg = re.sub(r"^(--coordinator=)([a-z0-9-]+):(\d+)$",
                         lambda m: m.group(1) + self.service_address(m.group(2), int(m.group(3))),
                         arg)
            if arg == "--device=cuda" and not gpu_present():
                print(f"  {container.name}: --device=cuda runs as --device=cpu (no GPU here)")
                arg = "--device=cpu"
            args.append(arg)
        return args

    def listen_port(self, container, port):
        container.ports.setdefault(port, harness.free_port())
        return container.ports[port]

    def service_address(self, name, port):
        service = self.services[name]
        target = next(p for p in service["spec"]["ports"] if p["port"] == port)["targetPort"]
        selector = service["spec"]["selector"]
        for container in self.containers:
            if all(container.labels.get(k) == v for k, v in selector.items()):
                number = next((p["containerPort"] for p in container.spec.get("ports", [])
                               if p.get("name") == target or p["containerPort"] == target), None)
                if number in container.ports:
                    return f"127.0.0.1:{container.ports[number]}"
        sys.exit(f"service {name}:{port} has no started container behind it")

    # ---- processes
    def start(self, container, make_args):
        """Starts the container from make_args(), its command line with host
        ports picked as it is built (picked again when one was taken:
        harness.start_on_free_ports)."""
        env = dict(os.environ, OMP_WAIT_POLICY="PASSIVE")

        def launch():
            container.ports.clear()
            args = make_args()
            print(f"  {container.name}: {' '.join(args)}")
            container.process = subprocess.Popen(args, stdout=subprocess.PIPE,
                                                 stderr=subprocess.PIPE, text=True, env=env)
            deadline = time.time() + 60
            while time.time() < deadline:
                line = container.process.stdout.readline()
                if line.startswith("metrics on "):
                    return None
                if not line and container.process.poll() is not None:
                    break
            container.process.kill()
            return f"(exit {container.process.wait()}):\n" + container.process.stderr.read()

        error = harness.start_on_free_ports(launch, "cannot listen on")
        if error is not None:
            sys.exit(f"{container.name} did not start {error}")

    def probe(self, container):
        named = {p.get("name"): p["containerPort"] for p in container.spec.get("ports", [])}
        for kind in ("startupProbe", "readinessProbe", "livenessProbe"):
            probe = container.spec.get(kind)
            if not probe:
                continue
            check = probe.get("httpGet") or probe.get("tcpSocket")
            port = container.ports[named.get(check["port"], check["port"])]
            if "httpGet" in probe:
                url = f"http://127.0.0.1:{port}{check['path']}"
                with urllib.request.urlopen(url, timeout=5) as response:
                    assert response.status == 200, f"{container.name} {kind} {url}: {response.status}"
            else:
                socket.create_connection(("127.0.0.1", port), timeout=5).close()
            print(f"  {container.name}: {kind} answered")

    def stop(self):
        """SIGTERM (as the kubelet sends), then what each wrote on stderr."""
        for container in self.containers:
            if container.process and container.process.poll() is None:
                container.process.terminate()
        logs = {}
        for container in self.containers:
            if container.process:
                try:
                    logs[container.name] = container.process.communicate(timeout=30)[1]
                except subprocess.TimeoutExpired:
                    container.process.kill()
                    logs[container.name] = container.process.communicate()[1]
        return logs


def check_logs(logs, coordinator, workers):
    """Every server logs JSON lines: start-up, workers joining, the job's
    submission and verdict, the drain on SIGTERM."""
    events = {}
    for name, text in logs.items():
        for line in text.splitlines():
            record = json.loads(line)  # A line that is not JSON fails here.
            if "event" in record:
                assert {"ts", "level", "component"} <= set(record), record
                events.setdefault(name, []).append(record)
    def named(container, event):
        return [r for r in events.get(container, []) if r["event"] == event]
    assert named(coordinator, "started"), events.get(coordinator)
    assert len(named(coordinator, "worker_joined")) == workers, events[coordinator]
    assert named(coordinator, "job_submitted")[0]["tasks"] == 2
    finished = named(coordinator, "job_finished")[0]
    assert finished["verdict"] == "MALICIOUS" and finished["kind"] == "scan", finished
    assert named(coordinator, "shutting_down")
    for name in logs:
        if name != coordinator:
            for event in ("started", "registered", "draining", "stopped"):
                assert named(name, event), (name, event, events.get(name))
    print(f"  JSON logs: {sum(len(v) for v in events.values())} records, "
          f"job_finished {finished['verdict']} in {finished['duration_s']:.2f} s")


def gpu_present():
    return shutil.which("nvidia-smi") is not None and subprocess.run(
        ["nvidia-smi"], capture_output=True).returncode == 0


def tokens(coordinator_args, role, name):
    db = next(a.split("=", 1)[1] for a in coordinator_args if a.startswith("--db="))
    path = os.path.join(os.path.dirname(db), f"{name}.token")
    out = subprocess.run([BINARIES["gauntlet-coordinator"], "tokens", "create", "--role", role,
                          name, f"--db={db}"], capture_output=True, text=True, check=True).stdout
    with open(path, "w") as f:
        f.write(out.strip() + "\n")
    return path


def run(k8s_dir, root):
    deployment = Deployment(render(k8s_dir), root)
    pki = deployment.pki
    deployment.secrets["gauntlet-coordinator-tls"] = {
        "tls.crt": pki.server_cert, "tls.key": pki.server_key, "ca.crt": pki.ca}
    coordinators = [c for c in deployment.containers if c.args[0] == "gauntlet-coordinator"]
    workers = [c for c in deployment.containers if c.args[0] != "gauntlet-coordinator"]
    assert len(coordinators) == 1 and workers, [c.name for c in deployment.containers]
    coordinator = coordinators[0]
    coordinator_args = deployment.local_args(coordinator)
    # Each worker pool's token Secret, made the way docs/operations.md says.
    for worker in workers:
        for volume in worker.pod.get("volumes", []):
            secret = volume.get("secret", {}).get("secretName", "")
            if secret.endswith("-token") and secret not in deployment.secrets:
                pool = secret.removesuffix("-token")
                deployment.secrets[secret] = {"token": tokens(coordinator_args, "worker", pool)}
    admin = tokens(coordinator_args, "admin", "operator")

    # The check can fail: one misspelt flag and the coordinator must refuse.
    misspelt = [re.sub(r"^--listen=", "--listne=", a) for a in coordinator_args]
    refused = subprocess.run(misspelt, capture_output=True, text=True)
    assert refused.returncode == 2 and "did you mean --listen?" in refused.stderr, refused.stderr
    print("  self-test: a misspelt --listen is refused (exit 2)")

    try:
        deployment.start(coordinator, lambda: deployment.local_args(coordinator))
        for worker in workers:
            deployment.start(worker, lambda: deployment.local_args(worker))
        for container in deployment.containers:
            deployment.probe(container)
        metrics_port = coordinator.ports[next(
            p["containerPort"] for p in coordinator.spec["ports"] if p["name"] == "metrics")]
        deadline = time.time() + 30
        while True:
            text = urllib.request.urlopen(f"http://127.0.0.1:{metrics_port}/metrics").read().decode()
            active = re.search(r'^gauntlet_workers\{state="active"\} (\S+)$', text, re.M)
            if active and float(active.group(1)) == len(workers):
                break
            assert time.time() < deadline, f"workers registered: {active and active.group(1)}"
            time.sleep(0.2)
        print(f"  {len(workers)} workers registered with the coordinator")

        models = deployment.claims["gauntlet-models"]
        with open(os.path.join(models, "config.json"), "w") as f:
            f.write('{"hidden_size": 8}\n')
        with open(os.path.join(models, "evil.pkl"), "wb") as f:
            f.write(harness.malicious_pickle())
        target = deployment.service_address("gauntlet-coordinator", 7443)
        scan = subprocess.run(
            [GAUNTLET, "scan", "--coordinator", target, "--tls-ca", pki.ca, "--token-file", admin,
             "--no-progress", "--format", "json", models], capture_output=True, text=True,
            timeout=120)
        assert scan.returncode == 1, scan.stderr
        verdicts = {os.path.basename(f["path"]): f["verdict"]
                    for f in yaml.safe_load(scan.stdout)["files"]}
        assert verdicts == {"config.json": "CLEAN", "evil.pkl": "MALICIOUS"}, verdicts
        print(f"  scan through the started cluster: {verdicts}")
        check_logs(deployment.stop(), coordinator.name, len(workers))
    finally:
        deployment.stop()
    print(f"{len(deployment.containers)} containers started from the rendered manifests")


if __name__ == "__main__":
    with tempfile.TemporaryDirectory(prefix="gauntlet_manifests_") as root:
        run(sys.argv[1], root)
