#include "common/severity.h"

#include <array>
#include <cctype>
#include <string>

namespace gauntlet {
namespace {
constexpr std::array<std::string_view, 5> kNames = {"INFO", "LOW", "MEDIUM", "HIGH", "CRITICAL"};
constexpr std::array<std::string_view, 5> kScores = {"1.0", "3.0", "5.5", "8.0", "9.8"};
}  // namespace

std::string_view SeverityName(Severity severity) { return kNames[static_cast<int>(severity)]; }

std::optional<Severity> ParseSeverity(std::string_view text) {
  std::string upper(text);
  for (char& c : upper) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  for (size_t i = 0; i < kNames.size(); ++i) {
    if (upper == kNames[i]) return static_cast<Severity>(i);
  }
  return std::nullopt;
}

std::string_view SecuritySeverityScore(Severity severity) {
  return kScores[static_cast<int>(severity)];
}

}  // namespace gauntlet
