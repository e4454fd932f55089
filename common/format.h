// Content sniffing. Formats are decided by magic bytes and structure, never
// by file name: attackers rename files.
#ifndef GAUNTLET_COMMON_FORMAT_H_
#define GAUNTLET_COMMON_FORMAT_H_

#include <string_view>

namespace gauntlet {

enum class Format {
  kUnknown,  // Binary, no magic we know.
  kEmpty,
  kText,    // UTF-8/ASCII text (JSON, YAML, Markdown, a protocol 0 pickle...).
  kPickle,  // Binary pickle, protocol 2-5 (starts with PROTO).
  kZip,
  kGzip,
  kZlib,  // Bare zlib stream (joblib's compressed files).
  kBzip2,
  kXz,
  kZstd,
  kTar,
  kNumpy,
  kSevenZip,
  kRar,
  kSafetensors,
  kGguf,
  kHdf5,
  kOnnx,             // ModelProto: ir_version first, then a known field.
  kTfSavedModel,     // saved_model.pb: schema version 1, then meta graphs.
  kTfGraphDef,       // A bare frozen GraphDef (.pb): NodeDef name, then op.
  kTfKerasMetadata,  // keras_metadata.pb: Keras layer configs as JSON.
  kSentencePiece,    // tokenizer.model: a SentencePiece ModelProto.
  kImage,            // PNG, JPEG, GIF, WebP: model-card assets.
  kMsgpack,          // A msgpack map (Flax's flax_model.msgpack).
  kLzma,             // A legacy .lzma ("LZMA alone") stream: joblib's compress='lzma'.
};

std::string_view FormatName(Format format);

// Looks at the first bytes (and, for tar, the 512-byte header). `head` may be
// a prefix of the content; 600 bytes are enough for every rule here.
Format SniffFormat(std::string_view head);

// True when the bytes start a binary pickle: PROTO 2..5 followed by an opcode
// a real pickler writes next. Used on tensor storages too, so it must be
// strict enough that random float bytes almost never match.
bool LooksLikeBinaryPickle(std::string_view head);

// The format a file name promises, or kUnknown when the name says nothing
// (".bin", ".pt" and friends legitimately hold several formats).
Format FormatPromisedByName(std::string_view file_name);

}  // namespace gauntlet

#endif  // GAUNTLET_COMMON_FORMAT_H_
