// SentencePiece tokenizer models: recognised by content and passed whole;
// damaged ones are ERROR. Real sentencepiece-trained files are in the real
// fixtures.
#include <gtest/gtest.h>

#include <cstring>

#include "common/rules.h"
#include "tests/support/proto_writer.h"
#include "tests/support/scan_assertions.h"

namespace gauntlet {
namespace {

using testing::ProtoWriter;

std::string Piece(std::string_view text, float score) {
  uint32_t bits;
  std::memcpy(&bits, &score, 4);
  std::string fixed32(4, '\0');
  std::memcpy(fixed32.data(), &bits, 4);
  ProtoWriter piece;
  piece.Bytes(1, text);
  return piece.str() + "\x15" + fixed32;  // Field 2, wire type 5 (float score).
}

std::string Model() {
  ProtoWriter model;
  model.Bytes(1, Piece("<unk>", 0))
      .Bytes(1, Piece("\xe2\x96\x81the", -1.5f))
      .Bytes(1, Piece("fire", -2));
  model.Message(2, ProtoWriter().Bytes(1, "tokenizer.model").Varint(3, 60));
  return model.str();
}

TEST(SentencePieceScanner, TokenizerModelIsRecognisedAndClean) {
  auto report = testing::ScanFixture(Model(), "tokenizer.model");
  EXPECT_EQ(report.format, "sentencepiece");
  EXPECT_EQ(report.verdict, Verdict::kClean) << testing::Describe(report);
}

TEST(SentencePieceScanner, DamagedModelIsAnError) {
  std::string model = Model();
  for (size_t cut : {model.size() / 3, model.size() / 2, model.size() - 2}) {
    auto report = testing::ScanFixture(model.substr(0, cut), "tokenizer.model");
    EXPECT_EQ(report.verdict, Verdict::kError) << "cut at " << cut << testing::Describe(report);
  }
  std::string odd = Model() + ProtoWriter().Varint(9, 1).str();
  EXPECT_TRUE(testing::HasFinding(testing::ScanFixture(odd, "tokenizer.model"),
                                  rules::kTokenizerMalformed, Severity::kMedium, Verdict::kError,
                                  "unexpected field 9"));
}

}  // namespace
}  // namespace gauntlet
