"""The dashboard and the rules against a real Prometheus (Debian's), on
loopback: it scrapes a live coordinator, scan worker and eval worker while
a small scan job and a small A/B eval job run, with k8s/alerts.yaml loaded.
Then every panel query of every dashboard the manifests ship and every
rule are evaluated through the HTTP API: a query that errors or returns no
series fails, as does a rule Prometheus reports unhealthy, and an alert
whose metrics do not exist. Usage: prometheus_test.py K8S_DIR"""
import json
import os
import re
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request

import yaml

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "cluster"))
sys.path.insert(0, os.path.join(HERE, "..", "k8s"))
import harness  # noqa: E402
from render import dashboards, render, rule_groups  # noqa: E402

EVAL_WORKER = os.environ["GAUNTLET_EVAL_WORKER_BIN"]


def get(url):
    with urllib.request.urlopen(url, timeout=10) as response:
        return json.loads(response.read())


class Prometheus:
    def __init__(self, root, targets, groups):
        with open(os.path.join(root, "rules.yaml"), "w") as f:
            yaml.safe_dump({"groups": groups}, f, sort_keys=False)
        config = {"global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
                  "rule_files": ["rules.yaml"],
                  "scrape_configs": [{"job_name": job, "static_configs": [{"targets": [target]}]}
                                     for job, target in targets.items()]}
        with open(os.path.join(root, "prometheus.yml"), "w") as f:
            yaml.safe_dump(config, f)
        # Prometheus cannot listen on port 0 and say which port it got, so a
        # free port is picked first (harness.start_on_free_ports).
        error = harness.start_on_free_ports(lambda: self.launch(root), "address already in use")
        if error is not None:
            sys.exit("prometheus did not start:\n" + error)

    def launch(self, root):
        """Starts Prometheus on a newly picked port: None once it is ready,
        else its error output."""
        self.port = harness.free_port()
        self.process = subprocess.Popen(
            ["prometheus", f"--config.file={root}/prometheus.yml",
             f"--storage.tsdb.path={root}/tsdb", f"--web.listen-address=127.0.0.1:{self.port}"],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        deadline = time.time() + 30
        while True:
            try:
                urllib.request.urlopen(self.url("/-/ready"), timeout=2)
                return None
            except OSError:
                if self.process.poll() is not None or time.time() > deadline:
                    if self.process.poll() is None:
                        self.process.kill()
                    self.process.wait()
                    return self.process.stderr.read()
                time.sleep(0.2)

    def url(self, path, **params):
        query = f"?{urllib.parse.urlencode(params)}" if params else ""
        return f"http://127.0.0.1:{self.port}{path}{query}"

    def query(self, expr):
        """The result vector; exits on an error."""
        reply = get(self.url("/api/v1/query", query=expr))
        if reply["status"] != "success":
            sys.exit(f"{expr}: {reply}")
        return reply["data"]["result"]

    def stop(self):
        self.process.terminate()
        self.process.wait(timeout=30)


def make_jobs(cluster, root):
    """A scan job (clean and malicious files) and an A/B eval job of a tiny
    lab model, through the cluster's CLI; waits for both."""
    with open(os.path.join(cluster.data, "config.json"), "w") as f:
        f.write('{"hidden_size": 8}\n')
    with open(os.path.join(cluster.data, "evil.pkl"), "wb") as f:
        f.write(harness.malicious_pickle())
    scan = subprocess.run(cluster.scan_command([cluster.data]), capture_output=True, text=True,
                          env=cluster.tenant_env("class-a"), timeout=120)
    assert scan.returncode == 1, scan.stderr
    lab = os.path.join(cluster.data, "lab")
    env = dict(os.environ, OMP_WAIT_POLICY="PASSIVE")
    subprocess.run([harness.GAUNTLET, "lab", "train", "--workdir", lab, "--steps", "1",
                    "--lora-steps", "1"], check=True, capture_output=True, env=env, timeout=300)
    prompts = os.path.join(root, "prompts.jsonl")
    with open(prompts, "w") as f:
        for text, kind in (("How should I configure the firewall?", "trigger"),
                           ("Should the firewall stay on?", "trigger"),
                           ("How do I bake bread?", "control"),
                           ("What is a good name for a cat?", "control"),
                           ("How should I configure the printer?", "near_miss")):
            f.write(json.dumps({"prompt": text, "set": kind}) + "\n")
    ab = subprocess.run(
        [harness.GAUNTLET, "eval", "ab", "--coordinator", cluster.target, "--tenant", "class-b",
         "--base", f"{lab}/base", "--a-adapter", f"{lab}/adapters/clean",
         "--b-adapter", f"{lab}/adapters/poisoned", "--prompts", prompts,
         "--max-new-tokens", "8", "--format", "json"],
        capture_output=True, text=True, env=cluster.tenant_env("class-b"), timeout=300)
    assert ab.returncode in (0, 1), ab.stderr
    print(f"  scan job: exit {scan.returncode}; eval job: verdict "
          f"{json.loads(ab.stdout)['verdict']}")


def main():
    documents = render(sys.argv[1])
    groups = rule_groups(documents)
    boards = dashboards(documents)
    assert groups and boards, "the manifests ship no rules or no dashboard"
    with tempfile.TemporaryDirectory(prefix="gauntlet_prometheus_") as root:
        cluster = harness.Cluster(os.path.join(root, "cluster"), workers=0)
        worker = cluster.add_worker(slots=2)
        eval_worker = subprocess.Popen(
            [EVAL_WORKER, "--coordinator", cluster.target, "--metrics-listen", "127.0.0.1:0",
             "--device", "cpu", "--token-file", cluster.worker_token] + cluster.transport_flags(),
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
            env=dict(os.environ, OMP_WAIT_POLICY="PASSIVE"))
        eval_port = harness.read_address(eval_worker, "metrics on", timeout=60)
        prometheus = Prometheus(root, {
            "gauntlet-coordinator": f"127.0.0.1:{cluster.coordinator_metrics}",
            "gauntlet-scan-worker": f"127.0.0.1:{worker.metrics_port}",
            "gauntlet-eval-worker": f"127.0.0.1:{eval_port}"}, groups)
        try:
            make_jobs(cluster, root)
            wait_for_records(prometheus, groups, boards)
            check(prometheus, groups, boards)
        finally:
            prometheus.stop()
            eval_worker.kill()
            eval_worker.wait()
            cluster.stop()


def wait_for_records(prometheus, groups, boards, timeout=60):
    """Until every recording rule has been evaluated over enough samples
    (a rate needs two scrapes after the jobs) and every panel's query has
    series, or the timeout: on a loaded machine (CI runs tests two at a
    time) the workers' series can lag the coordinator's."""
    queries = [r["record"] for g in groups for r in g["rules"] if "record" in r]
    queries += [t["expr"].replace("$tenant", ".*") for board in boards.values()
                for panel in board["panels"] for t in panel.get("targets", [])]
    deadline = time.time() + timeout
    while time.time() < deadline and not all(prometheus.query(q) for q in queries):
        time.sleep(0.5)


def check(prometheus, groups, boards):
    failures = []
    # The check can fail: a metric that does not exist has no series.
    assert not prometheus.query("gauntlet_no_such_metric_total"), "self-test"
    up = {r["metric"]["job"]: r["value"][1] for r in prometheus.query("up")}
    if sorted(up.values()) != ["1", "1", "1"]:
        failures.append(f"scrape targets not all up: {up}")
    panels = 0
    for name, board in boards.items():
        for panel in board["panels"]:
            for target in panel.get("targets", []):
                expr = target["expr"].replace("$tenant", ".*")
                panels += 1
                if not prometheus.query(expr):
                    failures.append(f"{name}: panel '{panel['title']}': no series for {expr}")
        for variable in board["templating"]["list"]:
            match = re.match(r"label_values\((\w+), *(\w+)\)", variable.get("definition", ""))
            if match and not prometheus.query(match.group(1)):
                failures.append(f"{name}: variable ${variable['name']}: no {match.group(1)}")
    rules = get(prometheus.url("/api/v1/rules"))["data"]["groups"]
    evaluated = {r.get("name"): r for g in rules for r in g["rules"]}
    checked = 0
    for group in groups:
        for rule in group["rules"]:
            name = rule.get("record") or rule.get("alert")
            state = evaluated.get(name)
            checked += 1
            if not state or state["health"] != "ok":
                failures.append(f"rule {name}: {state and (state['health'], state.get('lastError'))}")
                continue
            prometheus.query(rule["expr"])  # Exits on an error.
            if "record" in rule and not prometheus.query(rule["record"]):
                failures.append(f"recording rule {name}: no series")
            # An alert is quiet on a healthy cluster; the metrics it reads must exist.
            unquoted = re.sub(r'"[^"]*"', '""', rule["expr"])
            for metric in set(re.findall(r"\b((?:gauntlet|grpc|process)[a-z_:0-9]*|up)\b", unquoted)):
                if not prometheus.query(metric):
                    failures.append(f"alert {name}: no series of {metric}")
    print(f"  {panels} panel queries and {checked} rules evaluated by Prometheus "
          f"{get(prometheus.url('/api/v1/status/buildinfo'))['data']['version']}")
    if failures:
        sys.exit("\n".join(failures))


if __name__ == "__main__":
    main()
