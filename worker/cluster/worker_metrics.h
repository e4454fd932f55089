// A worker's own Prometheus metrics (same conventions as the coordinator's).
#ifndef GAUNTLET_WORKER_CLUSTER_WORKER_METRICS_H_
#define GAUNTLET_WORKER_CLUSTER_WORKER_METRICS_H_

#include <prometheus/counter.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

#include <memory>
#include <string>

namespace gauntlet {

class WorkerMetrics {
 public:
  WorkerMetrics();
  std::shared_ptr<prometheus::Registry> registry() const { return registry_; }

  // Every label value below is exported at zero from the start, so that a
  // rate() or an alert sees the first event.
  // outcome: scanned, cache_hit, merged, failed, released, dropped.
  void Task(const std::string& outcome) { tasks_->Add({{"outcome", outcome}}).Increment(); }
  // reason: timeout, crash, memory, violation.
  void SandboxKill(const std::string& reason) {
    sandbox_kills_->Add({{"reason", reason}}).Increment();
  }
  void Scanned(double seconds, uint64_t bytes) {
    scan_seconds_->Observe(seconds);
    scanned_bytes_->Increment(static_cast<double>(bytes));
  }
  // One eval task (a prompt batch through models A and B).
  void EvalBatch(bool ok, uint64_t prompts, uint64_t tokens, double seconds) {
    eval_batches_->Add({{"outcome", ok ? "done" : "failed"}}).Increment();
    if (!ok) return;
    eval_prompts_->Increment(static_cast<double>(prompts));
    eval_tokens_->Increment(static_cast<double>(tokens));
    eval_seconds_->Observe(seconds);
  }
  void SetSlots(double slots) { slots_->Set(slots); }
  void SetLeasesHeld(double leases) { leases_held_->Set(leases); }
  void SetDraining(bool draining) { draining_->Set(draining ? 1 : 0); }
  void Reconnect() { reconnects_->Increment(); }

 private:
  std::shared_ptr<prometheus::Registry> registry_;
  prometheus::Family<prometheus::Counter>*tasks_, *sandbox_kills_, *eval_batches_;
  prometheus::Histogram *scan_seconds_, *eval_seconds_;
  prometheus::Counter *scanned_bytes_, *reconnects_, *eval_prompts_, *eval_tokens_;
  prometheus::Gauge *slots_, *leases_held_, *draining_;
};

}  // namespace gauntlet

#endif  // GAUNTLET_WORKER_CLUSTER_WORKER_METRICS_H_
