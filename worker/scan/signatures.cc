#include "worker/scan/signatures.h"

#include <yara.h>

#include <cstdio>
#include <cstring>
#include <map>
#include <mutex>

#include "common/strings.h"

namespace gauntlet::scan {

// The built-in rules, compiled at build time (builtin_signatures.cc).
std::string_view CompiledBuiltinSignatures();

struct SignatureSet::Compiled {
  YR_RULES* rules = nullptr;
  ~Compiled() {
    if (rules) yr_rules_destroy(rules);
  }
};

namespace {

struct CompileErrors {
  std::string first;
};

void OnCompileMessage(int level, const char* file, int line, const YR_RULE*, const char* message,
                      void* user) {
  auto* errors = static_cast<CompileErrors*>(user);
  if (level == YARA_ERROR_LEVEL_ERROR && errors->first.empty()) {
    errors->first = StrCat(file ? file : "built-in rules", ":", line, ": ", message ? message : "");
  }
}

struct ByteReader {
  std::string_view data;
  size_t pos = 0;
};

size_t ReadBytes(void* out, size_t size, size_t count, void* user) {
  auto* reader = static_cast<ByteReader*>(user);
  size_t wanted = size * count;
  if (size == 0 || reader->data.size() - reader->pos < wanted) return 0;
  std::memcpy(out, reader->data.data() + reader->pos, wanted);
  reader->pos += wanted;
  return count;
}

int OnScanMessage(YR_SCAN_CONTEXT*, int message, void* data, void* user) {
  if (message != CALLBACK_MSG_RULE_MATCHING) return CALLBACK_CONTINUE;
  auto* rule = static_cast<YR_RULE*>(data);
  SignatureMatch match{rule->identifier, "", Severity::kHigh};
  YR_META* meta;
  yr_rule_metas_foreach(rule, meta) {
    if (meta->type != META_TYPE_STRING) continue;
    std::string_view key = meta->identifier;
    if (key == "description") match.description = meta->string;
    if (key == "severity") match.severity = ParseSeverity(meta->string).value_or(Severity::kHigh);
  }
  static_cast<std::vector<SignatureMatch>*>(user)->push_back(std::move(match));
  return CALLBACK_CONTINUE;
}

}  // namespace

SignatureSet::SignatureSet(std::unique_ptr<Compiled> compiled) : compiled_(std::move(compiled)) {}
SignatureSet::~SignatureSet() = default;

absl::StatusOr<std::shared_ptr<const SignatureSet>> SignatureSet::ForPolicy(
    const SignaturePolicy& policy) {
  static std::mutex mutex;
  static std::map<std::string, std::shared_ptr<const SignatureSet>> cache;
  static const bool initialized = yr_initialize() == ERROR_SUCCESS;
  if (!initialized) return absl::InternalError("libyara failed to initialise");
  std::string key = StrCat(policy.builtin ? "builtin" : "", "|", StrJoin(policy.rule_files, "|"));
  std::lock_guard<std::mutex> lock(mutex);
  if (auto it = cache.find(key); it != cache.end()) return it->second;
  auto keep = [&](std::unique_ptr<Compiled> compiled) {
    auto set = std::shared_ptr<const SignatureSet>(new SignatureSet(std::move(compiled)));
    cache.emplace(key, set);
    return set;
  };

  if (policy.builtin && policy.rule_files.empty()) {
    ByteReader reader{CompiledBuiltinSignatures()};
    YR_STREAM stream{&reader, &ReadBytes, nullptr};
    auto compiled = std::make_unique<Compiled>();
    if (yr_rules_load_stream(&stream, &compiled->rules) != ERROR_SUCCESS) {
      return absl::InternalError("embedded built-in signatures cannot be loaded");
    }
    return keep(std::move(compiled));
  }

  YR_COMPILER* compiler = nullptr;
  if (yr_compiler_create(&compiler) != ERROR_SUCCESS) return absl::InternalError("yara compiler");
  std::unique_ptr<YR_COMPILER, decltype(&yr_compiler_destroy)> guard(compiler,
                                                                     &yr_compiler_destroy);
  CompileErrors errors;
  yr_compiler_set_callback(compiler, &OnCompileMessage, &errors);
  if (policy.builtin) {
    std::string text(DefaultSignatureRules());
    if (yr_compiler_add_string(compiler, text.c_str(), "builtin") != 0) {
      return absl::InternalError(StrCat("built-in signatures do not compile: ", errors.first));
    }
  }
  for (const std::string& path : policy.rule_files) {
    FILE* file = std::fopen(path.c_str(), "r");
    if (!file)
      return absl::NotFoundError(StrCat("signature rule file ", path, " cannot be opened"));
    int failures = yr_compiler_add_file(compiler, file, "user", path.c_str());
    std::fclose(file);
    if (failures != 0) return absl::InvalidArgumentError(StrCat("signature rules: ", errors.first));
  }
  auto compiled = std::make_unique<Compiled>();
  if (yr_compiler_get_rules(compiler, &compiled->rules) != ERROR_SUCCESS) {
    return absl::InternalError("yara rules could not be built");
  }
  return keep(std::move(compiled));
}

std::vector<SignatureMatch> SignatureSet::Match(std::string_view data) const {
  std::vector<SignatureMatch> matches;
  yr_rules_scan_mem(compiled_->rules, reinterpret_cast<const uint8_t*>(data.data()), data.size(),
                    SCAN_FLAGS_FAST_MODE, &OnScanMessage, &matches, /*timeout=*/10);
  return matches;
}

}  // namespace gauntlet::scan
