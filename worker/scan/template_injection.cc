#include "worker/scan/template_injection.h"

#include <algorithm>
#include <array>
#include <cctype>

namespace gauntlet::scan {

bool LooksLikeTemplate(std::string_view text) {
  return text.find("{{") != std::string_view::npos || text.find("{%") != std::string_view::npos;
}

std::optional<TemplateThreat> FindTemplateThreat(std::string_view text) {
  // Benign chat templates loop over messages, compare roles, call string
  // methods and raise_exception; none of them touch these.
  static constexpr std::array<std::string_view, 22> kTokens = {
      "__class__",  "__globals__",  "__subclasses__", "__builtins__",     "__import__", "__mro__",
      "__base__",   "__bases__",    "__init__",       "__getattribute__", "__dict__",   "__code__",
      "__reduce__", "func_globals", "|attr(",         "| attr(",          "os.popen",   "os.system",
      "subprocess", "popen(",       "cycler.",        "joiner.",
  };
  std::string lower(text);
  std::transform(lower.begin(), lower.end(), lower.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  size_t best = std::string::npos;
  std::string_view found;
  for (std::string_view token : kTokens) {
    size_t at = lower.find(token);
    if (at < best) {
      best = at;
      found = token;
    }
  }
  if (best == std::string::npos) return std::nullopt;
  size_t from = best > 40 ? best - 40 : 0;
  return TemplateThreat{std::string(found), std::string(text.substr(from, found.size() + 80))};
}

}  // namespace gauntlet::scan
