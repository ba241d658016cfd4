// Counting distinct rows of an integer matrix and entropy estimators from fingerprints
// (math.md Part C).
//
// Counting. Each row is one symbol. When the per-column ranges multiply to less than 2^63 a row
// becomes one 64-bit mixed-radix key; small key spaces are counted in a dense array (a bincount),
// large ones in an open-addressing hash table. Rows whose key space is wider are hashed byte-wise
// and compared with memcmp. Nothing is sorted. Symbols get ids in order of first occurrence, except
// on the dense counts-only path, which reports them in key order (callers treat order as opaque).
//
// Estimators work on the fingerprint f_j = #{symbols seen exactly j times}: the number of distinct
// count values is at most sqrt(2n), so they cost almost nothing after counting.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstddef>
#include <cstring>
#include <limits>
#include <type_traits>
#include <utility>
#include <vector>

#include "common.hpp"

namespace infotheory::entropy {

// Highest JVHW polynomial degree: the reference caps it because monomial coefficients grow ~10^12.
constexpr int kMaxDegree = 22;

// Dense counting when the key space is at most this many slots (or twice the number of rows).
constexpr uint64_t kDenseMin = uint64_t{1} << 16;
constexpr uint64_t kDenseMax = uint64_t{1} << 26;

struct Counts {
  std::vector<int64_t> counts;  // occurrences of each distinct symbol
  std::vector<int64_t> first;   // row of its first occurrence (filled when requested)
};

// splitmix64 finaliser: a full-avalanche mix, so linear probing on the low bits behaves.
inline uint64_t mix64(uint64_t x) {
  x ^= x >> 30;
  x *= 0xbf58476d1ce4e5b9ULL;
  x ^= x >> 27;
  x *= 0x94d049bb133111ebULL;
  x ^= x >> 31;
  return x;
}

template <class T>
inline uint64_t to_u64(T x) {
  if constexpr (std::is_signed_v<T>) {
    return static_cast<uint64_t>(static_cast<int64_t>(x));
  } else {
    return static_cast<uint64_t>(x);
  }
}

// Per-column min and max over rows [r0, r1), merged into mn/mx (initialise them from row r0).
template <class T>
void column_range(const T* x, int64_t r0, int64_t r1, int64_t d, T* mn, T* mx) {
  if (d == 1) {  // one column: four independent min/max chains instead of one serial chain
    T lo[4] = {mn[0], mn[0], mn[0], mn[0]}, hi[4] = {mx[0], mx[0], mx[0], mx[0]};
    int64_t r = r0;
    for (; r + 4 <= r1; r += 4) {
      for (int u = 0; u < 4; ++u) {
        lo[u] = std::min(lo[u], x[r + u]);
        hi[u] = std::max(hi[u], x[r + u]);
      }
    }
    for (; r < r1; ++r) {
      lo[0] = std::min(lo[0], x[r]);
      hi[0] = std::max(hi[0], x[r]);
    }
    mn[0] = std::min(std::min(lo[0], lo[1]), std::min(lo[2], lo[3]));
    mx[0] = std::max(std::max(hi[0], hi[1]), std::max(hi[2], hi[3]));
    return;
  }
  for (int64_t r = r0; r < r1; ++r) {
    const T* row = x + r * d;
    for (int64_t c = 0; c < d; ++c) {
      mn[c] = std::min(mn[c], row[c]);
      mx[c] = std::max(mx[c], row[c]);
    }
  }
}

// Mixed-radix strides of the offsets (x_c - min_c). Returns false when the key space does not fit
// in 63 bits; otherwise `total` is the number of possible keys.
template <class T>
bool radix_strides(const T* mn, const T* mx, int64_t d, uint64_t* stride, uint64_t& total) {
  constexpr uint64_t kLimit = uint64_t{1} << 63;
  uint64_t s = 1;
  for (int64_t c = d - 1; c >= 0; --c) {
    stride[c] = s;
    const uint64_t span = to_u64(mx[c]) - to_u64(mn[c]) + 1;  // 0 when the column spans 2^64
    if (span == 0 || s > kLimit / span) return false;
    s *= span;
  }
  total = s;
  return true;
}

template <class T>
inline uint64_t row_key(const T* row, int64_t d, const T* mn, const uint64_t* stride) {
  uint64_t k = 0;
  for (int64_t c = 0; c < d; ++c) k += (to_u64(row[c]) - to_u64(mn[c])) * stride[c];
  return k;
}

// Bincount of keys in [0, total) without ids: symbols come out in key order.
template <class KeyFn>
void count_dense_plain(int64_t n, uint64_t total, KeyFn key, Counts& out) {
  std::vector<int64_t> cnt(static_cast<size_t>(total), 0);
  for (int64_t i = 0; i < n; ++i) ++cnt[static_cast<size_t>(key(i))];
  out.counts.clear();
  for (int64_t c : cnt) {
    if (c) out.counts.push_back(c);
  }
}

// Dense slots holding ids in first-occurrence order; optional first rows and per-row labels.
template <class KeyFn>
void count_dense_ids(int64_t n, uint64_t total, KeyFn key, Counts& out, bool want_first,
                     int64_t* inverse) {
  std::vector<int64_t> slot(static_cast<size_t>(total), -1);
  out.counts.clear();
  out.first.clear();
  for (int64_t i = 0; i < n; ++i) {
    int64_t& s = slot[static_cast<size_t>(key(i))];
    if (s < 0) {
      s = static_cast<int64_t>(out.counts.size());
      out.counts.push_back(0);
      if (want_first) out.first.push_back(i);
    }
    ++out.counts[static_cast<size_t>(s)];
    if (inverse) inverse[i] = s;
  }
}

// Hash-table probes miss the cache once the table outgrows it: hash rows kAhead ahead of the insert
// and prefetch their slots, so the misses overlap.
constexpr int64_t kAhead = 16;

template <class P>
inline void prefetch(const P* p) {
#if defined(__GNUC__) || defined(__clang__)
  __builtin_prefetch(p);
#else
  (void)p;
#endif
}

// Open addressing with linear probing on 64-bit keys; grows 4x at load 1/2.
template <class KeyFn>
void count_hashed_keys(int64_t n, KeyFn key, Counts& out, bool want_first, int64_t* inverse) {
  struct Slot {
    uint64_t key;
    int64_t id;
  };
  size_t cap = 1024;
  std::vector<Slot> table(cap, Slot{0, -1});
  std::vector<uint64_t> id_key;
  out.counts.clear();
  out.first.clear();
  uint64_t ring_key[kAhead], ring_hash[kAhead];
  for (int64_t i = 0; i < std::min(n, kAhead); ++i) {
    ring_key[i] = key(i);
    ring_hash[i] = mix64(ring_key[i]);
  }
  for (int64_t i = 0; i < n; ++i) {
    const int64_t r = i % kAhead;
    const uint64_t k = ring_key[r], hk = ring_hash[r];
    if (i + kAhead < n) {
      ring_key[r] = key(i + kAhead);
      ring_hash[r] = mix64(ring_key[r]);
      prefetch(&table[static_cast<size_t>(ring_hash[r]) & (cap - 1)]);
    }
    size_t h = static_cast<size_t>(hk) & (cap - 1);
    while (table[h].id >= 0 && table[h].key != k) h = (h + 1) & (cap - 1);
    int64_t id = table[h].id;
    if (id < 0) {
      id = static_cast<int64_t>(out.counts.size());
      table[h] = Slot{k, id};
      out.counts.push_back(0);
      id_key.push_back(k);
      if (want_first) out.first.push_back(i);
      if (2 * out.counts.size() > cap) {
        cap *= 4;
        std::vector<Slot> grown(cap, Slot{0, -1});
        for (size_t j = 0; j < id_key.size(); ++j) {
          size_t g = static_cast<size_t>(mix64(id_key[j])) & (cap - 1);
          while (grown[g].id >= 0) g = (g + 1) & (cap - 1);
          grown[g] = Slot{id_key[j], static_cast<int64_t>(j)};
        }
        table.swap(grown);
      }
    }
    ++out.counts[static_cast<size_t>(id)];
    if (inverse) inverse[i] = id;
  }
}

inline uint64_t hash_bytes(const unsigned char* p, int64_t w) {
  uint64_t h = 0x9e3779b97f4a7c15ULL ^ static_cast<uint64_t>(w);
  int64_t i = 0;
  for (; i + 8 <= w; i += 8) {
    uint64_t v;
    std::memcpy(&v, p + i, 8);
    h = mix64(h ^ v);
  }
  if (i < w) {
    uint64_t v = 0;
    std::memcpy(&v, p + i, static_cast<size_t>(w - i));
    h = mix64(h ^ v ^ 0xa0761d6478bd642fULL);
  }
  return h;
}

// Rows of w bytes each, hashed and compared byte-wise (integer rows are equal iff their bytes are).
inline void count_rows_bytes(const unsigned char* data, int64_t n, int64_t w, Counts& out,
                             bool want_first, int64_t* inverse) {
  struct Slot {
    uint64_t hash;
    int64_t id;
  };
  size_t cap = 1024;
  std::vector<Slot> table(cap, Slot{0, -1});
  std::vector<uint64_t> id_hash;
  std::vector<int64_t> id_row;
  out.counts.clear();
  out.first.clear();
  uint64_t ring[kAhead];
  for (int64_t i = 0; i < std::min(n, kAhead); ++i) ring[i] = hash_bytes(data + i * w, w);
  for (int64_t i = 0; i < n; ++i) {
    const unsigned char* row = data + i * w;
    const int64_t r = i % kAhead;
    const uint64_t hv = ring[r];
    if (i + kAhead < n) {
      ring[r] = hash_bytes(data + (i + kAhead) * w, w);
      prefetch(&table[static_cast<size_t>(ring[r]) & (cap - 1)]);
    }
    size_t h = static_cast<size_t>(hv) & (cap - 1);
    int64_t id = -1;
    while (table[h].id >= 0) {
      if (table[h].hash == hv &&
          std::memcmp(data + id_row[static_cast<size_t>(table[h].id)] * w, row,
                      static_cast<size_t>(w)) == 0) {
        id = table[h].id;
        break;
      }
      h = (h + 1) & (cap - 1);
    }
    if (id < 0) {
      id = static_cast<int64_t>(out.counts.size());
      table[h] = Slot{hv, id};
      out.counts.push_back(0);
      id_hash.push_back(hv);
      id_row.push_back(i);
      if (2 * out.counts.size() > cap) {
        cap *= 4;
        std::vector<Slot> grown(cap, Slot{0, -1});
        for (size_t j = 0; j < id_hash.size(); ++j) {
          size_t g = static_cast<size_t>(id_hash[j]) & (cap - 1);
          while (grown[g].id >= 0) g = (g + 1) & (cap - 1);
          grown[g] = Slot{id_hash[j], static_cast<int64_t>(j)};
        }
        table.swap(grown);
      }
    }
    ++out.counts[static_cast<size_t>(id)];
    if (inverse) inverse[i] = id;
  }
  if (want_first) out.first = id_row;
}

// Count keys produced by key(i) for i in [0, n), choosing dense or hashed storage.
template <class KeyFn>
void count_keys(int64_t n, uint64_t total, KeyFn key, Counts& out, bool want_first,
                int64_t* inverse) {
  const uint64_t dense_cap = std::min(kDenseMax, std::max(kDenseMin, 2 * static_cast<uint64_t>(n)));
  if (total <= dense_cap) {
    if (!want_first && !inverse) {
      count_dense_plain(n, total, key, out);
    } else {
      count_dense_ids(n, total, key, out, want_first, inverse);
    }
  } else {
    count_hashed_keys(n, key, out, want_first, inverse);
  }
}

// One pass over a single column, counts only: a bincount whose window [base, base + size) grows
// (at least doubling) whenever a value falls outside it, so no separate min/max pass is needed.
// Returns false, leaving `out` unspecified, once the value range exceeds `cap` slots; the caller
// then counts another way. Values must fit in int64 (every integer type except uint64).
template <class T>
bool count_column_growing(const T* x, int64_t n, uint64_t cap, Counts& out) {
  static_assert(std::is_signed_v<T> || sizeof(T) < 8, "values must fit in int64");
  using lim = std::numeric_limits<int64_t>;
  constexpr int64_t kStart = 1024;
  // The window [base, base + size - 1] always lies inside int64.
  const int64_t x0 = static_cast<int64_t>(x[0]);
  int64_t base = x0 < lim::min() + kStart / 2 ? lim::min() : x0 - kStart / 2;
  base = std::min(base, lim::max() - (kStart - 1));
  std::vector<int64_t> cnt(static_cast<size_t>(kStart), 0);
  for (int64_t i = 0; i < n; ++i) {
    const int64_t v = static_cast<int64_t>(x[i]);
    const uint64_t idx = static_cast<uint64_t>(v) - static_cast<uint64_t>(base);
    if (idx < cnt.size()) {
      ++cnt[static_cast<size_t>(idx)];
      continue;
    }
    // Grow to cover v, at least doubling; the spare room goes on the side that grew.
    const int64_t top = base + (static_cast<int64_t>(cnt.size()) - 1);
    const int64_t lo = std::min(base, v), hi = std::max(top, v);
    const uint64_t span = static_cast<uint64_t>(hi) - static_cast<uint64_t>(lo) + 1;
    if (span == 0 || span > cap) return false;
    const uint64_t size = std::min(cap, std::max<uint64_t>(span, 2 * cnt.size()));
    const uint64_t extra = size - span;
    const uint64_t room_below = static_cast<uint64_t>(lo) - static_cast<uint64_t>(lim::min());
    const uint64_t room_above = static_cast<uint64_t>(lim::max()) - static_cast<uint64_t>(hi);
    const uint64_t below =
        v < base ? std::min(extra, room_below) : extra - std::min(extra, room_above);
    const int64_t new_base = static_cast<int64_t>(static_cast<uint64_t>(lo) - below);
    std::vector<int64_t> grown(static_cast<size_t>(size), 0);
    const auto shift = static_cast<std::ptrdiff_t>(static_cast<uint64_t>(base) -
                                                   static_cast<uint64_t>(new_base));
    std::copy(cnt.begin(), cnt.end(), grown.begin() + shift);
    cnt.swap(grown);
    base = new_base;
    ++cnt[static_cast<size_t>(static_cast<uint64_t>(v) - static_cast<uint64_t>(base))];
  }
  out.counts.clear();
  out.first.clear();
  for (int64_t c : cnt) {
    if (c) out.counts.push_back(c);
  }
  return true;
}

// Sparse fingerprint: the distinct counts j (ascending) with f_j = #{symbols seen j times} > 0, and
// k = sum f_j. At most sqrt(2n) entries, where a dense fingerprint has max count + 1 (up to n).
struct SparseFingerprint {
  std::vector<int64_t> j, f;
  int64_t k = 0;
};

// Builds a SparseFingerprint. Counts below kDenseCount are tallied in `dense`, scratch indexed by
// count that must be all zeros on entry and is all zeros again after finish() (so a caller can keep
// it: no page faults per call); larger counts (at most n / kDenseCount symbols have one) are listed
// and run-length encoded at the end, so memory never scales with the largest count.
class SparseFingerprintBuilder {
 public:
  static constexpr uint64_t kDenseCount = uint64_t{1} << 16;

  explicit SparseFingerprintBuilder(std::vector<int64_t>& dense) : dense_(dense) {
    if (dense_.size() < kDenseCount) dense_.resize(static_cast<size_t>(kDenseCount), 0);
  }
  void add(uint64_t c) {
    if (c >= kDenseCount) {
      big_.push_back(static_cast<int64_t>(c));
    } else if (dense_[static_cast<size_t>(c)]++ == 0) {
      touched_.push_back(static_cast<int64_t>(c));
    }
    ++k_;
  }
  // Adds the nonzero entries of a table of counts and zeroes it; branch-free in the entries
  // (zeros land in dense[0], reset after; a new distinct count, the only branch taken, is rare).
  template <class C>
  void add_table(C* cp, uint64_t size) {
    const int64_t z0 = dense_[0];
    int64_t* d = dense_.data();
    for (uint64_t j = 0; j < size; ++j) {
      const auto c = static_cast<uint64_t>(cp[j]);
      cp[j] = 0;
      if (c >= kDenseCount) {
        big_.push_back(static_cast<int64_t>(c));
        continue;
      }
      if (d[c]++ == 0 && c != 0) touched_.push_back(static_cast<int64_t>(c));
    }
    const int64_t zeros = dense_[0] - z0;
    dense_[0] = z0;
    k_ += static_cast<int64_t>(size) - zeros;
  }
  SparseFingerprint finish() {
    std::sort(touched_.begin(), touched_.end());
    std::sort(big_.begin(), big_.end());
    SparseFingerprint out;
    out.k = k_;
    out.j.reserve(touched_.size() + big_.size());
    out.f.reserve(touched_.size() + big_.size());
    for (int64_t c : touched_) {
      out.j.push_back(c);
      out.f.push_back(dense_[static_cast<size_t>(c)]);
      dense_[static_cast<size_t>(c)] = 0;
    }
    for (size_t i = 0; i < big_.size(); ++i) {
      if (i > 0 && big_[i] == big_[i - 1]) {
        ++out.f.back();
      } else {
        out.j.push_back(big_[i]);
        out.f.push_back(1);
      }
    }
    touched_.clear();
    big_.clear();
    k_ = 0;
    return out;
  }

 private:
  std::vector<int64_t>& dense_;
  std::vector<int64_t> touched_, big_;
  int64_t k_ = 0;
};

// Counts x[i], x[i+1], ... into cp[x - base] while they fall in [base, base + size); returns the
// index of the first value outside (n if none). Kept apart from the growth code so that the hot
// loop holds everything in registers.
template <class C, class T>
int64_t count_in_window(const T* x, int64_t i, int64_t n, int64_t base, uint64_t size, C* cp) {
  const uint64_t b = static_cast<uint64_t>(base);
  for (; i < n; ++i) {
    const uint64_t idx = static_cast<uint64_t>(static_cast<int64_t>(x[i])) - b;
    if (idx >= size) return i;
    ++cp[idx];
  }
  return n;
}

// Fingerprint of a single integer column in one pass, without a counts array: a bincount with
// counters of type C (uint32_t when n < 2^32: half the cache footprint of int64). The table is a
// window sized from the range of the first kPrefix values plus a quarter of slack; a value outside
// it grows the window (by at least half, the slack on the side that grew), so there is no min/max
// pass over the data and the table stays close to the value range (a small table stays in cache).
// One sweep of the table (sink.add_table) then adds every nonzero count to the fingerprint builder
// and zeroes the table. Returns false, having added nothing, once the range exceeds `cap` slots: the caller hashes instead. Values must fit in
// int64 (every integer type except uint64). `table` is scratch space that must be all zeros on
// entry and is all zeros again on return, so a caller can keep it between calls and skip both the
// zeroing and the page faults of fresh memory (on virtual machines these can cost more than the
// counting itself).
template <class C, class T, class Sink>
bool fingerprint_column_dense(const T* x, int64_t n, uint64_t cap, std::vector<C>& table,
                              Sink& sink) {
  static_assert(std::is_signed_v<T> || sizeof(T) < 8, "values must fit in int64");
  constexpr int64_t kPrefix = 4096;
  const int64_t m = std::min(n, kPrefix);
  T lo0 = x[0], hi0 = x[0];
  column_range(x, 1, m, 1, &lo0, &hi0);
  const uint64_t span0 = to_u64(hi0) - to_u64(lo0) + 1;  // 0: the type spans 2^64 (int64)
  if (span0 == 0 || span0 > cap) return false;
  uint64_t size = std::min(cap, span0 + span0 / 4 + 16);
  // Window [base, base + size - 1] inside int64, slack split around the prefix range.
  const uint64_t extra = size - span0;
  const auto lo_i = static_cast<int64_t>(lo0), hi_i = static_cast<int64_t>(hi0);
  using lim = std::numeric_limits<int64_t>;
  const uint64_t room_below = static_cast<uint64_t>(lo_i) - static_cast<uint64_t>(lim::min());
  const uint64_t room_above = static_cast<uint64_t>(lim::max()) - static_cast<uint64_t>(hi_i);
  uint64_t below = std::min(extra / 2, room_below);
  below += (extra - below) - std::min(extra - below, room_above);
  int64_t base = static_cast<int64_t>(static_cast<uint64_t>(lo_i) - below);
  std::vector<C>& cnt = table;
  if (cnt.size() < size) cnt.resize(static_cast<size_t>(size), 0);
  C* cp = cnt.data();
  int64_t i = 0;
  while (true) {
    i = count_in_window(x, i, n, base, size, cp);
    if (i == n) break;
    const int64_t v = static_cast<int64_t>(x[i]);
    const int64_t top = base + static_cast<int64_t>(size - 1);
    const int64_t lo = std::min(base, v), hi = std::max(top, v);
    const uint64_t span = static_cast<uint64_t>(hi) - static_cast<uint64_t>(lo) + 1;
    if (span == 0 || span > cap) {
      std::fill(cp, cp + size, C{0});
      return false;
    }
    const uint64_t grown_size = std::min(cap, std::max<uint64_t>(span, size + size / 2));
    const uint64_t slack = grown_size - span;
    const uint64_t rb = static_cast<uint64_t>(lo) - static_cast<uint64_t>(lim::min());
    const uint64_t ra = static_cast<uint64_t>(lim::max()) - static_cast<uint64_t>(hi);
    const uint64_t b = v < base ? std::min(slack, rb) : slack - std::min(slack, ra);
    const int64_t new_base = static_cast<int64_t>(static_cast<uint64_t>(lo) - b);
    std::vector<C> grown(static_cast<size_t>(grown_size), 0);
    const auto shift = static_cast<std::ptrdiff_t>(static_cast<uint64_t>(base) -
                                                   static_cast<uint64_t>(new_base));
    std::copy(cp, cp + size, grown.begin() + shift);
    cnt.swap(grown);
    cp = cnt.data();
    size = grown_size;
    base = new_base;
    ++cp[static_cast<uint64_t>(v) - static_cast<uint64_t>(base)];
    ++i;
  }
  sink.add_table(cp, size);  // also zeroes the table
  return true;
}

// Fingerprint: fp[j] = number of symbols with count j, for j = 0..max(counts); fp[0] = 0.
inline std::vector<int64_t> fingerprint(const int64_t* counts, int64_t k) {
  int64_t mx = 0;
  for (int64_t i = 0; i < k; ++i) mx = std::max(mx, counts[i]);
  std::vector<int64_t> fp(static_cast<size_t>(mx) + 1, 0);
  for (int64_t i = 0; i < k; ++i) {
    if (counts[i] > 0) ++fp[static_cast<size_t>(counts[i])];
  }
  return fp;
}

// Plug-in (maximum-likelihood) entropy in nats: -sum_j f_j (j/n) ln(j/n), over the m pairs
// (j[i], f[i]) of a sparse fingerprint (entries with f = 0 are skipped).
inline double plugin_nats_pairs(const int64_t* j, const int64_t* f, int64_t m, int64_t n) {
  const double dn = static_cast<double>(n);
  double h = 0.0;
  for (int64_t i = 0; i < m; ++i) {
    if (f[i] == 0 || j[i] <= 0) continue;
    const double x = static_cast<double>(j[i]) / dn;
    h -= static_cast<double>(f[i]) * x * std::log(x);
  }
  return h;
}

// Plug-in entropy from a dense fingerprint fp[0..len).
inline double plugin_nats(const int64_t* fp, int64_t len, int64_t n) {
  const double dn = static_cast<double>(n);
  double h = 0.0;
  for (int64_t j = 1; j < len; ++j) {
    if (fp[j] == 0) continue;
    const double x = static_cast<double>(j) / dn;
    h -= static_cast<double>(fp[j]) * x * std::log(x);
  }
  return h;
}

// JVHW polynomial degree (math.md §C2 step 2).
inline int jvhw_degree(int64_t n) {
  const double k = 4.0 + std::ceil(1.2 * std::log(static_cast<double>(n)));
  return static_cast<int>(std::min(k, static_cast<double>(kMaxDegree)));
}

// Data-driven threshold constant c1 (math.md §C2 step 4); 0 means "bias-corrected plug-in only".
inline double jvhw_c1(int64_t n, int64_t f1, int degree) {
  if (n < degree || f1 <= 0) return 0.0;
  const double dn = static_cast<double>(n);
  const double u = std::log(dn / static_cast<double>(f1));
  double c1;
  if (n < 200 || u > 1.5) {
    c1 = 0.3303 * u + 0.4679;
  } else {
    c1 = (-0.530556484842359 * u + 1.09787328176926) * u + 0.184831781602259;
  }
  return std::max(c1, 1.0 / (1.9 * std::log(dn)));
}

// JVHW value of one symbol seen j times (math.md §C2 step 5), in nats. g holds g_0..g_K.
inline double jvhw_symbol(int64_t j, int64_t n, double thres, const double* g, int degree) {
  const double dn = static_cast<double>(n);
  const double x = static_cast<double>(j) / dn;
  const double mle = -x * std::log(x) + 1.0 / (2.0 * dn);
  if (!(thres > 0.0)) return std::max(mle, 0.0);
  const double ratio = std::min(std::max(2.0 * x / thres - 1.0, 0.0), 1.0);
  if (ratio >= 1.0) return std::max(mle, 0.0);
  // Unbiased estimate of Delta g(p/Delta) - p ln Delta via falling factorials (j)_k / (n)_k.
  // The g_k alternate in sign and reach 1e12, so near x = Delta the sum cancels heavily: it is
  // accumulated in extended precision (80-bit on x86), which keeps the result within ~1e-12 of
  // the exact value where a double sum (the reference's) is off by up to ~1e-8 bits at n ~ 1e5.
  using ld = long double;
  const ld nx = static_cast<ld>(dn * x), lt = thres, ln = dn;
  ld term = lt, sum = static_cast<ld>(g[0]) * lt;
  for (int k = 1; k <= degree; ++k) {
    const ld q = static_cast<ld>(k - 1);
    term *= (nx - q) / (lt * (ln - q));
    sum += static_cast<ld>(g[k]) * term;
  }
  double poly = static_cast<double>(sum - static_cast<ld>(x) * std::log(lt));
  if (!std::isfinite(poly)) poly = mle;
  return std::max(ratio * mle + (1.0 - ratio) * poly, 0.0);
}

// JVHW entropy in nats from a fingerprint of n samples; g_table is kMaxDegree rows of
// kMaxDegree + 1 coefficients, row K-1 holding g_0..g_K of the degree-K approximation.
inline double jvhw_nats(const int64_t* fp, int64_t len, int64_t n, const double* g_table) {
  const int degree = jvhw_degree(n);
  const double* g = g_table + static_cast<int64_t>(degree - 1) * (kMaxDegree + 1);
  const double c1 = jvhw_c1(n, len > 1 ? fp[1] : 0, degree);
  const double thres = 4.0 * c1 * std::log(static_cast<double>(n)) / static_cast<double>(n);
  double h = 0.0;
  for (int64_t j = 1; j < len; ++j) {
    if (fp[j] == 0) continue;
    h += static_cast<double>(fp[j]) * jvhw_symbol(j, n, thres, g, degree);
  }
  return h;
}

// The same from the m pairs (j[i], f[i]) of a sparse fingerprint, j ascending: the same terms
// summed in the same order, so the result equals jvhw_nats on the dense form bit for bit.
inline double jvhw_nats_pairs(const int64_t* j, const int64_t* f, int64_t m, int64_t n,
                              const double* g_table) {
  const int degree = jvhw_degree(n);
  const double* g = g_table + static_cast<int64_t>(degree - 1) * (kMaxDegree + 1);
  int64_t f1 = 0;
  for (int64_t i = 0; i < m; ++i) {
    if (j[i] == 1) f1 += f[i];
  }
  const double c1 = jvhw_c1(n, f1, degree);
  const double thres = 4.0 * c1 * std::log(static_cast<double>(n)) / static_cast<double>(n);
  double h = 0.0;
  for (int64_t i = 0; i < m; ++i) {
    if (f[i] == 0 || j[i] <= 0) continue;
    h += static_cast<double>(f[i]) * jvhw_symbol(j[i], n, thres, g, degree);
  }
  return h;
}

}  // namespace infotheory::entropy
