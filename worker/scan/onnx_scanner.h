// Scans ONNX models: every node in the graph, its subgraphs (If/Loop/Scan
// bodies) and the model's functions, for custom operator domains and Python
// operators; every initializer's external data location, for paths that
// leave the model's folder. Tensor data is skipped, never read.
#ifndef GAUNTLET_WORKER_SCAN_ONNX_SCANNER_H_
#define GAUNTLET_WORKER_SCAN_ONNX_SCANNER_H_

#include "worker/scan/scanner.h"

namespace gauntlet::scan {

class OnnxScanner : public Scanner {
 public:
  std::string_view name() const override { return "onnx"; }
  bool Accepts(Format format) const override { return format == Format::kOnnx; }
  void Scan(std::string_view content, ScanContext& ctx) const override;
};

}  // namespace gauntlet::scan

#endif  // GAUNTLET_WORKER_SCAN_ONNX_SCANNER_H_
