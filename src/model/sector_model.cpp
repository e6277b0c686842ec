#include "qfluct/model/sector_model.hpp"

namespace qfluct {

RVec decay_diagonal(const SectorModel& model, int s, Window w) {
  RVec d = RVec::Zero(model.system_dim() * w.size);
  const auto& channels = model.channels();
  for (int c = 0; c < int(channels.size()); ++c) d += channels[c].rate * model.channel_weight(c, s, w);
  return d;
}

}  // namespace qfluct
