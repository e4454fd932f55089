// gRPC server metrics for the coordinator, with the names and labels of
// go-grpc-prometheus (which Grafana's stock gRPC dashboards query):
// grpc_server_started_total, grpc_server_handled_total (by status code) and
// grpc_server_handling_seconds, each by service, method and call type. A
// server interceptor sees every call, the refused ones included.
#ifndef GAUNTLET_COORDINATOR_GRPC_SERVER_METRICS_H_
#define GAUNTLET_COORDINATOR_GRPC_SERVER_METRICS_H_

#include <grpcpp/support/server_interceptor.h>
#include <prometheus/counter.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

#include <memory>

namespace gauntlet {

class GrpcServerMetrics : public grpc::experimental::ServerInterceptorFactoryInterface {
 public:
  explicit GrpcServerMetrics(prometheus::Registry& registry);
  grpc::experimental::Interceptor* CreateServerInterceptor(
      grpc::experimental::ServerRpcInfo* info) override;

 private:
  friend class GrpcCallMetrics;
  prometheus::Family<prometheus::Counter>&started_, &handled_;
  prometheus::Family<prometheus::Histogram>& handling_seconds_;
};

}  // namespace gauntlet

#endif  // GAUNTLET_COORDINATOR_GRPC_SERVER_METRICS_H_
