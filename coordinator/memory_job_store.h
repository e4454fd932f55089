// The job store of the CLI's embedded coordinator: plain containers, no
// SQL, results kept as the protos they arrived as. Nothing outlives the
// process, so transactions have nothing to roll back (a write here cannot
// fail half way) and attempt counts are not kept.
#ifndef GAUNTLET_COORDINATOR_MEMORY_JOB_STORE_H_
#define GAUNTLET_COORDINATOR_MEMORY_JOB_STORE_H_

#include <map>
#include <optional>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "coordinator/job_store.h"

namespace gauntlet {

class MemoryJobStore final : public JobStore {
 public:
  bool in_memory() const override { return true; }

  absl::Status Begin() override;
  absl::Status Commit() override;
  void Rollback() override;
  uint64_t SizeBytes() override { return 0; }

  absl::StatusOr<int64_t> InsertJob(const StoredJob& job,
                                    const std::vector<NewTaskRow>& tasks) override;
  absl::StatusOr<std::vector<StoredJob>> UnfinishedJobs() override;
  absl::StatusOr<std::vector<TaskTally>> TaskTallies(int64_t job_id) override;
  absl::StatusOr<std::optional<std::pair<int64_t, std::string>>> FindJob(
      const std::string& public_id) override;
  absl::StatusOr<StoredJob> Job(int64_t job_id) override;
  absl::StatusOr<v1::Job> Summary(int64_t job_id) override;
  absl::StatusOr<std::vector<int64_t>> NewestJobs(const std::string& tenant,
                                                  int64_t limit) override;
  absl::Status CancelJob(int64_t job_id, double finished, const std::string& eval_verdict,
                         double eval_score) override;
  absl::Status FinishJob(int64_t job_id, double finished, const std::string& eval_verdict,
                         double eval_score) override;

  absl::StatusOr<std::vector<QueuedTask>> QueuedTasks(int64_t job_id, int64_t after_task,
                                                      int64_t limit) override;
  absl::Status CountAttempts(const std::vector<int64_t>& task_ids) override;
  absl::Status SetAttempts(int64_t task_id, uint32_t attempts) override;
  absl::StatusOr<bool> CompleteTask(int64_t task_id, uint64_t seq,
                                    const v1::FileResult& result) override;
  absl::StatusOr<bool> DeadLetterTask(int64_t task_id, uint64_t seq,
                                      const v1::FileResult& result) override;
  absl::StatusOr<bool> CompleteEvalBatch(int64_t task_id, uint64_t seq,
                                         const v1::EvalBatchResult& batch) override;
  absl::StatusOr<v1::WatchJobEvent> ResultsAfter(int64_t job_id, uint64_t after_seq,
                                                 int64_t limit) override;
  absl::StatusOr<std::vector<v1::FileResult>> FileResults(int64_t job_id) override;
  absl::StatusOr<std::vector<StoredEvalBatch>> EvalBatches(int64_t job_id) override;
  absl::StatusOr<std::vector<QueuedTaskInputs>> QueuedTaskInputsOfUnfinishedJobs() override;

  absl::StatusOr<std::optional<v1::FileResult>> CachedVerdict(const std::string& key) override;
  absl::Status CacheVerdict(const std::string& key, const v1::FileResult& result,
                            const std::string& writer, double created) override;

  absl::StatusOr<bool> OwnsBlob(const std::string& tenant, const BlobDigest& blob) override;
  absl::StatusOr<uint64_t> TenantBlobBytes(const std::string& tenant) override;
  absl::Status AddBlobOwner(const std::string& tenant, const BlobDigest& blob,
                            double uploaded) override;
  absl::StatusOr<std::vector<std::pair<std::string, BlobDigest>>> BlobOwnersBefore(
      double cutoff, int64_t limit) override;
  absl::StatusOr<bool> DropBlobOwner(const std::string& tenant, const BlobDigest& blob) override;

  absl::StatusOr<RetentionCounts> DeleteBefore(double cutoff, int64_t job_limit,
                                               int64_t cache_limit) override;

 private:
  struct Task {
    int64_t id = 0;
    NewTaskRow row;
    TaskState state = TaskState::kQueued;
    uint64_t done_seq = 0;
    std::optional<v1::FileResult> result;
    std::optional<v1::EvalBatchResult> batch;
  };
  struct StoredJobTasks {
    StoredJob job;
    std::string eval_verdict;
    double eval_score = 0;
    std::vector<Task> tasks;              // By id.
    std::map<uint64_t, size_t> finished;  // done_seq -> index into tasks.
  };
  // Ends a job (and, cancelled, its queued tasks).
  absl::Status Conclude(int64_t job_id, v1::JobState state, double finished,
                        const std::string& eval_verdict, double eval_score);
  // A task and its job; nulls when it is gone.
  std::pair<StoredJobTasks*, Task*> FindTask(int64_t task_id);
  absl::StatusOr<bool> Finish(int64_t task_id, uint64_t seq, TaskState state,
                              std::optional<v1::FileResult> result,
                              std::optional<v1::EvalBatchResult> batch);

  std::map<int64_t, StoredJobTasks> jobs_;
  std::map<std::string, int64_t> public_ids_;
  std::map<int64_t, int64_t> task_jobs_;  // Task id -> job id.
  int64_t next_job_ = 0, next_task_ = 0;
  std::map<std::string, std::pair<v1::FileResult, double>> cache_;  // Verdict, when written.
  // (tenant, (sha256, size)) -> when uploaded.
  std::map<std::pair<std::string, std::pair<std::string, int64_t>>, double> blob_owners_;
};

}  // namespace gauntlet

#endif  // GAUNTLET_COORDINATOR_MEMORY_JOB_STORE_H_
