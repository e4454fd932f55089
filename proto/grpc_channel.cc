#include "proto/grpc_channel.h"

#include <grpcpp/security/tls_certificate_provider.h>
#include <grpcpp/security/tls_credentials_options.h>
#include <grpcpp/support/client_interceptor.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <sstream>

#include "common/command_line.h"
#include "common/strings.h"

namespace gauntlet {
namespace {

// How often watched certificate files are re-read.
constexpr unsigned kCertificateRefreshSeconds = 10;

absl::StatusOr<std::string> ReadToken(const std::string& path) {
  std::ifstream in(path);
  if (!in) return absl::InvalidArgumentError(StrCat("cannot read the token file ", path));
  std::stringstream text;
  text << in.rdbuf();
  std::string token = text.str();
  while (!token.empty() && std::isspace(static_cast<unsigned char>(token.back()))) token.pop_back();
  if (token.empty())
    return absl::InvalidArgumentError(StrCat("the token file ", path, " is empty"));
  return token;
}

absl::Status Readable(const std::string& path, std::string_view what) {
  if (path.empty() || access(path.c_str(), R_OK) == 0) return absl::OkStatus();
  return absl::InvalidArgumentError(StrCat("cannot read the ", what, " ", path));
}

// Adds the bearer token to every call's initial metadata. Call credentials
// would do the same over TLS, but gRPC refuses them on plaintext channels,
// and --insecure clusters authenticate too.
class TokenInterceptor : public grpc::experimental::Interceptor {
 public:
  explicit TokenInterceptor(const std::string& token) : header_(StrCat("Bearer ", token)) {}
  void Intercept(grpc::experimental::InterceptorBatchMethods* methods) override {
    if (methods->QueryInterceptionHookPoint(
            grpc::experimental::InterceptionHookPoints::PRE_SEND_INITIAL_METADATA))
      methods->GetSendInitialMetadata()->emplace("authorization", header_);
    methods->Proceed();
  }

 private:
  std::string header_;
};

class TokenInterceptorFactory : public grpc::experimental::ClientInterceptorFactoryInterface {
 public:
  explicit TokenInterceptorFactory(std::string token) : token_(std::move(token)) {}
  grpc::experimental::Interceptor* CreateClientInterceptor(
      grpc::experimental::ClientRpcInfo*) override {
    return new TokenInterceptor(token_);
  }

 private:
  std::string token_;
};

std::shared_ptr<grpc::ChannelCredentials> Credentials(const ChannelSecurity& security) {
  if (security.insecure) return grpc::InsecureChannelCredentials();
  grpc::experimental::TlsChannelCredentialsOptions options;
  if (!security.ca_file.empty() || !security.cert_file.empty()) {
    options.set_certificate_provider(
        std::make_shared<grpc::experimental::FileWatcherCertificateProvider>(
            security.key_file, security.cert_file, security.ca_file, kCertificateRefreshSeconds));
    if (!security.ca_file.empty()) options.watch_root_certs();
    if (!security.cert_file.empty()) options.watch_identity_key_cert_pairs();
  }
  return grpc::experimental::TlsCredentials(options);
}

}  // namespace

absl::StatusOr<ChannelSecurity> ChannelSecurity::FromEnvironment() {
  ChannelSecurity security;
  auto env = [](const char* name) {
    const char* value = std::getenv(name);
    return std::string(value ? value : "");
  };
  security.insecure = env("GAUNTLET_INSECURE") == "1";
  security.ca_file = env("GAUNTLET_TLS_CA");
  security.cert_file = env("GAUNTLET_TLS_CERT");
  security.key_file = env("GAUNTLET_TLS_KEY");
  security.token = env("GAUNTLET_TOKEN");
  if (security.token.empty() && !env("GAUNTLET_TOKEN_FILE").empty()) {
    auto token = ReadToken(env("GAUNTLET_TOKEN_FILE"));
    if (!token.ok()) return token.status();
    security.token = *token;
  }
  return security;
}

absl::Status ChannelSecurity::Validate() const {
  if (cert_file.empty() != key_file.empty())
    return absl::InvalidArgumentError("--tls-cert and --tls-key go together");
  for (auto [path, what] :
       {std::pair{&ca_file, "CA certificate"}, std::pair{&cert_file, "client certificate"},
        std::pair{&key_file, "client key"}})
    if (auto status = Readable(*path, what); !status.ok()) return status;
  return absl::OkStatus();
}

void AddChannelFlags(CLI::App& command, ChannelSecurity& security) {
  constexpr char kGroup[] = "Connection to the coordinator (TLS unless --insecure)";
  command
      .add_option("--tls-ca", security.ca_file,
                  "CA certificate(s) that signed the coordinator's (default: the system's "
                  "roots). Env: GAUNTLET_TLS_CA.")
      ->option_text("FILE")
      ->group(kGroup);
  command
      .add_option("--tls-cert", security.cert_file,
                  "Client certificate (workers' mTLS), with --tls-key. Env: GAUNTLET_TLS_CERT.")
      ->option_text("FILE")
      ->group(kGroup);
  command.add_option("--tls-key", security.key_file, "Its key. Env: GAUNTLET_TLS_KEY.")
      ->option_text("FILE")
      ->group(kGroup);
  command
      .add_option_function<std::string>(
          "--token-file",
          [&security](const std::string& path) {
            auto token = ReadToken(path);
            if (!token.ok())
              throw CLI::ValidationError("--token-file", std::string(token.status().message()));
            security.token = *token;
          },
          "Bearer token from `gauntlet-coordinator tokens create`. Env: GAUNTLET_TOKEN (the "
          "token) or GAUNTLET_TOKEN_FILE.")
      ->option_text("FILE")
      ->group(kGroup);
  command
      .add_flag("--insecure", security.insecure,
                "Plaintext gRPC, for a coordinator started with --insecure. Env: "
                "GAUNTLET_INSECURE=1.")
      ->group(kGroup);
}

std::shared_ptr<grpc::Channel> MakeChannel(const std::string& target,
                                           const ChannelSecurity& security) {
  grpc::ChannelArguments args;
  args.SetInt(GRPC_ARG_KEEPALIVE_TIME_MS, 30000);
  args.SetInt(GRPC_ARG_KEEPALIVE_TIMEOUT_MS, 10000);
  args.SetInt(GRPC_ARG_KEEPALIVE_PERMIT_WITHOUT_CALLS, 1);
  args.SetInt(GRPC_ARG_MAX_RECEIVE_MESSAGE_LENGTH, 16 << 20);
  // Reconnect quickly once the coordinator is back.
  args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 2000);
  std::vector<std::unique_ptr<grpc::experimental::ClientInterceptorFactoryInterface>> interceptors;
  if (!security.token.empty())
    interceptors.push_back(std::make_unique<TokenInterceptorFactory>(security.token));
  return grpc::experimental::CreateCustomChannelWithInterceptors(target, Credentials(security),
                                                                 args, std::move(interceptors));
}

absl::Status FromGrpc(const grpc::Status& status) {
  if (status.ok()) return absl::OkStatus();
  return absl::Status(static_cast<absl::StatusCode>(status.error_code()), status.error_message());
}

}  // namespace gauntlet
