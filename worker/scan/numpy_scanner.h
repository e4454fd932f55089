// Scans NumPy .npy files. Numeric arrays are inert (the data is never read);
// object arrays carry a pickle that np.load(allow_pickle=True) executes, and
// that pickle is scanned.
#ifndef GAUNTLET_WORKER_SCAN_NUMPY_SCANNER_H_
#define GAUNTLET_WORKER_SCAN_NUMPY_SCANNER_H_

#include "worker/scan/scanner.h"

namespace gauntlet::scan {

class NumpyScanner : public Scanner {
 public:
  std::string_view name() const override { return "numpy"; }
  bool Accepts(Format format) const override { return format == Format::kNumpy; }
  void Scan(std::string_view content, ScanContext& ctx) const override;
};

}  // namespace gauntlet::scan

#endif  // GAUNTLET_WORKER_SCAN_NUMPY_SCANNER_H_
