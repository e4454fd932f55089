// Builds GGUF v3 files in memory: metadata key/values, a tensor table and
// zero-filled, aligned tensor data.
#ifndef GAUNTLET_TESTS_SUPPORT_GGUF_BUILDER_H_
#define GAUNTLET_TESTS_SUPPORT_GGUF_BUILDER_H_

#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>
#include <vector>

namespace gauntlet::testing {

class GgufBuilder {
 public:
  GgufBuilder& String(std::string_view key, std::string_view value) {
    Key(key, 8);
    Str(kv_, value);
    ++kv_count_;
    return *this;
  }
  GgufBuilder& U32(std::string_view key, uint32_t value) {
    Key(key, 4);
    Le(kv_, value);
    ++kv_count_;
    return *this;
  }
  GgufBuilder& StringArray(std::string_view key, const std::vector<std::string>& values) {
    Key(key, 9);
    Le<uint32_t>(kv_, 8);
    Le<uint64_t>(kv_, values.size());
    for (const auto& v : values) Str(kv_, v);
    ++kv_count_;
    return *this;
  }
  // An F32 tensor of `elements` values at `offset` in the data section.
  GgufBuilder& F32Tensor(std::string_view name, uint64_t elements, uint64_t offset) {
    Str(tensors_, name);
    Le<uint32_t>(tensors_, 1);
    Le<uint64_t>(tensors_, elements);
    Le<uint32_t>(tensors_, 0);
    Le<uint64_t>(tensors_, offset);
    ++tensor_count_;
    return *this;
  }
  GgufBuilder& OverrideKvCount(uint64_t n) {
    kv_count_override_ = n;
    return *this;
  }

  std::string Build(size_t data_bytes) const {
    std::string out = "GGUF";
    Le<uint32_t>(out, 3);
    Le<uint64_t>(out, tensor_count_);
    Le<uint64_t>(out, kv_count_override_ ? kv_count_override_ : kv_count_);
    out += kv_;
    out += tensors_;
    out.append((32 - out.size() % 32) % 32, '\0');
    out.append(data_bytes, '\0');
    return out;
  }

 private:
  template <typename T>
  static void Le(std::string& out, T v) {
    char b[sizeof(T)];
    std::memcpy(b, &v, sizeof(T));
    out.append(b, sizeof(T));
  }
  static void Str(std::string& out, std::string_view s) {
    Le<uint64_t>(out, s.size());
    out += s;
  }
  void Key(std::string_view key, uint32_t type) {
    Str(kv_, key);
    Le(kv_, type);
  }

  std::string kv_, tensors_;
  uint64_t kv_count_ = 0, tensor_count_ = 0, kv_count_override_ = 0;
};

}  // namespace gauntlet::testing

#endif  // GAUNTLET_TESTS_SUPPORT_GGUF_BUILDER_H_
