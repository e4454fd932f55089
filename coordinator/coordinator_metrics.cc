#include "coordinator/coordinator_metrics.h"

#include <string_view>

namespace gauntlet {
namespace {

std::string LowerVerdict(Verdict verdict) {
  std::string name(VerdictName(verdict));
  for (char& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return name;
}

prometheus::Counter* Counter(prometheus::Registry& registry, const std::string& name,
                             const std::string& help, prometheus::Labels labels = {}) {
  return &prometheus::BuildCounter().Name(name).Help(help).Register(registry).Add(labels);
}

}  // namespace

CoordinatorMetrics::CoordinatorMetrics() : registry_(std::make_shared<prometheus::Registry>()) {
  auto& r = *registry_;
  prometheus::BuildGauge()
      .Name("gauntlet_build_info")
      .Help("Build of the running coordinator")
      .Register(r)
      .Add({{"version", GAUNTLET_VERSION}, {"component", "coordinator"}})
      .Set(1);
  jobs_submitted_ =
      Counter(r, "gauntlet_jobs_submitted_total", "Jobs accepted", {{"kind", "scan"}});
  jobs_completed_ = &prometheus::BuildCounter()
                         .Name("gauntlet_jobs_completed_total")
                         .Help("Jobs whose every file has a verdict, by overall verdict")
                         .Register(r);
  jobs_cancelled_ =
      Counter(r, "gauntlet_jobs_cancelled_total", "Jobs cancelled by a client", {{"kind", "scan"}});
  tasks_completed_ = &prometheus::BuildCounter()
                          .Name("gauntlet_tasks_completed_total")
                          .Help("File verdicts applied, by verdict")
                          .Register(r);
  dead_lettered_ = Counter(r, "gauntlet_tasks_dead_lettered_total",
                           "Tasks that failed on every attempt and were given up");
  retries_ = Counter(r, "gauntlet_task_retries_total", "Tasks re-queued after a failed attempt");
  lease_expiries_ =
      Counter(r, "gauntlet_lease_expiries_total", "Leases whose worker stopped heartbeating");
  late_results_ = Counter(r, "gauntlet_late_results_dropped_total",
                          "Results from expired or unknown leases, dropped");
  auto& cache = prometheus::BuildCounter()
                    .Name("gauntlet_cache_requests_total")
                    .Help("Verdict cache lookups by outcome (merged: an identical task in flight)")
                    .Register(r);
  cache_hit_ = &cache.Add({{"outcome", "hit"}});
  cache_miss_ = &cache.Add({{"outcome", "miss"}});
  cache_merged_ = &cache.Add({{"outcome", "merged"}});
  scanned_bytes_ = Counter(r, "gauntlet_scanned_bytes_total", "Bytes of files given a verdict");
  queue_depth_ = &prometheus::BuildGauge()
                      .Name("gauntlet_queue_depth")
                      .Help("Tasks not yet finished (queued, leased or merged), by tenant")
                      .Register(r);
  auto& workers = prometheus::BuildGauge()
                      .Name("gauntlet_workers")
                      .Help("Registered workers seen within three lease TTLs, by state")
                      .Register(r);
  workers_active_ = &workers.Add({{"state", "active"}});
  workers_draining_ = &workers.Add({{"state", "draining"}});
  leases_active_ = &prometheus::BuildGauge()
                        .Name("gauntlet_leases_active")
                        .Help("Leases held by workers")
                        .Register(r)
                        .Add({});
  const prometheus::Histogram::BucketBoundaries buckets = {0.001, 0.005, 0.01, 0.05, 0.1, 0.5,
                                                           1,     5,     10,   30,   60,  300};
  queue_wait_ = &prometheus::BuildHistogram()
                     .Name("gauntlet_queue_wait_seconds")
                     .Help("Time from a task being queued to being leased")
                     .Register(r)
                     .Add({}, buckets);
  task_duration_ = &prometheus::BuildHistogram()
                        .Name("gauntlet_task_duration_seconds")
                        .Help("Time from lease to accepted result")
                        .Register(r)
                        .Add({}, buckets);
}

void CoordinatorMetrics::JobCompleted(Verdict verdict) {
  jobs_completed_->Add({{"kind", "scan"}, {"verdict", LowerVerdict(verdict)}}).Increment();
}

void CoordinatorMetrics::TaskCompleted(Verdict verdict, uint64_t bytes) {
  tasks_completed_->Add({{"verdict", LowerVerdict(verdict)}}).Increment();
  scanned_bytes_->Increment(static_cast<double>(bytes));
}

void CoordinatorMetrics::SetQueueDepth(const std::string& tenant, double depth) {
  queue_depth_->Add({{"tenant", tenant}}).Set(depth);
}

void CoordinatorMetrics::SetWorkers(double active, double draining) {
  workers_active_->Set(active);
  workers_draining_->Set(draining);
}

}  // namespace gauntlet
