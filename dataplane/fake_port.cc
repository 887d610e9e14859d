#include "dataplane/fake_port.h"

namespace veb {

TxResult FakePort::Transmit(absl::Span<const TxFrame> frames) {
  TxResult result;
  for (const TxFrame& f : frames) {
    if (fail_budget_ == 0) {
      result.reason = fail_reason_;
      return result;
    }
    if (fail_budget_ > 0) --fail_budget_;
    if (record_) {
      std::vector<uint8_t> bytes(TxFrameLength(f));
      WriteTxFrame(f, bytes.data());
      sent_.push_back(std::move(bytes));
    }
    ++sent_count_;
    ++result.sent;
  }
  return result;
}

}  // namespace veb
