// Recognises SentencePiece tokenizer models (`tokenizer.model`, shipped with
// Llama, T5, Mistral...). The format is data only: vocabulary pieces,
// scores and normalisation tables, nothing a loader executes. The scanner
// walks the whole protobuf, so a damaged or disguised file is not passed.
#ifndef GAUNTLET_WORKER_SCAN_SENTENCEPIECE_SCANNER_H_
#define GAUNTLET_WORKER_SCAN_SENTENCEPIECE_SCANNER_H_

#include "worker/scan/scanner.h"

namespace gauntlet::scan {

class SentencePieceScanner : public Scanner {
 public:
  std::string_view name() const override { return "sentencepiece"; }
  bool Accepts(Format format) const override { return format == Format::kSentencePiece; }
  void Scan(std::string_view content, ScanContext& ctx) const override;
};

}  // namespace gauntlet::scan

#endif  // GAUNTLET_WORKER_SCAN_SENTENCEPIECE_SCANNER_H_
