#include "common/policy.h"

#include <toml++/toml.h>

#include <algorithm>
#include <fstream>
#include <mutex>
#include <sstream>

#include "absl/status/status.h"
#include "common/strings.h"

namespace gauntlet {
namespace {

absl::Status Invalid(const std::string& source, std::string_view what) {
  return absl::InvalidArgumentError(StrCat("policy ", source, ": ", what));
}

absl::StatusOr<Severity> SeverityField(const toml::node& node, const std::string& source,
                                       std::string_view key) {
  auto text = node.value<std::string>();
  if (!text) return Invalid(source, StrCat(key, " must be a severity string"));
  auto severity = ParseSeverity(*text);
  if (!severity) {
    return Invalid(
        source, StrCat(key, " = \"", *text, "\" is not one of INFO, LOW, MEDIUM, HIGH, CRITICAL"));
  }
  return *severity;
}

absl::StatusOr<std::vector<std::string>> StringList(const toml::node& node,
                                                    const std::string& source,
                                                    std::string_view key) {
  const toml::array* array = node.as_array();
  if (!array) return Invalid(source, StrCat(key, " must be an array of strings"));
  std::vector<std::string> out;
  for (const toml::node& item : *array) {
    auto text = item.value<std::string>();
    if (!text || text->empty()) {
      return Invalid(source, StrCat(key, " must hold non-empty strings"));
    }
    out.push_back(*text);
  }
  return out;
}

template <typename T>
absl::Status ReadPositive(const toml::table& table, std::string_view section, std::string_view key,
                          T& field, const std::string& source) {
  const toml::node* node = table.get(key);
  if (!node) return absl::OkStatus();
  std::optional<double> value = node->value<double>();
  if (!value || *value <= 0) {
    return Invalid(source, StrCat(section, ".", key, " must be a positive number"));
  }
  field = static_cast<T>(*value);
  return absl::OkStatus();
}

absl::Status CheckKeys(const toml::table& table, std::initializer_list<std::string_view> allowed,
                       std::string_view where, const std::string& source) {
  for (const auto& [key, value] : table) {
    bool known = false;
    for (std::string_view a : allowed) known = known || key.str() == a;
    if (!known) {
      return Invalid(source, StrCat("unknown key '", key.str(), "' in ", where));
    }
  }
  return absl::OkStatus();
}

}  // namespace

bool GlobMatch(std::string_view pattern, std::string_view text) {
  // Iterative wildcard match with single-star backtracking: linear in practice.
  size_t p = 0, t = 0, star = std::string_view::npos, resume = 0;
  while (t < text.size()) {
    if (p < pattern.size() && pattern[p] == '*') {
      star = p++;
      resume = t;
    } else if (p < pattern.size() && pattern[p] == text[t]) {
      ++p;
      ++t;
    } else if (star != std::string_view::npos) {
      p = star + 1;
      t = ++resume;
    } else {
      return false;
    }
  }
  while (p < pattern.size() && pattern[p] == '*') ++p;
  return p == pattern.size();
}

absl::StatusOr<Policy> Policy::FromToml(std::string_view toml_text, std::string source) {
  toml::table root;
  try {
    root = toml::parse(toml_text, source);
  } catch (const toml::parse_error& error) {
    std::ostringstream where;
    where << error.source().begin;
    return Invalid(source, StrCat(error.description(), " at ", where.str()));
  }
  if (auto status = CheckKeys(
          root,
          {"version", "extends", "limits", "imports", "registry", "signatures", "configs", "rules"},
          "the top level", source);
      !status.ok()) {
    return status;
  }

  Policy policy;
  std::string extends = root["extends"].value_or(std::string("default"));
  if (extends == "default" && source != "built-in") {
    policy = Default();
  } else if (extends != "none" && extends != "default") {
    return Invalid(source, "extends must be \"default\" or \"none\"");
  }
  policy.source_ = source;

  if (const toml::table* limits = root["limits"].as_table()) {
    ScanLimits& l = policy.limits_;
    for (auto status :
         {ReadPositive(*limits, "limits", "max_decompressed_bytes", l.max_decompressed_bytes,
                       source),
          ReadPositive(*limits, "limits", "max_expansion_ratio", l.max_expansion_ratio, source),
          ReadPositive(*limits, "limits", "max_nesting_depth", l.max_nesting_depth, source),
          ReadPositive(*limits, "limits", "max_archive_members", l.max_archive_members, source),
          ReadPositive(*limits, "limits", "max_pickle_opcodes", l.max_pickle_opcodes, source),
          ReadPositive(*limits, "limits", "max_pickle_stack", l.max_pickle_stack, source),
          ReadPositive(*limits, "limits", "max_pickle_memo", l.max_pickle_memo, source),
          ReadPositive(*limits, "limits", "timeout_seconds", l.timeout_seconds, source)}) {
      if (!status.ok()) return status;
    }
    if (auto status = CheckKeys(*limits,
                                {"max_decompressed_bytes", "max_expansion_ratio",
                                 "max_nesting_depth", "max_archive_members", "max_pickle_opcodes",
                                 "max_pickle_stack", "max_pickle_memo", "timeout_seconds"},
                                "[limits]", source);
        !status.ok()) {
      return status;
    }
  }

  Layer layer;
  if (const toml::table* imports = root["imports"].as_table()) {
    if (auto status = CheckKeys(*imports, {"unknown_called", "unknown_referenced", "deny", "allow"},
                                "[imports]", source);
        !status.ok()) {
      return status;
    }
    if (const toml::node* node = imports->get("unknown_called")) {
      auto severity = SeverityField(*node, source, "imports.unknown_called");
      if (!severity.ok()) return severity.status();
      policy.unknown_called_ = *severity;
    }
    if (const toml::node* node = imports->get("unknown_referenced")) {
      auto severity = SeverityField(*node, source, "imports.unknown_referenced");
      if (!severity.ok()) return severity.status();
      policy.unknown_referenced_ = *severity;
    }
    if (const toml::table* deny = (*imports)["deny"].as_table()) {
      for (const auto& [key, list] : *deny) {
        auto severity = ParseSeverity(key.str());
        if (!severity) {
          return Invalid(source,
                         StrCat("[imports.deny] key '", key.str(), "' must be a severity name"));
        }
        auto patterns = StringList(list, source, StrCat("imports.deny.", key.str()));
        if (!patterns.ok()) return patterns.status();
        for (std::string& p : *patterns) layer.deny.emplace_back(std::move(p), *severity);
      }
    }
    if (const toml::table* allow = (*imports)["allow"].as_table()) {
      if (auto status = CheckKeys(*allow, {"patterns"}, "[imports.allow]", source); !status.ok()) {
        return status;
      }
      if (const toml::node* node = allow->get("patterns")) {
        auto patterns = StringList(*node, source, "imports.allow.patterns");
        if (!patterns.ok()) return patterns.status();
        for (std::string& pattern : *patterns) {
          if (pattern.find('*') == std::string::npos) {
            layer.allow_exact.insert(std::move(pattern));
          } else {
            layer.allow_globs.push_back(std::move(pattern));
          }
        }
      }
    }
  }
  policy.layers_.insert(policy.layers_.begin(), std::move(layer));

  if (const toml::table* registry = root["registry"].as_table()) {
    if (auto status = CheckKeys(
            *registry,
            {"approved_formats", "allowed_licenses", "allowed_publishers", "violation_severity"},
            "[registry]", source);
        !status.ok()) {
      return status;
    }
    RegistryPolicy& r = policy.registry_;
    for (auto [key, field] : {std::pair{"approved_formats", &r.approved_formats},
                              std::pair{"allowed_licenses", &r.allowed_licenses},
                              std::pair{"allowed_publishers", &r.allowed_publishers}}) {
      if (const toml::node* node = registry->get(key)) {
        auto list = StringList(*node, source, StrCat("registry.", key));
        if (!list.ok()) return list.status();
        *field = std::move(*list);
      }
    }
    if (const toml::node* node = registry->get("violation_severity")) {
      auto severity = SeverityField(*node, source, "registry.violation_severity");
      if (!severity.ok()) return severity.status();
      r.violation_severity = *severity;
    }
  }

  if (const toml::table* signatures = root["signatures"].as_table()) {
    if (auto status = CheckKeys(*signatures, {"builtin", "rule_files", "max_scan_bytes"},
                                "[signatures]", source);
        !status.ok()) {
      return status;
    }
    SignaturePolicy& sig = policy.signatures_;
    if (const toml::node* node = signatures->get("builtin")) {
      auto builtin = node->value<bool>();
      if (!builtin) return Invalid(source, "signatures.builtin must be true or false");
      sig.builtin = *builtin;
    }
    if (const toml::node* node = signatures->get("rule_files")) {
      auto files = StringList(*node, source, "signatures.rule_files");
      if (!files.ok()) return files.status();
      // Relative rule files are relative to the policy file.
      std::string dir =
          source.find('/') == std::string::npos ? "" : source.substr(0, source.rfind('/') + 1);
      for (std::string& file : *files) {
        sig.rule_files.push_back(file.front() == '/' ? file : dir + file);
      }
    }
    if (auto status =
            ReadPositive(*signatures, "signatures", "max_scan_bytes", sig.max_scan_bytes, source);
        !status.ok()) {
      return status;
    }
  }

  if (const toml::table* configs = root["configs"].as_table()) {
    if (auto status = CheckKeys(*configs, {"allowed_targets"}, "[configs]", source); !status.ok()) {
      return status;
    }
    if (const toml::node* node = configs->get("allowed_targets")) {
      auto targets = StringList(*node, source, "configs.allowed_targets");
      if (!targets.ok()) return targets.status();
      // A user's list adds to the layers below it.
      for (std::string& t : *targets) policy.configs_.allowed_targets.push_back(std::move(t));
    }
  }

  if (const toml::table* rule_table = root["rules"].as_table()) {
    for (const auto& [key, value] : *rule_table) {
      auto text = value.value<std::string>();
      if (text && *text == "OFF") {
        policy.rule_overrides_[std::string(key.str())] = std::nullopt;
        continue;
      }
      auto severity = SeverityField(value, source, StrCat("rules.", key.str()));
      if (!severity.ok()) return severity.status();
      policy.rule_overrides_[std::string(key.str())] = *severity;
    }
  }
  return policy;
}

const Policy& Policy::Default() {
  static const Policy* policy = [] {
    auto parsed = FromToml(DefaultPolicyToml(), "built-in");
    // The built-in text is compiled in and covered by tests; failing here is a
    // build defect, not user input.
    if (!parsed.ok()) std::abort();
    return new Policy(std::move(*parsed));
  }();
  return *policy;
}

absl::StatusOr<Policy> Policy::FromTomlOrDefault(std::string_view toml_text, std::string source) {
  if (toml_text.empty()) return Default();
  return FromToml(toml_text, std::move(source));
}

std::shared_ptr<const Policy> Policy::Shared(const std::string& toml_text) {
  static std::mutex mu;
  static std::map<std::string, std::shared_ptr<const Policy>> cache;
  std::lock_guard lock(mu);
  auto it = cache.find(toml_text);
  if (it != cache.end()) return it->second;
  auto policy = FromTomlOrDefault(toml_text, "submitted policy");
  auto shared = policy.ok() ? std::make_shared<const Policy>(std::move(*policy)) : nullptr;
  if (cache.size() > 64) cache.clear();
  cache.emplace(toml_text, shared);
  return shared;
}

absl::StatusOr<Policy> Policy::LoadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError(StrCat("policy file ", path, " cannot be opened"));
  std::stringstream text;
  text << in.rdbuf();
  return FromToml(text.str(), path);
}

ImportDecision Policy::ClassifyImport(std::string_view qualified_name) const {
  for (const Layer& layer : layers_) {
    const std::pair<std::string, Severity>* worst = nullptr;
    for (const auto& entry : layer.deny) {
      if (GlobMatch(entry.first, qualified_name) && (!worst || entry.second > worst->second)) {
        worst = &entry;
      }
    }
    if (worst) return {ImportClass::kDenied, worst->second, worst->first};
    if (auto it = layer.allow_exact.find(std::string(qualified_name));
        it != layer.allow_exact.end()) {
      return {ImportClass::kAllowed, Severity::kInfo, *it};
    }
    for (const std::string& pattern : layer.allow_globs) {
      if (GlobMatch(pattern, qualified_name))
        return {ImportClass::kAllowed, Severity::kInfo, pattern};
    }
  }
  return {};
}

bool Policy::IsAllowedConfigTarget(std::string_view target) const {
  return std::any_of(configs_.allowed_targets.begin(), configs_.allowed_targets.end(),
                     [&](const std::string& pattern) { return GlobMatch(pattern, target); });
}

std::optional<Severity> Policy::EffectiveSeverity(std::string_view rule_id,
                                                  Severity proposed) const {
  auto it = rule_overrides_.find(rule_id);
  if (it == rule_overrides_.end()) return proposed;
  return it->second;
}

}  // namespace gauntlet
