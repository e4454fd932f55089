#include "cli/local_cluster.h"

namespace gauntlet {

absl::StatusOr<std::unique_ptr<LocalCluster>> LocalCluster::Open(CoordinatorOptions options) {
  // One user on one machine: no queue limit to protect others from.
  options.tenant_queue_limit = UINT64_MAX;
  auto coordinator = Coordinator::Open(options);
  if (!coordinator.ok()) return coordinator.status();
  return std::unique_ptr<LocalCluster>(new LocalCluster(std::move(*coordinator)));
}

LocalCluster::LocalCluster(std::unique_ptr<Coordinator> coordinator)
    : coordinator_(std::move(coordinator)), api_(*coordinator_) {}

LocalCluster::~LocalCluster() {
  for (auto& worker : workers_) worker->Stop();
  for (std::thread& thread : serving_) thread.join();
}

void LocalCluster::AddWorker(ScanRunner& scans, const WorkerOptions& options, EvalRunner* eval) {
  WorkerOptions local = options;
  // Polling an in-process coordinator costs nothing; waiting does.
  local.max_poll_interval = std::chrono::milliseconds(5);
  workers_.push_back(std::make_unique<Worker>(api_, scans, local, nullptr, eval));
  serving_.emplace_back([worker = workers_.back().get()] { worker->Run(); });
}

absl::StatusOr<v1::Job> LocalCluster::Wait(const std::string& id,
                                           const std::function<void(const v1::Job&)>& on_progress) {
  while (true) {
    auto event = coordinator_->WatchJob(id, UINT64_MAX, std::chrono::milliseconds(100),
                                        ClientScope::LocalUser());
    if (!event.ok()) return event.status();
    if (on_progress) on_progress(event->job());
    if (event->job().state() == v1::SUCCEEDED || event->job().state() == v1::CANCELLED)
      return event->job();
  }
}

}  // namespace gauntlet
