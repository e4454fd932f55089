#include "common/format.h"

#include <gtest/gtest.h>

namespace gauntlet {
namespace {

TEST(SniffFormat, MagicBytesDecideNotNames) {
  EXPECT_EQ(SniffFormat(std::string_view("PK\x03\x04rest", 8)), Format::kZip);
  EXPECT_EQ(SniffFormat("\x1f\x8b\x08"), Format::kGzip);
  EXPECT_EQ(SniffFormat("BZh91AY"), Format::kBzip2);
  EXPECT_EQ(SniffFormat(std::string_view("\xfd"
                                         "7zXZ\x00\x00",
                                         7)),
            Format::kXz);
  EXPECT_EQ(SniffFormat("\x28\xb5\x2f\xfd\x00"), Format::kZstd);
  EXPECT_EQ(SniffFormat("\x93NUMPY\x01"), Format::kNumpy);
  EXPECT_EQ(SniffFormat("GGUF\x03"), Format::kGguf);
  EXPECT_EQ(SniffFormat("\x89HDF\r\n\x1a\n"), Format::kHdf5);
  EXPECT_EQ(SniffFormat("7z\xbc\xaf\x27\x1c"), Format::kSevenZip);
  EXPECT_EQ(SniffFormat(std::string_view("\x80\x02}q\x00.", 6)), Format::kPickle);
  EXPECT_EQ(SniffFormat(std::string_view("\x80\x04\x95\x10\x00", 5)), Format::kPickle);
  EXPECT_EQ(SniffFormat("{\"architectures\": [\"LlamaForCausalLM\"]}"), Format::kText);
  EXPECT_EQ(SniffFormat(""), Format::kEmpty);
  std::string safetensors("\x10\x00\x00\x00\x00\x00\x00\x00{\"__metadata__\":{}}", 26);
  EXPECT_EQ(SniffFormat(safetensors), Format::kSafetensors);
}

TEST(SniffFormat, RandomTensorBytesStartingWith0x80AreNotPickles) {
  // float16 data often starts with 0x80: require a plausible protocol and opcode.
  EXPECT_FALSE(LooksLikeBinaryPickle(std::string_view("\x80\x09\x00", 3)));
  EXPECT_FALSE(LooksLikeBinaryPickle(std::string_view("\x80\x02\x00", 3)));
  EXPECT_FALSE(LooksLikeBinaryPickle(std::string_view("\x80\x04\x01", 3)));
}

TEST(FormatPromisedByName, OnlySpecificExtensionsPromiseAFormat) {
  EXPECT_EQ(FormatPromisedByName("model.safetensors"), Format::kSafetensors);
  EXPECT_EQ(FormatPromisedByName("dir.v2/config.JSON"), Format::kText);
  EXPECT_EQ(FormatPromisedByName("pytorch_model.bin"), Format::kUnknown);
  EXPECT_EQ(FormatPromisedByName("model.pt"), Format::kUnknown);
  EXPECT_EQ(FormatPromisedByName("dir.d/noext"), Format::kUnknown);
}

}  // namespace
}  // namespace gauntlet
