#include "worker/cluster/worker_metrics.h"

namespace gauntlet {

WorkerMetrics::WorkerMetrics() : registry_(std::make_shared<prometheus::Registry>()) {
  auto& r = *registry_;
  prometheus::BuildGauge()
      .Name("gauntlet_build_info")
      .Help("Build of the running worker")
      .Register(r)
      .Add({{"version", GAUNTLET_VERSION}, {"component", "worker"}})
      .Set(1);
  tasks_ = &prometheus::BuildCounter()
                .Name("gauntlet_worker_tasks_total")
                .Help("Leased tasks by outcome")
                .Register(r);
  sandbox_kills_ = &prometheus::BuildCounter()
                        .Name("gauntlet_worker_sandbox_kills_total")
                        .Help("Sandboxed parsers that did not finish, by reason")
                        .Register(r);
  scan_seconds_ = &prometheus::BuildHistogram()
                       .Name("gauntlet_worker_scan_duration_seconds")
                       .Help("Wall time of one file's scan, sandbox included")
                       .Register(r)
                       .Add({}, prometheus::Histogram::BucketBoundaries{0.001, 0.005, 0.01, 0.05,
                                                                        0.1, 0.5, 1, 5, 30, 120});
  scanned_bytes_ = &prometheus::BuildCounter()
                        .Name("gauntlet_worker_scanned_bytes_total")
                        .Help("Bytes of files scanned")
                        .Register(r)
                        .Add({});
  reconnects_ = &prometheus::BuildCounter()
                     .Name("gauntlet_worker_registrations_total")
                     .Help("Registrations with the coordinator (first one and reconnects)")
                     .Register(r)
                     .Add({});
  leases_held_ = &prometheus::BuildGauge()
                      .Name("gauntlet_worker_leases_held")
                      .Help("Leases this worker holds")
                      .Register(r)
                      .Add({});
  draining_ = &prometheus::BuildGauge()
                   .Name("gauntlet_worker_draining")
                   .Help("1 while the worker drains before shutdown")
                   .Register(r)
                   .Add({});
}

}  // namespace gauntlet
