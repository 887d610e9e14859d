// veb.v1.Switch over gRPC: a thin shim that hands each request to the Agent
// and maps its absl::Status 1:1 to grpc::Status (server/convert.h).
//
// WatchEvents: one EventHub subscription per stream (bounded queue,
// WATCH_STARTED first, EVENTS_LOST on overflow); the handler thread waits on
// the queue in slices of kWatchPoll so a cancelled client is noticed, and
// ends with UNAVAILABLE when the agent shuts down (Agent::Shutdown).
//
// Thread-safety: gRPC calls the handlers concurrently; all state is in the
// Agent, which is thread-safe.
#ifndef VEB_SERVER_SWITCH_SERVICE_H_
#define VEB_SERVER_SWITCH_SERVICE_H_

#include "absl/time/time.h"
#include "grpcpp/grpcpp.h"
#include "proto/veb/v1/switch.grpc.pb.h"
#include "server/agent.h"

namespace veb::server {

class SwitchService final : public v1::Switch::Service {
 public:
  static constexpr absl::Duration kWatchPoll = absl::Milliseconds(200);

  // `agent` must outlive the service.
  explicit SwitchService(Agent* agent) : agent_(agent) {}

  grpc::Status CreateBridge(grpc::ServerContext* ctx, const v1::CreateBridgeRequest* req,
                      v1::CreateBridgeResponse* resp) override;
  grpc::Status DeleteBridge(grpc::ServerContext* ctx, const v1::DeleteBridgeRequest* req,
                      v1::DeleteBridgeResponse* resp) override;
  grpc::Status GetBridge(grpc::ServerContext* ctx, const v1::GetBridgeRequest* req,
                      v1::GetBridgeResponse* resp) override;
  grpc::Status ListBridges(grpc::ServerContext* ctx, const v1::ListBridgesRequest* req,
                      v1::ListBridgesResponse* resp) override;
  grpc::Status UpdateBridge(grpc::ServerContext* ctx, const v1::UpdateBridgeRequest* req,
                      v1::UpdateBridgeResponse* resp) override;
  grpc::Status AddPort(grpc::ServerContext* ctx, const v1::AddPortRequest* req,
                      v1::AddPortResponse* resp) override;
  grpc::Status DeletePort(grpc::ServerContext* ctx, const v1::DeletePortRequest* req,
                      v1::DeletePortResponse* resp) override;
  grpc::Status GetPort(grpc::ServerContext* ctx, const v1::GetPortRequest* req,
                      v1::GetPortResponse* resp) override;
  grpc::Status ListPorts(grpc::ServerContext* ctx, const v1::ListPortsRequest* req,
                      v1::ListPortsResponse* resp) override;
  grpc::Status UpdatePort(grpc::ServerContext* ctx, const v1::UpdatePortRequest* req,
                      v1::UpdatePortResponse* resp) override;
  grpc::Status AddSpanPort(grpc::ServerContext* ctx, const v1::AddSpanPortRequest* req,
                      v1::AddSpanPortResponse* resp) override;
  grpc::Status DeleteSpanPort(grpc::ServerContext* ctx, const v1::DeleteSpanPortRequest* req,
                      v1::DeleteSpanPortResponse* resp) override;
  grpc::Status GetSpanPort(grpc::ServerContext* ctx, const v1::GetSpanPortRequest* req,
                      v1::GetSpanPortResponse* resp) override;
  grpc::Status ListSpanPorts(grpc::ServerContext* ctx, const v1::ListSpanPortsRequest* req,
                      v1::ListSpanPortsResponse* resp) override;
  grpc::Status ListAddresses(grpc::ServerContext* ctx, const v1::ListAddressesRequest* req,
                      v1::ListAddressesResponse* resp) override;
  grpc::Status AddStaticAddress(grpc::ServerContext* ctx, const v1::AddStaticAddressRequest* req,
                      v1::AddStaticAddressResponse* resp) override;
  grpc::Status DeleteAddress(grpc::ServerContext* ctx, const v1::DeleteAddressRequest* req,
                      v1::DeleteAddressResponse* resp) override;
  grpc::Status FlushAddresses(grpc::ServerContext* ctx, const v1::FlushAddressesRequest* req,
                      v1::FlushAddressesResponse* resp) override;
  grpc::Status AddRule(grpc::ServerContext* ctx, const v1::AddRuleRequest* req,
                      v1::AddRuleResponse* resp) override;
  grpc::Status ListRules(grpc::ServerContext* ctx, const v1::ListRulesRequest* req,
                      v1::ListRulesResponse* resp) override;
  grpc::Status FlushRules(grpc::ServerContext* ctx, const v1::FlushRulesRequest* req,
                      v1::FlushRulesResponse* resp) override;
  grpc::Status GetPortCounters(grpc::ServerContext* ctx, const v1::GetPortCountersRequest* req,
                      v1::GetPortCountersResponse* resp) override;
  grpc::Status ListCounters(grpc::ServerContext* ctx, const v1::ListCountersRequest* req,
                      v1::ListCountersResponse* resp) override;
  grpc::Status CreateVport(grpc::ServerContext* ctx, const v1::CreateVportRequest* req,
                      v1::CreateVportResponse* resp) override;
  grpc::Status DeleteVport(grpc::ServerContext* ctx, const v1::DeleteVportRequest* req,
                      v1::DeleteVportResponse* resp) override;
  grpc::Status GetVport(grpc::ServerContext* ctx, const v1::GetVportRequest* req,
                      v1::GetVportResponse* resp) override;
  grpc::Status SetVportPeers(grpc::ServerContext* ctx, const v1::SetVportPeersRequest* req,
                      v1::SetVportPeersResponse* resp) override;
  grpc::Status ListVports(grpc::ServerContext* ctx, const v1::ListVportsRequest* req,
                      v1::ListVportsResponse* resp) override;
  grpc::Status WatchEvents(grpc::ServerContext* ctx,
                           const v1::WatchEventsRequest* req,
                           grpc::ServerWriter<v1::WatchEventsResponse>* writer) override;

 private:
  Agent* const agent_;
};

}  // namespace veb::server

#endif  // VEB_SERVER_SWITCH_SERVICE_H_
