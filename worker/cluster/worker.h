// A scan worker: registers with the coordinator, pulls at most `slots`
// leases, heartbeats them, scans each file through a ScanRunner and reports
// the result. It re-registers with backoff whenever the coordinator goes
// away, and on Drain() takes no new work, keeps heartbeating while it
// finishes what it holds, and hands back whatever it has not started.
#ifndef GAUNTLET_WORKER_CLUSTER_WORKER_H_
#define GAUNTLET_WORKER_CLUSTER_WORKER_H_

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "worker/cluster/scan_runner.h"
#include "worker/cluster/worker_api.h"
#include "worker/cluster/worker_metrics.h"

namespace gauntlet {

struct WorkerOptions {
  std::string name = "worker";
  uint32_t slots = 2;                      // Files scanned at once.
  std::string scratch_directory = "/tmp";  // Fetched blobs, deleted after the scan.
  // Longest idle wait between lease polls.
  std::chrono::milliseconds max_poll_interval{200};
};

class Worker {
 public:
  // `metrics` may be null.
  Worker(WorkerApi& api, ScanRunner& runner, WorkerOptions options, WorkerMetrics* metrics);
  ~Worker();

  // Serves until Stop(), or until a drain finishes. Call once.
  void Run();
  // Safe from any thread (not from a signal handler: set a flag there).
  void Drain();
  void Stop();
  bool draining() const { return draining_; }

 private:
  void Execute();
  void HeartbeatLoop();
  void Process(const v1::ScanTask& task);
  bool Register();
  void Report(v1::TaskResult result);
  void Forget(const std::string& lease_id);
  void Sleep(std::chrono::milliseconds duration);

  WorkerApi& api_;
  ScanRunner& runner_;
  WorkerOptions options_;
  WorkerMetrics* metrics_;

  std::mutex mu_;
  std::condition_variable wake_;
  std::deque<v1::ScanTask> queue_;
  std::set<std::string> held_;  // Lease ids queued or running.
  std::set<std::string> lost_;  // Leases the coordinator no longer honours.
  uint32_t running_ = 0;
  std::string worker_id_;
  std::chrono::milliseconds heartbeat_interval_{10000};
  std::atomic<bool> draining_{false}, stopping_{false};
  std::vector<std::thread> threads_;
};

}  // namespace gauntlet

#endif  // GAUNTLET_WORKER_CLUSTER_WORKER_H_
