#include "integrity/weight_forensics.h"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <regex>
#include <set>
#include <sstream>

#include "absl/strings/str_format.h"
#include "common/rules.h"
#include "common/strings.h"
#include "integrity/tensor_file.h"

namespace gauntlet::integrity {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using Matrix = std::vector<double>;  // Row-major, square unless said.

// A module carrying more than this share of the adapter's squared update,
// among at least kConcentrationMinModules, is reported (a targeted edit of
// one layer looks like this; training spreads the update).
constexpr double kConcentratedShare = 0.5;
constexpr size_t kConcentrationMinModules = 8;

Finding MakeFinding(std::string_view rule, Severity severity, std::string message,
                    std::string where, std::string evidence = "") {
  return Finding{std::string(rule), severity, std::move(message), Location{std::move(where), "", 0},
                 std::move(evidence)};
}

absl::StatusOr<json> ReadJson(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError(StrCat(path.string(), ": no such file"));
  std::stringstream text;
  text << in.rdbuf();
  json parsed = json::parse(text.str(), nullptr, /*allow_exceptions=*/false);
  if (parsed.is_discarded() || !parsed.is_object())
    return absl::InvalidArgumentError(StrCat(path.string(), " is not a JSON object"));
  return parsed;
}

// --- Small dense linear algebra on r x r matrices (r is a LoRA rank). ---

// X X^T for X (rows x cols), or X^T Y for X (n x a), Y (n x b) below.
Matrix RowGram(const std::vector<float>& x, int64_t rows, int64_t cols) {
  Matrix g(rows * rows);
  for (int64_t i = 0; i < rows; ++i)
    for (int64_t j = i; j < rows; ++j) {
      double sum = 0;
      for (int64_t k = 0; k < cols; ++k) sum += double(x[i * cols + k]) * x[j * cols + k];
      g[i * rows + j] = g[j * rows + i] = sum;
    }
  return g;
}

// X^T Y for X (n x a) and Y (n x b): a x b.
Matrix ColumnCross(const std::vector<float>& x, int64_t a, const std::vector<float>& y, int64_t b,
                   int64_t n) {
  Matrix c(a * b);
  for (int64_t k = 0; k < n; ++k)
    for (int64_t i = 0; i < a; ++i) {
      double xi = x[k * a + i];
      if (xi == 0) continue;
      for (int64_t j = 0; j < b; ++j) c[i * b + j] += xi * y[k * b + j];
    }
  return c;
}

// X Y^T for X (a x n) and Y (b x n): a x b.
Matrix RowCross(const std::vector<float>& x, int64_t a, const std::vector<float>& y, int64_t b,
                int64_t n) {
  Matrix c(a * b);
  for (int64_t i = 0; i < a; ++i)
    for (int64_t j = 0; j < b; ++j) {
      double sum = 0;
      for (int64_t k = 0; k < n; ++k) sum += double(x[i * n + k]) * y[j * n + k];
      c[i * b + j] = sum;
    }
  return c;
}

// trace(C D) for C (a x b), D (b x a).
double TraceOfProduct(const Matrix& c, const Matrix& d, int64_t a, int64_t b) {
  double sum = 0;
  for (int64_t i = 0; i < a; ++i)
    for (int64_t k = 0; k < b; ++k) sum += c[i * b + k] * d[k * a + i];
  return sum;
}

// Eigenvalues of a symmetric matrix (cyclic Jacobi).
std::vector<double> SymmetricEigenvalues(Matrix m, int64_t n) {
  for (int sweep = 0; sweep < 60; ++sweep) {
    double off = 0;
    for (int64_t i = 0; i < n; ++i)
      for (int64_t j = i + 1; j < n; ++j) off += m[i * n + j] * m[i * n + j];
    if (off < 1e-22) break;
    for (int64_t p = 0; p < n; ++p)
      for (int64_t q = p + 1; q < n; ++q) {
        double apq = m[p * n + q];
        if (std::abs(apq) < 1e-300) continue;
        double theta = (m[q * n + q] - m[p * n + p]) / (2 * apq);
        double t = (theta >= 0 ? 1 : -1) / (std::abs(theta) + std::sqrt(theta * theta + 1));
        double c = 1 / std::sqrt(t * t + 1), s = t * c;
        for (int64_t k = 0; k < n; ++k) {  // Columns p and q.
          double kp = m[k * n + p], kq = m[k * n + q];
          m[k * n + p] = c * kp - s * kq;
          m[k * n + q] = s * kp + c * kq;
        }
        for (int64_t k = 0; k < n; ++k) {  // Rows p and q.
          double pk = m[p * n + k], qk = m[q * n + k];
          m[p * n + k] = c * pk - s * qk;
          m[q * n + k] = s * pk + c * qk;
        }
      }
  }
  std::vector<double> values(n);
  for (int64_t i = 0; i < n; ++i) values[i] = m[i * n + i];
  return values;
}

// Singular values of B A from G_A = A A^T and G_B = B^T B: the square roots
// of the eigenvalues of L^T G_B L, where G_A = L L^T.
std::vector<double> SingularValuesOfProduct(Matrix g_a, const Matrix& g_b, int64_t r) {
  double trace = 0;
  for (int64_t i = 0; i < r; ++i) trace += g_a[i * r + i];
  for (int64_t i = 0; i < r; ++i) g_a[i * r + i] += 1e-12 * (trace + 1e-30);
  Matrix l(r * r);  // Cholesky.
  for (int64_t i = 0; i < r; ++i)
    for (int64_t j = 0; j <= i; ++j) {
      double sum = g_a[i * r + j];
      for (int64_t k = 0; k < j; ++k) sum -= l[i * r + k] * l[j * r + k];
      l[i * r + j] =
          i == j ? std::sqrt(std::max(sum, 0.0)) : (l[j * r + j] > 0 ? sum / l[j * r + j] : 0);
    }
  Matrix gl(r * r), m(r * r);  // G_B L, then L^T (G_B L).
  for (int64_t i = 0; i < r; ++i)
    for (int64_t j = 0; j < r; ++j)
      for (int64_t k = j; k < r; ++k) gl[i * r + j] += g_b[i * r + k] * l[k * r + j];
  for (int64_t i = 0; i < r; ++i)
    for (int64_t j = 0; j < r; ++j)
      for (int64_t k = i; k < r; ++k) m[i * r + j] += l[k * r + i] * gl[k * r + j];
  for (int64_t i = 0; i < r; ++i)  // Symmetrise rounding.
    for (int64_t j = i + 1; j < r; ++j)
      m[i * r + j] = m[j * r + i] = (m[i * r + j] + m[j * r + i]) / 2;
  std::vector<double> values = SymmetricEigenvalues(m, r);
  for (double& value : values) value = std::sqrt(std::max(value, 0.0));
  std::sort(values.rbegin(), values.rend());
  return values;
}

size_t NonFinite(const std::vector<float>& values) {
  return std::count_if(values.begin(), values.end(), [](float v) { return !std::isfinite(v); });
}

// --- PEFT adapter layout. ---

struct LoraFactor {
  const scan::SafetensorsTensor* a = nullptr;
  const scan::SafetensorsTensor* b = nullptr;
};

// "base_model.model.X.lora_A[.default].weight" -> ("X", 'A'); else nullopt.
std::optional<std::pair<std::string, char>> LoraKey(const std::string& name) {
  static const std::regex kPattern(
      R"(^(?:base_model\.model\.)?(.+)\.lora_([AB])(?:\.[A-Za-z0-9_]+)?\.weight$)");
  std::smatch match;
  if (!std::regex_match(name, match, kPattern)) return std::nullopt;
  return std::make_pair(match[1].str(), match[2].str()[0]);
}

std::string LastName(const std::string& module) {
  size_t dot = module.rfind('.');
  return dot == std::string::npos ? module : module.substr(dot + 1);
}

int LayerOf(const std::string& module) {
  static const std::regex kLayer(R"((?:^|\.)(?:layers|h|blocks|layer)\.(\d+)\.)");
  std::smatch match;
  return std::regex_search(module, match, kLayer) ? std::stoi(match[1].str()) : -1;
}

// Whether PEFT would apply target `target` (a list entry) to `module`.
bool Targets(const std::string& target, const std::string& module) {
  return module == target || EndsWith(module, "." + target);
}

struct AdapterConfig {
  int64_t r = 8;
  double alpha = 8;
  bool rslora = false;
  std::vector<std::string> targets;
  std::string target_regex;  // When target_modules is a string.
  std::vector<std::string> modules_to_save;
  std::map<std::string, int64_t> rank_pattern;
  std::map<std::string, double> alpha_pattern;
};

absl::StatusOr<AdapterConfig> ParseAdapterConfig(const fs::path& directory) {
  auto parsed = ReadJson(directory / "adapter_config.json");
  if (!parsed.ok()) return parsed.status();
  const json& j = *parsed;
  std::string where = (directory / "adapter_config.json").string();
  if (j.contains("peft_type") && j["peft_type"] != "LORA")
    return absl::InvalidArgumentError(StrCat(where, ": peft_type ", j["peft_type"].dump(),
                                             ", not LORA: only LoRA adapters are inspected"));
  AdapterConfig config;
  auto number = [&](const char* key, double fallback) -> absl::StatusOr<double> {
    if (!j.contains(key) || j[key].is_null()) return fallback;
    if (!j[key].is_number())
      return absl::InvalidArgumentError(StrCat(where, ": ", key, " is not a number"));
    return j[key].get<double>();
  };
  auto r = number("r", 8);
  if (!r.ok()) return r.status();
  auto alpha = number("lora_alpha", *r);
  if (!alpha.ok()) return alpha.status();
  // A LoRA rank is a matrix dimension: a whole number no larger than any
  // tensor could be (the bound also keeps the conversion defined).
  constexpr double kLargestRank = 1 << 30;
  auto rank = [&](const std::string& key, double value) -> absl::StatusOr<int64_t> {
    if (value < 1 || value > kLargestRank || value != std::floor(value))
      return absl::InvalidArgumentError(
          StrCat(where, ": ", key, " must be a whole number from 1 to 2^30, not ", value));
    return static_cast<int64_t>(value);
  };
  auto whole_r = rank("r", *r);
  if (!whole_r.ok()) return whole_r.status();
  config.r = *whole_r;
  config.alpha = *alpha;
  config.rslora =
      j.contains("use_rslora") && j["use_rslora"].is_boolean() && j["use_rslora"].get<bool>();
  auto strings = [&](const char* key, std::vector<std::string>& out) -> absl::Status {
    if (!j.contains(key) || j[key].is_null()) return absl::OkStatus();
    if (j[key].is_string() && std::string(key) == "target_modules") {
      config.target_regex = j[key].get<std::string>();
      return absl::OkStatus();
    }
    if (!j[key].is_array())
      return absl::InvalidArgumentError(StrCat(where, ": ", key, " is not a list of names"));
    for (const json& item : j[key]) {
      if (!item.is_string())
        return absl::InvalidArgumentError(StrCat(where, ": ", key, " holds a non-string"));
      out.push_back(item.get<std::string>());
    }
    return absl::OkStatus();
  };
  if (auto status = strings("target_modules", config.targets); !status.ok()) return status;
  if (auto status = strings("modules_to_save", config.modules_to_save); !status.ok()) return status;
  for (const char* key : {"rank_pattern", "alpha_pattern"}) {
    if (!j.contains(key) || !j[key].is_object()) continue;
    for (const auto& [name, value] : j[key].items()) {
      if (!value.is_number()) continue;
      if (std::string(key) == "alpha_pattern") {
        config.alpha_pattern[name] = value.get<double>();
        continue;
      }
      auto pattern_rank = rank(StrCat("rank_pattern[\"", name, "\"]"), value.get<double>());
      if (!pattern_rank.ok()) return pattern_rank.status();
      config.rank_pattern[name] = *pattern_rank;
    }
  }
  return config;
}

// The pattern entry PEFT applies to `module` (the key matched at a name
// boundary), or `fallback`.
template <typename T>
T Patterned(const std::map<std::string, T>& pattern, const std::string& module, T fallback) {
  for (const auto& [key, value] : pattern)
    if (Targets(key, module)) return value;
  return fallback;
}

// A checkpoint's tensors: each name -> the file that holds it, with index
// consistency findings.
struct Checkpoint {
  std::map<std::string, std::shared_ptr<TensorFile>> files;  // By file name.
  std::map<std::string, std::string> owner;                  // Tensor -> file name.
};

absl::StatusOr<Checkpoint> OpenCheckpoint(const fs::path& directory,
                                          std::vector<Finding>* findings) {
  Checkpoint checkpoint;
  auto open = [&](const std::string& name) -> absl::Status {
    if (checkpoint.files.count(name)) return absl::OkStatus();
    auto file = TensorFile::Open((directory / name).string());
    if (!file.ok()) return file.status();
    checkpoint.files[name] = std::make_shared<TensorFile>(std::move(*file));
    return absl::OkStatus();
  };
  fs::path index_path = directory / "model.safetensors.index.json";
  std::error_code error;
  if (fs::exists(index_path, error)) {
    auto index = ReadJson(index_path);
    if (!index.ok()) return index.status();
    if (!index->contains("weight_map") || !(*index)["weight_map"].is_object())
      return absl::InvalidArgumentError(StrCat(index_path.string(), " has no weight_map object"));
    std::set<std::string> missing_shards;
    for (const auto& [tensor, shard] : (*index)["weight_map"].items()) {
      if (!shard.is_string() || shard.get<std::string>().find('/') != std::string::npos) {
        findings->push_back(MakeFinding(rules::kWeightsIndexInconsistent, Severity::kHigh,
                                        StrCat("the index maps '", tensor, "' to ", shard.dump(),
                                               ", not a shard file in the folder"),
                                        index_path.string()));
        continue;
      }
      std::string name = shard.get<std::string>();
      if (!fs::exists(directory / name, error)) {
        if (missing_shards.insert(name).second)
          findings->push_back(MakeFinding(
              rules::kWeightsIndexInconsistent, Severity::kHigh,
              StrCat("the index names shard ", name, ", which is missing"), index_path.string()));
        continue;
      }
      if (auto status = open(name); !status.ok()) return status;
      checkpoint.owner[tensor] = name;
    }
    // Every tensor the index names is in its shard, and no shard holds
    // tensors the index does not route to it (a loader silently ignores them).
    for (const auto& [tensor, name] : checkpoint.owner)
      if (!checkpoint.files[name]->Find(tensor))
        findings->push_back(MakeFinding(
            rules::kWeightsIndexInconsistent, Severity::kHigh,
            StrCat("the index places '", tensor, "' in ", name, ", which does not hold it"),
            index_path.string()));
    for (const auto& [name, file] : checkpoint.files)
      for (const scan::SafetensorsTensor& tensor : file->tensors()) {
        auto it = checkpoint.owner.find(tensor.name);
        if (it == checkpoint.owner.end() || it->second != name)
          findings->push_back(
              MakeFinding(rules::kWeightsIndexInconsistent, Severity::kMedium,
                          StrCat(name, " holds '", tensor.name, "', which the index ",
                                 it == checkpoint.owner.end() ? "does not list"
                                                              : StrCat("routes to ", it->second),
                                 ": loaders read another copy or none"),
                          (directory / name).string()));
      }
    return checkpoint;
  }
  std::vector<std::string> shards;
  for (const auto& entry : fs::directory_iterator(directory, error))
    if (entry.path().extension() == ".safetensors" &&
        entry.path().filename() != "adapter_model.safetensors")
      shards.push_back(entry.path().filename().string());
  std::sort(shards.begin(), shards.end());
  if (shards.empty())
    return absl::NotFoundError(StrCat(directory.string(), " has no model.safetensors or index"));
  if (shards.size() > 1)
    findings->push_back(MakeFinding(rules::kWeightsIndexInconsistent, Severity::kMedium,
                                    StrCat(shards.size(),
                                           " safetensors files but no "
                                           "model.safetensors.index.json: which one loads depends "
                                           "on the loader"),
                                    directory.string()));
  for (const std::string& name : shards) {
    if (auto status = open(name); !status.ok()) return status;
    for (const scan::SafetensorsTensor& tensor : checkpoint.files[name]->tensors())
      if (!checkpoint.owner.emplace(tensor.name, name).second)
        findings->push_back(MakeFinding(rules::kWeightsIndexInconsistent, Severity::kHigh,
                                        StrCat("'", tensor.name, "' is in more than one file"),
                                        (directory / name).string()));
  }
  return checkpoint;
}

const scan::SafetensorsTensor* FindTensor(const Checkpoint& checkpoint, const std::string& name,
                                          const TensorFile** file) {
  auto it = checkpoint.owner.find(name);
  if (it == checkpoint.owner.end()) return nullptr;
  *file = checkpoint.files.at(it->second).get();
  return (*file)->Find(name);
}

struct LoadedModule {
  std::string module;
  std::vector<float> a, b;
  int64_t rank = 0, in = 0, out = 0;
  double scale = 0;
};

// The rank the config gives `module` (rank_pattern over r).
int64_t ConfiguredRank(const AdapterConfig& config, const std::string& module) {
  return Patterned(config.rank_pattern, module, config.r);
}

// One module's factors as floats with the scale PEFT applies to B*A
// (alpha / r, or alpha / sqrt(r) with rsLoRA, r and alpha from the config).
// Shapes must already pair (A r x in, B out x r); an error when a factor is
// not stored as a float type.
absl::StatusOr<LoadedModule> LoadModule(const AdapterConfig& config, const TensorFile& weights,
                                        const std::string& module, const LoraFactor& pair) {
  LoadedModule m;
  m.module = module;
  m.rank = static_cast<int64_t>(pair.a->shape[0]);
  m.in = static_cast<int64_t>(pair.a->shape[1]);
  m.out = static_cast<int64_t>(pair.b->shape[0]);
  double rank = double(ConfiguredRank(config, module));
  double alpha = Patterned(config.alpha_pattern, module, config.alpha);
  m.scale = config.rslora ? alpha / std::sqrt(rank) : alpha / rank;
  auto a = weights.Floats(*pair.a);
  if (!a.ok()) return a.status();
  auto b = weights.Floats(*pair.b);
  if (!b.ok()) return b.status();
  m.a = std::move(*a);
  m.b = std::move(*b);
  return m;
}

}  // namespace

absl::StatusOr<AdapterInspection> InspectAdapter(const std::string& directory,
                                                 const std::string& against) {
  fs::path dir(directory);
  auto config = ParseAdapterConfig(dir);
  if (!config.ok()) return config.status();
  fs::path weights_path = dir / "adapter_model.safetensors";
  std::error_code error;
  if (!fs::exists(weights_path, error)) {
    if (fs::exists(dir / "adapter_model.bin", error))
      return absl::InvalidArgumentError(
          StrCat(directory,
                 " holds adapter_model.bin (a pickle): scan it with `gauntlet scan`; "
                 "forensics reads safetensors adapters only"));
    return absl::NotFoundError(StrCat(directory, " has no adapter_model.safetensors"));
  }
  auto weights = TensorFile::Open(weights_path.string());
  if (!weights.ok()) return weights.status();

  AdapterInspection inspection;
  inspection.directory = directory;
  inspection.against = against;
  inspection.config_rank = config->r;
  inspection.config_alpha = config->alpha;
  inspection.use_rslora = config->rslora;
  inspection.target_modules = config->targets;
  if (!config->target_regex.empty()) inspection.target_modules = {config->target_regex};
  std::string where = weights_path.string();
  auto& findings = inspection.findings;

  // Pair the factors; everything else is a full tensor.
  std::map<std::string, LoraFactor> factors;
  for (const scan::SafetensorsTensor& tensor : weights->tensors()) {
    auto key = LoraKey(tensor.name);
    if (!key) {
      bool saved = std::any_of(config->modules_to_save.begin(), config->modules_to_save.end(),
                               [&](const std::string& m) {
                                 return tensor.name.find("." + m + ".") != std::string::npos ||
                                        StartsWith(tensor.name, m + ".");
                               });
      findings.push_back(MakeFinding(
          rules::kAdapterUnexpectedTensor, saved ? Severity::kMedium : Severity::kHigh,
          saved ? StrCat("full weights for '", tensor.name,
                         "' (modules_to_save) replace the base's outright, outside the low-rank "
                         "limit")
                : StrCat("'", tensor.name,
                         "' is not a LoRA factor and not in modules_to_save: a loader that accepts "
                         "it overwrites base weights"),
          where, tensor.name));
      continue;
    }
    (key->second == 'A' ? factors[key->first].a : factors[key->first].b) = &tensor;
  }
  if (factors.empty())
    return absl::InvalidArgumentError(StrCat(where, " holds no lora_A/lora_B weights"));

  std::vector<LoadedModule> loaded;
  std::set<std::string> targeted_names;
  for (const auto& [module, pair] : factors) {
    if (!pair.a || !pair.b) {
      findings.push_back(MakeFinding(rules::kAdapterShapeMismatch, Severity::kHigh,
                                     StrCat("'", module, "' has lora_", pair.a ? "A" : "B",
                                            " without lora_", pair.a ? "B" : "A"),
                                     where, module));
      continue;
    }
    const auto& a = *pair.a;
    const auto& b = *pair.b;
    if (a.shape.size() != 2 || b.shape.size() != 2 || a.shape[0] != b.shape[1]) {
      findings.push_back(MakeFinding(
          rules::kAdapterShapeMismatch, Severity::kHigh,
          StrCat("'", module, "': lora_A ", StrJoin(a.shape, "x"), " and lora_B ",
                 StrJoin(b.shape, "x"), " do not multiply (A must be r x in, B out x r)"),
          where, module));
      continue;
    }
    if (a.dtype != b.dtype)
      findings.push_back(MakeFinding(
          rules::kAdapterConfigMismatch, Severity::kMedium,
          StrCat("'", module, "': lora_A is ", a.dtype, ", lora_B ", b.dtype), where, module));
    bool targeted = config->target_regex.empty()
                        ? std::any_of(config->targets.begin(), config->targets.end(),
                                      [&, &module = module](const std::string& t) {
                                        return Targets(t, module);
                                      })
                        : std::regex_match(module, std::regex(config->target_regex));
    if (!targeted)
      findings.push_back(
          MakeFinding(rules::kAdapterConfigMismatch, Severity::kHigh,
                      StrCat("'", module,
                             "' has LoRA weights but is not among target_modules: the config "
                             "misstates what the adapter changes"),
                      where, module));
    for (const std::string& target : config->targets)
      if (Targets(target, module)) targeted_names.insert(target);
    int64_t rank = static_cast<int64_t>(a.shape[0]);
    int64_t expected = ConfiguredRank(*config, module);
    if (rank != expected)
      findings.push_back(
          MakeFinding(rules::kAdapterConfigMismatch, Severity::kHigh,
                      StrCat("'", module, "' has rank ", rank, ", the config says ", expected,
                             ": the update is scaled by a wrong alpha / r"),
                      where, module));
    auto m = LoadModule(*config, *weights, module, pair);
    if (!m.ok()) {
      findings.push_back(MakeFinding(rules::kAdapterConfigMismatch, Severity::kHigh,
                                     StrCat("'", module, "' is stored as ", a.dtype,
                                            ", not a float type: it cannot be a trained update"),
                                     where, module));
      continue;
    }
    loaded.push_back(std::move(*m));
  }
  for (const std::string& target : config->targets)
    if (!targeted_names.count(target))
      findings.push_back(MakeFinding(
          rules::kAdapterConfigMismatch, Severity::kMedium,
          StrCat("target_modules lists '", target,
                 "' but the adapter has no weights for it: loaders accept this silently"),
          (dir / "adapter_config.json").string(), target));

  // The reference: another adapter's modules, or a base checkpoint.
  std::map<std::string, LoadedModule> reference;
  std::optional<Checkpoint> base;
  std::vector<Finding> base_findings;
  if (!against.empty()) {
    if (fs::exists(fs::path(against) / "adapter_config.json", error)) {
      inspection.against_kind = "adapter";
      auto other_config = ParseAdapterConfig(against);
      if (!other_config.ok()) return other_config.status();
      auto other_weights =
          TensorFile::Open((fs::path(against) / "adapter_model.safetensors").string());
      if (!other_weights.ok()) return other_weights.status();
      std::map<std::string, LoraFactor> other_factors;
      for (const scan::SafetensorsTensor& tensor : other_weights->tensors())
        if (auto key = LoraKey(tensor.name))
          (key->second == 'A' ? other_factors[key->first].a : other_factors[key->first].b) =
              &tensor;
      for (const auto& [module, pair] : other_factors) {
        if (!pair.a || !pair.b || pair.a->shape.size() != 2 || pair.b->shape.size() != 2 ||
            pair.a->shape[0] != pair.b->shape[1])
          continue;
        if (auto m = LoadModule(*other_config, *other_weights, module, pair); m.ok())
          reference[module] = std::move(*m);
      }
    } else {
      inspection.against_kind = "base";
      auto opened = OpenCheckpoint(against, &base_findings);
      if (!opened.ok()) return opened.status();
      base = std::move(*opened);
    }
  }

  for (const LoadedModule& m : loaded) {
    ModuleUpdate update;
    update.module = m.module;
    update.projection = LastName(m.module);
    update.layer = LayerOf(m.module);
    update.rank = m.rank;
    update.in_features = m.in;
    update.out_features = m.out;
    update.dtype = factors[m.module].a->dtype;
    update.scale = m.scale;
    update.non_finite = NonFinite(m.a) + NonFinite(m.b);
    if (update.non_finite) {
      findings.push_back(MakeFinding(rules::kWeightsNonFinite, Severity::kHigh,
                                     StrCat("'", m.module, "' holds ", update.non_finite,
                                            " NaN or infinite values: loading it breaks the model"),
                                     where, m.module));
    } else {
      Matrix g_a = RowGram(m.a, m.rank, m.in);
      Matrix g_b = ColumnCross(m.b, m.rank, m.b, m.rank, m.out);
      std::vector<double> singular = SingularValuesOfProduct(g_a, g_b, m.rank);
      double sum = 0, squares = 0;
      for (double s : singular) {
        sum += s;
        squares += s * s;
      }
      update.norm = std::abs(m.scale) * std::sqrt(squares);
      if (sum > 0) {
        double entropy = 0;
        for (double s : singular)
          if (s > 0) entropy -= (s / sum) * std::log(s / sum);
        update.effective_rank = std::exp(entropy);
        update.top_share = singular[0] / sum;
      }
      if (auto it = reference.find(m.module);
          it != reference.end() && it->second.in == m.in && it->second.out == m.out) {
        const LoadedModule& ref = it->second;
        Matrix g_a2 = RowGram(ref.a, ref.rank, ref.in);
        Matrix g_b2 = ColumnCross(ref.b, ref.rank, ref.b, ref.rank, ref.out);
        double ref_squares = ref.scale * ref.scale * TraceOfProduct(g_b2, g_a2, ref.rank, ref.rank);
        // <dW, dW_ref> = s s_ref trace((B^T B_ref)(A_ref A^T)).
        Matrix bb = ColumnCross(m.b, m.rank, ref.b, ref.rank, m.out);
        Matrix aa = RowCross(ref.a, ref.rank, m.a, m.rank, m.in);
        double inner = m.scale * ref.scale * TraceOfProduct(bb, aa, m.rank, ref.rank);
        update.difference =
            std::sqrt(std::max(0.0, update.norm * update.norm + ref_squares - 2 * inner));
      } else if (inspection.against_kind == "adapter") {
        update.difference = update.norm;  // The reference does not change this module.
      }
    }
    if (base) {
      const TensorFile* file = nullptr;
      const scan::SafetensorsTensor* weight = FindTensor(*base, m.module + ".weight", &file);
      if (!weight) {
        findings.push_back(MakeFinding(
            rules::kAdapterShapeMismatch, Severity::kHigh,
            StrCat("the base has no '", m.module, ".weight': this adapter is for another model"),
            where, m.module));
      } else if (weight->shape.size() != 2 || weight->shape[0] != uint64_t(m.out) ||
                 weight->shape[1] != uint64_t(m.in)) {
        findings.push_back(MakeFinding(
            rules::kAdapterShapeMismatch, Severity::kHigh,
            StrCat("'", m.module, "' updates a ", m.out, "x", m.in, " matrix, the base's is ",
                   StrJoin(weight->shape, "x"), ": this adapter is for another model"),
            where, m.module));
      } else if (auto view = file->View(*weight); view.ok()) {
        double squares = 0;
        for (size_t i = 0; i < view->size(); ++i) squares += double((*view)[i]) * (*view)[i];
        if (squares > 0) update.relative_to_base = update.norm / std::sqrt(squares);
      }
    }
    inspection.modules.push_back(update);
  }
  for (Finding& finding : base_findings) findings.push_back(std::move(finding));
  std::stable_sort(inspection.modules.begin(), inspection.modules.end(),
                   [](const ModuleUpdate& a, const ModuleUpdate& b) { return a.norm > b.norm; });
  double total = 0;
  for (const ModuleUpdate& m : inspection.modules) total += m.norm * m.norm;
  inspection.total_norm = std::sqrt(total);
  if (inspection.modules.size() >= kConcentrationMinModules && total > 0) {
    const ModuleUpdate& top = inspection.modules.front();
    double share = top.norm * top.norm / total;
    if (share > kConcentratedShare)
      findings.push_back(MakeFinding(
          rules::kAdapterConcentratedUpdate, Severity::kLow,
          absl::StrFormat("'%s' carries %.0f%% of the adapter's update over %d modules: a targeted "
                          "edit looks like this; training spreads it",
                          top.module, 100 * share, inspection.modules.size()),
          where, top.module));
  }
  return inspection;
}

absl::StatusOr<CheckpointInspection> InspectCheckpoint(const std::string& directory,
                                                       const std::string& against) {
  CheckpointInspection inspection;
  inspection.directory = directory;
  inspection.against = against;
  auto checkpoint = OpenCheckpoint(directory, &inspection.findings);
  if (!checkpoint.ok()) return checkpoint.status();
  std::optional<Checkpoint> reference;
  if (!against.empty()) {
    std::vector<Finding> ignored;  // The reference's own layout is not on trial.
    auto opened = OpenCheckpoint(against, &ignored);
    if (!opened.ok()) return opened.status();
    reference = std::move(*opened);
  }
  std::set<std::string> names;
  for (const auto& [name, file] : checkpoint->owner) names.insert(name);
  if (reference)
    for (const auto& [name, file] : reference->owner) names.insert(name);
  for (const std::string& name : names) {
    const TensorFile* file = nullptr;
    const TensorFile* ref_file = nullptr;
    const scan::SafetensorsTensor* tensor = FindTensor(*checkpoint, name, &file);
    const scan::SafetensorsTensor* ref =
        reference ? FindTensor(*reference, name, &ref_file) : nullptr;
    TensorChange change;
    change.name = name;
    if (tensor) {
      ++inspection.tensors;
      change.dtype = tensor->dtype;
      change.shape = tensor->shape;
      if (auto view = file->View(*tensor); view.ok()) {
        double squares = 0;
        for (size_t i = 0; i < view->size(); ++i) {
          float v = (*view)[i];
          if (!std::isfinite(v))
            ++change.non_finite;
          else
            squares += double(v) * v;
        }
        change.norm = std::sqrt(squares);
      }
      if (change.non_finite)
        inspection.findings.push_back(
            MakeFinding(rules::kWeightsNonFinite, Severity::kHigh,
                        StrCat("'", name, "' holds ", change.non_finite, " NaN or infinite values"),
                        file->path(), name));
    }
    if (ref) {
      change.reference_dtype = ref->dtype;
      change.reference_shape = ref->shape;
    }
    if (!reference) {
      change.status = "unchecked";
      if (change.non_finite) inspection.changes.push_back(change);
      continue;
    }
    if (!ref) {
      change.status = "added";
    } else if (!tensor) {
      change.status = "removed";
    } else if (tensor->shape != ref->shape || tensor->dtype != ref->dtype) {
      change.status = "reshaped";
    } else if (file->Bytes(*tensor) == ref_file->Bytes(*ref)) {
      change.status = "same";
    } else {
      change.status = "changed";
      auto view = file->View(*tensor);
      auto ref_view = ref_file->View(*ref);
      if (view.ok() && ref_view.ok()) {
        double diff = 0, base = 0;
        for (size_t i = 0; i < view->size(); ++i) {
          double d = double((*view)[i]) - (*ref_view)[i];
          diff += d * d;
          base += double((*ref_view)[i]) * (*ref_view)[i];
        }
        change.reference_norm = std::sqrt(base);
        change.relative_change = base > 0 ? std::sqrt(diff / base) : std::sqrt(diff);
      }
    }
    if (change.status == "same") continue;
    if (change.status == "changed") ++inspection.changed;
    if (change.status != "changed")
      inspection.findings.push_back(MakeFinding(
          rules::kWeightsLayoutChanged, Severity::kMedium,
          StrCat(
              "'", name, "' was ", change.status, " against the reference",
              change.status == "reshaped"
                  ? StrCat(" (", StrJoin(change.reference_shape, "x"), " ", change.reference_dtype,
                           " -> ", StrJoin(change.shape, "x"), " ", change.dtype, ")")
                  : ""),
          tensor ? file->path() : against, name));
    inspection.changes.push_back(change);
  }
  std::stable_sort(inspection.changes.begin(), inspection.changes.end(),
                   [](const TensorChange& a, const TensorChange& b) {
                     return a.relative_change > b.relative_change;
                   });
  return inspection;
}

namespace {

json FindingsJson(const std::vector<Finding>& findings) {
  json out = json::array();
  for (const Finding& f : findings)
    out.push_back({{"rule_id", f.rule_id},
                   {"severity", SeverityName(f.severity)},
                   {"message", f.message},
                   {"file", f.location.file},
                   {"evidence", f.evidence}});
  return out;
}

std::string FindingsText(const std::vector<Finding>& findings) {
  std::string out;
  for (const Finding& f : findings)
    out += absl::StrFormat("  %-8s %-28s %s\n", std::string(SeverityName(f.severity)), f.rule_id,
                           f.message);
  return out;
}

}  // namespace

std::string AdapterInspectionJson(const AdapterInspection& inspection) {
  json modules = json::array();
  for (const ModuleUpdate& m : inspection.modules)
    modules.push_back(
        {{"module", m.module},
         {"projection", m.projection},
         {"layer", m.layer},
         {"rank", m.rank},
         {"in_features", m.in_features},
         {"out_features", m.out_features},
         {"dtype", m.dtype},
         {"scale", m.scale},
         {"update_norm", m.norm},
         {"effective_rank", m.effective_rank},
         {"top_singular_share", m.top_share},
         {"relative_to_base", m.relative_to_base < 0 ? json(nullptr) : json(m.relative_to_base)},
         {"difference", m.difference < 0 ? json(nullptr) : json(m.difference)},
         {"non_finite", m.non_finite}});
  std::map<std::string, double> by_projection, by_layer;
  for (const ModuleUpdate& m : inspection.modules) {
    by_projection[m.projection] += m.norm * m.norm;
    by_layer[std::to_string(m.layer)] += m.norm * m.norm;
  }
  for (auto* group : {&by_projection, &by_layer})
    for (auto& [key, value] : *group) value = std::sqrt(value);
  json out = {{"directory", inspection.directory},
              {"against", inspection.against},
              {"against_kind", inspection.against_kind},
              {"config",
               {{"r", inspection.config_rank},
                {"lora_alpha", inspection.config_alpha},
                {"use_rslora", inspection.use_rslora},
                {"target_modules", inspection.target_modules}}},
              {"total_update_norm", inspection.total_norm},
              {"update_norm_by_projection", by_projection},
              {"update_norm_by_layer", by_layer},
              {"modules", modules},
              {"findings", FindingsJson(inspection.findings)}};
  return out.dump(2) + "\n";
}

std::string AdapterInspectionText(const AdapterInspection& inspection) {
  std::string out = absl::StrFormat(
      "adapter %s: %d LoRA modules, r=%d, alpha=%g%s, total update norm %.4g\n",
      inspection.directory, inspection.modules.size(), inspection.config_rank,
      inspection.config_alpha, inspection.use_rslora ? " (rsLoRA)" : "", inspection.total_norm);
  if (!inspection.against.empty())
    out += absl::StrFormat("against %s %s\n", inspection.against_kind, inspection.against);
  out += inspection.findings.empty() ? "no findings\n"
                                     : "findings:\n" + FindingsText(inspection.findings);
  out += "largest updates:\n";
  size_t shown = 0;
  for (const ModuleUpdate& m : inspection.modules) {
    if (++shown > 10) break;
    out += absl::StrFormat("  %-48s norm %.4g  effective rank %.2f of %d", m.module, m.norm,
                           m.effective_rank, m.rank);
    if (m.relative_to_base >= 0)
      out += absl::StrFormat("  %.2f%% of the base weight", 100 * m.relative_to_base);
    if (m.difference >= 0)
      out += absl::StrFormat("  differs from the reference by %.4g", m.difference);
    out += "\n";
  }
  return out;
}

std::string CheckpointInspectionJson(const CheckpointInspection& inspection) {
  json changes = json::array();
  for (const TensorChange& c : inspection.changes)
    changes.push_back(
        {{"tensor", c.name},
         {"status", c.status},
         {"dtype", c.dtype},
         {"shape", c.shape},
         {"reference_dtype", c.reference_dtype},
         {"reference_shape", c.reference_shape},
         {"norm", c.norm},
         {"relative_change", c.relative_change < 0 ? json(nullptr) : json(c.relative_change)},
         {"non_finite", c.non_finite}});
  json out = {{"directory", inspection.directory},
              {"against", inspection.against},
              {"tensors", inspection.tensors},
              {"changed", inspection.changed},
              {"changes", changes},
              {"findings", FindingsJson(inspection.findings)}};
  return out.dump(2) + "\n";
}

std::string CheckpointInspectionText(const CheckpointInspection& inspection) {
  std::string out =
      absl::StrFormat("checkpoint %s: %d tensors", inspection.directory, inspection.tensors);
  if (!inspection.against.empty())
    out += absl::StrFormat(", %d changed against %s", inspection.changed, inspection.against);
  out += "\n";
  out += inspection.findings.empty() ? "no findings\n"
                                     : "findings:\n" + FindingsText(inspection.findings);
  size_t shown = 0;
  for (const TensorChange& c : inspection.changes) {
    if (c.status != "changed" || ++shown > 10) continue;
    out +=
        absl::StrFormat("  %-48s changed by %.4g%% of its norm\n", c.name, 100 * c.relative_change);
  }
  return out;
}

}  // namespace gauntlet::integrity
