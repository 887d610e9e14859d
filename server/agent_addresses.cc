// Agent: the MAC table's API (list by page, static entries, delete, flush).
// A page costs what the bridge's ordered listing costs, not a copy and sort
// of the whole table; counts come from the table's own counters.
#include <algorithm>
#include <limits>
#include <utility>

#include "absl/strings/str_cat.h"
#include "server/agent.h"
#include "server/config_edit.h"
#include "server/convert.h"
#include "server/validate.h"

namespace veb::server {

v1::Address Agent::AddressToProto(const BridgeEntry& e, const AddressInfo& a) const {
  v1::Address out;
  out.set_bridge(e.bridge->name());
  out.set_vid(a.vid);
  out.set_mac(FormatMac(a.mac));
  out.set_port(a.port);
  out.set_type(a.is_static ? v1::ADDRESS_TYPE_STATIC : v1::ADDRESS_TYPE_DYNAMIC);
  out.set_age_seconds(a.age_seconds);
  if (!a.is_static) {
    const uint32_t timeout = e.bridge->config().timeout_seconds;
    out.set_expires_in_seconds(a.age_seconds >= timeout ? 1 : timeout - a.age_seconds);
  }
  return out;
}

absl::Status Agent::ListAddresses(const v1::ListAddressesRequest& req,
                                  v1::ListAddressesResponse* resp) {
  absl::StatusOr<AddressListing> q = ParseAddressListing(req);
  if (!q.ok()) return q.status();
  AddressQuery query;
  query.port = q->port;
  query.vid = q->vid;
  query.mac = q->mac;
  if (q->type != v1::ADDRESS_TYPE_UNSPECIFIED) {
    query.is_static = q->type == v1::ADDRESS_TYPE_STATIC;
  }
  std::optional<AddressKey> after;
  if (q->after) after = AddressKey{q->after->first, q->after->second};
  absl::ReaderMutexLock lock(&mu_);
  absl::StatusOr<BridgeEntry*> e = BridgeOr(req.bridge(), "list addresses");
  if (!e.ok()) return e.status();
  if (!q->port.empty()) {
    absl::StatusOr<PortRecord*> rec =
        PortOr(**e, q->port, false, PortObj(q->port, "list addresses"));
    if (!rec.ok()) return rec.status();
  }
  absl::StatusOr<AddressInfoPage> page =
      (*e)->bridge->ListAddressPage(query, after, q->page_size);
  if (!page.ok()) return page.status();
  resp->set_total_count(static_cast<uint32_t>(page->total_matching));
  for (const AddressInfo& a : page->addresses) *resp->add_addresses() = AddressToProto(**e, a);
  if (page->next_after) {
    resp->set_next_page_token(NextPageToken(*q, page->next_after->vid, page->next_after->mac));
  }
  return absl::OkStatus();
}

absl::Status Agent::AddStaticAddress(const v1::AddStaticAddressRequest& req,
                                     v1::AddStaticAddressResponse* resp) {
  if (absl::Status s = ValidateName(BridgeObj(req.bridge(), "add address"), req.bridge());
      !s.ok()) {
    return s;
  }
  absl::StatusOr<Mac> mac = ParseMacField("address: add", "mac", req.mac());
  if (!mac.ok()) return mac.status();
  std::optional<uint16_t> vid;
  if (req.has_vid()) {
    if (absl::Status s = ValidateVid(AddrObj(*mac, std::nullopt, "add"), "vid", req.vid());
        !s.ok()) {
      return s;
    }
    vid = static_cast<uint16_t>(req.vid());
  }
  if (IsMulticast(*mac) || *mac == 0) {
    return absl::InvalidArgumentError(
        absl::StrCat(AddrObj(*mac, vid, "add"), ": multicast or all-zero MAC"));
  }
  if (absl::Status s = ValidateName(AddrObj(*mac, vid, "add: port"), req.port()); !s.ok()) {
    return s;
  }
  absl::MutexLock config_lock(&config_mu_);
  {
    absl::ReaderMutexLock lock(&mu_);
    absl::StatusOr<BridgeEntry*> e = BridgeOr(req.bridge(), "add address");
    if (!e.ok()) return e.status();
    auto it = (*e)->ports.find(req.port());
    if (it == (*e)->ports.end() || it->second.span) {
      return NotFound(AddrObj(*mac, vid, "add"),
                      absl::StrCat("port ", Quote(req.port()), " not a member of bridge ",
                                   Quote(req.bridge())));
    }
    if (!vid) {
      absl::StatusOr<PortInfo> info = (*e)->bridge->GetPort(req.port());
      if (!info.ok()) return info.status();
      if (info->config.pvid == kPvidNone) {
        return absl::FailedPreconditionError(
            absl::StrCat(AddrObj(*mac, vid, "add"), ": port ", Quote(req.port()),
                         " has no PVID (give a VID)"));
      }
      vid = info->config.pvid;
    }
    const std::string obj = AddrObj(*mac, vid, "add");
    const std::optional<AddressInfo> existing = (*e)->bridge->GetAddress(*vid, *mac);
    if (existing && existing->is_static) {
      return absl::AlreadyExistsError(
          absl::StrCat(obj, ": static entry exists on port ", Quote(existing->port)));
    }
    const uint32_t max = (*e)->bridge->config().max_addresses;
    if (!existing && (*e)->bridge->address_count() >= max) {
      return absl::ResourceExhaustedError(absl::StrCat(
          obj, ": bridge ", Quote(req.bridge()), " table full (", max, " entries)"));
    }
  }
  const std::string obj = AddrObj(*mac, vid, "add");
  if (absl::Status s = Persist(obj, [&](AgentConfig* c) {
        v1::AddStaticAddressRequest* a = c->add_static_addresses();
        a->set_bridge(req.bridge());
        a->set_mac(FormatMac(*mac));
        a->set_port(req.port());
        a->set_vid(*vid);
      });
      !s.ok()) {
    return s;
  }
  absl::Status applied;
  {
    absl::ReaderMutexLock lock(&mu_);
    const BridgeEntry* e = FindLocked(req.bridge());
    applied = e->bridge->AddStaticAddress(*vid, *mac, req.port());
    if (applied.ok()) {
      AddressInfo info;
      info.vid = *vid;
      info.mac = *mac;
      info.port = req.port();
      info.is_static = true;
      *resp->mutable_address() = AddressToProto(*e, info);
    }
  }
  if (!applied.ok()) {
    PersistCurrent();  // e.g. the table filled up meanwhile
    return applied;
  }
  PublishAddress(hub_, v1::EVENT_TYPE_ADDRESS_ADDED, resp->address());
  return absl::OkStatus();
}

absl::Status Agent::DeleteAddress(const v1::DeleteAddressRequest& req,
                                  v1::DeleteAddressResponse* resp) {
  if (absl::Status s = ValidateName(BridgeObj(req.bridge(), "delete address"), req.bridge());
      !s.ok()) {
    return s;
  }
  absl::StatusOr<Mac> mac = ParseMacField("address: delete", "mac", req.mac());
  if (!mac.ok()) return mac.status();
  std::optional<uint16_t> vid;
  if (req.has_vid()) {
    if (absl::Status s = ValidateVid(AddrObj(*mac, std::nullopt, "delete"), "vid", req.vid());
        !s.ok()) {
      return s;
    }
    vid = static_cast<uint16_t>(req.vid());
  }
  absl::MutexLock config_lock(&config_mu_);
  const std::string obj = AddrObj(*mac, vid, "delete");
  AddressQuery query;
  query.mac = *mac;
  query.vid = vid;
  std::vector<AddressInfo> victims;
  {
    absl::ReaderMutexLock lock(&mu_);
    absl::StatusOr<BridgeEntry*> e = BridgeOr(req.bridge(), "delete address");
    if (!e.ok()) return e.status();
    // A MAC has at most one entry per VID: 4096 entries bound the listing.
    absl::StatusOr<AddressInfoPage> page =
        (*e)->bridge->ListAddressPage(query, std::nullopt, 4096);
    if (!page.ok()) return page.status();
    victims = std::move(page->addresses);
  }
  if (victims.empty()) return NotFound(obj, "not found");
  if (std::any_of(victims.begin(), victims.end(),
                  [](const AddressInfo& a) { return a.is_static; })) {
    if (absl::Status s = Persist(obj, [&](AgentConfig* c) {
          EraseStatic(c, req.bridge(), FormatMac(*mac),
                      vid ? std::optional<uint32_t>(*vid) : std::nullopt);
        });
        !s.ok()) {
      return s;
    }
  }
  std::vector<v1::Address> deleted;
  {
    absl::ReaderMutexLock lock(&mu_);
    const BridgeEntry* e = FindLocked(req.bridge());
    for (const AddressInfo& a : victims) {
      if (!e->bridge->DeleteAddress(a.vid, a.mac).ok()) continue;  // raced an expiry
      deleted.push_back(AddressToProto(*e, a));
    }
  }
  if (deleted.empty()) return NotFound(obj, "not found");
  for (const v1::Address& a : deleted) PublishAddress(hub_, v1::EVENT_TYPE_ADDRESS_DELETED, a);
  resp->set_deleted(static_cast<uint32_t>(deleted.size()));
  return absl::OkStatus();
}

absl::Status Agent::FlushAddresses(const v1::FlushAddressesRequest& req,
                                   v1::FlushAddressesResponse* resp) {
  const std::string obj = BridgeObj(req.bridge(), "flush addresses");
  if (absl::Status s = ValidateName(obj, req.bridge()); !s.ok()) return s;
  if (!v1::FlushMode_IsValid(req.mode())) {
    return absl::InvalidArgumentError(absl::StrCat(obj, ": mode ", req.mode(), " unknown"));
  }
  if (!req.port().empty()) {
    if (absl::Status s = ValidateName(PortObj(req.port(), "flush addresses"), req.port());
        !s.ok()) {
      return s;
    }
  }
  const bool all = req.mode() == v1::FLUSH_MODE_ALL;
  absl::MutexLock config_lock(&config_mu_);
  {
    absl::ReaderMutexLock lock(&mu_);
    absl::StatusOr<BridgeEntry*> e = BridgeOr(req.bridge(), "flush addresses");
    if (!e.ok()) return e.status();
    if (!req.port().empty()) {
      absl::StatusOr<PortRecord*> rec =
          PortOr(**e, req.port(), false, PortObj(req.port(), "flush addresses"));
      if (!rec.ok()) return rec.status();
    }
  }
  if (all) {
    if (absl::Status s = Persist(
            obj, [&](AgentConfig* c) { EraseStatics(c, req.bridge(), req.port()); });
        !s.ok()) {
      return s;
    }
  }
  size_t removed = 0;
  {
    absl::ReaderMutexLock lock(&mu_);
    BridgeEngine* b = FindLocked(req.bridge())->bridge.get();
    if (req.port().empty()) {
      removed = b->FlushAddresses(all);
    } else {
      AddressQuery query;
      query.port = req.port();
      if (!all) query.is_static = false;
      absl::StatusOr<AddressInfoPage> page =
          b->ListAddressPage(query, std::nullopt, std::numeric_limits<size_t>::max());
      if (page.ok()) {
        for (const AddressInfo& a : page->addresses) {
          if (b->DeleteAddress(a.vid, a.mac).ok()) ++removed;
        }
      }
    }
  }
  resp->set_removed(static_cast<uint32_t>(removed));
  PublishFlush(hub_, req.bridge(), req.port(), all, removed);
  return absl::OkStatus();
}

}  // namespace veb::server
