// Expands the paths a user names into the files a scan job covers.
#ifndef GAUNTLET_COORDINATOR_SCAN_PATHS_H_
#define GAUNTLET_COORDINATOR_SCAN_PATHS_H_

#include <cstddef>
#include <functional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "common/policy.h"
#include "common/report.h"

namespace gauntlet {

// Files named by `paths`, directories walked recursively (following
// symlinks, each directory once, skipping .git). Sorted; a Hugging Face
// cache blob reached through a snapshot link is listed once, by its snapshot
// path.
// NotFound names the first path that does not exist.
absl::StatusOr<std::vector<std::string>> ExpandScanPaths(const std::vector<std::string>& paths);

}  // namespace gauntlet

#endif  // GAUNTLET_COORDINATOR_SCAN_PATHS_H_
