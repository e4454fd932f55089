#include "cli/local_eval.h"

#include <filesystem>
#include <memory>

#include "cli/local_cluster.h"
#include "worker/cluster/scan_runner.h"
#include "worker/eval/eval_task_runner.h"

namespace gauntlet::eval {

absl::StatusOr<AbReport> RunLocalEval(const v1::SubmitEvalRequest& request,
                                      const LocalEvalOptions& options) {
  // Declared before the cluster, whose workers use them until it stops.
  InProcessRunner scans;
  std::vector<std::unique_ptr<EvalTaskRunner>> runners;
  auto cluster = LocalCluster::Open(CoordinatorOptions{});
  if (!cluster.ok()) return cluster.status();
  auto job = (*cluster)->coordinator().SubmitEval(request, ClientScope::LocalUser());
  if (!job.ok()) return job.status();

  WorkerOptions worker_options;
  worker_options.name = "embedded-eval";
  worker_options.slots = 1;
  worker_options.lease_batch = 1;  // Batches spread over workers instead of queueing on one.
  for (uint32_t i = 0; i < std::max(1u, options.workers); ++i) {
    runners.push_back(std::make_unique<EvalTaskRunner>(
        options.device, std::filesystem::temp_directory_path().string()));
    (*cluster)->AddWorker(scans, worker_options, runners.back().get());
  }
  if (auto finished = (*cluster)->Wait(job->id()); !finished.ok()) return finished.status();
  return (*cluster)->coordinator().BuildEvalReport(job->id(), ClientScope::LocalUser());
}

}  // namespace gauntlet::eval
