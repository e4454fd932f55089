// Tamper evidence: a signed model folder verifies; a changed, added or
// removed file is named; a signature by another key, a changed bundle or a
// hostile model.sig never verifies and never crashes.
#include "integrity/model_signature.h"

#include <gtest/gtest.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "absl/strings/escaping.h"

namespace gauntlet::integrity {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

struct KeyPair {
  std::string private_pem, public_pem;
};

// A fresh key of `type` ("EC" with a curve, "ED25519" or "RSA"), as PEM.
KeyPair NewKey(const char* type, const char* curve = nullptr) {
  EVP_PKEY* key = curve ? EVP_PKEY_Q_keygen(nullptr, nullptr, type, curve)
                  : std::string_view(type) == "RSA"
                      ? EVP_PKEY_Q_keygen(nullptr, nullptr, type, size_t{2048})
                      : EVP_PKEY_Q_keygen(nullptr, nullptr, type);
  auto pem = [&](bool is_private) {
    BIO* bio = BIO_new(BIO_s_mem());
    if (is_private)
      PEM_write_bio_PrivateKey(bio, key, nullptr, nullptr, 0, nullptr, nullptr);
    else
      PEM_write_bio_PUBKEY(bio, key);
    char* data = nullptr;
    long size = BIO_get_mem_data(bio, &data);
    std::string text(data, static_cast<size_t>(size));
    BIO_free(bio);
    return text;
  };
  KeyPair pair{pem(true), pem(false)};
  EVP_PKEY_free(key);
  return pair;
}

class ModelSignatureTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("gauntlet_sig_" + std::to_string(getpid()) + "_" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    Write("config.json", "{\"hidden_size\": 8}\n");
    Write("model.safetensors", std::string(4096, '\x01'));
    Write("tokenizer/vocab.json", "{\"a\": 0}");
    Write("empty.txt", "");
    Write(".git/HEAD", "ref: refs/heads/main\n");  // Ignored, as OMS does.
  }
  void TearDown() override { fs::remove_all(dir_); }

  void Write(const std::string& name, const std::string& bytes) {
    fs::create_directories((dir_ / name).parent_path());
    std::ofstream(dir_ / name, std::ios::binary | std::ios::trunc) << bytes;
  }
  std::string Read(const std::string& name) {
    std::ifstream in(dir_ / name, std::ios::binary);
    std::stringstream s;
    s << in.rdbuf();
    return s.str();
  }

  fs::path dir_;
};

TEST_F(ModelSignatureTest, SignedFolderVerifiesWithEveryKeyKind) {
  for (KeyPair key :
       {NewKey("EC", "P-256"), NewKey("EC", "P-384"), NewKey("EC", "P-521"), NewKey("ED25519")}) {
    ASSERT_TRUE(WriteModelSignature(dir_, key.private_pem).ok());
    auto result = VerifyModelFolder(dir_, key.public_pem);
    ASSERT_TRUE(result.ok()) << result.status();
    EXPECT_TRUE(result->signature_valid) << result->problem;
    EXPECT_TRUE(result->Passed());
    EXPECT_EQ(result->signed_files, 4u);  // Not .git/HEAD, not model.sig.
    EXPECT_EQ(result->model_name, dir_.filename().string());
  }
}

TEST_F(ModelSignatureTest, BundleIsAnOmsStatementInADsseEnvelope) {
  KeyPair key = NewKey("EC", "P-256");
  ASSERT_TRUE(WriteModelSignature(dir_, key.private_pem).ok());
  json bundle = json::parse(Read("model.sig"));
  EXPECT_EQ(bundle["mediaType"], "application/vnd.dev.sigstore.bundle.v0.3+json");
  EXPECT_EQ(bundle["dsseEnvelope"]["payloadType"], "application/vnd.in-toto+json");
  std::string payload;
  ASSERT_TRUE(absl::Base64Unescape(bundle["dsseEnvelope"]["payload"].get<std::string>(), &payload));
  json statement = json::parse(payload);
  EXPECT_EQ(statement["_type"], "https://in-toto.io/Statement/v1");
  EXPECT_EQ(statement["predicateType"], "https://model_signing/signature/v1.0");
  EXPECT_EQ(statement["predicate"]["serialization"]["method"], "files");
  json resources = statement["predicate"]["resources"];
  ASSERT_EQ(resources.size(), 4u);
  EXPECT_EQ(resources[0]["name"], "config.json");  // Sorted by path.
  EXPECT_EQ(resources[3]["name"], "tokenizer/vocab.json");
  // SHA-256 of the empty file, the well-known constant.
  EXPECT_EQ(resources[1]["digest"],
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
}

TEST_F(ModelSignatureTest, ChangedAddedAndRemovedFilesAreNamed) {
  KeyPair key = NewKey("ED25519");
  ASSERT_TRUE(WriteModelSignature(dir_, key.private_pem).ok());
  Write("model.safetensors", std::string(4096, '\x02'));  // Same size, other weights.
  Write("extra/adapter.bin", "x");
  fs::remove(dir_ / "config.json");
  auto result = VerifyModelFolder(dir_, key.public_pem);
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_TRUE(result->signature_valid);
  EXPECT_FALSE(result->Passed());
  ASSERT_EQ(result->changes.size(), 3u);
  EXPECT_EQ(result->changes[0].path, "config.json");
  EXPECT_EQ(result->changes[0].kind, FileChange::Kind::kRemoved);
  EXPECT_EQ(result->changes[1].path, "extra/adapter.bin");
  EXPECT_EQ(result->changes[1].kind, FileChange::Kind::kAdded);
  EXPECT_EQ(result->changes[2].path, "model.safetensors");
  EXPECT_EQ(result->changes[2].kind, FileChange::Kind::kChanged);
}

TEST_F(ModelSignatureTest, AnotherKeyDoesNotVerify) {
  ASSERT_TRUE(WriteModelSignature(dir_, NewKey("EC", "P-256").private_pem).ok());
  auto result = VerifyModelFolder(dir_, NewKey("EC", "P-256").public_pem);
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_FALSE(result->signature_valid);
  EXPECT_NE(result->problem.find("another key"), std::string::npos);
  EXPECT_TRUE(result->changes.empty());  // An untrusted manifest names nothing.
}

// The attacker swaps the weights and rewrites the manifest to match, keeping
// the old signature (and key hint): the signature no longer verifies.
TEST_F(ModelSignatureTest, RewrittenManifestDoesNotVerify) {
  KeyPair key = NewKey("EC", "P-256");
  ASSERT_TRUE(WriteModelSignature(dir_, key.private_pem).ok());
  std::string signed_bundle = Read("model.sig");
  Write("model.safetensors", std::string(4096, '\x03'));
  ASSERT_TRUE(WriteModelSignature(dir_, NewKey("EC", "P-256").private_pem).ok());
  json forged = json::parse(Read("model.sig"));
  json original = json::parse(signed_bundle);
  forged["verificationMaterial"] = original["verificationMaterial"];
  forged["dsseEnvelope"]["signatures"] = original["dsseEnvelope"]["signatures"];
  Write("model.sig", forged.dump());
  auto result = VerifyModelFolder(dir_, key.public_pem);
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_FALSE(result->signature_valid);
  EXPECT_NE(result->problem.find("does not verify"), std::string::npos);
}

TEST_F(ModelSignatureTest, MissingSignatureIsNotFound) {
  auto result = VerifyModelFolder(dir_, NewKey("ED25519").public_pem);
  EXPECT_TRUE(absl::IsNotFound(result.status())) << result.status();
}

TEST_F(ModelSignatureTest, HostileBundlesAreInvalidArgument) {
  KeyPair key = NewKey("EC", "P-256");
  ASSERT_TRUE(WriteModelSignature(dir_, key.private_pem).ok());
  json good = json::parse(Read("model.sig"));
  std::vector<std::string> hostile = {
      "", "{", "[]", "null", "{\"mediaType\": 7}", std::string(100000, '[')};
  for (const char* field : {"mediaType", "verificationMaterial", "dsseEnvelope"}) {
    json broken = good;
    broken.erase(field);
    hostile.push_back(broken.dump());
    broken[field] = json::array({1, 2});
    hostile.push_back(broken.dump());
  }
  json two_signatures = good;
  two_signatures["dsseEnvelope"]["signatures"].push_back(good["dsseEnvelope"]["signatures"][0]);
  hostile.push_back(two_signatures.dump());
  json not_base64 = good;
  not_base64["dsseEnvelope"]["payload"] = "***";
  hostile.push_back(not_base64.dump());
  json keyless = good;
  keyless["verificationMaterial"] = {{"certificate", {{"rawBytes", "AAAA"}}}};
  hostile.push_back(keyless.dump());
  for (const std::string& text : hostile) {
    Write("model.sig", text);
    auto result = VerifyModelFolder(dir_, key.public_pem);
    EXPECT_TRUE(absl::IsInvalidArgument(result.status())) << text.substr(0, 80);
  }
}

TEST_F(ModelSignatureTest, SymbolicLinksAreRefused) {
  fs::create_symlink("/etc/passwd", dir_ / "weights.bin");
  auto bundle = SignModelFolder(dir_, NewKey("ED25519").private_pem);
  EXPECT_TRUE(absl::IsFailedPrecondition(bundle.status())) << bundle.status();
  EXPECT_NE(bundle.status().message().find("symbolic link"), std::string::npos);
}

TEST_F(ModelSignatureTest, UnsupportedKeysAreRefusedWithTheReason) {
  EXPECT_TRUE(absl::IsInvalidArgument(CheckPrivateKey("not a key")));
  EXPECT_NE(CheckPrivateKey(NewKey("RSA").private_pem).message().find("neither"),
            std::string::npos);
  EXPECT_NE(CheckPublicKey(NewKey("ED25519").private_pem).message().find("public half"),
            std::string::npos);
  EXPECT_TRUE(CheckPublicKey(NewKey("EC", "P-256").public_pem).ok());
  EXPECT_TRUE(CheckPrivateKey(NewKey("EC", "P-384").private_pem).ok());
}

TEST(ModelManifest, RootDigestIsOverRawDigestsInOrder) {
  // SHA-256 of the 32 zero bytes of one all-zero digest.
  auto root = RootDigest({{"a", std::string(64, '0')}});
  ASSERT_TRUE(root.ok());
  EXPECT_EQ(*root, "66687aadf862bd776c8fc18b8e9f8e20089714856ee233b3902a591d0d5f2925");
  EXPECT_TRUE(absl::IsInvalidArgument(RootDigest({{"a", "xyz"}}).status()));
}

}  // namespace
}  // namespace gauntlet::integrity
