// Tamper evidence for a model folder, in the OpenSSF model-signing (OMS)
// format that sigstore/model-transparency writes: an in-toto statement
// (predicate https://model_signing/signature/v1.0) listing every file's
// SHA-256, signed as a DSSE envelope inside a Sigstore bundle (v0.3 JSON),
// stored as DIR/model.sig. This is the key-based mode: an ECDSA (P-256,
// P-384, P-521) or Ed25519 key in PEM, through OpenSSL. Keyless Sigstore
// signing (a Fulcio certificate and a Rekor entry in the same bundle's
// verification material) needs the internet and is not done here; the
// bundle leaves room for it.
#ifndef GAUNTLET_INTEGRITY_MODEL_SIGNATURE_H_
#define GAUNTLET_INTEGRITY_MODEL_SIGNATURE_H_

#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "integrity/model_manifest.h"

namespace gauntlet::integrity {

// OK when the PEM text is a key these functions accept; INVALID_ARGUMENT
// with the reason otherwise (so a command can tell a bad key from a bad
// folder before it starts).
absl::Status CheckPrivateKey(std::string_view private_key_pem);
absl::Status CheckPublicKey(std::string_view public_key_pem);

// A fresh Ed25519 key pair as PEM (PKCS#8 private, SubjectPublicKeyInfo
// public): for demonstrations and tests; production keys live in a KMS.
struct SigningKeyPair {
  std::string private_pem, public_pem;
};
absl::StatusOr<SigningKeyPair> GenerateSigningKey();

// The bundle (model.sig's text) for `folder`, signed with the PEM private
// key. INVALID_ARGUMENT for a key that is not an unencrypted EC (P-256,
// P-384, P-521) or Ed25519 private key; the folder's errors as
// HashModelFolder gives them.
absl::StatusOr<std::string> SignModelFolder(const std::filesystem::path& folder,
                                            std::string_view private_key_pem);

// The bundle for an in-toto statement already made (SignModelFolder makes
// the OMS "files" statement of a folder): the DSSE envelope over it signed
// with the PEM private key, errors as SignModelFolder's.
absl::StatusOr<std::string> SignStatement(std::string_view statement,
                                          std::string_view private_key_pem);

// SignModelFolder, written to folder/model.sig (replacing one already there).
absl::Status WriteModelSignature(const std::filesystem::path& folder,
                                 std::string_view private_key_pem);

struct Verification {
  // The bundle's signature verifies with the key: false when the bundle
  // was signed by another key or changed after signing (then `problem`
  // says which, and the manifest inside is not trusted, so `changes` is
  // empty).
  bool signature_valid = false;
  std::string problem;
  std::string model_name;   // The statement's subject name.
  size_t signed_files = 0;  // Files the manifest lists.
  std::vector<FileChange> changes;
  bool Passed() const { return signature_valid && changes.empty(); }
};

// Checks folder/model.sig with the PEM public key, then the folder's files
// against the signed manifest. NOT_FOUND when there is no model.sig;
// INVALID_ARGUMENT when it is not a well-formed OMS bundle or the key is
// not a supported public key; the folder's errors as HashModelFolder gives
// them.
absl::StatusOr<Verification> VerifyModelFolder(const std::filesystem::path& folder,
                                               std::string_view public_key_pem);

}  // namespace gauntlet::integrity

#endif  // GAUNTLET_INTEGRITY_MODEL_SIGNATURE_H_
