// Scans text content: a protocol 0 pickle is text too, so text that would
// unpickle goes to the pickle scanner; any other text that is a JSON or YAML
// config is checked for config-driven instantiation
// (config_instantiation.h).
#ifndef GAUNTLET_WORKER_SCAN_CONFIG_SCANNER_H_
#define GAUNTLET_WORKER_SCAN_CONFIG_SCANNER_H_

#include "worker/scan/scanner.h"

namespace gauntlet::scan {

class ConfigScanner : public Scanner {
 public:
  std::string_view name() const override { return "config"; }
  bool Accepts(Format format) const override { return format == Format::kText; }
  void Scan(std::string_view content, ScanContext& ctx) const override;
};

}  // namespace gauntlet::scan

#endif  // GAUNTLET_WORKER_SCAN_CONFIG_SCANNER_H_
