// The A/B test on the embedded local cluster: an in-process coordinator and
// eval workers, the same job, lease, batch and aggregation code a real
// cluster runs. `gauntlet eval ab` and `gauntlet lab run` use it, so a local
// report and a cluster report come from the same statistics.
#ifndef GAUNTLET_CLI_LOCAL_EVAL_H_
#define GAUNTLET_CLI_LOCAL_EVAL_H_

#include "absl/status/statusor.h"
#include "abtest/ab_report.h"
#include "gauntlet/v1/gauntlet.pb.h"
#include "worker/eval/lab_model.h"

namespace gauntlet::eval {

struct LocalEvalOptions {
  torch::Device device = torch::kCPU;
  uint32_t workers = 1;  // Eval workers; each runs one batch at a time.
};

absl::StatusOr<AbReport> RunLocalEval(const v1::SubmitEvalRequest& request,
                                      const LocalEvalOptions& options);

}  // namespace gauntlet::eval

#endif  // GAUNTLET_CLI_LOCAL_EVAL_H_
