#include "coordinator/grpc_services.h"

#include <fcntl.h>
#include <unistd.h>

#include <sstream>

#include "common/strings.h"
#include "proto/convert.h"

namespace gauntlet {
namespace {

constexpr size_t kChunkBytes = 1 << 20;

template <typename T>
grpc::Status Assign(absl::StatusOr<T> value, T* out) {
  if (!value.ok()) return ToGrpc(value.status());
  *out = std::move(*value);
  return grpc::Status::OK;
}

constexpr std::initializer_list<Role> kClients = {Role::kTenant, Role::kAdmin};
constexpr std::initializer_list<Role> kWorkers = {Role::kWorker};

// Authorizes the call or returns from the RPC with the refusal.
#define GAUNTLET_AUTHORIZE(caller, context, method, roles)       \
  auto caller##_or = auth_.Authorize(*(context), method, roles); \
  if (!caller##_or.ok()) return ToGrpc(caller##_or.status());    \
  const Caller& caller = *caller##_or

// Submits and cancels go to the audit log, refused or not.
template <typename T>
absl::StatusOr<T> Audited(AuditLog& audit, const Caller& caller, std::string action,
                          const std::string& job_id, absl::StatusOr<T> outcome,
                          std::string (*id_of)(const T&)) {
  AuditEvent event = caller.Event(std::move(action));
  event.job_id = outcome.ok() ? id_of(*outcome) : job_id;
  if (!outcome.ok()) {
    event.outcome = absl::StatusCodeToString(outcome.status().code());
    event.detail = std::string(outcome.status().message());
  }
  audit.Record(event);
  return outcome;
}

std::string IdOf(const v1::Job& job) { return job.id(); }

}  // namespace

grpc::Status ToGrpc(const absl::Status& status) {
  if (status.ok()) return grpc::Status::OK;
  return grpc::Status(static_cast<grpc::StatusCode>(status.code()), std::string(status.message()));
}

grpc::Status ClientServiceImpl::SubmitScan(grpc::ServerContext* context,
                                           const v1::SubmitScanRequest* request,
                                           v1::SubmitScanResponse* response) {
  GAUNTLET_AUTHORIZE(caller, context, "SubmitScan", kClients);
  return Assign(Audited(auth_.audit(), caller, "submit_scan", "",
                        coordinator_.SubmitScan(*request, caller.scope()), IdOf),
                response->mutable_job());
}

grpc::Status ClientServiceImpl::SubmitEval(grpc::ServerContext* context,
                                           const v1::SubmitEvalRequest* request,
                                           v1::SubmitScanResponse* response) {
  GAUNTLET_AUTHORIZE(caller, context, "SubmitEval", kClients);
  return Assign(Audited(auth_.audit(), caller, "submit_eval", "",
                        coordinator_.SubmitEval(*request, caller.scope()), IdOf),
                response->mutable_job());
}

grpc::Status ClientServiceImpl::GetJob(grpc::ServerContext* context,
                                       const v1::GetJobRequest* request, v1::Job* response) {
  GAUNTLET_AUTHORIZE(caller, context, "GetJob", kClients);
  return Assign(coordinator_.GetJob(request->job_id(), caller.scope()), response);
}

grpc::Status ClientServiceImpl::ListJobs(grpc::ServerContext* context,
                                         const v1::ListJobsRequest* request,
                                         v1::ListJobsResponse* response) {
  GAUNTLET_AUTHORIZE(caller, context, "ListJobs", kClients);
  auto jobs = coordinator_.ListJobs(request->tenant(), request->limit(), caller.scope());
  if (!jobs.ok()) return ToGrpc(jobs.status());
  for (v1::Job& job : *jobs) *response->add_jobs() = std::move(job);
  return grpc::Status::OK;
}

grpc::Status ClientServiceImpl::CancelJob(grpc::ServerContext* context,
                                          const v1::CancelJobRequest* request, v1::Job* response) {
  GAUNTLET_AUTHORIZE(caller, context, "CancelJob", kClients);
  return Assign(Audited(auth_.audit(), caller, "cancel", request->job_id(),
                        coordinator_.CancelJob(request->job_id(), caller.scope()), IdOf),
                response);
}

grpc::Status ClientServiceImpl::WatchJob(grpc::ServerContext* context,
                                         const v1::WatchJobRequest* request,
                                         grpc::ServerWriter<v1::WatchJobEvent>* writer) {
  GAUNTLET_AUTHORIZE(caller, context, "WatchJob", kClients);
  uint64_t after = request->after_result();
  while (!context->IsCancelled()) {
    auto event = coordinator_.WatchJob(request->job_id(), after, std::chrono::milliseconds(500),
                                       caller.scope());
    if (!event.ok()) return ToGrpc(event.status());
    after += static_cast<uint64_t>(event->results_size() + event->batches_size());
    bool finished = event->job().state() == v1::SUCCEEDED || event->job().state() == v1::CANCELLED;
    bool drained = after >= event->job().done_tasks();
    if (!writer->Write(*event)) return grpc::Status::OK;  // The client left.
    if (finished && drained) return grpc::Status::OK;
  }
  return grpc::Status(grpc::StatusCode::CANCELLED, "client cancelled the watch");
}

grpc::Status ClientServiceImpl::GetReport(grpc::ServerContext* context,
                                          const v1::GetReportRequest* request,
                                          grpc::ServerWriter<v1::ReportChunk>* writer) {
  GAUNTLET_AUTHORIZE(caller, context, "GetReport", kClients);
  auto job = coordinator_.GetJob(request->job_id(), caller.scope());
  if (!job.ok()) return ToGrpc(job.status());
  if (job->state() != v1::SUCCEEDED && job->state() != v1::CANCELLED)
    return grpc::Status(grpc::StatusCode::FAILED_PRECONDITION,
                        StrCat(request->job_id(), " is still running (", job->done_tasks(), "/",
                               job->total_tasks(), " files); watch it or try again later"));
  if (job->kind() == v1::EVAL && request->format() == v1::SARIF)
    return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                        "an A/B eval report is typed, JSON or text, not SARIF");
  // Every format is rendered from the typed report, which TYPED sends as it
  // is (the gauntlet client renders it itself).
  auto report = coordinator_.BuildTypedReport(request->job_id(), caller.scope());
  if (!report.ok()) return ToGrpc(report.status());
  std::string text;
  if (request->format() == v1::TYPED) {
    text = report->SerializeAsString();
  } else if (report->has_eval()) {
    eval::AbReport ab = eval::AbReportFromData(report->eval());
    text = request->format() == v1::TEXT ? eval::ToText(ab) : eval::ToJson(ab).dump(2);
  } else {
    ReportFormat format = request->format() == v1::SARIF  ? ReportFormat::kSarif
                          : request->format() == v1::TEXT ? ReportFormat::kText
                                                          : ReportFormat::kJson;
    std::ostringstream out;
    WriteReport(FromProto(report->scan()), format, out);
    text = out.str();
  }
  for (size_t offset = 0; offset < text.size(); offset += kChunkBytes) {
    v1::ReportChunk chunk;
    chunk.set_data(text.substr(offset, kChunkBytes));
    if (!writer->Write(chunk)) break;
  }
  return grpc::Status::OK;
}

grpc::Status ClientServiceImpl::FindMissingBlobs(grpc::ServerContext* context,
                                                 const v1::FindMissingBlobsRequest* request,
                                                 v1::FindMissingBlobsResponse* response) {
  GAUNTLET_AUTHORIZE(caller, context, "FindMissingBlobs", kClients);
  auto missing = coordinator_.MissingBlobs({request->digests().begin(), request->digests().end()},
                                           caller.scope());
  if (!missing.ok()) return ToGrpc(missing.status());
  for (v1::Digest& digest : *missing) *response->add_missing() = std::move(digest);
  return grpc::Status::OK;
}

grpc::Status ClientServiceImpl::UploadBlob(grpc::ServerContext* context,
                                           grpc::ServerReader<v1::UploadBlobRequest>* reader,
                                           v1::UploadBlobResponse* response) {
  GAUNTLET_AUTHORIZE(caller, context, "UploadBlob", kClients);
  v1::UploadBlobRequest chunk;
  if (!reader->Read(&chunk))
    return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "empty upload: send the digest first");
  const v1::Digest digest = chunk.digest();
  auto writer = coordinator_.StartUpload(digest, caller.scope());
  if (!writer.ok()) return ToGrpc(writer.status());
  *response->mutable_digest() = digest;
  do {
    if (auto status = writer->Append(chunk.data()); !status.ok()) return ToGrpc(status);
  } while (reader->Read(&chunk));
  return ToGrpc(coordinator_.FinishUpload(std::move(*writer), digest, caller.scope()));
}

grpc::Status WorkerServiceImpl::Register(grpc::ServerContext* context,
                                         const v1::RegisterRequest* request,
                                         v1::RegisterResponse* response) {
  GAUNTLET_AUTHORIZE(caller, context, "Register", kWorkers);
  return Assign(coordinator_.Register(*request, caller.identity), response);
}

grpc::Status WorkerServiceImpl::Lease(grpc::ServerContext* context, const v1::LeaseRequest* request,
                                      v1::LeaseResponse* response) {
  GAUNTLET_AUTHORIZE(caller, context, "Lease", kWorkers);
  return Assign(coordinator_.Lease(*request, caller.identity), response);
}

grpc::Status WorkerServiceImpl::Heartbeat(grpc::ServerContext* context,
                                          const v1::HeartbeatRequest* request,
                                          v1::HeartbeatResponse* response) {
  GAUNTLET_AUTHORIZE(caller, context, "Heartbeat", kWorkers);
  return Assign(coordinator_.Heartbeat(*request, caller.identity), response);
}

grpc::Status WorkerServiceImpl::CheckCache(grpc::ServerContext* context,
                                           const v1::CheckCacheRequest* request,
                                           v1::CheckCacheResponse* response) {
  GAUNTLET_AUTHORIZE(caller, context, "CheckCache", kWorkers);
  return Assign(coordinator_.CheckCache(*request, caller.identity), response);
}

grpc::Status WorkerServiceImpl::ReportResults(grpc::ServerContext* context,
                                              const v1::ReportResultsRequest* request,
                                              v1::ReportResultsResponse* response) {
  GAUNTLET_AUTHORIZE(caller, context, "ReportResults", kWorkers);
  return Assign(coordinator_.ReportResults(*request, caller.identity), response);
}

grpc::Status WorkerServiceImpl::FetchBlob(grpc::ServerContext* context,
                                          const v1::FetchBlobRequest* request,
                                          grpc::ServerWriter<v1::BlobChunk>* writer) {
  GAUNTLET_AUTHORIZE(caller, context, "FetchBlob", kWorkers);
  auto path = coordinator_.BlobForWorker(request->digest(), caller.identity);
  if (!path.ok()) return ToGrpc(path.status());
  int fd = open(path->c_str(), O_RDONLY | O_CLOEXEC);
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
