// Severity of a finding. Ordered, so "at or above a threshold" is a comparison.
#ifndef GAUNTLET_COMMON_SEVERITY_H_
#define GAUNTLET_COMMON_SEVERITY_H_

#include <optional>
#include <string_view>

namespace gauntlet {

enum class Severity { kInfo = 0, kLow = 1, kMedium = 2, kHigh = 3, kCritical = 4 };

// "INFO", "LOW", "MEDIUM", "HIGH", "CRITICAL".
std::string_view SeverityName(Severity severity);

// Case-insensitive inverse of SeverityName; nullopt for anything else.
std::optional<Severity> ParseSeverity(std::string_view text);

// The SARIF `security-severity` property (a CVSS-like "0.1".."10.0" string)
// that GitHub code scanning uses to bucket results.
std::string_view SecuritySeverityScore(Severity severity);

}  // namespace gauntlet

#endif  // GAUNTLET_COMMON_SEVERITY_H_
