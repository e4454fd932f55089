#include "worker/cluster/worker_process.h"

#include <prometheus/exposer.h>
#include <signal.h>
#include <unistd.h>

#include <iostream>
#include <thread>

#include "common/arg_reader.h"
#include "common/strings.h"
#include "worker/cluster/grpc_worker_api.h"
#include "worker/cluster/worker.h"

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

int ReportUsageError(const WorkerProcessKind& kind, const std::string& message) {
  std::cerr << kind.binary << ": " << message << "\n(see --help)\n";
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

}  // namespace

int RunWorkerProcess(int argc, char** argv, const WorkerProcessKind& kind) {
  auto UsageError = [&](const std::string& message) { return ReportUsageError(kind, message); };
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  signal(SIGPIPE, SIG_IGN);

  std::string coordinator, metrics_listen = "127.0.0.1:9465";
  if (!kind.serves_metrics) metrics_listen = "none";
  WorkerOptions options;
  options.slots = std::max(1u, std::thread::hardware_concurrency());
  char host[256] = "worker";
  gethostname(host, sizeof host - 1);
  options.name = host;
  SandboxOptions sandbox;
  sandbox.binary = DefaultSandboxBinary();
  int64_t drain_timeout_ms = 60000;
  bool selftest = false;
  if (kind.slots) options.slots = kind.slots;
  if (kind.lease_batch) options.lease_batch = kind.lease_batch;
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
      std::cout << kind.extra_usage;
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
    } else if (auto extra = kind.read_flag ? kind.read_flag(args) : std::nullopt; extra) {
      if (!extra->ok()) return UsageError(std::string(extra->message()));
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
      std::cerr << kind.binary << ": cannot serve metrics on " << metrics_listen << ": " << e.what()
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
  std::unique_ptr<EvalRunner> eval_runner =
      kind.make_eval_runner ? kind.make_eval_runner() : nullptr;
  Worker worker(api, runner, options, &metrics, eval_runner.get());
  std::thread signal_thread([&] {
    int signal_number = 0;
    sigwait(&signals, &signal_number);
    std::cerr << kind.binary << ": draining\n";
    worker.Drain();
    // A second signal, or the drain deadline, ends it at once.
    timespec timeout{drain_timeout_ms / 1000, (drain_timeout_ms % 1000) * 1000000};
    if (sigtimedwait(&signals, nullptr, &timeout) >= 0 || errno == EAGAIN) worker.Stop();
  });
  signal_thread.detach();
  worker.Run();
  std::cerr << kind.binary << ": stopped\n";
  return 0;
}

}  // namespace gauntlet
