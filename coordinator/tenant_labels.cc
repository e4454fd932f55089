#include "coordinator/tenant_labels.h"

namespace gauntlet {

std::string TenantLabels::Label(const std::string& tenant, Clock::time_point now) {
  if (tenant == kOther) return kOther;
  if (places_.count(tenant)) return tenant;
  if (places_.size() >= capacity_) return kOther;
  places_[tenant] = {false, now};
  return tenant;
}

void TenantLabels::SetBusy(const std::string& tenant, bool busy, Clock::time_point now) {
  auto place = places_.find(tenant);
  if (place == places_.end()) return;
  if (place->second.busy && !busy) place->second.idle_since = now;
  place->second.busy = busy;
}

std::vector<std::string> TenantLabels::Forget(Clock::time_point now) {
  std::vector<std::string> forgotten;
  for (auto it = places_.begin(); it != places_.end();) {
    if (!it->second.busy && now - it->second.idle_since >= forget_after_) {
      forgotten.push_back(it->first);
      it = places_.erase(it);
    } else {
      ++it;
    }
  }
  return forgotten;
}

}  // namespace gauntlet
