// Formats that carry only data and that no model loader executes: images
// shipped with model cards, and msgpack checkpoints (Flax). Images are
// recognised by magic (their bytes still go through the signature rules and
// the zip-polyglot check); msgpack is parsed end to end, so a file is only
// passed when it is the data structure it claims to be.
#ifndef GAUNTLET_WORKER_SCAN_INERT_DATA_SCANNER_H_
#define GAUNTLET_WORKER_SCAN_INERT_DATA_SCANNER_H_

#include "worker/scan/scanner.h"

namespace gauntlet::scan {

class InertDataScanner : public Scanner {
 public:
  std::string_view name() const override { return "inert-data"; }
  bool Accepts(Format format) const override {
    return format == Format::kImage || format == Format::kMsgpack;
  }
  void Scan(std::string_view content, ScanContext& ctx) const override;
};

}  // namespace gauntlet::scan

#endif  // GAUNTLET_WORKER_SCAN_INERT_DATA_SCANNER_H_
