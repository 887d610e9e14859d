// The fixture of the veb.v1.Switch end-to-end tests (server/*_test.cc in
// //server:switch_service_test): a real gRPC server on a unix socket in a
// fresh /tmp directory, called through the generated stub; ports are
// FakePorts and traffic is injected with Bridge::Input. Also the watch
// stream reader and the vport fixture (a pod network namespace file).
//
// Thread-safety: one test at a time; EventReader is used by one thread.
#ifndef VEB_SERVER_SWITCH_SERVICE_TEST_UTIL_H_
#define VEB_SERVER_SWITCH_SERVICE_TEST_UTIL_H_

#include <stdlib.h>
#include <unistd.h>

#include <atomic>
#include <fstream>
#include <memory>
#include <string>
#include <thread>

#include "dataplane/bridge.h"
#include "dataplane/fake_port.h"
#include "dataplane/test_frames.h"
#include "gmock/gmock.h"
#include "google/protobuf/util/message_differencer.h"
#include "grpcpp/grpcpp.h"
#include "gtest/gtest.h"
#include "proto/veb/v1/switch.grpc.pb.h"
#include "server/agent.h"
#include "server/fake_port_opener.h"
#include "server/switch_service.h"

namespace veb::server::switch_test {


using ::testing::ElementsAre;
using ::testing::HasSubstr;

inline constexpr int64_t kSec = 1000000000;
inline constexpr Mac kA = 0x02000000000aULL;
inline constexpr Mac kB = 0x02000000000bULL;

#define EXPECT_OK(expr)                                          \
  do {                                                           \
    const grpc::Status _s = (expr);                              \
    EXPECT_TRUE(_s.ok()) << _s.error_code() << " " << _s.error_message(); \
  } while (0)
#define ASSERT_OK(expr)                                          \
  do {                                                           \
    const grpc::Status _s = (expr);                              \
    ASSERT_TRUE(_s.ok()) << _s.error_code() << " " << _s.error_message(); \
  } while (0)

MATCHER_P2(StatusIs, code, message, "") {
  if (arg.error_code() != code) {
    *result_listener << "code " << arg.error_code() << " message " << arg.error_message();
    return false;
  }
  if (arg.error_message() != std::string(message)) {
    *result_listener << "message " << arg.error_message();
    return false;
  }
  return true;
}
MATCHER_P(CodeIs, code, "") {
  *result_listener << "code " << arg.error_code() << " message " << arg.error_message();
  return arg.error_code() == code;
}

class SwitchServiceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/vebsvc.XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    socket_ = "unix://" + dir_ + "/vebd.sock";
    for (const char* n : {"eth1", "eth2", "eth3", "eth4", "veth3f2a"}) opener_.AddInterface(n);
    FakePortOpener::Interface lo;
    lo.ethernet = false;
    opener_.AddInterface("lo", lo);

    AgentOptions o;
    o.opener = &opener_;
    o.clock = &clock_;
    o.num_workers = 1;
    agent_ = std::make_unique<Agent>(o);
    service_ = std::make_unique<SwitchService>(agent_.get());
    grpc::ServerBuilder b;
    b.AddListeningPort(socket_, grpc::InsecureServerCredentials());
    b.RegisterService(service_.get());
    server_ = b.BuildAndStart();
    ASSERT_NE(server_, nullptr);
    stub_ = v1::Switch::NewStub(
        grpc::CreateChannel(socket_, grpc::InsecureChannelCredentials()));
  }

  void TearDown() override {
    agent_->Shutdown();
    server_->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(2));
    server_.reset();
    ctx_.reset();
    agent_.reset();
    unlink((dir_ + "/vebd.sock").c_str());
    rmdir(dir_.c_str());
  }

  // One RPC with a fresh context.
  template <typename Req, typename Resp>
  grpc::Status Call(grpc::Status (v1::Switch::Stub::*method)(grpc::ClientContext*,
                                                             const Req&, Resp*),
                    const Req& req, Resp* resp = nullptr) {
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
    Resp local;
    return (stub_.get()->*method)(&ctx, req, resp ? resp : &local);
  }

  grpc::Status CreateBridge(const std::string& name, v1::BridgeSettings s = {}) {
    v1::CreateBridgeRequest req;
    req.set_name(name);
    *req.mutable_settings() = s;
    return Call(&v1::Switch::Stub::CreateBridge, req);
  }
  grpc::Status AddPort(const std::string& bridge, const std::string& name,
                       v1::PortSettings s = {}, v1::AddPortResponse* resp = nullptr) {
    v1::AddPortRequest req;
    req.set_bridge(bridge);
    req.set_name(name);
    *req.mutable_settings() = s;
    return Call(&v1::Switch::Stub::AddPort, req, resp);
  }
  v1::Port GetPort(const std::string& bridge, const std::string& name) {
    v1::GetPortRequest req;
    req.set_bridge(bridge);
    req.set_name(name);
    v1::GetPortResponse resp;
    EXPECT_OK(Call(&v1::Switch::Stub::GetPort, req, &resp));
    return resp.port();
  }
  // A frame from `src` to `dst` received on `port` of `bridge`.
  void Inject(const std::string& bridge, const std::string& port, Mac src, Mac dst) {
    if (ctx_ == nullptr) ctx_ = std::make_unique<WorkerContext>(&agent_->qsbr(), 0);
    Bridge* b = agent_->BridgeForTesting(bridge);
    ASSERT_NE(b, nullptr);
    absl::StatusOr<PortRef> ref = agent_->PortRefForTesting(bridge, port);
    ASSERT_TRUE(ref.ok());
    FrameSpec spec{dst, src};
    std::vector<uint8_t> frame = MakeFrame(spec);
    RxFrame f{frame.data(), static_cast<uint32_t>(frame.size()), {}};
    b->Input(*ctx_, *ref, absl::MakeConstSpan(&f, 1));
  }
  std::string Config() { return agent_->ExportConfig().DebugString(); }

  std::string dir_;
  std::string socket_;
  FakeClock clock_;
  FakePortOpener opener_;
  std::unique_ptr<Agent> agent_;
  std::unique_ptr<SwitchService> service_;
  std::unique_ptr<grpc::Server> server_;
  std::unique_ptr<v1::Switch::Stub> stub_;
  std::unique_ptr<WorkerContext> ctx_;
};

// ---- bridges -------------------------------------------------------------------


class EventReader {
 public:
  EventReader(v1::Switch::Stub* stub, const v1::WatchEventsRequest& req,
              std::chrono::seconds deadline = std::chrono::seconds(20)) {
    ctx_.set_deadline(std::chrono::system_clock::now() + deadline);
    reader_ = stub->WatchEvents(&ctx_, req);
  }
  ~EventReader() {
    if (finished_) return;
    ctx_.TryCancel();
    Finish();
  }
  v1::Event Next() {
    v1::WatchEventsResponse r;
    EXPECT_TRUE(reader_->Read(&r));
    return r.event();
  }
  grpc::Status Finish() {
    v1::WatchEventsResponse r;
    while (reader_->Read(&r)) {
    }
    finished_ = true;
    return reader_->Finish();
  }

 private:
  bool finished_ = false;
  grpc::ClientContext ctx_;
  std::unique_ptr<grpc::ClientReader<v1::WatchEventsResponse>> reader_;
};

class VportTest : public SwitchServiceTest {
 protected:
  void SetUp() override {
    SwitchServiceTest::SetUp();
    netns_ = dir_ + "/netns-pod1";
    netns2_ = dir_ + "/netns-pod2";
    for (const std::string& p : {netns_, netns2_}) {
      FILE* f = fopen(p.c_str(), "w");
      ASSERT_NE(f, nullptr);
      fclose(f);
    }
    ASSERT_OK(CreateBridge("veb0"));
  }
  void TearDown() override {
    unlink(netns_.c_str());
    unlink(netns2_.c_str());
    SwitchServiceTest::TearDown();
  }
  static v1::CreateVportRequest Pod(const std::string& netns, const std::string& cid,
                                    const std::string& ifname = "eth0") {
    v1::CreateVportRequest req;
    req.set_bridge("veb0");
    req.set_kind(v1::VPORT_KIND_POD);
    req.mutable_pod()->set_netns(netns);
    req.mutable_pod()->mutable_attachment()->set_container_id(cid);
    req.mutable_pod()->mutable_attachment()->set_ifname(ifname);
    return req;
  }
  static v1::CreateVportRequest Host() {
    v1::CreateVportRequest req;
    req.set_bridge("veb0");
    req.set_kind(v1::VPORT_KIND_HOST);
    return req;
  }
  size_t VportCount() {
    v1::ListVportsResponse list;
    EXPECT_OK(Call(&v1::Switch::Stub::ListVports, v1::ListVportsRequest(), &list));
    return list.vports_size();
  }
  std::string netns_, netns2_;
};

}  // namespace veb::server::switch_test

#endif  // VEB_SERVER_SWITCH_SERVICE_TEST_UTIL_H_
