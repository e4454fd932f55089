// Scans TensorFlow files: SavedModel (`saved_model.pb`), bare frozen
// GraphDefs, and `keras_metadata.pb`. Every node of every meta graph and of
// its function library is checked against the unsafe-op list; the distinct
// ops are listed in the report's metadata for review. Keras metadata's layer
// configs are analysed like any Keras config.
#ifndef GAUNTLET_WORKER_SCAN_TF_SCANNER_H_
#define GAUNTLET_WORKER_SCAN_TF_SCANNER_H_

#include "worker/scan/scanner.h"

namespace gauntlet::scan {

class TfScanner : public Scanner {
 public:
  std::string_view name() const override { return "tensorflow"; }
  bool Accepts(Format format) const override {
    return format == Format::kTfSavedModel || format == Format::kTfGraphDef ||
           format == Format::kTfKerasMetadata;
  }
  void Scan(std::string_view content, ScanContext& ctx) const override;
};

}  // namespace gauntlet::scan

#endif  // GAUNTLET_WORKER_SCAN_TF_SCANNER_H_
