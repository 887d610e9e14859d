// veb.v1.Switch end to end in-process: a real gRPC server on a unix socket
// in a fresh /tmp directory, called through the generated stub; ports are
// FakePorts and traffic is injected with Bridge::Input.
#include "server/switch_service.h"

#include <stdlib.h>
#include <unistd.h>

#include <atomic>
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

namespace veb::server {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

constexpr int64_t kSec = 1000000000;
constexpr Mac kA = 0x02000000000aULL;
constexpr Mac kB = 0x02000000000bULL;

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

TEST_F(SwitchServiceTest, BridgeLifecycle) {
  v1::CreateBridgeResponse created;
  v1::CreateBridgeRequest req;
  req.set_name("veb1");
  ASSERT_OK(Call(&v1::Switch::Stub::CreateBridge, req, &created));
  EXPECT_TRUE(created.bridge().up());
  EXPECT_EQ(created.bridge().max_addresses(), 100u);
  EXPECT_EQ(created.bridge().address_timeout_seconds(), 240u);
  EXPECT_EQ(created.bridge().default_pvid().vid(), 1u);
  EXPECT_FALSE(created.bridge().allow_svlan());

  v1::BridgeSettings s;
  s.set_max_addresses(5000);
  s.mutable_default_pvid()->set_none(true);
  s.set_allow_svlan(true);
  ASSERT_OK(CreateBridge("veb0", s));

  v1::ListBridgesResponse list;
  ASSERT_OK(Call(&v1::Switch::Stub::ListBridges, v1::ListBridgesRequest(), &list));
  ASSERT_EQ(list.bridges_size(), 2);
  EXPECT_EQ(list.bridges(0).name(), "veb0");
  EXPECT_EQ(list.bridges(0).max_addresses(), 5000u);
  EXPECT_TRUE(list.bridges(0).default_pvid().none());
  EXPECT_EQ(list.bridges(1).name(), "veb1");

  v1::UpdateBridgeRequest up;
  up.set_name("veb0");
  up.mutable_settings()->set_address_timeout_seconds(60);
  up.mutable_settings()->set_up(false);
  v1::UpdateBridgeResponse updated;
  ASSERT_OK(Call(&v1::Switch::Stub::UpdateBridge, up, &updated));
  EXPECT_EQ(updated.bridge().address_timeout_seconds(), 60u);
  EXPECT_FALSE(updated.bridge().up());
  EXPECT_EQ(updated.bridge().max_addresses(), 5000u);  // unchanged

  v1::GetBridgeRequest get;
  get.set_name("veb0");
  v1::GetBridgeResponse got;
  ASSERT_OK(Call(&v1::Switch::Stub::GetBridge, get, &got));
  EXPECT_EQ(got.bridge().address_timeout_seconds(), 60u);

  v1::DeleteBridgeRequest del;
  del.set_name("veb1");
  ASSERT_OK(Call(&v1::Switch::Stub::DeleteBridge, del));
  get.set_name("veb1");
  EXPECT_THAT(Call(&v1::Switch::Stub::GetBridge, get),
              StatusIs(grpc::NOT_FOUND, "bridge \"veb1\": get: not found"));
}

TEST_F(SwitchServiceTest, BridgeErrors) {
  ASSERT_OK(CreateBridge("veb0"));
  const std::string before = Config();
  EXPECT_THAT(CreateBridge("veb/0"), CodeIs(grpc::INVALID_ARGUMENT));
  EXPECT_THAT(CreateBridge("veb/0").error_message(),
              HasSubstr("bridge \"veb/0\": create: invalid name"));
  EXPECT_THAT(CreateBridge("averyverylongname"), CodeIs(grpc::INVALID_ARGUMENT));
  EXPECT_THAT(CreateBridge(""), CodeIs(grpc::INVALID_ARGUMENT));
  // A 3 MB name is refused with a message quoting only a prefix of it.
  const grpc::Status huge = CreateBridge(std::string(3 << 20, 'x'));
  EXPECT_EQ(huge.error_code(), grpc::INVALID_ARGUMENT);
  EXPECT_EQ(huge.error_message(),
            "bridge \"" + std::string(64, 'x') +
                "\"... (3145728 bytes): create: invalid name (longer than 15 bytes)");
  v1::BridgeSettings s;
  s.set_max_addresses(0);
  EXPECT_THAT(CreateBridge("veb2", s),
              StatusIs(grpc::INVALID_ARGUMENT,
                       "bridge \"veb2\": create: max_addresses 0 out of range 1..1000000"));
  s.set_max_addresses(1000001);
  EXPECT_THAT(CreateBridge("veb2", s), CodeIs(grpc::INVALID_ARGUMENT));
  v1::BridgeSettings t;
  t.set_address_timeout_seconds(3601);
  EXPECT_THAT(CreateBridge("veb2", t), CodeIs(grpc::INVALID_ARGUMENT));
  v1::BridgeSettings p;
  p.mutable_default_pvid()->set_vid(4095);
  EXPECT_THAT(CreateBridge("veb2", p), CodeIs(grpc::INVALID_ARGUMENT));
  EXPECT_THAT(CreateBridge("veb0"),
              StatusIs(grpc::ALREADY_EXISTS, "bridge \"veb0\": create: already exists"));

  v1::UpdateBridgeRequest up;
  up.set_name("veb0");
  up.mutable_settings()->set_address_timeout_seconds(5);
  up.mutable_settings()->set_up(false);  // would be valid: must not apply either
  EXPECT_THAT(Call(&v1::Switch::Stub::UpdateBridge, up),
              StatusIs(grpc::INVALID_ARGUMENT,
                       "bridge \"veb0\": update: address_timeout_seconds 5 out of range 8..3600"));
  up.set_name("nope");
  up.mutable_settings()->set_address_timeout_seconds(10);
  EXPECT_THAT(Call(&v1::Switch::Stub::UpdateBridge, up),
              StatusIs(grpc::NOT_FOUND, "bridge \"nope\": update: not found"));

  v1::DeleteBridgeRequest del;
  del.set_name("nope");
  EXPECT_THAT(Call(&v1::Switch::Stub::DeleteBridge, del),
              StatusIs(grpc::NOT_FOUND, "bridge \"nope\": delete: not found"));
  EXPECT_EQ(Config(), before);  // nothing changed

  ASSERT_OK(AddPort("veb0", "eth1"));
  ASSERT_OK(AddPort("veb0", "eth2"));
  del.set_name("veb0");
  EXPECT_THAT(Call(&v1::Switch::Stub::DeleteBridge, del),
              StatusIs(grpc::FAILED_PRECONDITION,
                       "bridge \"veb0\": delete: has 2 ports (use force)"));
  del.set_force(true);
  ASSERT_OK(Call(&v1::Switch::Stub::DeleteBridge, del));
  // The interfaces are free again.
  ASSERT_OK(CreateBridge("veb1"));
  EXPECT_OK(AddPort("veb1", "eth1"));
}

TEST_F(SwitchServiceTest, BridgeLimit) {
  for (int i = 0; i < 256; ++i) ASSERT_OK(CreateBridge("b" + std::to_string(i)));
  EXPECT_THAT(CreateBridge("veb300"),
              StatusIs(grpc::RESOURCE_EXHAUSTED,
                       "bridge \"veb300\": create: limit of 256 bridges reached"));
}

// ---- member ports ---------------------------------------------------------------

TEST_F(SwitchServiceTest, PortAddGetListUpdate) {
  ASSERT_OK(CreateBridge("veb0"));
  v1::AddPortResponse added;
  ASSERT_OK(AddPort("veb0", "eth2", {}, &added));
  const v1::Port& p = added.port();
  EXPECT_EQ(p.bridge(), "veb0");
  EXPECT_EQ(p.backend(), v1::BACKEND_AF_PACKET);
  EXPECT_TRUE(p.learning());
  EXPECT_TRUE(p.discover());
  EXPECT_FALSE(p.locked());
  EXPECT_EQ(p.pvid().vid(), 1u);
  EXPECT_TRUE(p.link_up());
  EXPECT_TRUE(p.running());
  EXPECT_EQ(p.mtu(), 1500u);
  EXPECT_NE(p.ifindex(), 0u);
  EXPECT_THAT(p.mac(), HasSubstr("02:00:00:00:"));

  v1::PortSettings s;
  s.set_locked(true);  // learning/discover default to false then
  s.set_blocknonip(true);
  s.mutable_protected_domains()->add_domains(3);
  s.mutable_protected_domains()->add_domains(1);
  s.mutable_pvid()->set_none(true);
  s.mutable_tagged_vids()->add_vids(20);
  s.mutable_tagged_vids()->add_vids(10);
  ASSERT_OK(AddPort("veb0", "eth1", s, &added));
  EXPECT_FALSE(added.port().learning());
  EXPECT_FALSE(added.port().discover());
  EXPECT_TRUE(added.port().locked());
  EXPECT_TRUE(added.port().blocknonip());
  EXPECT_THAT(added.port().protected_domains(), ElementsAre(1, 3));
  EXPECT_TRUE(added.port().pvid().none());
  EXPECT_THAT(added.port().tagged_vids(), ElementsAre(10, 20));

  v1::ListPortsRequest lreq;
  lreq.set_bridge("veb0");
  v1::ListPortsResponse list;
  ASSERT_OK(Call(&v1::Switch::Stub::ListPorts, lreq, &list));
  ASSERT_EQ(list.ports_size(), 2);
  EXPECT_EQ(list.ports(0).name(), "eth1");
  EXPECT_EQ(list.ports(1).name(), "eth2");

  // One request: unlock and re-enable learning; tagged add/remove; PVID.
  v1::UpdatePortRequest up;
  up.set_bridge("veb0");
  up.set_name("eth1");
  up.mutable_settings()->set_locked(false);
  up.mutable_settings()->set_learning(true);
  up.mutable_settings()->mutable_pvid()->set_vid(10);
  up.add_remove_tagged_vids(10);  // move VID 10 from tagged to the PVID
  up.add_add_tagged_vids(30);
  v1::UpdatePortResponse updated;
  ASSERT_OK(Call(&v1::Switch::Stub::UpdatePort, up, &updated));
  EXPECT_TRUE(updated.port().learning());
  EXPECT_FALSE(updated.port().discover());  // unchanged
  EXPECT_EQ(updated.port().pvid().vid(), 10u);
  EXPECT_THAT(updated.port().tagged_vids(), ElementsAre(20, 30));
  EXPECT_THAT(updated.port().protected_domains(), ElementsAre(1, 3));

  // Replace sets; empty sets clear.
  v1::UpdatePortRequest up2;
  up2.set_bridge("veb0");
  up2.set_name("eth1");
  up2.mutable_settings()->mutable_tagged_vids();
  up2.mutable_settings()->mutable_protected_domains()->add_domains(31);
  ASSERT_OK(Call(&v1::Switch::Stub::UpdatePort, up2, &updated));
  EXPECT_TRUE(updated.port().tagged_vids().empty());
  EXPECT_THAT(updated.port().protected_domains(), ElementsAre(31));

  v1::DeletePortRequest del;
  del.set_bridge("veb0");
  del.set_name("eth1");
  ASSERT_OK(Call(&v1::Switch::Stub::DeletePort, del));
  EXPECT_THAT(Call(&v1::Switch::Stub::DeletePort, del),
              StatusIs(grpc::NOT_FOUND, "port \"eth1\": delete: not a member of bridge \"veb0\""));
}

TEST_F(SwitchServiceTest, PortErrorsChangeNothing) {
  ASSERT_OK(CreateBridge("veb0"));
  ASSERT_OK(CreateBridge("veb1"));
  ASSERT_OK(AddPort("veb1", "veth3f2a"));
  ASSERT_OK(AddPort("veb0", "eth1"));
  const std::string before = Config();

  EXPECT_THAT(AddPort("veb0", "veth3f2a"),
              StatusIs(grpc::FAILED_PRECONDITION,
                       "port \"veth3f2a\": add: already a member of bridge \"veb1\""));
  EXPECT_THAT(AddPort("veb0", "eth1"),
              StatusIs(grpc::ALREADY_EXISTS,
                       "port \"eth1\": add: already a member of bridge \"veb0\""));
  EXPECT_THAT(AddPort("nope", "eth2"),
              StatusIs(grpc::NOT_FOUND, "bridge \"nope\": add port: not found"));
  EXPECT_THAT(AddPort("veb0", "eth9"),
              StatusIs(grpc::NOT_FOUND, "port \"eth9\": add: no such interface"));
  EXPECT_THAT(AddPort("veb0", "veb0"),
              StatusIs(grpc::FAILED_PRECONDITION,
                       "port \"veb0\": add: a bridge cannot be a port of itself"));
  EXPECT_THAT(AddPort("veb0", "veb1"),
              StatusIs(grpc::FAILED_PRECONDITION,
                       "port \"veb1\": add: \"veb1\" is a bridge, not an interface"));
  EXPECT_THAT(AddPort("veb0", "lo"),
              StatusIs(grpc::FAILED_PRECONDITION, "port \"lo\": add: not an Ethernet interface"));
  EXPECT_THAT(AddPort("veb0", "bad/name"), CodeIs(grpc::INVALID_ARGUMENT));

  v1::PortSettings locked;
  locked.set_locked(true);
  locked.set_learning(true);
  EXPECT_THAT(AddPort("veb0", "eth2", locked),
              StatusIs(grpc::FAILED_PRECONDITION,
                       "port \"eth2\": add: locked excludes learning and discover"));
  v1::PortSettings dom;
  dom.mutable_protected_domains()->add_domains(32);
  EXPECT_THAT(AddPort("veb0", "eth2", dom),
              StatusIs(grpc::INVALID_ARGUMENT,
                       "port \"eth2\": add: protected domain 32 out of range 1..31"));
  // INVALID_ARGUMENT wins over the state (missing bridge).
  EXPECT_THAT(AddPort("nope", "eth2", dom), CodeIs(grpc::INVALID_ARGUMENT));
  v1::PortSettings tag;
  tag.mutable_tagged_vids()->add_vids(4095);
  EXPECT_THAT(AddPort("veb0", "eth2", tag),
              StatusIs(grpc::INVALID_ARGUMENT,
                       "port \"eth2\": add: tagged VID 4095 out of range 1..4094"));
  v1::PortSettings dup;
  dup.mutable_tagged_vids()->add_vids(5);
  dup.mutable_tagged_vids()->add_vids(5);
  EXPECT_THAT(AddPort("veb0", "eth2", dup), CodeIs(grpc::INVALID_ARGUMENT));
  v1::PortSettings pvid;
  pvid.mutable_pvid()->set_vid(10);
  pvid.mutable_tagged_vids()->add_vids(10);
  EXPECT_THAT(AddPort("veb0", "eth2", pvid),
              StatusIs(grpc::FAILED_PRECONDITION,
                       "port \"eth2\": add: PVID 10 is also a tagged VID"));
  v1::PortSettings badpvid;
  badpvid.mutable_pvid()->set_vid(0);
  EXPECT_THAT(AddPort("veb0", "eth2", badpvid), CodeIs(grpc::INVALID_ARGUMENT));
  v1::PortSettings nopvid;
  nopvid.mutable_pvid();  // neither vid nor none
  EXPECT_THAT(AddPort("veb0", "eth2", nopvid), CodeIs(grpc::INVALID_ARGUMENT));

  // Updates.
  v1::UpdatePortRequest up;
  up.set_bridge("veb0");
  up.set_name("eth1");
  up.mutable_settings()->set_locked(true);  // learning still on
  EXPECT_THAT(Call(&v1::Switch::Stub::UpdatePort, up),
              StatusIs(grpc::FAILED_PRECONDITION,
                       "port \"eth1\": update: locked excludes learning and discover"));
  v1::UpdatePortRequest both;
  both.set_bridge("veb0");
  both.set_name("eth1");
  both.mutable_settings()->mutable_tagged_vids()->add_vids(7);
  both.add_add_tagged_vids(8);
  EXPECT_THAT(Call(&v1::Switch::Stub::UpdatePort, both), CodeIs(grpc::INVALID_ARGUMENT));
  // Duplicates are refused as types.proto documents, not merged.
  v1::UpdatePortRequest dupvid;
  dupvid.set_bridge("veb0");
  dupvid.set_name("eth1");
  dupvid.add_add_tagged_vids(8);
  dupvid.add_add_tagged_vids(8);
  EXPECT_THAT(Call(&v1::Switch::Stub::UpdatePort, dupvid),
              StatusIs(grpc::INVALID_ARGUMENT, "port \"eth1\": update: duplicate add_tagged_vids 8"));
  dupvid.clear_add_tagged_vids();
  dupvid.add_add_tagged_vids(9);
  dupvid.add_remove_tagged_vids(9);
  EXPECT_THAT(Call(&v1::Switch::Stub::UpdatePort, dupvid),
              StatusIs(grpc::INVALID_ARGUMENT,
                       "port \"eth1\": update: vid 9 in both add_tagged_vids and "
                       "remove_tagged_vids"));
  v1::UpdatePortRequest tagpvid;
  tagpvid.set_bridge("veb0");
  tagpvid.set_name("eth1");
  tagpvid.add_add_tagged_vids(1);  // the PVID
  EXPECT_THAT(Call(&v1::Switch::Stub::UpdatePort, tagpvid),
              StatusIs(grpc::FAILED_PRECONDITION,
                       "port \"eth1\": update: PVID 1 is also a tagged VID"));
  v1::UpdatePortRequest missing;
  missing.set_bridge("veb0");
  missing.set_name("eth2");
  EXPECT_THAT(Call(&v1::Switch::Stub::UpdatePort, missing), CodeIs(grpc::NOT_FOUND));

  v1::GetPortRequest get;
  get.set_bridge("veb0");
  get.set_name("eth3");
  EXPECT_THAT(Call(&v1::Switch::Stub::GetPort, get),
              StatusIs(grpc::NOT_FOUND, "port \"eth3\": get: not a member of bridge \"veb0\""));

  // A port no worker would poll is refused, not listed as if it forwarded.
  opener_.FailNextAttaches(1);
  EXPECT_THAT(AddPort("veb0", "eth4"),
              StatusIs(grpc::RESOURCE_EXHAUSTED,
                       "port \"eth4\": add: attach to a worker: injected attach failure"));
  EXPECT_THAT(Call(&v1::Switch::Stub::GetPort, [] {
                v1::GetPortRequest r;
                r.set_bridge("veb0");
                r.set_name("eth4");
                return r;
              }()),
              StatusIs(grpc::NOT_FOUND, "port \"eth4\": get: not a member of bridge \"veb0\""));

  EXPECT_EQ(Config(), before);
  // A failed add released the interface: it can be added now.
  EXPECT_OK(AddPort("veb0", "eth2"));
  EXPECT_OK(AddPort("veb0", "eth4"));
}

// ---- span ports -------------------------------------------------------------------

TEST_F(SwitchServiceTest, SpanPorts) {
  ASSERT_OK(CreateBridge("veb0"));
  ASSERT_OK(CreateBridge("veb1"));
  ASSERT_OK(AddPort("veb0", "eth1"));
  ASSERT_OK(AddPort("veb1", "eth3"));
  v1::AddSpanPortRequest req;
  req.set_bridge("veb0");
  req.set_name("eth2");
  v1::AddSpanPortResponse resp;
  ASSERT_OK(Call(&v1::Switch::Stub::AddSpanPort, req, &resp));
  EXPECT_EQ(resp.span_port().name(), "eth2");
  EXPECT_TRUE(resp.span_port().running());

  EXPECT_THAT(Call(&v1::Switch::Stub::AddSpanPort, req),
              StatusIs(grpc::ALREADY_EXISTS,
                       "span port \"eth2\": add: already a port of bridge \"veb0\""));
  req.set_name("eth1");
  EXPECT_THAT(Call(&v1::Switch::Stub::AddSpanPort, req), CodeIs(grpc::ALREADY_EXISTS));
  req.set_name("eth3");
  EXPECT_THAT(Call(&v1::Switch::Stub::AddSpanPort, req),
              StatusIs(grpc::FAILED_PRECONDITION,
                       "span port \"eth3\": add: already a member of bridge \"veb1\""));
  EXPECT_THAT(AddPort("veb0", "eth2"),
              StatusIs(grpc::ALREADY_EXISTS,
                       "port \"eth2\": add: already a span port of bridge \"veb0\""));

  v1::ListSpanPortsRequest lreq;
  lreq.set_bridge("veb0");
  v1::ListSpanPortsResponse list;
  ASSERT_OK(Call(&v1::Switch::Stub::ListSpanPorts, lreq, &list));
  ASSERT_EQ(list.span_ports_size(), 1);
  v1::ListPortsRequest preq;
  preq.set_bridge("veb0");
  v1::ListPortsResponse ports;
  ASSERT_OK(Call(&v1::Switch::Stub::ListPorts, preq, &ports));
  EXPECT_EQ(ports.ports_size(), 1);  // members only

  v1::GetBridgeRequest gb;
  gb.set_name("veb0");
  v1::GetBridgeResponse b;
  ASSERT_OK(Call(&v1::Switch::Stub::GetBridge, gb, &b));
  EXPECT_EQ(b.bridge().port_count(), 1u);
  EXPECT_EQ(b.bridge().span_port_count(), 1u);

  // A frame received on eth1 is copied to the span port (S2).
  Inject("veb0", "eth1", kA, kB);
  EXPECT_EQ(opener_.port("eth2")->sent().size(), 1u);

  v1::DeleteSpanPortRequest del;
  del.set_bridge("veb0");
  del.set_name("eth1");  // a member, not a span port
  EXPECT_THAT(Call(&v1::Switch::Stub::DeleteSpanPort, del),
              StatusIs(grpc::NOT_FOUND,
                       "span port \"eth1\": delete: not a span port of bridge \"veb0\""));
  v1::DeletePortRequest delp;
  delp.set_bridge("veb0");
  delp.set_name("eth2");  // a span port, not a member
  EXPECT_THAT(Call(&v1::Switch::Stub::DeletePort, delp), CodeIs(grpc::NOT_FOUND));
  del.set_name("eth2");
  ASSERT_OK(Call(&v1::Switch::Stub::DeleteSpanPort, del));
  v1::GetSpanPortRequest get;
  get.set_bridge("veb0");
  get.set_name("eth2");
  EXPECT_THAT(Call(&v1::Switch::Stub::GetSpanPort, get), CodeIs(grpc::NOT_FOUND));
}

// ---- addresses -----------------------------------------------------------------------

TEST_F(SwitchServiceTest, AddressesStaticLearnedPagedFlushed) {
  v1::BridgeSettings bs;
  bs.set_max_addresses(6);
  ASSERT_OK(CreateBridge("veb0", bs));
  ASSERT_OK(AddPort("veb0", "eth1"));
  ASSERT_OK(AddPort("veb0", "eth2"));
  v1::PortSettings nopvid;
  nopvid.mutable_pvid()->set_none(true);
  nopvid.mutable_tagged_vids()->add_vids(7);
  ASSERT_OK(AddPort("veb0", "eth3", nopvid));

  v1::AddStaticAddressRequest st;
  st.set_bridge("veb0");
  st.set_mac("02:00:00:00:00:01");
  st.set_port("eth1");
  v1::AddStaticAddressResponse added;
  ASSERT_OK(Call(&v1::Switch::Stub::AddStaticAddress, st, &added));
  EXPECT_EQ(added.address().vid(), 1u);  // the port's PVID
  EXPECT_EQ(added.address().type(), v1::ADDRESS_TYPE_STATIC);
  st.set_mac("02:00:00:00:00:02");
  st.set_vid(5);
  ASSERT_OK(Call(&v1::Switch::Stub::AddStaticAddress, st));

  const std::string before = Config();
  st.set_mac("02:00:00:00:00:01");
  st.clear_vid();
  st.set_port("eth2");
  EXPECT_THAT(Call(&v1::Switch::Stub::AddStaticAddress, st),
              StatusIs(grpc::ALREADY_EXISTS,
                       "address 02:00:00:00:00:01 vid 1: add: static entry exists on port \"eth1\""));
  st.set_mac("02:00:00:00:00:zz");
  EXPECT_THAT(Call(&v1::Switch::Stub::AddStaticAddress, st),
              StatusIs(grpc::INVALID_ARGUMENT,
                       "address: add: mac \"02:00:00:00:00:zz\": invalid MAC address"));
  st.set_mac("01:00:5e:00:00:01");
  EXPECT_THAT(Call(&v1::Switch::Stub::AddStaticAddress, st), CodeIs(grpc::INVALID_ARGUMENT));
  st.set_mac("00:00:00:00:00:00");
  EXPECT_THAT(Call(&v1::Switch::Stub::AddStaticAddress, st), CodeIs(grpc::INVALID_ARGUMENT));
  st.set_mac("02:00:00:00:00:03");
  st.set_vid(4095);
  EXPECT_THAT(Call(&v1::Switch::Stub::AddStaticAddress, st),
              StatusIs(grpc::INVALID_ARGUMENT,
                       "address 02:00:00:00:00:03: add: vid 4095 out of range 1..4094"));
  st.clear_vid();
  st.set_port("eth9");
  EXPECT_THAT(Call(&v1::Switch::Stub::AddStaticAddress, st),
              StatusIs(grpc::NOT_FOUND,
                       "address 02:00:00:00:00:03: add: port \"eth9\" not a member of bridge \"veb0\""));
  st.set_port("eth3");
  EXPECT_THAT(Call(&v1::Switch::Stub::AddStaticAddress, st),
              StatusIs(grpc::FAILED_PRECONDITION,
                       "address 02:00:00:00:00:03: add: port \"eth3\" has no PVID (give a VID)"));
  st.set_bridge("nope");
  EXPECT_THAT(Call(&v1::Switch::Stub::AddStaticAddress, st), CodeIs(grpc::NOT_FOUND));
  EXPECT_EQ(Config(), before);

  // Learn four more: the table (max 6) is then full.
  for (Mac m = 0x020000000010ULL; m < 0x020000000014ULL; ++m) Inject("veb0", "eth2", m, kB);
  v1::ListAddressesRequest lr;
  lr.set_bridge("veb0");
  v1::ListAddressesResponse all;
  ASSERT_OK(Call(&v1::Switch::Stub::ListAddresses, lr, &all));
  ASSERT_EQ(all.addresses_size(), 6);
  EXPECT_EQ(all.total_count(), 6u);
  EXPECT_TRUE(all.next_page_token().empty());
  EXPECT_EQ(all.addresses(0).mac(), "02:00:00:00:00:01");  // vid 1 first
  EXPECT_EQ(all.addresses(5).vid(), 5u);                   // vid 5 last
  EXPECT_EQ(all.addresses(1).type(), v1::ADDRESS_TYPE_DYNAMIC);
  EXPECT_EQ(all.addresses(1).port(), "eth2");
  EXPECT_EQ(all.addresses(1).expires_in_seconds(), 240u);

  st.set_bridge("veb0");
  st.set_port("eth1");
  st.set_vid(9);
  EXPECT_THAT(Call(&v1::Switch::Stub::AddStaticAddress, st),
              StatusIs(grpc::RESOURCE_EXHAUSTED,
                       "address 02:00:00:00:00:03 vid 9: add: bridge \"veb0\" table full (6 entries)"));

  // Paging: 6 entries, pages of 4.
  lr.set_page_size(4);
  v1::ListAddressesResponse page1, page2;
  ASSERT_OK(Call(&v1::Switch::Stub::ListAddresses, lr, &page1));
  ASSERT_EQ(page1.addresses_size(), 4);
  ASSERT_FALSE(page1.next_page_token().empty());
  lr.set_page_token(page1.next_page_token());
  ASSERT_OK(Call(&v1::Switch::Stub::ListAddresses, lr, &page2));
  ASSERT_EQ(page2.addresses_size(), 2);
  EXPECT_TRUE(page2.next_page_token().empty());
  EXPECT_EQ(page2.addresses(1).mac(), "02:00:00:00:00:02");
  v1::ListAddressesRequest other = lr;
  other.set_port("eth2");  // token issued for other filters
  EXPECT_THAT(Call(&v1::Switch::Stub::ListAddresses, other), CodeIs(grpc::INVALID_ARGUMENT));
  lr.set_page_token("garbage");
  EXPECT_THAT(Call(&v1::Switch::Stub::ListAddresses, lr), CodeIs(grpc::INVALID_ARGUMENT));
  lr.clear_page_token();
  lr.set_page_size(20000);
  EXPECT_THAT(Call(&v1::Switch::Stub::ListAddresses, lr),
              StatusIs(grpc::INVALID_ARGUMENT,
                       "bridge \"veb0\": list addresses: page_size 20000 out of range 0..10000"));
  // Filters.
  v1::ListAddressesRequest f;
  f.set_bridge("veb0");
  f.set_type(v1::ADDRESS_TYPE_STATIC);
  v1::ListAddressesResponse fr;
  ASSERT_OK(Call(&v1::Switch::Stub::ListAddresses, f, &fr));
  EXPECT_EQ(fr.addresses_size(), 2);
  f.set_type(v1::ADDRESS_TYPE_UNSPECIFIED);
  f.set_mac("02:00:00:00:00:11");
  ASSERT_OK(Call(&v1::Switch::Stub::ListAddresses, f, &fr));
  ASSERT_EQ(fr.addresses_size(), 1);
  f.clear_mac();
  f.set_port("eth9");
  EXPECT_THAT(Call(&v1::Switch::Stub::ListAddresses, f), CodeIs(grpc::NOT_FOUND));

  // Delete.
  v1::DeleteAddressRequest d;
  d.set_bridge("veb0");
  d.set_mac("02:00:00:00:00:10");
  d.set_vid(2);
  EXPECT_THAT(Call(&v1::Switch::Stub::DeleteAddress, d),
              StatusIs(grpc::NOT_FOUND, "address 02:00:00:00:00:10 vid 2: delete: not found"));
  d.clear_vid();
  v1::DeleteAddressResponse dr;
  ASSERT_OK(Call(&v1::Switch::Stub::DeleteAddress, d, &dr));
  EXPECT_EQ(dr.deleted(), 1u);
  d.set_mac("nonsense");
  EXPECT_THAT(Call(&v1::Switch::Stub::DeleteAddress, d), CodeIs(grpc::INVALID_ARGUMENT));

  // Flush: per port dynamic, then everything.
  v1::FlushAddressesRequest fl;
  fl.set_bridge("veb0");
  fl.set_port("eth1");
  v1::FlushAddressesResponse flr;
  ASSERT_OK(Call(&v1::Switch::Stub::FlushAddresses, fl, &flr));
  EXPECT_EQ(flr.removed(), 0u);  // eth1 holds only static entries
  fl.clear_port();
  ASSERT_OK(Call(&v1::Switch::Stub::FlushAddresses, fl, &flr));
  EXPECT_EQ(flr.removed(), 3u);
  fl.set_mode(v1::FLUSH_MODE_ALL);
  ASSERT_OK(Call(&v1::Switch::Stub::FlushAddresses, fl, &flr));
  EXPECT_EQ(flr.removed(), 2u);
  fl.set_port("eth9");
  EXPECT_THAT(Call(&v1::Switch::Stub::FlushAddresses, fl), CodeIs(grpc::NOT_FOUND));
}

TEST_F(SwitchServiceTest, StaticReplacesDynamicAndPinsTheAddress) {
  ASSERT_OK(CreateBridge("veb0"));
  ASSERT_OK(AddPort("veb0", "eth1"));
  ASSERT_OK(AddPort("veb0", "eth2"));
  Inject("veb0", "eth1", kA, kB);  // kA learned on eth1
  v1::AddStaticAddressRequest st;
  st.set_bridge("veb0");
  st.set_mac("02:00:00:00:00:0a");
  st.set_port("eth2");
  ASSERT_OK(Call(&v1::Switch::Stub::AddStaticAddress, st));
  Inject("veb0", "eth1", kA, kB);  // a static entry never moves (S7)
  v1::ListAddressesRequest lr;
  lr.set_bridge("veb0");
  v1::ListAddressesResponse all;
  ASSERT_OK(Call(&v1::Switch::Stub::ListAddresses, lr, &all));
  ASSERT_EQ(all.addresses_size(), 1);
  EXPECT_EQ(all.addresses(0).port(), "eth2");
  EXPECT_EQ(all.addresses(0).type(), v1::ADDRESS_TYPE_STATIC);
  EXPECT_EQ(all.addresses(0).expires_in_seconds(), 0u);
  v1::FlushAddressesRequest fl;
  fl.set_bridge("veb0");
  fl.set_mode(static_cast<v1::FlushMode>(7));
  EXPECT_THAT(Call(&v1::Switch::Stub::FlushAddresses, fl), CodeIs(grpc::INVALID_ARGUMENT));
}

TEST_F(SwitchServiceTest, PortRemovalRemovesItsAddresses) {  // S12
  ASSERT_OK(CreateBridge("veb0"));
  ASSERT_OK(AddPort("veb0", "eth1"));
  ASSERT_OK(AddPort("veb0", "eth2"));
  Inject("veb0", "eth1", kA, kB);
  Inject("veb0", "eth2", kB, kA);
  v1::DeletePortRequest del;
  del.set_bridge("veb0");
  del.set_name("eth1");
  ASSERT_OK(Call(&v1::Switch::Stub::DeletePort, del));
  v1::ListAddressesRequest lr;
  lr.set_bridge("veb0");
  v1::ListAddressesResponse all;
  ASSERT_OK(Call(&v1::Switch::Stub::ListAddresses, lr, &all));
  ASSERT_EQ(all.addresses_size(), 1);
  EXPECT_EQ(all.addresses(0).port(), "eth2");
}

// ---- rules ---------------------------------------------------------------------------

TEST_F(SwitchServiceTest, Rules) {
  ASSERT_OK(CreateBridge("veb0"));
  ASSERT_OK(AddPort("veb0", "eth1"));
  ASSERT_OK(AddPort("veb0", "eth2"));
  v1::AddRuleRequest ar;
  ar.set_bridge("veb0");
  ar.set_port("eth1");
  v1::Rule* r = ar.mutable_rule();
  r->set_action(v1::RULE_ACTION_BLOCK);
  r->set_direction(v1::RULE_DIRECTION_IN);
  r->set_src("02:00:00:00:00:0A");
  r->set_vid(1);
  r->mutable_arp()->set_kind(v1::ARP_KIND_ARP);
  r->mutable_arp()->set_opcode(v1::ARP_OPCODE_REQUEST);
  r->mutable_arp()->set_spa("10.0.0.1");
  r->mutable_arp()->set_tha("02:00:00:00:00:0b");
  v1::AddRuleResponse added;
  ASSERT_OK(Call(&v1::Switch::Stub::AddRule, ar, &added));
  EXPECT_EQ(added.rule().index(), 0u);
  EXPECT_EQ(added.rule().src(), "02:00:00:00:00:0a");
  EXPECT_EQ(added.rule().arp().spa(), "10.0.0.1");
  EXPECT_EQ(added.rule().arp().opcode(), v1::ARP_OPCODE_REQUEST);

  v1::AddRuleRequest ar2;
  ar2.set_bridge("veb0");
  ar2.set_port("eth1");
  ar2.mutable_rule()->set_action(v1::RULE_ACTION_PASS);
  ar2.mutable_rule()->set_direction(v1::RULE_DIRECTION_IN_OUT);
  ASSERT_OK(Call(&v1::Switch::Stub::AddRule, ar2, &added));
  EXPECT_EQ(added.rule().index(), 1u);
  ar2.set_port("eth2");
  ar2.mutable_rule()->set_dst("ff:ff:ff:ff:ff:ff");
  ASSERT_OK(Call(&v1::Switch::Stub::AddRule, ar2));

  const std::string before = Config();
  v1::AddRuleRequest bad = ar;
  bad.mutable_rule()->mutable_arp()->set_spa("10.0.0.300");
  EXPECT_THAT(Call(&v1::Switch::Stub::AddRule, bad),
              StatusIs(grpc::INVALID_ARGUMENT,
                       "rule: add: arp.spa \"10.0.0.300\": invalid IPv4 address"));
  bad = ar;
  bad.mutable_rule()->set_action(v1::RULE_ACTION_UNSPECIFIED);
  EXPECT_THAT(Call(&v1::Switch::Stub::AddRule, bad), CodeIs(grpc::INVALID_ARGUMENT));
  bad = ar;
  bad.mutable_rule()->set_vid(4095);
  EXPECT_THAT(Call(&v1::Switch::Stub::AddRule, bad), CodeIs(grpc::INVALID_ARGUMENT));
  bad = ar;
  bad.mutable_rule()->mutable_arp()->set_kind(v1::ARP_KIND_UNSPECIFIED);
  EXPECT_THAT(Call(&v1::Switch::Stub::AddRule, bad), CodeIs(grpc::INVALID_ARGUMENT));
  bad = ar;
  bad.mutable_rule()->set_dst("x");
  EXPECT_THAT(Call(&v1::Switch::Stub::AddRule, bad), CodeIs(grpc::INVALID_ARGUMENT));
  bad = ar;
  bad.set_port("eth9");
  EXPECT_THAT(Call(&v1::Switch::Stub::AddRule, bad),
              StatusIs(grpc::NOT_FOUND,
                       "port \"eth9\": add rule: not a member of bridge \"veb0\""));
  EXPECT_EQ(Config(), before);

  v1::ListRulesRequest lr;
  lr.set_bridge("veb0");
  v1::ListRulesResponse list;
  ASSERT_OK(Call(&v1::Switch::Stub::ListRules, lr, &list));
  ASSERT_EQ(list.rules_size(), 3);
  EXPECT_EQ(list.rules(0).port(), "eth1");
  EXPECT_EQ(list.rules(1).index(), 1u);
  EXPECT_EQ(list.rules(2).port(), "eth2");
  EXPECT_EQ(list.rules(0).arp().tha(), "02:00:00:00:00:0b");
  lr.set_port("eth2");
  ASSERT_OK(Call(&v1::Switch::Stub::ListRules, lr, &list));
  EXPECT_EQ(list.rules_size(), 1);

  v1::FlushRulesRequest fr;
  fr.set_bridge("veb0");
  fr.set_port("eth1");
  v1::FlushRulesResponse flushed;
  ASSERT_OK(Call(&v1::Switch::Stub::FlushRules, fr, &flushed));
  EXPECT_EQ(flushed.removed(), 2u);
  EXPECT_EQ(GetPort("veb0", "eth1").rule_count(), 0u);
  EXPECT_EQ(GetPort("veb0", "eth2").rule_count(), 1u);
}

TEST_F(SwitchServiceTest, RuleLimit) {
  ASSERT_OK(CreateBridge("veb0"));
  ASSERT_OK(AddPort("veb0", "eth1"));
  v1::AddRuleRequest ar;
  ar.set_bridge("veb0");
  ar.set_port("eth1");
  ar.mutable_rule()->set_action(v1::RULE_ACTION_PASS);
  ar.mutable_rule()->set_direction(v1::RULE_DIRECTION_OUT);
  v1::AddRuleResponse resp;
  for (int i = 0; i < 1024; ++i) ASSERT_TRUE(agent_->AddRule(ar, &resp).ok());
  EXPECT_THAT(Call(&v1::Switch::Stub::AddRule, ar),
              StatusIs(grpc::RESOURCE_EXHAUSTED, "port \"eth1\": add rule: 1024 rules already"));
}

// ---- counters --------------------------------------------------------------------------

TEST_F(SwitchServiceTest, Counters) {
  ASSERT_OK(CreateBridge("veb0"));
  ASSERT_OK(AddPort("veb0", "eth1"));
  ASSERT_OK(AddPort("veb0", "eth2"));
  Inject("veb0", "eth1", kA, kB);  // unknown: flooded to eth2
  Inject("veb0", "eth2", kB, kA);  // known: unicast to eth1
  Inject("veb0", "eth1", kA, kA);  // hairpin: dropped on input
  // A multicast source is never learned: counted as INVALID_SOURCE.
  Inject("veb0", "eth2", 0x01005e000001ULL, kB);  // (and to kB on eth2: hairpin)

  v1::GetPortCountersRequest req;
  req.set_bridge("veb0");
  req.set_port("eth1");
  v1::GetPortCountersResponse resp;
  ASSERT_OK(Call(&v1::Switch::Stub::GetPortCounters, req, &resp));
  const v1::PortCounters& c = resp.counters();
  EXPECT_EQ(c.receive_packets(), 2u) << c.DebugString();
  EXPECT_EQ(c.flooded_packets(), 1u);
  EXPECT_EQ(c.transmit_packets(), 1u);
  ASSERT_EQ(c.receive_drops_size(), 18);
  ASSERT_EQ(c.transmit_drops_size(), 18);
  EXPECT_EQ(c.receive_drops(0).reason(), v1::DROP_REASON_LINK_DOWN);
  EXPECT_EQ(c.receive_drops(11).reason(), v1::DROP_REASON_HAIRPIN);
  EXPECT_EQ(c.receive_drops(11).packets(), 1u);
  EXPECT_EQ(c.receive_packets(),
            c.forwarded_packets() + c.flooded_packets() + c.receive_drops(11).packets());
  req.set_port("eth9");
  EXPECT_THAT(Call(&v1::Switch::Stub::GetPortCounters, req),
              StatusIs(grpc::NOT_FOUND,
                       "port \"eth9\": get counters: not a port of bridge \"veb0\""));

  v1::ListCountersResponse list;
  ASSERT_OK(Call(&v1::Switch::Stub::ListCounters, v1::ListCountersRequest(), &list));
  ASSERT_EQ(list.bridges_size(), 1);
  EXPECT_EQ(list.bridges(0).addresses_learned(), 2u);
  EXPECT_EQ(list.bridges(0).flooded_packets(), 1u);
  EXPECT_EQ(list.bridges(0).ports_size(), 2);
  ASSERT_EQ(list.bridges(0).learn_refused_size(), kNumLearnRefusals);
  EXPECT_EQ(list.bridges(0).learn_refused(3).reason(), v1::LEARN_REFUSED_REASON_PORT_FULL);
  EXPECT_EQ(list.bridges(0).learn_refused(2).reason(), v1::LEARN_REFUSED_REASON_INVALID_SOURCE);
  EXPECT_EQ(list.bridges(0).learn_refused(2).packets(), 1u);
  EXPECT_EQ(list.bridges(0).learn_refused(0).packets(), 0u);
  v1::ListCountersRequest lreq;
  lreq.set_bridge("nope");
  EXPECT_THAT(Call(&v1::Switch::Stub::ListCounters, lreq), CodeIs(grpc::NOT_FOUND));
}

// ---- events ------------------------------------------------------------------------------

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

TEST_F(SwitchServiceTest, WatchEventsDeliversLearnedMovedExpired) {
  v1::BridgeSettings bs;
  bs.set_address_timeout_seconds(10);
  ASSERT_OK(CreateBridge("veb0", bs));
  ASSERT_OK(AddPort("veb0", "eth1"));
  ASSERT_OK(AddPort("veb0", "eth2"));

  v1::WatchEventsRequest req;
  req.set_bridge("veb0");
  EventReader events(stub_.get(), req);
  const v1::Event started = events.Next();
  EXPECT_EQ(started.type(), v1::EVENT_TYPE_WATCH_STARTED);

  Inject("veb0", "eth1", kA, kB);
  v1::Event e = events.Next();
  EXPECT_EQ(e.type(), v1::EVENT_TYPE_ADDRESS_LEARNED);
  EXPECT_EQ(e.bridge(), "veb0");
  EXPECT_GT(e.sequence(), started.sequence());
  EXPECT_EQ(e.address().address().mac(), "02:00:00:00:00:0a");
  EXPECT_EQ(e.address().address().port(), "eth1");
  EXPECT_EQ(e.address().address().vid(), 1u);
  EXPECT_GT(e.time_unix_nano(), 0);

  Inject("veb0", "eth2", kA, kB);
  e = events.Next();
  EXPECT_EQ(e.type(), v1::EVENT_TYPE_ADDRESS_MOVED);
  EXPECT_EQ(e.address().address().port(), "eth2");
  EXPECT_EQ(e.address().previous_port(), "eth1");

  clock_.Advance(13 * kSec);
  agent_->Sweep();
  e = events.Next();
  EXPECT_EQ(e.type(), v1::EVENT_TYPE_ADDRESS_EXPIRED);
  EXPECT_EQ(e.address().address().mac(), "02:00:00:00:00:0a");
  // The entry's age when it expired (last seen 13 s ago), not the timeout.
  EXPECT_EQ(e.address().address().age_seconds(), 13u);

  ASSERT_OK(AddPort("veb0", "eth3"));
  e = events.Next();
  EXPECT_EQ(e.type(), v1::EVENT_TYPE_PORT_ADDED);
  EXPECT_EQ(e.port().name(), "eth3");
  agent_->OnLinkChange("eth3", false);
  e = events.Next();
  EXPECT_EQ(e.type(), v1::EVENT_TYPE_PORT_LINK_DOWN);
  EXPECT_FALSE(GetPort("veb0", "eth3").link_up());
  agent_->OnLinkChange("eth3", false);  // no change, no event
  agent_->OnLinkChange("eth3", true);
  EXPECT_EQ(events.Next().type(), v1::EVENT_TYPE_PORT_LINK_UP);
  // The interface's MTU as the link monitor reports it reaches the port.
  EXPECT_EQ(GetPort("veb0", "eth3").mtu(), 1500u);
  agent_->OnLinkChange("eth3", true, 9000);
  EXPECT_EQ(GetPort("veb0", "eth3").mtu(), 9000u);
  agent_->OnLinkChange("eth3", true, 0);  // unknown: kept
  EXPECT_EQ(GetPort("veb0", "eth3").mtu(), 9000u);
  Inject("veb0", "eth3", kB, kA);
  EXPECT_EQ(events.Next().type(), v1::EVENT_TYPE_ADDRESS_LEARNED);
  agent_->OnInterfaceGone("eth3", GetPort("veb0", "eth3").ifindex() + 1000);  // another eth3
  EXPECT_EQ(GetPort("veb0", "eth3").name(), "eth3");
  agent_->OnInterfaceGone("eth3", GetPort("veb0", "eth3").ifindex());
  e = events.Next();
  EXPECT_EQ(e.type(), v1::EVENT_TYPE_PORT_REMOVED);
  EXPECT_EQ(e.port().removal_cause(), v1::PORT_REMOVAL_CAUSE_INTERFACE_GONE);
  e = events.Next();
  EXPECT_EQ(e.type(), v1::EVENT_TYPE_ADDRESSES_FLUSHED);
  EXPECT_EQ(e.flush().removed(), 1u);

  // Events of another bridge are filtered out.
  ASSERT_OK(CreateBridge("veb1"));
  ASSERT_OK(CreateBridge("veb0x"));
  v1::UpdateBridgeRequest up;
  up.set_name("veb0");
  up.mutable_settings()->set_up(false);
  ASSERT_OK(Call(&v1::Switch::Stub::UpdateBridge, up));
  e = events.Next();
  EXPECT_EQ(e.type(), v1::EVENT_TYPE_BRIDGE_UPDATED);
  EXPECT_FALSE(e.bridge_info().up());

  agent_->Shutdown();
  EXPECT_EQ(events.Finish().error_code(), grpc::UNAVAILABLE);
}

TEST_F(SwitchServiceTest, WatchEventsTypeFilterAndErrors) {
  v1::WatchEventsRequest req;
  req.add_types(v1::EVENT_TYPE_BRIDGE_CREATED);
  EventReader events(stub_.get(), req);
  EXPECT_EQ(events.Next().type(), v1::EVENT_TYPE_WATCH_STARTED);
  ASSERT_OK(CreateBridge("veb0"));
  ASSERT_OK(AddPort("veb0", "eth1"));  // filtered out
  ASSERT_OK(CreateBridge("veb1"));
  v1::Event e = events.Next();
  EXPECT_EQ(e.type(), v1::EVENT_TYPE_BRIDGE_CREATED);
  EXPECT_EQ(e.bridge_info().name(), "veb0");
  e = events.Next();
  EXPECT_EQ(e.bridge_info().name(), "veb1");

  v1::WatchEventsRequest bad;
  bad.add_types(v1::EVENT_TYPE_UNSPECIFIED);
  EventReader rejected(stub_.get(), bad);
  EXPECT_EQ(rejected.Finish().error_code(), grpc::INVALID_ARGUMENT);
  v1::WatchEventsRequest badname;
  badname.set_bridge("a/b");
  EventReader rejected2(stub_.get(), badname);
  EXPECT_EQ(rejected2.Finish().error_code(), grpc::INVALID_ARGUMENT);
}

// Traffic from a "worker" thread (learning, moving, events under the MAC
// table lock) while RPCs add/remove ports, flush and list, with a watch
// stream open: no deadlock, no lost accounting, the stream keeps flowing.
TEST_F(SwitchServiceTest, ConcurrentTrafficRpcsAndWatch) {
  ASSERT_OK(CreateBridge("veb0"));
  ASSERT_OK(AddPort("veb0", "eth1"));
  ASSERT_OK(AddPort("veb0", "eth2"));
  v1::WatchEventsRequest wreq;
  // The stream must outlive the rounds below. Each port removal waits (QSBR)
  // until the spinning "worker" gets a CPU again; with other tests on the
  // same 2 cores the rounds took 10-20 s instead of 0.5 s (a deadlock would
  // still fail: the test's own timeout is 300 s).
  EventReader events(stub_.get(), wreq, std::chrono::seconds(120));
  EXPECT_EQ(events.Next().type(), v1::EVENT_TYPE_WATCH_STARTED);

  Bridge* bridge = agent_->BridgeForTesting("veb0");
  const PortRef p1 = agent_->PortRefForTesting("veb0", "eth1").value();
  const PortRef p2 = agent_->PortRefForTesting("veb0", "eth2").value();
  std::atomic<bool> stop{false};
  std::atomic<uint64_t> sent{0};
  std::thread worker([&] {
    WorkerContext ctx(&agent_->qsbr(), 0);
    uint64_t i = 0;
    while (!stop.load()) {
      const Mac src = 0x020000001000ULL + (i % 50);
      std::vector<uint8_t> frame = MakeFrame(FrameSpec{kBroadcastMac, src});
      RxFrame f{frame.data(), static_cast<uint32_t>(frame.size()), {}};
      bridge->Input(ctx, (i / 50) % 2 ? p2 : p1, absl::MakeConstSpan(&f, 1));
      ++i;
      sent.store(i);
    }
  });
  for (int round = 0; round < 30; ++round) {
    ASSERT_OK(AddPort("veb0", "eth3"));
    v1::ListAddressesRequest lr;
    lr.set_bridge("veb0");
    lr.set_page_size(10);
    EXPECT_OK(Call(&v1::Switch::Stub::ListAddresses, lr));
    v1::FlushAddressesRequest fl;
    fl.set_bridge("veb0");
    EXPECT_OK(Call(&v1::Switch::Stub::FlushAddresses, fl));
    v1::DeletePortRequest del;
    del.set_bridge("veb0");
    del.set_name("eth3");
    ASSERT_OK(Call(&v1::Switch::Stub::DeletePort, del));
    agent_->Sweep();
  }
  stop.store(true);
  worker.join();
  EXPECT_GT(sent.load(), 0u);
  // Accounting holds exactly once idle (S11).
  for (const char* port : {"eth1", "eth2"}) {
    v1::GetPortCountersRequest req;
    req.set_bridge("veb0");
    req.set_port(port);
    v1::GetPortCountersResponse resp;
    ASSERT_OK(Call(&v1::Switch::Stub::GetPortCounters, req, &resp));
    uint64_t drops = 0;
    for (const auto& d : resp.counters().receive_drops()) drops += d.packets();
    EXPECT_EQ(resp.counters().receive_packets(), resp.counters().forwarded_packets() +
                                                     resp.counters().flooded_packets() + drops);
  }
  // The stream still delivers (after possibly many queued events).
  ASSERT_OK(CreateBridge("marker"));
  bool marker_seen = false;
  for (int i = 0; i < 100000 && !marker_seen; ++i) {
    const v1::Event e = events.Next();
    marker_seen = e.type() == v1::EVENT_TYPE_BRIDGE_CREATED && e.bridge() == "marker";
    ASSERT_NE(e.type(), v1::EVENT_TYPE_UNSPECIFIED);
  }
  EXPECT_TRUE(marker_seen) << "the marker bridge's event never arrived";
}

// ---- vports ------------------------------------------------------------------------------

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

TEST_F(VportTest, PodVportLifecycle) {
  v1::CreateVportRequest req = Pod(netns_, "3f2a91c0ffee");
  req.set_mac("0a:58:0a:16:00:05");
  req.set_mtu(1400);
  v1::CreateVportResponse created;
  ASSERT_OK(Call(&v1::Switch::Stub::CreateVport, req, &created));
  const v1::Vport& v = created.vport();
  EXPECT_THAT(v.name(), ::testing::MatchesRegex("vp[0-9a-f]{8}"));
  EXPECT_EQ(v.kind(), v1::VPORT_KIND_POD);
  EXPECT_EQ(v.mac(), "0a:58:0a:16:00:05");
  EXPECT_EQ(v.mtu(), 1400u);
  EXPECT_EQ(v.pod().netns(), netns_);
  EXPECT_EQ(v.pod().attachment().container_id(), "3f2a91c0ffee");
  EXPECT_EQ(v.pod().type(), v1::VPORT_TYPE_VETH);
  EXPECT_EQ(v.port().vport_kind(), v1::VPORT_KIND_POD);
  EXPECT_EQ(v.port().backend(), v1::BACKEND_AF_PACKET);
  EXPECT_TRUE(opener_.HasInterface(v.name()));
  // Its port is a member port.
  EXPECT_EQ(GetPort("veb0", v.name()).vport_kind(), v1::VPORT_KIND_POD);
  v1::GetBridgeRequest gb;
  gb.set_name("veb0");
  v1::GetBridgeResponse bridge;
  ASSERT_OK(Call(&v1::Switch::Stub::GetBridge, gb, &bridge));
  EXPECT_EQ(bridge.bridge().vport_count(), 1u);

  // Same attachment again: refused, naming the existing vport.
  grpc::Status again = Call(&v1::Switch::Stub::CreateVport, Pod(netns2_, "3f2a91c0ffee"));
  EXPECT_EQ(again.error_code(), grpc::ALREADY_EXISTS);
  EXPECT_THAT(again.error_message(), HasSubstr(v.name()));

  // Get by attachment (CNI CHECK) and by name.
  v1::GetVportRequest get;
  get.mutable_attachment()->set_container_id("3f2a91c0ffee");
  get.mutable_attachment()->set_ifname("eth0");
  v1::GetVportResponse got;
  ASSERT_OK(Call(&v1::Switch::Stub::GetVport, get, &got));
  EXPECT_EQ(got.vport().name(), v.name());
  get.set_name(v.name());
  get.set_bridge("other");
  EXPECT_EQ(Call(&v1::Switch::Stub::GetVport, get).error_code(), grpc::NOT_FOUND);

  // DeletePort refuses a vport's port.
  v1::DeletePortRequest dp;
  dp.set_bridge("veb0");
  dp.set_name(v.name());
  grpc::Status refused = Call(&v1::Switch::Stub::DeletePort, dp);
  EXPECT_EQ(refused.error_code(), grpc::FAILED_PRECONDITION);
  EXPECT_THAT(refused.error_message(), HasSubstr("use DeleteVport"));

  // Delete by attachment (CNI DEL), then again: NOT_FOUND, or OK with allow_missing.
  v1::DeleteVportRequest del;
  del.mutable_attachment()->set_container_id("3f2a91c0ffee");
  del.mutable_attachment()->set_ifname("eth0");
  v1::DeleteVportResponse deleted;
  ASSERT_OK(Call(&v1::Switch::Stub::DeleteVport, del, &deleted));
  EXPECT_TRUE(deleted.deleted());
  EXPECT_FALSE(opener_.HasInterface(v.name()));
  EXPECT_EQ(Call(&v1::Switch::Stub::DeleteVport, del).error_code(), grpc::NOT_FOUND);
  del.set_allow_missing(true);
  ASSERT_OK(Call(&v1::Switch::Stub::DeleteVport, del, &deleted));
  EXPECT_FALSE(deleted.deleted());
  EXPECT_EQ(VportCount(), 0u);
  v1::ListPortsRequest lp;
  lp.set_bridge("veb0");
  v1::ListPortsResponse ports;
  ASSERT_OK(Call(&v1::Switch::Stub::ListPorts, lp, &ports));
  EXPECT_EQ(ports.ports_size(), 0);
}

TEST_F(VportTest, NamesAreStableForPodsAndNumberedForHosts) {
  v1::CreateVportResponse a, b;
  ASSERT_OK(Call(&v1::Switch::Stub::CreateVport, Pod(netns_, "c1"), &a));
  ASSERT_OK(Call(&v1::Switch::Stub::CreateVport, Pod(netns2_, "c2"), &b));
  EXPECT_NE(a.vport().name(), b.vport().name());
  v1::DeleteVportRequest del;
  del.set_name(a.vport().name());
  ASSERT_OK(Call(&v1::Switch::Stub::DeleteVport, del));
  v1::CreateVportResponse a2;
  ASSERT_OK(Call(&v1::Switch::Stub::CreateVport, Pod(netns_, "c1"), &a2));
  EXPECT_EQ(a2.vport().name(), a.vport().name());

  v1::CreateVportResponse h0, h1;
  v1::CreateVportRequest host = Host();
  host.add_ip_prefixes("10.22.0.1/24");
  host.add_ip_prefixes("fd00::1/64");
  ASSERT_OK(Call(&v1::Switch::Stub::CreateVport, host, &h0));
  ASSERT_OK(Call(&v1::Switch::Stub::CreateVport, Host(), &h1));
  EXPECT_EQ(h0.vport().name(), "vport0");
  EXPECT_EQ(h1.vport().name(), "vport1");
  EXPECT_EQ(h0.vport().kind(), v1::VPORT_KIND_HOST);
  EXPECT_EQ(h0.vport().port().backend(), v1::BACKEND_TAP);
  EXPECT_THAT(h0.vport().ip_prefixes(), ::testing::ElementsAre("10.22.0.1/24", "fd00::1/64"));
  EXPECT_FALSE(h0.vport().has_pod());

  v1::ListVportsRequest lr;
  lr.set_kind(v1::VPORT_KIND_HOST);
  v1::ListVportsResponse list;
  ASSERT_OK(Call(&v1::Switch::Stub::ListVports, lr, &list));
  ASSERT_EQ(list.vports_size(), 2);
  EXPECT_EQ(list.vports(0).name(), "vport0");
  lr.set_kind(v1::VPORT_KIND_UNSPECIFIED);
  lr.set_container_id("c2");
  ASSERT_OK(Call(&v1::Switch::Stub::ListVports, lr, &list));
  ASSERT_EQ(list.vports_size(), 1);
  EXPECT_EQ(list.vports(0).name(), b.vport().name());
  lr.set_bridge("nope");
  EXPECT_EQ(Call(&v1::Switch::Stub::ListVports, lr).error_code(), grpc::NOT_FOUND);
}

TEST_F(VportTest, BadRequestsNameTheProblemAndChangeNothing) {
  struct Case {
    const char* what;
    std::function<void(v1::CreateVportRequest*)> edit;
    grpc::StatusCode code;
    const char* message;
  };
  const std::vector<Case> cases = {
      {"kind unspecified", [](auto* r) { r->set_kind(v1::VPORT_KIND_UNSPECIFIED); },
       grpc::INVALID_ARGUMENT, "kind"},
      {"pod missing", [](auto* r) { r->clear_pod(); }, grpc::INVALID_ARGUMENT, "pod: required"},
      {"prefixes on a pod", [](auto* r) { r->add_ip_prefixes("10.0.0.1/24"); },
       grpc::INVALID_ARGUMENT, "ip_prefixes"},
      {"multicast mac", [](auto* r) { r->set_mac("01:00:5e:00:00:01"); },
       grpc::INVALID_ARGUMENT, "unicast"},
      {"bad mac", [](auto* r) { r->set_mac("02:00:00:00:00"); }, grpc::INVALID_ARGUMENT, "mac"},
      {"zero mac", [](auto* r) { r->set_mac("00:00:00:00:00:00"); }, grpc::INVALID_ARGUMENT,
       "unicast"},
      {"mtu 67", [](auto* r) { r->set_mtu(67); }, grpc::INVALID_ARGUMENT, "mtu 67"},
      {"mtu 65536", [](auto* r) { r->set_mtu(65536); }, grpc::INVALID_ARGUMENT, "mtu 65536"},
      {"container id", [](auto* r) { r->mutable_pod()->mutable_attachment()->set_container_id("-x"); },
       grpc::INVALID_ARGUMENT, "container_id"},
      {"ifname", [](auto* r) { r->mutable_pod()->mutable_attachment()->set_ifname("eth0/1"); },
       grpc::INVALID_ARGUMENT, "ifname"},
      {"relative netns", [](auto* r) { r->mutable_pod()->set_netns("netns/x"); },
       grpc::INVALID_ARGUMENT, "absolute"},
      {"veth with TAP backend", [](auto* r) { r->set_backend(v1::BACKEND_TAP); },
       grpc::INVALID_ARGUMENT, "backend"},
      {"name too long", [](auto* r) { r->set_name("abcdefghijklmnop"); }, grpc::INVALID_ARGUMENT,
       "name"},
      {"unknown bridge", [](auto* r) { r->set_bridge("veb9"); }, grpc::NOT_FOUND,
       "bridge \"veb9\": create vport: not found"},
      {"missing netns", [](auto* r) { r->mutable_pod()->set_netns("/nonexistent/ns"); },
       grpc::NOT_FOUND, "netns"},
      {"locked with learning", [](auto* r) {
         r->mutable_settings()->set_locked(true);
         r->mutable_settings()->set_learning(true);
       }, grpc::FAILED_PRECONDITION, "locked"},
      {"name of a member port", [](auto* r) { r->set_name("eth1"); }, grpc::ALREADY_EXISTS,
       "already exists"},
  };
  ASSERT_OK(AddPort("veb0", "eth1"));
  for (const Case& c : cases) {
    v1::CreateVportRequest req = Pod(netns_, "c1");
    c.edit(&req);
    grpc::Status s = Call(&v1::Switch::Stub::CreateVport, req);
    EXPECT_EQ(s.error_code(), c.code) << c.what << ": " << s.error_message();
    EXPECT_THAT(s.error_message(), HasSubstr(c.message)) << c.what;
  }
  v1::CreateVportRequest host = Host();
  for (const char* bad : {"10.0.0.1/33", "10.0.0.1", "x/24", "fd00::1/129", "10.0.0.1/2a"}) {
    host.clear_ip_prefixes();
    host.add_ip_prefixes(bad);
    grpc::Status s = Call(&v1::Switch::Stub::CreateVport, host);
    EXPECT_EQ(s.error_code(), grpc::INVALID_ARGUMENT) << bad;
    EXPECT_THAT(s.error_message(), HasSubstr(bad));
  }
  host.clear_ip_prefixes();
  *host.mutable_pod() = Pod(netns_, "c1").pod();
  EXPECT_EQ(Call(&v1::Switch::Stub::CreateVport, host).error_code(), grpc::INVALID_ARGUMENT);
  v1::CreateVportRequest xdp = Host();
  xdp.set_backend(v1::BACKEND_AF_PACKET);
  EXPECT_EQ(Call(&v1::Switch::Stub::CreateVport, xdp).error_code(), grpc::INVALID_ARGUMENT);

  // The backend failing midway leaves nothing either.
  opener_.FailNextVports(1);
  EXPECT_EQ(Call(&v1::Switch::Stub::CreateVport, Pod(netns_, "c1")).error_code(),
            grpc::UNAVAILABLE);
  EXPECT_EQ(VportCount(), 0u);
  v1::ListPortsRequest lp;
  lp.set_bridge("veb0");
  v1::ListPortsResponse ports;
  ASSERT_OK(Call(&v1::Switch::Stub::ListPorts, lp, &ports));
  EXPECT_EQ(ports.ports_size(), 1);  // eth1 only
  // ... and the same request then succeeds.
  ASSERT_OK(Call(&v1::Switch::Stub::CreateVport, Pod(netns_, "c1")));

  v1::DeleteVportRequest del;
  EXPECT_EQ(Call(&v1::Switch::Stub::DeleteVport, del).error_code(), grpc::INVALID_ARGUMENT);
  del.mutable_attachment()->set_container_id("c1");
  EXPECT_EQ(Call(&v1::Switch::Stub::DeleteVport, del).error_code(), grpc::INVALID_ARGUMENT);
}

TEST_F(VportTest, DeleteBridgeNeedsForceAndDestroysVports) {
  v1::CreateVportResponse pod;
  ASSERT_OK(Call(&v1::Switch::Stub::CreateVport, Pod(netns_, "c1"), &pod));
  ASSERT_OK(AddPort("veb0", "eth1"));
  v1::DeleteBridgeRequest del;
  del.set_name("veb0");
  grpc::Status s = Call(&v1::Switch::Stub::DeleteBridge, del);
  EXPECT_EQ(s.error_code(), grpc::FAILED_PRECONDITION);
  EXPECT_THAT(s.error_message(), HasSubstr("has 1 port and 1 vport (use force)"));
  del.set_force(true);
  ASSERT_OK(Call(&v1::Switch::Stub::DeleteBridge, del));
  EXPECT_FALSE(opener_.HasInterface(pod.vport().name()));
  EXPECT_TRUE(opener_.HasInterface("eth1"));
  EXPECT_EQ(VportCount(), 0u);
}

TEST_F(VportTest, PortEventsCarryTheVportKind) {
  v1::WatchEventsRequest req;
  req.add_types(v1::EVENT_TYPE_PORT_ADDED);
  req.add_types(v1::EVENT_TYPE_PORT_REMOVED);
  EventReader events(stub_.get(), req);
  EXPECT_EQ(events.Next().type(), v1::EVENT_TYPE_WATCH_STARTED);
  v1::CreateVportResponse pod;
  ASSERT_OK(Call(&v1::Switch::Stub::CreateVport, Pod(netns_, "c1"), &pod));
  v1::Event e = events.Next();
  EXPECT_EQ(e.type(), v1::EVENT_TYPE_PORT_ADDED);
  EXPECT_EQ(e.port().name(), pod.vport().name());
  EXPECT_EQ(e.port().vport_kind(), v1::VPORT_KIND_POD);
  // The pod's namespace goes away: the sweep removes the vport.
  unlink(netns_.c_str());
  agent_->Sweep();
  e = events.Next();
  EXPECT_EQ(e.type(), v1::EVENT_TYPE_PORT_REMOVED);
  EXPECT_EQ(e.port().removal_cause(), v1::PORT_REMOVAL_CAUSE_INTERFACE_GONE);
  EXPECT_EQ(e.port().vport_kind(), v1::VPORT_KIND_POD);
  EXPECT_EQ(VportCount(), 0u);
  EXPECT_FALSE(opener_.HasInterface(pod.vport().name()));
}

TEST_F(VportTest, RestartReattachesVportsWithoutRecreatingThem) {
  v1::CreateVportRequest req = Pod(netns_, "c1");
  req.mutable_settings()->set_locked(true);
  req.mutable_settings()->set_learning(false);
  req.mutable_settings()->set_discover(false);
  v1::CreateVportResponse pod, gone, host;
  ASSERT_OK(Call(&v1::Switch::Stub::CreateVport, req, &pod));
  ASSERT_OK(Call(&v1::Switch::Stub::CreateVport, Pod(netns2_, "c2"), &gone));
  v1::CreateVportRequest hreq = Host();
  hreq.add_ip_prefixes("10.22.0.1/24");
  ASSERT_OK(Call(&v1::Switch::Stub::CreateVport, hreq, &host));
  v1::AddStaticAddressRequest st;
  st.set_bridge("veb0");
  st.set_port(pod.vport().name());
  st.set_mac(pod.vport().mac());
  ASSERT_OK(Call(&v1::Switch::Stub::AddStaticAddress, st));
  const AgentConfig exported = agent_->ExportConfig();
  ASSERT_EQ(exported.vports_size(), 3);
  EXPECT_EQ(exported.ports_size(), 0);

  // A new agent over the same interfaces: the first pod and the host vport
  // are reattached (same names and MACs), the second pod's interfaces went
  // while "the agent was down".
  v1::DeleteVportRequest del;
  del.set_name(gone.vport().name());
  ASSERT_OK(Call(&v1::Switch::Stub::DeleteVport, del));  // removes its interfaces
  AgentOptions o;
  o.opener = &opener_;
  Agent agent2(o);
  std::vector<std::string> problems;
  agent2.Apply(exported, &problems);
  ASSERT_EQ(problems.size(), 1u);
  EXPECT_THAT(problems[0], HasSubstr(gone.vport().name()));
  // The pod whose interfaces went is pending, not forgotten (its runtime's
  // CNI DEL removes it).
  AgentConfig after = agent2.ExportConfig();
  ASSERT_EQ(after.vports_size(), 3);
  v1::GetVportRequest get_gone;
  get_gone.set_name(gone.vport().name());
  v1::GetVportResponse got_gone;
  ASSERT_TRUE(agent2.GetVport(get_gone, &got_gone).ok());
  EXPECT_TRUE(got_gone.vport().pending());
  EXPECT_THAT(got_gone.vport().pending_reason(), HasSubstr("gone"));
  v1::GetVportRequest get;
  get.set_name(pod.vport().name());
  v1::GetVportResponse got;
  ASSERT_TRUE(agent2.GetVport(get, &got).ok());
  EXPECT_EQ(got.vport().mac(), pod.vport().mac());
  EXPECT_TRUE(got.vport().port().locked());
  EXPECT_EQ(got.vport().port().address_count(), 1u);  // the static entry
  get.set_name("vport0");
  ASSERT_TRUE(agent2.GetVport(get, &got).ok());
  EXPECT_THAT(got.vport().ip_prefixes(), ::testing::ElementsAre("10.22.0.1/24"));
  // The same attachment is known after the restart (CNI DEL/CHECK).
  v1::DeleteVportRequest by_attachment;
  by_attachment.mutable_attachment()->set_container_id("c1");
  by_attachment.mutable_attachment()->set_ifname("eth0");
  v1::DeleteVportResponse deleted;
  ASSERT_TRUE(agent2.DeleteVport(by_attachment, &deleted).ok());
  EXPECT_TRUE(deleted.deleted());
  // Restoring twice (startup file after the state file) changes nothing.
  const AgentConfig before = agent2.ExportConfig();
  problems.clear();
  agent2.Apply(before, &problems);
  EXPECT_TRUE(problems.empty()) << problems[0];
  EXPECT_EQ(agent2.ExportConfig().DebugString(), before.DebugString());
}

// ---- export / replay -----------------------------------------------------------------------

TEST_F(SwitchServiceTest, ExportedConfigReplaysToTheSameConfig) {
  v1::BridgeSettings bs;
  bs.set_max_addresses(500);
  ASSERT_OK(CreateBridge("veb0", bs));
  v1::PortSettings ps;
  ps.set_locked(true);
  ps.mutable_tagged_vids()->add_vids(10);
  ps.mutable_protected_domains()->add_domains(2);
  ps.set_max_addresses(7);
  ASSERT_OK(AddPort("veb0", "eth1", ps));
  v1::AddSpanPortRequest span;
  span.set_bridge("veb0");
  span.set_name("eth2");
  ASSERT_OK(Call(&v1::Switch::Stub::AddSpanPort, span));
  v1::AddRuleRequest ar;
  ar.set_bridge("veb0");
  ar.set_port("eth1");
  ar.mutable_rule()->set_action(v1::RULE_ACTION_BLOCK);
  ar.mutable_rule()->set_direction(v1::RULE_DIRECTION_OUT);
  ar.mutable_rule()->set_dst("02:00:00:00:00:09");
  ASSERT_OK(Call(&v1::Switch::Stub::AddRule, ar));
  v1::AddStaticAddressRequest st;
  st.set_bridge("veb0");
  st.set_port("eth1");
  st.set_mac("02:00:00:00:00:01");
  st.set_vid(10);
  ASSERT_OK(Call(&v1::Switch::Stub::AddStaticAddress, st));

  const AgentConfig exported = agent_->ExportConfig();
  FakePortOpener opener2;
  for (const char* n : {"eth1", "eth2"}) opener2.AddInterface(n);
  AgentOptions o;
  o.opener = &opener2;
  Agent agent2(o);
  std::vector<std::string> problems;
  agent2.Apply(exported, &problems);
  EXPECT_TRUE(problems.empty()) << problems[0];
  EXPECT_EQ(agent2.ExportConfig().DebugString(), exported.DebugString());
  EXPECT_THAT(exported.DebugString(), HasSubstr("max_addresses: 7"));
}

TEST_F(SwitchServiceTest, PortMaxAddressesUpdatedAndRangeChecked) {
  ASSERT_OK(CreateBridge("veb0", v1::BridgeSettings()));
  ASSERT_OK(AddPort("veb0", "eth1", v1::PortSettings()));
  v1::GetPortRequest get;
  get.set_bridge("veb0");
  get.set_name("eth1");
  v1::GetPortResponse got;
  ASSERT_OK(Call(&v1::Switch::Stub::GetPort, get, &got));
  EXPECT_EQ(got.port().max_addresses(), 0u);
  v1::UpdatePortRequest up;
  up.set_bridge("veb0");
  up.set_name("eth1");
  up.mutable_settings()->set_max_addresses(4);
  ASSERT_OK(Call(&v1::Switch::Stub::UpdatePort, up));
  ASSERT_OK(Call(&v1::Switch::Stub::GetPort, get, &got));
  EXPECT_EQ(got.port().max_addresses(), 4u);
  up.mutable_settings()->set_max_addresses(1000001);
  EXPECT_THAT(Call(&v1::Switch::Stub::UpdatePort, up),
              StatusIs(grpc::INVALID_ARGUMENT,
                       "port \"eth1\": update: max_addresses 1000001 out of range "
                       "1..1000000 (0 = no port limit)"));
  ASSERT_OK(Call(&v1::Switch::Stub::GetPort, get, &got));
  EXPECT_EQ(got.port().max_addresses(), 4u);
}

}  // namespace
}  // namespace veb::server
