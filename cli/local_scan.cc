#include "cli/local_scan.h"

#include <thread>

#include "cli/local_cluster.h"
#include "worker/cluster/scan_runner.h"

namespace gauntlet {

absl::StatusOr<ScanReport> RunLocalScan(const std::vector<std::string>& paths,
                                        const LocalScanOptions& options) {
  // Declared before the cluster, whose workers use them until it stops.
  SandboxRunner sandboxed(SandboxOptions{options.sandbox_binary.empty() ? DefaultSandboxBinary()
                                                                        : options.sandbox_binary});
  InProcessRunner in_process(&sandboxed);
  CoordinatorOptions coordinator_options;
  // Within one run the HF-cache de-duplication already removes repeats;
  // hashing every byte would cost more than it saves.
  coordinator_options.verdict_cache = false;
  auto cluster = LocalCluster::Open(coordinator_options);
  if (!cluster.ok()) return cluster.status();

  v1::SubmitScanRequest request;
  for (const std::string& path : paths) request.add_paths(path);
  request.set_policy_toml(options.policy_toml);
  request.set_policy_name(options.policy_name);
  request.set_publisher(options.publisher);
  auto job = (*cluster)->coordinator().SubmitScan(request, ClientScope::LocalUser());
  if (!job.ok()) return job.status();

  WorkerOptions worker_options;
  worker_options.name = "embedded";
  worker_options.slots =
      options.workers ? options.workers : std::max(1u, std::thread::hardware_concurrency());
  worker_options.lease_batch = 16;
  (*cluster)->AddWorker(options.isolate ? static_cast<ScanRunner&>(sandboxed) : in_process,
                        worker_options);
  auto finished = (*cluster)->Wait(job->id(), [&](const v1::Job& progress) {
    if (options.on_progress) options.on_progress(progress.done_tasks(), progress.total_tasks());
  });
  if (!finished.ok()) return finished.status();
  // The report a cluster's typed report carries (BuildTypedReport converts
  // this one), without the proto round trip a single process does not need.
  return (*cluster)->coordinator().BuildReport(job->id(), ClientScope::LocalUser());
}

}  // namespace gauntlet
