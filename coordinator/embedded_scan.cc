#include "coordinator/embedded_scan.h"

#include <thread>

#include "coordinator/coordinator.h"
#include "coordinator/direct_worker_api.h"
#include "worker/cluster/scan_runner.h"
#include "worker/cluster/worker.h"

namespace gauntlet {

absl::StatusOr<ScanReport> RunEmbeddedScan(const std::vector<std::string>& paths,
                                           const EmbeddedScanOptions& options) {
  CoordinatorOptions coordinator_options;
  // Within one run the HF-cache de-duplication already removes repeats;
  // hashing every byte would cost more than it saves.
  coordinator_options.verdict_cache = false;
  coordinator_options.tenant_queue_limit = UINT64_MAX;
  auto coordinator = Coordinator::Open(coordinator_options);
  if (!coordinator.ok()) return coordinator.status();

  v1::SubmitScanRequest request;
  for (const std::string& path : paths) request.add_paths(path);
  request.set_policy_toml(options.policy_toml);
  request.set_policy_name(options.policy_name);
  request.set_publisher(options.publisher);
  auto job = (*coordinator)->SubmitScan(request, ClientScope::LocalUser());
  if (!job.ok()) return job.status();

  DirectWorkerApi api(**coordinator);
  SandboxRunner sandboxed(SandboxOptions{options.sandbox_binary.empty() ? DefaultSandboxBinary()
                                                                        : options.sandbox_binary});
  InProcessRunner in_process(&sandboxed);
  WorkerOptions worker_options;
  worker_options.name = "embedded";
  worker_options.slots =
      options.workers ? options.workers : std::max(1u, std::thread::hardware_concurrency());
  worker_options.lease_batch = 16;
  worker_options.max_poll_interval = std::chrono::milliseconds(5);
  ScanRunner& runner = options.isolate ? static_cast<ScanRunner&>(sandboxed) : in_process;
  Worker worker(api, runner, worker_options, nullptr);
  std::thread serving([&] { worker.Run(); });

  while (true) {
    auto event = (*coordinator)
                     ->WatchJob(job->id(), UINT64_MAX, std::chrono::milliseconds(100),
                                ClientScope::LocalUser());
    if (!event.ok()) {
      worker.Stop();
      serving.join();
      return event.status();
    }
    if (options.on_progress)
      options.on_progress(event->job().done_tasks(), event->job().total_tasks());
    if (event->job().state() == v1::SUCCEEDED) break;
  }
  worker.Stop();
  serving.join();
  return (*coordinator)->BuildReport(job->id(), ClientScope::LocalUser());
}

}  // namespace gauntlet
