// The scan policy: which pickle imports are allowed or denied (and how
// badly), per-rule severity overrides, and the resource limits every scanner
// honours. It is data, loaded from TOML, so users extend it without a rebuild.
//
// A user file is layered over the built-in default (unless it says
// `extends = "none"`): its deny and allow patterns are consulted first, so it
// can both tighten and relax the defaults.
#ifndef GAUNTLET_COMMON_POLICY_H_
#define GAUNTLET_COMMON_POLICY_H_

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_set>
#include <vector>

#include "absl/status/statusor.h"
#include "common/severity.h"

namespace gauntlet {

struct ScanLimits {
  uint64_t max_decompressed_bytes = 1ull << 30;  // Per decompressed member or stream.
  double max_expansion_ratio = 250.0;            // Decompressed / compressed, per member.
  uint32_t max_nesting_depth = 8;                // Containers inside containers.
  uint64_t max_archive_members = 100000;
  uint64_t max_pickle_opcodes = 20000000;
  uint64_t max_pickle_stack = 1000000;
  uint64_t max_pickle_memo = 5000000;
  double timeout_seconds = 60.0;  // Wall clock per top-level file.
};

// The registry gate's checks on a whole model. Each is off while its list is
// empty; a violation is reported at `violation_severity`.
struct RegistryPolicy {
  std::vector<std::string> approved_formats;    // Format labels, e.g. "safetensors".
  std::vector<std::string> allowed_licenses;    // SPDX ids, compared case-insensitively.
  std::vector<std::string> allowed_publishers;  // Hugging Face orgs/users.
  Severity violation_severity = Severity::kHigh;
};

// Signature (YARA) rules: the built-in set and the user's rule files, run
// over non-text content up to max_scan_bytes and over decoded payload strings.
struct SignaturePolicy {
  bool builtin = true;
  std::vector<std::string> rule_files;
  uint64_t max_scan_bytes = 32ull << 20;
};

// Configs that name a callable to instantiate (Hydra/NeMo `_target_`,
// LightningCLI `class_path`): targets beyond the import allowlist that a
// framework's configs legitimately name.
struct ConfigPolicy {
  std::vector<std::string> allowed_targets;  // Glob patterns.
};

enum class ImportClass { kAllowed, kDenied, kUnknown };

struct ImportDecision {
  ImportClass kind = ImportClass::kUnknown;
  Severity severity = Severity::kInfo;  // Meaningful for kDenied.
  std::string pattern;                  // The policy pattern that matched, if any.
};

class Policy {
 public:
  // The built-in policy (see default_policy.toml.h); always valid.
  static const Policy& Default();
  static absl::StatusOr<Policy> FromToml(std::string_view toml_text, std::string source);
  static absl::StatusOr<Policy> LoadFile(const std::string& path);
  // A job's policy as it travels: empty text means the built-in policy.
  static absl::StatusOr<Policy> FromTomlOrDefault(std::string_view toml_text, std::string source);
  // The same, parsed once per distinct text and shared (thread-safe, a
  // bounded cache); null when the text is not a valid policy.
  static std::shared_ptr<const Policy> Shared(const std::string& toml_text);

  // Classifies a fully qualified import such as "os.system" or
  // "torch._utils._rebuild_tensor_v2". Deny beats allow within a layer;
  // earlier (user) layers beat later (default) ones.
  ImportDecision ClassifyImport(std::string_view qualified_name) const;

  // The severity to report for `rule_id`: the override if the policy has one,
  // else `proposed`. nullopt when the policy switches the rule off.
  std::optional<Severity> EffectiveSeverity(std::string_view rule_id, Severity proposed) const;

  const ScanLimits& limits() const { return limits_; }
  const RegistryPolicy& registry() const { return registry_; }
  const SignaturePolicy& signatures() const { return signatures_; }
  // Whether a config's instantiation target matches [configs] allowed_targets.
  bool IsAllowedConfigTarget(std::string_view target) const;
  Severity unknown_called_severity() const { return unknown_called_; }
  Severity unknown_referenced_severity() const { return unknown_referenced_; }
  const std::string& source() const { return source_; }

 private:
  struct Layer {
    std::vector<std::pair<std::string, Severity>> deny;
    // Allow patterns without '*' (nearly all of them) are looked up, not
    // matched one by one: the built-in list names over a thousand classes.
    std::unordered_set<std::string> allow_exact;
    std::vector<std::string> allow_globs;
  };
  std::vector<Layer> layers_;
  std::map<std::string, std::optional<Severity>, std::less<>> rule_overrides_;
  ScanLimits limits_;
  RegistryPolicy registry_;
  SignaturePolicy signatures_;
  ConfigPolicy configs_;
  Severity unknown_called_ = Severity::kMedium;
  Severity unknown_referenced_ = Severity::kLow;
  std::string source_ = "built-in";
};

// '*' matches any run of characters, dots included; everything else is literal.
bool GlobMatch(std::string_view pattern, std::string_view text);

// The TOML text of the built-in policy, printed by `gauntlet policy show`.
std::string_view DefaultPolicyToml();

// The YARA source of the built-in signature rules.
std::string_view DefaultSignatureRules();

}  // namespace gauntlet

#endif  // GAUNTLET_COMMON_POLICY_H_
