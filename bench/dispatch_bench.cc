// Coordinator dispatch capacity with trivial tasks: how many tasks per
// second one coordinator can lease and complete, with the work itself taken
// out. Three setups:
//   Direct/memory   the Coordinator class, in-memory SQLite (embedded CLI);
//   Direct/wal      the same with the durable SQLite WAL store (cluster);
//   Grpc/wal        through the real gRPC services on loopback, as workers
//                   talk to it (N client threads, batches of 64).
// Target: >= 20,000 tasks/s (docs/benchmarks.md).
#include <benchmark/benchmark.h>
#include <grpcpp/grpcpp.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <thread>

#include "coordinator/coordinator.h"
#include "coordinator/grpc_services.h"
#include "coordinator/token_store.h"
#include "worker/cluster/grpc_worker_api.h"

namespace gauntlet {
namespace {

namespace fs = std::filesystem;

constexpr int kTasks = 20000;
constexpr uint32_t kBatch = 64;

// kTasks empty files, made once.
const std::string& Corpus() {
  static const std::string dir = [] {
    std::string path =
        (fs::temp_directory_path() / ("gauntlet_dispatch_" + std::to_string(getpid()))).string();
    fs::create_directories(path);
    for (int i = 0; i < kTasks; ++i) std::ofstream(path + "/f" + std::to_string(i));
    return path;
  }();
  return dir;
}

std::unique_ptr<Coordinator> Open(bool durable) {
  CoordinatorOptions options;
  std::string db = Corpus() + ".db";
  fs::remove(db);
  fs::remove(db + "-wal");
  fs::remove(db + "-shm");
  options.db_path = durable ? db : ":memory:";
  options.verdict_cache = false;
  options.tenant_queue_limit = UINT64_MAX;
  return std::move(*Coordinator::Open(options));
}

// Leases everything in batches and reports a trivial result for each task.
template <typename Api>
int64_t Drain(Api& api) {
  v1::RegisterRequest registration;
  registration.set_max_leases(kBatch);
  std::string worker = api.Register(registration)->worker_id();
  int64_t done = 0;
  while (true) {
    v1::LeaseRequest lease;
    lease.set_worker_id(worker);
    lease.set_max_tasks(kBatch);
    auto tasks = api.Lease(lease);
    if (!tasks.ok() || tasks->tasks().empty()) break;
    v1::ReportResultsRequest report;
    report.set_worker_id(worker);
    for (const v1::ScanTask& task : tasks->tasks()) {
      v1::TaskResult* result = report.add_results();
      result->set_lease_id(task.lease_id());
      result->mutable_result()->set_verdict(v1::CLEAN);
      result->mutable_result()->set_fully_analysed(true);
    }
    done += tasks->tasks_size();
    if (!api.ReportResults(report).ok()) break;
  }
  return done;
}

void Submit(Coordinator& coordinator) {
  v1::SubmitScanRequest request;
  request.add_paths(Corpus());
  if (!coordinator.SubmitScan(request, ClientScope::LocalUser()).ok()) std::abort();
}

// The Coordinator itself behind the WorkerApi shape, no network.
struct DirectApi {
  Coordinator& c;
  absl::StatusOr<v1::RegisterResponse> Register(const v1::RegisterRequest& r) {
    return c.Register(r, kEmbeddedWorker);
  }
  absl::StatusOr<v1::LeaseResponse> Lease(const v1::LeaseRequest& r) {
    return c.Lease(r, kEmbeddedWorker);
  }
  absl::StatusOr<v1::ReportResultsResponse> ReportResults(const v1::ReportResultsRequest& r) {
    return c.ReportResults(r, kEmbeddedWorker);
  }
};

void BM_Dispatch_Direct(benchmark::State& state) {
  int64_t tasks = 0;
  for (auto _ : state) {
    state.PauseTiming();
    auto coordinator = Open(state.range(0) == 1);
    Submit(*coordinator);
    DirectApi api{*coordinator};
    state.ResumeTiming();
    tasks += Drain(api);
  }
  state.counters["tasks_per_s"] =
      benchmark::Counter(static_cast<double>(tasks), benchmark::Counter::kIsRate);
}
BENCHMARK(BM_Dispatch_Direct)
    ->Arg(0)
    ->Arg(1)
    ->ArgName("durable")
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();

void BM_Dispatch_Grpc(benchmark::State& state) {
  int64_t tasks = 0;
  for (auto _ : state) {
    state.PauseTiming();
    auto coordinator = Open(true);
    Submit(*coordinator);
    // Every call is authenticated, as on a real cluster: the token lookup
    // is part of the figure.
    auto tokens = TokenStore::Open(Corpus() + ".db");
    auto audit = AuditLog::Open("-");
    Authenticator auth(**tokens, **audit, coordinator->metrics(), false);
    ChannelSecurity security;
    security.insecure = true;
    security.token = (*tokens)->Create(Role::kWorker, "bench")->first;
    WorkerServiceImpl service(*coordinator, auth);
    grpc::ServerBuilder builder;
    int port = 0;
    builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port);
    builder.RegisterService(&service);
    auto server = builder.BuildAndStart();
    std::vector<std::unique_ptr<GrpcWorkerApi>> clients;
    for (int64_t i = 0; i < state.range(0); ++i)
      clients.push_back(
          std::make_unique<GrpcWorkerApi>("127.0.0.1:" + std::to_string(port), security));
    std::atomic<int64_t> drained{0};
    state.ResumeTiming();
    std::vector<std::thread> threads;
    for (auto& client : clients)
      threads.emplace_back([&, api = client.get()] { drained += Drain(*api); });
    for (std::thread& thread : threads) thread.join();
    tasks += drained;
    state.PauseTiming();
    server->Shutdown();
    state.ResumeTiming();
  }
  state.counters["tasks_per_s"] =
      benchmark::Counter(static_cast<double>(tasks), benchmark::Counter::kIsRate);
}
BENCHMARK(BM_Dispatch_Grpc)
    ->Arg(1)
    ->Arg(2)
    ->Arg(4)
    ->ArgName("clients")
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();

}  // namespace
}  // namespace gauntlet

BENCHMARK_MAIN();
