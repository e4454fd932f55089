#include "worker/scan/compressed_scanner.h"

#include "common/rules.h"
#include "common/strings.h"
#include "worker/scan/decompress.h"
#include "worker/scan/scan_context.h"

namespace gauntlet::scan {
namespace {

std::optional<Codec> CodecFor(Format format) {
  switch (format) {
    case Format::kGzip:
    case Format::kZlib:
      return Codec::kGzipOrZlib;
    case Format::kBzip2:
      return Codec::kBzip2;
    case Format::kXz:
    case Format::kLzma:  // liblzma's auto decoder reads both.
      return Codec::kXz;
    case Format::kZstd:
      return Codec::kZstd;
    default:
      return std::nullopt;
  }
}

}  // namespace

bool CompressedScanner::Accepts(Format format) const { return CodecFor(format).has_value(); }

void CompressedScanner::Scan(std::string_view content, ScanContext& ctx) const {
  Format format = SniffFormat(content.substr(0, 4096));
  std::optional<Codec> codec = CodecFor(format);
  if (!codec) return;
  auto inner = ctx.DecompressWithinBudget([&](uint64_t room, const GrowthMeter* meter) {
    return Decompress(*codec, content, room, OnLimit::kFail, meter);
  });
  if (!inner.ok()) {
    bool limit = absl::IsResourceExhausted(inner.status());
    ctx.ReportIncomplete(limit                                      ? rules::kLimitExceeded
                         : absl::IsDeadlineExceeded(inner.status()) ? rules::kTimeout
                                                                    : rules::kArchiveMalformed,
                         StrCat(FormatName(format), " stream: ", inner.status().message()), 0);
    if (!limit) return;
    // Scan what fits under the cap: findings early in the stream still count.
    inner = Decompress(*codec, content, ctx.DecompressionRoom(), OnLimit::kTruncate);
    if (!inner.ok()) return;
    ctx.HoldDecompressed(inner->size());
  }
  ctx.ScanMember(StrCat("<", FormatName(format), ">"), *inner);
  ctx.ReleaseDecompressed(inner->size());
}

}  // namespace gauntlet::scan
