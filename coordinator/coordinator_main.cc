// gauntlet-coordinator: the cluster's control plane. Serves ClientService and
// WorkerService over gRPC (with health checking and reflection), keeps job
// state in SQLite, and exports Prometheus metrics.
#include <grpcpp/ext/proto_server_reflection_plugin.h>
#include <grpcpp/grpcpp.h>
#include <grpcpp/health_check_service_interface.h>
#include <prometheus/exposer.h>
#include <signal.h>

#include <filesystem>
#include <iostream>

#include "common/arg_reader.h"
#include "common/strings.h"
#include "coordinator/coordinator.h"
#include "coordinator/grpc_services.h"

namespace gauntlet {
namespace {

constexpr std::string_view kUsage = R"(usage: gauntlet-coordinator [options]

Serves the Gauntlet cluster API (gauntlet.v1) to clients and workers.

  --listen HOST:PORT          gRPC address (default 127.0.0.1:7443; port 0 picks one).
  --metrics-listen HOST:PORT  Prometheus /metrics (default 127.0.0.1:9464; port 0 picks one).
  --db PATH                   SQLite job store, WAL mode (default gauntlet-coordinator.db).
  --allow-root DIR            Workers may read job paths under DIR (repeatable; required
                              for path jobs, else only uploads are accepted).
  --blob-dir DIR              Content store for uploads (default: <db>.blobs).
  --lease-ttl-ms N            Lease time-to-live; workers heartbeat every TTL/3 (default 30000).
  --max-attempts N            Attempts before a task is dead-lettered (default 3).
  --tenant-queue-limit N      Unfinished tasks allowed per tenant (default 200000).
  --cache-salt TEXT           Change to forget every cached verdict.
  --no-verdict-cache          Scan every file even when its content was seen before.
  --help                      This text.

Prints "listening on HOST:PORT" and "metrics on HOST:PORT" once serving.
SIGTERM or SIGINT: report NOT_SERVING to health checks, then shut down.
)";

int UsageError(const std::string& message) {
  std::cerr << "gauntlet-coordinator: " << message << "\n(see --help)\n";
  return 2;
}

int Run(int argc, char** argv) {
  // Block the shutdown signals before any thread starts, so that every
  // thread inherits the mask and only sigwait() below sees them.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  signal(SIGPIPE, SIG_IGN);

  CoordinatorOptions options;
  std::string listen = "127.0.0.1:7443", metrics_listen = "127.0.0.1:9464";
  std::string db = "gauntlet-coordinator.db", blob_dir;
  ArgReader args({argv + 1, argv + argc});
  while (args.Next()) {
    const std::string& arg = args.arg();
    std::string text;
    int64_t n = 0;
    if (arg == "--help" || arg == "-h") {
      std::cout << kUsage;
      return 0;
    } else if (arg == "--listen") {
      if (!args.Value(listen)) return UsageError("--listen needs HOST:PORT");
    } else if (arg == "--metrics-listen") {
      if (!args.Value(metrics_listen)) return UsageError("--metrics-listen needs HOST:PORT");
    } else if (arg == "--db") {
      if (!args.Value(db)) return UsageError("--db needs a path");
    } else if (arg == "--blob-dir") {
      if (!args.Value(blob_dir)) return UsageError("--blob-dir needs a directory");
    } else if (arg == "--allow-root") {
      if (!args.Value(text)) return UsageError("--allow-root needs a directory");
      std::error_code error;
      auto root = std::filesystem::canonical(text, error);
      if (error || !std::filesystem::is_directory(root))
        return UsageError(StrCat("--allow-root ", text, ": not a directory"));
      options.allow_roots.push_back(root.string());
    } else if (arg == "--lease-ttl-ms") {
      if (!args.PositiveNumber(n)) return UsageError("--lease-ttl-ms needs a positive number");
      options.lease_ttl = std::chrono::milliseconds(n);
      options.lease_grace = std::chrono::milliseconds(std::max<int64_t>(n / 10, 100));
    } else if (arg == "--max-attempts") {
      if (!args.PositiveNumber(n)) return UsageError("--max-attempts needs a positive number");
      options.max_attempts = static_cast<uint32_t>(n);
    } else if (arg == "--tenant-queue-limit") {
      if (!args.PositiveNumber(n))
        return UsageError("--tenant-queue-limit needs a positive number");
      options.tenant_queue_limit = static_cast<uint64_t>(n);
    } else if (arg == "--cache-salt") {
      if (!args.Value(options.cache_salt)) return UsageError("--cache-salt needs text");
    } else if (arg == "--no-verdict-cache") {
      options.verdict_cache = false;
    } else {
      return UsageError(StrCat("unknown argument '", arg, "'"));
    }
  }
  if (options.allow_roots.empty()) options.allow_roots.push_back("/nonexistent-root");
  options.db_path = db;
  options.blob_directory = blob_dir.empty() ? db + ".blobs" : blob_dir;

  auto coordinator = Coordinator::Open(options);
  if (!coordinator.ok()) {
    std::cerr << "gauntlet-coordinator: " << coordinator.status().message() << "\n";
    return 1;
  }

  std::unique_ptr<prometheus::Exposer> exposer;
  try {
    exposer = std::make_unique<prometheus::Exposer>(metrics_listen);
  } catch (const std::exception& e) {
    std::cerr << "gauntlet-coordinator: cannot serve metrics on " << metrics_listen << ": "
              << e.what() << "\n";
    return 1;
  }
  exposer->RegisterCollectable((*coordinator)->metrics().registry());

  grpc::EnableDefaultHealthCheckService(true);
  grpc::reflection::InitProtoReflectionServerBuilderPlugin();
  ClientServiceImpl client_service(**coordinator);
  WorkerServiceImpl worker_service(**coordinator);
  grpc::ServerBuilder builder;
  int port = 0;
  builder.AddListeningPort(listen, grpc::InsecureServerCredentials(), &port);
  builder.RegisterService(&client_service);
  builder.RegisterService(&worker_service);
  // Clients ping every 30 s even without calls (docs/operations.md); accept that.
  builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_TIME_MS, 30000);
  builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_TIMEOUT_MS, 10000);
  builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_PERMIT_WITHOUT_CALLS, 1);
  builder.AddChannelArgument(GRPC_ARG_HTTP2_MIN_RECV_PING_INTERVAL_WITHOUT_DATA_MS, 10000);
  builder.AddChannelArgument(GRPC_ARG_HTTP2_MAX_PING_STRIKES, 0);
  builder.SetMaxReceiveMessageSize(16 << 20);
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  if (!server || port == 0) {
    std::cerr << "gauntlet-coordinator: cannot listen on " << listen << "\n";
    return 1;
  }
  std::string host = listen.substr(0, listen.rfind(':'));
  std::cout << "listening on " << host << ":" << port << "\n";
  auto metrics_ports = exposer->GetListeningPorts();
  std::cout << "metrics on " << metrics_listen.substr(0, metrics_listen.rfind(':')) << ":"
            << (metrics_ports.empty() ? 0 : metrics_ports.front()) << std::endl;

  int signal_number = 0;
  sigwait(&signals, &signal_number);
  std::cerr << "gauntlet-coordinator: shutting down\n";
  server->GetHealthCheckService()->SetServingStatus(false);
  server->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(5));
  return 0;
}

}  // namespace
}  // namespace gauntlet

int main(int argc, char** argv) { return gauntlet::Run(argc, argv); }
