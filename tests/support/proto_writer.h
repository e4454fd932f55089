// Writes protobuf wire format by hand, for ONNX fixtures built in code.
#ifndef GAUNTLET_TESTS_SUPPORT_PROTO_WRITER_H_
#define GAUNTLET_TESTS_SUPPORT_PROTO_WRITER_H_

#include <cstdint>
#include <string>
#include <string_view>

namespace gauntlet::testing {

class ProtoWriter {
 public:
  ProtoWriter& Varint(uint32_t field, uint64_t value) {
    Raw(uint64_t{field} << 3);
    Raw(value);
    return *this;
  }
  ProtoWriter& Bytes(uint32_t field, std::string_view bytes) {
    Raw((uint64_t{field} << 3) | 2);
    Raw(bytes.size());
    out_ += bytes;
    return *this;
  }
  ProtoWriter& Message(uint32_t field, const ProtoWriter& message) {
    return Bytes(field, message.str());
  }
  const std::string& str() const { return out_; }

 private:
  void Raw(uint64_t v) {
    while (v >= 0x80) {
      out_.push_back(static_cast<char>((v & 0x7F) | 0x80));
      v >>= 7;
    }
    out_.push_back(static_cast<char>(v));
  }
  std::string out_;
};

}  // namespace gauntlet::testing

#endif  // GAUNTLET_TESTS_SUPPORT_PROTO_WRITER_H_
