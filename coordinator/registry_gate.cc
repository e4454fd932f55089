#include "coordinator/registry_gate.h"

#include <algorithm>
#include <array>

#include "common/rules.h"
#include "common/strings.h"

namespace gauntlet {
namespace {

std::string_view BaseName(std::string_view path) {
  size_t slash = path.rfind('/');
  return slash == std::string_view::npos ? path : path.substr(slash + 1);
}

bool Contains(const std::vector<std::string>& list, std::string_view value) {
  std::string lower = AsciiLower(value);
  return std::any_of(list.begin(), list.end(),
                     [&](const std::string& s) { return AsciiLower(s) == lower; });
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

void ApplyRegistryPolicy(const RegistryPolicy& policy, const std::vector<FileReport>& files,
                         std::string_view explicit_publisher, ModelReport& model) {
  const Severity severity = policy.violation_severity;
  std::string card_license, file_license;
  for (size_t index : model.file_indices) {
    const FileReport& file = files[index];
    std::string name = AsciiLower(BaseName(file.path));
    bool top_level = file.path.size() > model.path.size() &&
                     file.path.find('/', model.path.size() + 1) == std::string::npos;
    // The worker read the license while it scanned the file (model_card.h).
    if (top_level) {
      std::string license, source;
      for (const auto& [key, value] : file.metadata) {
        if (key == "license") license = value;
        if (key == "license.source") source = value;
      }
      if (!license.empty()) (source == "model card" ? card_license : file_license) = license;
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
