#include "dataplane/linux/link_monitor.h"

#include <linux/rtnetlink.h>
#include <netlink/cache.h>
#include <netlink/msg.h>
#include <netlink/netlink.h>
#include <netlink/route/link.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <vector>

#include "absl/strings/str_cat.h"

namespace veb {
namespace {

struct ParseCtx {
  LinkMonitor* monitor;
  int msg_type;
  std::vector<LinkEvent>* out;
};

LinkEvent EventOf(rtnl_link* link, bool deleted) {
  const LinkFacts f = FactsOf(link);
  LinkEvent ev;
  ev.ifindex = f.ifindex;
  ev.name = f.name;
  ev.deleted = deleted;
  ev.running = !deleted && LinkRunning(f);
  ev.mtu = f.mtu;
  return ev;
}

absl::StatusOr<std::vector<LinkEvent>> DumpLinks() {
  auto sock = ConnectRoute();
  if (!sock.ok()) return sock.status();
  nl_cache* cache = nullptr;
  if (int err = rtnl_link_alloc_cache(sock->get(), AF_UNSPEC, &cache); err < 0) {
    return absl::UnavailableError(
        absl::StrCat("link monitor: dump links: ", NlErrorText(err)));
  }
  std::vector<LinkEvent> out;
  for (nl_object* o = nl_cache_get_first(cache); o != nullptr;
       o = nl_cache_get_next(o)) {
    out.push_back(EventOf(reinterpret_cast<rtnl_link*>(o), false));
  }
  nl_cache_free(cache);
  return out;
}

}  // namespace

absl::Status LinkMonitor::Start() {
  auto sock = ConnectRoute();
  if (!sock.ok()) return sock.status();
  sock_ = std::move(*sock);
  nl_socket_disable_seq_check(sock_.get());
  if (int err = nl_socket_add_membership(sock_.get(), RTNLGRP_LINK); err < 0) {
    sock_.reset();
    return absl::UnavailableError(
        absl::StrCat("link monitor: subscribe: ", NlErrorText(err)));
  }
  nl_socket_set_nonblocking(sock_.get());
  nl_socket_set_buffer_size(sock_.get(), 4 << 20, 0);
  auto links = DumpLinks();
  if (!links.ok()) {
    sock_.reset();
    return links.status();
  }
  for (const LinkEvent& ev : *links) tracker_.Seed(ev);
  stop_fd_ = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (stop_fd_ < 0) {
    sock_.reset();
    return absl::InternalError(
        absl::StrCat("link monitor: eventfd: ", std::strerror(errno)));
  }
  thread_ = std::thread([this] { Run(); });
  return absl::OkStatus();
}

void LinkMonitor::Stop() {
  if (thread_.joinable()) {
    const uint64_t one = 1;
    (void)!write(stop_fd_, &one, sizeof(one));
    thread_.join();
  }
  if (stop_fd_ >= 0) close(stop_fd_);
  stop_fd_ = -1;
  sock_.reset();
}

void LinkStateTracker::Seed(const LinkEvent& ev) {
  if (ev.deleted) {
    links_.erase(ev.ifindex);
  } else {
    links_[ev.ifindex] = State{ev.running, ev.mtu};
  }
}

void LinkStateTracker::Observe(LinkEvent& ev) {
  if (ev.deleted) {
    ev.running_changed = ev.mtu_changed = false;
    links_.erase(ev.ifindex);
    return;
  }
  auto [it, inserted] = links_.try_emplace(ev.ifindex);
  ev.running_changed = inserted || it->second.running != ev.running;
  ev.mtu_changed = inserted || it->second.mtu != ev.mtu;
  it->second = State{ev.running, ev.mtu};
}

std::vector<LinkEvent> LinkStateTracker::Resync(std::vector<LinkEvent> now) {
  absl::flat_hash_map<int, bool> present;
  for (const LinkEvent& ev : now) present[ev.ifindex] = true;
  std::vector<LinkEvent> out;
  for (const auto& [ifindex, state] : links_) {
    if (present.contains(ifindex)) continue;
    LinkEvent ev;
    ev.ifindex = ifindex;
    ev.deleted = true;
    out.push_back(ev);
  }
  for (LinkEvent& ev : out) Observe(ev);
  for (LinkEvent& ev : now) {
    Observe(ev);
    out.push_back(std::move(ev));
  }
  return out;
}

void LinkMonitor::Handle(LinkEvent ev) {
  tracker_.Observe(ev);
  callback_(ev);
}

void LinkMonitor::Resync() {
  auto links = DumpLinks();
  if (!links.ok()) return;  // try again at the next overrun
  for (const LinkEvent& ev : tracker_.Resync(*std::move(links))) callback_(ev);
}

void LinkMonitor::Run() {
  std::vector<LinkEvent> batch;
  auto on_valid = [](nl_msg* msg, void* arg) -> int {
    auto* out = static_cast<std::vector<LinkEvent>*>(arg);
    const int type = nlmsg_hdr(msg)->nlmsg_type;
    if (type != RTM_NEWLINK && type != RTM_DELLINK) return NL_OK;
    struct Ctx {
      std::vector<LinkEvent>* out;
      bool deleted;
    } ctx{out, type == RTM_DELLINK};
    nl_msg_parse(
        msg,
        [](nl_object* obj, void* a) {
          auto* c = static_cast<Ctx*>(a);
          c->out->push_back(EventOf(reinterpret_cast<rtnl_link*>(obj), c->deleted));
        },
        &ctx);
    return NL_OK;
  };
  nl_socket_modify_cb(sock_.get(), NL_CB_VALID, NL_CB_CUSTOM, on_valid, &batch);
  pollfd fds[2] = {{nl_socket_get_fd(sock_.get()), POLLIN, 0},
                   {stop_fd_, POLLIN, 0}};
  for (;;) {
    if (poll(fds, 2, -1) < 0) {
      if (errno == EINTR) continue;
      return;
    }
    if (fds[1].revents != 0) return;
    if (fds[0].revents == 0) continue;
    for (;;) {
      batch.clear();
      const int err = nl_recvmsgs_default(sock_.get());
      for (const LinkEvent& ev : batch) Handle(ev);
      if (err == -NLE_NOMEM || err == -NLE_MSG_OVERFLOW) {
        Resync();  // notifications were lost (ENOBUFS)
        continue;
      }
      if (err < 0) break;  // -NLE_AGAIN: drained
    }
  }
}

}  // namespace veb
