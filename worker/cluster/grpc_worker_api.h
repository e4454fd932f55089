// WorkerApi over gRPC, with a deadline on every call and keepalive pings so
// a dead coordinator is noticed within seconds.
#ifndef GAUNTLET_WORKER_CLUSTER_GRPC_WORKER_API_H_
#define GAUNTLET_WORKER_CLUSTER_GRPC_WORKER_API_H_

#include <grpcpp/grpcpp.h>

#include <chrono>
#include <memory>

#include "gauntlet/v1/gauntlet.grpc.pb.h"
#include "proto/grpc_channel.h"
#include "worker/cluster/worker_api.h"

namespace gauntlet {

class GrpcWorkerApi : public WorkerApi {
 public:
  GrpcWorkerApi(const std::string& target, const ChannelSecurity& security);
  absl::StatusOr<v1::RegisterResponse> Register(const v1::RegisterRequest& request) override;
  absl::StatusOr<v1::LeaseResponse> Lease(const v1::LeaseRequest& request) override;
  absl::StatusOr<v1::HeartbeatResponse> Heartbeat(const v1::HeartbeatRequest& request) override;
  absl::StatusOr<v1::CheckCacheResponse> CheckCache(const v1::CheckCacheRequest& request) override;
  absl::StatusOr<v1::ReportResultsResponse> ReportResults(
      const v1::ReportResultsRequest& request) override;
  absl::Status FetchBlob(const v1::Digest& digest, const std::string& path) override;

 private:
  std::unique_ptr<v1::WorkerService::Stub> stub_;
};

}  // namespace gauntlet

#endif  // GAUNTLET_WORKER_CLUSTER_GRPC_WORKER_API_H_
