// Validates safetensors files strictly: the format is safe by design, so the
// risk is a header that loaders read differently. Tensor data is never read;
// __metadata__ is surfaced in the report.
#ifndef GAUNTLET_WORKER_SCAN_SAFETENSORS_SCANNER_H_
#define GAUNTLET_WORKER_SCAN_SAFETENSORS_SCANNER_H_

#include "worker/scan/scanner.h"

namespace gauntlet::scan {

class SafetensorsScanner : public Scanner {
 public:
  std::string_view name() const override { return "safetensors"; }
  bool Accepts(Format format) const override { return format == Format::kSafetensors; }
  void Scan(std::string_view content, ScanContext& ctx) const override;
};

}  // namespace gauntlet::scan

#endif  // GAUNTLET_WORKER_SCAN_SAFETENSORS_SCANNER_H_
