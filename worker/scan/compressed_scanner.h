// Unwraps gzip, zlib, bzip2, xz and zstd streams (bounded by the policy's
// decompression limit) and scans what is inside.
#ifndef GAUNTLET_WORKER_SCAN_COMPRESSED_SCANNER_H_
#define GAUNTLET_WORKER_SCAN_COMPRESSED_SCANNER_H_

#include "worker/scan/scanner.h"

namespace gauntlet::scan {

class CompressedScanner : public Scanner {
 public:
  std::string_view name() const override { return "compressed"; }
  bool Accepts(Format format) const override;
  void Scan(std::string_view content, ScanContext& ctx) const override;
};

}  // namespace gauntlet::scan

#endif  // GAUNTLET_WORKER_SCAN_COMPRESSED_SCANNER_H_
