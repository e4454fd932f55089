// The CLI's side of a real cluster: submit, watch, fetch reports, manage
// jobs and upload content, all over ClientService with deadlines.
#ifndef GAUNTLET_CLI_CLUSTER_CLIENT_H_
#define GAUNTLET_CLI_CLUSTER_CLIENT_H_

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "gauntlet/v1/gauntlet.grpc.pb.h"
#include "proto/grpc_channel.h"

namespace gauntlet {

class ClusterClient {
 public:
  ClusterClient(const std::string& target, const ChannelSecurity& security);

  absl::StatusOr<v1::Job> Submit(const v1::SubmitScanRequest& request);
  absl::StatusOr<v1::Job> SubmitEval(const v1::SubmitEvalRequest& request);
  absl::StatusOr<v1::Job> Get(const std::string& job_id);
  absl::StatusOr<std::vector<v1::Job>> List(const std::string& tenant, uint32_t limit);
  absl::StatusOr<v1::Job> Cancel(const std::string& job_id);
  // Streams events until the job finishes; `on_event` sees each one.
  absl::StatusOr<v1::Job> Watch(const std::string& job_id,
                                const std::function<void(const v1::WatchJobEvent&)>& on_event);
  // The finished job's typed report (GetReport, format TYPED), which the
  // CLI renders and takes its exit code from as for a local run.
  absl::StatusOr<v1::Report> TypedReport(const std::string& job_id);
  // Hashes each file, uploads the ones the store lacks, and returns the
  // uploads to submit (named by their local paths).
  absl::StatusOr<std::vector<v1::UploadedFile>> Upload(const std::vector<std::string>& files);

 private:
  std::unique_ptr<v1::ClientService::Stub> stub_;
};

}  // namespace gauntlet

#endif  // GAUNTLET_CLI_CLUSTER_CLIENT_H_
