#include "server/switch_service.h"

#include "absl/strings/str_cat.h"
#include "server/convert.h"

namespace veb::server {

grpc::Status SwitchService::CreateBridge(grpc::ServerContext*, const v1::CreateBridgeRequest* req,
                                 v1::CreateBridgeResponse* resp) {
  return ToGrpcStatus(agent_->CreateBridge(*req, resp));
}

grpc::Status SwitchService::DeleteBridge(grpc::ServerContext*, const v1::DeleteBridgeRequest* req,
                                 v1::DeleteBridgeResponse* resp) {
  return ToGrpcStatus(agent_->DeleteBridge(*req, resp));
}

grpc::Status SwitchService::GetBridge(grpc::ServerContext*, const v1::GetBridgeRequest* req,
                                 v1::GetBridgeResponse* resp) {
  return ToGrpcStatus(agent_->GetBridge(*req, resp));
}

grpc::Status SwitchService::ListBridges(grpc::ServerContext*, const v1::ListBridgesRequest* req,
                                 v1::ListBridgesResponse* resp) {
  return ToGrpcStatus(agent_->ListBridges(*req, resp));
}

grpc::Status SwitchService::UpdateBridge(grpc::ServerContext*, const v1::UpdateBridgeRequest* req,
                                 v1::UpdateBridgeResponse* resp) {
  return ToGrpcStatus(agent_->UpdateBridge(*req, resp));
}

grpc::Status SwitchService::AddPort(grpc::ServerContext*, const v1::AddPortRequest* req,
                                 v1::AddPortResponse* resp) {
  return ToGrpcStatus(agent_->AddPort(*req, resp));
}

grpc::Status SwitchService::DeletePort(grpc::ServerContext*, const v1::DeletePortRequest* req,
                                 v1::DeletePortResponse* resp) {
  return ToGrpcStatus(agent_->DeletePort(*req, resp));
}

grpc::Status SwitchService::GetPort(grpc::ServerContext*, const v1::GetPortRequest* req,
                                 v1::GetPortResponse* resp) {
  return ToGrpcStatus(agent_->GetPort(*req, resp));
}

grpc::Status SwitchService::ListPorts(grpc::ServerContext*, const v1::ListPortsRequest* req,
                                 v1::ListPortsResponse* resp) {
  return ToGrpcStatus(agent_->ListPorts(*req, resp));
}

grpc::Status SwitchService::UpdatePort(grpc::ServerContext*, const v1::UpdatePortRequest* req,
                                 v1::UpdatePortResponse* resp) {
  return ToGrpcStatus(agent_->UpdatePort(*req, resp));
}

grpc::Status SwitchService::AddSpanPort(grpc::ServerContext*, const v1::AddSpanPortRequest* req,
                                 v1::AddSpanPortResponse* resp) {
  return ToGrpcStatus(agent_->AddSpanPort(*req, resp));
}

grpc::Status SwitchService::DeleteSpanPort(grpc::ServerContext*, const v1::DeleteSpanPortRequest* req,
                                 v1::DeleteSpanPortResponse* resp) {
  return ToGrpcStatus(agent_->DeleteSpanPort(*req, resp));
}

grpc::Status SwitchService::GetSpanPort(grpc::ServerContext*, const v1::GetSpanPortRequest* req,
                                 v1::GetSpanPortResponse* resp) {
  return ToGrpcStatus(agent_->GetSpanPort(*req, resp));
}

grpc::Status SwitchService::ListSpanPorts(grpc::ServerContext*, const v1::ListSpanPortsRequest* req,
                                 v1::ListSpanPortsResponse* resp) {
  return ToGrpcStatus(agent_->ListSpanPorts(*req, resp));
}

grpc::Status SwitchService::ListAddresses(grpc::ServerContext*, const v1::ListAddressesRequest* req,
                                 v1::ListAddressesResponse* resp) {
  return ToGrpcStatus(agent_->ListAddresses(*req, resp));
}

grpc::Status SwitchService::AddStaticAddress(grpc::ServerContext*, const v1::AddStaticAddressRequest* req,
                                 v1::AddStaticAddressResponse* resp) {
  return ToGrpcStatus(agent_->AddStaticAddress(*req, resp));
}

grpc::Status SwitchService::DeleteAddress(grpc::ServerContext*, const v1::DeleteAddressRequest* req,
                                 v1::DeleteAddressResponse* resp) {
  return ToGrpcStatus(agent_->DeleteAddress(*req, resp));
}

grpc::Status SwitchService::FlushAddresses(grpc::ServerContext*, const v1::FlushAddressesRequest* req,
                                 v1::FlushAddressesResponse* resp) {
  return ToGrpcStatus(agent_->FlushAddresses(*req, resp));
}

grpc::Status SwitchService::AddRule(grpc::ServerContext*, const v1::AddRuleRequest* req,
                                 v1::AddRuleResponse* resp) {
  return ToGrpcStatus(agent_->AddRule(*req, resp));
}

grpc::Status SwitchService::ListRules(grpc::ServerContext*, const v1::ListRulesRequest* req,
                                 v1::ListRulesResponse* resp) {
  return ToGrpcStatus(agent_->ListRules(*req, resp));
}

grpc::Status SwitchService::FlushRules(grpc::ServerContext*, const v1::FlushRulesRequest* req,
                                 v1::FlushRulesResponse* resp) {
  return ToGrpcStatus(agent_->FlushRules(*req, resp));
}

grpc::Status SwitchService::GetPortCounters(grpc::ServerContext*, const v1::GetPortCountersRequest* req,
                                 v1::GetPortCountersResponse* resp) {
  return ToGrpcStatus(agent_->GetPortCounters(*req, resp));
}

grpc::Status SwitchService::ListCounters(grpc::ServerContext*, const v1::ListCountersRequest* req,
                                 v1::ListCountersResponse* resp) {
  return ToGrpcStatus(agent_->ListCounters(*req, resp));
}

grpc::Status SwitchService::CreateVport(grpc::ServerContext*, const v1::CreateVportRequest* req,
                                 v1::CreateVportResponse* resp) {
  return ToGrpcStatus(agent_->CreateVport(*req, resp));
}

grpc::Status SwitchService::DeleteVport(grpc::ServerContext*, const v1::DeleteVportRequest* req,
                                 v1::DeleteVportResponse* resp) {
  return ToGrpcStatus(agent_->DeleteVport(*req, resp));
}

grpc::Status SwitchService::GetVport(grpc::ServerContext*, const v1::GetVportRequest* req,
                                 v1::GetVportResponse* resp) {
  return ToGrpcStatus(agent_->GetVport(*req, resp));
}

grpc::Status SwitchService::SetVportPeers(grpc::ServerContext*,
                                          const v1::SetVportPeersRequest* req,
                                          v1::SetVportPeersResponse* resp) {
  return ToGrpcStatus(agent_->SetVportPeers(*req, resp));
}

grpc::Status SwitchService::ListVports(grpc::ServerContext*, const v1::ListVportsRequest* req,
                                 v1::ListVportsResponse* resp) {
  return ToGrpcStatus(agent_->ListVports(*req, resp));
}

grpc::Status SwitchService::WatchEvents(
    grpc::ServerContext* ctx, const v1::WatchEventsRequest* req,
    grpc::ServerWriter<v1::WatchEventsResponse>* writer) {
  absl::StatusOr<std::unique_ptr<EventHub::Subscription>> sub = agent_->Watch(*req);
  if (!sub.ok()) return ToGrpcStatus(sub.status());
  v1::WatchEventsResponse resp;
  while (!ctx->IsCancelled()) {
    std::shared_ptr<const v1::Event> event;
    switch ((*sub)->Next(kWatchPoll, &event)) {
      case EventHub::NextResult::kTimeout:
        continue;
      case EventHub::NextResult::kClosed:
        return grpc::Status(grpc::StatusCode::UNAVAILABLE,
                            "watch: agent is shutting down");
      case EventHub::NextResult::kEvent:
        *resp.mutable_event() = *event;
        if (!writer->Write(resp)) {
          return grpc::Status(grpc::StatusCode::CANCELLED, "watch: client gone");
        }
        break;
    }
  }
  return grpc::Status(grpc::StatusCode::CANCELLED, "watch: cancelled");
}

}  // namespace veb::server
