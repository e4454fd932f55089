#include "worker/scan/zip_scanner.h"

#include <zlib.h>

#include <algorithm>

#include "common/rules.h"
#include "common/strings.h"
#include "worker/scan/archive_names.h"
#include "worker/scan/decompress.h"
#include "worker/scan/keras_config.h"
#include "worker/scan/pickle_scanner.h"
#include "worker/scan/scan_context.h"
#include "worker/scan/tensor_bytes.h"
#include "worker/scan/zip_reader.h"

namespace gauntlet::scan {
namespace {

constexpr uint64_t kSniffBytes = 64;
// Below this size a high ratio is harmless; above it, it is a bomb.
constexpr uint64_t kRatioFloorBytes = 16 << 20;

enum class Layout { kPlain, kTorch, kTorchScript, kNpz, kKeras };

Layout DetectLayout(const ZipListing& listing) {
  bool torch = false, script = false, npz = !listing.entries.empty();
  bool keras_config = false, keras_metadata = false;
  for (const ZipEntry& e : listing.entries) {
    keras_config = keras_config || e.name == "config.json";
    keras_metadata = keras_metadata || e.name == "metadata.json";
    torch = torch || EndsWith(e.name, "data.pkl");
    script =
        script || EndsWith(e.name, "constants.pkl") || e.name.find("/code/") != std::string::npos;
    npz = npz && EndsWith(e.name, ".npy");
  }
  if (keras_config && keras_metadata) return Layout::kKeras;
  if (script) return Layout::kTorchScript;
  if (torch) return Layout::kTorch;
  return npz ? Layout::kNpz : Layout::kPlain;
}

// "archive/data/17": a raw tensor storage in torch's layout.
bool IsTensorStorage(std::string_view name) {
  size_t slash = name.rfind('/');
  if (slash == std::string_view::npos || slash + 1 == name.size()) return false;
  std::string_view leaf = name.substr(slash + 1);
  if (leaf.find_first_not_of("0123456789") != std::string_view::npos) return false;
  std::string_view dir = name.substr(0, slash);
  return dir == "data" || EndsWith(dir, "/data") || dir == "constants" ||
         EndsWith(dir, "/constants");
}

std::optional<Codec> CodecFor(uint16_t method) {
  switch (method) {
    case 8:
      return Codec::kRawDeflate;
    case 12:
      return Codec::kBzip2;
    case 93:
      return Codec::kZstd;
    default:
      return std::nullopt;
  }
}

class MemberReader {
 public:
  MemberReader(std::string_view archive, ScanContext& ctx) : archive_(archive), ctx_(ctx) {}

  // The member's bytes (all of them, or a prefix for sniffing), or nullopt
  // after reporting why they cannot be had.
  std::optional<std::string_view> Read(const ZipEntry& e, bool prefix_only) {
    std::string_view raw = archive_.substr(e.data_offset, e.compressed_size);
    if (e.method == 0) return prefix_only ? raw.substr(0, kSniffBytes) : raw;
    std::optional<Codec> codec = CodecFor(e.method);
    if (!codec) {
      ctx_.ReportIncomplete(rules::kZipUnsupportedMethod,
                            StrCat("'", e.name, "' uses compression method ", e.method),
                            e.local_offset);
      return std::nullopt;
    }
    const ScanLimits& limits = ctx_.limits();
    // In double, then clamped: a Zip64 size times the ratio can pass 2^64,
    // where the cast would be undefined.
    const double ratio_bytes = static_cast<double>(e.compressed_size) * limits.max_expansion_ratio;
    const uint64_t ratio_cap =
        ratio_bytes < 0x1p64 ? static_cast<uint64_t>(ratio_bytes) : UINT64_MAX;
    auto out = prefix_only
                   ? Decompress(*codec, raw, kSniffBytes, OnLimit::kTruncate)
                   : ctx_.DecompressWithinBudget([&](uint64_t room, const GrowthMeter* meter) {
                       uint64_t cap = std::min(room, std::max(ratio_cap, kRatioFloorBytes));
                       return Decompress(*codec, raw, cap, OnLimit::kFail, meter);
                     });
    if (!out.ok()) {
      if (prefix_only && absl::IsDataLoss(out.status())) {
        // A prefix of a damaged stream is still worth sniffing; the full read
        // (if the member matters) reports the damage.
        return std::string_view();
      }
      ctx_.ReportIncomplete(absl::IsResourceExhausted(out.status())  ? rules::kLimitExceeded
                            : absl::IsDeadlineExceeded(out.status()) ? rules::kTimeout
                                                                     : rules::kArchiveMalformed,
                            StrCat("'", e.name, "': ", out.status().message(),
                                   absl::IsResourceExhausted(out.status())
                                       ? StrCat(" (compressed ", e.compressed_size, " bytes)")
                                       : ""),
                            e.local_offset);
      return std::nullopt;
    }
    if (prefix_only) ctx_.HoldDecompressed(out->size());  // Full reads are held as they grow.
    buffers_.push_back(std::move(*out));
    return std::string_view(buffers_.back());
  }

  void Release() {
    for (const std::string& b : buffers_) ctx_.ReleaseDecompressed(b.size());
    buffers_.clear();
  }
  ~MemberReader() { Release(); }

 private:
  std::string_view archive_;
  ScanContext& ctx_;
  std::vector<std::string> buffers_;
};

// Whether a tensor storage holds a smuggled payload (see tensor_bytes.h):
// only a strong signature counts, so random weights are never "malformed".
bool StorageHoldsPayload(const ZipEntry& e, MemberReader& reader, const ScanContext& ctx) {
  std::optional<std::string_view> head = reader.Read(e, /*prefix_only=*/true);
  if (!head) return false;
  if (!CanHoldStrongPayload(SniffFormat(*head))) return false;
  std::optional<std::string_view> body = reader.Read(e, /*prefix_only=*/false);
  return body && HoldsStrongPayload(*body, ctx.limits(), ctx.deadline());
}

}  // namespace

void ZipScanner::Scan(std::string_view content, ScanContext& ctx) const {
  ZipListing listing = ReadZip(content, ctx.limits().max_archive_members);
  for (const ZipAnomaly& a : listing.anomalies) {
    if (a.blocks_analysis) {
      ctx.ReportIncomplete(a.rule_id, a.message, a.offset);
    } else {
      const RuleInfo* rule = FindRule(a.rule_id);
      ctx.Report(a.rule_id, rule ? rule->default_severity : Severity::kMedium, a.message, a.offset);
    }
  }
  Layout layout = DetectLayout(listing);
  switch (layout) {
    case Layout::kTorch:
      ctx.LabelFormat("pytorch-zip");
      break;
    case Layout::kTorchScript:
      ctx.LabelFormat("torchscript");
      ctx.Report(rules::kTorchScript, Severity::kInfo, "TorchScript archive", 0);
      break;
    case Layout::kNpz:
      ctx.LabelFormat("numpy-npz");
      break;
    case Layout::kKeras:
      ctx.LabelFormat("keras");
      break;
    case Layout::kPlain:
      ctx.LabelFormat("zip");
      break;
  }

  MemberReader reader(content, ctx);
  for (const ZipEntry& e : listing.entries) {
    if (ctx.TimedOut()) return;
    if (!ReportEscapingName(ctx, e.name, e.local_offset)) {
      ReportEscapingName(ctx, e.local_name, e.local_offset);
    }
    if (!e.data_readable || EndsWith(e.name, "/")) continue;
    bool storage = layout != Layout::kPlain && layout != Layout::kNpz && IsTensorStorage(e.name);
    if (storage) {
      bool payload = StorageHoldsPayload(e, reader, ctx);
      reader.Release();
      if (!payload) continue;
    }
    std::optional<std::string_view> body = reader.Read(e, /*prefix_only=*/false);
    if (!body) continue;
    if ((e.flags & 0x01) && SniffFormat(body->substr(0, 64)) == Format::kUnknown) {
      ctx.ReportIncomplete(rules::kZipEncrypted,
                           StrCat("'", e.name, "' is encrypted and was not analysed"),
                           e.local_offset);
      reader.Release();
      continue;
    }
    // CRCs are checked on what loaders parse whole (pickles, text), never on
    // tensor-sized data, which would cost a full read.
    Format member_format = SniffFormat(body->substr(0, 4096));
    bool has_crc = e.in_central_directory || !(e.flags & 0x08);
    if (has_crc && (member_format == Format::kPickle || member_format == Format::kText)) {
      uLong crc = 0;
      std::string_view rest = *body;
      while (!rest.empty()) {  // zlib's crc32 takes a uInt length.
        auto n = static_cast<uInt>(std::min<size_t>(rest.size(), 1u << 30));
        crc = crc32(crc, reinterpret_cast<const Bytef*>(rest.data()), n);
        rest.remove_prefix(n);
      }
      if (crc != e.crc32) {
        ctx.Report(
            rules::kZipBadCrc, Severity::kMedium,
            StrCat("'", e.name, "' has CRC 0x", Hex{crc}, " but the header says 0x", Hex{e.crc32}),
            e.local_offset);
      }
    }
    if (layout == Layout::kKeras && e.name == "config.json") {
      ScanContext::MemberScope scope(ctx, e.name);
      AnalyzeKerasConfig(*body, ctx);
    }
    ctx.ScanMember(e.name, *body);
    reader.Release();
  }
}

}  // namespace gauntlet::scan
