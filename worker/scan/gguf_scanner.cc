#include "worker/scan/gguf_scanner.h"

#include <cstring>
#include <map>
#include <optional>

#include "common/rules.h"
#include "common/strings.h"
#include "worker/scan/config_instantiation.h"
#include "worker/scan/scan_context.h"
#include "worker/scan/template_injection.h"

namespace gauntlet::scan {
namespace {

enum ValueType : uint32_t {
  kU8 = 0,
  kI8,
  kU16,
  kI16,
  kU32,
  kI32,
  kF32,
  kBool,
  kString,
  kArray,
  kU64,
  kI64,
  kF64,
  kTypeCount
};
constexpr uint64_t kScalarSize[kTypeCount] = {1, 1, 2, 2, 4, 4, 4, 1, 0, 0, 8, 8, 8};
constexpr int kMaxArrayNesting = 3;
constexpr uint32_t kMaxDims = 4;  // GGML_MAX_DIMS

// (elements per block, bytes per block) for the ggml types whose layout is
// fixed; other known ids are only range-checked.
std::optional<std::pair<uint64_t, uint64_t>> BlockLayout(uint32_t type) {
  static const std::map<uint32_t, std::pair<uint64_t, uint64_t>> kLayouts = {
      {0, {1, 4}},      {1, {1, 2}},      {2, {32, 18}},    {3, {32, 20}},    {6, {32, 22}},
      {7, {32, 24}},    {8, {32, 34}},    {9, {32, 36}},    {10, {256, 84}},  {11, {256, 110}},
      {12, {256, 144}}, {13, {256, 176}}, {14, {256, 210}}, {15, {256, 292}}, {24, {1, 1}},
      {25, {1, 2}},     {26, {1, 4}},     {27, {1, 8}},     {28, {1, 8}},     {30, {1, 2}},
  };
  auto it = kLayouts.find(type);
  if (it == kLayouts.end()) return std::nullopt;
  return it->second;
}
constexpr uint32_t kMaxGgmlType = 64;

class Parser {
 public:
  Parser(std::string_view data, ScanContext& ctx) : data_(data), ctx_(ctx) {}

  void Run() { (void)(Header() && Metadata() && Tensors()); }

 private:
  bool Fail(std::string why) {
    ctx_.ReportIncomplete(rules::kGgufMalformed, std::move(why), pos_);
    return false;
  }
  bool Need(uint64_t n) {
    if (n <= data_.size() - pos_) return true;
    return Fail(
        StrCat("needs ", n, " bytes at offset ", pos_, " but the file ends at ", data_.size()));
  }
  template <typename T>
  bool Read(T& out) {
    if (!Need(sizeof(T))) return false;
    std::memcpy(&out, data_.data() + pos_, sizeof(T));
    pos_ += sizeof(T);
    return true;
  }
  // Counts and lengths are u32 in version 1, u64 after.
  bool ReadCount(uint64_t& out) {
    if (version_ == 1) {
      uint32_t n;
      if (!Read(n)) return false;
      out = n;
      return true;
    }
    return Read(out);
  }
  bool ReadString(std::string_view& out) {
    uint64_t n;
    if (!ReadCount(n) || !Need(n)) return false;
    out = data_.substr(pos_, n);
    pos_ += n;
    return true;
  }

  bool Header() {
    // The scanner is chosen by the magic, but a caller may hand it anything.
    if (data_.size() < 4) return Fail("shorter than the GGUF magic");
    pos_ = 4;
    if (!Read(version_)) return false;
    if (version_ < 1 || version_ > 3) return Fail(StrCat("unsupported GGUF version ", version_));
    if (!ReadCount(tensor_count_) || !ReadCount(kv_count_)) return false;
    // Every KV needs at least a length, a type and a one-byte value; every
    // tensor info a length, n_dims, a type and an offset. Counts that cannot
    // fit are a denial-of-service attempt on loaders that preallocate.
    uint64_t left = data_.size() - pos_;
    if (kv_count_ > left / 13)
      return Fail(StrCat("kv_count ", kv_count_, " cannot fit in the file"));
    if (tensor_count_ > left / 24) {
      return Fail(StrCat("tensor_count ", tensor_count_, " cannot fit in the file"));
    }
    ctx_.AddMetadata("gguf.version", StrCat(version_));
    ctx_.AddMetadata("gguf.tensor_count", StrCat(tensor_count_));
    return true;
  }

  bool Value(uint32_t type, std::string_view key, int nesting) {
    if (type >= kTypeCount) return Fail(StrCat("metadata '", key, "' has unknown type ", type));
    if (type == kString) {
      std::string_view text;
      uint64_t at = pos_;
      if (!ReadString(text)) return false;
      CheckString(key, text, at);
      return true;
    }
    if (type == kArray) {
      if (nesting >= kMaxArrayNesting)
        return Fail(StrCat("metadata '", key, "' nests arrays too deeply"));
      uint32_t element;
      uint64_t count;
      if (!Read(element) || !ReadCount(count)) return false;
      if (element >= kTypeCount)
        return Fail(StrCat("metadata '", key, "' has unknown element type ", element));
      uint64_t min_size = element == kString  ? (version_ == 1 ? 4 : 8)
                          : element == kArray ? 12
                                              : kScalarSize[element];
      if (count > (data_.size() - pos_) / min_size) {
        return Fail(StrCat("metadata '", key, "' claims ", count, " elements that cannot fit"));
      }
      if (element != kString && element != kArray) {
        pos_ += count * min_size;
        return true;
      }
      for (uint64_t i = 0; i < count; ++i) {
        if ((i & 0xFFFF) == 0 && ctx_.TimedOut()) return false;
        if (!Value(element, key, nesting + 1)) return false;
      }
      return true;
    }
    if (!Need(kScalarSize[type])) return false;
    if (key == "general.alignment" && type == kU32)
      std::memcpy(&alignment_, data_.data() + pos_, 4);
    pos_ += kScalarSize[type];
    return true;
  }

  void CheckString(std::string_view key, std::string_view text, uint64_t offset) {
    bool chat_template = StartsWith(key, "tokenizer.chat_template");
    if (chat_template || LooksLikeTemplate(text)) {
      ctx_.MatchSignatures(text, StrCat("in metadata '", key, "'"), offset);
      if (auto threat = FindTemplateThreat(text)) {
        ctx_.Report(rules::kGgufTemplateInjection, Severity::kCritical,
                    StrCat("'", key, "' is a Jinja template that reaches ", threat->token), offset,
                    threat->excerpt);
      }
    }
    if (StartsWith(key, "general.") || chat_template) ctx_.AddMetadata(key, text);
    if (!chat_template) AnalyzeConfigText(text, StrCat("metadata '", key, "'"), offset, ctx_);
  }

  bool Metadata() {
    for (uint64_t i = 0; i < kv_count_; ++i) {
      std::string_view key;
      uint32_t type;
      if (!ReadString(key) || !Read(type)) return false;
      if (!Value(type, key, 0)) return false;
    }
    if (alignment_ == 0 || (alignment_ & (alignment_ - 1)) != 0) {
      return Fail(StrCat("general.alignment ", alignment_, " is not a power of two"));
    }
    return true;
  }

  bool Tensors() {
    struct Extent {
      std::string name;
      uint64_t offset;
      std::optional<uint64_t> size;
    };
    std::vector<Extent> extents;
    for (uint64_t i = 0; i < tensor_count_; ++i) {
      std::string_view name;
      uint32_t dims, type;
      if (!ReadString(name) || !Read(dims)) return false;
      if (dims == 0 || dims > kMaxDims)
        return Fail(StrCat("tensor '", name, "' has ", dims, " dimensions"));
      uint64_t elements = 1;
      for (uint32_t d = 0; d < dims; ++d) {
        uint64_t n;
        if (!Read(n)) return false;
        if (n != 0 && elements > UINT64_MAX / n)
          return Fail(StrCat("tensor '", name, "' size overflows"));
        elements *= n;
      }
      uint64_t offset;
      if (!Read(type) || !Read(offset)) return false;
      if (type >= kMaxGgmlType)
        return Fail(StrCat("tensor '", name, "' has unknown ggml type ", type));
      std::optional<uint64_t> size;
      if (auto layout = BlockLayout(type)) {
        if (elements % layout->first != 0) {
          return Fail(StrCat("tensor '", name, "' has ", elements,
                             " elements, not a multiple of its block"));
        }
        size = elements / layout->first * layout->second;
      }
      extents.push_back({std::string(name), offset, size});
    }
    uint64_t data_start = (pos_ + alignment_ - 1) / alignment_ * alignment_;
    if (data_start > data_.size())
      return Fail("tensor data section starts past the end of the file");
    uint64_t data_size = data_.size() - data_start;
    for (const Extent& e : extents) {
      if (e.offset % alignment_ != 0) {
        return Fail(
            StrCat("tensor '", e.name, "' offset ", e.offset, " is not aligned to ", alignment_));
      }
      if (e.offset > data_size || (e.size && *e.size > data_size - e.offset)) {
        return Fail(StrCat("tensor '", e.name, "' lies outside the data section"));
      }
    }
    return true;
  }

  std::string_view data_;
  ScanContext& ctx_;
  uint64_t pos_ = 0;
  uint32_t version_ = 0;
  uint64_t tensor_count_ = 0, kv_count_ = 0;
  uint32_t alignment_ = 32;
};

}  // namespace

void GgufScanner::Scan(std::string_view content, ScanContext& ctx) const {
  ctx.LabelFormat("gguf");
  Parser(content, ctx).Run();
}

}  // namespace gauntlet::scan
