#include "server/agent_events.h"

#include "server/convert.h"

namespace veb::server {

void PortNames::Set(PortRef ref, const std::string& name) {
  absl::MutexLock lock(&mu_);
  names_[Key(ref)] = name;
}

void PortNames::Erase(PortRef ref) {
  absl::MutexLock lock(&mu_);
  names_.erase(Key(ref));
}

std::string PortNames::Get(PortRef ref) const {
  absl::MutexLock lock(&mu_);
  auto it = names_.find(Key(ref));
  return it == names_.end() ? std::string() : it->second;
}

AddressEventSink MakeAddressEventSink(std::shared_ptr<const PortNames> names, EventHub* hub,
                                      std::string bridge) {
  return [names = std::move(names), hub, bridge = std::move(bridge)](const AddressEvent& ev) {
    v1::EventType type;
    switch (ev.kind) {
      case AddressEventKind::kLearned: type = v1::EVENT_TYPE_ADDRESS_LEARNED; break;
      case AddressEventKind::kMoved: type = v1::EVENT_TYPE_ADDRESS_MOVED; break;
      case AddressEventKind::kExpired: type = v1::EVENT_TYPE_ADDRESS_EXPIRED; break;
      default: return;
    }
    hub->Publish(type, bridge, [&](v1::Event* out) {
      v1::AddressEvent* a = out->mutable_address();
      v1::Address* addr = a->mutable_address();
      addr->set_bridge(bridge);
      addr->set_vid(ev.vid);
      addr->set_mac(FormatMac(ev.mac));
      addr->set_port(names->Get(ev.port));
      addr->set_type(v1::ADDRESS_TYPE_DYNAMIC);
      if (type == v1::EVENT_TYPE_ADDRESS_EXPIRED) {
        addr->set_age_seconds(ev.age_seconds);
      } else {
        addr->set_expires_in_seconds(names->timeout_seconds());
      }
      if (type == v1::EVENT_TYPE_ADDRESS_MOVED) a->set_previous_port(names->Get(ev.old_port));
    });
  };
}

void PublishPortEvent(EventHub& hub, v1::EventType type, const PortEventInfo& info) {
  hub.Publish(type, info.bridge, [&](v1::Event* ev) {
    v1::PortEvent* p = ev->mutable_port();
    p->set_name(info.port);
    p->set_span(info.span);
    p->set_vport_kind(info.vport_kind);
    p->set_link_up(info.link_up);
    p->set_removal_cause(info.cause);
  });
}

void PublishFlush(EventHub& hub, const std::string& bridge, const std::string& port, bool all,
                  uint64_t removed) {
  hub.Publish(v1::EVENT_TYPE_ADDRESSES_FLUSHED, bridge, [&](v1::Event* ev) {
    ev->mutable_flush()->set_port(port);
    ev->mutable_flush()->set_mode(all ? v1::FLUSH_MODE_ALL : v1::FLUSH_MODE_DYNAMIC);
    ev->mutable_flush()->set_removed(removed);
  });
}

void PublishAddress(EventHub& hub, v1::EventType type, const v1::Address& address) {
  hub.Publish(type, address.bridge(),
              [&](v1::Event* ev) { *ev->mutable_address()->mutable_address() = address; });
}

}  // namespace veb::server
