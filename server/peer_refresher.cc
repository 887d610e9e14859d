#include "server/peer_refresher.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "server/validate.h"

namespace veb::server {

PeerRefresher::PeerRefresher(Agent* agent, std::vector<PeerSourceSpec> sources,
                             absl::Duration period,
                             std::function<void(const std::string&)> log)
    : agent_(agent), period_(period), log_(std::move(log)) {
  absl::MutexLock lock(&mu_);
  for (PeerSourceSpec& spec : sources) {
    stats_.push_back({spec.vport, 0, 0});
    sources_.push_back({std::move(spec), ""});
  }
}

PeerRefresher::~PeerRefresher() { Stop(); }

void PeerRefresher::Start() {
  if (sources_.empty() || thread_.joinable()) return;
  thread_ = std::thread([this] {
    do {
      RefreshOnce();
    } while (!stop_.WaitForNotificationWithTimeout(period_));
  });
}

void PeerRefresher::Stop() {
  if (!stop_.HasBeenNotified()) stop_.Notify();
  if (thread_.joinable()) thread_.join();
}

std::vector<PeerRefresher::SourceStats> PeerRefresher::Stats() const {
  absl::MutexLock lock(&mu_);
  return stats_;
}

void PeerRefresher::SetState(Source& s, const std::string& state) {
  if (state == s.state) return;
  s.state = state;
  log_(absl::StrCat("tunnel peers: vport \"", s.spec.vport, "\" (", s.spec.Describe(),
                    "): ", state));
}

void PeerRefresher::RefreshOnce() {
  // The node's own addresses, read once per refresh: a node that finds
  // itself in the source must not become its own peer.
  absl::StatusOr<std::set<std::string>> local = LocalAddresses();
  if (!local.ok()) {
    for (Source& s : sources_) SetState(s, absl::StrCat("failing: ", local.status().message()));
    absl::MutexLock lock(&mu_);
    for (SourceStats& st : stats_) ++st.refresh_failures;
    return;
  }
  for (size_t i = 0; i < sources_.size(); ++i) Refresh(i, *local);
}

void PeerRefresher::Refresh(size_t i, const std::set<std::string>& local) {
  Source& s = sources_[i];
  auto failed = [&](const std::string& state) {
    SetState(s, state);
    absl::MutexLock lock(&mu_);
    ++stats_[i].refresh_failures;
  };
  // Resolved with no agent lock held (the agent takes its own per call).
  absl::StatusOr<std::vector<std::string>> resolved = ResolvePeerSource(s.spec);
  if (!resolved.ok()) {
    failed(absl::StrCat("failing, peers kept as they are: ", resolved.status().message()));
    return;
  }
  v1::GetVportRequest get;
  get.set_name(s.spec.vport);
  v1::GetVportResponse vport;
  if (absl::Status st = agent_->GetVport(get, &vport); !st.ok()) {
    failed(absl::StrCat("waiting for the tunnel vport: ", st.message()));
    return;
  }
  if (vport.vport().pending()) {
    failed(absl::StrCat("waiting for the tunnel vport: pending (",
                        vport.vport().pending_reason(), ")"));
    return;
  }
  if (vport.vport().kind() != v1::VPORT_KIND_TUNNEL) {
    failed("not a tunnel vport");
    return;
  }
  const v1::TunnelVport& tunnel = vport.vport().tunnel();
  std::set<std::string> self = local;
  if (!tunnel.local().empty()) {
    if (absl::StatusOr<std::string> ip = CanonicalIp("local", "local", tunnel.local()); ip.ok()) {
      self.insert(*ip);
    }
  }
  std::vector<std::string> wanted;
  for (const std::string& ip : *resolved) {
    if (self.count(ip) == 0) wanted.push_back(ip);
  }
  v1::Vport after;
  std::vector<std::string> added;
  std::vector<std::string> removed;
  if (absl::Status st = agent_->SyncSourcePeers(s.spec.vport, wanted, &after, &added, &removed);
      !st.ok()) {
    failed(absl::StrCat("failing: ", st.message()));
    return;
  }
  for (const auto& [verb, list] : {std::pair{"added ", &added}, std::pair{"removed ", &removed}}) {
    if (list->empty()) continue;
    log_(absl::StrCat("tunnel peers: vport \"", s.spec.vport, "\": ", verb,
                      absl::StrJoin(*list, ","), " (", s.spec.Describe(), ")"));
  }
  const size_t peers = static_cast<size_t>(after.tunnel().peers_size());
  SetState(s, absl::StrCat("ok, ", resolved->size(), " address(es) from the source"));
  absl::MutexLock lock(&mu_);
  stats_[i].peers = peers;
}

}  // namespace veb::server
