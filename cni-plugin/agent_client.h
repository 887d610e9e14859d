// The plugin's connection to vebd: the veb.v1.Switch calls CNI needs and the
// standard health check, over the agent's unix socket, each with a deadline.
// gRPC failures become CNI errors in one place (ToCniError): an unreachable or
// overloaded agent is 11 "try again later", an unknown bridge 7, the rest 100
// with the agent's message. Thread-safety: one instance per invocation.
#ifndef VEB_CNI_PLUGIN_AGENT_CLIENT_H_
#define VEB_CNI_PLUGIN_AGENT_CLIENT_H_

#include <chrono>
#include <memory>
#include <string>

#include "absl/strings/string_view.h"
#include "cni-plugin/cni.h"
#include "grpcpp/grpcpp.h"
#include "proto/grpc/health/v1/health.grpc.pb.h"
#include "proto/veb/v1/switch.grpc.pb.h"

namespace veb::cni {

// Whether an agent error message starts with the object it is about, as all
// of vebd's do: `bridge "veb0": get: not found`, `vport: create: ...`.
bool AgentNamesObject(absl::string_view msg);

class AgentClient {
 public:
  explicit AgentClient(const std::string& socket_path);

  grpc::Status Health(bool* serving);
  grpc::Status GetBridge(const std::string& name, v1::Bridge* out);
  grpc::Status CreateVport(const v1::CreateVportRequest& req, v1::Vport* out);
  grpc::Status GetVport(const std::string& bridge, const Attachment& a, v1::Vport* out);
  grpc::Status GetVportByName(const std::string& name, v1::Vport* out);
  grpc::Status DeleteVport(const std::string& bridge, const Attachment& a);
  // Static entry for `mac` on `port` in the port's PVID (locked pod ports).
  grpc::Status AddStaticAddress(const std::string& bridge, const std::string& port,
                                const std::string& mac);
  // Pod port hardening (pinned MAC, ARP guard, address limit) and its CHECK.
  grpc::Status GetPort(const std::string& bridge, const std::string& port, v1::Port* out);
  grpc::Status UpdatePort(const std::string& bridge, const std::string& port,
                          const v1::PortSettings& settings);
  // Static entries of `port` for `mac` (any VID).
  grpc::Status ListStaticAddresses(const std::string& bridge, const std::string& port,
                                   const std::string& mac, std::vector<v1::Address>* out);
  grpc::Status AddRule(const std::string& bridge, const std::string& port, const v1::Rule& rule);
  grpc::Status ListRules(const std::string& bridge, const std::string& port,
                         std::vector<v1::Rule>* out);
  grpc::Status FlushRules(const std::string& bridge, const std::string& port);
  grpc::Status ListPodVports(const std::string& bridge, std::vector<v1::Vport>* out);

  // `what` names the operation, e.g. "create pod vport"; it prefixes the
  // message only when the agent's message does not name its object itself
  // (AgentNamesObject), so no message carries two prefixes.
  Error ToCniError(const grpc::Status& s, const std::string& what) const;

 private:
  grpc::Status GetVportBy(const v1::GetVportRequest& req, v1::Vport* out);
  std::unique_ptr<grpc::ClientContext> Context(std::chrono::seconds timeout) const;

  std::string socket_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<v1::Switch::Stub> stub_;
  std::unique_ptr<grpc::health::v1::Health::Stub> health_;
};

}  // namespace veb::cni

#endif  // VEB_CNI_PLUGIN_AGENT_CLIENT_H_
