#include "worker/eval/safetensors_file.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>

#include "common/strings.h"
#include "worker/scan/safetensors_header.h"

namespace gauntlet::eval {
namespace {

std::optional<torch::Dtype> TorchDtype(std::string_view name) {
  if (name == "F32") return torch::kFloat32;
  if (name == "F16") return torch::kFloat16;
  if (name == "BF16") return torch::kBFloat16;
  if (name == "F64") return torch::kFloat64;
  if (name == "I64") return torch::kInt64;
  if (name == "I32") return torch::kInt32;
  if (name == "I16") return torch::kInt16;
  if (name == "I8") return torch::kInt8;
  if (name == "U8") return torch::kUInt8;
  if (name == "BOOL") return torch::kBool;
  return std::nullopt;
}

std::optional<std::string> DtypeName(torch::Dtype dtype) {
  switch (dtype) {
    case torch::kFloat32:
      return "F32";
    case torch::kFloat16:
      return "F16";
    case torch::kBFloat16:
      return "BF16";
    case torch::kFloat64:
      return "F64";
    case torch::kInt64:
      return "I64";
    case torch::kInt32:
      return "I32";
    case torch::kInt16:
      return "I16";
    case torch::kInt8:
      return "I8";
    case torch::kUInt8:
      return "U8";
    case torch::kBool:
      return "BOOL";
    default:
      return std::nullopt;
  }
}

// A read-only mapping of a whole file.
struct Mapping {
  void* data = MAP_FAILED;
  size_t size = 0;
  ~Mapping() {
    if (data != MAP_FAILED) munmap(data, size);
  }
};

}  // namespace

absl::StatusOr<TensorMap> ReadSafetensors(const std::string& path) {
  int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return absl::NotFoundError(StrCat("cannot open ", path));
  struct stat st {};
  fstat(fd, &st);
  Mapping file;
  file.size = static_cast<size_t>(st.st_size);
  if (file.size > 0) file.data = mmap(nullptr, file.size, PROT_READ, MAP_PRIVATE, fd, 0);
  close(fd);
  if (file.size == 0 || file.data == MAP_FAILED)
    return absl::InvalidArgumentError(StrCat(path, ": empty or unreadable"));
  std::string_view bytes(static_cast<const char*>(file.data), file.size);
  auto header = scan::ParseSafetensorsHeader(bytes);
  if (!header.ok())
    return absl::InvalidArgumentError(StrCat(path, ": ", header.status().message()));
  TensorMap tensors;
  for (const scan::SafetensorsTensor& entry : header->tensors) {
    auto dtype = TorchDtype(entry.dtype);
    if (!dtype)
      return absl::InvalidArgumentError(
          StrCat(path, ": tensor ", entry.name, " has dtype ", entry.dtype, ", unsupported"));
    std::vector<int64_t> shape(entry.shape.begin(), entry.shape.end());
    const char* data = bytes.data() + header->data_offset + entry.begin;
    tensors[entry.name] =
        torch::from_blob(const_cast<char*>(data), shape, torch::TensorOptions().dtype(*dtype))
            .clone();
  }
  return tensors;
}

absl::Status WriteSafetensors(const std::string& path, const TensorMap& tensors,
                              const std::map<std::string, std::string>& metadata) {
  nlohmann::ordered_json header = nlohmann::ordered_json::object();
  if (!metadata.empty()) header["__metadata__"] = metadata;
  std::vector<torch::Tensor> contiguous;
  uint64_t offset = 0;
  for (const auto& [name, tensor] : tensors) {
    auto dtype = DtypeName(tensor.scalar_type());
    if (!dtype) return absl::InvalidArgumentError(StrCat(name, ": dtype cannot be written"));
    torch::Tensor data = tensor.detach().to(torch::kCPU).contiguous();
    uint64_t size = static_cast<uint64_t>(data.numel() * data.element_size());
    header[name] = {{"dtype", *dtype},
                    {"shape", std::vector<int64_t>(data.sizes().begin(), data.sizes().end())},
                    {"data_offsets", {offset, offset + size}}};
    offset += size;
    contiguous.push_back(data);
  }
  std::string json = header.dump();
  // The data section starts 8-aligned: pad the header with spaces.
  json.append((8 - (json.size() % 8)) % 8, ' ');
  std::string temp = path + ".tmp";
  {
    std::ofstream out(temp, std::ios::binary | std::ios::trunc);
    if (!out) return absl::InternalError(StrCat("cannot write ", path));
    uint64_t length = json.size();
    char prefix[8];
    for (int i = 0; i < 8; ++i) prefix[i] = static_cast<char>((length >> (8 * i)) & 0xff);
    out.write(prefix, 8);
    out.write(json.data(), static_cast<std::streamsize>(json.size()));
    for (const torch::Tensor& data : contiguous)
      out.write(static_cast<const char*>(data.data_ptr()),
                static_cast<std::streamsize>(data.numel() * data.element_size()));
    if (!out.flush()) return absl::InternalError(StrCat("cannot write ", path));
  }
  if (std::rename(temp.c_str(), path.c_str()) != 0)
    return absl::InternalError(StrCat("cannot write ", path));
  return absl::OkStatus();
}

absl::StatusOr<TensorMap> ReadCheckpointWeights(const std::string& directory) {
  namespace fs = std::filesystem;
  fs::path single = fs::path(directory) / "model.safetensors";
  if (fs::exists(single)) return ReadSafetensors(single.string());
  fs::path index_path = fs::path(directory) / "model.safetensors.index.json";
  std::ifstream in(index_path);
  if (!in)
    return absl::NotFoundError(
        StrCat(directory, " has neither model.safetensors nor model.safetensors.index.json"));
  std::stringstream text;
  text << in.rdbuf();
  auto index = nlohmann::json::parse(text.str(), nullptr, false);
  if (index.is_discarded() || !index.contains("weight_map") || !index["weight_map"].is_object())
    return absl::InvalidArgumentError(StrCat(index_path.string(), ": no weight_map"));
  std::set<std::string> shards;
  for (const auto& [name, shard] : index["weight_map"].items()) {
    if (!shard.is_string()) return absl::InvalidArgumentError(StrCat(name, ": bad shard name"));
    std::string file = shard.get<std::string>();
    if (file.find('/') != std::string::npos || file.find("..") != std::string::npos)
      return absl::InvalidArgumentError(StrCat("shard '", file, "' escapes the folder"));
    shards.insert(file);
  }
  TensorMap all;
  for (const std::string& shard : shards) {
    auto tensors = ReadSafetensors((fs::path(directory) / shard).string());
    if (!tensors.ok()) return tensors.status();
    for (auto& [name, tensor] : *tensors) all[name] = std::move(tensor);
  }
  for (const auto& [name, shard] : index["weight_map"].items())
    if (!all.count(name))
      return absl::InvalidArgumentError(StrCat(name, " is in the index but not in its shard"));
  return all;
}

}  // namespace gauntlet::eval
