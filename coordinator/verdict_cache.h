// The verdict cache: a file's verdict keyed by (sha256, size, scanner
// version and revision, policy digest, salt), so repeated content is
// answered without a scan, and identical tasks in flight together are
// merged onto one scan (the "followers" get the leader's verdict). Stored
// verdicts live in the JobStore; in-flight merging is memory only.
//
// Not thread-safe: the coordinator calls it under its own lock.
#ifndef GAUNTLET_COORDINATOR_VERDICT_CACHE_H_
#define GAUNTLET_COORDINATOR_VERDICT_CACHE_H_

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "coordinator/job_store.h"
#include "coordinator/scheduler.h"
#include "gauntlet/v1/gauntlet.pb.h"

namespace gauntlet {

class VerdictCache {
 public:
  // A task merged onto an identical one in flight.
  struct Follower {
    int64_t job_id;
    PendingTask task;
  };

  // Changing `salt` forgets every stored verdict.
  VerdictCache(JobStore& store, std::string salt) : store_(store), salt_(std::move(salt)) {}

  std::string Key(const std::string& policy_digest, const v1::Digest& digest) const;
  absl::StatusOr<std::optional<v1::FileResult>> Stored(const std::string& key) {
    return store_.CachedVerdict(key);
  }
  // Within the caller's transaction; `writer` is the worker identity.
  absl::Status Store(const std::string& key, const v1::FileResult& result,
                     const std::string& writer, double created) {
    return store_.CacheVerdict(key, result, writer, created);
  }

  // Merges the task onto the scan in flight for `key` when its leader lease
  // is still held (`held`), and returns true; otherwise the caller's lease
  // becomes the leader (returns false).
  bool MergeOrLead(const std::string& key, const std::string& lease_id, int64_t job_id,
                   const PendingTask& task, const std::function<bool(const std::string&)>& held);
  // The leader is done: its followers, for the caller to give them its
  // verdict or queue them again.
  std::vector<Follower> Settle(const std::string& key);
  // A cancelled job's followers are dropped.
  void DropJob(int64_t job_id);
  void Clear();

 private:
  JobStore& store_;
  std::string salt_;
  std::map<std::string, std::string> in_flight_;  // key -> leader lease id
  std::map<std::string, std::vector<Follower>> followers_;
};

}  // namespace gauntlet

#endif  // GAUNTLET_COORDINATOR_VERDICT_CACHE_H_
