// rpc_load --mode=load: the clients and the run (see rpc_load.cc).
#include "test/load/rpc_load.h"

namespace rpc_load {

std::string ScratchPrefix(int client) {
  return absl::StrCat(absl::GetFlag(FLAGS_scratch_prefix), client, "-");
}
std::string StaticPrefix(int client) { return absl::StrFormat("02:4c:%02x:", client); }
uint32_t VidLo(int client) { return absl::GetFlag(FLAGS_vid_base) + 16 * client; }

void Mismatch(Client* cl, const std::string& what) {
  ++cl->mismatches;
  std::cout << "mismatch: client " << cl->id << ": " << what << "\n" << std::flush;
}

void RunClient(Client* cl, const std::vector<std::string>& ports,
               const std::atomic<bool>* go) {
  const std::string bridge = absl::GetFlag(FLAGS_bridge);
  Conn conn(absl::GetFlag(FLAGS_socket), cl->id, &cl->lat, &cl->errors);
  conn.WaitConnected(10);
  std::mt19937 rng(absl::GetFlag(FLAGS_seed) + static_cast<uint32_t>(cl->id));
  auto pick = [&](int n) { return static_cast<int>(rng() % static_cast<uint32_t>(n)); };
  auto any_port = [&]() -> const std::string& {
    return ports[pick(static_cast<int>(ports.size()))];
  };
  const int max_scratch = absl::GetFlag(FLAGS_max_scratch_bridges);
  const int max_static = absl::GetFlag(FLAGS_max_static_per_client);
  const uint32_t vid = static_cast<uint32_t>(absl::GetFlag(FLAGS_vid));

  // Initial tagged VIDs of this client's range (left by an earlier run).
  for (const std::string& p : ports) {
    v1::GetPortRequest req;
    req.set_bridge(bridge);
    req.set_name(p);
    v1::GetPortResponse resp;
    if (conn.Call("GetPort", &Stub::GetPort, req, &resp)) {
      for (uint32_t v : resp.port().tagged_vids()) {
        if (v >= VidLo(cl->id) && v < VidLo(cl->id) + 16) cl->vids[p].insert(v);
      }
    }
  }
  cl->lat.ms.clear();  // the set-up reads are not timed (their errors count)

  while (!go->load()) std::this_thread::sleep_for(std::chrono::milliseconds(1));

  // Weighted mix (weights sum to 100).
  enum Op {
    kGetBridge, kListBridges, kListPorts, kGetPort, kUpdatePortFlag, kUpdatePortVid,
    kListAddresses, kAddStatic, kDeleteAddress, kAddRule, kFlushRules, kListRules,
    kGetPortCounters, kListCounters, kCreateBridge, kDeleteBridge,
  };
  static const std::vector<std::pair<Op, int>> kMix = {
      {kGetBridge, 8},      {kListBridges, 3},     {kListPorts, 6},      {kGetPort, 8},
      {kUpdatePortFlag, 7}, {kUpdatePortVid, 7},   {kListAddresses, 8},  {kAddStatic, 10},
      {kDeleteAddress, 7},  {kAddRule, 8},         {kFlushRules, 3},     {kListRules, 3},
      {kGetPortCounters, 8}, {kListCounters, 6},   {kCreateBridge, 5},   {kDeleteBridge, 3},
  };
  int total_weight = 0;
  for (const auto& [op, w] : kMix) total_weight += w;

  for (int i = 0; i < absl::GetFlag(FLAGS_rpcs); ++i) {
    int r = pick(total_weight);
    Op op = kGetBridge;
    for (const auto& [o, w] : kMix) {
      if (r < w) { op = o; break; }
      r -= w;
    }
    // Keep the per-client state bounded.
    const int nscratch = static_cast<int>(cl->scratch.size());
    const int nstatic = static_cast<int>(cl->statics.size());
    if (op == kCreateBridge && nscratch >= max_scratch) op = kDeleteBridge;
    if (op == kDeleteBridge && cl->scratch.empty()) op = kCreateBridge;
    if (op == kAddStatic && nstatic >= max_static) op = kDeleteAddress;
    if (op == kDeleteAddress && cl->statics.empty()) op = kAddStatic;
    ++cl->rpcs;

    switch (op) {
      case kGetBridge: {
        // Own scratch bridge half the time: it must be there.
        v1::GetBridgeRequest req;
        req.set_name(bridge);
        if (!cl->scratch.empty() && pick(2) == 0) {
          auto it = cl->scratch.begin();
          std::advance(it, pick(static_cast<int>(cl->scratch.size())));
          req.set_name(it->first);
        }
        v1::GetBridgeResponse resp;
        if (conn.Call("GetBridge", &Stub::GetBridge, req, &resp)) {
          auto it = cl->scratch.find(req.name());
          if (it != cl->scratch.end() && resp.bridge().max_addresses() != it->second) {
            Mismatch(cl, absl::StrCat("GetBridge ", req.name(), ": max_addresses ",
                                      resp.bridge().max_addresses(), ", created with ",
                                      it->second));
          }
        }
        break;
      }
      case kListBridges: {
        v1::ListBridgesRequest req;
        v1::ListBridgesResponse resp;
        conn.Call("ListBridges", &Stub::ListBridges, req, &resp);
        break;
      }
      case kListPorts: {
        v1::ListPortsRequest req;
        req.set_bridge(bridge);
        v1::ListPortsResponse resp;
        conn.Call("ListPorts", &Stub::ListPorts, req, &resp);
        break;
      }
      case kGetPort: {
        v1::GetPortRequest req;
        req.set_bridge(bridge);
        req.set_name(any_port());
        v1::GetPortResponse resp;
        conn.Call("GetPort", &Stub::GetPort, req, &resp);
        break;
      }
      case kUpdatePortFlag: {
        v1::UpdatePortRequest req;
        req.set_bridge(bridge);
        req.set_name(any_port());
        const bool learning = pick(2) == 0;
        const bool value = pick(2) == 0;
        if (learning) {
          req.mutable_settings()->set_learning(value);
        } else {
          req.mutable_settings()->set_discover(value);
        }
        v1::UpdatePortResponse resp;
        FlagWrite w;
        w.value = value;
        w.client = cl->id;
        if (conn.Call("UpdatePort", &Stub::UpdatePort, req, &resp,
                      &w.start, &w.end)) {
          cl->flag_writes[{req.name(), learning ? "learning" : "discover"}].push_back(w);
        }
        break;
      }
      case kUpdatePortVid: {
        const std::string& port = any_port();
        std::set<uint32_t>& mine = cl->vids[port];
        const uint32_t v = VidLo(cl->id) + static_cast<uint32_t>(pick(16));
        v1::UpdatePortRequest req;
        req.set_bridge(bridge);
        req.set_name(port);
        const bool add = mine.count(v) == 0;
        if (add) {
          req.add_add_tagged_vids(v);
        } else {
          req.add_remove_tagged_vids(v);
        }
        v1::UpdatePortResponse resp;
        if (conn.Call("UpdatePort", &Stub::UpdatePort, req, &resp)) {
          if (add) {
            mine.insert(v);
          } else {
            mine.erase(v);
          }
          std::set<uint32_t> got;
          for (uint32_t t : resp.port().tagged_vids()) {
            if (t >= VidLo(cl->id) && t < VidLo(cl->id) + 16) got.insert(t);
          }
          if (got != mine) {
            Mismatch(cl, absl::StrCat("UpdatePort ", port, " response: own tagged VIDs {",
                                      absl::StrJoin(got, ","), "}, expected {",
                                      absl::StrJoin(mine, ","), "}"));
          }
        }
        break;
      }
      case kListAddresses: {
        v1::ListAddressesRequest req;
        req.set_bridge(bridge);
        std::string want;
        if (!cl->statics.empty() && pick(2) == 0) {
          auto it = cl->statics.begin();
          std::advance(it, pick(static_cast<int>(cl->statics.size())));
          want = it->first;
          req.set_mac(want);
        }
        v1::ListAddressesResponse resp;
        if (conn.Call("ListAddresses", &Stub::ListAddresses, req, &resp) &&
            !want.empty()) {
          bool found = false;
          for (const v1::Address& a : resp.addresses()) {
            found |= a.mac() == want && a.type() == v1::ADDRESS_TYPE_STATIC &&
                     a.port() == cl->statics[want].port;
          }
          if (!found) {
            Mismatch(cl, absl::StrCat("ListAddresses mac ", want, ": own static entry missing"));
          }
        }
        break;
      }
      case kAddStatic: {
        const int n = cl->next_mac++;
        v1::AddStaticAddressRequest req;
        req.set_bridge(bridge);
        req.set_mac(Mac(0x02, 0x4c, cl->id, n >> 16, n >> 8, n));
        req.set_port(any_port());
        req.set_vid(vid);
        v1::AddStaticAddressResponse resp;
        if (conn.Call("AddStaticAddress", &Stub::AddStaticAddress, req, &resp)) {
          cl->statics[req.mac()] = StaticAddr{req.port()};
        }
        break;
      }
      case kDeleteAddress: {
        auto it = cl->statics.begin();
        std::advance(it, pick(static_cast<int>(cl->statics.size())));
        v1::DeleteAddressRequest req;
        req.set_bridge(bridge);
        req.set_mac(it->first);
        req.set_vid(vid);
        v1::DeleteAddressResponse resp;
        grpc::StatusCode code;
        if (conn.Call("DeleteAddress", &Stub::DeleteAddress, req, &resp,
                      nullptr, nullptr, &code) ||
            code == grpc::StatusCode::NOT_FOUND) {
          cl->statics.erase(it);  // NOT_FOUND (an error, counted): it is gone anyway
        }
        break;
      }
      case kAddRule: {
        const int n = cl->next_rule++;
        RuleAdd ra;
        ra.port = any_port();
        ra.src = Mac(0x02, 0x4d, cl->id, n >> 8, n, 0);
        v1::AddRuleRequest req;
        req.set_bridge(bridge);
        req.set_port(ra.port);
        req.mutable_rule()->set_action(v1::RULE_ACTION_BLOCK);
        req.mutable_rule()->set_direction(v1::RULE_DIRECTION_IN);
        req.mutable_rule()->set_src(ra.src);
        v1::AddRuleResponse resp;
        ra.ok = conn.Call("AddRule", &Stub::AddRule, req, &resp,
                          &ra.start, &ra.end);
        cl->rule_adds.push_back(ra);
        break;
      }
      case kFlushRules: {
        Flush f;
        f.port = any_port();
        v1::FlushRulesRequest req;
        req.set_bridge(bridge);
        req.set_port(f.port);
        v1::FlushRulesResponse resp;
        f.ok = conn.Call("FlushRules", &Stub::FlushRules, req, &resp,
                         &f.start, &f.end);
        cl->flushes.push_back(f);
        break;
      }
      case kListRules: {
        v1::ListRulesRequest req;
        req.set_bridge(bridge);
        if (pick(2) == 0) req.set_port(any_port());
        v1::ListRulesResponse resp;
        conn.Call("ListRules", &Stub::ListRules, req, &resp);
        break;
      }
      case kGetPortCounters: {
        v1::GetPortCountersRequest req;
        req.set_bridge(bridge);
        req.set_port(any_port());
        v1::GetPortCountersResponse resp;
        conn.Call("GetPortCounters", &Stub::GetPortCounters, req, &resp);
        break;
      }
      case kListCounters: {
        v1::ListCountersRequest req;
        if (pick(2) == 0) req.set_bridge(bridge);
        v1::ListCountersResponse resp;
        conn.Call("ListCounters", &Stub::ListCounters, req, &resp);
        break;
      }
      case kCreateBridge: {
        v1::CreateBridgeRequest req;
        req.set_name(absl::StrCat(ScratchPrefix(cl->id), cl->next_bridge++));
        const uint32_t maxaddr = 100 + static_cast<uint32_t>(pick(4900));
        req.mutable_settings()->set_max_addresses(maxaddr);
        v1::CreateBridgeResponse resp;
        if (conn.Call("CreateBridge", &Stub::CreateBridge, req, &resp)) {
          cl->scratch[req.name()] = maxaddr;
        }
        break;
      }
      case kDeleteBridge: {
        auto it = cl->scratch.begin();
        std::advance(it, pick(static_cast<int>(cl->scratch.size())));
        v1::DeleteBridgeRequest req;
        req.set_name(it->first);
        v1::DeleteBridgeResponse resp;
        grpc::StatusCode code;
        if (conn.Call("DeleteBridge", &Stub::DeleteBridge, req, &resp,
                      nullptr, nullptr, &code) ||
            code == grpc::StatusCode::NOT_FOUND) {
          cl->scratch.erase(it);
        }
        break;
      }
    }
  }
}

int RunLoad() {
  const std::vector<std::string> ports =
      absl::StrSplit(absl::GetFlag(FLAGS_ports), ',', absl::SkipEmpty());
  const int nclients = absl::GetFlag(FLAGS_clients);
  if (ports.empty()) {
    std::cerr << "rpc_load: --ports: give the member ports to use (IF1,IF2,...)\n";
    return 2;
  }
  if (nclients < 1 || nclients > 64 || absl::GetFlag(FLAGS_scratch_prefix).size() > 6) {
    std::cerr << "rpc_load: --clients 1..64, --scratch_prefix at most 6 bytes\n";
    return 2;
  }
  const std::string bridge = absl::GetFlag(FLAGS_bridge);

  // Leftovers of an earlier run would make the expected state wrong.
  Errors setup_errors;
  Conn conn(absl::GetFlag(FLAGS_socket), -1, nullptr, &setup_errors);
  if (!conn.WaitConnected(10)) {
    std::cerr << "rpc_load: cannot connect to unix://" << absl::GetFlag(FLAGS_socket) << "\n";
    return 1;
  }
  {
    v1::ListBridgesResponse resp;
    if (!conn.Call("ListBridges", &Stub::ListBridges, v1::ListBridgesRequest(), &resp)) {
      return 1;
    }
    for (const v1::Bridge& b : resp.bridges()) {
      for (int c = 0; c < nclients; ++c) {
        if (absl::StartsWith(b.name(), ScratchPrefix(c))) {
          std::cerr << "rpc_load: bridge " << b.name()
                    << " left by an earlier run (use another --scratch_prefix)\n";
          return 1;
        }
      }
    }
    v1::ListAddressesRequest req;
    req.set_bridge(bridge);
    req.set_type(v1::ADDRESS_TYPE_STATIC);
    std::vector<v1::Address> addrs;
    if (!ListAllAddresses(conn, req, &addrs)) return 1;
    for (const v1::Address& a : addrs) {
      if (absl::StartsWith(a.mac(), "02:4c:")) {
        std::cerr << "rpc_load: static address " << a.mac() << " left by an earlier run\n";
        return 1;
      }
    }
    v1::ListRulesRequest rreq;
    rreq.set_bridge(bridge);
    v1::ListRulesResponse rresp;
    if (!conn.Call("ListRules", &Stub::ListRules, rreq, &rresp)) {
      return 1;
    }
    for (const v1::Rule& r : rresp.rules()) {
      if (absl::StartsWith(r.src(), "02:4d:")) {
        std::cerr << "rpc_load: rule src " << r.src() << " on " << r.port()
                  << " left by an earlier run\n";
        return 1;
      }
    }
  }

  std::vector<Client> clients(static_cast<size_t>(nclients));
  std::atomic<bool> go{false};
  std::vector<std::thread> threads;
  for (int c = 0; c < nclients; ++c) {
    clients[c].id = c;
    threads.emplace_back(RunClient, &clients[c], std::cref(ports), &go);
  }
  // Let every client connect and read its initial state first.
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  const TimePoint t0 = Clock::now();
  go = true;
  for (std::thread& t : threads) t.join();
  const double secs = std::chrono::duration<double>(Clock::now() - t0).count();

  Latencies lat;
  Errors errors;
  int rpcs = 0, mismatches = 0;
  for (Client& cl : clients) {
    lat.Merge(cl.lat);
    rpcs += cl.rpcs;
    mismatches += cl.mismatches;
    errors.total += cl.errors.total;
    for (const auto& [k, v] : cl.errors.count) errors.count[k] += v;
  }
  PrintLatencies("load", lat, true);
  std::printf("load: %d clients x %d rpcs in %.2f s (%.0f rpc/s)\n", nclients,
              absl::GetFlag(FLAGS_rpcs), secs, rpcs / secs);
  for (const auto& [k, v] : errors.count) {
    if (v > 0) std::printf("errors: %s %d\n", k.c_str(), v);
  }

  Errors verify_errors;
  Conn vconn(absl::GetFlag(FLAGS_socket), -2, nullptr, &verify_errors);
  mismatches += VerifyLoad(clients, ports, vconn);
  if (verify_errors.total > 0) std::printf("errors: during the checks %d\n", verify_errors.total);

  Errors after_errors;
  Conn aconn(absl::GetFlag(FLAGS_socket), -3, nullptr, &after_errors);
  if (absl::GetFlag(FLAGS_restore_flags)) {
    for (const std::string& p : ports) {
      v1::UpdatePortRequest req;
      req.set_bridge(bridge);
      req.set_name(p);
      req.mutable_settings()->set_learning(true);
      req.mutable_settings()->set_discover(true);
      v1::UpdatePortResponse resp;
      aconn.Call("UpdatePort", &Stub::UpdatePort, req, &resp);
    }
  }
  if (absl::GetFlag(FLAGS_cleanup)) Cleanup(clients, ports, aconn);
  if (after_errors.total > 0) {
    std::printf("errors: restoring flags / cleaning up %d\n", after_errors.total);
  }

  const int e = errors.total + verify_errors.total + after_errors.total;
  std::printf("load: %d rpcs, %d errors, %d config mismatches\n", rpcs, e, mismatches);
  return e == 0 && mismatches == 0 ? 0 : 1;
}

}  // namespace rpc_load
