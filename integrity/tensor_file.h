// A safetensors file opened for reading values: the header checked by the
// scanner's own parser (worker/scan/safetensors_header.h), the data mapped,
// float tensors read as float. For forensics on weights, never for loading.
#ifndef GAUNTLET_INTEGRITY_TENSOR_FILE_H_
#define GAUNTLET_INTEGRITY_TENSOR_FILE_H_

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "worker/scan/safetensors_header.h"

namespace gauntlet::integrity {

class TensorFile {
 public:
  // INVALID_ARGUMENT naming the header rule the file breaks; NOT_FOUND or
  // UNAVAILABLE when it cannot be opened or mapped.
  static absl::StatusOr<TensorFile> Open(const std::string& path);

  const std::string& path() const { return path_; }
  const std::vector<scan::SafetensorsTensor>& tensors() const { return header_.tensors; }
  const scan::SafetensorsTensor* Find(std::string_view name) const;

  // Whether Floats can read the dtype: F64, F32, F16, BF16.
  static bool IsFloat(std::string_view dtype);
  // The tensor's values, row-major; FAILED_PRECONDITION for another dtype.
  absl::StatusOr<std::vector<float>> Floats(const scan::SafetensorsTensor& tensor) const;
  // The same without a copy, for tensors too large to hold twice.
  class FloatView {
   public:
    size_t size() const { return count_; }
    float operator[](size_t i) const;

   private:
    friend class TensorFile;
    const char* bytes_ = nullptr;
    std::string_view dtype_;
    size_t count_ = 0, element_ = 0;
  };
  absl::StatusOr<FloatView> View(const scan::SafetensorsTensor& tensor) const;
  // The tensor's raw bytes.
  std::string_view Bytes(const scan::SafetensorsTensor& tensor) const;

 private:
  struct Mapping;
  std::string path_;
  scan::SafetensorsHeader header_;
  std::shared_ptr<Mapping> mapping_;
};

}  // namespace gauntlet::integrity

#endif  // GAUNTLET_INTEGRITY_TENSOR_FILE_H_
