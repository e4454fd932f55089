// Bounded decompression for every stream codec a model file arrives in.
// Output is capped so a bomb costs at most `max_output` bytes of memory.
#ifndef GAUNTLET_WORKER_SCAN_DECOMPRESS_H_
#define GAUNTLET_WORKER_SCAN_DECOMPRESS_H_

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"

namespace gauntlet::scan {

enum class Codec { kGzipOrZlib, kRawDeflate, kBzip2, kXz, kZstd };

enum class OnLimit {
  kFail,      // ResourceExhausted when output would exceed max_output.
  kTruncate,  // Return the first max_output bytes (for sniffing a prefix).
};

// Told of every growth of the output (the bytes added) before it happens;
// false stops the stream as if the cap were reached: a shared budget of
// memory ran out (decompression_budget.h).
using GrowthMeter = std::function<bool(uint64_t added)>;

// DataLoss for corrupt or truncated input (with what was decoded so far
// discarded), ResourceExhausted when the cap is hit (or the meter refuses)
// under OnLimit::kFail.
absl::StatusOr<std::string> Decompress(Codec codec, std::string_view input, uint64_t max_output,
                                       OnLimit on_limit = OnLimit::kFail,
                                       const GrowthMeter* meter = nullptr);

}  // namespace gauntlet::scan

#endif  // GAUNTLET_WORKER_SCAN_DECOMPRESS_H_
