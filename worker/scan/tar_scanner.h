// Scans tar archives (ustar, GNU long names, pax paths): every regular member
// is scanned by content; links and escaping names are findings.
#ifndef GAUNTLET_WORKER_SCAN_TAR_SCANNER_H_
#define GAUNTLET_WORKER_SCAN_TAR_SCANNER_H_

#include "worker/scan/scanner.h"

namespace gauntlet::scan {

class TarScanner : public Scanner {
 public:
  std::string_view name() const override { return "tar"; }
  bool Accepts(Format format) const override { return format == Format::kTar; }
  void Scan(std::string_view content, ScanContext& ctx) const override;
};

}  // namespace gauntlet::scan

#endif  // GAUNTLET_WORKER_SCAN_TAR_SCANNER_H_
