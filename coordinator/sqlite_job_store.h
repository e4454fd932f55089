// The durable job store: SQLite in WAL mode, every SQL statement of the
// coordinator. Opening creates or migrates the tables (store_migrations.h)
// and refuses a store that lost its contents (an empty file, a WAL without
// its database).
#ifndef GAUNTLET_COORDINATOR_SQLITE_JOB_STORE_H_
#define GAUNTLET_COORDINATOR_SQLITE_JOB_STORE_H_

#include <memory>
#include <string>

#include "coordinator/job_store.h"
#include "coordinator/sqlite.h"

namespace gauntlet {

class SqliteJobStore final : public JobStore {
 public:
  static absl::StatusOr<std::unique_ptr<SqliteJobStore>> Open(const Options& options);
  // Opens the store at `path` itself (the coordinator need not run).
  static absl::StatusOr<int64_t> DropCacheEntries(const std::string& path,
                                                  const std::string& writer);

  bool in_memory() const override { return false; }

  absl::Status Begin() override;
  absl::Status Commit() override;
  void Rollback() override;
  uint64_t SizeBytes() override;

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
  SqliteJobStore(std::unique_ptr<Sqlite> db, std::string path)
      : db_(std::move(db)), path_(std::move(path)) {}
  absl::Status CreateTables();
  // The result of an UPDATE of one task: whether it changed a row.
  absl::StatusOr<bool> UpdatedOne(absl::Status status);

  std::unique_ptr<Sqlite> db_;
  std::string path_;
};

}  // namespace gauntlet

#endif  // GAUNTLET_COORDINATOR_SQLITE_JOB_STORE_H_
