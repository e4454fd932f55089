// The revision of what a scan reports for given bytes. The verdict cache is
// keyed by it (with the tool version and the policy), so a cached result is
// only served by a build that would report the same: bump it whenever a
// scanner, rule or reported fact changes for some input (the tool version
// alone stays the same between such builds).
#ifndef GAUNTLET_COMMON_SCANNER_REVISION_H_
#define GAUNTLET_COMMON_SCANNER_REVISION_H_

namespace gauntlet {

// 2: model cards and LICENSE files report their license as metadata.
inline constexpr int kScannerRevision = 2;

}  // namespace gauntlet

#endif  // GAUNTLET_COMMON_SCANNER_REVISION_H_
