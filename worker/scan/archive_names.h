// Checks on member names shared by every archive scanner.
#ifndef GAUNTLET_WORKER_SCAN_ARCHIVE_NAMES_H_
#define GAUNTLET_WORKER_SCAN_ARCHIVE_NAMES_H_

#include <string_view>

namespace gauntlet::scan {

// True for names that extract outside the target folder: absolute paths,
// drive letters, or a ".." component (zip-slip).
bool EscapesExtractionRoot(std::string_view name);

}  // namespace gauntlet::scan

#endif  // GAUNTLET_WORKER_SCAN_ARCHIVE_NAMES_H_
