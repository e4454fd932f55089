// Scans pickle streams: raw pickles, joblib files, legacy torch files (a run
// of pickles followed by tensor bytes), and concatenated pickles. Also probes
// unrecognised content, because pickle.load() ignores file names; text (a
// protocol 0 pickle is plain ASCII) comes through the config scanner.
#ifndef GAUNTLET_WORKER_SCAN_PICKLE_SCANNER_H_
#define GAUNTLET_WORKER_SCAN_PICKLE_SCANNER_H_

#include "worker/scan/scanner.h"

namespace gauntlet::scan {

class PickleScanner : public Scanner {
 public:
  std::string_view name() const override { return "pickle"; }
  bool Accepts(Format format) const override {
    return format == Format::kPickle || format == Format::kUnknown;
  }
  void Scan(std::string_view content, ScanContext& ctx) const override;
};

// Whether pickle.load() would act on `content`: it is a complete pickle, or
// it imports or calls something that matters before it breaks. Text that
// starts with an opcode letter, or tensor bytes that start like PROTO, do not.
bool WouldUnpickle(std::string_view content, const ScanContext& ctx);

// Scans `content`, which WouldUnpickle said pickle.load() acts on, as a
// pickle stream, labelling the file a pickle.
void ScanUnpicklable(std::string_view content, ScanContext& ctx);

}  // namespace gauntlet::scan

#endif  // GAUNTLET_WORKER_SCAN_PICKLE_SCANNER_H_
