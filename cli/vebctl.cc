// vebctl: ifconfig(8)-like command line for the veb agent's API. One command
// per invocation; errors print the agent's message (which names the object and
// the reason) and exit 1; syntax errors exit 2. `-o json` prints the response
// messages as protobuf JSON (all fields), for scripts.
#include <unistd.h>

#include <functional>
#include <iostream>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_join.h"
#include "cli/command.h"
#include "google/protobuf/util/json_util.h"
#include "grpcpp/grpcpp.h"
#include "proto/grpc/health/v1/health.grpc.pb.h"
#include "proto/veb/v1/switch.grpc.pb.h"

namespace veb::cli {
namespace {

using google::protobuf::Message;
using Unary = std::function<grpc::Status(v1::Switch::Stub&, grpc::ClientContext*, const Message&,
                                         std::unique_ptr<Message>*)>;

#define VEB_UNARY(Name)                                                                   \
  {                                                                                       \
#Name, [](v1::Switch::Stub& s, grpc::ClientContext* c, const Message& req,            \
              std::unique_ptr<Message>* resp) {                                           \
      auto r = std::make_unique<v1::Name##Response>();                                    \
      grpc::Status st = s.Name(c, static_cast<const v1::Name##Request&>(req), r.get());   \
      *resp = std::move(r);                                                               \
      return st;                                                                          \
    }                                                                                     \
  }

const std::map<std::string, Unary>& UnaryRpcs() {
  static const auto* rpcs = new std::map<std::string, Unary>{
      VEB_UNARY(CreateBridge),     VEB_UNARY(DeleteBridge),   VEB_UNARY(GetBridge),
      VEB_UNARY(ListBridges),      VEB_UNARY(UpdateBridge),   VEB_UNARY(AddPort),
      VEB_UNARY(DeletePort),       VEB_UNARY(GetPort),        VEB_UNARY(ListPorts),
      VEB_UNARY(UpdatePort),       VEB_UNARY(AddSpanPort),    VEB_UNARY(DeleteSpanPort),
      VEB_UNARY(ListSpanPorts),    VEB_UNARY(ListAddresses),  VEB_UNARY(AddStaticAddress),
      VEB_UNARY(DeleteAddress),    VEB_UNARY(FlushAddresses), VEB_UNARY(AddRule),
      VEB_UNARY(ListRules),        VEB_UNARY(FlushRules),     VEB_UNARY(GetPortCounters),
      VEB_UNARY(ListCounters),     VEB_UNARY(CreateVport),    VEB_UNARY(DeleteVport),
      VEB_UNARY(ListVports),       VEB_UNARY(GetVport),       VEB_UNARY(SetVportPeers),
  };
  return *rpcs;
}

std::string Json(const Message& m) {
  google::protobuf::util::JsonPrintOptions o;
  o.always_print_primitive_fields = true;
  o.preserve_proto_field_names = true;
  std::string out;
  (void)google::protobuf::util::MessageToJsonString(m, &out, o);
  return out;
}

std::string Pvid(const v1::Pvid& p) {
  return p.has_vid() ? absl::StrCat(p.vid()) : std::string("none");
}

std::string Backend(v1::Backend b) {
  switch (b) {
    case v1::BACKEND_AF_PACKET: return "af_packet";
    case v1::BACKEND_TAP: return "tap";
    case v1::BACKEND_AF_XDP: return "af_xdp";
    case v1::BACKEND_TC_BPF: return "tc_bpf";
    default: return "-";
  }
}

void PrintBridge(const v1::Bridge& b, std::ostream& out) {
  out << b.name() << ": " << (b.up() ? "up" : "down") << " engine "
      << (b.engine() == v1::ENGINE_KERNEL ? "kernel" : "userspace") << " ports " << b.port_count()
      << " span " << b.span_port_count() << " vports " << b.vport_count() << " addresses "
      << b.address_count() << "/" << b.max_addresses() << " timeout "
      << b.address_timeout_seconds() << " pvid " << Pvid(b.default_pvid())
      << (b.allow_svlan() ? " svlan" : "") << (b.allow_reserved_addresses() ? " reserved" : "")
      << "\n";
}

void PrintPort(const v1::Port& p, std::ostream& out) {
  std::vector<std::string> flags;
  if (p.learning()) flags.push_back("learning");
  if (p.discover()) flags.push_back("discover");
  if (p.blocknonip()) flags.push_back("blocknonip");
  if (p.locked()) flags.push_back("locked");
  out << "\tport " << p.name() << " "
      << (p.pending() ? "pending" : p.running() ? "running" : "down") << " backend "
      << Backend(p.backend());
  if (!p.backend_detail().empty()) out << " (" << p.backend_detail() << ")";
  out << " flags=<" << absl::StrJoin(flags, ",") << "> pvid "
      << Pvid(p.pvid());
  if (p.tagged_vids_size()) out << " tagged " << absl::StrJoin(p.tagged_vids(), ",");
  if (p.protected_domains_size()) out << " protected " << absl::StrJoin(p.protected_domains(), ",");
  out << " mtu " << p.mtu() << " addresses " << p.address_count();
  if (p.max_addresses()) out << " ifmaxaddr " << p.max_addresses();
  if (p.pending()) out << " (" << p.pending_reason() << ")";
  out << "\n";
}

void PrintRule(const v1::Rule& r, std::ostream& out) {
  out << r.index() << ": " << (r.action() == v1::RULE_ACTION_PASS ? "pass" : "block") << " "
      << (r.direction() == v1::RULE_DIRECTION_IN    ? "in"
          : r.direction() == v1::RULE_DIRECTION_OUT ? "out"
                                                    : "in/out")
      << " on " << r.port();
  if (!r.src().empty()) out << " src " << r.src();
  if (!r.dst().empty()) out << " dst " << r.dst();
  if (r.has_vid()) out << " vid " << r.vid();
  if (r.has_arp() && r.arp().kind() != v1::ARP_KIND_UNSPECIFIED) {
    const v1::ArpMatch& a = r.arp();
    out << (a.kind() == v1::ARP_KIND_RARP ? " rarp" : " arp");
    if (a.opcode() == v1::ARP_OPCODE_REQUEST) out << " request";
    if (a.opcode() == v1::ARP_OPCODE_REPLY) out << " reply";
    if (!a.sha().empty()) out << " sha " << a.sha();
    if (!a.spa().empty()) out << " spa " << a.spa();
    if (!a.tha().empty()) out << " tha " << a.tha();
    if (!a.tpa().empty()) out << " tpa " << a.tpa();
  }
  out << "\n";
}

std::string ReasonName(int reason) {
  std::string n = v1::DropReason_Name(static_cast<v1::DropReason>(reason));
  constexpr absl::string_view kPrefix = "DROP_REASON_";
  if (absl::StartsWith(n, kPrefix)) n = n.substr(kPrefix.size());
  return absl::AsciiStrToLower(n);
}

void PrintCounters(const v1::PortCounters& c, std::ostream& out) {
  out << c.port() << (c.span() ? " (span)" : "") << ": rx " << c.receive_packets() << " pkts "
      << c.receive_bytes() << " bytes, tx " << c.transmit_packets() << " pkts "
      << c.transmit_bytes() << " bytes, forwarded " << c.forwarded_packets() << ", flooded "
      << c.flooded_packets();
  for (const auto& d : c.receive_drops()) {
    if (d.packets()) out << ", in " << ReasonName(d.reason()) << " " << d.packets();
  }
  for (const auto& d : c.transmit_drops()) {
    if (d.packets()) out << ", out " << ReasonName(d.reason()) << " " << d.packets();
  }
  const v1::BackendDrops& b = c.backend_receive_drops();
  if (b.overflow()) out << ", lost overflow " << b.overflow();
  if (b.truncated()) out << ", lost truncated " << b.truncated();
  if (b.bad_vnet_hdr()) out << ", lost bad_vnet_hdr " << b.bad_vnet_hdr();
  if (b.errors()) out << ", lost errors " << b.errors();
  out << "\n";
}

void PrintText(const std::string& rpc, const Message& m, std::ostream& out) {
  if (rpc == "ListBridges") {
    for (const auto& b : static_cast<const v1::ListBridgesResponse&>(m).bridges()) PrintBridge(b, out);
  } else if (rpc == "ListPorts") {
    for (const auto& p : static_cast<const v1::ListPortsResponse&>(m).ports()) PrintPort(p, out);
  } else if (rpc == "ListRules") {
    for (const auto& r : static_cast<const v1::ListRulesResponse&>(m).rules()) PrintRule(r, out);
  } else if (rpc == "ListAddresses") {
    for (const auto& a : static_cast<const v1::ListAddressesResponse&>(m).addresses()) {
      out << a.mac() << " vid " << a.vid() << " " << a.port() << " "
          << (a.type() == v1::ADDRESS_TYPE_STATIC ? "static" : "dynamic") << " age "
          << a.age_seconds() << "\n";
    }
  } else if (rpc == "ListVports" || rpc == "CreateVport" || rpc == "GetVport" ||
             rpc == "SetVportPeers") {
    std::vector<v1::Vport> vports;
    if (rpc == "ListVports") {
      const auto& l = static_cast<const v1::ListVportsResponse&>(m).vports();
      vports.assign(l.begin(), l.end());
    } else if (rpc == "CreateVport") {
      vports.push_back(static_cast<const v1::CreateVportResponse&>(m).vport());
    } else if (rpc == "GetVport") {
      vports.push_back(static_cast<const v1::GetVportResponse&>(m).vport());
    } else {
      vports.push_back(static_cast<const v1::SetVportPeersResponse&>(m).vport());
    }
    for (const auto& v : vports) {
      out << v.name() << ": "
          << (v.kind() == v1::VPORT_KIND_HOST     ? "host"
              : v.kind() == v1::VPORT_KIND_TUNNEL ? "tunnel"
                                                  : "pod")
          << " mac " << v.mac() << " mtu " << v.mtu();
      if (v.kind() == v1::VPORT_KIND_POD) {
        out << " netns " << v.pod().netns() << " ifname " << v.pod().attachment().ifname()
            << " container " << v.pod().attachment().container_id();
      }
      if (v.kind() == v1::VPORT_KIND_TUNNEL) {
        const v1::TunnelVport& t = v.tunnel();
        out << " vni " << t.vni();
        if (!t.local().empty()) out << " local " << t.local();
        if (!t.underlay().empty()) out << " dev " << t.underlay();
        out << " dstport " << t.dstport() << " peers "
            << (t.peers().empty() ? "none" : absl::StrJoin(t.peers(), ","));
        // Those of them the peer source (--tunnel_peers) added.
        if (!t.source_peers().empty()) out << " source " << absl::StrJoin(t.source_peers(), ",");
      }
      for (const auto& p : v.ip_prefixes()) out << " ip " << p;
      if (v.pending()) out << " pending (" << v.pending_reason() << ")";
      out << "\n";
    }
  } else if (rpc == "GetPortCounters") {
    PrintCounters(static_cast<const v1::GetPortCountersResponse&>(m).counters(), out);
  } else if (rpc == "ListCounters") {
    for (const auto& b : static_cast<const v1::ListCountersResponse&>(m).bridges()) {
      out << b.bridge() << ": flooded " << b.flooded_packets() << ", learned "
          << b.addresses_learned() << ", moved " << b.addresses_moved() << ", expired "
          << b.addresses_expired() << "\n";
      for (const auto& c : b.ports()) PrintCounters(c, out << "\t");
      for (const auto& c : b.span_ports()) PrintCounters(c, out << "\t");
    }
  }
}

int Fail(const grpc::Status& s) {
  std::cerr << "vebctl: " << s.error_message() << " ("
            << absl::StrCat("code ", s.error_code()) << ")\n";
  return 1;
}

std::unique_ptr<grpc::ClientContext> Ctx() {
  auto c = std::make_unique<grpc::ClientContext>();
  c->set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
  return c;
}

int Execute(const Invocation& inv, const std::string& socket, bool json) {
  auto channel = grpc::CreateChannel("unix://" + socket, grpc::InsecureChannelCredentials());
  auto stub = v1::Switch::NewStub(channel);
  std::ostream& out = std::cout;
  if (inv.rpc == "Health") {
    auto health = grpc::health::v1::Health::NewStub(channel);
    grpc::health::v1::HealthCheckResponse resp;
    auto ctx = Ctx();
    ctx->set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(3));
    grpc::Status s = health->Check(ctx.get(), grpc::health::v1::HealthCheckRequest(), &resp);
    if (!s.ok()) return Fail(s);
    if (json) {
      out << Json(resp) << "\n";
    } else {
      out << grpc::health::v1::HealthCheckResponse::ServingStatus_Name(resp.status()) << "\n";
    }
    return resp.status() == grpc::health::v1::HealthCheckResponse::SERVING ? 0 : 1;
  }
  if (inv.rpc == "WatchEvents") {
    auto ctx = std::make_unique<grpc::ClientContext>();
    auto reader = stub->WatchEvents(ctx.get(), static_cast<const v1::WatchEventsRequest&>(*inv.request));
    v1::WatchEventsResponse ev;
    while (reader->Read(&ev)) out << Json(ev.event()) << std::endl;
    grpc::Status s = reader->Finish();
    return s.ok() ? 0 : Fail(s);
  }
  if (inv.rpc == "Show") {
    const std::string& name = static_cast<const v1::GetBridgeRequest&>(*inv.request).name();
    v1::GetBridgeResponse b;
    v1::ListPortsRequest pr;
    pr.set_bridge(name);
    v1::ListPortsResponse ports;
    v1::ListSpanPortsRequest sr;
    sr.set_bridge(name);
    v1::ListSpanPortsResponse spans;
    grpc::Status s = stub->GetBridge(Ctx().get(), static_cast<const v1::GetBridgeRequest&>(*inv.request), &b);
    if (s.ok()) s = stub->ListPorts(Ctx().get(), pr, &ports);
    if (s.ok()) s = stub->ListSpanPorts(Ctx().get(), sr, &spans);
    if (!s.ok()) return Fail(s);
    if (json) {
      out << "{\"bridge\":" << Json(b.bridge()) << ",\"ports\":" << Json(ports)
          << ",\"span_ports\":" << Json(spans) << "}\n";
      return 0;
    }
    PrintBridge(b.bridge(), out);
    for (const auto& p : ports.ports()) PrintPort(p, out);
    for (const auto& sp : spans.span_ports()) {
      out << "\tspan " << sp.name() << " "
          << (sp.pending() ? "pending (" + sp.pending_reason() + ")"
              : sp.running() ? "running" : "down")
          << "\n";
    }
    return 0;
  }
  if (inv.rpc == "ListAllAddresses") {
    v1::ListAddressesRequest req = static_cast<const v1::ListAddressesRequest&>(*inv.request);
    v1::ListAddressesResponse all;
    do {
      v1::ListAddressesResponse page;
      grpc::Status s = stub->ListAddresses(Ctx().get(), req, &page);
      if (!s.ok()) return Fail(s);
      for (auto& a : *page.mutable_addresses()) *all.add_addresses() = std::move(a);
      all.set_total_count(page.total_count());
      req.set_page_token(page.next_page_token());
    } while (!req.page_token().empty());
    if (json) {
      out << Json(all) << "\n";
    } else {
      PrintText("ListAddresses", all, out);
    }
    return 0;
  }
  auto it = UnaryRpcs().find(inv.rpc);
  if (it == UnaryRpcs().end()) {
    std::cerr << "vebctl: internal: no RPC " << inv.rpc << "\n";
    return 2;
  }
  std::unique_ptr<Message> resp;
  grpc::Status s = it->second(*stub, Ctx().get(), *inv.request, &resp);
  if (!s.ok()) return Fail(s);
  if (json) {
    out << Json(*resp) << "\n";
  } else {
    PrintText(inv.rpc, *resp, out);
  }
  return 0;
}

}  // namespace
}  // namespace veb::cli

int main(int argc, char** argv) {
  std::string socket = "/run/veb/vebd.sock";
  bool json = false;
  std::vector<std::string> words;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--") {
      // The end of the options: the rest are words, whatever they look like.
      // First, it also makes the next word a bridge name (ParseCommand).
      if (words.empty()) words.push_back(a);
      words.insert(words.end(), argv + i + 1, argv + argc);
      break;
    } else if (a == "-h" || a == "--help") {
      std::cout << veb::cli::Usage();
      return 0;
    } else if (a.rfind("--socket=", 0) == 0) {
      socket = a.substr(9);
    } else if (a == "--socket" || a == "-o" || a == "--output") {
      // A flag without its value is a syntax error, not a command word.
      if (i + 1 >= argc) {
        std::cerr << "vebctl: " << a << " needs a value (vebctl -h for usage)\n";
        return 2;
      }
      const std::string value = argv[++i];
      if (a == "--socket") {
        socket = value;
        continue;
      }
      if (value != "json" && value != "text") {
        std::cerr << "vebctl: " << a << " takes json or text (vebctl -h for usage)\n";
        return 2;
      }
      json = value == "json";
    } else {
      words.push_back(a);
    }
  }
  if (const char* env = getenv("VEB_SOCKET"); env != nullptr && socket == "/run/veb/vebd.sock") {
    socket = env;
  }
  auto inv = veb::cli::ParseCommand(words);
  if (!inv.ok()) {
    std::cerr << "vebctl: " << inv.status().message() << "\n";
    return 2;
  }
  return veb::cli::Execute(*inv, socket, json);
}
