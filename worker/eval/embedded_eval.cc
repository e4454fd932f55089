#include "worker/eval/embedded_eval.h"

#include <filesystem>
#include <memory>
#include <thread>

#include "coordinator/direct_worker_api.h"
#include "worker/cluster/scan_runner.h"
#include "worker/cluster/worker.h"
#include "worker/eval/eval_task_runner.h"

namespace gauntlet::eval {

absl::StatusOr<AbReport> RunEmbeddedEval(const v1::SubmitEvalRequest& request,
                                         const EmbeddedEvalOptions& options) {
  CoordinatorOptions coordinator_options;
  coordinator_options.tenant_queue_limit = UINT64_MAX;
  auto coordinator = Coordinator::Open(coordinator_options);
  if (!coordinator.ok()) return coordinator.status();
  auto job = (*coordinator)->SubmitEval(request, ClientScope::LocalUser());
  if (!job.ok()) return job.status();

  DirectWorkerApi api(**coordinator);
  InProcessRunner scans;
  std::vector<std::unique_ptr<EvalTaskRunner>> runners;
  std::vector<std::unique_ptr<Worker>> workers;
  std::vector<std::thread> serving;
  WorkerOptions worker_options;
  worker_options.name = "embedded-eval";
  worker_options.slots = 1;
  worker_options.lease_batch = 1;  // Batches spread over workers instead of queueing on one.
  worker_options.max_poll_interval = std::chrono::milliseconds(5);
  for (uint32_t i = 0; i < std::max(1u, options.workers); ++i) {
    runners.push_back(std::make_unique<EvalTaskRunner>(
        options.device, std::filesystem::temp_directory_path().string()));
    workers.push_back(
        std::make_unique<Worker>(api, scans, worker_options, nullptr, runners.back().get()));
    serving.emplace_back([worker = workers.back().get()] { worker->Run(); });
  }
  absl::Status status;
  while (true) {
    auto event = (*coordinator)
                     ->WatchJob(job->id(), UINT64_MAX, std::chrono::milliseconds(100),
                                ClientScope::LocalUser());
    if (!event.ok()) {
      status = event.status();
      break;
    }
    if (event->job().state() == v1::SUCCEEDED || event->job().state() == v1::CANCELLED) break;
  }
  for (auto& worker : workers) worker->Stop();
  for (std::thread& thread : serving) thread.join();
  if (!status.ok()) return status;
  return (*coordinator)->BuildEvalReport(job->id(), ClientScope::LocalUser());
}

}  // namespace gauntlet::eval
