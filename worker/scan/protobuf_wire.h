// A bounds-checked reader for the protobuf wire format, enough to walk ONNX
// and TensorFlow files field by field without generated code. Length-
// delimited fields are views: walking past tensor data never reads it.
#ifndef GAUNTLET_WORKER_SCAN_PROTOBUF_WIRE_H_
#define GAUNTLET_WORKER_SCAN_PROTOBUF_WIRE_H_

#include <cstdint>
#include <string>
#include <string_view>

namespace gauntlet::scan {

struct WireField {
  uint32_t number = 0;
  uint32_t wire_type = 0;  // 0 varint, 1 fixed64, 2 length-delimited, 5 fixed32.
  uint64_t varint = 0;     // Wire types 0, 1, 5.
  std::string_view bytes;  // Wire type 2.
  uint64_t offset = 0;     // Of the field's tag, from the start of the file.
};

class WireReader {
 public:
  // `base` is the file offset of `data`, for offsets in findings.
  explicit WireReader(std::string_view data, uint64_t base = 0) : data_(data), base_(base) {}

  // The next field, or false at the end of the message or on malformed
  // input (then error() says why).
  bool Next(WireField& field);
  const std::string& error() const { return error_; }
  uint64_t base() const { return base_; }

 private:
  bool Varint(uint64_t& out);
  bool Fail(std::string why);

  std::string_view data_;
  uint64_t base_;
  uint64_t pos_ = 0;
  std::string error_;
};

}  // namespace gauntlet::scan

#endif  // GAUNTLET_WORKER_SCAN_PROTOBUF_WIRE_H_
