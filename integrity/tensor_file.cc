#include "integrity/tensor_file.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "common/strings.h"

namespace gauntlet::integrity {

struct TensorFile::Mapping {
  const char* data = nullptr;
  size_t size = 0;
  ~Mapping() {
    if (data && size) munmap(const_cast<char*>(data), size);
  }
};

namespace {

float HalfToFloat(uint16_t half) {
  uint32_t sign = (half & 0x8000u) << 16, exponent = (half >> 10) & 0x1f, mantissa = half & 0x3ff;
  uint32_t bits;
  if (exponent == 0x1f) {
    bits = sign | 0x7f800000u | (mantissa << 13);  // Inf or NaN.
  } else if (exponent != 0) {
    bits = sign | ((exponent + 112) << 23) | (mantissa << 13);
  } else if (mantissa == 0) {
    bits = sign;
  } else {  // Subnormal: normalise.
    exponent = 113;
    while (!(mantissa & 0x400)) {
      mantissa <<= 1;
      --exponent;
    }
    bits = sign | (exponent << 23) | ((mantissa & 0x3ff) << 13);
  }
  float value;
  std::memcpy(&value, &bits, sizeof value);
  return value;
}

}  // namespace

absl::StatusOr<TensorFile> TensorFile::Open(const std::string& path) {
  int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return errno == ENOENT ? absl::NotFoundError(StrCat(path, ": no such file"))
                           : absl::UnavailableError(StrCat(path, ": ", std::strerror(errno)));
  struct stat info;
  if (fstat(fd, &info) != 0 || !S_ISREG(info.st_mode)) {
    close(fd);
    return absl::InvalidArgumentError(StrCat(path, " is not a regular file"));
  }
  auto mapping = std::make_shared<Mapping>();
  mapping->size = static_cast<size_t>(info.st_size);
  if (mapping->size > 0) {
    void* data = mmap(nullptr, mapping->size, PROT_READ, MAP_PRIVATE, fd, 0);
    if (data == MAP_FAILED) {
      close(fd);
      return absl::UnavailableError(StrCat(path, ": cannot map it: ", std::strerror(errno)));
    }
    mapping->data = static_cast<const char*>(data);
  }
  close(fd);
  auto header = scan::ParseSafetensorsHeader(std::string_view(mapping->data, mapping->size));
  if (!header.ok())
    return absl::InvalidArgumentError(StrCat(path, ": ", header.status().message()));
  TensorFile file;
  file.path_ = path;
  file.header_ = std::move(*header);
  file.mapping_ = std::move(mapping);
  return file;
}

const scan::SafetensorsTensor* TensorFile::Find(std::string_view name) const {
  for (const scan::SafetensorsTensor& tensor : header_.tensors)
    if (tensor.name == name) return &tensor;
  return nullptr;
}

bool TensorFile::IsFloat(std::string_view dtype) {
  return dtype == "F64" || dtype == "F32" || dtype == "F16" || dtype == "BF16";
}

std::string_view TensorFile::Bytes(const scan::SafetensorsTensor& tensor) const {
  return std::string_view(mapping_->data + header_.data_offset + tensor.begin,
                          tensor.end - tensor.begin);
}

absl::StatusOr<TensorFile::FloatView> TensorFile::View(
    const scan::SafetensorsTensor& tensor) const {
  if (!IsFloat(tensor.dtype))
    return absl::FailedPreconditionError(
        StrCat("tensor '", tensor.name, "' is ", tensor.dtype, ", not a float type"));
  FloatView view;
  view.bytes_ = Bytes(tensor).data();
  view.dtype_ = tensor.dtype;
  view.element_ = scan::SafetensorsDtypeSize(tensor.dtype);
  view.count_ = (tensor.end - tensor.begin) / view.element_;
  return view;
}

float TensorFile::FloatView::operator[](size_t i) const {
  const char* at = bytes_ + i * element_;
  float value;
  if (element_ == 4) {
    std::memcpy(&value, at, 4);
  } else if (element_ == 8) {
    double wide;
    std::memcpy(&wide, at, 8);
    value = static_cast<float>(wide);
  } else {
    uint16_t half;
    std::memcpy(&half, at, 2);
    if (dtype_ == "F16") {
      value = HalfToFloat(half);
    } else {  // BF16: the high half of an F32.
      uint32_t bits = static_cast<uint32_t>(half) << 16;
      std::memcpy(&value, &bits, 4);
    }
  }
  return value;
}

absl::StatusOr<std::vector<float>> TensorFile::Floats(const scan::SafetensorsTensor& tensor) const {
  auto view = View(tensor);
  if (!view.ok()) return view.status();
  std::vector<float> values(view->size());
  for (size_t i = 0; i < values.size(); ++i) values[i] = (*view)[i];
  return values;
}

}  // namespace gauntlet::integrity
