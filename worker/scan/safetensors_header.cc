#include "worker/scan/safetensors_header.h"

#include <algorithm>
#include <cstring>
#include <nlohmann/json.hpp>
#include <set>

#include "common/strings.h"

namespace gauntlet::scan {
namespace {

constexpr uint64_t kMaxHeaderBytes = 100000000;

absl::Status Invalid(const std::string& why) { return absl::InvalidArgumentError(why); }

}  // namespace

uint64_t SafetensorsDtypeSize(std::string_view dtype) {
  static const std::map<std::string_view, uint64_t> kSizes = {
      {"BOOL", 1}, {"U8", 1},  {"I8", 1},  {"F8_E4M3", 1}, {"F8_E5M2", 1}, {"F8_E8M0", 1},
      {"I16", 2},  {"U16", 2}, {"F16", 2}, {"BF16", 2},    {"I32", 4},     {"U32", 4},
      {"F32", 4},  {"I64", 8}, {"U64", 8}, {"F64", 8},     {"C64", 8},
  };
  auto it = kSizes.find(dtype);
  return it == kSizes.end() ? 0 : it->second;
}

absl::StatusOr<SafetensorsHeader> ParseSafetensorsHeader(std::string_view file) {
  SafetensorsHeader header;
  if (file.size() < 8) return Invalid("file is shorter than the 8-byte header length");
  std::memcpy(&header.header_size, file.data(), 8);
  if (header.header_size > kMaxHeaderBytes) {
    return Invalid(StrCat("header length ", header.header_size, " exceeds 100,000,000"));
  }
  if (header.header_size > file.size() - 8) {
    return Invalid(StrCat("header length ", header.header_size, " runs past the end of the file"));
  }
  header.data_offset = 8 + header.header_size;
  std::string_view text = file.substr(8, header.header_size);
  if (text.empty() || text.front() != '{') return Invalid("header does not start with '{'");

  // Duplicate keys are legal JSON but ambiguous: the parser callback sees
  // every top-level key before the object keeps only one.
  std::set<std::string> seen;
  std::string duplicate;
  auto on_event = [&](int depth, nlohmann::json::parse_event_t event, nlohmann::json& parsed) {
    if (event == nlohmann::json::parse_event_t::key && depth == 1 &&
        !seen.insert(parsed.get<std::string>()).second && duplicate.empty()) {
      duplicate = parsed.get<std::string>();
    }
    return true;
  };
  nlohmann::json json = nlohmann::json::parse(text.begin(), text.end(), on_event,
                                              /*allow_exceptions=*/false);
  if (json.is_discarded() || !json.is_object()) return Invalid("header is not a JSON object");
  if (!duplicate.empty()) return Invalid(StrCat("key '", duplicate, "' appears twice"));

  for (auto& [name, entry] : json.items()) {
    if (name == "__metadata__") {
      if (!entry.is_object()) return Invalid("__metadata__ is not an object");
      for (auto& [key, value] : entry.items()) {
        if (!value.is_string())
          return Invalid(StrCat("__metadata__ value of '", key, "' is not a string"));
        header.metadata[key] = value.get<std::string>();
      }
      continue;
    }
    if (!entry.is_object() || !entry.contains("dtype") || !entry.contains("shape") ||
        !entry.contains("data_offsets") || entry.size() != 3) {
      return Invalid(StrCat("tensor '", name, "' must have exactly dtype, shape and data_offsets"));
    }
    SafetensorsTensor tensor;
    tensor.name = name;
    if (!entry["dtype"].is_string())
      return Invalid(StrCat("tensor '", name, "' dtype is not a string"));
    tensor.dtype = entry["dtype"].get<std::string>();
    uint64_t bytes = SafetensorsDtypeSize(tensor.dtype);
    if (bytes == 0) return Invalid(StrCat("tensor '", name, "' has unknown dtype ", tensor.dtype));
    if (!entry["shape"].is_array())
      return Invalid(StrCat("tensor '", name, "' shape is not an array"));
    for (const auto& dim : entry["shape"]) {
      if (!dim.is_number_unsigned()) {
        return Invalid(StrCat("tensor '", name, "' shape holds a non-integer or negative size"));
      }
      uint64_t n = dim.get<uint64_t>();
      if (n != 0 && bytes > UINT64_MAX / n)
        return Invalid(StrCat("tensor '", name, "' size overflows"));
      bytes *= n;
      tensor.shape.push_back(n);
    }
    const auto& offsets = entry["data_offsets"];
    if (!offsets.is_array() || offsets.size() != 2 || !offsets[0].is_number_unsigned() ||
        !offsets[1].is_number_unsigned()) {
      return Invalid(StrCat("tensor '", name, "' data_offsets must be two unsigned integers"));
    }
    tensor.begin = offsets[0].get<uint64_t>();
    tensor.end = offsets[1].get<uint64_t>();
    if (tensor.end < tensor.begin || tensor.end - tensor.begin != bytes) {
      return Invalid(StrCat("tensor '", name, "' spans ", tensor.end - tensor.begin,
                            " bytes but its dtype and shape need ", bytes));
    }
    header.tensors.push_back(std::move(tensor));
  }

  std::sort(header.tensors.begin(), header.tensors.end(),
            [](const SafetensorsTensor& a, const SafetensorsTensor& b) {
              return a.begin != b.begin ? a.begin < b.begin : a.end < b.end;
            });
  uint64_t expected = 0;
  for (const SafetensorsTensor& t : header.tensors) {
    if (t.begin != expected) {
      return Invalid(StrCat("tensor '", t.name, "' starts at ", t.begin,
                            " but the previous ends at ", expected,
                            t.begin > expected ? " (gap)" : " (overlap)"));
    }
    expected = t.end;
  }
  uint64_t data_size = file.size() - header.data_offset;
  if (expected != data_size) {
    return Invalid(
        StrCat("tensors cover ", expected, " bytes but the data section holds ", data_size));
  }
  return header;
}

}  // namespace gauntlet::scan
