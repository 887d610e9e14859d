// vebd as a process: flags, the startup config file, the unix socket (mode
// 0600, directory created), grpc.health.v1 and server reflection, /metrics,
// SIGTERM shutdown, persistence across restarts and a corrupt state file set
// aside. Uses --fake_interfaces (no root, no real interfaces).
#include <arpa/inet.h>
#include <dirent.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "gmock/gmock.h"
#include "grpcpp/generic/generic_stub.h"
#include "grpcpp/grpcpp.h"
#include "gtest/gtest.h"
#include "proto/grpc/health/v1/health.grpc.pb.h"
#include "proto/veb/v1/switch.grpc.pb.h"

namespace {

using ::testing::HasSubstr;

std::string VebdPath() {
  const char* srcdir = getenv("TEST_SRCDIR");
  return std::string(srcdir ? srcdir : ".") + "/veb/server/vebd";
}

int FreeTcpPort() {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
  socklen_t len = sizeof a;
  getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  close(fd);
  return ntohs(a.sin_port);
}

std::string HttpGet(int port, const std::string& path) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
    close(fd);
    return "";
  }
  const std::string req = "GET " + path + " HTTP/1.0\r\nHost: localhost\r\n\r\n";
  (void)!write(fd, req.data(), req.size());
  std::string out;
  char buf[4096];
  ssize_t n;
  while ((n = read(fd, buf, sizeof buf)) > 0) out.append(buf, n);
  close(fd);
  return out;
}

// Runs vebd with `args` until it exits (at most 20 s); its exit status and
// stderr.
std::pair<int, std::string> RunToExit(std::vector<std::string> args) {
  int fds[2];
  if (pipe(fds) != 0) return {-1, "pipe failed"};
  args.insert(args.begin(), VebdPath());
  const pid_t pid = fork();
  if (pid == 0) {
    dup2(fds[1], 2);
    close(fds[0]);
    std::vector<char*> argv;
    for (std::string& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    alarm(20);
    execv(argv[0], argv.data());
    _exit(127);
  }
  close(fds[1]);
  std::string err;
  char buf[4096];
  ssize_t n;
  while ((n = read(fds[0], buf, sizeof buf)) > 0) err.append(buf, n);
  close(fds[0]);
  int status = 0;
  waitpid(pid, &status, 0);
  return {status, err};
}

std::string ReadAll(const std::string& path) {
  std::ifstream in(path);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

class VebdTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/vebd.XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    socket_ = dir_ + "/run/veb/vebd.sock";  // run/veb does not exist yet
    state_ = dir_ + "/lib/state.json";
    metrics_port_ = FreeTcpPort();
  }
  void TearDown() override {
    if (pid_ > 0) {
      kill(pid_, SIGKILL);
      waitpid(pid_, nullptr, 0);
    }
    (void)!system(("rm -rf " + dir_).c_str());
  }

  void Start(std::vector<std::string> extra = {}) {
    std::vector<std::string> args = {
        VebdPath(), "--listen=unix://" + socket_, "--state_file=" + state_,
        "--metrics_address=127.0.0.1:" + std::to_string(metrics_port_),
        "--workers=1", "--fake_interfaces=eth1,eth2"};
    args.insert(args.end(), extra.begin(), extra.end());
    pid_ = fork();
    ASSERT_GE(pid_, 0);
    if (pid_ == 0) {
      std::vector<char*> argv;
      for (std::string& a : args) argv.push_back(a.data());
      argv.push_back(nullptr);
      execv(argv[0], argv.data());
      _exit(127);
    }
    // A private subchannel pool: never reuse a connection to a previous vebd.
    grpc::ChannelArguments channel_args;
    channel_args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
    channel_ = grpc::CreateCustomChannel("unix://" + socket_,
                                         grpc::InsecureChannelCredentials(), channel_args);
    ASSERT_TRUE(channel_->WaitForConnected(std::chrono::system_clock::now() +
                                           std::chrono::seconds(20)))
        << "vebd did not start";
    stub_ = veb::v1::Switch::NewStub(channel_);
  }

  // SIGTERM; returns the exit status.
  int Stop() {
    kill(pid_, SIGTERM);
    int status = 0;
    waitpid(pid_, &status, 0);
    pid_ = -1;
    return status;
  }

  template <typename Req, typename Resp>
  grpc::Status Call(grpc::Status (veb::v1::Switch::Stub::*method)(grpc::ClientContext*,
                                                                  const Req&, Resp*),
                    const Req& req, Resp* resp) {
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
    ctx.set_wait_for_ready(true);
    return (stub_.get()->*method)(&ctx, req, resp);
  }

  std::string dir_, socket_, state_;
  int metrics_port_ = 0;
  pid_t pid_ = -1;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<veb::v1::Switch::Stub> stub_;
};

// Lists services through grpc.reflection.v1alpha (raw bytes: no reflection
// .proto is available to the build).
std::string ReflectionListServices(grpc::Channel* channel) {
  grpc::GenericStub generic(channel->shared_from_this());
  grpc::CompletionQueue cq;
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
  auto call = generic.PrepareCall(
      &ctx, "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo", &cq);
  void* tag;
  bool ok;
  auto wait = [&] { return cq.Next(&tag, &ok) && ok; };
  call->StartCall(reinterpret_cast<void*>(1));
  if (!wait()) return "";
  const std::string req("\x3a\x01*", 3);  // list_services: "*"
  grpc::Slice slice(req);
  grpc::ByteBuffer buffer(&slice, 1);
  call->Write(buffer, reinterpret_cast<void*>(2));
  if (!wait()) return "";
  grpc::ByteBuffer resp;
  call->Read(&resp, reinterpret_cast<void*>(3));
  if (!wait()) return "";
  call->WritesDone(reinterpret_cast<void*>(4));
  wait();
  grpc::Status status;
  call->Finish(&status, reinterpret_cast<void*>(5));
  wait();
  std::vector<grpc::Slice> slices;
  (void)resp.Dump(&slices);
  std::string out;
  for (const grpc::Slice& s : slices) out.append(reinterpret_cast<const char*>(s.begin()), s.size());
  cq.Shutdown();
  while (cq.Next(&tag, &ok)) {
  }
  return out;
}

TEST_F(VebdTest, ServesPersistsAndShutsDown) {
  const std::string config = dir_ + "/config.json";
  std::ofstream(config) << R"({"bridges": [{"name": "veb0", "settings": {"maxAddresses": 500}}]})";
  Start({"--config=" + config});

  struct stat st;
  ASSERT_EQ(stat(socket_.c_str(), &st), 0);
  EXPECT_TRUE(S_ISSOCK(st.st_mode));
  EXPECT_EQ(st.st_mode & 0777, 0600u);

  // Health.
  auto health = grpc::health::v1::Health::NewStub(channel_);
  grpc::ClientContext hctx;
  grpc::health::v1::HealthCheckRequest hreq;
  grpc::health::v1::HealthCheckResponse hresp;
  ASSERT_TRUE(health->Check(&hctx, hreq, &hresp).ok());
  EXPECT_EQ(hresp.status(), grpc::health::v1::HealthCheckResponse::SERVING);

  // Reflection.
  const std::string services = ReflectionListServices(channel_.get());
  EXPECT_THAT(services, HasSubstr("veb.v1.Switch"));
  EXPECT_THAT(services, HasSubstr("grpc.health.v1.Health"));

  // The startup file's bridge, then a port.
  veb::v1::GetBridgeRequest gb;
  gb.set_name("veb0");
  veb::v1::GetBridgeResponse gbr;
  ASSERT_TRUE(Call(&veb::v1::Switch::Stub::GetBridge, gb, &gbr).ok());
  EXPECT_EQ(gbr.bridge().max_addresses(), 500u);
  veb::v1::AddPortRequest ap;
  ap.set_bridge("veb0");
  ap.set_name("eth1");
  veb::v1::AddPortResponse apr;
  ASSERT_TRUE(Call(&veb::v1::Switch::Stub::AddPort, ap, &apr).ok());
  ap.set_name("eth7");
  grpc::Status missing = Call(&veb::v1::Switch::Stub::AddPort, ap, &apr);
  EXPECT_EQ(missing.error_code(), grpc::NOT_FOUND);
  EXPECT_EQ(missing.error_message(), "port \"eth7\": add: no such interface");

  // Metrics.
  const std::string metrics = HttpGet(metrics_port_, "/metrics");
  EXPECT_THAT(metrics, HasSubstr("veb_ports{bridge=\"veb0\"} 1"));
  EXPECT_THAT(metrics, HasSubstr("veb_addresses_max{bridge=\"veb0\"} 500"));
  EXPECT_THAT(metrics, HasSubstr("veb_build_info{version="));

  // A WatchEvents stream ends with UNAVAILABLE on SIGTERM.
  grpc::ClientContext wctx;
  auto watch = stub_->WatchEvents(&wctx, veb::v1::WatchEventsRequest());
  veb::v1::WatchEventsResponse ev;
  ASSERT_TRUE(watch->Read(&ev));
  EXPECT_EQ(ev.event().type(), veb::v1::EVENT_TYPE_WATCH_STARTED);

  const int status = Stop();
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << status;
  while (watch->Read(&ev)) {
  }
  EXPECT_EQ(watch->Finish().error_code(), grpc::UNAVAILABLE);
  EXPECT_NE(access(socket_.c_str(), F_OK), 0);  // socket removed

  // Restart without the startup file: everything comes back from the state.
  Start();
  veb::v1::GetPortRequest gp;
  gp.set_bridge("veb0");
  gp.set_name("eth1");
  veb::v1::GetPortResponse gpr;
  ASSERT_TRUE(Call(&veb::v1::Switch::Stub::GetPort, gp, &gpr).ok());
  ASSERT_TRUE(Call(&veb::v1::Switch::Stub::GetBridge, gb, &gbr).ok());
  EXPECT_EQ(gbr.bridge().max_addresses(), 500u);

  // kill -9, corrupt state: vebd refuses to start (never empty and
  // SERVING), leaves the file as it was and keeps a copy.
  kill(pid_, SIGKILL);
  waitpid(pid_, nullptr, 0);
  pid_ = -1;
  std::ofstream(state_) << "{ not json";
  auto [bad_status, err] = RunToExit({"--listen=unix://" + socket_, "--state_file=" + state_,
                                      "--metrics_address=", "--workers=1",
                                      "--fake_interfaces=eth1,eth2"});
  EXPECT_TRUE(WIFEXITED(bad_status) && WEXITSTATUS(bad_status) == 1) << bad_status;
  EXPECT_NE(err.find("state file " + state_ + ": cannot be used"), std::string::npos) << err;
  std::ifstream kept(state_);
  EXPECT_EQ(std::string(std::istreambuf_iterator<char>(kept), {}), "{ not json");
  bool aside = false;
  DIR* d = opendir((dir_ + "/lib").c_str());
  while (dirent* e = readdir(d)) aside |= std::string(e->d_name).find("state.json.bad-") == 0;
  closedir(d);
  EXPECT_TRUE(aside);
}

TEST_F(VebdTest, TcpWithTlsRequiresAClientCertificate) {
  const std::string d = dir_ + "/";
  const std::string gen =
      "cd " + d + " && "
      "openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=localhost "
      "-addext subjectAltName=DNS:localhost,IP:127.0.0.1 -keyout key.pem -out cert.pem && "
      "openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=veb-test-ca "
      "-keyout ca.key -out ca.pem && "
      "openssl req -newkey rsa:2048 -nodes -subj /CN=operator -keyout client.key "
      "-out client.csr && "
      "openssl x509 -req -in client.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 1 "
      "-out client.pem) >/dev/null 2>&1";
  ASSERT_EQ(system(("(" + gen).c_str()), 0) << "openssl failed (scripts/setup.sh installs it)";
  const int port = FreeTcpPort();
  pid_ = fork();
  ASSERT_GE(pid_, 0);
  if (pid_ == 0) {
    std::vector<std::string> args = {
        VebdPath(), "--listen=127.0.0.1:" + std::to_string(port), "--tls_cert=" + d + "cert.pem",
        "--tls_key=" + d + "key.pem", "--tls_client_ca=" + d + "ca.pem", "--state_file=",
        "--metrics_address=", "--workers=1"};
    std::vector<char*> argv;
    for (std::string& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    execv(argv[0], argv.data());
    _exit(127);
  }
  grpc::ChannelArguments channel_args;
  channel_args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
  grpc::SslCredentialsOptions ssl;
  ssl.pem_root_certs = ReadAll(d + "cert.pem");
  ssl.pem_private_key = ReadAll(d + "client.key");
  ssl.pem_cert_chain = ReadAll(d + "client.pem");
  auto channel = grpc::CreateCustomChannel("localhost:" + std::to_string(port),
                                           grpc::SslCredentials(ssl), channel_args);
  ASSERT_TRUE(channel->WaitForConnected(std::chrono::system_clock::now() +
                                        std::chrono::seconds(20)));
  grpc::ClientContext ctx;
  veb::v1::CreateBridgeRequest req;
  req.set_name("veb0");
  veb::v1::CreateBridgeResponse resp;
  EXPECT_TRUE(veb::v1::Switch::NewStub(channel)->CreateBridge(&ctx, req, &resp).ok());

  // TLS without a client certificate, and plaintext, get nowhere.
  grpc::SslCredentialsOptions anonymous;
  anonymous.pem_root_certs = ssl.pem_root_certs;
  for (const auto& creds : {grpc::SslCredentials(anonymous), grpc::InsecureChannelCredentials()}) {
    auto other = grpc::CreateCustomChannel("localhost:" + std::to_string(port), creds,
                                           channel_args);
    grpc::ClientContext octx;
    octx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(2));
    veb::v1::ListBridgesResponse lresp;
    EXPECT_FALSE(veb::v1::Switch::NewStub(other)
                     ->ListBridges(&octx, veb::v1::ListBridgesRequest(), &lresp)
                     .ok());
  }
  const int status = Stop();
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << status;

  // Without a client CA a TCP listener is refused unless explicitly asked
  // for, and then vebd warns.
  const std::string tcp = "--listen=127.0.0.1:" + std::to_string(FreeTcpPort());
  auto [refused, why] = RunToExit({tcp, "--tls_cert=" + d + "cert.pem",
                                   "--tls_key=" + d + "key.pem", "--state_file=",
                                   "--metrics_address="});
  EXPECT_TRUE(WIFEXITED(refused) && WEXITSTATUS(refused) == 2) << refused;
  EXPECT_NE(why.find("TCP requires --tls_client_ca"), std::string::npos) << why;
}

TEST_F(VebdTest, TcpWithoutClientAuthOnlyWhenAskedAndWarned) {
  const std::string d = dir_ + "/";
  ASSERT_EQ(system(("openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=localhost "
                    "-addext subjectAltName=DNS:localhost,IP:127.0.0.1 -keyout " + d +
                    "key.pem -out " + d + "cert.pem >/dev/null 2>&1")
                       .c_str()),
            0);
  const int port = FreeTcpPort();
  int fds[2];
  ASSERT_EQ(pipe(fds), 0);
  pid_ = fork();
  ASSERT_GE(pid_, 0);
  if (pid_ == 0) {
    dup2(fds[1], 2);
    std::vector<std::string> args = {
        VebdPath(), "--listen=127.0.0.1:" + std::to_string(port), "--tls_cert=" + d + "cert.pem",
        "--tls_key=" + d + "key.pem", "--tls_no_client_auth", "--state_file=",
        "--metrics_address=", "--workers=1"};
    std::vector<char*> argv;
    for (std::string& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    execv(argv[0], argv.data());
    _exit(127);
  }
  close(fds[1]);
  grpc::SslCredentialsOptions ssl;
  ssl.pem_root_certs = ReadAll(d + "cert.pem");
  grpc::ChannelArguments channel_args;
  channel_args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
  auto channel = grpc::CreateCustomChannel("localhost:" + std::to_string(port),
                                           grpc::SslCredentials(ssl), channel_args);
  ASSERT_TRUE(channel->WaitForConnected(std::chrono::system_clock::now() +
                                        std::chrono::seconds(20)));
  Stop();
  std::string err;
  char buf[4096];
  ssize_t n;
  while ((n = read(fds[0], buf, sizeof buf)) > 0) err.append(buf, n);
  close(fds[0]);
  EXPECT_NE(err.find("WARNING: --tls_no_client_auth"), std::string::npos) << err;
}

TEST_F(VebdTest, OneAgentPerSocketAndStateFile) {
  Start();
  // A second vebd on the same socket and state exits at once, naming the
  // holder, and leaves the first one's socket alone.
  auto [status, err] = RunToExit({"--listen=unix://" + socket_, "--state_file=" + state_,
                                  "--metrics_address=", "--workers=1",
                                  "--fake_interfaces=eth1"});
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 1) << status;
  EXPECT_NE(err.find("in use by another vebd (pid " + std::to_string(pid_) + ")"),
            std::string::npos)
      << err;
  // Same state file, another socket: refused too.
  auto [status2, err2] =
      RunToExit({"--listen=unix://" + dir_ + "/other.sock", "--state_file=" + state_,
                 "--metrics_address=", "--workers=1"});
  EXPECT_TRUE(WIFEXITED(status2) && WEXITSTATUS(status2) == 1) << status2;
  EXPECT_NE(err2.find(state_ + ": in use by another vebd"), std::string::npos) << err2;
  veb::v1::ListBridgesResponse resp;
  EXPECT_TRUE(Call(&veb::v1::Switch::Stub::ListBridges, veb::v1::ListBridgesRequest(), &resp)
                  .ok());
  // After kill -9 the lock is gone with the process: a restart works at once.
  kill(pid_, SIGKILL);
  waitpid(pid_, nullptr, 0);
  pid_ = -1;
  Start();
  EXPECT_TRUE(Call(&veb::v1::Switch::Stub::ListBridges, veb::v1::ListBridgesRequest(), &resp)
                  .ok());
}

TEST_F(VebdTest, TcpWithoutTlsIsRefused) {
  pid_ = fork();
  ASSERT_GE(pid_, 0);
  if (pid_ == 0) {
    std::string bin = VebdPath();
    std::string listen = "--listen=127.0.0.1:0";
    std::string state = "--state_file=";
    std::string metrics = "--metrics_address=";
    char* argv[] = {bin.data(), listen.data(), state.data(), metrics.data(), nullptr};
    execv(argv[0], argv);
    _exit(127);
  }
  int status = 0;
  waitpid(pid_, &status, 0);
  pid_ = -1;
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 2) << status;
}

TEST_F(VebdTest, WorkerPriorityOutOfRangeIsRefused) {
  for (const char* bad : {"--worker_priority=100", "--worker_priority=-1"}) {
    pid_ = fork();
    ASSERT_GE(pid_, 0);
    if (pid_ == 0) {
      std::string bin = VebdPath();
      std::string flag = bad;
      std::string listen = "--listen=unix:///nonexistent/vebd.sock";
      std::string state = "--state_file=";
      char* argv[] = {bin.data(), flag.data(), listen.data(), state.data(), nullptr};
      execv(argv[0], argv);
      _exit(127);
    }
    int status = 0;
    waitpid(pid_, &status, 0);
    pid_ = -1;
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 2) << bad << ": " << status;
  }
}

// A state file whose bridge cannot be made here (the kernel engine, in an
// agent without it: fake interfaces) stops vebd with the reason and is kept
// byte for byte: the bridge is not silently dropped from the state.
TEST_F(VebdTest, BridgeThatCannotBeRestoredStopsVebdAndKeepsTheState) {
  ASSERT_EQ(system(("mkdir -p " + dir_ + "/lib").c_str()), 0);
  const std::string saved =
      R"({"version":1,"bridges":[{"name":"veb0","engine":"ENGINE_KERNEL"}],)"
      R"("ports":[{"bridge":"veb0","name":"eth1"}]})";
  {
    std::ofstream(state_) << saved;
  }
  auto [status, err] = RunToExit({"--listen=unix://" + dir_ + "/vebd.sock",
                                  "--state_file=" + state_, "--metrics_address=",
                                  "--fake_interfaces=eth1"});
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 1) << status << ": " << err;
  EXPECT_NE(err.find("restore: bridge \"veb0\": create: the kernel engine is not available"),
            std::string::npos)
      << err;
  EXPECT_NE(err.find("the state file is kept as it is"), std::string::npos) << err;
  EXPECT_EQ(ReadAll(state_), saved);
}

}  // namespace
