// Scans zip archives: PyTorch checkpoints (zip form), TorchScript archives,
// NumPy .npz files, Keras-style bundles and plain zips. Pickle members are
// found by content, not by name; tensor storages are only sniffed, never read.
#ifndef GAUNTLET_WORKER_SCAN_ZIP_SCANNER_H_
#define GAUNTLET_WORKER_SCAN_ZIP_SCANNER_H_

#include "worker/scan/scanner.h"

namespace gauntlet::scan {

class ZipScanner : public Scanner {
 public:
  std::string_view name() const override { return "zip"; }
  bool Accepts(Format format) const override { return format == Format::kZip; }
  void Scan(std::string_view content, ScanContext& ctx) const override;
};

}  // namespace gauntlet::scan

#endif  // GAUNTLET_WORKER_SCAN_ZIP_SCANNER_H_
