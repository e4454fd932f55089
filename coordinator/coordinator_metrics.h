// The coordinator's Prometheus metrics, named by docs/operations.md's
// conventions: one `gauntlet_` prefix, base units, counters ending in
// `_total`, histograms for latency, and no unbounded labels (a tenant is
// the only per-user label).
#ifndef GAUNTLET_COORDINATOR_COORDINATOR_METRICS_H_
#define GAUNTLET_COORDINATOR_COORDINATOR_METRICS_H_

#include <prometheus/counter.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

#include <map>
#include <memory>
#include <mutex>
#include <string>

#include "common/verdict.h"
#include "coordinator/tenant_labels.h"

namespace gauntlet {

// Tenants with series of their own, and how long an idle one keeps them
// (tenant_labels.h).
struct TenantSeries {
  size_t capacity = 50;
  std::chrono::steady_clock::duration forget_after = std::chrono::minutes(15);
};

class CoordinatorMetrics {
 public:
  explicit CoordinatorMetrics(TenantSeries tenants = {});
  std::shared_ptr<prometheus::Registry> registry() const { return registry_; }

  void JobSubmitted(bool eval) { (eval ? eval_jobs_submitted_ : jobs_submitted_)->Increment(); }
  void JobCompleted(Verdict verdict);
  void JobCancelled(bool eval) { (eval ? eval_jobs_cancelled_ : jobs_cancelled_)->Increment(); }
  void TaskCompleted(Verdict verdict, uint64_t bytes);
  void TaskDeadLettered() { dead_lettered_->Increment(); }
  void TaskRetried() { retries_->Increment(); }
  void LeaseExpired() { lease_expiries_->Increment(); }
  void LateResultDropped() { late_results_->Increment(); }
  void CacheHit() { cache_hit_->Increment(); }
  void CacheMiss() { cache_miss_->Increment(); }
  void CacheMerged() { cache_merged_->Increment(); }
  void QueueWait(double seconds) { queue_wait_->Observe(seconds); }
  void TaskDuration(double seconds) { task_duration_->Observe(seconds); }
  // A tenant's unfinished tasks; 0 removes its series (absent reads as 0).
  void SetQueueDepth(const std::string& tenant, double depth);
  // Unfinished tasks of each job kind: what scan and eval workers scale on.
  void SetUnfinishedTasks(double scan, double eval) {
    unfinished_scan_->Set(scan);
    unfinished_eval_->Set(eval);
  }
  // A task of `tenant` given its verdict (throughput per tenant).
  void TenantTaskCompleted(const std::string& tenant);
  // A job finished (or was cancelled) `seconds` after it was submitted.
  void JobDuration(const std::string& tenant, bool eval, double seconds);
  // Removes the series of tenants idle past TenantSeries::forget_after.
  void ForgetIdleTenants();
  void SetWorkers(double active, double draining);
  // Leases every registered worker may hold at once (slots x lease batch).
  void SetWorkerCapacity(double leases) { worker_capacity_->Set(leases); }
  // The job store: its size on disk, and each transaction's commit time.
  void SetStoreSize(double bytes) { store_size_->Set(bytes); }
  void StoreCommit(double seconds) { store_commit_->Observe(seconds); }
  void SetLeasesActive(double leases) { leases_active_->Set(leases); }
  // Eval jobs: each prompt batch, and each finished job's A/B verdict.
  void EvalBatch(uint64_t tokens, double seconds);
  void EvalJobCompleted(const std::string& verdict);
  void JobOverRuntime() { jobs_over_runtime_->Increment(); }
  // Calls refused by the authenticator: "unauthenticated" or "permission_denied".
  void CallRefused(const std::string& reason);
  // A write to the job store that failed (the RPC failed UNAVAILABLE).
  void StoreError() { store_errors_->Increment(); }
  // Rows or files deleted by retention: "jobs", "tasks", "cache" or "blobs".
  void RetentionDeleted(const std::string& kind, double count);

 private:
  std::shared_ptr<prometheus::Registry> registry_;
  prometheus::Counter *eval_jobs_submitted_, *eval_tasks_, *eval_tokens_, *jobs_over_runtime_;
  prometheus::Family<prometheus::Counter>* eval_verdicts_;
  prometheus::Family<prometheus::Counter>*calls_refused_, *retention_deleted_;
  prometheus::Counter* store_errors_;
  prometheus::Histogram* eval_tokens_per_second_;
  prometheus::Counter *jobs_submitted_, *jobs_cancelled_, *eval_jobs_cancelled_, *dead_lettered_,
      *retries_, *lease_expiries_, *late_results_, *cache_hit_, *cache_miss_, *cache_merged_,
      *scanned_bytes_;
  prometheus::Family<prometheus::Counter>* jobs_completed_;
  prometheus::Family<prometheus::Counter>* tasks_completed_;
  prometheus::Gauge *workers_active_, *workers_draining_, *leases_active_, *worker_capacity_,
      *store_size_, *unfinished_scan_, *unfinished_eval_;
  prometheus::Histogram *queue_wait_, *task_duration_, *store_commit_, *scan_job_duration_,
      *eval_job_duration_;

  // Per-tenant series, under tenant_mu_.
  std::mutex tenant_mu_;
  TenantLabels tenant_labels_;
  prometheus::Family<prometheus::Gauge>* queue_depth_;
  prometheus::Family<prometheus::Counter>* tenant_tasks_;
  prometheus::Family<prometheus::Histogram>* tenant_job_duration_;
  // Queue depths of the tenants counted under "other", summed in its series.
  std::map<std::string, double> other_depths_;
};

}  // namespace gauntlet

#endif  // GAUNTLET_COORDINATOR_COORDINATOR_METRICS_H_
