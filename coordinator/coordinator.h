// The coordinator: turns scan jobs into one task per file, leases tasks to
// workers that pull them, and applies each result exactly once.
//
// - Leases have a TTL and are renewed by heartbeats; an expired lease (plus a
//   grace period) re-queues its task, and a late result from it is dropped
//   and counted. Attempts are capped, then the task is dead-lettered with
//   its last error and reported as ERROR (never clean).
// - Tenants share the cluster fairly (scheduler.h).
// - Repeated content is answered from the verdict cache, and identical
//   tasks in flight together are merged onto one scan (verdict_cache.h).
// - State is in SQLite (job_store.h): a restarted coordinator re-queues
//   whatever was not finished and loses no verdict.
// This class holds the leases and workers and applies results; what is
// particular to a job kind lives in its own file (eval_jobs.h).
//
// The gRPC services and the CLI's embedded mode are thin layers over this
// class: both speak in gauntlet.v1 messages. Thread-safe.
#ifndef GAUNTLET_COORDINATOR_COORDINATOR_H_
#define GAUNTLET_COORDINATOR_COORDINATOR_H_

#include <chrono>
#include <condition_variable>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "abtest/ab_report.h"
#include "common/policy.h"
#include "common/report.h"
#include "coordinator/content_store.h"
#include "coordinator/coordinator_metrics.h"
#include "coordinator/job_kind.h"
#include "coordinator/job_store.h"
#include "coordinator/scheduler.h"
#include "coordinator/verdict_cache.h"
#include "gauntlet/v1/gauntlet.pb.h"

namespace gauntlet {

// Whose jobs and blobs a client call may touch: one tenant's, or (an admin
// token, or the CLI's own embedded coordinator) every tenant's. The tenant
// comes from the caller's credential, never from a request field alone.
struct ClientScope {
  std::string tenant;
  bool every_tenant = false;

  // The CLI's embedded coordinator, which only its own user can reach.
  static ClientScope LocalUser() { return ClientScope{"default", true}; }
};

// The worker identity of the CLI's in-process workers.
inline constexpr char kEmbeddedWorker[] = "embedded";

struct CoordinatorOptions {
  std::string db_path = ":memory:";
  // Paths a job may name must resolve under one of these; empty allows any
  // path (the CLI's embedded coordinator, which runs as the user).
  std::vector<std::string> allow_roots;
  std::string blob_directory;  // Content store; empty disables uploads.
  std::chrono::milliseconds lease_ttl{30000};
  std::chrono::milliseconds lease_grace{2000};
  uint32_t max_attempts = 3;
  uint64_t tenant_queue_limit = 200000;
  bool verdict_cache = true;
  std::string cache_salt;  // Change it to forget every cached verdict.
  // Retention: finished jobs (with their results) and verdict cache entries
  // are deleted this long after they finished or were written, uploaded
  // blobs this long after upload unless an unfinished job still needs them.
  // 0 keeps them for ever. Swept every `retention_interval`, in batches.
  std::chrono::seconds job_retention{30 * 24 * 3600};
  std::chrono::seconds blob_retention{7 * 24 * 3600};
  std::chrono::milliseconds retention_interval{60000};
  // Start on a store that exists but is empty (see Open); off, that is refused.
  bool initialize_store = false;
  // A hard cap on the store's size (SQLite pages); 0: the disk is the limit.
  // Writes past it fail as a full disk would: UNAVAILABLE, nothing lost.
  uint64_t max_store_bytes = 0;
  uint64_t max_blob_bytes = 64ull << 30;      // One uploaded blob.
  uint64_t tenant_blob_quota = 256ull << 30;  // All of one tenant's uploaded blobs.
  // How many tenants get metric series of their own (the rest: "other").
  TenantSeries metrics_tenants;
  // Seconds since an arbitrary epoch; tests substitute their own clock.
  std::function<double()> now;
};

class Coordinator {
 public:
  static absl::StatusOr<std::unique_ptr<Coordinator>> Open(CoordinatorOptions options);
  ~Coordinator();

  // ---- Clients. A job of another tenant is NOT_FOUND, exactly as a job
  // that does not exist: job ids are no oracle.
  absl::StatusOr<v1::Job> SubmitScan(const v1::SubmitScanRequest& request,
                                     const ClientScope& scope);
  // An A/B eval job: its prompts cut into batches, one task each, leased
  // only to workers that advertise the eval capability.
  absl::StatusOr<v1::Job> SubmitEval(const v1::SubmitEvalRequest& request,
                                     const ClientScope& scope);
  absl::StatusOr<v1::Job> GetJob(const std::string& job_id, const ClientScope& scope);
  // Newest first; `tenant` narrows an every-tenant scope to one tenant.
  absl::StatusOr<std::vector<v1::Job>> ListJobs(const std::string& tenant, uint32_t limit,
                                                const ClientScope& scope);
  absl::StatusOr<v1::Job> CancelJob(const std::string& job_id, const ClientScope& scope);
  // Results finished after the first `after_result`, waiting up to `wait`
  // for one when there are none yet and the job still runs.
  absl::StatusOr<v1::WatchJobEvent> WatchJob(const std::string& job_id, uint64_t after_result,
                                             std::chrono::milliseconds wait,
                                             const ClientScope& scope);
  // The same ScanReport the local CLI builds: files sorted by path, models
  // aggregated and gated by the job's policy.
  absl::StatusOr<ScanReport> BuildReport(const std::string& job_id, const ClientScope& scope);
  // An eval job's A/B report, from the batches finished so far (ERROR when
  // any batch was dead-lettered or the job was cancelled before the end).
  absl::StatusOr<eval::AbReport> BuildEvalReport(const std::string& job_id,
                                                 const ClientScope& scope);
  // Either report as typed data (GetReport's TYPED format): what clients
  // render and take their exit code from, locally and on a cluster.
  absl::StatusOr<v1::Report> BuildTypedReport(const std::string& job_id, const ClientScope& scope);

  // ---- The content store, per tenant: a tenant sees (and may submit) only
  // the blobs it uploaded itself, so the store tells nobody what another
  // tenant has. Identical bytes are stored once.
  absl::StatusOr<std::vector<v1::Digest>> MissingBlobs(const std::vector<v1::Digest>& digests,
                                                       const ClientScope& scope);
  // Checks the size limit and the tenant's quota before any byte is taken.
  absl::StatusOr<ContentStore::Writer> StartUpload(const v1::Digest& digest,
                                                   const ClientScope& scope);
  // Verifies the bytes, then records the blob as the tenant's.
  absl::Status FinishUpload(ContentStore::Writer writer, const v1::Digest& digest,
                            const ClientScope& scope);

  // ---- Workers. `identity` is the authenticated worker ("worker:NAME" for
  // a worker token, "cert:CN" for a client certificate): a worker id, a
  // lease and a blob answer only the identity that registered or holds them.
  absl::StatusOr<v1::RegisterResponse> Register(const v1::RegisterRequest& request,
                                                const std::string& identity);
  absl::StatusOr<v1::LeaseResponse> Lease(const v1::LeaseRequest& request,
                                          const std::string& identity);
  absl::StatusOr<v1::HeartbeatResponse> Heartbeat(const v1::HeartbeatRequest& request,
                                                  const std::string& identity);
  absl::StatusOr<v1::CheckCacheResponse> CheckCache(const v1::CheckCacheRequest& request,
                                                    const std::string& identity);
  absl::StatusOr<v1::ReportResultsResponse> ReportResults(const v1::ReportResultsRequest& request,
                                                          const std::string& identity);
  // The stored blob's path, if a lease held by `identity` needs it.
  absl::StatusOr<std::string> BlobForWorker(const v1::Digest& digest, const std::string& identity);

  // Deletes the verdict cache entries written by one worker identity (after
  // it was compromised), leaving every other entry. Returns how many.
  static absl::StatusOr<int64_t> DropCacheEntries(const std::string& db_path,
                                                  const std::string& writer);

  // Re-queues tasks whose leases ran out. A background thread calls it; tests
  // call it after moving their clock.
  void ExpireLeases();
  // Deletes what is past its retention (see CoordinatorOptions), a bounded
  // batch at a time; the background thread calls it every retention_interval.
  absl::Status ApplyRetention();

  CoordinatorMetrics& metrics() { return metrics_; }
  const CoordinatorOptions& options() const { return options_; }

 private:
  // An unfinished job: its live summary and what leasing its tasks needs.
  struct JobState {
    int64_t id = 0;
    const JobKind* kind = nullptr;
    v1::Job proto;
    std::string policy_toml, policy_digest;
    std::shared_ptr<const Policy> policy;
    double deadline = 0;  // Wall-clock seconds after which the job is cancelled; 0: none.
  };
  struct LeaseState {
    std::string lease_id, worker_id, cache_key;
    std::vector<BlobDigest> blobs;  // What the task may fetch.
    int64_t job_id = 0;
    PendingTask task;
    double leased_at = 0, expires_at = 0;
  };
  struct WorkerState {
    std::string name;
    std::string identity;  // Who registered it.
    uint32_t max_leases = 1;
    uint32_t held = 0;
    bool draining = false;
    double last_seen = 0;
    v1::Capabilities capabilities;  // Which job kinds it takes.
  };
  explicit Coordinator(CoordinatorOptions options);
  absl::Status Recover();
  double Now() const { return options_.now(); }
  std::string NewId(std::string_view prefix);
  // The row id of a job the scope may see; NOT_FOUND otherwise.
  absl::StatusOr<int64_t> ResolveJob(const std::string& job_id, const ClientScope& scope);
  JobState* FindJob(int64_t id);
  // GetJob's work, with mu_ held.
  absl::StatusOr<v1::Job> JobSummary(int64_t id);
  absl::StatusOr<std::string> SubmittingTenant(const std::string& requested,
                                               const ClientScope& scope) const;
  bool BlobVisible(const BlobDigest& digest, const std::string& tenant);
  // (sha256, size) of every blob a lease or an unfinished task still needs.
  absl::StatusOr<std::set<std::pair<std::string, int64_t>>> BlobsInUse();
  absl::StatusOr<v1::Job> InsertJob(const std::string& tenant, JobPlan plan);
  // The stored job the scope may see, with mu_ held.
  absl::StatusOr<StoredJob> VisibleJob(const std::string& job_id, const ClientScope& scope);
  absl::Status CancelLocked(JobState& job);
  void CancelOverdueJobs();

  // The registered worker, marked as seen now; NOT_FOUND after a restart.
  // PERMISSION_DENIED when another identity registered it.
  absl::StatusOr<std::map<std::string, WorkerState>::iterator> SeenWorker(
      const std::string& worker_id, const std::string& identity);
  std::map<std::string, LeaseState>::iterator EraseLease(
      std::map<std::string, LeaseState>::iterator lease);
  void Requeue(int64_t job_id, PendingTask task);
  // Ends a lease without a result: retry or dead-letter the task, and
  // re-queue anything merged onto it.
  absl::Status FailLease(LeaseState lease, const std::string& error, bool spend_attempt);
  absl::Status ApplyResult(JobState& job, const PendingTask& task, v1::FileResult result);
  // A finished eval batch: its typed outcomes, stored as they came.
  absl::Status ApplyEvalBatch(JobState& job, const PendingTask& task,
                              const v1::EvalBatchResult& batch);
  absl::Status FinishTask(JobState& job);
  absl::Status FinishJobIfDone(JobState& job);
  // Queues the tasks merged onto a cache key's scan again.
  void ReleaseFollowers(const std::string& cache_key);
  // Forgets a finished or cancelled job's in-memory state.
  void DropJob(int64_t job_id);
  void PublishGauges();
  // gauntlet_unfinished_tasks by kind, from the scheduler's counts.
  void PublishUnfinishedTasks();
  // Commits the store's transaction, timing it for the metrics.
  absl::Status CommitStore();
  // A failed write to the store: rolls back, counts and logs it, reloads the
  // in-memory state from the store (so memory never runs ahead of it), and
  // returns the UNAVAILABLE status the RPC fails with.
  absl::Status StoreFault(const absl::Status& cause);

  CoordinatorOptions options_;
  CoordinatorMetrics metrics_;
  ContentStore blobs_;
  std::unique_ptr<JobStore> store_;
  std::string epoch_;  // Per process: lease ids never repeat across restarts.
  uint64_t id_counter_ = 0;

  std::mutex mu_;
  std::condition_variable changed_;
  std::map<int64_t, JobState> jobs_;  // Unfinished jobs (finished ones live in SQLite).
  std::unique_ptr<Scheduler> scheduler_;
  std::unique_ptr<VerdictCache> cache_;
  std::map<std::string, LeaseState> leases_;
  std::map<std::string, WorkerState> workers_;

  std::thread sweeper_;
  double next_retention_ = 0;  // SteadyNow() of the next retention sweep.
  bool stopping_ = false;
  std::condition_variable sweeper_wake_;
};

}  // namespace gauntlet

#endif  // GAUNTLET_COORDINATOR_COORDINATOR_H_
