// The coordinator's gRPC services: thin adapters from gauntlet.v1 RPCs to
// Coordinator calls, mapping absl::Status to gRPC status codes. Every call
// is authorized first (authenticator.h): clients need a tenant or admin
// token, workers a worker token or client certificate.
#ifndef GAUNTLET_COORDINATOR_GRPC_SERVICES_H_
#define GAUNTLET_COORDINATOR_GRPC_SERVICES_H_

#include "coordinator/authenticator.h"
#include "coordinator/coordinator.h"
#include "gauntlet/v1/gauntlet.grpc.pb.h"

namespace gauntlet {

grpc::Status ToGrpc(const absl::Status& status);

class ClientServiceImpl final : public v1::ClientService::Service {
 public:
  ClientServiceImpl(Coordinator& coordinator, Authenticator& auth)
      : coordinator_(coordinator), auth_(auth) {}

  grpc::Status SubmitScan(grpc::ServerContext*, const v1::SubmitScanRequest*,
                          v1::SubmitScanResponse*) override;
  grpc::Status SubmitEval(grpc::ServerContext*, const v1::SubmitEvalRequest*,
                          v1::SubmitScanResponse*) override;
  grpc::Status GetJob(grpc::ServerContext*, const v1::GetJobRequest*, v1::Job*) override;
  grpc::Status ListJobs(grpc::ServerContext*, const v1::ListJobsRequest*,
                        v1::ListJobsResponse*) override;
  grpc::Status CancelJob(grpc::ServerContext*, const v1::CancelJobRequest*, v1::Job*) override;
  grpc::Status WatchJob(grpc::ServerContext*, const v1::WatchJobRequest*,
                        grpc::ServerWriter<v1::WatchJobEvent>*) override;
  grpc::Status GetReport(grpc::ServerContext*, const v1::GetReportRequest*,
                         grpc::ServerWriter<v1::ReportChunk>*) override;
  grpc::Status FindMissingBlobs(grpc::ServerContext*, const v1::FindMissingBlobsRequest*,
                                v1::FindMissingBlobsResponse*) override;
  grpc::Status UploadBlob(grpc::ServerContext*, grpc::ServerReader<v1::UploadBlobRequest>*,
                          v1::UploadBlobResponse*) override;

 private:
  Coordinator& coordinator_;
  Authenticator& auth_;
};

class WorkerServiceImpl final : public v1::WorkerService::Service {
 public:
  WorkerServiceImpl(Coordinator& coordinator, Authenticator& auth)
      : coordinator_(coordinator), auth_(auth) {}

  grpc::Status Register(grpc::ServerContext*, const v1::RegisterRequest*,
                        v1::RegisterResponse*) override;
  grpc::Status Lease(grpc::ServerContext*, const v1::LeaseRequest*, v1::LeaseResponse*) override;
  grpc::Status Heartbeat(grpc::ServerContext*, const v1::HeartbeatRequest*,
                         v1::HeartbeatResponse*) override;
  grpc::Status CheckCache(grpc::ServerContext*, const v1::CheckCacheRequest*,
                          v1::CheckCacheResponse*) override;
  grpc::Status ReportResults(grpc::ServerContext*, const v1::ReportResultsRequest*,
                             v1::ReportResultsResponse*) override;
  grpc::Status FetchBlob(grpc::ServerContext*, const v1::FetchBlobRequest*,
                         grpc::ServerWriter<v1::BlobChunk>*) override;

 private:
  Coordinator& coordinator_;
  Authenticator& auth_;
};

}  // namespace gauntlet

#endif  // GAUNTLET_COORDINATOR_GRPC_SERVICES_H_
