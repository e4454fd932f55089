#include "worker/cluster/grpc_worker_api.h"

#include <fcntl.h>
#include <unistd.h>

#include "common/strings.h"

namespace gauntlet {
namespace {

constexpr auto kCallDeadline = std::chrono::seconds(10);
constexpr auto kBlobDeadline = std::chrono::minutes(30);

void SetDeadline(grpc::ClientContext& context, std::chrono::seconds deadline) {
  context.set_deadline(std::chrono::system_clock::now() + deadline);
}

template <typename Request, typename Response, typename Method>
absl::StatusOr<Response> Call(Method method, const Request& request) {
  grpc::ClientContext context;
  SetDeadline(context, kCallDeadline);
  Response response;
  grpc::Status status = method(&context, request, &response);
  if (!status.ok()) return FromGrpc(status);
  return response;
}

}  // namespace

GrpcWorkerApi::GrpcWorkerApi(const std::string& target, const ChannelSecurity& security)
    : stub_(v1::WorkerService::NewStub(MakeChannel(target, security))) {}

absl::StatusOr<v1::RegisterResponse> GrpcWorkerApi::Register(const v1::RegisterRequest& request) {
  return Call<v1::RegisterRequest, v1::RegisterResponse>(
      [&](auto* c, const auto& r, auto* out) { return stub_->Register(c, r, out); }, request);
}

absl::StatusOr<v1::LeaseResponse> GrpcWorkerApi::Lease(const v1::LeaseRequest& request) {
  return Call<v1::LeaseRequest, v1::LeaseResponse>(
      [&](auto* c, const auto& r, auto* out) { return stub_->Lease(c, r, out); }, request);
}

absl::StatusOr<v1::HeartbeatResponse> GrpcWorkerApi::Heartbeat(
    const v1::HeartbeatRequest& request) {
  return Call<v1::HeartbeatRequest, v1::HeartbeatResponse>(
      [&](auto* c, const auto& r, auto* out) { return stub_->Heartbeat(c, r, out); }, request);
}

absl::StatusOr<v1::CheckCacheResponse> GrpcWorkerApi::CheckCache(
    const v1::CheckCacheRequest& request) {
  return Call<v1::CheckCacheRequest, v1::CheckCacheResponse>(
      [&](auto* c, const auto& r, auto* out) { return stub_->CheckCache(c, r, out); }, request);
}

absl::StatusOr<v1::ReportResultsResponse> GrpcWorkerApi::ReportResults(
    const v1::ReportResultsRequest& request) {
  return Call<v1::ReportResultsRequest, v1::ReportResultsResponse>(
      [&](auto* c, const auto& r, auto* out) { return stub_->ReportResults(c, r, out); }, request);
}

absl::Status GrpcWorkerApi::FetchBlob(const v1::Digest& digest, const std::string& path) {
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + kBlobDeadline);
  v1::FetchBlobRequest request;
  *request.mutable_digest() = digest;
  auto reader = stub_->FetchBlob(&context, request);
  int fd = open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return absl::InternalError(StrCat("cannot create ", path));
  v1::BlobChunk chunk;
  bool write_ok = true;
  while (reader->Read(&chunk)) {
    std::string_view data = chunk.data();
    while (write_ok && !data.empty()) {
      ssize_t n = write(fd, data.data(), data.size());
      write_ok = n > 0;
      if (write_ok) data.remove_prefix(static_cast<size_t>(n));
    }
  }
  close(fd);
  absl::Status status = FromGrpc(reader->Finish());
  if (status.ok() && !write_ok) status = absl::InternalError(StrCat("cannot write ", path));
  return status;
}

}  // namespace gauntlet
