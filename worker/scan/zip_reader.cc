#include "worker/scan/zip_reader.h"

#include <algorithm>
#include <cstring>
#include <optional>
#include <unordered_map>

#include "common/rules.h"
#include "common/strings.h"

namespace gauntlet::scan {
namespace {

constexpr std::string_view kLocalSig("PK\x03\x04", 4);
constexpr std::string_view kCentralSig("PK\x01\x02", 4);
constexpr std::string_view kEndSig("PK\x05\x06", 4);
constexpr std::string_view kZip64EndSig("PK\x06\x06", 4);
constexpr std::string_view kZip64LocatorSig("PK\x06\x07", 4);
constexpr std::string_view kDescriptorSig("PK\x07\x08", 4);
constexpr uint32_t kMax32 = 0xFFFFFFFF;

class Reader {
 public:
  explicit Reader(std::string_view data) : data_(data) {}
  bool Has(uint64_t offset, uint64_t n) const {
    return offset <= data_.size() && n <= data_.size() - offset;
  }
  template <typename T>
  T Get(uint64_t offset) const {  // Caller checked Has().
    T v;
    std::memcpy(&v, data_.data() + offset, sizeof(T));
    return v;
  }
  bool SigAt(uint64_t offset, std::string_view sig) const {
    return Has(offset, 4) && data_.substr(offset, 4) == sig;
  }
  std::string_view Slice(uint64_t offset, uint64_t n) const { return data_.substr(offset, n); }
  uint64_t size() const { return data_.size(); }

 private:
  std::string_view data_;
};

// Applies the zip64 extra field (id 1), which replaces 0xFFFFFFFF sizes and
// offsets, in the fixed order: uncompressed, compressed, local offset.
void ApplyZip64Extra(std::string_view extra, ZipEntry& e, bool has_offset_field) {
  size_t pos = 0;
  while (pos + 4 <= extra.size()) {
    uint16_t id, len;
    std::memcpy(&id, extra.data() + pos, 2);
    std::memcpy(&len, extra.data() + pos + 2, 2);
    pos += 4;
    if (len > extra.size() - pos) return;
    if (id == 1) {
      size_t field = pos, end = pos + len;
      auto take = [&](uint64_t& target) {
        if (target == kMax32 && field + 8 <= end) {
          std::memcpy(&target, extra.data() + field, 8);
          field += 8;
        }
      };
      take(e.uncompressed_size);
      take(e.compressed_size);
      if (has_offset_field) take(e.local_offset);
      return;
    }
    pos += len;
  }
}

struct EndRecord {
  uint64_t position;
  uint64_t central_offset;
  uint64_t central_size;
  uint64_t entries;
};

std::optional<EndRecord> FindEnd(const Reader& r) {
  if (r.size() < 22) return std::nullopt;
  uint64_t lowest = r.size() > 22 + 65535 ? r.size() - 22 - 65535 : 0;
  for (uint64_t pos = r.size() - 22;; --pos) {
    if (r.SigAt(pos, kEndSig)) {
      EndRecord end{pos, r.Get<uint32_t>(pos + 16), r.Get<uint32_t>(pos + 12),
                    r.Get<uint16_t>(pos + 10)};
      bool wants64 =
          end.central_offset == kMax32 || end.central_size == kMax32 || end.entries == 0xFFFF;
      // A zip64 end record (torch always writes one) sits between the
      // central directory and this record, wherever sizes needed it or not.
      if (pos >= 20 && r.SigAt(pos - 20, kZip64LocatorSig)) {
        uint64_t rec = r.Get<uint64_t>(pos - 20 + 8);
        if (r.Has(rec, 56) && r.SigAt(rec, kZip64EndSig)) {
          if (wants64) {
            end.entries = r.Get<uint64_t>(rec + 32);
            end.central_size = r.Get<uint64_t>(rec + 40);
            end.central_offset = r.Get<uint64_t>(rec + 48);
          }
          end.position = rec;
        }
      }
      return end;
    }
    if (pos == lowest) break;
  }
  return std::nullopt;
}

// Parses the local header at `offset` into `e` (name, data offset, and the
// sizes when the central directory did not provide them).
bool ReadLocal(const Reader& r, uint64_t offset, ZipEntry& e, bool sizes_from_local) {
  if (!r.Has(offset, 30) || !r.SigAt(offset, kLocalSig)) return false;
  uint16_t name_len = r.Get<uint16_t>(offset + 26);
  uint16_t extra_len = r.Get<uint16_t>(offset + 28);
  if (!r.Has(offset + 30, uint64_t{name_len} + extra_len)) return false;
  e.local_name = std::string(r.Slice(offset + 30, name_len));
  e.local_offset = offset;
  e.data_offset = offset + 30 + name_len + extra_len;
  if (sizes_from_local) {
    e.name = e.local_name;
    e.flags = r.Get<uint16_t>(offset + 6);
    e.method = r.Get<uint16_t>(offset + 8);
    e.crc32 = r.Get<uint32_t>(offset + 14);
    e.compressed_size = r.Get<uint32_t>(offset + 18);
    e.uncompressed_size = r.Get<uint32_t>(offset + 22);
    ApplyZip64Extra(r.Slice(offset + 30 + name_len, extra_len), e, false);
  }
  return true;
}

}  // namespace

bool HasZipEndRecord(std::string_view data) {
  Reader r(data);
  std::optional<EndRecord> end = FindEnd(r);
  return end && end->entries > 0 && end->central_offset <= end->position &&
         end->central_size <= end->position - end->central_offset;
}

ZipListing ReadZip(std::string_view data, uint64_t max_members) {
  Reader r(data);
  ZipListing out;
  auto anomaly = [&](std::string_view rule, std::string message, uint64_t offset, bool blocks) {
    out.anomalies.push_back(ZipAnomaly{rule, std::move(message), offset, blocks});
  };
  bool member_limit_hit = false;
  auto room = [&] {
    if (out.entries.size() < max_members) return true;
    if (!member_limit_hit) {
      member_limit_hit = true;
      anomaly(rules::kLimitExceeded,
              StrCat("archive has more than max_archive_members=", max_members, " members"), 0,
              true);
    }
    return false;
  };

  // 1. The central directory, as torch's reader sees it.
  std::unordered_map<uint64_t, size_t> by_local_offset;
  std::optional<EndRecord> end = FindEnd(r);
  uint64_t shift = 0;  // Bytes prepended before the archive proper.
  if (!end) {
    anomaly(rules::kZipNoCentralDirectory, "no end-of-central-directory record", 0, false);
  } else {
    if (end->central_size <= end->position) {
      uint64_t actual = end->position - end->central_size;
      if (actual > end->central_offset) shift = actual - end->central_offset;
    }
    uint64_t pos = end->central_offset + shift;
    for (uint64_t i = 0; i < end->entries && room(); ++i) {
      if (!r.Has(pos, 46) || !r.SigAt(pos, kCentralSig)) {
        anomaly(rules::kZipNoCentralDirectory,
                StrCat("central directory entry ", i, " of ", end->entries, " is missing"), pos,
                false);
        break;
      }
      ZipEntry e;
      e.in_central_directory = true;
      e.flags = r.Get<uint16_t>(pos + 8);
      e.method = r.Get<uint16_t>(pos + 10);
      e.crc32 = r.Get<uint32_t>(pos + 16);
      e.compressed_size = r.Get<uint32_t>(pos + 20);
      e.uncompressed_size = r.Get<uint32_t>(pos + 24);
      uint16_t name_len = r.Get<uint16_t>(pos + 28);
      uint16_t extra_len = r.Get<uint16_t>(pos + 30);
      uint16_t comment_len = r.Get<uint16_t>(pos + 32);
      e.local_offset = r.Get<uint32_t>(pos + 42);
      if (!r.Has(pos + 46, uint64_t{name_len} + extra_len + comment_len)) {
        anomaly(rules::kZipNoCentralDirectory, "central directory entry is truncated", pos, false);
        break;
      }
      e.name = std::string(r.Slice(pos + 46, name_len));
      ApplyZip64Extra(r.Slice(pos + 46 + name_len, extra_len), e, true);
      e.local_offset += shift;
      if (!ReadLocal(r, e.local_offset, e, false)) {
        e.data_readable = false;
        anomaly(rules::kArchiveMalformed,
                StrCat("local header of '", e.name, "' is missing or truncated"), e.local_offset,
                true);
      } else if (e.local_name != e.name) {
        anomaly(
            rules::kZipNameMismatch,
            StrCat("central directory says '", e.name, "', local header says '", e.local_name, "'"),
            e.local_offset, false);
      }
      by_local_offset[e.local_offset] = out.entries.size();
      out.entries.push_back(std::move(e));
      pos += 46 + uint64_t{name_len} + extra_len + comment_len;
    }
  }

  // 2. The local headers, as a streaming reader sees them. Only headers are
  // touched: each step jumps over the member data.
  uint64_t pos = data.find(kLocalSig);
  if (pos == std::string_view::npos) pos = data.size();
  if (pos > 0 && pos < data.size()) {
    anomaly(rules::kZipPrefixedData, StrCat(pos, " bytes precede the first zip entry"), 0, false);
  }
  while (r.SigAt(pos, kLocalSig)) {
    auto known = by_local_offset.find(pos);
    ZipEntry local;
    if (!ReadLocal(r, pos, local, true)) {
      anomaly(rules::kArchiveMalformed, "truncated local header", pos, true);
      break;
    }
    const ZipEntry* sized = &local;
    if (known != by_local_offset.end()) {
      sized = &out.entries[known->second];
    } else if (room()) {
      anomaly(rules::kZipHiddenEntry,
              StrCat("local entry '", local.name, "' is not in the central directory"), pos, false);
      if ((local.flags & 0x08) && local.compressed_size == 0) {
        // Size lives in a trailing descriptor we cannot find without
        // scanning the data; the entry cannot be delimited.
        local.data_readable = false;
        anomaly(rules::kArchiveMalformed, StrCat("hidden entry '", local.name, "' has no size"),
                pos, true);
      }
      out.entries.push_back(local);
      sized = &out.entries.back();
    } else {
      break;
    }
    if (!sized->data_readable) break;
    uint64_t next = sized->data_offset + sized->compressed_size;
    if (next < sized->data_offset || next > data.size()) break;
    if (sized->flags & 0x08) {  // Data descriptor: optional signature, crc, sizes.
      uint64_t d = next + (r.SigAt(next, kDescriptorSig) ? 4 : 0) + 4;
      next = r.SigAt(d + 8, kLocalSig) || r.SigAt(d + 8, kCentralSig) ? d + 8 : d + 16;
    }
    pos = next;
  }

  // 3. Flags, bounds and overlaps.
  std::vector<const ZipEntry*> ordered;
  for (const ZipEntry& e : out.entries) {
    if (e.flags & 0x01) {
      anomaly(rules::kZipSuspiciousFlags,
              StrCat("'", e.name, "' has the encryption flag (0x1) set"), e.local_offset, false);
    } else if (e.flags & 0x60) {
      anomaly(rules::kZipSuspiciousFlags,
              StrCat("'", e.name, "' has reserved flag bits 0x",
                     Hex{static_cast<uint64_t>(e.flags & 0x60)}, " set"),
              e.local_offset, false);
    }
    if (e.data_readable && !r.Has(e.data_offset, e.compressed_size)) {
      anomaly(rules::kArchiveMalformed,
              StrCat("data of '", e.name, "' runs past the end of the file"), e.local_offset, true);
      const_cast<ZipEntry&>(e).data_readable = false;
    }
    if (e.data_readable) ordered.push_back(&e);
  }
  std::sort(ordered.begin(), ordered.end(),
            [](const ZipEntry* a, const ZipEntry* b) { return a->data_offset < b->data_offset; });
  for (size_t i = 1; i < ordered.size(); ++i) {
    const ZipEntry* prev = ordered[i - 1];
    if (ordered[i]->local_offset < prev->data_offset + prev->compressed_size) {
      anomaly(rules::kZipOverlappingEntries,
              StrCat("'", ordered[i]->name, "' overlaps '", prev->name, "'"),
              ordered[i]->local_offset, false);
      break;
    }
  }
  return out;
}

}  // namespace gauntlet::scan
