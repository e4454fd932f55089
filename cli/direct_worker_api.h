// The worker side of an embedded cluster: a WorkerApi that calls the
// coordinator directly, no network. `gauntlet scan` and the lab's embedded
// A/B runs use it, so they run the same job, lease and result code as a
// cluster.
#ifndef GAUNTLET_CLI_DIRECT_WORKER_API_H_
#define GAUNTLET_CLI_DIRECT_WORKER_API_H_

#include "coordinator/coordinator.h"
#include "worker/cluster/worker_api.h"

namespace gauntlet {

class DirectWorkerApi : public WorkerApi {
 public:
  explicit DirectWorkerApi(Coordinator& coordinator) : coordinator_(coordinator) {}
  absl::StatusOr<v1::RegisterResponse> Register(const v1::RegisterRequest& request) override {
    return coordinator_.Register(request, kEmbeddedWorker);
  }
  absl::StatusOr<v1::LeaseResponse> Lease(const v1::LeaseRequest& request) override {
    return coordinator_.Lease(request, kEmbeddedWorker);
  }
  absl::StatusOr<v1::HeartbeatResponse> Heartbeat(const v1::HeartbeatRequest& request) override {
    return coordinator_.Heartbeat(request, kEmbeddedWorker);
  }
  absl::StatusOr<v1::CheckCacheResponse> CheckCache(const v1::CheckCacheRequest& request) override {
    return coordinator_.CheckCache(request, kEmbeddedWorker);
  }
  absl::StatusOr<v1::ReportResultsResponse> ReportResults(
      const v1::ReportResultsRequest& request) override {
    return coordinator_.ReportResults(request, kEmbeddedWorker);
  }
  absl::Status FetchBlob(const v1::Digest&, const std::string&) override {
    return absl::UnimplementedError("the embedded coordinator has no content store");
  }

 private:
  Coordinator& coordinator_;
};

}  // namespace gauntlet

#endif  // GAUNTLET_CLI_DIRECT_WORKER_API_H_
