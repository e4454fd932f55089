// What a worker needs from the coordinator, in gauntlet.v1 messages. The
// gRPC client implements it for real clusters; the CLI's embedded mode
// implements it with direct calls, so both run the same worker code.
#ifndef GAUNTLET_WORKER_CLUSTER_WORKER_API_H_
#define GAUNTLET_WORKER_CLUSTER_WORKER_API_H_

#include <string>

#include "absl/status/statusor.h"
#include "gauntlet/v1/gauntlet.pb.h"

namespace gauntlet {

class WorkerApi {
 public:
  virtual ~WorkerApi() = default;
  virtual absl::StatusOr<v1::RegisterResponse> Register(const v1::RegisterRequest& request) = 0;
  virtual absl::StatusOr<v1::LeaseResponse> Lease(const v1::LeaseRequest& request) = 0;
  virtual absl::StatusOr<v1::HeartbeatResponse> Heartbeat(const v1::HeartbeatRequest& request) = 0;
  virtual absl::StatusOr<v1::CheckCacheResponse> CheckCache(
      const v1::CheckCacheRequest& request) = 0;
  virtual absl::StatusOr<v1::ReportResultsResponse> ReportResults(
      const v1::ReportResultsRequest& request) = 0;
  // Writes the blob's bytes to `path`.
  virtual absl::Status FetchBlob(const v1::Digest& digest, const std::string& path) = 0;
};

}  // namespace gauntlet

#endif  // GAUNTLET_WORKER_CLUSTER_WORKER_API_H_
