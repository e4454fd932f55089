// The HTTP endpoint every server exposes to Prometheus and the kubelet:
// GET /metrics (the registered collectables plus process metrics, in the
// Prometheus text format) and GET /healthz (200 "ok", or 503 with the
// reason a health check gives).
//
// Not prometheus-cpp's civetweb Exposer: Debian's civetweb starts its
// threads with a fixed 100 KiB stack, and glibc places each thread's static
// TLS on its stack; in the torch-linked eval worker OpenBLAS (60 KiB), glog
// (30 KiB) and libtorch (10 KiB) need more than that, so pthread_create
// returned EINVAL and the eval worker could serve no metrics. These
// threads get the default stack. One connection is served at a time, with
// a 5 s read/write timeout and an 8 KiB request limit: scrapes and probes
// are rare and small.
#ifndef GAUNTLET_COMMON_METRICS_ENDPOINT_H_
#define GAUNTLET_COMMON_METRICS_ENDPOINT_H_

#include <prometheus/collectable.h>

#include <atomic>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/statusor.h"

namespace gauntlet {

class MetricsEndpoint {
 public:
  // Empty when healthy, else why not (served as a 503 on /healthz).
  using HealthCheck = std::function<std::string()>;

  // Listens on `address` (HOST:PORT; port 0 picks one) and serves until
  // destroyed. A null `health` is always healthy.
  static absl::StatusOr<std::unique_ptr<MetricsEndpoint>> Start(
      const std::string& address,
      std::vector<std::shared_ptr<prometheus::Collectable>> collectables,
      HealthCheck health = nullptr);
  ~MetricsEndpoint();

  uint16_t port() const { return port_; }

  // The response to one request head (exposed for tests): status line,
  // headers and body.
  std::string Respond(const std::string& request) const;

 private:
  MetricsEndpoint(int listen_fd, uint16_t port,
                  std::vector<std::shared_ptr<prometheus::Collectable>> collectables,
                  HealthCheck health);
  void Serve();
  void ServeConnection(int fd) const;

  int listen_fd_;
  int stop_fds_[2] = {-1, -1};  // A pipe: writing to it ends Serve().
  uint16_t port_;
  std::vector<std::shared_ptr<prometheus::Collectable>> collectables_;
  HealthCheck health_;
  std::thread thread_;
};

}  // namespace gauntlet

#endif  // GAUNTLET_COMMON_METRICS_ENDPOINT_H_
