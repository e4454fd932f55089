#include "common/metrics_endpoint.h"

#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <prometheus/text_serializer.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstring>
#include <sstream>

#include "common/process_metrics.h"
#include "common/strings.h"

namespace gauntlet {
namespace {

constexpr size_t kMaxRequestBytes = 8192;
constexpr int kIoTimeoutSeconds = 5;

std::string Response(std::string_view status, std::string_view content_type,
                     const std::string& body) {
  return StrCat("HTTP/1.1 ", status, "\r\nContent-Type: ", content_type,
                "\r\nContent-Length: ", body.size(), "\r\nConnection: close\r\n\r\n", body);
}

absl::StatusOr<int> Listen(const std::string& address, uint16_t& port) {
  size_t colon = address.rfind(':');
  if (colon == std::string::npos)
    return absl::InvalidArgumentError(StrCat("metrics address ", address, " is not HOST:PORT"));
  std::string host = address.substr(0, colon), service = address.substr(colon + 1);
  if (host.size() > 1 && host.front() == '[' && host.back() == ']')
    host = host.substr(1, host.size() - 2);
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
  addrinfo* found = nullptr;
  if (int error =
          getaddrinfo(host.empty() ? nullptr : host.c_str(), service.c_str(), &hints, &found);
      error != 0)
    return absl::InvalidArgumentError(
        StrCat("metrics address ", address, ": ", gai_strerror(error)));
  std::string failure = "no address";
  for (addrinfo* candidate = found; candidate; candidate = candidate->ai_next) {
    int fd = socket(candidate->ai_family, candidate->ai_socktype | SOCK_CLOEXEC, 0);
    if (fd < 0) continue;
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (bind(fd, candidate->ai_addr, candidate->ai_addrlen) == 0 && listen(fd, 64) == 0) {
      sockaddr_storage bound{};
      socklen_t length = sizeof bound;
      getsockname(fd, reinterpret_cast<sockaddr*>(&bound), &length);
      port = ntohs(bound.ss_family == AF_INET6 ? reinterpret_cast<sockaddr_in6*>(&bound)->sin6_port
                                               : reinterpret_cast<sockaddr_in*>(&bound)->sin_port);
      freeaddrinfo(found);
      return fd;
    }
    failure = std::strerror(errno);
    close(fd);
  }
  freeaddrinfo(found);
  return absl::UnavailableError(StrCat("cannot listen on ", address, ": ", failure));
}

}  // namespace

absl::StatusOr<std::unique_ptr<MetricsEndpoint>> MetricsEndpoint::Start(
    const std::string& address, std::vector<std::shared_ptr<prometheus::Collectable>> collectables,
    HealthCheck health) {
  uint16_t port = 0;
  auto fd = Listen(address, port);
  if (!fd.ok()) return fd.status();
  collectables.push_back(std::make_shared<ProcessMetrics>());
  std::unique_ptr<MetricsEndpoint> endpoint(
      new MetricsEndpoint(*fd, port, std::move(collectables), std::move(health)));
  if (pipe2(endpoint->stop_fds_, O_CLOEXEC) != 0)
    return absl::InternalError(StrCat("pipe: ", std::strerror(errno)));
  endpoint->thread_ = std::thread([raw = endpoint.get()] { raw->Serve(); });
  return endpoint;
}

MetricsEndpoint::MetricsEndpoint(int listen_fd, uint16_t port,
                                 std::vector<std::shared_ptr<prometheus::Collectable>> collectables,
                                 HealthCheck health)
    : listen_fd_(listen_fd),
      port_(port),
      collectables_(std::move(collectables)),
      health_(std::move(health)) {}

MetricsEndpoint::~MetricsEndpoint() {
  if (thread_.joinable()) {
    char byte = 0;
    (void)!write(stop_fds_[1], &byte, 1);
    thread_.join();
  }
  for (int fd : {listen_fd_, stop_fds_[0], stop_fds_[1]})
    if (fd >= 0) close(fd);
}

void MetricsEndpoint::Serve() {
  pollfd fds[2] = {{listen_fd_, POLLIN, 0}, {stop_fds_[0], POLLIN, 0}};
  while (true) {
    if (poll(fds, 2, -1) < 0) {
      if (errno == EINTR) continue;
      return;
    }
    if (fds[1].revents) return;
    int connection = accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
    if (connection < 0) continue;
    ServeConnection(connection);
    close(connection);
  }
}

void MetricsEndpoint::ServeConnection(int fd) const {
  timeval timeout{kIoTimeoutSeconds, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
  setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &timeout, sizeof timeout);
  std::string request;
  char buffer[2048];
  while (request.find("\r\n\r\n") == std::string::npos && request.size() < kMaxRequestBytes) {
    ssize_t n = recv(fd, buffer, sizeof buffer, 0);
    if (n <= 0) return;  // Closed, or silent past the timeout.
    request.append(buffer, static_cast<size_t>(n));
  }
  std::string response = Respond(request);
  for (size_t sent = 0; sent < response.size();) {
    ssize_t n = send(fd, response.data() + sent, response.size() - sent, MSG_NOSIGNAL);
    if (n <= 0) return;
    sent += static_cast<size_t>(n);
  }
}

std::string MetricsEndpoint::Respond(const std::string& request) const {
  if (request.find("\r\n\r\n") == std::string::npos)
    return Response("431 Request Header Fields Too Large", "text/plain", "request too large\n");
  std::istringstream line(request.substr(0, request.find("\r\n")));
  std::string method, target, version;
  line >> method >> target >> version;
  if (!StartsWith(version, "HTTP/1."))
    return Response("400 Bad Request", "text/plain", "not an HTTP/1 request\n");
  if (method != "GET") return Response("405 Method Not Allowed", "text/plain", "GET only\n");
  std::string path = target.substr(0, target.find('?'));
  if (path == "/metrics") {
    std::vector<prometheus::MetricFamily> families;
    for (const auto& collectable : collectables_) {
      auto collected = collectable->Collect();
      families.insert(families.end(), std::make_move_iterator(collected.begin()),
                      std::make_move_iterator(collected.end()));
    }
    std::ostringstream body;
    prometheus::TextSerializer().Serialize(body, families);
    return Response("200 OK", "text/plain; version=0.0.4; charset=utf-8", body.str());
  }
  if (path == "/healthz") {
    std::string problem = health_ ? health_() : "";
    return problem.empty() ? Response("200 OK", "text/plain", "ok\n")
                           : Response("503 Service Unavailable", "text/plain", problem + "\n");
  }
  return Response("404 Not Found", "text/plain", "/metrics or /healthz\n");
}

}  // namespace gauntlet
