#include "common/strings.h"

#include <cctype>
#include <cstdio>

namespace gauntlet {
namespace strings_internal {

void Append(std::string& out, double value) {
  char buffer[32];
  int n = std::snprintf(buffer, sizeof(buffer), "%g", value);
  out.append(buffer, static_cast<size_t>(n));
}

void Append(std::string& out, Hex hex) {
  char buffer[24];
  int n = std::snprintf(buffer, sizeof(buffer), "%0*llx", hex.width,
                        static_cast<unsigned long long>(hex.value));
  out.append(buffer, static_cast<size_t>(n));
}

}  // namespace strings_internal

std::vector<std::string_view> StrSplit(std::string_view text, std::string_view separators) {
  std::vector<std::string_view> parts;
  size_t start = 0;
  while (true) {
    size_t at = text.find_first_of(separators, start);
    if (at == std::string_view::npos) {
      parts.push_back(text.substr(start));
      return parts;
    }
    parts.push_back(text.substr(start, at - start));
    start = at + 1;
  }
}

std::string AsciiLower(std::string_view text) {
  std::string lower(text);
  for (char& c : lower)
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  return lower;
}

}  // namespace gauntlet
