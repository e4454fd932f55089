#include "coordinator/verdict_cache.h"

#include "common/scanner_revision.h"
#include "common/strings.h"

namespace gauntlet {

std::string VerdictCache::Key(const std::string& policy_digest, const v1::Digest& digest) const {
  return StrCat(digest.sha256(), "/", digest.size_bytes(), "/", GAUNTLET_VERSION, "r",
                kScannerRevision, "/", policy_digest, "/", salt_);
}

bool VerdictCache::MergeOrLead(const std::string& key, const std::string& lease_id, int64_t job_id,
                               const PendingTask& task,
                               const std::function<bool(const std::string&)>& held) {
  auto leader = in_flight_.find(key);
  if (leader != in_flight_.end() && held(leader->second)) {
    followers_[key].push_back(Follower{job_id, task});
    return true;
  }
  in_flight_[key] = lease_id;
  return false;
}

std::vector<VerdictCache::Follower> VerdictCache::Settle(const std::string& key) {
  in_flight_.erase(key);
  auto followers = followers_.extract(key);
  if (followers.empty()) return {};
  return std::move(followers.mapped());
}

void VerdictCache::DropJob(int64_t job_id) {
  for (auto& [key, followers] : followers_)
    std::erase_if(followers, [&](const Follower& f) { return f.job_id == job_id; });
}

void VerdictCache::Clear() {
  in_flight_.clear();
  followers_.clear();
}

}  // namespace gauntlet
