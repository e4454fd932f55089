// Validates every manifest in this folder against the Kubernetes (and
// Prometheus Operator, KEDA) OpenAPI schemas, offline: no cluster needed,
// then the operating rules schemas cannot express (policy() below).
// Usage: node validate.mjs [DIR]   (run by validate.sh, which installs deps)
import { readFileSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { parseAllDocuments } from "yaml";

const modules = {
  v1: "kubernetes-models/v1",
  "apps/v1": "kubernetes-models/apps/v1",
  "policy/v1": "kubernetes-models/policy/v1",
  "networking.k8s.io/v1": "kubernetes-models/networking.k8s.io/v1",
  "monitoring.coreos.com/v1": "@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1",
  "keda.sh/v1alpha1": "@kubernetes-models/keda/keda.sh/v1alpha1",
};

// Rules a valid manifest can still break, each learnt the hard way.
function policy(object) {
  const pod = object.spec?.template?.spec;
  if (pod && pod.automountServiceAccountToken !== false)
    return "pods must set automountServiceAccountToken: false (Gauntlet never calls the API)";
  for (const container of pod?.containers ?? []) {
    if (!container.livenessProbe) return `container ${container.name} has no liveness probe`;
    if (container.resources?.limits?.["nvidia.com/gpu"] && !pod.nodeSelector && !pod.affinity)
      return `container ${container.name} asks for a GPU but the pod selects no GPU node`;
  }
  if (object.kind === "PodDisruptionBudget" && object.spec.maxUnavailable === 0)
    return "maxUnavailable: 0 blocks every node drain";
  if ((object.kind === "ServiceMonitor" || object.kind === "PodMonitor") &&
      !object.metadata?.labels?.release)
    return "monitors need the `release` label kube-prometheus-stack selects on";
  return null;
}

const dir = process.argv[2] ?? new URL(".", import.meta.url).pathname;
let checked = 0;
let failed = 0;
for (const file of readdirSync(dir).filter((f) => f.endsWith(".yaml")).sort()) {
  if (file === "kustomization.yaml") continue;
  for (const doc of parseAllDocuments(readFileSync(join(dir, file), "utf8"))) {
    if (doc.errors.length) throw new Error(`${file}: ${doc.errors[0].message}`);
    const object = doc.toJS();
    if (!object) continue;
    const where = `${file}: ${object.kind} ${object.metadata?.name}`;
    const module = modules[object.apiVersion];
    if (!module) {
      console.error(`${where}: no schema for apiVersion ${object.apiVersion}`);
      failed++;
      continue;
    }
    const Model = (await import(module))[object.kind];
    try {
      new Model(object).validate();
      const broken = policy(object);
      if (broken) throw new Error(broken);
      checked++;
    } catch (error) {
      console.error(`${where}: ${error.message}`);
      failed++;
    }
  }
}
console.log(`${checked} manifests valid, ${failed} invalid`);
process.exit(failed || checked === 0 ? 1 : 0);
