// What a worker needs to take A/B eval tasks: run one prompt batch through
// models A and B. The torch-linked implementation (worker/eval/
// eval_task_runner) is linked only into eval workers and gauntlet-lab, so a
// scan worker never loads libtorch.
#ifndef GAUNTLET_WORKER_CLUSTER_EVAL_RUNNER_H_
#define GAUNTLET_WORKER_CLUSTER_EVAL_RUNNER_H_

#include "absl/status/statusor.h"
#include "gauntlet/v1/gauntlet.pb.h"
#include "worker/cluster/worker_api.h"

namespace gauntlet {

class EvalRunner {
 public:
  virtual ~EvalRunner() = default;
  // `api` fetches model files that travel through the content store.
  virtual absl::StatusOr<v1::EvalBatchResult> Run(const v1::EvalTask& task, WorkerApi& api) = 0;
  virtual bool gpu() const = 0;
};

}  // namespace gauntlet

#endif  // GAUNTLET_WORKER_CLUSTER_EVAL_RUNNER_H_
