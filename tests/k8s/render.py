"""Renders k8s/'s kustomization the way kustomize does for what it uses:
`resources` (their documents, in order) and `configMapGenerator` entries
with `files`, `namespace`, `options.labels` and
`options.disableNameSuffixHash: true`. Anything else is refused rather than
rendered wrongly."""
import os
import sys

import yaml


def render(k8s_dir):
    with open(os.path.join(k8s_dir, "kustomization.yaml")) as f:
        kustomization = yaml.safe_load(f)
    extra = set(kustomization) - {"apiVersion", "kind", "resources", "configMapGenerator"}
    if extra:
        sys.exit(f"kustomization.yaml uses {sorted(extra)}: teach tests/k8s/render.py or use kustomize")
    documents = []
    for resource in kustomization["resources"]:
        with open(os.path.join(k8s_dir, resource)) as f:
            documents += [d for d in yaml.safe_load_all(f) if d]
    for generator in kustomization.get("configMapGenerator", []):
        options = generator.get("options", {})
        if set(generator) - {"name", "namespace", "files", "options"} or \
                set(options) - {"labels", "disableNameSuffixHash"} or \
                not options.get("disableNameSuffixHash"):
            sys.exit(f"configMapGenerator {generator['name']}: unsupported fields")
        data = {}
        for file in generator["files"]:
            with open(os.path.join(k8s_dir, file)) as f:
                data[os.path.basename(file)] = f.read()
        metadata = {"name": generator["name"], "labels": options.get("labels", {})}
        if "namespace" in generator:
            metadata["namespace"] = generator["namespace"]
        documents.append({"apiVersion": "v1", "kind": "ConfigMap", "metadata": metadata,
                          "data": data})
    return documents


def rule_groups(documents):
    """The PrometheusRules' groups, as a Prometheus rules file holds them."""
    return [group for d in documents if d["kind"] == "PrometheusRule"
            for group in d["spec"]["groups"]]


def dashboards(documents):
    """Every Grafana dashboard (JSON) the ConfigMaps carry, by file name."""
    import json
    return {name: json.loads(text) for d in documents if d["kind"] == "ConfigMap"
            and d["metadata"].get("labels", {}).get("grafana_dashboard")
            for name, text in d["data"].items()}
