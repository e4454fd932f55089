#include "coordinator/registry_gate.h"

#include <algorithm>
#include <array>
#include <cctype>
#include <fstream>

#include "common/rules.h"
#include "common/strings.h"

namespace gauntlet {
namespace {

constexpr size_t kMaxCardBytes = 64 * 1024;

std::string Lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

std::string_view Trim(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
  if (s.size() >= 2 && (s.front() == '"' || s.front() == '\'') && s.back() == s.front()) {
    s = s.substr(1, s.size() - 2);
  }
  return s;
}

std::string ReadPrefix(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::string text(kMaxCardBytes, '\0');
  in.read(text.data(), static_cast<std::streamsize>(text.size()));
  text.resize(static_cast<size_t>(in.gcount()));
  return text;
}

std::string_view BaseName(std::string_view path) {
  size_t slash = path.rfind('/');
  return slash == std::string_view::npos ? path : path.substr(slash + 1);
}

bool Contains(const std::vector<std::string>& list, std::string_view value) {
  std::string lower = Lower(value);
  return std::any_of(list.begin(), list.end(),
                     [&](const std::string& s) { return Lower(s) == lower; });
}

Finding ModelFinding(std::string_view rule, Severity severity, std::string message,
                     std::string file, std::string evidence) {
  return Finding{std::string(rule), severity, std::move(message), Location{std::move(file), "", 0},
                 std::move(evidence)};
}

}  // namespace

std::string PublisherFromPath(std::string_view path) {
  for (std::string_view part : StrSplit(path, "/")) {
    if (!StartsWith(part, "models--")) continue;
    part.remove_prefix(8);
    size_t sep = part.find("--");
    // "models--NAME" (no org) is a user-less repo: no publisher to check.
    if (sep != std::string_view::npos && sep > 0) return std::string(part.substr(0, sep));
  }
  return {};
}

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
  std::string lower = Lower(text.substr(0, 4096));
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

void ApplyRegistryPolicy(const RegistryPolicy& policy, const std::vector<FileReport>& files,
                         std::string_view explicit_publisher, ModelReport& model) {
  const Severity severity = policy.violation_severity;
  std::string card_license, file_license;
  for (size_t index : model.file_indices) {
    const FileReport& file = files[index];
    std::string name = Lower(BaseName(file.path));
    bool top_level = file.path.size() > model.path.size() &&
                     file.path.find('/', model.path.size() + 1) == std::string::npos;
    if (top_level && name == "readme.md")
      card_license = LicenseFromModelCard(ReadPrefix(file.path));
    if (top_level &&
        (name == "license" || name == "license.txt" || name == "license.md" || name == "copying")) {
      file_license = LicenseFromLicenseText(ReadPrefix(file.path));
    }
    if (!policy.approved_formats.empty() && file.format != "text" && file.format != "empty" &&
        !Contains(policy.approved_formats, file.format)) {
      model.findings.push_back(
          ModelFinding(rules::kUnapprovedFormat, severity,
                       StrCat("format '", file.format, "' is not approved by the registry policy"),
                       file.path, StrCat(file.path, " is ", file.format)));
    }
  }
  model.license = !card_license.empty() ? card_license : file_license;
  std::string from_path = PublisherFromPath(model.path);
  model.publisher = !from_path.empty() ? from_path : std::string(explicit_publisher);

  if (!policy.allowed_licenses.empty()) {
    if (model.license.empty()) {
      model.findings.push_back(ModelFinding(rules::kLicenseMissing, severity,
                                            "no license in README.md front matter or LICENSE",
                                            model.path, ""));
    } else if (!Contains(policy.allowed_licenses, model.license)) {
      model.findings.push_back(
          ModelFinding(rules::kLicenseNotAllowed, severity,
                       StrCat("license '", model.license, "' is not on the allowlist"), model.path,
                       model.license));
    }
  }
  if (!policy.allowed_publishers.empty()) {
    if (model.publisher.empty()) {
      model.findings.push_back(ModelFinding(rules::kPublisherUnknown, severity,
                                            "publisher unknown: not a Hugging Face cache path and "
                                            "no --publisher given",
                                            model.path, ""));
    } else if (!Contains(policy.allowed_publishers, model.publisher)) {
      model.findings.push_back(
          ModelFinding(rules::kPublisherNotAllowed, severity,
                       StrCat("publisher '", model.publisher, "' is not on the allowlist"),
                       model.path, model.publisher));
    }
  }
}

}  // namespace gauntlet
