// Scans HDF5 files. A Keras 2 .h5 model keeps its architecture as JSON in the
// root attributes `model_config` (and `training_config` for losses and
// metrics); those are analysed like any Keras config. Datasets (weights) are
// never read.
#ifndef GAUNTLET_WORKER_SCAN_HDF5_SCANNER_H_
#define GAUNTLET_WORKER_SCAN_HDF5_SCANNER_H_

#include "worker/scan/scanner.h"

namespace gauntlet::scan {

class Hdf5Scanner : public Scanner {
 public:
  std::string_view name() const override { return "hdf5"; }
  bool Accepts(Format format) const override { return format == Format::kHdf5; }
  void Scan(std::string_view content, ScanContext& ctx) const override;
};

}  // namespace gauntlet::scan

#endif  // GAUNTLET_WORKER_SCAN_HDF5_SCANNER_H_
