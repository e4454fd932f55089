// Builds zip and tar archives in memory, with knobs for the structural lies
// attackers use (flag bits, mismatched names, bad CRCs, hidden entries...).
#ifndef GAUNTLET_TESTS_SUPPORT_ARCHIVE_BUILDER_H_
#define GAUNTLET_TESTS_SUPPORT_ARCHIVE_BUILDER_H_

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace gauntlet::testing {

struct ZipMember {
  std::string name;
  std::string data;
  bool deflate = false;
  uint16_t extra_flags = 0;  // OR-ed into the general-purpose flags.
  std::string local_name;    // When non-empty, the local header lies.
  bool corrupt_crc = false;
  bool in_central_directory = true;
};

// A zip archive; `prefix` bytes are prepended (polyglot), `with_directory`
// false drops the central directory and end record.
std::string BuildZip(const std::vector<ZipMember>& members, std::string_view prefix = {},
                     bool with_directory = true);

struct TarMember {
  std::string name;
  std::string data;
  char type = '0';
  std::string link_target;
};
std::string BuildTar(const std::vector<TarMember>& members);

// A 7z archive written by libarchive; members with a link_target become
// symbolic links.
std::string BuildSevenZip(const std::vector<TarMember>& members);

// Stream compressors for wrapper fixtures.
std::string GzipCompress(std::string_view data);
std::string ZlibCompress(std::string_view data);
std::string Bzip2Compress(std::string_view data);
std::string XzCompress(std::string_view data);
std::string ZstdCompress(std::string_view data);

// A .npy file with the given header dict text and payload.
std::string BuildNpy(std::string_view header_dict, std::string_view payload);

// A safetensors file: the 8-byte length, `header` as given, then
// `data_bytes` bytes of tensor data.
std::string BuildSafetensors(std::string_view header, size_t data_bytes);

}  // namespace gauntlet::testing

#endif  // GAUNTLET_TESTS_SUPPORT_ARCHIVE_BUILDER_H_
