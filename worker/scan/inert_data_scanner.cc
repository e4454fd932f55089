#include "worker/scan/inert_data_scanner.h"

#include <cstring>
#include <optional>

#include "common/rules.h"
#include "common/strings.h"
#include "worker/scan/scan_context.h"

namespace gauntlet::scan {
namespace {

constexpr int kMaxMsgpackDepth = 64;

// Walks one msgpack object; returns the offset after it, or nullopt when the
// bytes are not msgpack. Binary and extension payloads (tensor data) are
// jumped over by length, never read.
class MsgpackWalker {
 public:
  explicit MsgpackWalker(std::string_view data) : data_(data) {}

  std::optional<uint64_t> Object(uint64_t pos, int depth) {
    if (depth > kMaxMsgpackDepth || pos >= data_.size()) return std::nullopt;
    auto type = static_cast<unsigned char>(data_[pos]);
    if (type <= 0x7f || type >= 0xe0) return pos + 1;                                   // fixint
    if (type >= 0x80 && type <= 0x8f) return Items(pos + 1, 2 * (type & 0x0f), depth);  // fixmap
    if (type >= 0x90 && type <= 0x9f) return Items(pos + 1, type & 0x0f, depth);        // fixarray
    if (type >= 0xa0 && type <= 0xbf) return Skip(pos + 1, type & 0x1f);                // fixstr
    switch (type) {
      case 0xc0:
      case 0xc2:
      case 0xc3:
        return pos + 1;  // nil, false, true
      case 0xcc:
      case 0xd0:
        return Skip(pos + 1, 1);
      case 0xcd:
      case 0xd1:
        return Skip(pos + 1, 2);
      case 0xca:
      case 0xce:
      case 0xd2:
        return Skip(pos + 1, 4);
      case 0xcb:
      case 0xcf:
      case 0xd3:
        return Skip(pos + 1, 8);
      case 0xc4:
      case 0xd9:
        return Sized(pos + 1, 1, 0);  // bin8, str8
      case 0xc5:
      case 0xda:
        return Sized(pos + 1, 2, 0);  // bin16, str16
      case 0xc6:
      case 0xdb:
        return Sized(pos + 1, 4, 0);  // bin32, str32
      case 0xd4:
        return Skip(pos + 1, 2);  // fixext 1
      case 0xd5:
        return Skip(pos + 1, 3);
      case 0xd6:
        return Skip(pos + 1, 5);
      case 0xd7:
        return Skip(pos + 1, 9);
      case 0xd8:
        return Skip(pos + 1, 17);
      case 0xc7:
        return Sized(pos + 1, 1, 1);  // ext8: len, type
      case 0xc8:
        return Sized(pos + 1, 2, 1);
      case 0xc9:
        return Sized(pos + 1, 4, 1);
      case 0xdc:
        return Counted(pos + 1, 2, 1, depth);  // array16
      case 0xdd:
        return Counted(pos + 1, 4, 1, depth);
      case 0xde:
        return Counted(pos + 1, 2, 2, depth);  // map16
      case 0xdf:
        return Counted(pos + 1, 4, 2, depth);
      default:
        return std::nullopt;  // 0xc1: never used
    }
  }

 private:
  std::optional<uint64_t> Skip(uint64_t pos, uint64_t n) {
    if (n > data_.size() - std::min<uint64_t>(pos, data_.size())) return std::nullopt;
    return pos + n;
  }
  std::optional<uint64_t> BigEndian(uint64_t pos, int width, uint64_t& out) {
    if (!Skip(pos, width)) return std::nullopt;
    out = 0;
    for (int i = 0; i < width; ++i) out = (out << 8) | static_cast<unsigned char>(data_[pos + i]);
    return pos + width;
  }
  // A length of `width` bytes, `extra` type bytes, then that many bytes.
  std::optional<uint64_t> Sized(uint64_t pos, int width, uint64_t extra) {
    uint64_t n = 0;
    auto after = BigEndian(pos, width, n);
    if (!after) return std::nullopt;
    return Skip(*after, extra + n);
  }
  std::optional<uint64_t> Counted(uint64_t pos, int width, uint64_t per_entry, int depth) {
    uint64_t n = 0;
    auto after = BigEndian(pos, width, n);
    if (!after) return std::nullopt;
    return Items(*after, n * per_entry, depth);
  }
  std::optional<uint64_t> Items(uint64_t pos, uint64_t count, int depth) {
    // Every object is at least one byte: a count larger than what is left
    // is a lie, caught before looping on it.
    if (count > data_.size() - std::min<uint64_t>(pos, data_.size())) return std::nullopt;
    for (uint64_t i = 0; i < count; ++i) {
      auto next = Object(pos, depth + 1);
      if (!next) return std::nullopt;
      pos = *next;
    }
    return pos;
  }

  std::string_view data_;
};

}  // namespace

void InertDataScanner::Scan(std::string_view content, ScanContext& ctx) const {
  Format format = SniffFormat(content.substr(0, 4096));
  ctx.LabelFormat(std::string(FormatName(format)));
  if (format != Format::kMsgpack) return;  // Images: magic checked, bytes matched by signatures.
  std::optional<uint64_t> end = MsgpackWalker(content).Object(0, 0);
  if (!end) {
    ctx.ReportIncomplete(rules::kArchiveMalformed, "msgpack data is malformed or truncated", 0);
  } else if (*end != content.size()) {
    ctx.ReportIncomplete(rules::kArchiveMalformed,
                         StrCat(content.size() - *end, " bytes follow the msgpack object"), *end);
  }
}

}  // namespace gauntlet::scan
