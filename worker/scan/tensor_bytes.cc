#include "worker/scan/tensor_bytes.h"

#include "common/format.h"
#include "worker/scan/decompress.h"
#include "worker/scan/pickle_machine.h"
#include "worker/scan/zip_reader.h"

namespace gauntlet::scan {

bool CanHoldStrongPayload(Format format) {
  return format == Format::kPickle || format == Format::kZip || format == Format::kGzip ||
         format == Format::kBzip2 || format == Format::kXz || format == Format::kZstd;
}

bool HoldsStrongPayload(std::string_view bytes, const ScanLimits& limits,
                        std::chrono::steady_clock::time_point deadline, int depth) {
  switch (SniffFormat(bytes.substr(0, 4096))) {
    case Format::kPickle: {
      PickleResult pickle = AnalyzePickle(bytes, 0, limits, deadline);
      return !pickle.stop && !pickle.imports.empty();
    }
    case Format::kZip:
      return HasZipEndRecord(bytes);
    default:
      break;
  }
  // A compressed stream with a magic of its own (never zlib's one byte) that
  // decodes whole to a strong payload: a valid stream with a checksum does
  // not happen in random weights, and gunzipping is what a second stage does.
  std::optional<Codec> codec;
  switch (SniffFormat(bytes.substr(0, 4096))) {
    case Format::kGzip:
      if (bytes.size() > 2 && bytes[2] == 8) codec = Codec::kGzipOrZlib;  // Deflate only.
      break;
    case Format::kBzip2:
      codec = Codec::kBzip2;
      break;
    case Format::kXz:
      codec = Codec::kXz;
      break;
    case Format::kZstd:
      codec = Codec::kZstd;
      break;
    default:
      break;
  }
  if (!codec || depth > 0) return false;
  auto decoded = Decompress(*codec, bytes, limits.max_decompressed_bytes);
  return decoded.ok() && HoldsStrongPayload(*decoded, limits, deadline, depth + 1);
}

}  // namespace gauntlet::scan
