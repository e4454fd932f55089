#include "integrity/model_signature.h"

#include <openssl/bio.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <memory>
#include <nlohmann/json.hpp>
#include <sstream>

#include "absl/strings/escaping.h"
#include "common/digest.h"
#include "common/strings.h"

namespace gauntlet::integrity {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

constexpr char kBundleMediaType[] = "application/vnd.dev.sigstore.bundle.v0.3+json";
constexpr char kPayloadType[] = "application/vnd.in-toto+json";
constexpr char kStatementType[] = "https://in-toto.io/Statement/v1";
constexpr char kPredicateType[] = "https://model_signing/signature/v1.0";

struct KeyDeleter {
  void operator()(EVP_PKEY* key) const { EVP_PKEY_free(key); }
};
using Key = std::unique_ptr<EVP_PKEY, KeyDeleter>;
struct BioDeleter {
  void operator()(BIO* bio) const { BIO_free(bio); }
};
using Bio = std::unique_ptr<BIO, BioDeleter>;
struct MdContextDeleter {
  void operator()(EVP_MD_CTX* context) const { EVP_MD_CTX_free(context); }
};

// Never prompts for a passphrase (OpenSSL's default would read the terminal).
int NoPassphrase(char*, int, int, void*) { return 0; }

std::string OpenSslError() {
  unsigned long code = ERR_get_error();
  ERR_clear_error();
  if (code == 0) return "unknown OpenSSL error";
  char text[256];
  ERR_error_string_n(code, text, sizeof text);
  return text;
}

// The hash ECDSA uses for the key's curve (as OMS does), or nullptr for
// Ed25519, which hashes inside the algorithm. INVALID_ARGUMENT for other keys.
absl::StatusOr<const EVP_MD*> DigestFor(EVP_PKEY* key) {
  if (EVP_PKEY_get_base_id(key) == EVP_PKEY_ED25519) return nullptr;
  if (EVP_PKEY_get_base_id(key) == EVP_PKEY_EC) {
    char curve[64] = {0};
    size_t length = 0;
    EVP_PKEY_get_group_name(key, curve, sizeof curve, &length);
    std::string_view name(curve, length);
    if (name == "prime256v1" || name == "P-256") return EVP_sha256();
    if (name == "secp384r1" || name == "P-384") return EVP_sha384();
    if (name == "secp521r1" || name == "P-521") return EVP_sha512();
    return absl::InvalidArgumentError(
        StrCat("the key's curve ", name, " is not supported: use P-256, P-384 or P-521"));
  }
  return absl::InvalidArgumentError(
      "the key is neither an elliptic-curve (P-256, P-384, P-521) nor an Ed25519 key");
}

absl::StatusOr<Key> LoadPrivateKey(std::string_view pem) {
  Bio bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  Key key(PEM_read_bio_PrivateKey(bio.get(), nullptr, NoPassphrase, nullptr));
  if (!key) {
    ERR_clear_error();
    if (pem.find("ENCRYPTED") != std::string_view::npos)
      return absl::InvalidArgumentError(
          "the private key is encrypted: decrypt it for signing (openssl pkey -in KEY -out "
          "PLAIN.pem) or sign where the key is kept");
    return absl::InvalidArgumentError("not a PEM private key");
  }
  if (auto digest = DigestFor(key.get()); !digest.ok()) return digest.status();
  return key;
}

absl::StatusOr<Key> LoadPublicKey(std::string_view pem) {
  Bio bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  Key key(PEM_read_bio_PUBKEY(bio.get(), nullptr, NoPassphrase, nullptr));
  if (!key) {
    ERR_clear_error();
    if (pem.find("PRIVATE KEY") != std::string_view::npos)
      return absl::InvalidArgumentError(
          "a private key where the public key belongs: give its public half (openssl pkey -in "
          "KEY -pubout)");
    return absl::InvalidArgumentError("not a PEM public key (-----BEGIN PUBLIC KEY-----)");
  }
  if (auto digest = DigestFor(key.get()); !digest.ok()) return digest.status();
  return key;
}

// OMS's key hint: SHA-256 of the public key's SubjectPublicKeyInfo PEM.
std::string KeyHint(EVP_PKEY* key) {
  Bio bio(BIO_new(BIO_s_mem()));
  PEM_write_bio_PUBKEY(bio.get(), key);
  char* data = nullptr;
  long size = BIO_get_mem_data(bio.get(), &data);
  return Sha256Hex(std::string_view(data, static_cast<size_t>(size)));
}

// DSSE's pre-authentication encoding: what is signed, never the JSON.
std::string PreAuthenticationEncoding(std::string_view payload_type, std::string_view payload) {
  return StrCat("DSSEv1 ", payload_type.size(), " ", payload_type, " ", payload.size(), " ",
                payload);
}

absl::StatusOr<std::string> Sign(EVP_PKEY* key, std::string_view message) {
  std::unique_ptr<EVP_MD_CTX, MdContextDeleter> context(EVP_MD_CTX_new());
  const EVP_MD* digest = *DigestFor(key);
  size_t size = 0;
  auto bytes = reinterpret_cast<const unsigned char*>(message.data());
  if (EVP_DigestSignInit(context.get(), nullptr, digest, nullptr, key) != 1 ||
      EVP_DigestSign(context.get(), nullptr, &size, bytes, message.size()) != 1)
    return absl::InternalError(StrCat("signing failed: ", OpenSslError()));
  std::string signature(size, '\0');
  if (EVP_DigestSign(context.get(), reinterpret_cast<unsigned char*>(signature.data()), &size,
                     bytes, message.size()) != 1)
    return absl::InternalError(StrCat("signing failed: ", OpenSslError()));
  signature.resize(size);
  return signature;
}

bool VerifySignature(EVP_PKEY* key, std::string_view message, std::string_view signature) {
  std::unique_ptr<EVP_MD_CTX, MdContextDeleter> context(EVP_MD_CTX_new());
  bool valid =
      EVP_DigestVerifyInit(context.get(), nullptr, *DigestFor(key), nullptr, key) == 1 &&
      EVP_DigestVerify(context.get(), reinterpret_cast<const unsigned char*>(signature.data()),
                       signature.size(), reinterpret_cast<const unsigned char*>(message.data()),
                       message.size()) == 1;
  ERR_clear_error();
  return valid;
}

absl::StatusOr<std::string> Statement(const fs::path& folder,
                                      const std::vector<ManifestEntry>& entries,
                                      const std::vector<std::string>& ignored) {
  auto root = RootDigest(entries);
  if (!root.ok()) return root.status();
  json resources = json::array();
  for (const ManifestEntry& entry : entries)
    resources.push_back({{"name", entry.path}, {"algorithm", "sha256"}, {"digest", entry.sha256}});
  std::string name = fs::absolute(folder).lexically_normal().filename().string();
  if (name.empty())
    name = fs::absolute(folder).lexically_normal().parent_path().filename().string();
  json statement = {{"_type", kStatementType},
                    {"subject", json::array({{{"name", name}, {"digest", {{"sha256", *root}}}}})},
                    {"predicateType", kPredicateType},
                    {"predicate",
                     {{"serialization",
                       {{"method", "files"},
                        {"hash_type", "sha256"},
                        {"allow_symlinks", false},
                        {"ignore_paths", ignored}}},
                      {"resources", resources}}}};
  return statement.dump();
}

// The field `key` of `object` as `type`, or INVALID_ARGUMENT naming `where`.
absl::StatusOr<const json*> Field(const json& object, const char* key, json::value_t type,
                                  std::string_view where) {
  if (!object.is_object() || !object.contains(key) || object[key].type() != type)
    return absl::InvalidArgumentError(
        StrCat(where, ": '", key, "' is missing or of the wrong type"));
  return &object[key];
}

// The string at `key`, or "" when absent or not a string (json::value
// would throw on a hostile file's wrong type).
std::string StringAt(const json& object, const char* key) {
  return object.is_object() && object.contains(key) && object[key].is_string()
             ? object[key].get<std::string>()
             : std::string();
}

#define GAUNTLET_ASSIGN_FIELD(var, object, key, type, where)      \
  auto var##_or = Field(object, key, json::value_t::type, where); \
  if (!var##_or.ok()) return var##_or.status();                   \
  const json& var = **var##_or

struct Envelope {
  std::string hint;  // Empty when the bundle names no key.
  std::string payload_type, payload, signature;
};

absl::StatusOr<Envelope> ParseBundle(std::string_view text) {
  json bundle = json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (bundle.is_discarded()) return absl::InvalidArgumentError("model.sig is not JSON");
  GAUNTLET_ASSIGN_FIELD(media_type, bundle, "mediaType", string, "model.sig");
  if (media_type != kBundleMediaType)
    return absl::InvalidArgumentError(StrCat("model.sig: media type '",
                                             media_type.get<std::string>(), "', expected ",
                                             kBundleMediaType));
  GAUNTLET_ASSIGN_FIELD(material, bundle, "verificationMaterial", object, "model.sig");
  Envelope envelope;
  if (material.contains("publicKey"))
    envelope.hint = StringAt(material["publicKey"], "hint");
  else if (material.contains("certificate") || material.contains("x509CertificateChain"))
    return absl::InvalidArgumentError(
        "model.sig was signed keylessly (a Sigstore certificate): gauntlet verifies key-based "
        "signatures only");
  GAUNTLET_ASSIGN_FIELD(dsse, bundle, "dsseEnvelope", object, "model.sig");
  GAUNTLET_ASSIGN_FIELD(payload, dsse, "payload", string, "model.sig dsseEnvelope");
  GAUNTLET_ASSIGN_FIELD(payload_type, dsse, "payloadType", string, "model.sig dsseEnvelope");
  GAUNTLET_ASSIGN_FIELD(signatures, dsse, "signatures", array, "model.sig dsseEnvelope");
  if (signatures.size() != 1)
    return absl::InvalidArgumentError(
        StrCat("model.sig: ", signatures.size(), " signatures, expected exactly one"));
  GAUNTLET_ASSIGN_FIELD(sig, signatures[0], "sig", string, "model.sig signature");
  envelope.payload_type = payload_type.get<std::string>();
  if (!absl::Base64Unescape(payload.get<std::string>(), &envelope.payload) ||
      !absl::Base64Unescape(sig.get<std::string>(), &envelope.signature))
    return absl::InvalidArgumentError("model.sig: payload or signature is not base64");
  return envelope;
}

struct SignedManifest {
  std::string model_name;
  std::vector<std::string> ignored;
  std::vector<ManifestEntry> entries;
};

// The statement the signature covered: INVALID_ARGUMENT unless it is an
// OMS v1.0 "files" manifest whose root digest matches its resources.
absl::StatusOr<SignedManifest> ParseStatement(std::string_view text) {
  json statement = json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (statement.is_discarded())
    return absl::InvalidArgumentError("the signed statement is not JSON");
  constexpr char kWhere[] = "the signed statement";
  GAUNTLET_ASSIGN_FIELD(type, statement, "_type", string, kWhere);
  GAUNTLET_ASSIGN_FIELD(predicate_type, statement, "predicateType", string, kWhere);
  if (type != kStatementType || predicate_type != kPredicateType)
    return absl::InvalidArgumentError(StrCat("the signed statement is ", type.get<std::string>(),
                                             " with predicate ", predicate_type.get<std::string>(),
                                             ", expected an OMS ", kPredicateType, " statement"));
  GAUNTLET_ASSIGN_FIELD(subjects, statement, "subject", array, kWhere);
  if (subjects.size() != 1)
    return absl::InvalidArgumentError("the signed statement needs one subject");
  GAUNTLET_ASSIGN_FIELD(digest, subjects[0], "digest", object, "the statement's subject");
  GAUNTLET_ASSIGN_FIELD(root, digest, "sha256", string, "the statement's subject digest");
  SignedManifest manifest;
  manifest.model_name = StringAt(subjects[0], "name");
  GAUNTLET_ASSIGN_FIELD(predicate, statement, "predicate", object, kWhere);
  GAUNTLET_ASSIGN_FIELD(serialization, predicate, "serialization", object, "the predicate");
  GAUNTLET_ASSIGN_FIELD(method, serialization, "method", string, "the serialization");
  if (method != "files" || StringAt(serialization, "hash_type") != "sha256")
    return absl::InvalidArgumentError(
        StrCat("the signature's serialization is '", method.get<std::string>(), "' with '",
               StringAt(serialization, "hash_type"),
               "': gauntlet verifies the 'files' method with sha256"));
  const json* symlinks =
      serialization.contains("allow_symlinks") ? &serialization["allow_symlinks"] : nullptr;
  if (symlinks && !(symlinks->is_boolean() && !symlinks->get<bool>()) &&
      !(symlinks->is_string() && *symlinks == "false"))
    return absl::InvalidArgumentError(
        "the signature allows symbolic links: gauntlet verifies folders without them");
  if (serialization.contains("ignore_paths")) {
    GAUNTLET_ASSIGN_FIELD(ignored, serialization, "ignore_paths", array, "the serialization");
    for (const json& path : ignored) {
      if (!path.is_string())
        return absl::InvalidArgumentError("the serialization's ignore_paths are not strings");
      manifest.ignored.push_back(path.get<std::string>());
    }
  }
  manifest.ignored.push_back(std::string(kSignatureFileName));
  GAUNTLET_ASSIGN_FIELD(resources, predicate, "resources", array, "the predicate");
  for (const json& resource : resources) {
    GAUNTLET_ASSIGN_FIELD(name, resource, "name", string, "a resource");
    GAUNTLET_ASSIGN_FIELD(value, resource, "digest", string, "a resource");
    if (StringAt(resource, "algorithm") != "sha256")
      return absl::InvalidArgumentError(
          StrCat("resource ", name.get<std::string>(), " is not hashed with sha256"));
    manifest.entries.push_back({name.get<std::string>(), value.get<std::string>()});
  }
  // OMS hashes the resources in their listed order (sorted by its signers).
  auto recomputed = RootDigest(manifest.entries);
  if (!recomputed.ok()) return recomputed.status();
  if (*recomputed != root)
    return absl::InvalidArgumentError(
        StrCat("the signed statement is inconsistent: its root digest ", root.get<std::string>(),
               " is not the digest of its resources (", *recomputed, ")"));
  std::sort(manifest.entries.begin(), manifest.entries.end(),
            [](const ManifestEntry& a, const ManifestEntry& b) { return a.path < b.path; });
  return manifest;
}

#undef GAUNTLET_ASSIGN_FIELD

}  // namespace

absl::StatusOr<SigningKeyPair> GenerateSigningKey() {
  Key key(EVP_PKEY_Q_keygen(nullptr, nullptr, "ED25519"));
  if (!key) return absl::InternalError(StrCat("key generation failed: ", OpenSslError()));
  auto pem = [&](bool is_private) {
    Bio bio(BIO_new(BIO_s_mem()));
    if (is_private)
      PEM_write_bio_PrivateKey(bio.get(), key.get(), nullptr, nullptr, 0, nullptr, nullptr);
    else
      PEM_write_bio_PUBKEY(bio.get(), key.get());
    char* data = nullptr;
    long size = BIO_get_mem_data(bio.get(), &data);
    return std::string(data, static_cast<size_t>(size));
  };
  return SigningKeyPair{pem(true), pem(false)};
}

absl::Status CheckPrivateKey(std::string_view private_key_pem) {
  return LoadPrivateKey(private_key_pem).status();
}

absl::Status CheckPublicKey(std::string_view public_key_pem) {
  return LoadPublicKey(public_key_pem).status();
}

absl::StatusOr<std::string> SignStatement(std::string_view statement,
                                          std::string_view private_key_pem) {
  auto key = LoadPrivateKey(private_key_pem);
  if (!key.ok()) return key.status();
  auto signature = Sign(key->get(), PreAuthenticationEncoding(kPayloadType, statement));
  if (!signature.ok()) return signature.status();
  json bundle = {
      {"mediaType", kBundleMediaType},
      {"verificationMaterial",
       {{"publicKey", {{"hint", KeyHint(key->get())}}}, {"tlogEntries", json::array()}}},
      {"dsseEnvelope",
       {{"payload", absl::Base64Escape(std::string(statement))},
        {"payloadType", kPayloadType},
        {"signatures", json::array({{{"sig", absl::Base64Escape(*signature)}, {"keyid", ""}}})}}}};
  return bundle.dump(2) + "\n";
}

absl::StatusOr<std::string> SignModelFolder(const fs::path& folder,
                                            std::string_view private_key_pem) {
  if (auto status = CheckPrivateKey(private_key_pem); !status.ok()) return status;
  std::vector<std::string> ignored = DefaultIgnoredPaths();
  auto entries = HashModelFolder(folder, ignored);
  if (!entries.ok()) return entries.status();
  auto statement = Statement(folder, *entries, ignored);
  if (!statement.ok()) return statement.status();
  return SignStatement(*statement, private_key_pem);
}

absl::Status WriteModelSignature(const fs::path& folder, std::string_view private_key_pem) {
  auto bundle = SignModelFolder(folder, private_key_pem);
  if (!bundle.ok()) return bundle.status();
  fs::path target = folder / kSignatureFileName;
  fs::path temporary = folder / StrCat(kSignatureFileName, ".tmp");
  {
    std::ofstream out(temporary, std::ios::binary | std::ios::trunc);
    out << *bundle;
    if (!out.flush())
      return absl::PermissionDeniedError(StrCat("cannot write ", temporary.string()));
  }
  if (std::rename(temporary.c_str(), target.c_str()) != 0)
    return absl::PermissionDeniedError(StrCat("cannot write ", target.string()));
  return absl::OkStatus();
}

absl::StatusOr<Verification> VerifyModelFolder(const fs::path& folder,
                                               std::string_view public_key_pem) {
  auto key = LoadPublicKey(public_key_pem);
  if (!key.ok()) return key.status();
  fs::path path = folder / kSignatureFileName;
  std::error_code error;
  if (!fs::is_regular_file(fs::symlink_status(path, error)))
    return absl::NotFoundError(
        StrCat(path.string(), " is missing: the model folder is not signed"));
  std::ifstream in(path, std::ios::binary);
  std::stringstream text;
  text << in.rdbuf();
  if (!in) return absl::UnavailableError(StrCat("cannot read ", path.string()));
  auto envelope = ParseBundle(text.str());
  if (!envelope.ok()) return envelope.status();

  Verification result;
  std::string hint = KeyHint(key->get());
  if (!envelope->hint.empty() && envelope->hint != hint) {
    result.problem = StrCat("model.sig was signed by another key (its key hint ", envelope->hint,
                            ", this key's ", hint, ")");
    return result;
  }
  if (envelope->payload_type != kPayloadType)
    return absl::InvalidArgumentError(
        StrCat("model.sig: payload type '", envelope->payload_type, "', expected ", kPayloadType));
  if (!VerifySignature(key->get(),
                       PreAuthenticationEncoding(envelope->payload_type, envelope->payload),
                       envelope->signature)) {
    result.problem =
        "the signature does not verify with this key: model.sig was changed after signing, or "
        "signed by another key";
    return result;
  }
  result.signature_valid = true;
  auto manifest = ParseStatement(envelope->payload);
  if (!manifest.ok()) return manifest.status();
  result.model_name = manifest->model_name;
  result.signed_files = manifest->entries.size();
  auto now = HashModelFolder(folder, manifest->ignored);
  if (!now.ok()) return now.status();
  result.changes = CompareManifests(manifest->entries, *now);
  return result;
}

}  // namespace gauntlet::integrity
