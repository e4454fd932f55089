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
#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <ctime>
#include <filesystem>
#include <iostream>
#include <optional>

#include "common/command_line.h"
#include "common/log.h"
#include "common/metrics_endpoint.h"
#include "common/shutdown_signals.h"
#include "common/strings.h"
#include "coordinator/audit_log.h"
#include "coordinator/authenticator.h"
#include "coordinator/coordinator.h"
#include "coordinator/grpc_server_metrics.h"
#include "coordinator/grpc_services.h"
#include "coordinator/token_store.h"

namespace gauntlet {
namespace {

constexpr char kDescription[] =
    "Serves the Gauntlet cluster API (gauntlet.v1) to clients and workers. Every call needs a "
    "bearer token (or, for workers, a client certificate); create the first admin token with "
    "`tokens create --role admin NAME` before starting.";

constexpr char kFooter[] = R"(
Prints "listening on HOST:PORT" and "metrics on HOST:PORT" once serving.
SIGTERM or SIGINT: report NOT_SERVING to health checks, then shut down.)";

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

// A failure after the command line was read: the message alone, exit 2.
int Fail(const std::string& message) {
  std::cerr << "gauntlet-coordinator: " << message << "\n";
  return kUsageExitCode;
}

// A --job-retention style flag: a duration such as 90s, 15m, 12h or 30d.
CLI::Validator Duration() {
  return Checked([](const std::string& text) {
    return ParseDuration(text)
               ? std::string()
               : StrCat("needs a duration such as 90s, 12h or 30d, not '", text, "'");
  });
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
struct AdminRequest {
  std::string db = "gauntlet-coordinator.db", audit_path = "-";
  std::string role = "tenant", name, token_id, worker;
};

// Declares the administration commands; the one parsed runs through Administer.
void AddAdminCommands(CLI::App& app, AdminRequest& r) {
  auto common = [&r](CLI::App& command) {
    command
        .add_option("--db", r.db,
                    "The coordinator's SQLite store (default gauntlet-coordinator.db).")
        ->option_text("PATH");
    command.add_option("--audit-log", r.audit_path, "Where the audit line goes (\"-\": stderr).")
        ->option_text("PATH");
  };
  CLI::App* tokens = app.add_subcommand("tokens", "Bearer tokens: create, list, revoke.");
  tokens->require_subcommand(1);
  CLI::App* create =
      tokens->add_subcommand("create", "Create a token and print it once (it is stored hashed).");
  create->add_option("--role", r.role, "admin, tenant (the default) or worker.")
      ->check(CLI::IsMember({"admin", "tenant", "worker"}));
  // `--tenant T` (or --name for a worker pool) names the token's subject as
  // the positional NAME does.
  auto* name = create->add_option("NAME", r.name, "The tenant, admin or worker pool.");
  create->add_option("--tenant,--name", r.name, "The same as NAME.")->excludes(name);
  common(*create);
  CLI::App* list = tokens->add_subcommand("list", "Ids, roles, names and revocations.");
  common(*list);
  CLI::App* revoke =
      tokens->add_subcommand("revoke", "Revoke a token: refused from the next call.");
  revoke->add_option("ID", r.token_id, "The token's id (tokens list).")->required();
  common(*revoke);
  CLI::App* cache = app.add_subcommand("cache", "The verdict cache.");
  cache->require_subcommand(1);
  CLI::App* drop = cache->add_subcommand(
      "drop",
      "Forget the verdicts one worker identity wrote, after a compromise (revoke its token too).");
  drop->add_option("--worker", r.worker, "The identity: worker:NAME or cert:CN.")
      ->required()
      ->check(NonEmpty());
  common(*drop);
}

int Administer(const std::string& command, const AdminRequest& r) {
  auto audit = AuditLog::Open(r.audit_path);
  if (!audit.ok()) return Fail(std::string(audit.status().message()));
  auto fail = [](const absl::Status& status) {
    std::cerr << "gauntlet-coordinator: " << status.message() << "\n";
    return absl::IsInvalidArgument(status) || absl::IsNotFound(status) ? 2 : 1;
  };
  if (command == "cache drop") {
    auto dropped = Coordinator::DropCacheEntries(r.db, r.worker);
    if (!dropped.ok()) return fail(dropped.status());
    (*audit)->Record(
        {.action = "cache_drop", .identity = r.worker, .detail = StrCat(*dropped, " entries")});
    std::cout << "dropped " << *dropped << " verdict cache entries written by " << r.worker << "\n";
    return 0;
  }
  auto tokens = TokenStore::Open(r.db);
  if (!tokens.ok()) return fail(tokens.status());
  if (command == "tokens create") {
    if (r.name.empty()) return Fail("tokens create needs one NAME");
    auto role = ParseRole(r.role);
    if (!role.ok()) return Fail(std::string(role.status().message()));
    auto created = (*tokens)->Create(*role, r.name);
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
  // tokens revoke
  auto revoked = (*tokens)->Revoke(r.token_id);
  if (!revoked.ok()) return fail(revoked.status());
  (*audit)->Record({.action = "token_revoke",
                    .role = std::string(RoleName(revoked->role)),
                    .identity = StrCat(RoleName(revoked->role), ":", revoked->subject),
                    .detail = StrCat("token ", revoked->id)});
  std::cout << "revoked token " << revoked->id << " (" << RoleName(revoked->role) << " "
            << revoked->subject << ")\n";
  return 0;
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
  std::unique_ptr<CLI::App> owner = MakeApp(kDescription, "gauntlet-coordinator");
  CLI::App& app = *owner;
  CoordinatorOptions options;
  std::string listen = "127.0.0.1:7443", metrics_listen = "127.0.0.1:9464";
  std::string db = "gauntlet-coordinator.db", blob_dir;
  std::string tls_cert, tls_key, tls_client_ca, audit_path = "-";
  bool insecure = false;
  std::vector<std::string> allow_roots;
  int64_t lease_ttl_ms = 0, max_db_mb = 0, max_blob_mb = 0, tenant_blob_quota_mb = 0;
  std::string job_retention, blob_retention, retention_interval;

  app.add_option("--listen", listen, "gRPC address (default 127.0.0.1:7443; port 0 picks one).")
      ->option_text("HOST:PORT");
  app.add_option("--metrics-listen", metrics_listen,
                 "Prometheus /metrics (default 127.0.0.1:9464; port 0 picks one).")
      ->option_text("HOST:PORT");
  app.add_option("--db", db, "SQLite job store, WAL mode (default gauntlet-coordinator.db).")
      ->option_text("PATH");
  app.add_option("--allow-root", allow_roots,
                 "Workers may read job paths under DIR (repeatable; required for path jobs, "
                 "else only uploads are accepted).")
      ->option_text("DIR")
      ->allow_extra_args(false)
      ->check(CLI::ExistingDirectory);
  app.add_option("--blob-dir", blob_dir, "Content store for uploads (default: <db>.blobs).")
      ->option_text("DIR");
  app.add_option("--lease-ttl-ms", lease_ttl_ms,
                 "Lease time-to-live; workers heartbeat every TTL/3 (default 30000).")
      ->check(PositiveWholeNumber());
  app.add_option("--max-attempts", options.max_attempts,
                 "Attempts before a task is dead-lettered (default 3).")
      ->check(PositiveWholeNumber());
  app.add_option("--tenant-queue-limit", options.tenant_queue_limit,
                 "Unfinished tasks allowed per tenant (default 200000).")
      ->check(PositiveWholeNumber());
  app.add_option("--cache-salt", options.cache_salt, "Change to forget every cached verdict.");
  bool no_verdict_cache = false;
  app.add_flag("--no-verdict-cache", no_verdict_cache,
               "Scan every file even when its content was seen before.");
  app.add_option("--job-retention", job_retention,
                 "Delete finished jobs, their results and verdict cache entries this long after "
                 "they finished or were written (default 30d; 90s, 15m, 12h, 30d; 0 keeps them).")
      ->option_text("DURATION")
      ->check(Duration());
  app.add_option("--blob-retention", blob_retention,
                 "Delete uploads this long after upload unless an unfinished job needs them "
                 "(default 7d; 0 keeps them).")
      ->option_text("DURATION")
      ->check(Duration());
  app.add_option("--retention-interval", retention_interval,
                 "How often retention runs, in bounded batches (default 60s).")
      ->option_text("DURATION")
      ->check(Duration());
  app.add_flag("--init-db", options.initialize_store,
               "Start even when --db is an empty file (or has a WAL but no tables): refused by "
               "default, as it means lost jobs.");
  app.add_option("--max-db-mb", max_db_mb,
                 "Cap the job store's size; past it writes fail UNAVAILABLE as on a full disk, "
                 "and resume once space is freed (default: no cap).")
      ->check(PositiveWholeNumber());
  app.add_option("--max-blob-mb", max_blob_mb, "Largest upload accepted (default 65536).")
      ->check(PositiveWholeNumber());
  app.add_option("--tenant-blob-quota-mb", tenant_blob_quota_mb,
                 "Uploaded bytes one tenant may hold (default 262144).")
      ->check(PositiveWholeNumber());
  app.add_option("--metrics-tenants", options.metrics_tenants.capacity,
                 "Tenants whose metrics get a tenant label of their own; the rest share "
                 "tenant=\"other\" (default 50). An idle tenant's series go after 15 minutes.")
      ->check(PositiveWholeNumber());
  app.add_option("--audit-log", audit_path,
                 "Append one JSON line per submit, cancel and refused call (\"-\": standard "
                 "error, the default).")
      ->option_text("PATH");
  constexpr char kTls[] = "Transport security (TLS, or --insecure)";
  app.add_option("--tls-cert", tls_cert,
                 "The server's certificate chain (PEM), with --tls-key. Re-read when the files "
                 "change (checked every 10 s): rotate without a restart.")
      ->option_text("FILE")
      ->check(CLI::ExistingFile)
      ->group(kTls);
  app.add_option("--tls-key", tls_key, "Its private key (PEM).")
      ->option_text("FILE")
      ->check(CLI::ExistingFile)
      ->group(kTls);
  app.add_option("--tls-client-ca", tls_client_ca,
                 "Verify client certificates against this CA; a verified one authenticates as a "
                 "worker named by its common name.")
      ->option_text("FILE")
      ->check(CLI::ExistingFile)
      ->group(kTls);
  app.add_flag("--insecure", insecure,
               "Serve plaintext gRPC instead of TLS (tokens are still required). Only on a "
               "network you trust: logged as a warning at start.")
      ->group(kTls);
  LogLevel log_level = LogLevel::kInfo;
  AddLogLevelFlag(app, log_level);
  AdminRequest admin;
  AddAdminCommands(app, admin);
  app.footer(kFooter);
  if (auto exit_code = ParseCommandLine(app, argc, argv)) return *exit_code;
  if (CLI::App* command = ChosenCommand(app); command != &app)
    return Administer(StrCat(command->get_parent()->get_name(), " ", command->get_name()), admin);

  InstallShutdownSignals();
  StartLogging("coordinator", log_level);

  for (const std::string& root : allow_roots)
    options.allow_roots.push_back(std::filesystem::canonical(root).string());
  if (lease_ttl_ms) {
    options.lease_ttl = std::chrono::milliseconds(lease_ttl_ms);
    options.lease_grace = std::chrono::milliseconds(std::max<int64_t>(lease_ttl_ms / 10, 100));
  }
  options.verdict_cache = !no_verdict_cache;
  if (!job_retention.empty()) options.job_retention = *ParseDuration(job_retention);
  if (!blob_retention.empty()) options.blob_retention = *ParseDuration(blob_retention);
  if (!retention_interval.empty())
    options.retention_interval =
        std::max(std::chrono::milliseconds(100),
                 std::chrono::milliseconds(*ParseDuration(retention_interval)));
  if (max_db_mb) options.max_store_bytes = static_cast<uint64_t>(max_db_mb) << 20;
  if (max_blob_mb) options.max_blob_bytes = static_cast<uint64_t>(max_blob_mb) << 20;
  if (tenant_blob_quota_mb)
    options.tenant_blob_quota = static_cast<uint64_t>(tenant_blob_quota_mb) << 20;
  auto UsageError = [&](std::string_view message) { return gauntlet::UsageError(app, message); };
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
    Log(LogLevel::kWarning, "no_tokens",
        {{"db", db},
         {"message", StrCat("every call will be refused; create a token with "
                            "`gauntlet-coordinator tokens create --role admin NAME --db ",
                            db, "`")}});
  Authenticator authenticator(**tokens, **audit, (*coordinator)->metrics(), !tls_client_ca.empty());

  auto endpoint = MetricsEndpoint::Start(metrics_listen, {(*coordinator)->metrics().registry()});
  if (!endpoint.ok()) {
    std::cerr << "gauntlet-coordinator: " << endpoint.status().message() << "\n";
    return 1;
  }

  grpc::EnableDefaultHealthCheckService(true);
  grpc::reflection::InitProtoReflectionServerBuilderPlugin();
  ClientServiceImpl client_service(**coordinator, authenticator);
  WorkerServiceImpl worker_service(**coordinator, authenticator);
  grpc::ServerBuilder builder;
  int port = 0;
  if (insecure)
    Log(LogLevel::kWarning, "plaintext_grpc",
        {{"message",
          "serving plaintext gRPC (--insecure): tokens, files' names and verdicts cross the "
          "network unencrypted and can be read or altered by anyone on the path. Use "
          "--tls-cert/--tls-key outside a trusted network."}});
  builder.AddListeningPort(listen,
                           insecure ? grpc::InsecureServerCredentials()
                                    : TlsCredentials(tls_cert, tls_key, tls_client_ca),
                           &port);
  builder.RegisterService(&client_service);
  builder.RegisterService(&worker_service);
  std::vector<std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface>> interceptors;
  interceptors.push_back(
      std::make_unique<GrpcServerMetrics>(*(*coordinator)->metrics().registry()));
  builder.experimental().SetInterceptorCreators(std::move(interceptors));
  // Clients ping every 30 s even without calls (docs/operations.md); accept that.
  builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_TIME_MS, 30000);
  builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_TIMEOUT_MS, 10000);
  builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_PERMIT_WITHOUT_CALLS, 1);
  builder.AddChannelArgument(GRPC_ARG_HTTP2_MIN_RECV_PING_INTERVAL_WITHOUT_DATA_MS, 10000);
  builder.AddChannelArgument(GRPC_ARG_HTTP2_MAX_PING_STRIKES, 0);
  builder.SetMaxReceiveMessageSize(16 << 20);
  // gRPC sets SO_REUSEPORT by default: a second coordinator started on the
  // same port would share its connections with the first, each seeing half
  // the jobs and workers. Refuse the port instead.
  builder.AddChannelArgument(GRPC_ARG_ALLOW_REUSEPORT, 0);
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  if (!server || port == 0) {
    std::cerr << "gauntlet-coordinator: cannot listen on " << listen << "\n";
    return 1;
  }
  std::string host = listen.substr(0, listen.rfind(':'));
  std::cout << "listening on " << host << ":" << port << "\n";
  std::cout << "metrics on " << metrics_listen.substr(0, metrics_listen.rfind(':')) << ":"
            << (*endpoint)->port() << std::endl;
  Log(LogLevel::kInfo, "started",
      {{"version", GAUNTLET_VERSION},
       {"listen", StrCat(host, ":", port)},
       {"metrics",
        StrCat(metrics_listen.substr(0, metrics_listen.rfind(':')), ":", (*endpoint)->port())},
       {"transport", insecure                ? "plaintext"
                     : tls_client_ca.empty() ? "tls"
                                             : "tls+client-certs"},
       {"db", db},
       {"allow_roots", StrJoin(allow_roots, ",")},
       {"lease_ttl_ms", static_cast<int64_t>(options.lease_ttl.count())},
       {"max_attempts", static_cast<uint64_t>(options.max_attempts)},
       {"tenant_queue_limit", options.tenant_queue_limit},
       {"verdict_cache", options.verdict_cache},
       {"job_retention_s", static_cast<int64_t>(options.job_retention.count())},
       {"max_db_mb", options.max_store_bytes >> 20}});

  int signal_number = WaitForShutdownSignal();
  Log(LogLevel::kInfo, "shutting_down", {{"signal", static_cast<int64_t>(signal_number)}});
  server->GetHealthCheckService()->SetServingStatus(false);
  server->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(5));
  return 0;
}

}  // namespace
}  // namespace gauntlet

int main(int argc, char** argv) { return gauntlet::Run(argc, argv); }
