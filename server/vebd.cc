// vebd: the veb agent (docs/design.md §6). Owns bridges and their ports, serves
// veb.v1.Switch (+ server reflection and grpc.health.v1.Health) on a unix
// socket (mode 0600) or, when asked, TCP with TLS; exports Prometheus metrics
// on --metrics_address; persists its configuration to --state_file; expires
// MAC entries every second. SIGTERM/SIGINT: health NOT_SERVING, watch streams
// end (UNAVAILABLE), RPCs drain (5 s), interfaces are left as they are.
//
// Port backends: the Linux ones (AF_PACKET, AF_XDP, TAP over a worker pool)
// unless --fake_interfaces names in-memory test interfaces instead (FakePort:
// nothing is received, frames sent are discarded).
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <iostream>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/synchronization/notification.h"
#include "absl/time/time.h"
#include "grpcpp/ext/proto_server_reflection_plugin.h"
#include "grpcpp/grpcpp.h"
#include "grpcpp/health_check_service_interface.h"
#include "prometheus/exposer.h"
#include "server/agent.h"
#include "server/fake_port_opener.h"
#include "server/instance_lock.h"
#include "server/metrics.h"
#include "server/peer_refresher.h"
#include "server/peer_source.h"
#include "server/port_opener.h"
#include "dataplane/ebpf/kernel_bridge.h"
#include "server/linux_port_opener.h"
#include "dataplane/linux/link_monitor.h"
#include "dataplane/linux/worker.h"
// Linked so reflection can describe grpc.health.v1 (grpcurl health checks).
#include "proto/grpc/health/v1/health.pb.h"
#include "server/state_store.h"
#include "server/switch_service.h"
#include "server/workers.h"

ABSL_FLAG(std::string, listen, "unix:///run/veb/vebd.sock",
          "gRPC listener: unix://<absolute path> (socket mode 0600, directory "
          "created), or host:port for TCP, which requires --tls_cert and --tls_key");
ABSL_FLAG(std::string, tls_cert, "", "PEM server certificate (TCP listener)");
ABSL_FLAG(std::string, tls_key, "", "PEM server private key (TCP listener)");
ABSL_FLAG(std::string, tls_client_ca, "",
          "PEM CA bundle: TCP clients must present a certificate it signed "
          "(required for a TCP listener unless --tls_no_client_auth)");
ABSL_FLAG(bool, tls_no_client_auth, false,
          "DANGEROUS: a TCP listener accepts any client that completes TLS "
          "(full control of the switch); without it --tls_client_ca is required");
ABSL_FLAG(std::string, metrics_address, "0.0.0.0:9464",
          "host:port of the Prometheus /metrics endpoint; empty disables it");
ABSL_FLAG(int, workers, 0, "dataplane worker threads, 1..256; 0 = one per CPU");
ABSL_FLAG(int, worker_priority, 0,
          "run the workers under SCHED_FIFO at this priority, 1..99 (lower latency; "
          "needs CAP_SYS_NICE); 0 = the normal scheduler");
ABSL_FLAG(std::string, config, "",
          "optional JSON startup file (veb.server.AgentConfig, e.g. "
          "{\"bridges\":[{\"name\":\"veb0\"}]}); existing bridges are kept");
ABSL_FLAG(std::string, state_file, "/var/lib/veb/state.json",
          "where the configuration is persisted (atomic rewrite on every "
          "change) and restored from at start; empty disables persistence");
ABSL_FLAG(std::string, bpf_pin_root, "/sys/fs/bpf/veb",
          "kernel engine: each kernel bridge's programs and maps are pinned in "
          "<dir>/<bridge>/ (bpffs, mounted at /sys/fs/bpf when missing), so they "
          "outlive vebd and a restarted vebd adopts them");
ABSL_FLAG(std::string, tunnel_peers, "",
          "tunnel vports' peers from a source, kept in step (docs/design.md §14): "
          "';'-separated VPORT=dns:NAME (A and AAAA through the system resolver, "
          "e.g. a headless Service), VPORT=file:/PATH (one address per line, '#' "
          "comments) or VPORT=static:IP,IP; the node's own addresses are left out "
          "and peers added by hand are never removed");
ABSL_FLAG(absl::Duration, tunnel_peers_refresh, absl::Seconds(10),
          "how often --tunnel_peers sources are resolved, 100ms..1h");
ABSL_FLAG(std::vector<std::string>, fake_interfaces, {},
          "TESTING ONLY: in-memory interfaces AddPort may use (no real I/O)");

namespace {

using veb::server::Agent;

void Log(const std::string& msg) { std::cerr << "vebd: " << msg << std::endl; }

bool MakeDirs(const std::string& dir) {
  std::string path;
  for (absl::string_view part : absl::StrSplit(dir, '/', absl::SkipEmpty())) {
    path += "/";
    path.append(part.data(), part.size());
    if (mkdir(path.c_str(), 0755) != 0 && errno != EEXIST) return false;
  }
  return true;
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

}  // namespace

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage("vebd: the veb userspace Ethernet switch agent");
  absl::ParseCommandLine(argc, argv);

  // Signals are taken synchronously by the main thread (sigwait); every
  // thread started below inherits the blocked mask.
  sigset_t sigs;
  sigemptyset(&sigs);
  sigaddset(&sigs, SIGTERM);
  sigaddset(&sigs, SIGINT);
  pthread_sigmask(SIG_BLOCK, &sigs, nullptr);
  signal(SIGPIPE, SIG_IGN);

  absl::StatusOr<int> resolved = veb::server::ResolveWorkerCount(
      absl::GetFlag(FLAGS_workers), std::thread::hardware_concurrency());
  if (!resolved.ok()) {
    Log(std::string(resolved.status().message()));
    return 2;
  }
  const int workers = *resolved;
  if (const int p = absl::GetFlag(FLAGS_worker_priority); p < 0 || p > 99) {
    Log("--worker_priority out of range 0..99");
    return 2;
  }

  absl::StatusOr<std::vector<veb::server::PeerSourceSpec>> peer_sources =
      veb::server::ParsePeerSources(absl::GetFlag(FLAGS_tunnel_peers));
  if (!peer_sources.ok()) {
    Log(std::string(peer_sources.status().message()));
    return 2;
  }
  const absl::Duration refresh = absl::GetFlag(FLAGS_tunnel_peers_refresh);
  if (refresh < absl::Milliseconds(100) || refresh > absl::Hours(1)) {
    Log(absl::StrCat("--tunnel_peers_refresh ", absl::FormatDuration(refresh),
                     ": out of range 100ms..1h"));
    return 2;
  }

  // The listener, checked before anything else is touched.
  const std::string listen = absl::GetFlag(FLAGS_listen);
  std::shared_ptr<grpc::ServerCredentials> creds;
  std::string socket_path;
  if (absl::StartsWith(listen, "unix:")) {
    socket_path = listen.substr(absl::StartsWith(listen, "unix://") ? 7 : 5);
    if (socket_path.empty() || socket_path[0] != '/' || socket_path.size() >= 108) {
      Log("--listen: unix socket path must be absolute and shorter than 108 bytes");
      return 2;
    }
    if (!MakeDirs(socket_path.substr(0, socket_path.rfind('/')))) {
      Log("cannot create the socket directory: " + std::string(std::strerror(errno)));
      return 1;
    }
    creds = grpc::InsecureServerCredentials();
  } else {
    if (absl::GetFlag(FLAGS_tls_cert).empty() || absl::GetFlag(FLAGS_tls_key).empty()) {
      Log("--listen " + listen + ": TCP requires --tls_cert and --tls_key");
      return 2;
    }
    const bool no_client_auth = absl::GetFlag(FLAGS_tls_no_client_auth);
    if (absl::GetFlag(FLAGS_tls_client_ca).empty() && !no_client_auth) {
      Log("--listen " + listen + ": TCP requires --tls_client_ca (clients prove who they "
          "are with a certificate); --tls_no_client_auth accepts any client");
      return 2;
    }
    if (no_client_auth) {
      Log("WARNING: --tls_no_client_auth: any client that reaches " + listen +
          " controls the switch");
    }
    grpc::SslServerCredentialsOptions ssl(
        no_client_auth ? GRPC_SSL_DONT_REQUEST_CLIENT_CERTIFICATE
                       : GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY);
    ssl.pem_root_certs = ReadFile(absl::GetFlag(FLAGS_tls_client_ca));
    ssl.pem_key_cert_pairs.push_back(
        {ReadFile(absl::GetFlag(FLAGS_tls_key)), ReadFile(absl::GetFlag(FLAGS_tls_cert))});
    creds = grpc::SslServerCredentials(ssl);
  }

  // One vebd per socket and per state file: locked before the socket is
  // replaced or any state or interface is touched.
  std::vector<veb::server::InstanceLock> locks;
  std::vector<std::string> lock_paths;
  if (!absl::GetFlag(FLAGS_state_file).empty()) {
    const std::string& path = absl::GetFlag(FLAGS_state_file);
    if (path.rfind('/') != std::string::npos && path.rfind('/') > 0) {
      MakeDirs(path.substr(0, path.rfind('/')));
    }
    lock_paths.push_back(path);
  }
  if (!socket_path.empty()) lock_paths.push_back(socket_path);
  for (const std::string& path : lock_paths) {
    absl::StatusOr<veb::server::InstanceLock> lock = veb::server::InstanceLock::Acquire(path);
    if (!lock.ok()) {
      Log(std::string(lock.status().message()));
      return 1;
    }
    locks.push_back(*std::move(lock));
  }
  if (!socket_path.empty()) unlink(socket_path.c_str());  // a stale socket of a previous run

  veb::server::LinuxPortOpener* linux_opener = nullptr;
  std::unique_ptr<veb::server::PortOpener> opener;
  if (!absl::GetFlag(FLAGS_fake_interfaces).empty()) {
    auto fake = std::make_unique<veb::server::FakePortOpener>();
    for (const std::string& name : absl::GetFlag(FLAGS_fake_interfaces)) {
      fake->AddInterface(name);
    }
    Log("using in-memory fake interfaces (testing only)");
    opener = std::move(fake);
  } else {
    // Real interfaces: AF_PACKET/TAP ports read by the worker pool, which
    // is created with the agent's QSBR domain below, before any port opens.
    linux_opener = new veb::server::LinuxPortOpener();
    opener.reset(linux_opener);
  }

  std::unique_ptr<veb::server::StateStore> store;
  if (!absl::GetFlag(FLAGS_state_file).empty()) {
    store = std::make_unique<veb::server::StateStore>(absl::GetFlag(FLAGS_state_file));
  }

  veb::server::AgentOptions options;
  options.opener = opener.get();
  options.num_workers = workers;
  if (linux_opener != nullptr) {
    veb::ebpf::KernelBridgeOptions kernel;
    kernel.pin_root = absl::GetFlag(FLAGS_bpf_pin_root);
    options.make_kernel_bridge = [kernel](const std::string& name,
                                          const veb::BridgeConfig& config)
        -> absl::StatusOr<std::unique_ptr<veb::BridgeEngine>> {
      auto bridge = veb::ebpf::KernelBridge::Create(name, config, kernel);
      if (!bridge.ok()) return bridge.status();
      Log(absl::StrCat("bridge \"", name, "\": kernel engine: ", (*bridge)->load_note()));
      return std::unique_ptr<veb::BridgeEngine>(std::move(*bridge));
    };
  } else {
    options.kernel_engine_unavailable = "fake interfaces (--fake_interfaces) have no kernel";
  }
  if (store) {
    veb::server::StateStore* s = store.get();
    options.persist = [s](const veb::server::AgentConfig& config) {
      absl::Status st = s->Save(config);
      if (!st.ok()) Log(std::string(st.message()));
      return st;
    };
  }
  // Keep grpc.health.v1's descriptor in the binary for reflection.
  (void)grpc::health::v1::HealthCheckRequest::descriptor();
  Agent agent(std::move(options));
  // Declared after the agent, so it stops (its workers leave the agent's QSBR
  // domain) before the agent and its bridges go; the monitor stops first.
  // Ports a worker found dead (interface gone under it), handled by the
  // control thread below: a worker must not remove ports itself.
  absl::Mutex gone_mu;
  std::vector<std::pair<std::string, uint32_t>> gone;  // name, ifindex
  std::shared_ptr<veb::WorkerPool> pool;
  std::unique_ptr<veb::LinkMonitor> monitor;
  if (linux_opener != nullptr) {
    auto on_dead = [&](veb::LinuxPort* port) {
      absl::MutexLock lock(&gone_mu);
      gone.emplace_back(port->name(), static_cast<uint32_t>(port->ifindex()));
    };
    auto created = veb::WorkerPool::Create(&agent.qsbr(), workers, on_dead,
                                           absl::GetFlag(FLAGS_worker_priority));
    if (!created.ok()) {
      Log(absl::StrCat("workers: ", created.status().message()));
      return 1;
    }
    pool = *std::move(created);
    linux_opener->set_pool(pool);
    // S1 and S12 from the kernel: carrier changes and removed interfaces.
    monitor = std::make_unique<veb::LinkMonitor>([&agent](const veb::LinkEvent& ev) {
      if (ev.deleted) {
        agent.OnInterfaceGone(ev.name, static_cast<uint32_t>(ev.ifindex));
      } else {
        agent.OnLinkChange(ev.name, ev.running, ev.mtu);
      }
    });
    if (absl::Status s = monitor->Start(); !s.ok()) {
      Log(absl::StrCat("link monitor: ", s.message()));
      return 1;
    }
  }

  // Restore, then the startup file.
  if (store) {
    absl::StatusOr<veb::server::StateStore::Loaded> loaded = store->Load();
    if (!loaded.ok()) {
      Log(std::string(loaded.status().message()));
      return 1;
    }
    std::vector<std::string> problems;
    absl::Status restored = agent.Apply(loaded->config, &problems);
    for (const std::string& p : problems) Log("restore: " + p);
    if (!restored.ok()) {
      Log(absl::StrCat("restore: ", restored.message(), "; the state file is kept as it is"));
      return 1;
    }
  }
  if (!absl::GetFlag(FLAGS_config).empty()) {
    absl::StatusOr<veb::server::AgentConfig> config =
        veb::server::ReadConfigFile(absl::GetFlag(FLAGS_config));
    if (!config.ok()) {
      Log(std::string(config.status().message()));
      return 2;
    }
    std::vector<std::string> problems;
    absl::Status applied = agent.Apply(*config, &problems);
    for (const std::string& p : problems) Log("config: " + p);
    if (!applied.ok()) {
      Log(absl::StrCat("config: ", applied.message()));
      return 1;
    }
  }

  grpc::EnableDefaultHealthCheckService(true);
  grpc::reflection::InitProtoReflectionServerBuilderPlugin();
  veb::server::SwitchService service(&agent);
  grpc::ServerBuilder builder;
  builder.AddListeningPort(listen, creds);
  builder.RegisterService(&service);
  builder.SetMaxReceiveMessageSize(4 << 20);  // oversized requests are refused
  const mode_t old_umask = umask(0077);  // the socket is created 0600
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  umask(old_umask);
  if (server == nullptr) {
    Log("cannot listen on " + listen);
    return 1;
  }
  if (!socket_path.empty()) chmod(socket_path.c_str(), 0600);
  server->GetHealthCheckService()->SetServingStatus(true);

  // Tunnel peers from their sources: resolved at once, then every period.
  veb::server::PeerRefresher peers(&agent, *std::move(peer_sources), refresh, Log);
  peers.Start();

  // Metrics.
  std::unique_ptr<prometheus::Exposer> exposer;
  auto collector = std::make_shared<veb::server::AgentCollector>(&agent);
  auto peer_collector = std::make_shared<veb::server::PeerSourceCollector>(&peers);
  if (!absl::GetFlag(FLAGS_metrics_address).empty()) {
    try {
      exposer = std::make_unique<prometheus::Exposer>(absl::GetFlag(FLAGS_metrics_address));
      exposer->RegisterCollectable(collector);
      if (!absl::GetFlag(FLAGS_tunnel_peers).empty()) exposer->RegisterCollectable(peer_collector);
    } catch (const std::exception& e) {
      Log("--metrics_address " + absl::GetFlag(FLAGS_metrics_address) + ": " + e.what());
      return 1;
    }
  }

  // Control thread: dead ports every 100 ms, MAC expiry and vport sweep
  // every second.
  absl::Notification stop;
  bool saves_failing = false;
  std::thread sweeper([&] {
    for (int tick = 1; !stop.WaitForNotificationWithTimeout(absl::Milliseconds(100)); ++tick) {
      std::vector<std::pair<std::string, uint32_t>> dead;
      {
        absl::MutexLock lock(&gone_mu);
        dead.swap(gone);
      }
      for (const auto& [name, ifindex] : dead) agent.OnInterfaceGone(name, ifindex);
      if (tick % 10 == 0) agent.Sweep();
      // Not serving while the configuration cannot be saved (changes are
      // refused then); serving again after the next successful save.
      const bool failing = agent.saves_failing();
      if (failing != saves_failing) {
        saves_failing = failing;
        server->GetHealthCheckService()->SetServingStatus(!failing);
        Log(failing ? "state file cannot be written: health NOT_SERVING"
                    : "state file written again: health SERVING");
      }
    }
  });

  Log("serving on " + listen + (exposer ? ", metrics on " + absl::GetFlag(FLAGS_metrics_address) : ""));

  int sig = 0;
  sigwait(&sigs, &sig);
  Log(std::string("signal ") + strsignal(sig) + ": shutting down");
  stop.Notify();
  sweeper.join();
  peers.Stop();
  server->GetHealthCheckService()->SetServingStatus(false);
  agent.Shutdown();  // ends WatchEvents streams
  server->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(5));
  server->Wait();
  if (monitor) monitor->Stop();
  exposer.reset();
  if (!socket_path.empty()) unlink(socket_path.c_str());
  Log("stopped; interfaces left as they are");
  return 0;
}
