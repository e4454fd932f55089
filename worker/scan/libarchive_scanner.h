// Scans the archive formats Gauntlet does not parse itself (7z, RAR) through
// libarchive, with the same rules as the zip and tar scanners: every member
// scanned by content, escaping names and links reported, encrypted members
// and limits never passed.
#ifndef GAUNTLET_WORKER_SCAN_LIBARCHIVE_SCANNER_H_
#define GAUNTLET_WORKER_SCAN_LIBARCHIVE_SCANNER_H_

#include "worker/scan/scanner.h"

namespace gauntlet::scan {

class LibarchiveScanner : public Scanner {
 public:
  std::string_view name() const override { return "libarchive"; }
  bool Accepts(Format format) const override {
    return format == Format::kSevenZip || format == Format::kRar;
  }
  void Scan(std::string_view content, ScanContext& ctx) const override;
};

}  // namespace gauntlet::scan

#endif  // GAUNTLET_WORKER_SCAN_LIBARCHIVE_SCANNER_H_
