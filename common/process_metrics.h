// The standard process_* metrics (CPU seconds, resident and virtual memory,
// open and maximum file descriptors, start time), read from /proc/self at
// each scrape, with the names Prometheus's own clients use so that stock
// dashboards and alerts work.
#ifndef GAUNTLET_COMMON_PROCESS_METRICS_H_
#define GAUNTLET_COMMON_PROCESS_METRICS_H_

#include <prometheus/collectable.h>
#include <prometheus/metric_family.h>

#include <vector>

namespace gauntlet {

class ProcessMetrics : public prometheus::Collectable {
 public:
  std::vector<prometheus::MetricFamily> Collect() const override;
};

}  // namespace gauntlet

#endif  // GAUNTLET_COMMON_PROCESS_METRICS_H_
