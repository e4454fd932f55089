// gauntlet-worker: a scan worker for a Gauntlet cluster. Pulls leases from
// the coordinator, scans each file in a fresh sandboxed child process, and
// serves its own Prometheus metrics.
#include <prometheus/exposer.h>
#include <signal.h>
#include <unistd.h>

#include <iostream>
#include <thread>

#include "common/arg_reader.h"
#include "common/strings.h"
#include "worker/cluster/grpc_worker_api.h"
#include "worker/cluster/worker.h"
#ifdef GAUNTLET_EVAL_WORKER
#include "worker/eval/eval_task_runner.h"
#endif

namespace gauntlet {
namespace {

constexpr std::string_view kUsage = R"(usage: gauntlet-worker --coordinator HOST:PORT [options]

Scans files for a Gauntlet coordinator. Each file is parsed in a fresh
gauntlet-scan-sandbox process (rlimits, no new privileges, seccomp); a crash
or hang kills only that process and the file gets an ERROR verdict.

  --coordinator HOST:PORT     The coordinator's gRPC address (required).
  --metrics-listen HOST:PORT  Prometheus /metrics (default 127.0.0.1:9465; port 0 picks one;
                              none: no endpoint).
  --slots N                   Files scanned at once (default: one per core).
  --lease-batch N             Leases each slot takes per request (default 8).
  --name NAME                 Shown in the coordinator's logs (default: host name).
  --scan-timeout-ms N         Wall-clock limit per file in the sandbox (default 120000).
  --memory-limit-mb N         Sandbox address space on top of the file size (default 2048).
  --sandbox-binary PATH       gauntlet-scan-sandbox to run (default: beside this binary).
  --drain-timeout-ms N        On SIGTERM, how long to finish held files (default 60000).
  --selftest                  Check the sandbox contains a forbidden system call, a
                              crash, a hang and a memory bomb, then exit (0: all contained).
  --help                      This text.

SIGTERM or SIGINT: drain (take no new leases, keep heartbeating, finish or hand
back held files), then exit. A second signal exits at once.

Connection to the coordinator (TLS unless --insecure):
)";

constexpr std::string_view kAuthUsage = R"(
A worker authenticates with a worker token (`gauntlet-coordinator tokens create
--role worker NAME`) or a client certificate signed by the coordinator's
--tls-client-ca; its verdicts and cache entries are recorded under that
identity.
)";

#ifdef GAUNTLET_EVAL_WORKER
// gauntlet-eval-worker: the same worker, linked with libtorch, that also
// takes A/B eval tasks (one prompt batch at a time, models cached by digest).
constexpr std::string_view kEvalUsage = R"(
gauntlet-eval-worker also runs A/B eval tasks (it advertises the eval
capability, and gpu when CUDA is in use); its defaults are --slots 1 and
--lease-batch 1, so a job's prompt batches spread over eval workers.
  --device auto|cpu|cuda[:N]  Where models run (default auto: CUDA when present).
)";
#endif

int UsageError(const std::string& message) {
  std::cerr << "gauntlet-worker: " << message << "\n(see --help)\n";
  return 2;
}

// Each probe must end in its own contained verdict, never a result.
int SelfTest(SandboxOptions sandbox) {
  sandbox.timeout = std::chrono::milliseconds(2000);
  sandbox.memory_bytes = 256ull << 20;
  SandboxRunner runner(sandbox);
  struct Expectation {
    uint32_t probe;
    const char* what;
    const char* killed;
  } expectations[] = {{1, "forbidden system call (socket)", "violation"},
                      {2, "parser crash (SIGSEGV)", "crash"},
                      {3, "parser hang", "timeout"},
                      {4, "memory bomb (64 GiB)", "memory"},
                      {5, "forged report on inherited stdout/stderr", "violation"},
                      {6, "stat/readlink of paths by name", "violation"},
                      {7, "executable memory mapping", "violation"}};
  bool all = true;
  for (const Expectation& e : expectations) {
    ScanOutcome outcome = runner.Probe(e.probe, "/proc/self/exe");
    bool contained = outcome.killed == e.killed;
    all &= contained;
    std::cout << (contained ? "contained  " : "NOT CONTAINED  ") << e.what << ": "
              << (outcome.result.findings().empty() ? std::string("no finding")
                                                    : outcome.result.findings(0).rule_id())
              << "\n";
  }
  return all ? 0 : 1;
}

int Run(int argc, char** argv) {
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  signal(SIGPIPE, SIG_IGN);

  std::string coordinator, metrics_listen = "127.0.0.1:9465";
#ifdef GAUNTLET_EVAL_WORKER
  // civetweb cannot start its server in a process linked with Debian's
  // libtorch (mg_start fails right after listen()); the coordinator exports
  // the eval metrics (tasks, tokens, tokens/s, verdicts) instead.
  metrics_listen = "none";
#endif
  WorkerOptions options;
  options.slots = std::max(1u, std::thread::hardware_concurrency());
  char host[256] = "worker";
  gethostname(host, sizeof host - 1);
  options.name = host;
  SandboxOptions sandbox;
  sandbox.binary = DefaultSandboxBinary();
  int64_t drain_timeout_ms = 60000;
  bool selftest = false;
#ifdef GAUNTLET_EVAL_WORKER
  options.slots = 1;
  options.lease_batch = 1;
  torch::Device device = *eval::ResolveDevice("auto");
#endif
  auto security = ChannelSecurity::FromEnvironment();
  if (!security.ok()) return UsageError(std::string(security.status().message()));
  ArgReader args({argv + 1, argv + argc});
  while (args.Next()) {
    const std::string& arg = args.arg();
    int64_t n = 0;
    if (auto channel_flag = ReadChannelFlag(args, *security); !channel_flag.ok()) {
      return UsageError(std::string(channel_flag.status().message()));
    } else if (*channel_flag) {
      continue;
    } else if (arg == "--help" || arg == "-h") {
      std::cout << kUsage << kChannelFlagsHelp << kAuthUsage;
#ifdef GAUNTLET_EVAL_WORKER
      std::cout << kEvalUsage;
#endif
      return 0;
    } else if (arg == "--coordinator") {
      if (!args.Value(coordinator)) return UsageError("--coordinator needs HOST:PORT");
    } else if (arg == "--metrics-listen") {
      if (!args.Value(metrics_listen)) return UsageError("--metrics-listen needs HOST:PORT");
    } else if (arg == "--slots") {
      if (!args.PositiveNumber(n)) return UsageError("--slots needs a positive number");
      options.slots = static_cast<uint32_t>(n);
    } else if (arg == "--lease-batch") {
      if (!args.PositiveNumber(n)) return UsageError("--lease-batch needs a positive number");
      options.lease_batch = static_cast<uint32_t>(n);
    } else if (arg == "--name") {
      if (!args.Value(options.name)) return UsageError("--name needs a name");
    } else if (arg == "--scan-timeout-ms") {
      if (!args.PositiveNumber(n)) return UsageError("--scan-timeout-ms needs a positive number");
      sandbox.timeout = std::chrono::milliseconds(n);
    } else if (arg == "--memory-limit-mb") {
      if (!args.PositiveNumber(n)) return UsageError("--memory-limit-mb needs a positive number");
      sandbox.memory_bytes = static_cast<uint64_t>(n) << 20;
    } else if (arg == "--sandbox-binary") {
      if (!args.Value(sandbox.binary)) return UsageError("--sandbox-binary needs a path");
    } else if (arg == "--selftest") {
      selftest = true;
    } else if (arg == "--drain-timeout-ms") {
      if (!args.PositiveNumber(drain_timeout_ms))
        return UsageError("--drain-timeout-ms needs a positive number");
#ifdef GAUNTLET_EVAL_WORKER
    } else if (arg == "--device") {
      std::string name;
      auto resolved = args.Value(name) ? eval::ResolveDevice(name)
                                       : absl::InvalidArgumentError("--device needs a device");
      if (!resolved.ok()) return UsageError(std::string(resolved.status().message()));
      device = *resolved;
#endif
    } else {
      return UsageError(StrCat("unknown argument '", arg, "'"));
    }
  }
  if (access(sandbox.binary.c_str(), X_OK) != 0)
    return UsageError(StrCat("sandbox binary ", sandbox.binary, " is not executable"));
  if (selftest) return SelfTest(sandbox);
  if (coordinator.empty()) return UsageError("--coordinator HOST:PORT is required");
  options.scan_deadline = sandbox.timeout + std::chrono::seconds(30);
  if (auto status = security->Validate(); !status.ok())
    return UsageError(std::string(status.message()));
  if (security->token.empty() && security->cert_file.empty())
    return UsageError(
        "the coordinator needs credentials: a worker token (--token-file, GAUNTLET_TOKEN) or a "
        "client certificate (--tls-cert/--tls-key)");

  WorkerMetrics metrics;
  std::unique_ptr<prometheus::Exposer> exposer;
  if (metrics_listen != "none") {
    try {
      exposer = std::make_unique<prometheus::Exposer>(metrics_listen);
    } catch (const std::exception& e) {
      std::cerr << "gauntlet-worker: cannot serve metrics on " << metrics_listen << ": " << e.what()
                << "\n";
      return 1;
    }
    exposer->RegisterCollectable(metrics.registry());
    auto ports = exposer->GetListeningPorts();
    std::cout << "metrics on " << metrics_listen.substr(0, metrics_listen.rfind(':')) << ":"
              << (ports.empty() ? 0 : ports.front()) << std::endl;
  }

  GrpcWorkerApi api(coordinator, *security);
  SandboxRunner runner(sandbox);
#ifdef GAUNTLET_EVAL_WORKER
  eval::EvalTaskRunner eval_runner(device, "/tmp");
  std::cout << "eval on " << device.str() << std::endl;
  Worker worker(api, runner, options, &metrics, &eval_runner);
#else
  Worker worker(api, runner, options, &metrics);
#endif
  std::thread signal_thread([&] {
    int signal_number = 0;
    sigwait(&signals, &signal_number);
    std::cerr << "gauntlet-worker: draining\n";
    worker.Drain();
    // A second signal, or the drain deadline, ends it at once.
    timespec timeout{drain_timeout_ms / 1000, (drain_timeout_ms % 1000) * 1000000};
    if (sigtimedwait(&signals, nullptr, &timeout) >= 0 || errno == EAGAIN) worker.Stop();
  });
  signal_thread.detach();
  worker.Run();
  std::cerr << "gauntlet-worker: stopped\n";
  return 0;
}

}  // namespace
}  // namespace gauntlet

int main(int argc, char** argv) { return gauntlet::Run(argc, argv); }
