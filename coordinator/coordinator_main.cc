// gauntlet-coordinator: the cluster's control plane. Serves ClientService and
// WorkerService over gRPC with TLS (health checking and reflection too),
// authenticates every call, keeps job state in SQLite, and exports
// Prometheus metrics. `gauntlet-coordinator tokens ...` and `cache drop`
// administer the same database.
#include <grpcpp/ext/proto_server_reflection_plugin.h>
#include <grpcpp/grpcpp.h>
#include <grpcpp/health_check_service_interface.h>
#include <grpcpp/security/tls_certificate_provider.h>
#include <grpcpp/security/tls_credentials_options.h>
#include <prometheus/exposer.h>
#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <ctime>
#include <filesystem>
#include <iostream>
#include <optional>

#include "common/arg_reader.h"
#include "common/strings.h"
#include "coordinator/audit_log.h"
#include "coordinator/authenticator.h"
#include "coordinator/coordinator.h"
#include "coordinator/grpc_services.h"
#include "coordinator/token_store.h"

namespace gauntlet {
namespace {

constexpr std::string_view kUsage = R"(usage: gauntlet-coordinator [options]
       gauntlet-coordinator tokens create --role admin|tenant|worker NAME|--tenant NAME [--db PATH]
       gauntlet-coordinator tokens list|revoke [ID] [--db PATH]
       gauntlet-coordinator cache drop --worker IDENTITY [--db PATH]

Serves the Gauntlet cluster API (gauntlet.v1) to clients and workers. Every
call needs a bearer token (or, for workers, a client certificate); create the
first admin token with `tokens create --role admin NAME` before starting.

  --listen HOST:PORT          gRPC address (default 127.0.0.1:7443; port 0 picks one).
  --tls-cert FILE --tls-key FILE
                              The server's certificate chain and key (PEM). Re-read when the
                              files change (checked every 10 s): rotate without a restart.
  --tls-client-ca FILE        Verify client certificates against this CA; a verified one
                              authenticates as a worker named by its common name.
  --insecure                  Serve plaintext gRPC instead of TLS (tokens are still required).
                              Only on a network you trust: logged as a warning at start.
  --audit-log PATH            Append one JSON line per submit, cancel and refused call
                              ("-": standard error, the default).
  --metrics-listen HOST:PORT  Prometheus /metrics (default 127.0.0.1:9464; port 0 picks one).
  --db PATH                   SQLite job store, WAL mode (default gauntlet-coordinator.db).
  --allow-root DIR            Workers may read job paths under DIR (repeatable; required
                              for path jobs, else only uploads are accepted).
  --blob-dir DIR              Content store for uploads (default: <db>.blobs).
  --lease-ttl-ms N            Lease time-to-live; workers heartbeat every TTL/3 (default 30000).
  --max-attempts N            Attempts before a task is dead-lettered (default 3).
  --tenant-queue-limit N      Unfinished tasks allowed per tenant (default 200000).
  --cache-salt TEXT           Change to forget every cached verdict.
  --no-verdict-cache          Scan every file even when its content was seen before.
  --job-retention DURATION    Delete finished jobs, their results and verdict cache entries
                              this long after they finished or were written (default 30d;
                              90s, 15m, 12h, 30d; 0 keeps them).
  --blob-retention DURATION   Delete uploads this long after upload unless an unfinished job
                              needs them (default 7d; 0 keeps them).
  --retention-interval DURATION
                              How often retention runs, in bounded batches (default 60s).
  --init-db                   Start even when --db is an empty file (or has a WAL but no
                              tables): refused by default, as it means lost jobs.
  --max-db-mb N               Cap the job store's size; past it writes fail UNAVAILABLE as on
                              a full disk, and resume once space is freed (default: no cap).
  --max-blob-mb N             Largest upload accepted (default 65536).
  --tenant-blob-quota-mb N    Uploaded bytes one tenant may hold (default 262144).
  --help                      This text.

Tokens: `tokens create` prints the new token once (it is stored hashed);
`tokens list` shows ids, roles, names and revocations; `tokens revoke ID`
takes effect on the next call. `cache drop --worker worker:NAME` (or
cert:CN) forgets the verdicts one worker identity wrote, for after a
compromise; revoke its token too.

Prints "listening on HOST:PORT" and "metrics on HOST:PORT" once serving.
SIGTERM or SIGINT: report NOT_SERVING to health checks, then shut down.
)";

// "90s", "15m", "12h", "30d" or plain seconds; "0" turns retention off.
std::optional<std::chrono::seconds> ParseDuration(std::string_view text) {
  int64_t unit = 1;
  if (!text.empty() && !std::isdigit(static_cast<unsigned char>(text.back()))) {
    switch (text.back()) {
      case 's':
        break;
      case 'm':
        unit = 60;
        break;
      case 'h':
        unit = 3600;
        break;
      case 'd':
        unit = 86400;
        break;
      default:
        return std::nullopt;
    }
    text.remove_suffix(1);
  }
  auto number = ParseInt<int64_t>(text);
  if (!number || *number < 0) return std::nullopt;
  return std::chrono::seconds(*number * unit);
}

int UsageError(const std::string& message) {
  std::cerr << "gauntlet-coordinator: " << message << "\n(see --help)\n";
  return 2;
}

std::string FormatTime(double unix_seconds) {
  if (unix_seconds <= 0) return "-";
  std::time_t time = static_cast<std::time_t>(unix_seconds);
  char text[32];
  std::strftime(text, sizeof text, "%Y-%m-%dT%H:%M:%SZ", std::gmtime(&time));
  return text;
}

// `tokens ...` and `cache drop`: administration on the database file, run on
// the coordinator's host (the running coordinator sees changes at once).
int Administer(const std::vector<std::string>& words) {
  std::string db = "gauntlet-coordinator.db", role_name = "tenant", worker, audit_path = "-";
  std::vector<std::string> positional;
  ArgReader args(words);
  while (args.Next()) {
    const std::string& arg = args.arg();
    if (arg == "--db") {
      if (!args.Value(db)) return UsageError("--db needs a path");
    } else if (arg == "--role") {
      if (!args.Value(role_name)) return UsageError("--role needs admin, tenant or worker");
    } else if (arg == "--worker") {
      if (!args.Value(worker)) return UsageError("--worker needs an identity");
    } else if (arg == "--tenant" || arg == "--name") {
      // `tokens create --tenant T` (or --name for a worker pool) names the
      // token's subject as the positional NAME does.
      std::string name;
      if (!args.Value(name)) return UsageError(StrCat(arg, " needs a name"));
      positional.push_back(name);
    } else if (arg == "--audit-log") {
      if (!args.Value(audit_path)) return UsageError("--audit-log needs a path");
    } else if (!arg.empty() && arg.front() == '-') {
      return UsageError(StrCat("unknown argument '", arg, "'"));
    } else {
      positional.push_back(arg);
    }
  }
  auto audit = AuditLog::Open(audit_path);
  if (!audit.ok()) return UsageError(std::string(audit.status().message()));
  const std::string command =
      StrCat(positional.at(0), " ", positional.size() > 1 ? positional[1] : "");
  auto fail = [](const absl::Status& status) {
    std::cerr << "gauntlet-coordinator: " << status.message() << "\n";
    return absl::IsInvalidArgument(status) || absl::IsNotFound(status) ? 2 : 1;
  };
  if (command == "cache drop") {
    if (worker.empty()) return UsageError("cache drop needs --worker worker:NAME or cert:CN");
    auto dropped = Coordinator::DropCacheEntries(db, worker);
    if (!dropped.ok()) return fail(dropped.status());
    (*audit)->Record(
        {.action = "cache_drop", .identity = worker, .detail = StrCat(*dropped, " entries")});
    std::cout << "dropped " << *dropped << " verdict cache entries written by " << worker << "\n";
    return 0;
  }
  auto tokens = TokenStore::Open(db);
  if (!tokens.ok()) return fail(tokens.status());
  if (command == "tokens create") {
    if (positional.size() != 3) return UsageError("tokens create needs one NAME");
    auto role = ParseRole(role_name);
    if (!role.ok()) return UsageError(std::string(role.status().message()));
    auto created = (*tokens)->Create(*role, positional[2]);
    if (!created.ok()) return fail(created.status());
    const TokenInfo& info = created->second;
    (*audit)->Record({.action = "token_create",
                      .tenant = *role == Role::kWorker ? "" : info.subject,
                      .role = std::string(RoleName(*role)),
                      .identity = StrCat(RoleName(*role), ":", info.subject),
                      .detail = StrCat("token ", info.id)});
    std::cerr << "created " << RoleName(*role) << " token " << info.id << " for " << info.subject
              << "; it is shown once, store it now\n";
    std::cout << created->first << "\n";
    return 0;
  }
  if (command == "tokens list") {
    auto listed = (*tokens)->List();
    if (!listed.ok()) return fail(listed.status());
    std::cout << "ID                ROLE    NAME                CREATED               REVOKED\n";
    for (const TokenInfo& info : *listed) {
      std::cout << info.id << "  " << RoleName(info.role)
                << std::string(8 - RoleName(info.role).size(), ' ') << info.subject
                << std::string(info.subject.size() < 20 ? 20 - info.subject.size() : 1, ' ')
                << FormatTime(info.created_unix_seconds) << "  "
                << FormatTime(info.revoked_unix_seconds) << "\n";
    }
    return 0;
  }
  if (command == "tokens revoke") {
    if (positional.size() != 3) return UsageError("tokens revoke needs one token ID");
    auto revoked = (*tokens)->Revoke(positional[2]);
    if (!revoked.ok()) return fail(revoked.status());
    (*audit)->Record({.action = "token_revoke",
                      .role = std::string(RoleName(revoked->role)),
                      .identity = StrCat(RoleName(revoked->role), ":", revoked->subject),
                      .detail = StrCat("token ", revoked->id)});
    std::cout << "revoked token " << revoked->id << " (" << RoleName(revoked->role) << " "
              << revoked->subject << ")\n";
    return 0;
  }
  return UsageError(StrCat("unknown command '", command, "'"));
}

std::shared_ptr<grpc::ServerCredentials> TlsCredentials(const std::string& cert,
                                                        const std::string& key,
                                                        const std::string& client_ca) {
  auto provider = std::make_shared<grpc::experimental::FileWatcherCertificateProvider>(
      key, cert, client_ca, /*refresh_interval_sec=*/10);
  grpc::experimental::TlsServerCredentialsOptions options(provider);
  options.watch_identity_key_cert_pairs();
  if (!client_ca.empty()) {
    options.watch_root_certs();
    // Clients (people, CI) have no certificates; workers may present one.
    options.set_cert_request_type(GRPC_SSL_REQUEST_CLIENT_CERTIFICATE_AND_VERIFY);
  } else {
    options.set_cert_request_type(GRPC_SSL_DONT_REQUEST_CLIENT_CERTIFICATE);
  }
  return grpc::experimental::TlsServerCredentials(options);
}

int Run(int argc, char** argv) {
  if (argc > 1 && (std::string_view(argv[1]) == "tokens" || std::string_view(argv[1]) == "cache"))
    return Administer({argv + 1, argv + argc});

  // Block the shutdown signals before any thread starts, so that every
  // thread inherits the mask and only sigwait() below sees them.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  signal(SIGPIPE, SIG_IGN);

  CoordinatorOptions options;
  std::string listen = "127.0.0.1:7443", metrics_listen = "127.0.0.1:9464";
  std::string db = "gauntlet-coordinator.db", blob_dir;
  std::string tls_cert, tls_key, tls_client_ca, audit_path = "-";
  bool insecure = false;
  ArgReader args({argv + 1, argv + argc});
  while (args.Next()) {
    const std::string& arg = args.arg();
    std::string text;
    int64_t n = 0;
    if (arg == "--help" || arg == "-h") {
      std::cout << kUsage;
      return 0;
    } else if (arg == "--listen") {
      if (!args.Value(listen)) return UsageError("--listen needs HOST:PORT");
    } else if (arg == "--metrics-listen") {
      if (!args.Value(metrics_listen)) return UsageError("--metrics-listen needs HOST:PORT");
    } else if (arg == "--db") {
      if (!args.Value(db)) return UsageError("--db needs a path");
    } else if (arg == "--blob-dir") {
      if (!args.Value(blob_dir)) return UsageError("--blob-dir needs a directory");
    } else if (arg == "--allow-root") {
      if (!args.Value(text)) return UsageError("--allow-root needs a directory");
      std::error_code error;
      auto root = std::filesystem::canonical(text, error);
      if (error || !std::filesystem::is_directory(root))
        return UsageError(StrCat("--allow-root ", text, ": not a directory"));
      options.allow_roots.push_back(root.string());
    } else if (arg == "--lease-ttl-ms") {
      if (!args.PositiveNumber(n)) return UsageError("--lease-ttl-ms needs a positive number");
      options.lease_ttl = std::chrono::milliseconds(n);
      options.lease_grace = std::chrono::milliseconds(std::max<int64_t>(n / 10, 100));
    } else if (arg == "--max-attempts") {
      if (!args.PositiveNumber(n)) return UsageError("--max-attempts needs a positive number");
      options.max_attempts = static_cast<uint32_t>(n);
    } else if (arg == "--tenant-queue-limit") {
      if (!args.PositiveNumber(n))
        return UsageError("--tenant-queue-limit needs a positive number");
      options.tenant_queue_limit = static_cast<uint64_t>(n);
    } else if (arg == "--cache-salt") {
      if (!args.Value(options.cache_salt)) return UsageError("--cache-salt needs text");
    } else if (arg == "--no-verdict-cache") {
      options.verdict_cache = false;
    } else if (arg == "--tls-cert") {
      if (!args.Value(tls_cert)) return UsageError("--tls-cert needs a file");
    } else if (arg == "--tls-key") {
      if (!args.Value(tls_key)) return UsageError("--tls-key needs a file");
    } else if (arg == "--tls-client-ca") {
      if (!args.Value(tls_client_ca)) return UsageError("--tls-client-ca needs a file");
    } else if (arg == "--insecure") {
      insecure = true;
    } else if (arg == "--audit-log") {
      if (!args.Value(audit_path)) return UsageError("--audit-log needs a path");
    } else if (arg == "--job-retention" || arg == "--blob-retention" ||
               arg == "--retention-interval") {
      std::optional<std::chrono::seconds> duration;
      if (args.Value(text)) duration = ParseDuration(text);
      if (!duration) return UsageError(StrCat(arg, " needs a duration such as 90s, 12h or 30d"));
      if (arg == "--job-retention") options.job_retention = *duration;
      if (arg == "--blob-retention") options.blob_retention = *duration;
      if (arg == "--retention-interval")
        options.retention_interval =
            std::max(std::chrono::milliseconds(100), std::chrono::milliseconds(*duration));
    } else if (arg == "--init-db") {
      options.initialize_store = true;
    } else if (arg == "--max-db-mb") {
      if (!args.PositiveNumber(n)) return UsageError("--max-db-mb needs a positive number");
      options.max_store_bytes = static_cast<uint64_t>(n) << 20;
    } else if (arg == "--max-blob-mb") {
      if (!args.PositiveNumber(n)) return UsageError("--max-blob-mb needs a positive number");
      options.max_blob_bytes = static_cast<uint64_t>(n) << 20;
    } else if (arg == "--tenant-blob-quota-mb") {
      if (!args.PositiveNumber(n))
        return UsageError("--tenant-blob-quota-mb needs a positive number");
      options.tenant_blob_quota = static_cast<uint64_t>(n) << 20;
    } else {
      return UsageError(StrCat("unknown argument '", arg, "'"));
    }
  }
  if (insecure == !tls_cert.empty() || tls_cert.empty() != tls_key.empty())
    return UsageError(
        "serve TLS with --tls-cert FILE --tls-key FILE, or plaintext with --insecure (one of "
        "them)");
  if (insecure && !tls_client_ca.empty())
    return UsageError("--tls-client-ca needs TLS; drop --insecure");
  for (const std::string* file : {&tls_cert, &tls_key, &tls_client_ca})
    if (!file->empty() && access(file->c_str(), R_OK) != 0)
      return UsageError(StrCat("cannot read ", *file));
  if (options.allow_roots.empty()) options.allow_roots.push_back("/nonexistent-root");
  options.db_path = db;
  options.blob_directory = blob_dir.empty() ? db + ".blobs" : blob_dir;

  auto coordinator = Coordinator::Open(options);
  if (!coordinator.ok()) {
    std::cerr << "gauntlet-coordinator: " << coordinator.status().message() << "\n";
    return 1;
  }
  auto audit = AuditLog::Open(audit_path);
  if (!audit.ok()) return UsageError(std::string(audit.status().message()));
  auto tokens = TokenStore::Open(db);
  if (!tokens.ok()) {
    std::cerr << "gauntlet-coordinator: " << tokens.status().message() << "\n";
    return 1;
  }
  if (auto empty = (*tokens)->Empty(); empty.ok() && *empty)
    std::cerr << "gauntlet-coordinator: no valid tokens in " << db
              << ": every call will be refused; create one with `gauntlet-coordinator tokens "
                 "create --role admin NAME --db "
              << db << "`\n";
  Authenticator authenticator(**tokens, **audit, (*coordinator)->metrics(), !tls_client_ca.empty());

  std::unique_ptr<prometheus::Exposer> exposer;
  try {
    exposer = std::make_unique<prometheus::Exposer>(metrics_listen);
  } catch (const std::exception& e) {
    std::cerr << "gauntlet-coordinator: cannot serve metrics on " << metrics_listen << ": "
              << e.what() << "\n";
    return 1;
  }
  exposer->RegisterCollectable((*coordinator)->metrics().registry());

  grpc::EnableDefaultHealthCheckService(true);
  grpc::reflection::InitProtoReflectionServerBuilderPlugin();
  ClientServiceImpl client_service(**coordinator, authenticator);
  WorkerServiceImpl worker_service(**coordinator, authenticator);
  grpc::ServerBuilder builder;
  int port = 0;
  if (insecure)
    std::cerr << "gauntlet-coordinator: WARNING: serving plaintext gRPC (--insecure): tokens, "
                 "files' names and verdicts cross the network unencrypted and can be read or "
                 "altered by anyone on the path. Use --tls-cert/--tls-key outside a trusted "
                 "network.\n";
  builder.AddListeningPort(listen,
                           insecure ? grpc::InsecureServerCredentials()
                                    : TlsCredentials(tls_cert, tls_key, tls_client_ca),
                           &port);
  builder.RegisterService(&client_service);
  builder.RegisterService(&worker_service);
  // Clients ping every 30 s even without calls (docs/operations.md); accept that.
  builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_TIME_MS, 30000);
  builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_TIMEOUT_MS, 10000);
  builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_PERMIT_WITHOUT_CALLS, 1);
  builder.AddChannelArgument(GRPC_ARG_HTTP2_MIN_RECV_PING_INTERVAL_WITHOUT_DATA_MS, 10000);
  builder.AddChannelArgument(GRPC_ARG_HTTP2_MAX_PING_STRIKES, 0);
  builder.SetMaxReceiveMessageSize(16 << 20);
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  if (!server || port == 0) {
    std::cerr << "gauntlet-coordinator: cannot listen on " << listen << "\n";
    return 1;
  }
  std::string host = listen.substr(0, listen.rfind(':'));
  std::cout << "listening on " << host << ":" << port << "\n";
  auto metrics_ports = exposer->GetListeningPorts();
  std::cout << "metrics on " << metrics_listen.substr(0, metrics_listen.rfind(':')) << ":"
            << (metrics_ports.empty() ? 0 : metrics_ports.front()) << std::endl;

  int signal_number = 0;
  sigwait(&signals, &signal_number);
  std::cerr << "gauntlet-coordinator: shutting down\n";
  server->GetHealthCheckService()->SetServingStatus(false);
  server->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(5));
  return 0;
}

}  // namespace
}  // namespace gauntlet

int main(int argc, char** argv) { return gauntlet::Run(argc, argv); }
