// Bridge: validation, construction and the forwarding pipeline (S1-S12, run
// by the workers). The control plane is in bridge_control.cc; the shared
// private state in bridge_internal.h.
#include "dataplane/bridge.h"

#include <algorithm>
#include <tuple>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "dataplane/bridge_internal.h"

namespace veb {

// ---- worker context ------------------------------------------------------------

WorkerContext::WorkerContext(Qsbr* qsbr, int worker_id)
    : qsbr_(qsbr), reader_(qsbr->Register()), id_(worker_id) {
  reader_->Offline();
}

WorkerContext::~WorkerContext() { qsbr_->Unregister(reader_); }

// ---- construction ------------------------------------------------------------

absl::StatusOr<std::unique_ptr<Bridge>> Bridge::Create(
    std::string name, const BridgeConfig& config, const Clock* clock,
    Qsbr* qsbr, int num_workers) {
  if (absl::Status s = ValidateBridgeName(name); !s.ok()) return s;
  if (absl::Status s = ValidateBridgeConfig(config); !s.ok()) {
    return absl::Status(s.code(),
                        absl::StrCat("bridge ", Quote(name), ": ", s.message()));
  }
  if (num_workers < 1 || num_workers > kMaxWorkers) {
    return absl::InvalidArgumentError(
        absl::StrCat("workers ", num_workers, " out of range 1..", kMaxWorkers));
  }
  return std::unique_ptr<Bridge>(
      new Bridge(std::move(name), config, clock, qsbr, num_workers));
}

Bridge::Bridge(std::string name, const BridgeConfig& config,
               const Clock* clock, Qsbr* qsbr, int num_workers)
    : name_(std::move(name)),
      clock_(clock),
      qsbr_(qsbr),
      table_(qsbr, config.max_addresses, config.timeout_seconds) {
  auto snap = new Snapshot;
  snap->config = config;
  snapshot_.store(snap);
  for (int i = 0; i < num_workers; ++i) {
    workers_.push_back(std::make_unique<WorkerCounters>());
  }
}

Bridge::~Bridge() { delete snapshot_.load(); }

// ---- dataplane ---------------------------------------------------------------

Bridge::CounterCells& Bridge::Cells(WorkerCounters& wc, const PortState& p) const {
  CounterCells* chunk =
      wc.chunks[p.ref.slot / kChunkSize].load(std::memory_order_acquire);
  CounterCells& c = chunk[p.ref.slot % kChunkSize];
  if (c.gen.load(std::memory_order_relaxed) != p.ref.gen) c.Reset(p.ref.gen);
  return c;
}

void Bridge::Input(WorkerContext& ctx, PortRef rx,
                   absl::Span<const RxFrame> frames) {
  ctx.reader_->Online();
  const Snapshot* snap = snapshot_.load(std::memory_order_acquire);
  const PortState* rp = snap->At(rx);
  // Input on a span port is not switched (a span port transmits only copies).
  if (rp != nullptr && !rp->span && !frames.empty()) {
    WorkerCounters& wc = *workers_[ctx.id_];
    CounterCells& rc = Cells(wc, *rp);
    uint64_t bytes = 0;
    for (const RxFrame& f : frames) bytes += f.len;
    rc.rx_packets.Add(frames.size());
    rc.rx_bytes.Add(bytes);
    if (!snap->config.up || !rp->io->running()) {  // S1
      rc.In(DropReason::kLinkDown, frames.size());
    } else {
      if (ctx.tx_.size() < snap->slots.size()) ctx.tx_.resize(snap->slots.size());
      const int64_t now = clock_->NowNs();
      for (const RxFrame& f : frames) ProcessFrame(ctx, wc, *snap, *rp, rc, f, now);
      TransmitPending(ctx, wc, *snap);
    }
  }
  ctx.reader_->Offline();
}

void Bridge::ProcessFrame(WorkerContext& ctx, WorkerCounters& wc,
                          const Snapshot& snap, const PortState& rp,
                          CounterCells& rc, const RxFrame& frame, int64_t now) {
  // S2: span ports get every received frame before any filter.
  for (const PortState* sp : snap.spans) {
    if (!sp->io->running()) {  // S1, S11: a copy not sent is counted
      Cells(wc, *sp).Out(DropReason::kLinkDown);
      continue;
    }
    ctx.tx_[sp->ref.slot].push_back(TxFrame{frame.data, frame.len, TagOp::kKeep, 0, frame.offload});
    if (ctx.tx_[sp->ref.slot].size() == 1) ctx.touched_.push_back(sp->ref.slot);
  }

  const BridgeConfig& bc = snap.config;
  const PortConfig& pc = rp.config;
  ParsedFrame pf;
  if (auto reason = ParseFrame(frame.data, frame.len, bc.allow_svlan, &pf)) {
    rc.In(*reason);
    return;
  }
  // S3: VLAN membership on input.
  if (pf.wire_tagged) {
    const uint16_t vid = pf.tci & 0xfff;
    if (vid == 0) {  // priority tag: belongs to the PVID
      if (pc.pvid == kPvidNone) return rc.In(DropReason::kUntagged);
      pf.vid = pc.pvid;
    } else if (!rp.tagged.test(vid)) {
      return rc.In(DropReason::kTaggedIn);
    } else {
      pf.vid = vid;
    }
  } else {
    if (pc.pvid == kPvidNone) return rc.In(DropReason::kUntagged);
    pf.vid = pc.pvid;
  }
  // S9: 802.1 reserved group addresses stay on the link.
  if (IsReserved8021(pf.dst) && !bc.allow_reserved) {
    return rc.In(DropReason::kReservedAddress);
  }
  // S4
  if (pc.blocknonip && !IsIpLike(pf.ether_type)) {
    return rc.In(DropReason::kBlockNonIpIn);
  }
  // S5
  if (!rp.rules_in.empty() && RulesBlock(rp.rules_in, pf, frame.data, frame.len)) {
    return rc.In(DropReason::kRulesIn);
  }
  // S6
  if (pc.locked) {
    const std::optional<PortRef> owner = table_.Lookup(pf.vid, pf.src, now);
    if (!owner || *owner != rp.ref) return rc.In(DropReason::kLocked);
  }
  // S7: a multicast or all-zero source is never learned; counted.
  if (pc.learning && (IsMulticast(pf.src) || pf.src == 0)) {
    wc.refused[static_cast<size_t>(LearnRefusal::kInvalidSource)].Add(1);
  } else if (pc.learning) {
    switch (table_.Learn(pf.vid, pf.src, rp.ref, now, pc.max_addresses)) {
      case LearnResult::kRefusedFull:
        wc.refused[static_cast<size_t>(LearnRefusal::kTableFull)].Add(1);
        break;
      case LearnResult::kRefusedPortFull:
        wc.refused[static_cast<size_t>(LearnRefusal::kPortFull)].Add(1);
        break;
      case LearnResult::kRefusedStatic:
        wc.refused[static_cast<size_t>(LearnRefusal::kStatic)].Add(1);
        break;
      default:
        break;
    }
  }
  // S8: known unicast.
  const bool multicast = IsMulticast(pf.dst);
  if (!multicast) {
    if (const std::optional<PortRef> dst = table_.Lookup(pf.vid, pf.dst, now)) {
      const PortState* tp = snap.At(*dst);
      if (tp != nullptr) {
        if (tp == &rp) return rc.In(DropReason::kHairpin);
        rc.unicast.Add(1);
        Egress(ctx, wc, rp, *tp, pf, frame);
        return;
      }
    }
  }
  // S9: flood. Unknown unicast only to ports with discover.
  rc.flooded.Add(1);
  wc.flooded.Add(1);
  for (const PortState* tp : snap.members) {
    if (tp == &rp) continue;
    if (!multicast && !tp->config.discover) continue;
    Egress(ctx, wc, rp, *tp, pf, frame);
  }
}

void Bridge::Egress(WorkerContext& ctx, WorkerCounters& wc, const PortState& rp,
                    const PortState& tp, const ParsedFrame& pf,
                    const RxFrame& frame) {
  CounterCells& tc = Cells(wc, tp);
  if (!tp.io->running()) return tc.Out(DropReason::kLinkDown);  // S1
  // S10 (and S8 for known unicast).
  if (rp.config.protected_domains & tp.config.protected_domains) {
    return tc.Out(DropReason::kProtected);
  }
  // S3: VLAN membership on output decides the tag operation.
  TxFrame tx{frame.data, frame.len, TagOp::kKeep, 0, frame.offload};
  if (tp.config.pvid == pf.vid) {
    if (pf.wire_tagged) tx.op = TagOp::kStrip;
  } else if (tp.tagged.test(pf.vid)) {
    if (!pf.wire_tagged) {
      tx.op = TagOp::kPush;
      tx.tci = pf.vid;
    } else if ((pf.tci & 0xfff) != pf.vid) {
      tx.op = TagOp::kRewrite;
      tx.tci = static_cast<uint16_t>((pf.tci & 0xf000) | pf.vid);
    }
  } else {
    return tc.Out(DropReason::kTaggedOut);
  }
  if (tp.config.blocknonip && !IsIpLike(pf.ether_type)) {  // S4
    return tc.Out(DropReason::kBlockNonIpOut);
  }
  if (!tp.rules_out.empty() &&  // S5
      RulesBlock(tp.rules_out, pf, frame.data, frame.len)) {
    return tc.Out(DropReason::kRulesOut);
  }
  if (!frame.offload.gso && frame.len - pf.l2_len > tp.io->mtu()) {
    return tc.Out(DropReason::kTooBig);
  }
  std::vector<TxFrame>& q = ctx.tx_[tp.ref.slot];
  q.push_back(tx);
  if (q.size() == 1) ctx.touched_.push_back(tp.ref.slot);
}

void Bridge::TransmitPending(WorkerContext& ctx, WorkerCounters& wc,
                             const Snapshot& snap) {
  for (uint32_t slot : ctx.touched_) {
    std::vector<TxFrame>& q = ctx.tx_[slot];
    const PortState& tp = *snap.slots[slot];
    CounterCells& tc = Cells(wc, tp);
    const TxResult r = tp.io->Transmit(absl::MakeConstSpan(q));
    uint64_t bytes = 0;
    for (uint32_t i = 0; i < r.sent; ++i) bytes += TxFrameLength(q[i]);
    tc.tx_packets.Add(r.sent);
    tc.tx_bytes.Add(bytes);
    if (r.sent < q.size()) tc.Out(r.reason, q.size() - r.sent);
    q.clear();
  }
  ctx.touched_.clear();
}

}  // namespace veb
