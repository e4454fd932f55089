// Tensor bytes are data. Inside a torch storage, a numpy array body or a
// bytes constant of a pickle (where torch and numpy keep raw array data),
// random weights take every byte pattern, so a weak format signature (a
// msgpack map byte, an ONNX-looking varint, a gzip magic) turns up in a few
// files in a thousand. No loader ever parses those bytes as such formats.
// Only a strong signature counts there: a complete pickle that reaches STOP
// and imports something, or a zip with a consistent end-of-central-directory
// record, or a gzip/bzip2/xz/zstd stream that decodes whole to one of those.
// Those are what a polyglot payload must be to load anywhere.
#ifndef GAUNTLET_WORKER_SCAN_TENSOR_BYTES_H_
#define GAUNTLET_WORKER_SCAN_TENSOR_BYTES_H_

#include <chrono>
#include <string_view>

#include "common/format.h"
#include "common/policy.h"

namespace gauntlet::scan {

// Whether a format sniffed from such bytes can start a strong payload: the
// cheap test before the whole one.
bool CanHoldStrongPayload(Format format);

// Whether `bytes` found where tensor data lives is a payload to scan.
bool HoldsStrongPayload(std::string_view bytes, const ScanLimits& limits,
                        std::chrono::steady_clock::time_point deadline, int depth = 0);

}  // namespace gauntlet::scan

#endif  // GAUNTLET_WORKER_SCAN_TENSOR_BYTES_H_
