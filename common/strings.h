// Small string helpers that work with std::string_view. Debian's Abseil is
// built with its own absl::string_view, so absl::StrCat and friends do not
// accept std::string_view; these do.
#ifndef GAUNTLET_COMMON_STRINGS_H_
#define GAUNTLET_COMMON_STRINGS_H_

#include <charconv>
#include <concepts>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/strings/string_view.h"

namespace gauntlet {

// Hexadecimal formatting for StrCat, zero-padded to `width` digits.
struct Hex {
  uint64_t value;
  int width = 0;
};

namespace strings_internal {
inline void Append(std::string& out, std::string_view s) { out.append(s); }
inline void Append(std::string& out, const char* s) { out.append(s); }
inline void Append(std::string& out, absl::string_view s) { out.append(s.data(), s.size()); }
inline void Append(std::string& out, const std::string& s) { out.append(s); }
inline void Append(std::string& out, char c) { out.push_back(c); }
void Append(std::string& out, double value);
void Append(std::string& out, Hex hex);
template <std::integral T>
requires(!std::same_as<T, char> && !std::same_as<T, bool>) void Append(std::string& out, T value) {
  char buffer[24];
  auto result = std::to_chars(buffer, buffer + sizeof(buffer), value);
  out.append(buffer, result.ptr);
}
}  // namespace strings_internal

template <typename... Args>
std::string StrCat(const Args&... args) {
  std::string out;
  (strings_internal::Append(out, args), ...);
  return out;
}

// Splits on any of `separators`, keeping empty pieces.
std::vector<std::string_view> StrSplit(std::string_view text, std::string_view separators);

template <typename Range>
std::string StrJoin(const Range& parts, std::string_view separator) {
  std::string out;
  bool first = true;
  for (const auto& part : parts) {
    if (!first) out.append(separator);
    strings_internal::Append(out, part);
    first = false;
  }
  return out;
}

// Whole-string decimal parse; nullopt on anything else (sign, spaces, overflow).
template <std::integral T>
std::optional<T> ParseInt(std::string_view text) {
  T value{};
  auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || ptr != text.data() + text.size() || text.empty()) return std::nullopt;
  return value;
}

inline bool StartsWith(std::string_view text, std::string_view prefix) {
  return text.substr(0, prefix.size()) == prefix;
}
inline bool EndsWith(std::string_view text, std::string_view suffix) {
  return text.size() >= suffix.size() && text.substr(text.size() - suffix.size()) == suffix;
}

// ASCII lower case (bytes above 0x7f are kept as they are).
std::string AsciiLower(std::string_view text);

inline absl::string_view ToAbsl(std::string_view s) {
  return absl::string_view(s.data(), s.size());
}
inline std::string_view FromAbsl(absl::string_view s) {
  return std::string_view(s.data(), s.size());
}

}  // namespace gauntlet

#endif  // GAUNTLET_COMMON_STRINGS_H_
