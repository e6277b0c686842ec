#pragma once
/// A contiguous range of ladder indices kept for a state: the adaptive support window.
///
/// A sector state lives in C^d (x) C^L: d system levels (2 for the central spin) times a ladder
/// of L rungs (Dicke k = j + m, or Fock n). A window keeps rungs [begin, begin + size) for every
/// system level, stored as  index = c * size + (k - begin).
/// How trajectories grow and trim windows, and what that discards: docs/trajectories.md section 6.
#include "qfluct/core/types.hpp"

#include <algorithm>

namespace qfluct {

struct Window {
  Index begin = 0;
  Index size = 0;

  Index end() const { return begin + size; }
  bool contains(Index k) const { return k >= begin && k < end(); }
  /// Every rung of a ladder of length L.
  static Window full(Index ladder_size) { return {0, ladder_size}; }
  /// This window moved by `shift` rungs and widened by `grow` on both sides, clipped to [0, L).
  Window shifted(Index shift, Index grow, Index ladder_size) const {
    const Index b = std::max<Index>(0, begin + shift - grow);
    const Index e = std::min<Index>(ladder_size, end() + shift + grow);
    return {b, std::max<Index>(0, e - b)};
  }
  friend bool operator==(const Window&, const Window&) = default;
};

}  // namespace qfluct
