#include "common/verdict.h"

#include <algorithm>

namespace gauntlet {

std::string_view VerdictName(Verdict verdict) {
  switch (verdict) {
    case Verdict::kClean:
      return "CLEAN";
    case Verdict::kSuspicious:
      return "SUSPICIOUS";
    case Verdict::kMalicious:
      return "MALICIOUS";
    case Verdict::kError:
      return "ERROR";
  }
  return "ERROR";
}

Verdict DeriveVerdict(const std::vector<Finding>& findings, bool fully_analysed) {
  Severity max = Severity::kInfo;
  for (const Finding& f : findings) max = std::max(max, f.severity);
  if (!findings.empty() && max >= Severity::kHigh) return Verdict::kMalicious;
  if (!fully_analysed) return Verdict::kError;
  if (!findings.empty() && max >= Severity::kMedium) return Verdict::kSuspicious;
  return Verdict::kClean;
}

Verdict WorseVerdict(Verdict a, Verdict b) {
  auto rank = [](Verdict v) {
    switch (v) {
      case Verdict::kMalicious:
        return 3;
      case Verdict::kError:
        return 2;
      case Verdict::kSuspicious:
        return 1;
      case Verdict::kClean:
        return 0;
    }
    return 3;
  };
  return rank(a) >= rank(b) ? a : b;
}

std::optional<Severity> FileReport::MaxSeverity() const {
  std::optional<Severity> max;
  for (const Finding& f : findings) {
    if (!max || f.severity > *max) max = f.severity;
  }
  return max;
}

}  // namespace gauntlet
