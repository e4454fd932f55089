// Scans GGUF files (llama.cpp): validates the header, metadata and tensor
// table against the file size, and looks for Jinja template injection in the
// chat template and any other template-valued metadata (CVE-2024-34359).
#ifndef GAUNTLET_WORKER_SCAN_GGUF_SCANNER_H_
#define GAUNTLET_WORKER_SCAN_GGUF_SCANNER_H_

#include "worker/scan/scanner.h"

namespace gauntlet::scan {

class GgufScanner : public Scanner {
 public:
  std::string_view name() const override { return "gguf"; }
  bool Accepts(Format format) const override { return format == Format::kGguf; }
  void Scan(std::string_view content, ScanContext& ctx) const override;
};

}  // namespace gauntlet::scan

#endif  // GAUNTLET_WORKER_SCAN_GGUF_SCANNER_H_
