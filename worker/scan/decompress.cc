#include "worker/scan/decompress.h"

#include <bzlib.h>
#include <lzma.h>
#include <zlib.h>
#include <zstd.h>

#include <algorithm>
#include <memory>

#include "common/strings.h"

namespace gauntlet::scan {
namespace {

constexpr size_t kChunk = 64 * 1024;

// The output, its cap, and the caller's meter of shared memory.
struct Sink {
  uint64_t max_output;
  const GrowthMeter* meter;
  std::string out;

  // Appends up to `produced` bytes; returns true when the cap is reached or
  // the meter refuses the growth.
  bool Add(const char* data, size_t produced) {
    size_t room = max_output - std::min<uint64_t>(out.size(), max_output);
    size_t take = std::min(produced, room);
    if (meter && take > 0 && !(*meter)(take)) return true;
    out.append(data, take);
    return produced > room || out.size() >= max_output;
  }
};

absl::Status Exhausted(uint64_t max_output) {
  return absl::ResourceExhaustedError(
      StrCat("decompressed size exceeds the limit of ", max_output, " bytes"));
}

absl::StatusOr<std::string> Inflate(std::string_view input, Sink& sink, OnLimit on_limit,
                                    int window_bits) {
  char buffer[kChunk];
  size_t consumed = 0;
  // Loop over concatenated gzip members (multi-member .gz files are legal).
  while (consumed < input.size()) {
    z_stream z{};
    if (inflateInit2(&z, window_bits) != Z_OK) return absl::InternalError("inflateInit2 failed");
    std::unique_ptr<z_stream, decltype(&inflateEnd)> guard(&z, &inflateEnd);
    z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(input.data() + consumed));
    z.avail_in = static_cast<uInt>(std::min<size_t>(input.size() - consumed, UINT32_MAX));
    int rc = Z_OK;
    while (rc != Z_STREAM_END) {
      z.next_out = reinterpret_cast<Bytef*>(buffer);
      z.avail_out = kChunk;
      rc = inflate(&z, Z_NO_FLUSH);
      if (rc != Z_OK && rc != Z_STREAM_END && rc != Z_BUF_ERROR) {
        return absl::DataLossError(StrCat("deflate stream is corrupt: ", z.msg ? z.msg : "?"));
      }
      if (sink.Add(buffer, kChunk - z.avail_out)) {
        if (on_limit == OnLimit::kTruncate) return std::move(sink.out);
        return Exhausted(sink.max_output);
      }
      if (rc == Z_BUF_ERROR && z.avail_in == 0) {
        return absl::DataLossError("deflate stream is truncated");
      }
    }
    consumed = input.size() - z.avail_in;
    if (window_bits != 15 + 32) break;  // Only gzip has members; raw deflate ends here.
    // Trailing zero padding after the last gzip member is common; stop there.
    if (consumed < input.size() && static_cast<unsigned char>(input[consumed]) != 0x1f) break;
  }
  return std::move(sink.out);
}

absl::StatusOr<std::string> Bunzip(std::string_view input, Sink& sink, OnLimit on_limit) {
  char buffer[kChunk];
  bz_stream bz{};
  if (BZ2_bzDecompressInit(&bz, 0, 0) != BZ_OK) return absl::InternalError("bzip2 init failed");
  std::unique_ptr<bz_stream, decltype(&BZ2_bzDecompressEnd)> guard(&bz, &BZ2_bzDecompressEnd);
  bz.next_in = const_cast<char*>(input.data());
  bz.avail_in = static_cast<unsigned>(std::min<size_t>(input.size(), UINT32_MAX));
  int rc = BZ_OK;
  while (rc != BZ_STREAM_END) {
    bz.next_out = buffer;
    bz.avail_out = kChunk;
    rc = BZ2_bzDecompress(&bz);
    if (rc != BZ_OK && rc != BZ_STREAM_END) return absl::DataLossError("bzip2 stream is corrupt");
    if (sink.Add(buffer, kChunk - bz.avail_out)) {
      if (on_limit == OnLimit::kTruncate) return std::move(sink.out);
      return Exhausted(sink.max_output);
    }
    if (rc == BZ_OK && bz.avail_in == 0 && bz.avail_out != 0) {
      return absl::DataLossError("bzip2 stream is truncated");
    }
  }
  return std::move(sink.out);
}

absl::StatusOr<std::string> Unxz(std::string_view input, Sink& sink, OnLimit on_limit) {
  uint8_t buffer[kChunk];
  lzma_stream xz = LZMA_STREAM_INIT;
  if (lzma_auto_decoder(&xz, UINT64_MAX, LZMA_CONCATENATED) != LZMA_OK) {
    return absl::InternalError("xz init failed");
  }
  std::unique_ptr<lzma_stream, decltype(&lzma_end)> guard(&xz, &lzma_end);
  xz.next_in = reinterpret_cast<const uint8_t*>(input.data());
  xz.avail_in = input.size();
  lzma_ret rc = LZMA_OK;
  while (rc != LZMA_STREAM_END) {
    xz.next_out = buffer;
    xz.avail_out = kChunk;
    rc = lzma_code(&xz, xz.avail_in == 0 ? LZMA_FINISH : LZMA_RUN);
    if (rc != LZMA_OK && rc != LZMA_STREAM_END) {
      return absl::DataLossError(
          StrCat("xz stream is corrupt or truncated (code ", static_cast<int>(rc), ")"));
    }
    if (sink.Add(reinterpret_cast<const char*>(buffer), kChunk - xz.avail_out)) {
      if (on_limit == OnLimit::kTruncate) return std::move(sink.out);
      return Exhausted(sink.max_output);
    }
  }
  return std::move(sink.out);
}

absl::StatusOr<std::string> Unzstd(std::string_view input, Sink& sink, OnLimit on_limit) {
  char buffer[kChunk];
  std::unique_ptr<ZSTD_DStream, decltype(&ZSTD_freeDStream)> stream(ZSTD_createDStream(),
                                                                    &ZSTD_freeDStream);
  if (!stream) return absl::InternalError("zstd init failed");
  ZSTD_inBuffer in{input.data(), input.size(), 0};
  size_t rc = 1;
  while (in.pos < in.size) {
    ZSTD_outBuffer outbuf{buffer, kChunk, 0};
    rc = ZSTD_decompressStream(stream.get(), &outbuf, &in);
    if (ZSTD_isError(rc)) {
      return absl::DataLossError(StrCat("zstd stream is corrupt: ", ZSTD_getErrorName(rc)));
    }
    if (sink.Add(buffer, outbuf.pos)) {
      if (on_limit == OnLimit::kTruncate) return std::move(sink.out);
      return Exhausted(sink.max_output);
    }
    if (outbuf.pos == 0 && in.pos == in.size) break;
  }
  // Flush whatever the decoder still holds.
  while (rc != 0) {
    ZSTD_outBuffer outbuf{buffer, kChunk, 0};
    rc = ZSTD_decompressStream(stream.get(), &outbuf, &in);
    if (ZSTD_isError(rc)) return absl::DataLossError("zstd stream is corrupt");
    if (sink.Add(buffer, outbuf.pos)) {
      if (on_limit == OnLimit::kTruncate) return std::move(sink.out);
      return Exhausted(sink.max_output);
    }
    if (outbuf.pos == 0 && rc != 0) return absl::DataLossError("zstd stream is truncated");
  }
  return std::move(sink.out);
}

}  // namespace

absl::StatusOr<std::string> Decompress(Codec codec, std::string_view input, uint64_t max_output,
                                       OnLimit on_limit, const GrowthMeter* meter) {
  Sink sink{max_output, meter, {}};
  switch (codec) {
    case Codec::kGzipOrZlib:
      return Inflate(input, sink, on_limit, 15 + 32);
    case Codec::kRawDeflate:
      return Inflate(input, sink, on_limit, -15);
    case Codec::kBzip2:
      return Bunzip(input, sink, on_limit);
    case Codec::kXz:
      return Unxz(input, sink, on_limit);
    case Codec::kZstd:
      return Unzstd(input, sink, on_limit);
  }
  return absl::InternalError("unknown codec");
}

}  // namespace gauntlet::scan
