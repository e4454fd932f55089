#include "common/format.h"

#include <algorithm>
#include <array>
#include <cctype>
#include <cstdint>
#include <cstring>
#include <string>
#include <utility>

namespace gauntlet {
namespace {

bool StartsWith(std::string_view data, std::string_view magic) {
  return data.size() >= magic.size() && data.substr(0, magic.size()) == magic;
}

bool IsTarHeader(std::string_view head) {
  if (head.size() < 512) return false;
  if (head.substr(257, 5) != "ustar") {
    // Old V7 tar has no magic; require a valid checksum and a name instead.
    if (head[0] == '\0') return false;
  }
  // The checksum field counts itself as spaces.
  uint32_t sum = 0;
  for (size_t i = 0; i < 512; ++i) {
    sum += (i >= 148 && i < 156) ? ' ' : static_cast<unsigned char>(head[i]);
  }
  uint32_t stored = 0;
  bool digits = false;
  for (size_t i = 148; i < 156; ++i) {
    char c = head[i];
    if (c >= '0' && c <= '7') {
      stored = stored * 8 + (c - '0');
      digits = true;
    } else if (c != ' ' && c != '\0') {
      return false;
    }
  }
  return digits && stored == sum;
}

// Valid UTF-8 with almost no control characters. `window_cut` says the
// bytes are a prefix of something longer, so a split final character is fine.
bool LooksLikeText(std::string_view head, bool window_cut) {
  size_t control = 0;
  for (size_t i = 0; i < head.size();) {
    auto c = static_cast<unsigned char>(head[i]);
    if (c < 0x80) {
      if (c == 0) return false;
      if (c < 0x20 && c != '\n' && c != '\r' && c != '\t' && c != '\f') ++control;
      ++i;
      continue;
    }
    size_t length = (c & 0xE0) == 0xC0 ? 2 : (c & 0xF0) == 0xE0 ? 3 : (c & 0xF8) == 0xF0 ? 4 : 0;
    if (length == 0 || (c == 0xC0 || c == 0xC1)) return false;
    if (i + length > head.size()) return window_cut;
    for (size_t k = 1; k < length; ++k) {
      if ((static_cast<unsigned char>(head[i + k]) & 0xC0) != 0x80) return false;
    }
    i += length;
  }
  return control * 100 <= head.size() * 2;
}

// The .lzma header every writer (liblzma, Python's lzma, joblib) emits:
// properties lc=3 lp=0 pb=2, a dictionary size of 2^n or 2^n + 2^(n-1), and
// the uncompressed size or "unknown" (all ones).
bool LooksLikeLzmaAlone(std::string_view head) {
  if (head.size() < 13 || static_cast<unsigned char>(head[0]) != 0x5d) return false;
  uint32_t dict = 0;
  std::memcpy(&dict, head.data() + 1, 4);
  bool dict_ok = false;
  for (int n = 12; n <= 30 && !dict_ok; ++n) {
    dict_ok = dict == (1u << n) || dict == (1u << n) + (1u << (n - 1));
  }
  uint64_t size = 0;
  std::memcpy(&size, head.data() + 5, 8);
  return dict_ok && (size == UINT64_MAX || size < (uint64_t{1} << 40));
}

bool LooksLikeSafetensors(std::string_view head) {
  if (head.size() < 10) return false;
  uint64_t header_len = 0;
  std::memcpy(&header_len, head.data(), 8);
  return header_len >= 2 && header_len < 100000000 && head[8] == '{' &&
         (head[9] == '"' || head[9] == '}' || head[9] == ' ' || head[9] == '\n');
}

// onnx.save writes ModelProto fields in order: ir_version (field 1, in
// practice 3..12) then producer_name, graph, opset_import and friends.
bool LooksLikeOnnx(std::string_view head) {
  if (head.size() < 3 || head[0] != 0x08) return false;
  auto ir_version = static_cast<unsigned char>(head[1]);
  auto next_tag = static_cast<unsigned char>(head[2]);
  return ir_version >= 3 && ir_version <= 12 &&
         (next_tag == 0x12 || next_tag == 0x1a || next_tag == 0x22 || next_tag == 0x28 ||
          next_tag == 0x32 || next_tag == 0x3a || next_tag == 0x42);
}

// GraphDef, KerasMetadata and SentencePiece models all start with a repeated
// field 1 message; its first fields tell them apart: NodeDef is name (1,
// string) then op (2, string); SavedObject is node_id (1, varint) then
// node_path (2, string); SentencePiece is piece (1, string) then score (2,
// float).
Format SniffTfRepeatedMessage(std::string_view head) {
  if (head.size() < 6 || head[0] != 0x0a) return Format::kUnknown;
  size_t pos = 1;
  uint64_t length = 0;
  for (int shift = 0; pos < head.size() && shift < 35; shift += 7) {
    auto b = static_cast<unsigned char>(head[pos++]);
    length |= static_cast<uint64_t>(b & 0x7f) << shift;
    if (!(b & 0x80)) break;
  }
  if (length < 4 || pos + 2 > head.size()) return Format::kUnknown;
  auto first = static_cast<unsigned char>(head[pos]);
  if (first == 0x08) {
    size_t p = pos + 1;
    while (p < head.size() && (static_cast<unsigned char>(head[p]) & 0x80)) ++p;
    if (p + 1 < head.size() && head[p + 1] == 0x12) return Format::kTfKerasMetadata;
    return Format::kUnknown;
  }
  if (first == 0x0a) {
    auto name_length = static_cast<unsigned char>(head[pos + 1]);
    size_t op_tag = pos + 2 + name_length;
    if (name_length < 0x80 && op_tag < head.size() && head[op_tag] == 0x12)
      return Format::kTfGraphDef;
    // A SentencePiece model's first piece: text (1), then its score (2, float).
    if (name_length < 0x80 && op_tag < head.size() && head[op_tag] == 0x15)
      return Format::kSentencePiece;
  }
  return Format::kUnknown;
}

}  // namespace

std::string_view FormatName(Format format) {
  switch (format) {
    case Format::kUnknown:
      return "unknown";
    case Format::kEmpty:
      return "empty";
    case Format::kText:
      return "text";
    case Format::kPickle:
      return "pickle";
    case Format::kZip:
      return "zip";
    case Format::kGzip:
      return "gzip";
    case Format::kZlib:
      return "zlib";
    case Format::kBzip2:
      return "bzip2";
    case Format::kXz:
      return "xz";
    case Format::kZstd:
      return "zstd";
    case Format::kTar:
      return "tar";
    case Format::kNumpy:
      return "numpy";
    case Format::kSevenZip:
      return "7z";
    case Format::kRar:
      return "rar";
    case Format::kSafetensors:
      return "safetensors";
    case Format::kGguf:
      return "gguf";
    case Format::kHdf5:
      return "hdf5";
    case Format::kOnnx:
      return "onnx";
    case Format::kTfSavedModel:
      return "tf-savedmodel";
    case Format::kTfGraphDef:
      return "tf-graphdef";
    case Format::kTfKerasMetadata:
      return "tf-keras-metadata";
    case Format::kSentencePiece:
      return "sentencepiece";
    case Format::kImage:
      return "image";
    case Format::kMsgpack:
      return "msgpack";
    case Format::kLzma:
      return "lzma";
  }
  return "unknown";
}

bool LooksLikeBinaryPickle(std::string_view head) {
  if (head.size() < 3 || static_cast<unsigned char>(head[0]) != 0x80) return false;
  unsigned char protocol = static_cast<unsigned char>(head[1]);
  if (protocol < 2 || protocol > 5) return false;
  unsigned char next = static_cast<unsigned char>(head[2]);
  if (protocol >= 4 && next == 0x95) return true;  // FRAME
  // Openers a pickler writes right after PROTO: containers, globals, scalars.
  static constexpr std::string_view kOpeners = "}])(cNKJMXUVTBCGIL\x88\x89\x8a\x8c\x93\x8f";
  return kOpeners.find(static_cast<char>(next)) != std::string_view::npos;
}

Format SniffFormat(std::string_view head) {
  if (head.empty()) return Format::kEmpty;
  if (StartsWith(head, "PK\x03\x04") || StartsWith(head, std::string_view("PK\x05\x06", 4)) ||
      StartsWith(head, "PK\x07\x08")) {
    return Format::kZip;
  }
  if (StartsWith(head, "\x1f\x8b")) return Format::kGzip;
  if (StartsWith(head, "BZh") && head.size() > 3 && head[3] >= '1' && head[3] <= '9') {
    return Format::kBzip2;
  }
  if (StartsWith(head, std::string_view("\xfd"
                                        "7zXZ\x00",
                                        6)))
    return Format::kXz;
  if (StartsWith(head, "\x28\xb5\x2f\xfd")) return Format::kZstd;
  if (StartsWith(head, "7z\xbc\xaf\x27\x1c")) return Format::kSevenZip;
  if (StartsWith(head, "Rar!\x1a\x07")) return Format::kRar;
  if (StartsWith(head, "\x93NUMPY")) return Format::kNumpy;
  if (StartsWith(head, "GGUF")) return Format::kGguf;
  if (StartsWith(head, "\x89HDF\r\n\x1a\n")) return Format::kHdf5;
  if (StartsWith(head, "\x89PNG\r\n\x1a\n") || StartsWith(head, "\xff\xd8\xff") ||
      StartsWith(head, "GIF87a") || StartsWith(head, "GIF89a") ||
      (StartsWith(head, "RIFF") && head.size() >= 12 && head.substr(8, 4) == "WEBP")) {
    return Format::kImage;
  }
  if (LooksLikeBinaryPickle(head)) return Format::kPickle;
  if (head.size() >= 2 && static_cast<unsigned char>(head[0]) == 0x78) {
    unsigned flags = static_cast<unsigned char>(head[1]);
    bool valid_header = (0x7800u | flags) % 31 == 0;
    if (valid_header && (flags == 0x01 || flags == 0x5e || flags == 0x9c || flags == 0xda) &&
        !LooksLikeText(head.substr(0, 512), head.size() > 512)) {
      return Format::kZlib;
    }
  }
  if (IsTarHeader(head)) return Format::kTar;
  if (LooksLikeLzmaAlone(head)) return Format::kLzma;
  if (LooksLikeOnnx(head)) return Format::kOnnx;
  if (head.size() >= 3 && head[0] == 0x08 && head[1] == 0x01 && head[2] == 0x12) {
    return Format::kTfSavedModel;
  }
  if (Format tf = SniffTfRepeatedMessage(head); tf != Format::kUnknown) return tf;
  if (LooksLikeSafetensors(head)) return Format::kSafetensors;
  if (LooksLikeText(head.substr(0, 512), head.size() > 512)) return Format::kText;
  // A msgpack map whose first key is a string: the shape of a Flax
  // checkpoint. Weak by itself; the msgpack scanner parses the whole file.
  if (head.size() >= 3) {
    auto first = static_cast<unsigned char>(head[0]);
    size_t key = first >= 0x81 && first <= 0x8f ? 1 : first == 0xde ? 3 : first == 0xdf ? 5 : 0;
    if (key && key < head.size()) {
      auto k = static_cast<unsigned char>(head[key]);
      if ((k >= 0xa1 && k <= 0xbf) || k == 0xd9) return Format::kMsgpack;
    }
  }
  return Format::kUnknown;
}

Format FormatPromisedByName(std::string_view file_name) {
  size_t dot = file_name.rfind('.');
  size_t slash = file_name.find_last_of("/\\");
  if (dot == std::string_view::npos || (slash != std::string_view::npos && dot < slash)) {
    return Format::kUnknown;
  }
  std::string ext(file_name.substr(dot + 1));
  for (char& c : ext) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  static constexpr std::array<std::pair<std::string_view, Format>, 18> kPromises = {{
      {"safetensors", Format::kSafetensors},
      {"gguf", Format::kGguf},
      {"npy", Format::kNumpy},
      {"npz", Format::kZip},
      {"h5", Format::kHdf5},
      {"hdf5", Format::kHdf5},
      {"keras", Format::kZip},
      {"json", Format::kText},
      {"txt", Format::kText},
      {"md", Format::kText},
      {"yaml", Format::kText},
      {"yml", Format::kText},
      {"gz", Format::kGzip},
      {"bz2", Format::kBzip2},
      {"xz", Format::kXz},
      {"lzma", Format::kLzma},
      {"zst", Format::kZstd},
      {"onnx", Format::kOnnx},
  }};
  for (const auto& [name, format] : kPromises) {
    if (ext == name) return format;
  }
  return Format::kUnknown;
}

}  // namespace gauntlet
