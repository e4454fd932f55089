// The process around a cluster worker: flags, credentials, metrics endpoint,
// the signal-driven drain and the sandbox self-test. gauntlet-worker runs it
// as it is; gauntlet-eval-worker (worker/eval) adds its flags and its eval
// runner through WorkerProcessKind, so neither main needs the other's code.
#ifndef GAUNTLET_WORKER_CLUSTER_WORKER_PROCESS_H_
#define GAUNTLET_WORKER_CLUSTER_WORKER_PROCESS_H_

#include <functional>
#include <memory>
#include <string_view>

#include "absl/status/status.h"
#include "worker/cluster/eval_runner.h"

namespace CLI {
class App;
}

namespace gauntlet {

struct WorkerProcessKind {
  std::string_view binary = "gauntlet-worker";  // In messages.
  std::string_view description;                 // Added to --help's.
  uint32_t slots = 0;                           // Default --slots; 0: one per core.
  uint32_t lease_batch = 0;                     // Default --lease-batch; 0: the worker's.
  // Declares this kind's own flags.
  std::function<void(CLI::App& app)> add_flags;
  // The eval runner, made once the flags are read; null: a scan-only worker.
  std::function<std::unique_ptr<EvalRunner>()> make_eval_runner;
};

// Runs a worker until drained or stopped; returns the exit code.
int RunWorkerProcess(int argc, char** argv, const WorkerProcessKind& kind);

}  // namespace gauntlet

#endif  // GAUNTLET_WORKER_CLUSTER_WORKER_PROCESS_H_
