// Bounds the values of the metrics' `tenant` label. A classroom or a
// registry may have hundreds of tenants, and every series costs Prometheus
// memory for as long as it exists: at most `capacity` tenants have series of
// their own, the rest share the value "other", and a tenant without
// unfinished work for `forget_after` loses its place, so its series can be
// removed and the place given to another.
#ifndef GAUNTLET_COORDINATOR_TENANT_LABELS_H_
#define GAUNTLET_COORDINATOR_TENANT_LABELS_H_

#include <chrono>
#include <map>
#include <string>
#include <vector>

namespace gauntlet {

class TenantLabels {
 public:
  using Clock = std::chrono::steady_clock;
  static constexpr char kOther[] = "other";

  TenantLabels(size_t capacity, Clock::duration forget_after)
      : capacity_(capacity), forget_after_(forget_after) {}

  // The label value for `tenant`: its name while it has a place (given now
  // if one is free), else "other". A tenant named "other" is always "other".
  std::string Label(const std::string& tenant, Clock::time_point now);

  // Whether `tenant` has unfinished work; busy tenants are never forgotten.
  void SetBusy(const std::string& tenant, bool busy, Clock::time_point now);

  // Tenants idle for `forget_after` at `now`: they lose their places, and
  // the caller removes their series.
  std::vector<std::string> Forget(Clock::time_point now);

 private:
  struct Place {
    bool busy = false;
    Clock::time_point idle_since;
  };
  size_t capacity_;
  Clock::duration forget_after_;
  std::map<std::string, Place> places_;
};

}  // namespace gauntlet

#endif  // GAUNTLET_COORDINATOR_TENANT_LABELS_H_
