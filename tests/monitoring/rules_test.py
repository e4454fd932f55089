"""The alerting and recording rules of k8s/alerts.yaml, checked and unit
tested with Debian's promtool: `promtool check rules` on the
PrometheusRule's groups, then `promtool test rules alerts_test.yaml` (each
alert fires on what it names and not on its near miss). Also checks that it
can fail: the same tests against rules whose sandbox alert never fires.
Usage: rules_test.py K8S_DIR"""
import os
import shutil
import subprocess
import sys
import tempfile

import yaml

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "k8s"))
from render import render, rule_groups  # noqa: E402


def promtool(*args, cwd):
    return subprocess.run(["promtool", *args], cwd=cwd, capture_output=True, text=True)


def write_rules(directory, groups):
    with open(os.path.join(directory, "rules.yaml"), "w") as f:
        yaml.safe_dump({"groups": groups}, f, sort_keys=False)


def main():
    groups = rule_groups(render(sys.argv[1]))
    with tempfile.TemporaryDirectory(prefix="gauntlet_rules_") as directory:
        shutil.copy(os.path.join(HERE, "alerts_test.yaml"), directory)
        write_rules(directory, groups)
        for args in (["check", "rules", "rules.yaml"], ["test", "rules", "alerts_test.yaml"]):
            result = promtool(*args, cwd=directory)
            print(result.stdout + result.stderr)
            if result.returncode != 0:
                sys.exit(f"promtool {' '.join(args)} failed")
        alerts = [r["alert"] for g in groups for r in g["rules"] if "alert" in r]
        print(f"{len(alerts)} alerts unit-tested: {', '.join(alerts)}")
        # The tests can fail: a sandbox alert that never fires is caught.
        for group in groups:
            for rule in group["rules"]:
                if rule.get("alert") == "GauntletSandboxViolation":
                    rule["expr"] = "vector(0) > 1"
        write_rules(directory, groups)
        if promtool("test", "rules", "alerts_test.yaml", cwd=directory).returncode == 0:
            sys.exit("self-test: a broken GauntletSandboxViolation passed the tests")
        print("self-test: a broken GauntletSandboxViolation fails the tests")


if __name__ == "__main__":
    main()
