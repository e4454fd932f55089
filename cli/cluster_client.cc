#include "cli/cluster_client.h"

#include <fcntl.h>
#include <unistd.h>

#include <chrono>
#include <thread>

#include "common/digest.h"
#include "common/strings.h"
#include "proto/grpc_channel.h"

namespace gauntlet {
namespace {

constexpr auto kCallDeadline = std::chrono::seconds(30);
constexpr size_t kUploadChunk = 1 << 20;
constexpr std::chrono::minutes kWatchReconnectWindow{5};

void Deadline(grpc::ClientContext& context, std::chrono::seconds seconds = kCallDeadline) {
  context.set_deadline(std::chrono::system_clock::now() + seconds);
}

}  // namespace

ClusterClient::ClusterClient(const std::string& target, const ChannelSecurity& security)
    : stub_(v1::ClientService::NewStub(MakeChannel(target, security))) {}

absl::StatusOr<v1::Job> ClusterClient::Submit(const v1::SubmitScanRequest& request) {
  grpc::ClientContext context;
  Deadline(context, std::chrono::seconds(300));  // Expanding a registry takes a while.
  v1::SubmitScanResponse response;
  if (auto status = FromGrpc(stub_->SubmitScan(&context, request, &response)); !status.ok())
    return status;
  return response.job();
}

absl::StatusOr<v1::Job> ClusterClient::SubmitEval(const v1::SubmitEvalRequest& request) {
  grpc::ClientContext context;
  Deadline(context, std::chrono::seconds(60));
  v1::SubmitScanResponse response;
  if (auto status = FromGrpc(stub_->SubmitEval(&context, request, &response)); !status.ok())
    return status;
  return response.job();
}

absl::StatusOr<v1::Job> ClusterClient::Get(const std::string& job_id) {
  grpc::ClientContext context;
  Deadline(context);
  v1::GetJobRequest request;
  request.set_job_id(job_id);
  v1::Job job;
  if (auto status = FromGrpc(stub_->GetJob(&context, request, &job)); !status.ok()) return status;
  return job;
}

absl::StatusOr<std::vector<v1::Job>> ClusterClient::List(const std::string& tenant,
                                                         uint32_t limit) {
  grpc::ClientContext context;
  Deadline(context);
  v1::ListJobsRequest request;
  request.set_tenant(tenant);
  request.set_limit(limit);
  v1::ListJobsResponse response;
  if (auto status = FromGrpc(stub_->ListJobs(&context, request, &response)); !status.ok())
    return status;
  return std::vector<v1::Job>(response.jobs().begin(), response.jobs().end());
}

absl::StatusOr<v1::Job> ClusterClient::Cancel(const std::string& job_id) {
  grpc::ClientContext context;
  Deadline(context);
  v1::CancelJobRequest request;
  request.set_job_id(job_id);
  v1::Job job;
  if (auto status = FromGrpc(stub_->CancelJob(&context, request, &job)); !status.ok())
    return status;
  return job;
}

absl::StatusOr<v1::Job> ClusterClient::Watch(
    const std::string& job_id, const std::function<void(const v1::WatchJobEvent&)>& on_event) {
  uint64_t seen = 0;
  // A watch stream can outlive a coordinator restart: resume where it broke,
  // for as long as a restart (recovery of a large store, a slow node) takes.
  const auto give_up = std::chrono::steady_clock::now() + kWatchReconnectWindow;
  while (std::chrono::steady_clock::now() < give_up) {
    grpc::ClientContext context;
    Deadline(context, std::chrono::seconds(24 * 3600));
    v1::WatchJobRequest request;
    request.set_job_id(job_id);
    request.set_after_result(seen);
    auto reader = stub_->WatchJob(&context, request);
    v1::WatchJobEvent event;
    v1::Job last;
    bool any = false;
    while (reader->Read(&event)) {
      seen += static_cast<uint64_t>(event.results_size() + event.batches_size());
      last = event.job();
      any = true;
      on_event(event);
    }
    absl::Status status = FromGrpc(reader->Finish());
    if (status.ok() && any && (last.state() == v1::SUCCEEDED || last.state() == v1::CANCELLED))
      return last;
    if (!status.ok() && status.code() != absl::StatusCode::kUnavailable) return status;
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
  }
  return absl::UnavailableError("lost the coordinator while watching; run 'gauntlet jobs watch'");
}

absl::StatusOr<v1::Report> ClusterClient::TypedReport(const std::string& job_id) {
  grpc::ClientContext context;
  Deadline(context, std::chrono::seconds(300));
  v1::GetReportRequest request;
  request.set_job_id(job_id);
  request.set_format(v1::TYPED);
  auto reader = stub_->GetReport(&context, request);
  std::string bytes;
  v1::ReportChunk chunk;
  while (reader->Read(&chunk)) bytes += chunk.data();
  if (auto status = FromGrpc(reader->Finish()); !status.ok()) return status;
  v1::Report report;
  if (!report.ParseFromString(bytes) || report.kind_case() == v1::Report::KIND_NOT_SET)
    return absl::DataLossError(StrCat("the coordinator sent an unreadable report for ", job_id,
                                      " (is it older than this client?)"));
  return report;
}

absl::StatusOr<std::vector<v1::UploadedFile>> ClusterClient::Upload(
    const std::vector<std::string>& files) {
  std::vector<v1::UploadedFile> uploads;
  v1::FindMissingBlobsRequest find;
  for (const std::string& file : files) {
    auto digest = DigestFile(file);
    if (!digest.ok()) return digest.status();
    v1::UploadedFile upload;
    upload.set_name(file);
    upload.mutable_digest()->set_sha256(digest->sha256);
    upload.mutable_digest()->set_size_bytes(digest->size_bytes);
    *find.add_digests() = upload.digest();
    uploads.push_back(std::move(upload));
  }
  v1::FindMissingBlobsResponse missing;
  {
    grpc::ClientContext context;
    Deadline(context);
    if (auto status = FromGrpc(stub_->FindMissingBlobs(&context, find, &missing)); !status.ok())
      return status;
  }
  for (const v1::Digest& digest : missing.missing()) {
    const v1::UploadedFile* source = nullptr;
    for (const v1::UploadedFile& upload : uploads)
      if (upload.digest().sha256() == digest.sha256()) source = &upload;
    if (!source) continue;
    grpc::ClientContext context;
    Deadline(context, std::chrono::seconds(3600));
    v1::UploadBlobResponse response;
    auto writer = stub_->UploadBlob(&context, &response);
    int fd = open(source->name().c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return absl::NotFoundError(StrCat("cannot open ", source->name()));
    v1::UploadBlobRequest chunk;
    *chunk.mutable_digest() = digest;
    std::string buffer(kUploadChunk, '\0');
    ssize_t n;
    bool sent_first = false;
    while ((n = read(fd, buffer.data(), buffer.size())) > 0) {
      chunk.set_data(buffer.data(), static_cast<size_t>(n));
      if (!writer->Write(chunk)) break;
      chunk.clear_digest();
      sent_first = true;
    }
    close(fd);
    if (!sent_first) writer->Write(chunk);  // An empty file still names its digest.
    writer->WritesDone();
    if (auto status = FromGrpc(writer->Finish()); !status.ok()) return status;
  }
  return uploads;
}

}  // namespace gauntlet
