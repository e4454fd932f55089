// A worker: registers with the coordinator; each of its `slots`
// executor threads pulls a small batch of leases, scans the files through a
// ScanRunner and reports the batch's results in one call, while one thread
// heartbeats every lease held. It re-registers with backoff whenever the coordinator goes
// away, and on Drain() takes no new work, keeps heartbeating while it
// finishes what it holds, and hands back whatever it has not started.
#ifndef GAUNTLET_WORKER_CLUSTER_WORKER_H_
#define GAUNTLET_WORKER_CLUSTER_WORKER_H_

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "worker/cluster/eval_runner.h"
#include "worker/cluster/scan_runner.h"
#include "worker/cluster/worker_api.h"
#include "worker/cluster/worker_metrics.h"

namespace gauntlet {

struct WorkerOptions {
  std::string name = "worker";
  uint32_t slots = 2;                      // Files scanned at once.
  uint32_t lease_batch = 8;                // Leases each slot takes per request.
  std::string scratch_directory = "/tmp";  // Fetched blobs, deleted after the scan.
  // Longest idle wait between lease polls.
  std::chrono::milliseconds max_poll_interval{200};
  // A scan still running after this long (a read blocked on a hung mount,
  // where no sandbox timeout can reach) is no longer heartbeated, nor are
  // the leases queued behind it on that slot: the coordinator expires them
  // and retries elsewhere, then dead-letters the file as ERROR. 0: no limit.
  std::chrono::milliseconds scan_deadline{0};
  // The same for an A/B eval batch (a GPU or a model load that never
  // returns): past it the batch is no longer heartbeated and the worker
  // reports itself wedged. 0: no limit.
  std::chrono::milliseconds eval_deadline{0};
};

class Worker {
 public:
  // `metrics` may be null; so may `eval`, for a worker that only scans.
  Worker(WorkerApi& api, ScanRunner& runner, WorkerOptions options, WorkerMetrics* metrics,
         EvalRunner* eval = nullptr);
  ~Worker();

  // Serves until Stop(), or until a drain finishes. Call once.
  void Run();
  // Safe from any thread (not from a signal handler: set a flag there).
  void Drain();
  void Stop();
  bool draining() const { return draining_; }
  // Empty while every slot makes progress; else which slot is stuck and for
  // how long: a scan running past WorkerOptions::scan_deadline (a read
  // blocked on a hung mount) or an eval batch past eval_deadline, which
  // only a restart frees.
  std::string Wedged();

 private:
  void Execute();
  void HeartbeatLoop();
  // The task's result, or nothing when the cache answered or the lease died.
  // `reading_starts` is called when the file is about to be opened.
  std::optional<v1::TaskResult> Process(const v1::ScanTask& task,
                                        const std::function<void()>& reading_starts);
  // Process's work on the opened file: the cache, then the runner.
  std::optional<ScanOutcome> ScanOpened(const v1::ScanTask& task, int fd,
                                        const std::string& local_path, v1::Digest& digest);
  // Marks the slot's leases from `next` on as waiting on a read that starts
  // now (`reading`), or as not reading yet.
  void MarkReading(const std::vector<std::string>& batch, size_t next, bool reading);
  v1::TaskResult Evaluate(const v1::ScanTask& task);
  // Registers unless already registered; false while the coordinator is away.
  bool EnsureRegistered();
  std::string WorkerId();
  void Report(std::vector<v1::TaskResult> results);
  void Forget(const std::string& lease_id);
  void Sleep(std::chrono::milliseconds duration);

  WorkerApi& api_;
  ScanRunner& runner_;
  EvalRunner* eval_;
  WorkerOptions options_;
  WorkerMetrics* metrics_;

  std::mutex mu_;
  std::condition_variable wake_;
  std::set<std::string> held_;  // Lease ids held by any slot.
  std::set<std::string> lost_;  // Leases the coordinator no longer honours.
  // When the work each held lease waits on (its own, or one before it on
  // the same slot) started, and how long it may take; see
  // WorkerOptions::scan_deadline and eval_deadline.
  struct Busy {
    std::chrono::steady_clock::time_point since;
    std::chrono::milliseconds deadline;
  };
  std::map<std::string, Busy> busy_since_;
  std::string worker_id_;     // Empty while unregistered.
  bool registering_ = false;  // A slot is registering; the others wait.
  std::chrono::milliseconds register_backoff_{100};
  std::chrono::steady_clock::time_point next_register_attempt_{};
  uint32_t executors_left_ = 0;
  std::chrono::milliseconds heartbeat_interval_{10000};
  std::atomic<bool> draining_{false}, stopping_{false};
  std::vector<std::thread> threads_;
};

}  // namespace gauntlet

#endif  // GAUNTLET_WORKER_CLUSTER_WORKER_H_
