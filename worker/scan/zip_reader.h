// A lenient zip reader that sees what every loader could see. torch's reader
// (miniz) trusts the central directory and ignores flag bits and CRCs;
// Python's zipfile refuses some of those archives; other tools walk local
// headers. We read both the central directory and the local headers, keep
// every entry either one finds, and report where they disagree.
//
// It only parses structure: no member data is read here.
#ifndef GAUNTLET_WORKER_SCAN_ZIP_READER_H_
#define GAUNTLET_WORKER_SCAN_ZIP_READER_H_

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace gauntlet::scan {

struct ZipEntry {
  std::string name;        // Central directory name, or the local one if hidden.
  std::string local_name;  // As the local header spells it.
  uint16_t flags = 0;
  uint16_t method = 0;
  uint32_t crc32 = 0;
  uint64_t compressed_size = 0;
  uint64_t uncompressed_size = 0;
  uint64_t local_offset = 0;  // Absolute offset of the local header.
  uint64_t data_offset = 0;   // Absolute offset of the member data.
  bool in_central_directory = false;
  bool data_readable = true;  // False when the local header is missing or truncated.
};

struct ZipAnomaly {
  std::string_view rule_id;
  std::string message;
  uint64_t offset;
  bool blocks_analysis;  // Part of the archive could not be read.
};

struct ZipListing {
  std::vector<ZipEntry> entries;
  std::vector<ZipAnomaly> anomalies;
};

ZipListing ReadZip(std::string_view data, uint64_t max_members);

// Whether `data` ends with an end-of-central-directory record whose central
// directory lies inside the data: what any zip loader needs to open it.
bool HasZipEndRecord(std::string_view data);

}  // namespace gauntlet::scan

#endif  // GAUNTLET_WORKER_SCAN_ZIP_READER_H_
