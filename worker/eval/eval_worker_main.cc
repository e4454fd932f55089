// gauntlet-eval-worker: the cluster worker, linked with libtorch, that also
// takes A/B eval tasks (one prompt batch at a time, models cached by digest).
#include <iostream>

#include "worker/cluster/worker_process.h"
#include "worker/eval/device_flag.h"
#include "worker/eval/eval_task_runner.h"

namespace gauntlet::eval {
namespace {

constexpr std::string_view kEvalDescription =
    " gauntlet-eval-worker also runs A/B eval tasks (it advertises the eval capability, and gpu "
    "when CUDA is in use); its defaults are --slots 1 and --lease-batch 1, so a job's prompt "
    "batches spread over eval workers.";

int Run(int argc, char** argv) {
  torch::Device device = *ResolveDevice("auto");
  WorkerProcessKind kind;
  kind.binary = "gauntlet-eval-worker";
  kind.description = kEvalDescription;
  kind.slots = 1;
  kind.lease_batch = 1;
  kind.add_flags = [&](CLI::App& app) { AddDeviceFlag(app, device); };
  kind.make_eval_runner = [&]() -> std::unique_ptr<EvalRunner> {
    std::cout << "eval on " << device.str() << std::endl;
    return std::make_unique<EvalTaskRunner>(device, "/tmp");
  };
  return RunWorkerProcess(argc, argv, kind);
}

}  // namespace
}  // namespace gauntlet::eval

int main(int argc, char** argv) { return gauntlet::eval::Run(argc, argv); }
