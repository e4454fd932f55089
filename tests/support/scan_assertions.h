// Helpers to ask a FileReport the questions tests care about: which rule
// fired, at what severity, and what the verdict is.
#ifndef GAUNTLET_TESTS_SUPPORT_SCAN_ASSERTIONS_H_
#define GAUNTLET_TESTS_SUPPORT_SCAN_ASSERTIONS_H_

#include <string>
#include <string_view>

#include "common/verdict.h"

namespace gauntlet::testing {

// The first finding with `rule_id` whose message or evidence contains
// `needle`; nullptr when there is none.
inline const Finding* FindFinding(const FileReport& report, std::string_view rule_id,
                                  std::string_view needle = {}) {
  for (const Finding& f : report.findings) {
    if (f.rule_id == rule_id && (needle.empty() || f.message.find(needle) != std::string::npos ||
                                 f.evidence.find(needle) != std::string::npos)) {
      return &f;
    }
  }
  return nullptr;
}

inline std::string Describe(const FileReport& report) {
  std::string out = std::string(VerdictName(report.verdict)) + " (" + report.format + ")\n";
  for (const Finding& f : report.findings) {
    out += "  " + std::string(SeverityName(f.severity)) + " " + f.rule_id + " " + f.message +
           " [" + f.location.member + "@" + std::to_string(f.location.offset) + "] " + f.evidence +
           "\n";
  }
  return out;
}

}  // namespace gauntlet::testing

#endif  // GAUNTLET_TESTS_SUPPORT_SCAN_ASSERTIONS_H_
