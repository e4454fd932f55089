// Client-side gRPC plumbing shared by the worker and the CLI: channels with
// the project's keepalive settings (docs/operations.md) and status mapping.
#ifndef GAUNTLET_PROTO_GRPC_CHANNEL_H_
#define GAUNTLET_PROTO_GRPC_CHANNEL_H_

#include <grpcpp/grpcpp.h>

#include <memory>
#include <string>

#include "absl/status/status.h"

namespace gauntlet {

std::shared_ptr<grpc::Channel> MakeChannel(const std::string& target);
absl::Status FromGrpc(const grpc::Status& status);

}  // namespace gauntlet

#endif  // GAUNTLET_PROTO_GRPC_CHANNEL_H_
