// rpc_load --mode=load: the checks after the load, and the cleanup.
#include "test/load/rpc_load.h"

namespace rpc_load {

// The checks after the load, from one connection. Returns the mismatches.
int VerifyLoad(std::vector<Client>& clients, const std::vector<std::string>& ports,
               Conn& conn) {
  const std::string bridge = absl::GetFlag(FLAGS_bridge);
  int bad = 0;
  auto mismatch = [&](const std::string& what) {
    ++bad;
    std::cout << "mismatch: " << what << "\n";
  };

  // Scratch bridges.
  v1::ListBridgesResponse bridges;
  if (!conn.Call("ListBridges", &Stub::ListBridges, v1::ListBridgesRequest(), &bridges)) {
    mismatch("ListBridges failed; cannot check scratch bridges");
  } else {
    for (Client& cl : clients) {
      std::map<std::string, uint32_t> got;
      for (const v1::Bridge& b : bridges.bridges()) {
        if (absl::StartsWith(b.name(), ScratchPrefix(cl.id))) got[b.name()] = b.max_addresses();
      }
      if (got != cl.scratch) {
        std::vector<std::string> g, w;
        for (const auto& [n, m] : got) g.push_back(absl::StrCat(n, "/", m));
        for (const auto& [n, m] : cl.scratch) w.push_back(absl::StrCat(n, "/", m));
        mismatch(absl::StrCat("client ", cl.id, ": scratch bridges {", absl::StrJoin(g, " "),
                              "}, expected {", absl::StrJoin(w, " "), "}"));
      }
    }
  }

  // Static addresses.
  v1::ListAddressesRequest lreq;
  lreq.set_bridge(bridge);
  lreq.set_type(v1::ADDRESS_TYPE_STATIC);
  std::vector<v1::Address> statics;
  if (!ListAllAddresses(conn, lreq, &statics)) {
    mismatch("ListAddresses failed; cannot check static addresses");
  } else {
    for (Client& cl : clients) {
      std::map<std::string, std::string> got, want;
      for (const v1::Address& a : statics) {
        if (absl::StartsWith(a.mac(), StaticPrefix(cl.id))) {
          if (got.count(a.mac())) {
            mismatch(absl::StrCat("client ", cl.id, ": ", a.mac(), " listed twice"));
          }
          got[a.mac()] = absl::StrCat(a.port(), "/vid", a.vid());
        }
      }
      for (const auto& [mac, s] : cl.statics) {
        want[mac] = absl::StrCat(s.port, "/vid", absl::GetFlag(FLAGS_vid));
      }
      if (got != want) {
        std::vector<std::string> missing, extra;
        for (const auto& [m, p] : want) {
          auto it = got.find(m);
          if (it == got.end() || it->second != p) missing.push_back(absl::StrCat(m, "@", p));
        }
        for (const auto& [m, p] : got) {
          auto it = want.find(m);
          if (it == want.end() || it->second != p) extra.push_back(absl::StrCat(m, "@", p));
        }
        mismatch(absl::StrCat("client ", cl.id, ": static addresses: missing {",
                              absl::StrJoin(missing, " "), "}, unexpected {",
                              absl::StrJoin(extra, " "), "}"));
      }
    }
  }

  // Ports: tagged VIDs (per client) and learning/discover (shared registers).
  std::map<std::pair<std::string, std::string>, std::vector<FlagWrite>> writes;
  for (Client& cl : clients) {
    for (const auto& [k, v] : cl.flag_writes) writes[k].insert(writes[k].end(), v.begin(), v.end());
  }
  for (const std::string& p : ports) {
    v1::GetPortRequest req;
    req.set_bridge(bridge);
    req.set_name(p);
    v1::GetPortResponse resp;
    if (!conn.Call("GetPort", &Stub::GetPort, req, &resp)) {
      mismatch(absl::StrCat("GetPort ", p, " failed; cannot check it"));
      continue;
    }
    for (Client& cl : clients) {
      std::set<uint32_t> got;
      for (uint32_t t : resp.port().tagged_vids()) {
        if (t >= VidLo(cl.id) && t < VidLo(cl.id) + 16) got.insert(t);
      }
      if (got != cl.vids[p]) {
        mismatch(absl::StrCat("client ", cl.id, ": port ", p, ": own tagged VIDs {",
                              absl::StrJoin(got, ","), "}, expected {",
                              absl::StrJoin(cl.vids[p], ","), "}"));
      }
    }
    for (const char* flag : {"learning", "discover"}) {
      const std::vector<FlagWrite>& w = writes[{p, flag}];
      if (w.empty()) continue;
      const bool got = std::string(flag) == "learning" ? resp.port().learning()
                                                       : resp.port().discover();
      TimePoint latest_start = w[0].start;
      for (const FlagWrite& x : w) latest_start = std::max(latest_start, x.start);
      bool allowed = false;
      int candidates = 0;
      for (const FlagWrite& x : w) {
        if (x.end >= latest_start) {
          ++candidates;
          allowed |= x.value == got;
        }
      }
      if (!allowed) {
        mismatch(absl::StrCat("port ", p, ": ", flag, " is ", got ? "true" : "false",
                              ", but none of the ", candidates,
                              " possibly-last UpdatePort calls wrote that"));
      }
    }
  }

  // Rules.
  std::vector<RuleAdd> adds;
  std::vector<Flush> flushes;
  for (Client& cl : clients) {
    adds.insert(adds.end(), cl.rule_adds.begin(), cl.rule_adds.end());
    flushes.insert(flushes.end(), cl.flushes.begin(), cl.flushes.end());
  }
  for (const std::string& p : ports) {
    v1::ListRulesRequest req;
    req.set_bridge(bridge);
    req.set_port(p);
    v1::ListRulesResponse resp;
    if (!conn.Call("ListRules", &Stub::ListRules, req, &resp)) {
      mismatch(absl::StrCat("ListRules ", p, " failed; cannot check rules"));
      continue;
    }
    std::map<std::string, uint32_t> listed;  // src -> index
    for (const v1::Rule& r : resp.rules()) {
      if (!absl::StartsWith(r.src(), "02:4d:")) continue;
      if (listed.count(r.src())) {
        mismatch(absl::StrCat("port ", p, ": rule src ", r.src(), " listed twice"));
      }
      listed[r.src()] = r.index();
    }
    std::map<std::string, const RuleAdd*> mine;
    for (const RuleAdd& a : adds) {
      if (a.port == p) mine[a.src] = &a;
    }
    for (const auto& [src, idx] : listed) {
      if (!mine.count(src)) {
        mismatch(absl::StrCat("port ", p, ": rule src ", src, " was never added here"));
      }
    }
    int lost = 0, resurrected = 0;
    for (const auto& [src, a] : mine) {
      if (!a->ok) continue;
      bool after_all = true, flushed_after = false;
      for (const Flush& f : flushes) {
        if (f.port != p) continue;
        if (!(a->start > f.end)) after_all = false;
        if (f.ok && f.start > a->end) flushed_after = true;
      }
      const bool present = listed.count(src) > 0;
      if (after_all && !present) {
        if (++lost <= 5) {
          mismatch(absl::StrCat("port ", p, ": rule src ", src,
                                " added after every flush but missing"));
        }
      }
      if (flushed_after && present) {
        if (++resurrected <= 5) {
          mismatch(absl::StrCat("port ", p, ": rule src ", src,
                                " listed though a later FlushRules ran"));
        }
      }
    }
    if (lost > 5) mismatch(absl::StrCat("port ", p, ": ", lost - 5, " more rules missing"));
    if (resurrected > 5) {
      mismatch(absl::StrCat("port ", p, ": ", resurrected - 5, " more rules survived a flush"));
    }
    // Order: definitely-ordered adds keep their order.
    std::vector<std::pair<const RuleAdd*, uint32_t>> present;
    for (const auto& [src, idx] : listed) {
      if (mine.count(src)) present.emplace_back(mine[src], idx);
    }
    int disorder = 0;
    for (const auto& x : present) {
      for (const auto& y : present) {
        if (x.first->end < y.first->start && x.second > y.second) ++disorder;
      }
    }
    if (disorder > 0) {
      mismatch(absl::StrCat("port ", p, ": ", disorder, " rule pairs out of order"));
    }
  }
  return bad;
}

void Cleanup(std::vector<Client>& clients, const std::vector<std::string>& ports, Conn& conn) {
  const std::string bridge = absl::GetFlag(FLAGS_bridge);
  for (Client& cl : clients) {
    for (const auto& [name, m] : cl.scratch) {
      v1::DeleteBridgeRequest req;
      req.set_name(name);
      req.set_force(true);
      v1::DeleteBridgeResponse resp;
      conn.Call("DeleteBridge", &Stub::DeleteBridge, req, &resp);
    }
    for (const auto& [mac, s] : cl.statics) {
      v1::DeleteAddressRequest req;
      req.set_bridge(bridge);
      req.set_mac(mac);
      v1::DeleteAddressResponse resp;
      conn.Call("DeleteAddress", &Stub::DeleteAddress, req, &resp);
    }
  }
  for (const std::string& p : ports) {
    v1::FlushRulesRequest fr;
    fr.set_bridge(bridge);
    fr.set_port(p);
    v1::FlushRulesResponse frr;
    conn.Call("FlushRules", &Stub::FlushRules, fr, &frr);
    v1::UpdatePortRequest req;
    req.set_bridge(bridge);
    req.set_name(p);
    for (Client& cl : clients) {
      for (uint32_t v : cl.vids[p]) req.add_remove_tagged_vids(v);
    }
    if (req.remove_tagged_vids_size() == 0) continue;
    v1::UpdatePortResponse resp;
    conn.Call("UpdatePort", &Stub::UpdatePort, req, &resp);
  }
}

}  // namespace rpc_load
