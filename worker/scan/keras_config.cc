#include "worker/scan/keras_config.h"

#include <cstring>
#include <nlohmann/json.hpp>
#include <set>

#include "absl/strings/escaping.h"
#include "common/rules.h"
#include "common/strings.h"
#include "worker/scan/scan_context.h"

namespace gauntlet::scan {
namespace {

using nlohmann::json;

// Names whose presence in a Lambda's bytecode means it reaches the OS,
// files, the network, or dynamic code.
const std::set<std::string, std::less<>>& DangerousNames() {
  static const std::set<std::string, std::less<>> kNames = {
      "os",           "posix",          "nt",
      "subprocess",   "system",         "popen",
      "Popen",        "spawn",          "execv",
      "execve",       "eval",           "exec",
      "compile",      "__import__",     "import_module",
      "importlib",    "getattr",        "setattr",
      "open",         "builtins",       "__builtins__",
      "socket",       "shutil",         "rmtree",
      "unlink",       "remove",         "requests",
      "urllib",       "urlopen",        "pickle",
      "marshal",      "ctypes",         "pty",
      "check_output", "check_call",     "environ",
      "read_file",    "write_file",     "globals",
      "__globals__",  "__subclasses__", "__class__",
  };
  return kNames;
}

bool IsIdentifier(std::string_view s) {
  if (s.empty() || s.size() > 64) return false;
  for (char c : s) {
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '.')) return false;
  }
  return !std::isdigit(static_cast<unsigned char>(s[0]));
}

// Keras modules whose classes and functions deserialize without importing
// user code.
bool TrustedModule(std::string_view module) {
  for (std::string_view prefix : {"keras", "tensorflow", "tf_keras", "tf", "builtins"}) {
    if (module == prefix || StartsWith(module, StrCat(prefix, "."))) return true;
  }
  return false;
}

class ConfigWalker {
 public:
  explicit ConfigWalker(ScanContext& ctx) : ctx_(ctx) {}

  void Walk(const json& node, const std::string& path, int depth) {
    if (depth > 256) {
      ctx_.ReportIncomplete(rules::kLimitExceeded, "Keras config nests more than 256 levels", 0);
      return;
    }
    if (node.is_array()) {
      for (size_t i = 0; i < node.size(); ++i) Walk(node[i], StrCat(path, "[", i, "]"), depth + 1);
      return;
    }
    if (!node.is_object()) return;
    std::string class_name = StringField(node, "class_name");
    std::string here = class_name.empty() ? path : StrCat(path, "/", class_name);
    if (class_name == "Lambda") Lambda(node, here);
    if (class_name == "TFOpLambda") TfOpLambda(node, here);
    if (class_name == "TorchModuleWrapper") TorchModule(node, here);
    if (class_name == "TFSMLayer") SavedModelLayer(node, here);
    if (class_name == "StringLookup" || class_name == "IntegerLookup" ||
        class_name == "IndexLookup" || class_name == "TextVectorization") {
      VocabularyFile(node, here);
    }
    if (class_name == "__lambda__")
      LambdaCode(StringField(node.value("config", json::object()), "code"), here);
    if (node.contains("module") && node["module"].is_string()) Reference(node, here);
    for (const auto& [key, child] : node.items()) Walk(child, StrCat(here, ".", key), depth + 1);
  }

 private:
  static std::string StringField(const json& node, const char* key) {
    if (!node.is_object()) return {};
    auto it = node.find(key);
    return it != node.end() && it->is_string() ? it->get<std::string>() : std::string();
  }

  // Keras 2: config.function = [base64 marshal, defaults, closure] (or the
  // bare base64 string); Keras 3 nests a __lambda__ object, handled by Walk.
  void Lambda(const json& layer, const std::string& where) {
    const json config = layer.value("config", json::object());
    auto function = config.find("function");
    if (function == config.end()) return;
    if (function->is_array() && !function->empty() && (*function)[0].is_string()) {
      LambdaCode((*function)[0].get<std::string>(), where);
    } else if (function->is_string()) {
      LambdaCode(function->get<std::string>(), where);
    }
  }

  void LambdaCode(const std::string& base64, const std::string& where) {
    std::string compact;
    for (char c : base64) {
      if (!std::isspace(static_cast<unsigned char>(c))) compact.push_back(c);
    }
    std::string code;
    if (compact.empty() || !absl::Base64Unescape(compact, &code)) {
      ctx_.ReportIncomplete(rules::kKerasMalformed,
                            StrCat("Lambda at ", where, " has code that is not base64"), 0);
      return;
    }
    std::vector<std::string> names = MarshalledNames(code);
    std::vector<std::string> dangerous;
    for (const std::string& n : names) {
      for (std::string_view part : StrSplit(n, ".")) {
        if (DangerousNames().count(part)) {
          dangerous.push_back(n);
          break;
        }
      }
    }
    std::string listed = StrJoin(names, ", ");
    if (!dangerous.empty()) {
      ctx_.Report(rules::kKerasLambda, Severity::kCritical,
                  StrCat("Lambda at ", where, " runs code that uses ", StrJoin(dangerous, ", ")), 0,
                  listed);
    } else {
      ctx_.Report(rules::kKerasLambda, Severity::kMedium,
                  StrCat("Lambda at ", where, " carries Python bytecode"), 0, listed);
    }
  }

  void TfOpLambda(const json& layer, const std::string& where) {
    std::string op = StringField(layer.value("config", json::object()), "function");
    bool dangerous = op.find("io.") != std::string::npos ||
                     op.find("py_func") != std::string::npos ||
                     op.find("numpy_function") != std::string::npos ||
                     op.find("py_function") != std::string::npos;
    ctx_.Report(rules::kKerasTfOpLambda, dangerous ? Severity::kHigh : Severity::kMedium,
                StrCat("TFOpLambda at ", where, " calls ", op.empty() ? "an unnamed op" : op), 0,
                op);
  }

  // Keras 3's TorchModuleWrapper stores the wrapped module as base64 of
  // torch.save() bytes, and from_config() hands them to torch.load with
  // weights_only=False: a whole pickle that runs on load. Scanned as such.
  void TorchModule(const json& layer, const std::string& where) {
    std::string encoded = StringField(layer.value("config", json::object()), "module");
    if (encoded.empty()) return;
    std::string bytes;
    if (!absl::Base64Unescape(encoded, &bytes)) {
      ctx_.ReportIncomplete(
          rules::kKerasMalformed,
          StrCat("TorchModuleWrapper at ", where, " holds a module that is not base64"), 0);
      return;
    }
    ctx_.Report(rules::kKerasEmbeddedObject, Severity::kInfo,
                StrCat("TorchModuleWrapper at ", where,
                       " restores a torch module with torch.load; its bytes were scanned"),
                0);
    ctx_.ScanMember(StrCat("<TorchModuleWrapper ", where, ">"), bytes);
  }

  // TFSMLayer loads a SavedModel from a path when the model loads: code and
  // graphs from outside the file, which no scan of the file has seen.
  void SavedModelLayer(const json& layer, const std::string& where) {
    std::string path = StringField(layer.value("config", json::object()), "filepath");
    ctx_.Report(rules::kKerasExternalLoad, Severity::kHigh,
                StrCat("TFSMLayer at ", where, " loads a SavedModel from '", path,
                       "' at load time, outside the scanned file"),
                0, path);
  }

  // Lookup layers given a vocabulary *path* read that file (tf.io.gfile:
  // local, gs://, http://) when the model loads.
  void VocabularyFile(const json& layer, const std::string& where) {
    std::string path = StringField(layer.value("config", json::object()), "vocabulary");
    if (path.empty()) return;
    bool remote = path.find("://") != std::string::npos;
    bool escapes = !path.empty() && (path[0] == '/' || path.find("..") != std::string::npos);
    ctx_.Report(
        rules::kKerasExternalLoad, remote || escapes ? Severity::kHigh : Severity::kMedium,
        StrCat("lookup layer at ", where, " reads its vocabulary from '", path, "' at load time"),
        0, path);
  }

  // {"module": M, "class_name": C, "config": ...}: Keras imports M and looks
  // up C, or, for class_name "function", the function named by config.
  void Reference(const json& node, const std::string& where) {
    std::string module = node["module"].get<std::string>();
    std::string class_name = StringField(node, "class_name");
    std::string name = class_name == "function" ? StringField(node, "config") : class_name;
    if (name.empty()) return;
    std::string qualified = StrCat(module, ".", name);
    ImportDecision decision = ctx_.policy().ClassifyImport(qualified);
    if (decision.kind == ImportClass::kDenied) {
      ctx_.Report(rules::kKerasDangerousCallable, decision.severity,
                  StrCat("config at ", where, " deserializes ", qualified,
                         ", denied by policy pattern '", decision.pattern, "'"),
                  0, qualified);
    } else if (!TrustedModule(module) && decision.kind != ImportClass::kAllowed &&
               reported_.insert(qualified).second) {
      ctx_.Report(
          rules::kKerasCustomObject, Severity::kMedium,
          StrCat("config at ", where, " imports ", qualified, " from a module outside Keras"), 0,
          qualified);
    }
  }

  ScanContext& ctx_;
  std::set<std::string> reported_;
};

}  // namespace

std::vector<std::string> MarshalledNames(std::string_view m) {
  // String records: 'z'/'Z' (short ASCII, 1-byte length), 'a'/'A'/'u'/'t'
  // (4-byte length), each optionally with the 0x80 reference flag.
  std::vector<std::string> names;
  std::set<std::string, std::less<>> seen;
  for (size_t i = 0; i < m.size(); ++i) {
    char type = static_cast<char>(m[i] & 0x7F);
    uint64_t length = 0, header = 0;
    if ((type == 'z' || type == 'Z') && i + 1 < m.size()) {
      length = static_cast<unsigned char>(m[i + 1]);
      header = 2;
    } else if ((type == 'a' || type == 'A' || type == 'u' || type == 't') && i + 5 <= m.size()) {
      uint32_t n;
      std::memcpy(&n, m.data() + i + 1, 4);
      length = n;
      header = 5;
    } else {
      continue;
    }
    if (header + length > m.size() - i) continue;
    std::string_view text = m.substr(i + header, length);
    if (IsIdentifier(text) && seen.insert(std::string(text)).second) names.emplace_back(text);
  }
  return names;
}

void AnalyzeKerasConfig(std::string_view json_text, ScanContext& ctx) {
  json config =
      json::parse(json_text.begin(), json_text.end(), nullptr, /*allow_exceptions=*/false);
  if (config.is_discarded()) {
    ctx.ReportIncomplete(rules::kKerasMalformed, "Keras model config is not valid JSON", 0);
    return;
  }
  ConfigWalker(ctx).Walk(config, "", 0);
}

}  // namespace gauntlet::scan
