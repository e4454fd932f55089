// Fair share: which queued task a worker gets next. Leases rotate over the
// tenants that have work, then over each tenant's jobs (deficit round-robin
// with a quantum of one task), so a tenant with one huge job and a tenant
// with many small ones each get their turn. Each tenant has a limit on
// unfinished tasks. Only a window of each job's queued tasks is held in
// memory (loaded from the JobStore as it drains), so a 100,000-file job
// costs a few rows at a time.
//
// Not thread-safe: the coordinator calls it under its own lock.
#ifndef GAUNTLET_COORDINATOR_SCHEDULER_H_
#define GAUNTLET_COORDINATOR_SCHEDULER_H_

#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <utility>

#include "absl/status/status.h"
#include "common/digest.h"
#include "coordinator/job_store.h"

namespace gauntlet {

// A task waiting for a worker, or leased to one.
struct PendingTask {
  int64_t task_id = 0;
  std::string display_path;
  std::string path;  // Empty for blobs and eval batches.
  BlobDigest blob;
  uint32_t attempts = 0;
  std::string last_error;
  double queued_at = 0;
  std::string payload;  // Eval tasks: the serialized v1::EvalTask.
};

class Scheduler {
 public:
  // `now` stamps when a task was queued (for the queue-wait metric).
  Scheduler(JobStore& store, std::function<double()> now) : store_(store), now_(std::move(now)) {}

  // RESOURCE_EXHAUSTED when `tasks` more would take the tenant past `limit`.
  absl::Status CheckRoom(const std::string& tenant, uint64_t tasks, uint64_t limit) const;
  // A job with `unfinished` tasks queued in the store.
  void AddJob(int64_t job_id, const std::string& tenant, v1::JobKind kind, uint64_t unfinished);
  // Forgets a job (finished or cancelled), with its unfinished tasks.
  void RemoveJob(int64_t job_id);
  // The next task for a worker that `takes` some kinds of job, with its
  // job; nullopt when no job it takes has a task queued.
  std::optional<std::pair<int64_t, PendingTask>> Next(
      const std::function<bool(v1::JobKind)>& takes);
  // A task back in its job's queue (a retry goes first).
  void Requeue(int64_t job_id, PendingTask task, bool front);
  // One of the job's tasks reached a final state.
  void TaskFinished(int64_t job_id);

  uint64_t TenantUnfinished(const std::string& tenant) const;
  // Unfinished tasks of every job of one kind (what workers scale on).
  uint64_t KindUnfinished(v1::JobKind kind) const;
  // Every tenant with work and its unfinished tasks.
  std::map<std::string, uint64_t> TenantDepths() const;
  // Forgets everything (the store is reloaded after a fault).
  void Clear();

 private:
  struct JobQueue {
    std::string tenant;
    v1::JobKind kind = v1::SCAN;
    int64_t load_cursor = 0;  // Highest task id loaded into `ready`.
    bool exhausted = false;   // Every queued task row has been loaded.
    std::deque<PendingTask> ready;
    uint64_t unfinished = 0;  // Queued, leased or merged.
  };
  struct TenantQueue {
    std::deque<int64_t> jobs;  // Jobs with unfinished tasks, in rotation order.
    uint64_t unfinished = 0;
  };

  std::optional<PendingTask> NextOfJob(int64_t job_id, JobQueue& job);
  void LoadMore(int64_t job_id, JobQueue& job);

  JobStore& store_;
  std::function<double()> now_;
  std::map<int64_t, JobQueue> jobs_;
  std::map<std::string, TenantQueue> tenants_;
  std::deque<std::string> rotation_;
  std::map<v1::JobKind, uint64_t> kind_unfinished_;
};

}  // namespace gauntlet

#endif  // GAUNTLET_COORDINATOR_SCHEDULER_H_
