// The safetensors header, parsed and checked against every rule of the
// format. Shared by the scanner and by the model loader, so what Gauntlet
// loads is exactly what it would pass.
#ifndef GAUNTLET_WORKER_SCAN_SAFETENSORS_HEADER_H_
#define GAUNTLET_WORKER_SCAN_SAFETENSORS_HEADER_H_

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"

namespace gauntlet::scan {

struct SafetensorsTensor {
  std::string name;
  std::string dtype;  // "F32", "BF16", ...
  std::vector<uint64_t> shape;
  uint64_t begin = 0;  // Offsets into the data buffer (after the header).
  uint64_t end = 0;
};

struct SafetensorsHeader {
  uint64_t header_size = 0;                // N, the JSON length.
  uint64_t data_offset = 0;                // 8 + N.
  std::vector<SafetensorsTensor> tensors;  // Sorted by begin offset.
  std::map<std::string, std::string> metadata;
};

// Bytes per element, or 0 for an unknown dtype.
uint64_t SafetensorsDtypeSize(std::string_view dtype);

// InvalidArgument naming the first rule the header breaks. `file` is the
// whole file (only the header bytes are read).
absl::StatusOr<SafetensorsHeader> ParseSafetensorsHeader(std::string_view file);

}  // namespace gauntlet::scan

#endif  // GAUNTLET_WORKER_SCAN_SAFETENSORS_HEADER_H_
