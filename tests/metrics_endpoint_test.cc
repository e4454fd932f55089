// The servers' /metrics and /healthz endpoint (common/metrics_endpoint.h),
// over a real socket: what Prometheus and the kubelet see.
#include "common/metrics_endpoint.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <prometheus/counter.h>
#include <prometheus/registry.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>

namespace gauntlet {
namespace {

// Sends `request` to 127.0.0.1:port and returns everything the server wrote.
std::string Exchange(uint16_t port, const std::string& request) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(port);
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0) {
    close(fd);
    return "";
  }
  send(fd, request.data(), request.size(), MSG_NOSIGNAL);
  shutdown(fd, SHUT_WR);  // A client that sends no more.
  std::string response;
  char buffer[4096];
  for (ssize_t n; (n = recv(fd, buffer, sizeof buffer, 0)) > 0;) response.append(buffer, n);
  close(fd);
  return response;
}

TEST(MetricsEndpointTest, ServesMetricsProcessMetricsAndHealth) {
  auto registry = std::make_shared<prometheus::Registry>();
  prometheus::BuildCounter()
      .Name("test_events_total")
      .Help("Events")
      .Register(*registry)
      .Add({})
      .Increment(3);
  std::atomic<bool> wedged = false;
  auto endpoint = MetricsEndpoint::Start("127.0.0.1:0", {registry},
                                         [&] { return wedged ? std::string("slot 1 stuck") : ""; });
  ASSERT_TRUE(endpoint.ok()) << endpoint.status();
  uint16_t port = (*endpoint)->port();
  ASSERT_NE(port, 0);

  std::string metrics = Exchange(port, "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n");
  EXPECT_EQ(metrics.rfind("HTTP/1.1 200 OK\r\n", 0), 0u) << metrics;
  EXPECT_NE(metrics.find("Content-Type: text/plain; version=0.0.4"), std::string::npos);
  EXPECT_NE(metrics.find("\ntest_events_total 3\n"), std::string::npos) << metrics;
  for (const char* name : {"process_cpu_seconds_total", "process_resident_memory_bytes",
                           "process_open_fds", "process_max_fds", "process_start_time_seconds"})
    EXPECT_NE(metrics.find(std::string("\n") + name + " "), std::string::npos) << name;
  // Content-Length is the body's length: Prometheus reads no further.
  size_t body = metrics.find("\r\n\r\n") + 4;
  size_t length_at = metrics.find("Content-Length: ") + 16;
  EXPECT_EQ(std::stoul(metrics.substr(length_at)), metrics.size() - body);

  EXPECT_EQ(Exchange(port, "GET /healthz HTTP/1.1\r\n\r\n").rfind("HTTP/1.1 200 OK", 0), 0u);
  wedged = true;
  std::string unhealthy = Exchange(port, "GET /healthz HTTP/1.0\r\n\r\n");
  EXPECT_EQ(unhealthy.rfind("HTTP/1.1 503 Service Unavailable", 0), 0u) << unhealthy;
  EXPECT_NE(unhealthy.find("slot 1 stuck"), std::string::npos);

  EXPECT_EQ(Exchange(port, "GET /other HTTP/1.1\r\n\r\n").rfind("HTTP/1.1 404", 0), 0u);
  EXPECT_EQ(Exchange(port, "POST /metrics HTTP/1.1\r\n\r\n").rfind("HTTP/1.1 405", 0), 0u);
  EXPECT_EQ(Exchange(port, "hello\r\n\r\n").rfind("HTTP/1.1 400", 0), 0u);
  EXPECT_EQ(Exchange(port, std::string(10000, 'A')).rfind("HTTP/1.1 431", 0), 0u);
  // A client that sends half a request and goes away does not stop the server.
  EXPECT_EQ(Exchange(port, "GET /metr"), "");
  EXPECT_EQ(Exchange(port, "GET /healthz HTTP/1.1\r\n\r\n").rfind("HTTP/1.1 503", 0), 0u);
}

TEST(MetricsEndpointTest, ABadOrTakenAddressIsAnError) {
  EXPECT_FALSE(MetricsEndpoint::Start("no-port", {}).ok());
  auto first = MetricsEndpoint::Start("127.0.0.1:0", {});
  ASSERT_TRUE(first.ok());
  auto second = MetricsEndpoint::Start("127.0.0.1:" + std::to_string((*first)->port()), {});
  ASSERT_FALSE(second.ok());
  EXPECT_NE(second.status().message().find("cannot listen on"), std::string::npos);
}

}  // namespace
}  // namespace gauntlet
