#include "worker/scan/config_instantiation.h"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>

#include "common/rules.h"
#include "common/strings.h"
#include "worker/scan/scan_context.h"

namespace gauntlet::scan {
namespace {

using nlohmann::json;

// Deeper nesting than any real config; yaml-cpp parses recursively, so the
// text is measured before it is handed over.
constexpr int kMaxDepth = 256;
// YAML aliases share nodes: a billion-laughs document expands on conversion.
constexpr uint64_t kMaxNodes = 1000000;

// The keys that name a class or function to call with the rest as arguments.
constexpr std::string_view kTargetKeys[] = {"_target_", "class_path"};

// OmegaConf's own resolvers only read the config, the environment or
// strings; a resolver named like these runs code in the projects that
// register it (OmegaConf.register_new_resolver("eval", eval) is common).
bool IsBuiltinResolver(std::string_view name) {
  return name == "oc.env" || name == "oc.decode" || name == "oc.deprecated" ||
         name == "oc.select" || name == "oc.dict.keys" || name == "oc.dict.values" ||
         name == "oc.create" || name == "env" || name == "hydra";
}
bool IsCodeResolver(std::string_view name) {
  for (std::string_view code : {"eval", "exec", "python", "py", "shell", "sh", "bash", "cmd", "run",
                                "system", "subprocess", "import", "call", "lambda"}) {
    if (name == code) return true;
  }
  return false;
}

// Maximum bracket or indentation depth, without a parser.
int TextDepth(std::string_view text) {
  int depth = 0, deepest = 0;
  size_t indent = 0;
  bool line_start = true;
  for (char c : text) {
    if (c == '[' || c == '{') deepest = std::max(deepest, ++depth);
    if ((c == ']' || c == '}') && depth > 0) --depth;
    if (c == '\n') {
      line_start = true;
      indent = 0;
    } else if (line_start && (c == ' ' || c == '-')) {
      ++indent;
    } else {
      line_start = false;
    }
    deepest = std::max(deepest, static_cast<int>(indent / 2));
  }
  return deepest;
}

// YAML as JSON values, so one walker serves both. nullopt when the budget
// of nodes runs out.
std::optional<json> ToJson(const YAML::Node& node, int depth, uint64_t& budget) {
  if (depth > kMaxDepth || budget == 0) return std::nullopt;
  --budget;
  switch (node.Type()) {
    case YAML::NodeType::Map: {
      json out = json::object();
      for (const auto& item : node) {
        auto value = ToJson(item.second, depth + 1, budget);
        if (!value) return std::nullopt;
        std::string key = item.first.IsScalar() ? item.first.Scalar() : std::string("?");
        out[key] = std::move(*value);
      }
      return out;
    }
    case YAML::NodeType::Sequence: {
      json out = json::array();
      for (const auto& item : node) {
        auto value = ToJson(item, depth + 1, budget);
        if (!value) return std::nullopt;
        out.push_back(std::move(*value));
      }
      return out;
    }
    case YAML::NodeType::Scalar:
      return json(node.Scalar());
    default:
      return json();
  }
}

class ConfigWalker {
 public:
  ConfigWalker(std::string_view where, uint64_t offset, ScanContext& ctx)
      : where_(where), offset_(offset), ctx_(ctx) {}

  void Walk(const json& node, const std::string& path) {
    if (node.is_string()) {
      Interpolations(node.get_ref<const std::string&>(), path);
      return;
    }
    if (node.is_array()) {
      for (size_t i = 0; i < node.size(); ++i) Walk(node[i], StrCat(path, "[", i, "]"));
      return;
    }
    if (!node.is_object()) return;
    for (std::string_view key : kTargetKeys) {
      auto it = node.find(key);
      if (it != node.end() && it->is_string()) Target(it->get<std::string>(), key, path);
    }
    for (const auto& [key, child] : node.items()) {
      Interpolations(key, path);
      Walk(child, path.empty() ? key : StrCat(path, ".", key));
    }
  }

 private:
  std::string Where(std::string_view path) const {
    std::string at = path.empty() ? std::string("the top level") : StrCat("'", path, "'");
    return where_.empty() ? at : StrCat(at, " of ", where_);
  }

  void Target(const std::string& target, std::string_view key, const std::string& path) {
    if (!reported_.insert(target).second) return;
    std::string message;
    std::optional<Severity> severity;
    ImportDecision decision = ctx_.policy().ClassifyImport(target);
    bool dunder = target.find("__") != std::string::npos;
    if (dunder) {
      severity = Severity::kCritical;
      message = "walks a dunder attribute";
    } else if (decision.kind == ImportClass::kDenied) {
      severity = decision.severity;
      message = StrCat("denied by policy pattern '", decision.pattern, "'");
    } else if (decision.kind == ImportClass::kAllowed ||
               ctx_.policy().IsAllowedConfigTarget(target)) {
      return;
    } else {
      severity = Severity::kHigh;
      message = "which is on no allowlist";
    }
    ctx_.Report(rules::kConfigInstantiation, *severity,
                StrCat(key, " at ", Where(path), " instantiates ", target, ", ", message), offset_,
                target);
  }

  // ${name:args} calls the resolver registered as `name`; ${a.b} only reads
  // another key.
  void Interpolations(std::string_view text, const std::string& path) {
    for (size_t at = text.find("${"); at != std::string_view::npos; at = text.find("${", at + 2)) {
      size_t end = text.find_first_of(":}", at + 2);
      if (end == std::string_view::npos || text[end] != ':') continue;
      std::string_view name = text.substr(at + 2, end - at - 2);
      while (!name.empty() && name.front() == ' ') name.remove_prefix(1);
      if (name.empty() || IsBuiltinResolver(name)) continue;
      if (!reported_.insert(StrCat("${", name)).second) continue;
      bool code = IsCodeResolver(name);
      ctx_.Report(rules::kConfigResolverCall, code ? Severity::kCritical : Severity::kMedium,
                  StrCat("interpolation at ", Where(path), " calls the resolver '", name, "'",
                         code ? ", which runs code where it is registered"
                              : ", whatever the loading application registered under that name"),
                  offset_, std::string(text.substr(at, 160)));
    }
  }

  std::string_view where_;
  uint64_t offset_;
  ScanContext& ctx_;
  std::set<std::string> reported_;
};

}  // namespace

bool MayInstantiate(std::string_view text) {
  return text.find("_target_") != std::string_view::npos ||
         text.find("class_path") != std::string_view::npos ||
         text.find("${") != std::string_view::npos;
}

void AnalyzeConfigText(std::string_view text, std::string_view where, uint64_t offset,
                       ScanContext& ctx) {
  if (!MayInstantiate(text)) return;
  if (TextDepth(text) > kMaxDepth) {
    ctx.ReportIncomplete(rules::kLimitExceeded,
                         StrCat("config ", where, " nests deeper than ", kMaxDepth, " levels"),
                         offset);
    return;
  }
  size_t first = text.find_first_not_of(" \t\r\n");
  std::optional<json> config;
  if (first != std::string_view::npos && (text[first] == '{' || text[first] == '[')) {
    json parsed = json::parse(text.begin(), text.end(), nullptr, /*allow_exceptions=*/false);
    if (!parsed.is_discarded()) config = std::move(parsed);
  }
  if (!config) {
    try {
      YAML::Node root = YAML::Load(std::string(text));
      if (!root.IsMap() && !root.IsSequence()) return;  // Prose, or a lone scalar.
      uint64_t budget = kMaxNodes;
      config = ToJson(root, 0, budget);
      if (!config) {
        ctx.ReportIncomplete(rules::kLimitExceeded,
                             StrCat("config ", where, " expands past ", kMaxNodes, " nodes"),
                             offset);
        return;
      }
    } catch (const YAML::Exception&) {
      return;  // Not YAML: no loader instantiates anything from it.
    }
  }
  ConfigWalker(where, offset, ctx).Walk(*config, "");
}

}  // namespace gauntlet::scan
