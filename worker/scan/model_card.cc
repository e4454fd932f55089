#include "worker/scan/model_card.h"

#include <array>
#include <cctype>

#include "common/strings.h"

namespace gauntlet::scan {
namespace {

constexpr size_t kMaxCardBytes = 64 * 1024;

std::string_view Trim(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
  if (s.size() >= 2 && (s.front() == '"' || s.front() == '\'') && s.back() == s.front()) {
    s = s.substr(1, s.size() - 2);
  }
  return s;
}

}  // namespace

std::string LicenseFromModelCard(std::string_view readme) {
  if (!StartsWith(readme, "---")) return {};
  std::vector<std::string_view> lines = StrSplit(readme, "\n");
  for (size_t i = 1; i < lines.size(); ++i) {
    std::string_view line = lines[i];
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (line == "---") break;
    if (!StartsWith(line, "license:")) continue;
    std::string_view value = Trim(line.substr(8));
    if (!value.empty()) return std::string(value);
    // A YAML list on the following lines: take its first item.
    if (i + 1 < lines.size()) {
      std::string_view next = Trim(lines[i + 1]);
      if (StartsWith(next, "- ")) return std::string(Trim(next.substr(2)));
    }
    return {};
  }
  return {};
}

std::string LicenseFromLicenseText(std::string_view text) {
  size_t spdx = text.find("SPDX-License-Identifier:");
  if (spdx != std::string_view::npos) {
    std::string_view rest = text.substr(spdx + 24);
    return std::string(Trim(rest.substr(0, rest.find('\n'))));
  }
  std::string lower = AsciiLower(text.substr(0, 4096));
  auto has = [&](std::string_view needle) { return lower.find(needle) != std::string::npos; };
  struct Known {
    std::array<std::string_view, 2> needles;
    std::string_view id;
  };
  static constexpr Known kKnown[] = {
      {{"apache license", "version 2.0"}, "apache-2.0"},
      {{"mit license", ""}, "mit"},
      {{"permission is hereby granted, free of charge", ""}, "mit"},
      {{"gnu lesser general public license", "version 3"}, "lgpl-3.0"},
      {{"gnu affero general public license", "version 3"}, "agpl-3.0"},
      {{"gnu general public license", "version 3"}, "gpl-3.0"},
      {{"gnu general public license", "version 2"}, "gpl-2.0"},
      {{"mozilla public license", "2.0"}, "mpl-2.0"},
      {{"llama 2 community license", ""}, "llama2"},
      {{"llama 3 community license", ""}, "llama3"},
      {{"attribution-noncommercial 4.0", ""}, "cc-by-nc-4.0"},
      {{"attribution 4.0 international", ""}, "cc-by-4.0"},
      {{"redistribution and use in source and binary forms", "neither the name"}, "bsd-3-clause"},
      {{"redistribution and use in source and binary forms", ""}, "bsd-2-clause"},
  };
  for (const Known& k : kKnown) {
    if (has(k.needles[0]) && (k.needles[1].empty() || has(k.needles[1]))) return std::string(k.id);
  }
  return {};
}

void AddModelCardFacts(std::string_view display_path, std::string_view content, ScanContext& ctx) {
  size_t slash = display_path.rfind('/');
  std::string name =
      AsciiLower(slash == std::string_view::npos ? display_path : display_path.substr(slash + 1));
  std::string_view prefix = content.substr(0, kMaxCardBytes);
  std::string license;
  std::string_view source;
  if (name == "readme.md") {
    license = LicenseFromModelCard(prefix);
    source = kFromModelCard;
  } else if (name == "license" || name == "license.txt" || name == "license.md" ||
             name == "copying") {
    license = LicenseFromLicenseText(prefix);
    source = kFromLicenseFile;
  }
  if (license.empty()) return;
  ctx.AddMetadata(kLicenseKey, license);
  ctx.AddMetadata(kLicenseSourceKey, source);
}

}  // namespace gauntlet::scan
