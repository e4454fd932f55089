#include "tests/support/archive_builder.h"

#include <archive.h>
#include <archive_entry.h>
#include <bzlib.h>
#include <lzma.h>
#include <zlib.h>
#include <zstd.h>

#include <cstdio>
#include <cstring>
#include <stdexcept>

namespace gauntlet::testing {
namespace {

template <typename T>
void Le(std::string& out, T value) {
  char buffer[sizeof(T)];
  std::memcpy(buffer, &value, sizeof(T));
  out.append(buffer, sizeof(T));
}

std::string ZlibWrap(std::string_view data, int window_bits) {
  z_stream z{};
  deflateInit2(&z, 6, Z_DEFLATED, window_bits, 8, Z_DEFAULT_STRATEGY);
  std::string out(deflateBound(&z, data.size()) + 64, '\0');
  z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(data.data()));
  z.avail_in = static_cast<uInt>(data.size());
  z.next_out = reinterpret_cast<Bytef*>(out.data());
  z.avail_out = static_cast<uInt>(out.size());
  deflate(&z, Z_FINISH);
  out.resize(z.total_out);
  deflateEnd(&z);
  return out;
}

std::string RawDeflate(std::string_view data) { return ZlibWrap(data, -15); }

}  // namespace

std::string BuildZip(const std::vector<ZipMember>& members, std::string_view prefix,
                     bool with_directory) {
  std::string out(prefix);
  std::string central;
  uint16_t listed = 0;
  for (const ZipMember& m : members) {
    std::string stored = m.deflate ? RawDeflate(m.data) : m.data;
    uint32_t crc = static_cast<uint32_t>(
        crc32(0, reinterpret_cast<const Bytef*>(m.data.data()), static_cast<uInt>(m.data.size())));
    if (m.corrupt_crc) crc ^= 0xdeadbeef;
    uint16_t flags = m.extra_flags;
    uint16_t method = m.deflate ? 8 : 0;
    const std::string& local_name = m.local_name.empty() ? m.name : m.local_name;
    auto offset = static_cast<uint32_t>(out.size() - prefix.size());
    out.append("PK\x03\x04", 4);
    Le<uint16_t>(out, 20);
    Le<uint16_t>(out, flags);
    Le<uint16_t>(out, method);
    Le<uint32_t>(out, 0);  // time/date
    Le<uint32_t>(out, crc);
    Le<uint32_t>(out, static_cast<uint32_t>(stored.size()));
    Le<uint32_t>(out, static_cast<uint32_t>(m.data.size()));
    Le<uint16_t>(out, static_cast<uint16_t>(local_name.size()));
    Le<uint16_t>(out, 0);
    out += local_name;
    out += stored;
    if (!m.in_central_directory) continue;
    ++listed;
    central.append("PK\x01\x02", 4);
    Le<uint16_t>(central, 20);
    Le<uint16_t>(central, 20);
    Le<uint16_t>(central, flags);
    Le<uint16_t>(central, method);
    Le<uint32_t>(central, 0);
    Le<uint32_t>(central, crc);
    Le<uint32_t>(central, static_cast<uint32_t>(stored.size()));
    Le<uint32_t>(central, static_cast<uint32_t>(m.data.size()));
    Le<uint16_t>(central, static_cast<uint16_t>(m.name.size()));
    Le<uint16_t>(central, 0);
    Le<uint16_t>(central, 0);
    Le<uint16_t>(central, 0);
    Le<uint16_t>(central, 0);
    Le<uint32_t>(central, 0);
    Le<uint32_t>(central, offset);
    central += m.name;
  }
  if (!with_directory) return out;
  auto central_offset = static_cast<uint32_t>(out.size() - prefix.size());
  out += central;
  out.append("PK\x05\x06", 4);
  Le<uint16_t>(out, 0);
  Le<uint16_t>(out, 0);
  Le<uint16_t>(out, listed);
  Le<uint16_t>(out, listed);
  Le<uint32_t>(out, static_cast<uint32_t>(central.size()));
  Le<uint32_t>(out, central_offset);
  Le<uint16_t>(out, 0);
  return out;
}

std::string BuildTar(const std::vector<TarMember>& members) {
  std::string out;
  for (const TarMember& m : members) {
    std::string header(512, '\0');
    std::memcpy(header.data(), m.name.data(), std::min<size_t>(m.name.size(), 100));
    std::snprintf(header.data() + 100, 8, "%07o", 0644);
    std::snprintf(header.data() + 108, 8, "%07o", 0);
    std::snprintf(header.data() + 116, 8, "%07o", 0);
    std::snprintf(header.data() + 124, 12, "%011o", static_cast<unsigned>(m.data.size()));
    std::snprintf(header.data() + 136, 12, "%011o", 0);
    header[156] = m.type;
    std::memcpy(header.data() + 157, m.link_target.data(),
                std::min<size_t>(m.link_target.size(), 100));
    std::memcpy(header.data() + 257,
                "ustar\0"
                "00",
                8);
    std::memset(header.data() + 148, ' ', 8);
    unsigned sum = 0;
    for (unsigned char c : header) sum += c;
    std::snprintf(header.data() + 148, 8, "%06o", sum);
    out += header;
    out += m.data;
    out.append((512 - m.data.size() % 512) % 512, '\0');
  }
  out.append(1024, '\0');
  return out;
}

std::string BuildSevenZip(const std::vector<TarMember>& members) {
  std::string out(1 << 20, '\0');
  size_t used = 0;
  archive* a = archive_write_new();
  archive_write_set_format_7zip(a);
  archive_write_open_memory(a, out.data(), out.size(), &used);
  for (const TarMember& m : members) {
    archive_entry* e = archive_entry_new();
    archive_entry_set_pathname(e, m.name.c_str());
    if (!m.link_target.empty()) {
      archive_entry_set_filetype(e, AE_IFLNK);
      archive_entry_set_symlink(e, m.link_target.c_str());
    } else {
      archive_entry_set_filetype(e, AE_IFREG);
      archive_entry_set_size(e, static_cast<la_int64_t>(m.data.size()));
    }
    archive_entry_set_perm(e, 0644);
    archive_write_header(a, e);
    if (m.link_target.empty()) archive_write_data(a, m.data.data(), m.data.size());
    archive_entry_free(e);
  }
  archive_write_close(a);
  archive_write_free(a);
  out.resize(used);
  return out;
}

std::string GzipCompress(std::string_view data) { return ZlibWrap(data, 15 + 16); }
std::string ZlibCompress(std::string_view data) { return ZlibWrap(data, 15); }

std::string Bzip2Compress(std::string_view data) {
  unsigned int size = static_cast<unsigned int>(data.size() * 1.01 + 600);
  std::string out(size, '\0');
  BZ2_bzBuffToBuffCompress(out.data(), &size, const_cast<char*>(data.data()),
                           static_cast<unsigned>(data.size()), 9, 0, 0);
  out.resize(size);
  return out;
}

std::string XzCompress(std::string_view data) {
  std::string out(lzma_stream_buffer_bound(data.size()), '\0');
  size_t pos = 0;
  lzma_easy_buffer_encode(6, LZMA_CHECK_CRC64, nullptr,
                          reinterpret_cast<const uint8_t*>(data.data()), data.size(),
                          reinterpret_cast<uint8_t*>(out.data()), &pos, out.size());
  out.resize(pos);
  return out;
}

std::string ZstdCompress(std::string_view data) {
  std::string out(ZSTD_compressBound(data.size()), '\0');
  size_t n = ZSTD_compress(out.data(), out.size(), data.data(), data.size(), 3);
  out.resize(n);
  return out;
}

std::string BuildNpy(std::string_view header_dict, std::string_view payload) {
  std::string header(header_dict);
  size_t total = 10 + header.size() + 1;
  header.append((64 - total % 64) % 64, ' ');
  header += '\n';
  std::string out("\x93NUMPY\x01\x00", 8);
  Le<uint16_t>(out, static_cast<uint16_t>(header.size()));
  out += header;
  out += payload;
  return out;
}

std::string BuildSafetensors(std::string_view header, size_t data_bytes) {
  std::string out;
  Le<uint64_t>(out, header.size());
  out += header;
  out.append(data_bytes, '\x01');
  return out;
}

}  // namespace gauntlet::testing
