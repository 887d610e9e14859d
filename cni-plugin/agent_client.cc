#include "cni-plugin/agent_client.h"

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"

namespace veb::cni {
namespace {
constexpr std::chrono::seconds kCallTimeout(20);
constexpr std::chrono::seconds kHealthTimeout(3);
}  // namespace

AgentClient::AgentClient(const std::string& socket_path)
    : socket_(socket_path),
      channel_(grpc::CreateChannel("unix://" + socket_path, grpc::InsecureChannelCredentials())),
      stub_(v1::Switch::NewStub(channel_)),
      health_(grpc::health::v1::Health::NewStub(channel_)) {}

std::unique_ptr<grpc::ClientContext> AgentClient::Context(std::chrono::seconds timeout) const {
  auto ctx = std::make_unique<grpc::ClientContext>();
  ctx->set_deadline(std::chrono::system_clock::now() + timeout);
  return ctx;
}

grpc::Status AgentClient::Health(bool* serving) {
  grpc::health::v1::HealthCheckRequest req;
  grpc::health::v1::HealthCheckResponse resp;
  auto ctx = Context(kHealthTimeout);
  grpc::Status s = health_->Check(ctx.get(), req, &resp);
  *serving = s.ok() && resp.status() == grpc::health::v1::HealthCheckResponse::SERVING;
  return s;
}

grpc::Status AgentClient::GetBridge(const std::string& name, v1::Bridge* out) {
  v1::GetBridgeRequest req;
  req.set_name(name);
  v1::GetBridgeResponse resp;
  auto ctx = Context(kCallTimeout);
  grpc::Status s = stub_->GetBridge(ctx.get(), req, &resp);
  if (s.ok()) *out = resp.bridge();
  return s;
}

grpc::Status AgentClient::CreateVport(const v1::CreateVportRequest& req, v1::Vport* out) {
  v1::CreateVportResponse resp;
  auto ctx = Context(kCallTimeout);
  grpc::Status s = stub_->CreateVport(ctx.get(), req, &resp);
  if (s.ok()) *out = resp.vport();
  return s;
}

grpc::Status AgentClient::GetVport(const std::string& bridge, const Attachment& a,
                                   v1::Vport* out) {
  v1::GetVportRequest req;
  req.set_bridge(bridge);
  req.mutable_attachment()->set_container_id(a.container_id);
  req.mutable_attachment()->set_ifname(a.ifname);
  return GetVportBy(req, out);
}

grpc::Status AgentClient::GetVportByName(const std::string& name, v1::Vport* out) {
  v1::GetVportRequest req;
  req.set_name(name);
  return GetVportBy(req, out);
}

grpc::Status AgentClient::GetVportBy(const v1::GetVportRequest& req, v1::Vport* out) {
  v1::GetVportResponse resp;
  auto ctx = Context(kCallTimeout);
  grpc::Status s = stub_->GetVport(ctx.get(), req, &resp);
  if (s.ok()) *out = resp.vport();
  return s;
}

grpc::Status AgentClient::DeleteVport(const std::string& bridge, const Attachment& a) {
  v1::DeleteVportRequest req;
  req.set_bridge(bridge);
  req.mutable_attachment()->set_container_id(a.container_id);
  req.mutable_attachment()->set_ifname(a.ifname);
  req.set_allow_missing(true);
  v1::DeleteVportResponse resp;
  auto ctx = Context(kCallTimeout);
  return stub_->DeleteVport(ctx.get(), req, &resp);
}

grpc::Status AgentClient::AddStaticAddress(const std::string& bridge, const std::string& port,
                                          const std::string& mac) {
  v1::AddStaticAddressRequest req;
  req.set_bridge(bridge);
  req.set_port(port);
  req.set_mac(mac);
  v1::AddStaticAddressResponse resp;
  auto ctx = Context(kCallTimeout);
  return stub_->AddStaticAddress(ctx.get(), req, &resp);
}

grpc::Status AgentClient::GetPort(const std::string& bridge, const std::string& port,
                                 v1::Port* out) {
  v1::GetPortRequest req;
  req.set_bridge(bridge);
  req.set_name(port);
  v1::GetPortResponse resp;
  auto ctx = Context(kCallTimeout);
  grpc::Status s = stub_->GetPort(ctx.get(), req, &resp);
  if (s.ok()) *out = resp.port();
  return s;
}

grpc::Status AgentClient::UpdatePort(const std::string& bridge, const std::string& port,
                                    const v1::PortSettings& settings) {
  v1::UpdatePortRequest req;
  req.set_bridge(bridge);
  req.set_name(port);
  *req.mutable_settings() = settings;
  v1::UpdatePortResponse resp;
  auto ctx = Context(kCallTimeout);
  return stub_->UpdatePort(ctx.get(), req, &resp);
}

grpc::Status AgentClient::ListStaticAddresses(const std::string& bridge,
                                             const std::string& port, const std::string& mac,
                                             std::vector<v1::Address>* out) {
  v1::ListAddressesRequest req;
  req.set_bridge(bridge);
  req.set_port(port);
  req.set_mac(mac);
  req.set_type(v1::ADDRESS_TYPE_STATIC);
  v1::ListAddressesResponse resp;
  auto ctx = Context(kCallTimeout);
  grpc::Status s = stub_->ListAddresses(ctx.get(), req, &resp);
  if (s.ok()) out->assign(resp.addresses().begin(), resp.addresses().end());
  return s;
}

grpc::Status AgentClient::AddRule(const std::string& bridge, const std::string& port,
                                 const v1::Rule& rule) {
  v1::AddRuleRequest req;
  req.set_bridge(bridge);
  req.set_port(port);
  *req.mutable_rule() = rule;
  v1::AddRuleResponse resp;
  auto ctx = Context(kCallTimeout);
  return stub_->AddRule(ctx.get(), req, &resp);
}

grpc::Status AgentClient::ListRules(const std::string& bridge, const std::string& port,
                                   std::vector<v1::Rule>* out) {
  v1::ListRulesRequest req;
  req.set_bridge(bridge);
  req.set_port(port);
  v1::ListRulesResponse resp;
  auto ctx = Context(kCallTimeout);
  grpc::Status s = stub_->ListRules(ctx.get(), req, &resp);
  if (s.ok()) out->assign(resp.rules().begin(), resp.rules().end());
  return s;
}

grpc::Status AgentClient::FlushRules(const std::string& bridge, const std::string& port) {
  v1::FlushRulesRequest req;
  req.set_bridge(bridge);
  req.set_port(port);
  v1::FlushRulesResponse resp;
  auto ctx = Context(kCallTimeout);
  return stub_->FlushRules(ctx.get(), req, &resp);
}

grpc::Status AgentClient::ListPodVports(const std::string& bridge, std::vector<v1::Vport>* out) {
  v1::ListVportsRequest req;
  req.set_bridge(bridge);
  req.set_kind(v1::VPORT_KIND_POD);
  v1::ListVportsResponse resp;
  auto ctx = Context(kCallTimeout);
  grpc::Status s = stub_->ListVports(ctx.get(), req, &resp);
  if (s.ok()) out->assign(resp.vports().begin(), resp.vports().end());
  return s;
}

bool AgentNamesObject(absl::string_view msg) {
  for (absl::string_view object : {"bridge", "span port", "port", "vport", "address", "rule"}) {
    if (absl::StartsWith(msg, object)) {
      const absl::string_view rest = msg.substr(object.size());
      if (absl::StartsWith(rest, " \"") || absl::StartsWith(rest, ":")) return true;
    }
  }
  return false;
}

Error AgentClient::ToCniError(const grpc::Status& s, const std::string& what) const {
  // The agent's own messages name the object and the operation; prefixing
  // `what` would say it twice ("create pod vport: vport \"vp1\": create: ...").
  const std::string& m = s.error_message();
  const bool named = AgentNamesObject(m);
  const std::string msg = named ? m : absl::StrCat(what, ": ", m);
  switch (s.error_code()) {
    case grpc::StatusCode::UNAVAILABLE:
    case grpc::StatusCode::DEADLINE_EXCEEDED:
    case grpc::StatusCode::RESOURCE_EXHAUSTED:
      // Named: the agent answered (e.g. it could not save); else transport.
      return Error{kTryAgainLater,
                   named ? absl::StrCat("veb agent at ", Quote(socket_), ": ", msg)
                         : absl::StrCat("veb agent at ", Quote(socket_), " not reachable: ", msg),
                   ""};
    case grpc::StatusCode::INVALID_ARGUMENT:
    case grpc::StatusCode::FAILED_PRECONDITION:
      return Error{kInvalidConfig, msg, ""};
    default:
      return Error{kAgentError, msg, absl::StrCat("grpc status ", s.error_code())};
  }
}

}  // namespace veb::cni
