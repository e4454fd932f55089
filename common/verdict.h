// The per-file outcome of a scan and the rule that derives it from findings.
#ifndef GAUNTLET_COMMON_VERDICT_H_
#define GAUNTLET_COMMON_VERDICT_H_

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/finding.h"

namespace gauntlet {

// ERROR means "not fully analysed": unparseable input, a limit hit or a
// timeout. It is never a pass.
enum class Verdict { kClean, kSuspicious, kMalicious, kError };

std::string_view VerdictName(Verdict verdict);

// MALICIOUS when any finding is HIGH or above; otherwise ERROR when the file
// was not fully analysed; otherwise SUSPICIOUS when any finding is MEDIUM or
// above; otherwise CLEAN. A HIGH finding outranks an incomplete parse because
// the payload before the error (e.g. REDUCE then garbage) still runs.
Verdict DeriveVerdict(const std::vector<Finding>& findings, bool fully_analysed);

// The more alarming of two verdicts: MALICIOUS > ERROR > SUSPICIOUS > CLEAN.
Verdict WorseVerdict(Verdict a, Verdict b);

struct FileReport {
  std::string path;
  std::string format;  // What content sniffing found, e.g. "pytorch-zip".
  uint64_t size_bytes = 0;
  bool fully_analysed = true;
  std::vector<Finding> findings;
  Verdict verdict = Verdict::kClean;
  // Key/value facts a scanner read from the file (safetensors __metadata__,
  // GGUF general.* keys), for JSON consumers.
  std::vector<std::pair<std::string, std::string>> metadata;

  std::optional<Severity> MaxSeverity() const;
};

}  // namespace gauntlet

#endif  // GAUNTLET_COMMON_VERDICT_H_
