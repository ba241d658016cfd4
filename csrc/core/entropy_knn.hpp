// Nearest-neighbour counts for the Kraskov (KSG) mutual-information estimator, max-norm.
//
// For each point i of the joint sample (x_i, y_i): eps_i = distance to its k-th neighbour in the
// joint space (the (k+1)-th smallest distance, the point itself included), then n_x(i) and n_y(i) =
// number of points (itself included) within max-norm distance <= r_i = nextafter(eps_i, 0) in each
// marginal space, i.e. strictly closer than eps_i. KSG (algorithm 1):
//     I = psi(k) + psi(n) - mean(psi(n_x) + psi(n_y)).
// These are the semantics of scipy cKDTree's query / query_ball_point(return_length=True) with p=inf,
// and the arithmetic is the same (max_d |a_d - b_d| in double), so the counts agree exactly.
//
// A kd-tree (median splits on the widest dimension, points copied in tree order) answers the k-NN
// and the range counts; one-dimensional marginals use binary search in a sorted copy instead.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <numeric>
#include <vector>

namespace infotheory::knn {

constexpr int64_t kLeafSize = 12;

class KDTree {
 public:
  // Points are rows of `data` (row stride `stride`), columns [col0, col0 + d).
  KDTree(const double* data, int64_t n, int64_t stride, int64_t col0, int64_t d) : d_(d) {
    pts_.resize(static_cast<size_t>(n * d));
    std::vector<int64_t> idx(static_cast<size_t>(n));
    std::iota(idx.begin(), idx.end(), int64_t{0});
    raw_ = data;
    stride_ = stride;
    col0_ = col0;
    nodes_.reserve(static_cast<size_t>(2 * (n / kLeafSize + 1)));
    build(idx, 0, n);
    for (int64_t i = 0; i < n; ++i) {
      const double* src = data + idx[static_cast<size_t>(i)] * stride + col0;
      std::copy(src, src + d, pts_.begin() + i * d);
    }
    raw_ = nullptr;
  }

  // The m-th smallest max-norm distance from q to the tree's points (m >= 1, m <= n).
  double kth_distance(const double* q, int64_t m, std::vector<double>& heap) const {
    heap.assign(static_cast<size_t>(m), INFINITY);  // sorted ascending, heap.back() = current bound
    knn(0, q, heap);
    return heap.back();
  }

  // Number of points within max-norm distance <= r of q.
  int64_t count_within(const double* q, double r) const { return count(0, q, r); }

 private:
  struct Node {
    int64_t begin, end;
    int64_t left, right;  // -1 for leaves
  };

  int64_t d_;
  std::vector<double> pts_;
  std::vector<Node> nodes_;
  std::vector<double> lo_, hi_;  // per-node bounding boxes, d_ values each
  const double* raw_ = nullptr;
  int64_t stride_ = 0, col0_ = 0;

  double coord(int64_t point, int64_t dim) const { return raw_[point * stride_ + col0_ + dim]; }

  int64_t build(std::vector<int64_t>& idx, int64_t begin, int64_t end) {
    const int64_t id = static_cast<int64_t>(nodes_.size());
    nodes_.push_back(Node{begin, end, -1, -1});
    lo_.resize(lo_.size() + static_cast<size_t>(d_));
    hi_.resize(hi_.size() + static_cast<size_t>(d_));
    double* lo = lo_.data() + id * d_;
    double* hi = hi_.data() + id * d_;
    for (int64_t c = 0; c < d_; ++c) {
      lo[c] = INFINITY;
      hi[c] = -INFINITY;
    }
    for (int64_t i = begin; i < end; ++i) {
      for (int64_t c = 0; c < d_; ++c) {
        const double v = coord(idx[static_cast<size_t>(i)], c);
        lo[c] = std::min(lo[c], v);
        hi[c] = std::max(hi[c], v);
      }
    }
    if (end - begin <= kLeafSize) return id;
    int64_t dim = 0;
    for (int64_t c = 1; c < d_; ++c) {
      if (hi[c] - lo[c] > hi[dim] - lo[dim]) dim = c;
    }
    if (!(hi[dim] > lo[dim])) return id;  // all points equal: keep as a leaf
    const int64_t mid = begin + (end - begin) / 2;
    std::nth_element(idx.begin() + begin, idx.begin() + mid, idx.begin() + end,
                     [&](int64_t a, int64_t b) { return coord(a, dim) < coord(b, dim); });
    const int64_t left = build(idx, begin, mid);
    const int64_t right = build(idx, mid, end);
    nodes_[static_cast<size_t>(id)].left = left;
    nodes_[static_cast<size_t>(id)].right = right;
    return id;
  }

  double min_dist(int64_t node, const double* q) const {
    const double* lo = lo_.data() + node * d_;
    const double* hi = hi_.data() + node * d_;
    double m = 0.0;
    for (int64_t c = 0; c < d_; ++c) m = std::max(m, std::max(lo[c] - q[c], q[c] - hi[c]));
    return m;
  }

  double max_dist(int64_t node, const double* q) const {
    const double* lo = lo_.data() + node * d_;
    const double* hi = hi_.data() + node * d_;
    double m = 0.0;
    for (int64_t c = 0; c < d_; ++c) m = std::max(m, std::max(q[c] - lo[c], hi[c] - q[c]));
    return m;
  }

  double dist(int64_t i, const double* q) const {
    const double* p = pts_.data() + i * d_;
    double m = 0.0;
    for (int64_t c = 0; c < d_; ++c) m = std::max(m, std::abs(p[c] - q[c]));
    return m;
  }

  void knn(int64_t node, const double* q, std::vector<double>& heap) const {
    const Node& nd = nodes_[static_cast<size_t>(node)];
    if (nd.left < 0) {
      for (int64_t i = nd.begin; i < nd.end; ++i) {
        const double dd = dist(i, q);
        if (dd < heap.back()) {  // insert into the sorted list, dropping the largest
          size_t j = heap.size() - 1;
          while (j > 0 && heap[j - 1] > dd) {
            heap[j] = heap[j - 1];
            --j;
          }
          heap[j] = dd;
        }
      }
      return;
    }
    const double dl = min_dist(nd.left, q), dr = min_dist(nd.right, q);
    const int64_t first = dl <= dr ? nd.left : nd.right;
    const int64_t second = dl <= dr ? nd.right : nd.left;
    const double d2 = dl <= dr ? dr : dl;
    if (std::min(dl, dr) < heap.back()) knn(first, q, heap);
    if (d2 < heap.back()) knn(second, q, heap);
  }

  int64_t count(int64_t node, const double* q, double r) const {
    if (min_dist(node, q) > r) return 0;
    const Node& nd = nodes_[static_cast<size_t>(node)];
    if (max_dist(node, q) <= r) return nd.end - nd.begin;
    if (nd.left < 0) {
      int64_t c = 0;
      for (int64_t i = nd.begin; i < nd.end; ++i) c += dist(i, q) <= r;
      return c;
    }
    return count(nd.left, q, r) + count(nd.right, q, r);
  }
};

// Number of entries v of the ascending array `sorted` with |v - x| <= r. fl(v - x) is monotone in
// v, so both ends are exact partition points of the same comparisons a tree would make.
inline int64_t count_sorted(const std::vector<double>& sorted, double x, double r) {
  const auto lo = std::partition_point(sorted.begin(), sorted.end(),
                                       [&](double v) { return std::abs(x - v) > r && v < x; });
  const auto hi =
      std::partition_point(lo, sorted.end(), [&](double v) { return std::abs(v - x) <= r || v < x; });
  return static_cast<int64_t>(hi - lo);
}

}  // namespace infotheory::knn
