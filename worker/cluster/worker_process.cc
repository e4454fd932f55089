#include "worker/cluster/worker_process.h"

#include <signal.h>
#include <unistd.h>

#include <iostream>
#include <thread>

#include "common/command_line.h"
#include "common/log.h"
#include "common/metrics_endpoint.h"
#include "common/shutdown_signals.h"
#include "common/strings.h"
#include "worker/cluster/grpc_worker_api.h"
#include "worker/cluster/worker.h"

namespace gauntlet {
namespace {

constexpr char kDescription[] =
    "Scans files for a Gauntlet coordinator. Each file is parsed in a fresh gauntlet-scan-sandbox "
    "process (rlimits, no new privileges, seccomp); a crash or hang kills only that process and "
    "the file gets an ERROR verdict.";

constexpr char kFooter[] = R"(
SIGTERM or SIGINT: drain (take no new leases, keep heartbeating, finish or hand
back held files), then exit. A second signal exits at once.

A worker authenticates with a worker token (`gauntlet-coordinator tokens create
--role worker NAME`) or a client certificate signed by the coordinator's
--tls-client-ca; its verdicts and cache entries are recorded under that
identity.)";

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
  std::string coordinator, metrics_listen = "127.0.0.1:9465";
  WorkerOptions options;
  options.slots = std::max(1u, std::thread::hardware_concurrency());
  char host[256] = "worker";
  gethostname(host, sizeof host - 1);
  options.name = host;
  SandboxOptions sandbox;
  sandbox.binary = DefaultSandboxBinary();
  int64_t drain_timeout_ms = 60000, scan_timeout_ms = 0, memory_limit_mb = 0;
  int64_t eval_timeout_ms = 1800000;
  bool selftest = false;
  if (kind.slots) options.slots = kind.slots;
  if (kind.lease_batch) options.lease_batch = kind.lease_batch;
  auto security = ChannelSecurity::FromEnvironment();
  if (!security.ok()) {
    std::cerr << kind.binary << ": " << security.status().message() << "\n";
    return kUsageExitCode;
  }

  std::unique_ptr<CLI::App> owner =
      MakeApp(StrCat(kDescription, kind.description), std::string(kind.binary));
  CLI::App& app = *owner;
  app.add_option("--coordinator", coordinator, "The coordinator's gRPC address (required).")
      ->option_text("HOST:PORT")
      ->check(NonEmpty());
  app.add_option("--metrics-listen", metrics_listen,
                 StrCat("Prometheus /metrics (default ", metrics_listen,
                        "; port 0 picks one; none: no endpoint)."))
      ->option_text("HOST:PORT");
  app.add_option("--slots", options.slots,
                 StrCat("Tasks run at once (default: ",
                        kind.slots ? std::to_string(kind.slots) : "one per core", ")."))
      ->check(PositiveWholeNumber());
  app.add_option("--lease-batch", options.lease_batch,
                 StrCat("Leases each slot takes per request (default ", options.lease_batch, ")."))
      ->check(PositiveWholeNumber());
  app.add_option("--name", options.name, "Shown in the coordinator's logs (default: host name).")
      ->check(NonEmpty());
  app.add_option("--scan-timeout-ms", scan_timeout_ms,
                 "Wall-clock limit per file in the sandbox (default 120000).")
      ->check(PositiveWholeNumber());
  app.add_option("--memory-limit-mb", memory_limit_mb,
                 "Sandbox address space on top of the file size (default 2048).")
      ->check(PositiveWholeNumber());
  app.add_option("--sandbox-binary", sandbox.binary,
                 "gauntlet-scan-sandbox to run (default: beside this binary).")
      ->option_text("PATH");
  app.add_option("--drain-timeout-ms", drain_timeout_ms,
                 "On SIGTERM, how long to finish held files (default 60000).")
      ->check(PositiveWholeNumber());
  app.add_flag("--selftest", selftest,
               "Check the sandbox contains a forbidden system call, a crash, a hang and a memory "
               "bomb, then exit (0: all contained).");
  LogLevel log_level = LogLevel::kInfo;
  AddLogLevelFlag(app, log_level);
  if (kind.make_eval_runner)
    app.add_option("--eval-timeout-ms", eval_timeout_ms,
                   "Longest an A/B prompt batch may run; past it the batch goes back to the "
                   "queue and /healthz fails until the stuck slot frees (default 1800000).")
        ->check(PositiveWholeNumber());
  if (kind.add_flags) kind.add_flags(app);
  AddChannelFlags(app, *security);
  app.footer(kFooter);
  if (auto exit_code = ParseCommandLine(app, argc, argv)) return *exit_code;
  if (scan_timeout_ms) sandbox.timeout = std::chrono::milliseconds(scan_timeout_ms);
  if (memory_limit_mb) sandbox.memory_bytes = static_cast<uint64_t>(memory_limit_mb) << 20;
  auto UsageError = [&](std::string_view message) { return gauntlet::UsageError(app, message); };

  InstallShutdownSignals();
  StartLogging(std::string(kind.binary), log_level);
  if (access(sandbox.binary.c_str(), X_OK) != 0)
    return UsageError(StrCat("sandbox binary ", sandbox.binary, " is not executable"));
  if (selftest) return SelfTest(sandbox);
  if (coordinator.empty()) return UsageError("--coordinator HOST:PORT is required");
  options.scan_deadline = sandbox.timeout + std::chrono::seconds(30);
  if (kind.make_eval_runner) options.eval_deadline = std::chrono::milliseconds(eval_timeout_ms);
  if (auto status = security->Validate(); !status.ok())
    return UsageError(std::string(status.message()));
  if (security->token.empty() && security->cert_file.empty())
    return UsageError(
        "the coordinator needs credentials: a worker token (--token-file, GAUNTLET_TOKEN) or a "
        "client certificate (--tls-cert/--tls-key)");

  WorkerMetrics metrics;
  GrpcWorkerApi api(coordinator, *security);
  SandboxRunner runner(sandbox);
  std::unique_ptr<EvalRunner> eval_runner =
      kind.make_eval_runner ? kind.make_eval_runner() : nullptr;
  Worker worker(api, runner, options, &metrics, eval_runner.get());
  std::unique_ptr<MetricsEndpoint> endpoint;
  if (metrics_listen != "none") {
    // /healthz fails while a slot is wedged, so the kubelet restarts the pod.
    auto started = MetricsEndpoint::Start(metrics_listen, {metrics.registry()},
                                          [&worker] { return worker.Wedged(); });
    if (!started.ok()) {
      std::cerr << kind.binary << ": " << started.status().message() << "\n";
      return 1;
    }
    endpoint = std::move(*started);
    std::cout << "metrics on " << metrics_listen.substr(0, metrics_listen.rfind(':')) << ":"
              << endpoint->port() << std::endl;
  }
  Log(LogLevel::kInfo, "started",
      {{"version", GAUNTLET_VERSION},
       {"coordinator", coordinator},
       {"name", options.name},
       {"slots", static_cast<uint64_t>(options.slots)},
       {"lease_batch", static_cast<uint64_t>(options.lease_batch)},
       {"eval", eval_runner != nullptr},
       {"gpu", eval_runner != nullptr && eval_runner->gpu()},
       {"sandbox", sandbox.binary},
       {"scan_timeout_ms", static_cast<int64_t>(sandbox.timeout.count())},
       {"metrics", endpoint ? StrCat(metrics_listen.substr(0, metrics_listen.rfind(':')), ":",
                                     endpoint->port())
                            : "none"}});
  std::thread signal_thread([&] {
    int signal_number = WaitForShutdownSignal();
    Log(LogLevel::kInfo, "draining",
        {{"signal", static_cast<int64_t>(signal_number)}, {"drain_timeout_ms", drain_timeout_ms}});
    worker.Drain();
    // A second signal, or the drain deadline, ends it at once.
    WaitForShutdownSignal(std::chrono::milliseconds(drain_timeout_ms));
    worker.Stop();
  });
  signal_thread.detach();
  worker.Run();
  Log(LogLevel::kInfo, "stopped");
  return 0;
}

}  // namespace gauntlet
