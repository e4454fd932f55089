// The worker's entry point for one file: map it, scan it with every scanner
// that applies, and turn the findings into a FileReport with a verdict.
#ifndef GAUNTLET_WORKER_SCAN_FILE_SCANNER_H_
#define GAUNTLET_WORKER_SCAN_FILE_SCANNER_H_

#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "common/policy.h"
#include "common/verdict.h"

namespace gauntlet::scan {

// Where a scan runs. A process that must not run third-party parsers of
// hostile input (libhdf5, libarchive) scans with kHardenedOnly: a file that
// needs one comes back with `needs_sandbox` set and is to be scanned again
// in the parser sandbox; its report from here is incomplete and unused.
enum class ParserTrust { kAll, kHardenedOnly };
struct ScanOptions {
  ParserTrust trust = ParserTrust::kAll;
  bool* needs_sandbox = nullptr;  // Set when trust is kHardenedOnly.
};

// Never fails: unreadable files come back as ERROR reports.
FileReport ScanFile(const std::string& path, const Policy& policy);

// The same for a file already open (the sandboxed parser gets its file as a
// descriptor and may not open anything). Takes ownership of `fd`.
FileReport ScanOpenFile(int fd, const std::string& display_path, const Policy& policy,
                        const ScanOptions& options = {});

// The ERROR report for a path OpenRegularFile refused: scan.not_regular_file
// for FIFOs, sockets, devices, directories and symlink loops, else
// scan.read_error.
FileReport Unopenable(const std::string& path, const absl::Status& why);

// Scans bytes already in memory, reported under `display_path`.
FileReport ScanBytes(std::string_view display_path, std::string_view content, const Policy& policy,
                     const ScanOptions& options = {});

}  // namespace gauntlet::scan

#endif  // GAUNTLET_WORKER_SCAN_FILE_SCANNER_H_
