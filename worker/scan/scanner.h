// The one interface every format scanner implements: bytes in, findings out
// (through the ScanContext). A scanner has one job; new formats are new
// Scanner classes registered in scanner_registry.cc, touching no other.
#ifndef GAUNTLET_WORKER_SCAN_SCANNER_H_
#define GAUNTLET_WORKER_SCAN_SCANNER_H_

#include <string_view>

#include "common/format.h"

namespace gauntlet::scan {

class ScanContext;

class Scanner {
 public:
  virtual ~Scanner() = default;
  virtual std::string_view name() const = 0;
  // Whether this scanner analyses content that sniffed as `format`.
  virtual bool Accepts(Format format) const = 0;
  // Analyses `content`. Findings, nested members and "not fully analysed"
  // all go through `ctx`; a scanner never throws and never aborts.
  virtual void Scan(std::string_view content, ScanContext& ctx) const = 0;
};

}  // namespace gauntlet::scan

#endif  // GAUNTLET_WORKER_SCAN_SCANNER_H_
