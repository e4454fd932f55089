// Client-side gRPC plumbing shared by the worker and the CLI: channels with
// the project's keepalive settings (docs/operations.md), the transport
// security a client asks for, and status mapping.
//
// A channel is TLS unless the user says --insecure: the coordinator's
// certificate is checked against --tls-ca (or the system's roots); a worker
// may present a client certificate (--tls-cert/--tls-key, mTLS). Files are
// watched and re-read when they change, so rotated certificates are picked
// up without a restart. A bearer token (--token-file or GAUNTLET_TOKEN) goes
// in the `authorization` metadata of every call.
#ifndef GAUNTLET_PROTO_GRPC_CHANNEL_H_
#define GAUNTLET_PROTO_GRPC_CHANNEL_H_

#include <grpcpp/grpcpp.h>

#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace CLI {
class App;
}

namespace gauntlet {

struct ChannelSecurity {
  bool insecure = false;            // Plaintext: only on a network the user trusts.
  std::string ca_file;              // Roots for the coordinator's certificate; empty: the system's.
  std::string cert_file, key_file;  // Client certificate (workers' mTLS).
  std::string token;                // Bearer token; empty: none sent.

  // GAUNTLET_TOKEN (or GAUNTLET_TOKEN_FILE), GAUNTLET_TLS_CA, GAUNTLET_TLS_CERT,
  // GAUNTLET_TLS_KEY and GAUNTLET_INSECURE=1; flags read later override them.
  static absl::StatusOr<ChannelSecurity> FromEnvironment();
  // Every file named exists and the certificate comes with its key.
  absl::Status Validate() const;
};

// Declares --insecure, --tls-ca FILE, --tls-cert FILE, --tls-key FILE and
// --token-file FILE on `command` (their own group in --help), read into
// `security` over what FromEnvironment found; an unreadable token file is a
// usage error.
void AddChannelFlags(CLI::App& command, ChannelSecurity& security);

std::shared_ptr<grpc::Channel> MakeChannel(const std::string& target,
                                           const ChannelSecurity& security);
absl::Status FromGrpc(const grpc::Status& status);

}  // namespace gauntlet

#endif  // GAUNTLET_PROTO_GRPC_CHANNEL_H_
