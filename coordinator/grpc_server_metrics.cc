#include "coordinator/grpc_server_metrics.h"

#include <chrono>
#include <string>

namespace gauntlet {
namespace {

const char* CallType(grpc::experimental::ServerRpcInfo::Type type) {
  using Type = grpc::experimental::ServerRpcInfo::Type;
  switch (type) {
    case Type::UNARY:
      return "unary";
    case Type::CLIENT_STREAMING:
      return "client_stream";
    case Type::SERVER_STREAMING:
      return "server_stream";
    case Type::BIDI_STREAMING:
      return "bidi_stream";
    default:
      return "unknown";
  }
}

const char* CodeName(grpc::StatusCode code) {
  static const char* const kNames[] = {
      "OK",       "Canceled",       "Unknown",          "InvalidArgument",   "DeadlineExceeded",
      "NotFound", "AlreadyExists",  "PermissionDenied", "ResourceExhausted", "FailedPrecondition",
      "Aborted",  "OutOfRange",     "Unimplemented",    "Internal",          "Unavailable",
      "DataLoss", "Unauthenticated"};
  int index = static_cast<int>(code);
  return index >= 0 && index < 17 ? kNames[index] : "Unknown";
}

}  // namespace

// One call's metrics: started when the call is created, handled with its
// status code and duration when the status is sent.
class GrpcCallMetrics : public grpc::experimental::Interceptor {
 public:
  GrpcCallMetrics(GrpcServerMetrics& metrics, grpc::experimental::ServerRpcInfo* info)
      : metrics_(metrics) {
    std::string method = info->method() ? info->method() : "/unknown/unknown";
    size_t slash = method.rfind('/');
    labels_ = {{"grpc_service", method.substr(1, slash > 0 ? slash - 1 : 0)},
               {"grpc_method", method.substr(slash + 1)},
               {"grpc_type", CallType(info->type())}};
    metrics_.started_.Add(labels_).Increment();
  }

  void Intercept(grpc::experimental::InterceptorBatchMethods* methods) override {
    if (methods->QueryInterceptionHookPoint(
            grpc::experimental::InterceptionHookPoints::PRE_SEND_STATUS)) {
      prometheus::Labels handled = labels_;
      handled["grpc_code"] = CodeName(methods->GetSendStatus().error_code());
      metrics_.handled_.Add(handled).Increment();
      metrics_.handling_seconds_
          .Add(labels_, prometheus::Histogram::BucketBoundaries{0.001, 0.005, 0.01, 0.05, 0.1, 0.5,
                                                                1, 5, 30, 300})
          .Observe(
              std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count());
    }
    methods->Proceed();
  }

 private:
  GrpcServerMetrics& metrics_;
  prometheus::Labels labels_;
  std::chrono::steady_clock::time_point start_ = std::chrono::steady_clock::now();
};

GrpcServerMetrics::GrpcServerMetrics(prometheus::Registry& registry)
    : started_(prometheus::BuildCounter()
                   .Name("grpc_server_started_total")
                   .Help("RPCs started on the server")
                   .Register(registry)),
      handled_(prometheus::BuildCounter()
                   .Name("grpc_server_handled_total")
                   .Help("RPCs completed on the server, by status code")
                   .Register(registry)),
      handling_seconds_(prometheus::BuildHistogram()
                            .Name("grpc_server_handling_seconds")
                            .Help("Time from the start of an RPC to its status, on the server")
                            .Register(registry)) {}

grpc::experimental::Interceptor* GrpcServerMetrics::CreateServerInterceptor(
    grpc::experimental::ServerRpcInfo* info) {
  return new GrpcCallMetrics(*this, info);
}

}  // namespace gauntlet
