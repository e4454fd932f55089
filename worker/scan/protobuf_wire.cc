#include "worker/scan/protobuf_wire.h"

#include <cstring>

#include "common/strings.h"

namespace gauntlet::scan {

bool WireReader::Fail(std::string why) {
  error_ = StrCat(why, " at offset ", base_ + pos_);
  return false;
}

bool WireReader::Varint(uint64_t& out) {
  out = 0;
  for (int shift = 0; shift < 64; shift += 7) {
    if (pos_ >= data_.size()) return Fail("truncated varint");
    auto byte = static_cast<uint8_t>(data_[pos_++]);
    out |= static_cast<uint64_t>(byte & 0x7F) << shift;
    if (!(byte & 0x80)) return true;
  }
  return Fail("varint longer than 10 bytes");
}

bool WireReader::Next(WireField& field) {
  if (pos_ >= data_.size() || !error_.empty()) return false;
  field = WireField{};
  field.offset = base_ + pos_;
  uint64_t tag;
  if (!Varint(tag)) return false;
  field.number = static_cast<uint32_t>(tag >> 3);
  field.wire_type = static_cast<uint32_t>(tag & 7);
  if (field.number == 0 || (tag >> 3) > 0x1FFFFFFF) return Fail("invalid field number");
  switch (field.wire_type) {
    case 0:
      return Varint(field.varint);
    case 1:
    case 5: {
      size_t n = field.wire_type == 1 ? 8 : 4;
      if (data_.size() - pos_ < n) return Fail("truncated fixed-width field");
      std::memcpy(&field.varint, data_.data() + pos_, n);
      pos_ += n;
      return true;
    }
    case 2: {
      uint64_t length;
      if (!Varint(length)) return false;
      if (length > data_.size() - pos_) return Fail("length-delimited field runs past its message");
      field.bytes = data_.substr(pos_, length);
      pos_ += length;
      return true;
    }
    default:
      return Fail(StrCat("unsupported wire type ", field.wire_type));
  }
}

}  // namespace gauntlet::scan
