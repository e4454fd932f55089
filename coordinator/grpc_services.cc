#include "coordinator/grpc_services.h"

#include <fcntl.h>
#include <unistd.h>

#include <sstream>

#include "common/strings.h"

namespace gauntlet {
namespace {

constexpr size_t kChunkBytes = 1 << 20;

template <typename T>
grpc::Status Assign(absl::StatusOr<T> value, T* out) {
  if (!value.ok()) return ToGrpc(value.status());
  *out = std::move(*value);
  return grpc::Status::OK;
}

BlobDigest FromProto(const v1::Digest& digest) {
  return BlobDigest{digest.sha256(), digest.size_bytes()};
}

}  // namespace

grpc::Status ToGrpc(const absl::Status& status) {
  if (status.ok()) return grpc::Status::OK;
  return grpc::Status(static_cast<grpc::StatusCode>(status.code()), std::string(status.message()));
}

grpc::Status ClientServiceImpl::SubmitScan(grpc::ServerContext*,
                                           const v1::SubmitScanRequest* request,
                                           v1::SubmitScanResponse* response) {
  return Assign(coordinator_.SubmitScan(*request), response->mutable_job());
}

grpc::Status ClientServiceImpl::SubmitEval(grpc::ServerContext*,
                                           const v1::SubmitEvalRequest* request,
                                           v1::SubmitScanResponse* response) {
  return Assign(coordinator_.SubmitEval(*request), response->mutable_job());
}

grpc::Status ClientServiceImpl::GetJob(grpc::ServerContext*, const v1::GetJobRequest* request,
                                       v1::Job* response) {
  return Assign(coordinator_.GetJob(request->job_id()), response);
}

grpc::Status ClientServiceImpl::ListJobs(grpc::ServerContext*, const v1::ListJobsRequest* request,
                                         v1::ListJobsResponse* response) {
  for (v1::Job& job : coordinator_.ListJobs(request->tenant(), request->limit()))
    *response->add_jobs() = std::move(job);
  return grpc::Status::OK;
}

grpc::Status ClientServiceImpl::CancelJob(grpc::ServerContext*, const v1::CancelJobRequest* request,
                                          v1::Job* response) {
  return Assign(coordinator_.CancelJob(request->job_id()), response);
}

grpc::Status ClientServiceImpl::WatchJob(grpc::ServerContext* context,
                                         const v1::WatchJobRequest* request,
                                         grpc::ServerWriter<v1::WatchJobEvent>* writer) {
  uint64_t after = request->after_result();
  while (!context->IsCancelled()) {
    auto event = coordinator_.WatchJob(request->job_id(), after, std::chrono::milliseconds(500));
    if (!event.ok()) return ToGrpc(event.status());
    after += static_cast<uint64_t>(event->results_size());
    bool finished = event->job().state() == v1::SUCCEEDED || event->job().state() == v1::CANCELLED;
    bool drained = after >= event->job().done_tasks();
    if (!writer->Write(*event)) return grpc::Status::OK;  // The client left.
    if (finished && drained) return grpc::Status::OK;
  }
  return grpc::Status(grpc::StatusCode::CANCELLED, "client cancelled the watch");
}

grpc::Status ClientServiceImpl::GetReport(grpc::ServerContext*, const v1::GetReportRequest* request,
                                          grpc::ServerWriter<v1::ReportChunk>* writer) {
  auto job = coordinator_.GetJob(request->job_id());
  if (!job.ok()) return ToGrpc(job.status());
  if (job->state() != v1::SUCCEEDED && job->state() != v1::CANCELLED)
    return grpc::Status(grpc::StatusCode::FAILED_PRECONDITION,
                        StrCat(request->job_id(), " is still running (", job->done_tasks(), "/",
                               job->total_tasks(), " files); watch it or try again later"));
  std::string text;
  if (job->kind() == v1::EVAL) {
    if (request->format() == v1::SARIF)
      return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                          "an A/B eval report is JSON or text, not SARIF");
    auto report = coordinator_.BuildEvalReport(request->job_id());
    if (!report.ok()) return ToGrpc(report.status());
    text = request->format() == v1::TEXT ? eval::ToText(*report) : eval::ToJson(*report).dump(2);
  } else {
    auto report = coordinator_.BuildReport(request->job_id());
    if (!report.ok()) return ToGrpc(report.status());
    ReportFormat format = request->format() == v1::SARIF  ? ReportFormat::kSarif
                          : request->format() == v1::TEXT ? ReportFormat::kText
                                                          : ReportFormat::kJson;
    std::ostringstream out;
    WriteReport(*report, format, out);
    text = out.str();
  }
  for (size_t offset = 0; offset < text.size(); offset += kChunkBytes) {
    v1::ReportChunk chunk;
    chunk.set_data(text.substr(offset, kChunkBytes));
    if (!writer->Write(chunk)) break;
  }
  return grpc::Status::OK;
}

grpc::Status ClientServiceImpl::FindMissingBlobs(grpc::ServerContext*,
                                                 const v1::FindMissingBlobsRequest* request,
                                                 v1::FindMissingBlobsResponse* response) {
  if (!coordinator_.content_store().enabled())
    return grpc::Status(grpc::StatusCode::FAILED_PRECONDITION,
                        "this coordinator has no content store (--blob-dir)");
  for (const v1::Digest& digest : request->digests()) {
    if (auto status = ValidateDigest(FromProto(digest)); !status.ok()) return ToGrpc(status);
    if (!coordinator_.content_store().Contains(FromProto(digest)))
      *response->add_missing() = digest;
  }
  return grpc::Status::OK;
}

grpc::Status ClientServiceImpl::UploadBlob(grpc::ServerContext*,
                                           grpc::ServerReader<v1::UploadBlobRequest>* reader,
                                           v1::UploadBlobResponse* response) {
  v1::UploadBlobRequest chunk;
  if (!reader->Read(&chunk))
    return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "empty upload: send the digest first");
  auto writer = coordinator_.content_store().StartUpload(FromProto(chunk.digest()));
  if (!writer.ok()) return ToGrpc(writer.status());
  *response->mutable_digest() = chunk.digest();
  do {
    if (auto status = writer->Append(chunk.data()); !status.ok()) return ToGrpc(status);
  } while (reader->Read(&chunk));
  return ToGrpc(writer->Commit());
}

grpc::Status WorkerServiceImpl::Register(grpc::ServerContext*, const v1::RegisterRequest* request,
                                         v1::RegisterResponse* response) {
  *response = coordinator_.Register(*request);
  return grpc::Status::OK;
}

grpc::Status WorkerServiceImpl::Lease(grpc::ServerContext*, const v1::LeaseRequest* request,
                                      v1::LeaseResponse* response) {
  return Assign(coordinator_.Lease(*request), response);
}

grpc::Status WorkerServiceImpl::Heartbeat(grpc::ServerContext*, const v1::HeartbeatRequest* request,
                                          v1::HeartbeatResponse* response) {
  return Assign(coordinator_.Heartbeat(*request), response);
}

grpc::Status WorkerServiceImpl::CheckCache(grpc::ServerContext*,
                                           const v1::CheckCacheRequest* request,
                                           v1::CheckCacheResponse* response) {
  return Assign(coordinator_.CheckCache(*request), response);
}

grpc::Status WorkerServiceImpl::ReportResults(grpc::ServerContext*,
                                              const v1::ReportResultsRequest* request,
                                              v1::ReportResultsResponse* response) {
  return Assign(coordinator_.ReportResults(*request), response);
}

grpc::Status WorkerServiceImpl::FetchBlob(grpc::ServerContext*, const v1::FetchBlobRequest* request,
                                          grpc::ServerWriter<v1::BlobChunk>* writer) {
  BlobDigest digest = FromProto(request->digest());
  if (auto status = ValidateDigest(digest); !status.ok()) return ToGrpc(status);
  if (!coordinator_.content_store().Contains(digest))
    return grpc::Status(grpc::StatusCode::NOT_FOUND,
                        StrCat("blob ", digest.sha256, "/", digest.size_bytes, " is not stored"));
  int fd = open(coordinator_.content_store().PathOf(digest).c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return grpc::Status(grpc::StatusCode::INTERNAL, "cannot open the stored blob");
  std::string buffer(kChunkBytes, '\0');
  ssize_t n;
  v1::BlobChunk chunk;
  while ((n = read(fd, buffer.data(), buffer.size())) > 0) {
    chunk.set_data(buffer.data(), static_cast<size_t>(n));
    if (!writer->Write(chunk)) break;
  }
  close(fd);
  return n < 0 ? grpc::Status(grpc::StatusCode::DATA_LOSS, "reading the stored blob failed")
               : grpc::Status::OK;
}

}  // namespace gauntlet
