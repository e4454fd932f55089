// `gauntlet eval ab` in gauntlet-lab: the A/B test on the embedded local
// cluster (`gauntlet` hands local runs over; cluster runs it does itself).
#include <iostream>

#include "cli/eval_ab_request.h"
#include "cli/lab_commands.h"
#include "cli/local_eval.h"
#include "common/command_line.h"

namespace gauntlet::eval {

absl::StatusOr<AbReport> RunAb(const EvalAbRequest& request) {
  auto device = ResolveDevice(request.device);
  if (!device.ok()) return device.status();
  auto job = ToEvalJob(request);
  if (!job.ok()) return job.status();
  return RunLocalEval(*job, {.device = *device, .workers = request.workers});
}

int EvalAbCommand(const CLI::App& command, EvalAbRequest& request) {
  if (auto status = CheckEvalAbRequest(request); !status.ok())
    return UsageError(command, std::string(status.message()));
  if (!request.coordinator.empty()) {
    auto exit_code = RunEvalAbOnCluster(request);
    return exit_code.ok() ? *exit_code : Fail(exit_code.status());
  }
  auto report = RunAb(request);
  if (!report.ok()) return Fail(report.status());
  auto exit_code = EmitReport(request, *report);
  return exit_code.ok() ? *exit_code : Fail(exit_code.status());
}

}  // namespace gauntlet::eval
