// Scans pickle streams: raw pickles, joblib files, legacy torch files (a run
// of pickles followed by tensor bytes), and concatenated pickles. Also probes
// text and unrecognised content, because a protocol 0 pickle is plain ASCII
// and pickle.load() ignores file names.
#ifndef GAUNTLET_WORKER_SCAN_PICKLE_SCANNER_H_
#define GAUNTLET_WORKER_SCAN_PICKLE_SCANNER_H_

#include "worker/scan/scanner.h"

namespace gauntlet::scan {

class PickleScanner : public Scanner {
 public:
  std::string_view name() const override { return "pickle"; }
  bool Accepts(Format format) const override {
    return format == Format::kPickle || format == Format::kText || format == Format::kUnknown;
  }
  void Scan(std::string_view content, ScanContext& ctx) const override;
};

// Whether pickle.load() would act on `content`: it is a complete pickle, or
// it imports or calls something that matters before it breaks. Text that
// starts with an opcode letter, or tensor bytes that start like PROTO, do not.
bool WouldUnpickle(std::string_view content, const ScanContext& ctx);

}  // namespace gauntlet::scan

#endif  // GAUNTLET_WORKER_SCAN_PICKLE_SCANNER_H_
