// The embedded local cluster behind the CLI's default mode: an in-memory
// coordinator and worker threads talking to it directly (no network), so
// that `gauntlet scan` and `gauntlet eval ab` on one machine run the same
// job, lease, result and report code as a real cluster.
#ifndef GAUNTLET_CLI_LOCAL_CLUSTER_H_
#define GAUNTLET_CLI_LOCAL_CLUSTER_H_

#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/statusor.h"
#include "cli/direct_worker_api.h"
#include "coordinator/coordinator.h"
#include "worker/cluster/worker.h"

namespace gauntlet {

class LocalCluster {
 public:
  static absl::StatusOr<std::unique_ptr<LocalCluster>> Open(CoordinatorOptions options);
  // Stops and joins every worker.
  ~LocalCluster();

  Coordinator& coordinator() { return *coordinator_; }

  // Starts a worker thread; the runners must outlive the cluster.
  void AddWorker(ScanRunner& scans, const WorkerOptions& options, EvalRunner* eval = nullptr);

  // Waits until job `id` has finished (succeeded or cancelled), calling
  // `on_progress` about ten times a second and once at the end.
  absl::StatusOr<v1::Job> Wait(const std::string& id,
                               const std::function<void(const v1::Job&)>& on_progress = nullptr);

 private:
  explicit LocalCluster(std::unique_ptr<Coordinator> coordinator);

  std::unique_ptr<Coordinator> coordinator_;
  DirectWorkerApi api_;
  std::vector<std::unique_ptr<Worker>> workers_;
  std::vector<std::thread> serving_;
};

}  // namespace gauntlet

#endif  // GAUNTLET_CLI_LOCAL_CLUSTER_H_
