// The coordinator's state: jobs, their tasks and stored results, the
// verdict cache and who uploaded which blob, behind one interface with two
// implementations: SqliteJobStore (sqlite_job_store.h; durable, every SQL
// statement of the coordinator) and MemoryJobStore (memory_job_store.h; the
// CLI's embedded coordinator, where per-file SQL rows and proto round trips
// were most of a small file's cost). The rest of the coordinator speaks in
// rows and protos. States are named (TaskState, v1::JobState).
//
// Not thread-safe: the coordinator calls it under its own lock.
#ifndef GAUNTLET_COORDINATOR_JOB_STORE_H_
#define GAUNTLET_COORDINATOR_JOB_STORE_H_

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "common/digest.h"
#include "gauntlet/v1/gauntlet.pb.h"

namespace gauntlet {

// A task row's state. A queued task may be leased (leases live in memory
// only: a restart queues their tasks again).
enum class TaskState : int64_t { kQueued = 0, kDone = 1, kDeadLettered = 2, kCancelled = 3 };

// A jobs row.
struct StoredJob {
  int64_t id = 0;  // The row id; clients see `public_id`.
  std::string public_id, tenant;
  v1::JobState state = v1::QUEUED;
  v1::JobKind kind = v1::SCAN;
  double created = 0, finished = 0;
  double deadline = 0;  // Wall-clock seconds past which it is cancelled; 0: none.
  std::string policy_toml, policy_source, publisher;
  std::vector<std::string> directories;  // Directory arguments, for model aggregation.
  uint64_t total_tasks = 0;
  std::string eval_spec;  // Eval jobs: the serialized v1::SubmitEvalRequest.
};

// A task as submitted: a path, or a blob, or an eval batch (`payload`, the
// serialized v1::EvalTask).
struct NewTaskRow {
  std::string display, path;
  BlobDigest blob;
  std::string payload;
};

// A queued task, loaded to be leased.
struct QueuedTask {
  int64_t id = 0;
  std::string display, path;
  BlobDigest blob;
  uint32_t attempts = 0;
  std::string payload;
};

// How many of a job's tasks are in one (state, verdict, cached) group, and
// the worst severity of their findings.
struct TaskTally {
  TaskState state = TaskState::kQueued;
  v1::Verdict verdict = v1::VERDICT_UNSPECIFIED;
  bool cached = false;
  uint64_t count = 0;
  v1::Severity max_severity = v1::SEVERITY_UNSPECIFIED;
};

// What a queued task of an unfinished job may still fetch: its blob, or an
// eval batch's payload naming uploaded model files.
struct QueuedTaskInputs {
  BlobDigest blob;
  v1::JobKind kind = v1::SCAN;
  std::string payload;
};

// A finished task of an eval job: its typed outcomes, or why it was
// dead-lettered.
struct StoredEvalBatch {
  std::string display;  // "prompts 1-16"
  std::optional<v1::EvalBatchResult> result;
  std::string error;  // When dead-lettered (no result).
};

struct RetentionCounts {
  int64_t jobs = 0, tasks = 0, cache = 0;
};

class JobStore {
 public:
  struct Options {
    std::string path = ":memory:";
    // Start on a store that exists but is empty; off, that is refused.
    bool initialize = false;
    // A hard cap on the store's size; 0: the disk is the limit.
    uint64_t max_bytes = 0;
  };
  // ":memory:" is a MemoryJobStore (the CLI's embedded coordinator: no SQL,
  // results kept as protos); a file is a SqliteJobStore.
  static absl::StatusOr<std::unique_ptr<JobStore>> Open(const Options& options);
  virtual ~JobStore() = default;

  // A private in-memory store: nothing outlives the process, so what only a
  // restart would read (attempt counts) need not be written.
  virtual bool in_memory() const = 0;

  // The coordinator groups the writes of one call in a transaction.
  virtual absl::Status Begin() = 0;
  virtual absl::Status Commit() = 0;
  virtual void Rollback() = 0;
  // Bytes the store takes on disk (database and write-ahead log); 0 in memory.
  virtual uint64_t SizeBytes() = 0;

  // ---- Jobs.
  // Inserts a job and its tasks in one transaction; returns the row id.
  virtual absl::StatusOr<int64_t> InsertJob(const StoredJob& job,
                                            const std::vector<NewTaskRow>& tasks) = 0;
  // Queued and running jobs, oldest first.
  virtual absl::StatusOr<std::vector<StoredJob>> UnfinishedJobs() = 0;
  virtual absl::StatusOr<std::vector<TaskTally>> TaskTallies(int64_t job_id) = 0;
  // The row id and tenant of a public job id; nullopt if there is none.
  virtual absl::StatusOr<std::optional<std::pair<int64_t, std::string>>> FindJob(
      const std::string& public_id) = 0;
  // NOT_FOUND when the job was deleted.
  virtual absl::StatusOr<StoredJob> Job(int64_t job_id) = 0;
  // A job's summary counted from its task rows: the flat counts, and the
  // worst severity in the scan summary (a scan job's).
  virtual absl::StatusOr<v1::Job> Summary(int64_t job_id) = 0;
  // Newest first; an empty tenant means every tenant.
  virtual absl::StatusOr<std::vector<int64_t>> NewestJobs(const std::string& tenant,
                                                          int64_t limit) = 0;
  // Marks the job cancelled and its queued tasks too, in one transaction.
  virtual absl::Status CancelJob(int64_t job_id, double finished, const std::string& eval_verdict,
                                 double eval_score) = 0;
  // Within the caller's transaction.
  virtual absl::Status FinishJob(int64_t job_id, double finished, const std::string& eval_verdict,
                                 double eval_score) = 0;

  // ---- Tasks.
  // Up to `limit` queued tasks of a job with ids above `after_task`.
  virtual absl::StatusOr<std::vector<QueuedTask>> QueuedTasks(int64_t job_id, int64_t after_task,
                                                              int64_t limit) = 0;
  // One more attempt on each task, in one transaction.
  virtual absl::Status CountAttempts(const std::vector<int64_t>& task_ids) = 0;
  virtual absl::Status SetAttempts(int64_t task_id, uint32_t attempts) = 0;
  // Each records a queued task as finished, `seq` being its place in the
  // job's order of completion. False when the task was not queued any more
  // (a result already applied): callers apply a result once.
  virtual absl::StatusOr<bool> CompleteTask(int64_t task_id, uint64_t seq,
                                            const v1::FileResult& result) = 0;
  virtual absl::StatusOr<bool> DeadLetterTask(int64_t task_id, uint64_t seq,
                                              const v1::FileResult& result) = 0;
  virtual absl::StatusOr<bool> CompleteEvalBatch(int64_t task_id, uint64_t seq,
                                                 const v1::EvalBatchResult& batch) = 0;
  // What finished after the first `after_seq`, in completion order: file
  // results, or an eval job's batches as progress (the event's job is unset).
  virtual absl::StatusOr<v1::WatchJobEvent> ResultsAfter(int64_t job_id, uint64_t after_seq,
                                                         int64_t limit) = 0;
  // Every finished task's result of a scan job, by display name.
  virtual absl::StatusOr<std::vector<v1::FileResult>> FileResults(int64_t job_id) = 0;
  // Every finished batch of an eval job, in task order.
  virtual absl::StatusOr<std::vector<StoredEvalBatch>> EvalBatches(int64_t job_id) = 0;
  virtual absl::StatusOr<std::vector<QueuedTaskInputs>> QueuedTaskInputsOfUnfinishedJobs() = 0;

  // ---- The verdict cache.
  virtual absl::StatusOr<std::optional<v1::FileResult>> CachedVerdict(const std::string& key) = 0;
  // Within the caller's transaction. `writer` is the worker identity.
  virtual absl::Status CacheVerdict(const std::string& key, const v1::FileResult& result,
                                    const std::string& writer, double created) = 0;

  // ---- Uploaded blobs' owners.
  virtual absl::StatusOr<bool> OwnsBlob(const std::string& tenant, const BlobDigest& blob) = 0;
  virtual absl::StatusOr<uint64_t> TenantBlobBytes(const std::string& tenant) = 0;
  virtual absl::Status AddBlobOwner(const std::string& tenant, const BlobDigest& blob,
                                    double uploaded) = 0;
  virtual absl::StatusOr<std::vector<std::pair<std::string, BlobDigest>>> BlobOwnersBefore(
      double cutoff, int64_t limit) = 0;
  // Returns whether another tenant still owns the same bytes.
  virtual absl::StatusOr<bool> DropBlobOwner(const std::string& tenant, const BlobDigest& blob) = 0;

  // ---- Retention: deletes up to `job_limit` jobs finished before `cutoff`
  // with their tasks, and up to `cache_limit` cache entries written before
  // it, in one transaction.
  virtual absl::StatusOr<RetentionCounts> DeleteBefore(double cutoff, int64_t job_limit,
                                                       int64_t cache_limit) = 0;
};

}  // namespace gauntlet

#endif  // GAUNTLET_COORDINATOR_JOB_STORE_H_
