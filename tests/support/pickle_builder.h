// Builds pickle byte streams opcode by opcode, so each malicious technique
// is spelled out in the test that uses it.
#ifndef GAUNTLET_TESTS_SUPPORT_PICKLE_BUILDER_H_
#define GAUNTLET_TESTS_SUPPORT_PICKLE_BUILDER_H_

#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

namespace gauntlet::testing {

class PickleBuilder {
 public:
  PickleBuilder& Proto(int version) { return Op(0x80).Byte(static_cast<uint8_t>(version)); }
  PickleBuilder& Frame(uint64_t length) { return Op(0x95).Le(length); }
  PickleBuilder& Global(std::string_view module, std::string_view name) {
    return Op('c').Raw(module).Raw("\n").Raw(name).Raw("\n");
  }
  PickleBuilder& Inst(std::string_view module, std::string_view name) {
    return Op('i').Raw(module).Raw("\n").Raw(name).Raw("\n");
  }
  PickleBuilder& Unicode(std::string_view s) {  // SHORT_BINUNICODE / BINUNICODE
    if (s.size() < 256) return Op(0x8c).Byte(static_cast<uint8_t>(s.size())).Raw(s);
    return Op('X').Le(static_cast<uint32_t>(s.size())).Raw(s);
  }
  PickleBuilder& String0(std::string_view s) { return Op('S').Raw("'").Raw(s).Raw("'\n"); }
  PickleBuilder& Bytes(std::string_view s) {
    return Op('B').Le(static_cast<uint32_t>(s.size())).Raw(s);
  }
  PickleBuilder& Int(int32_t v) { return Op('J').Le(v); }
  PickleBuilder& StackGlobal() { return Op(0x93); }
  PickleBuilder& Mark() { return Op('('); }
  PickleBuilder& Tuple() { return Op('t'); }
  PickleBuilder& Tuple1() { return Op(0x85); }
  PickleBuilder& Tuple2() { return Op(0x86); }
  PickleBuilder& EmptyTuple() { return Op(')'); }
  PickleBuilder& EmptyDict() { return Op('}'); }
  PickleBuilder& EmptyList() { return Op(']'); }
  PickleBuilder& Reduce() { return Op('R'); }
  PickleBuilder& Build() { return Op('b'); }
  PickleBuilder& NewObj() { return Op(0x81); }
  PickleBuilder& NewObjEx() { return Op(0x92); }
  PickleBuilder& Obj() { return Op('o'); }
  PickleBuilder& Pop() { return Op('0'); }
  PickleBuilder& Dup() { return Op('2'); }
  PickleBuilder& Append() { return Op('a'); }
  PickleBuilder& SetItem() { return Op('s'); }
  PickleBuilder& None() { return Op('N'); }
  PickleBuilder& Memoize() { return Op(0x94); }
  PickleBuilder& BinPut(uint8_t key) { return Op('q').Byte(key); }
  PickleBuilder& BinGet(uint8_t key) { return Op('h').Byte(key); }
  PickleBuilder& Ext1(uint8_t code) { return Op(0x82).Byte(code); }
  PickleBuilder& Ext2(uint16_t code) { return Op(0x83).Le(code); }
  PickleBuilder& Ext4(uint32_t code) { return Op(0x84).Le(code); }
  PickleBuilder& Stop() { return Op('.'); }

  // `module.name(arg)` via GLOBAL + REDUCE, the classic payload.
  PickleBuilder& CallGlobal(std::string_view module, std::string_view name, std::string_view arg) {
    return Global(module, name).Unicode(arg).Tuple1().Reduce();
  }

  PickleBuilder& Op(uint8_t opcode) { return Byte(opcode); }
  PickleBuilder& Byte(uint8_t b) {
    data_.push_back(static_cast<char>(b));
    return *this;
  }
  PickleBuilder& Raw(std::string_view bytes) {
    data_.append(bytes);
    return *this;
  }
  template <typename T>
  PickleBuilder& Le(T value) {
    char buffer[sizeof(T)];
    std::memcpy(buffer, &value, sizeof(T));
    data_.append(buffer, sizeof(T));
    return *this;
  }

  const std::string& bytes() const { return data_; }
  size_t size() const { return data_.size(); }

 private:
  std::string data_;
};

// `collections.OrderedDict()`: allowlisted, so a clean pickle.
inline std::string BenignPickle() {
  return PickleBuilder()
      .Proto(2)
      .Global("collections", "OrderedDict")
      .EmptyTuple()
      .Reduce()
      .Stop()
      .bytes();
}

// `os.system(command)`: the classic payload.
inline std::string OsSystemPickle(std::string_view command = "id") {
  return PickleBuilder().Proto(2).CallGlobal("os", "system", command).Stop().bytes();
}

}  // namespace gauntlet::testing

#endif  // GAUNTLET_TESTS_SUPPORT_PICKLE_BUILDER_H_
