// Bounded top-k selection: a max-heap of (distance, label) pairs, smaller is better.
// Ties are broken by label so results never depend on the order of pushes.
#pragma once
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <limits>

#include "kernels/distances.h"

namespace adanns {

// (da, la) ranks after (db, lb)
inline bool worse(float da, int64_t la, float db, int64_t lb) {
    return da > db || (da == db && la > lb);
}

// A heap over caller-owned arrays d[0..k), l[0..k), initialised full of (+inf, -1).
class TopK {
public:
    TopK(float* d, int64_t* l, std::size_t k) : d_(d), l_(l), k_(k) {
        std::fill(d_, d_ + k_, std::numeric_limits<float>::infinity());
        std::fill(l_, l_ + k_, int64_t(-1));
    }
    float threshold() const { return d_[0]; }

    // Keeps (dist, label) if it beats the current worst entry.
    void push(float dist, int64_t label) {
        if (!worse(d_[0], l_[0], dist, label)) return;
        d_[0] = dist;
        l_[0] = label;
        sift_down(d_, l_, k_, 0);
    }

    // Sorts best-first in place; unfilled slots (+inf, -1) end up last.
    void sort() {
        for (std::size_t end = k_; end > 1; --end) {
            std::swap(d_[0], d_[end - 1]);
            std::swap(l_[0], l_[end - 1]);
            sift_down(d_, l_, end - 1, 0);
        }
    }

    // Rebuilds the heap property after the caller rewrote entries.
    void heapify() {
        for (std::size_t i = k_ / 2; i-- > 0;) sift_down(d_, l_, k_, i);
    }

private:
    static void sift_down(float* d, int64_t* l, std::size_t n, std::size_t i) {
        const float dv = d[i];
        const int64_t lv = l[i];
        for (;;) {
            std::size_t c = 2 * i + 1;
            if (c >= n) break;
            if (c + 1 < n && worse(d[c + 1], l[c + 1], d[c], l[c])) ++c;
            if (!worse(d[c], l[c], dv, lv)) break;
            d[i] = d[c];
            l[i] = l[c];
            i = c;
        }
        d[i] = dv;
        l[i] = lv;
    }
    float* d_;
    int64_t* l_;
    std::size_t k_;
};

}  // namespace adanns

namespace adanns {

struct Candidate {
    float d;
    int64_t label;
};

inline bool operator<(const Candidate& a, const Candidate& b) { return worse(b.d, b.label, a.d, a.label); }

// Top-k by batched selection: candidates at or under the threshold are appended to a buffer of
// 2k entries; when it is full, it is compacted to the entries at or under its k-th smallest
// distance (the kth kernel on a float copy of the distances), and the threshold tightens. Each
// push is O(1) amortised, where a heap costs O(log k): much faster for the large k of a rerank
// short list. The result is exactly the k smallest (distance, label) pairs pushed, whatever the
// push order: compaction keeps every entry tied with the k-th distance, and select() cuts the
// ties by label.
class TopKBuffer {
public:
    // buf: 2k candidates; scratch: 4k floats (compaction workspace); select and kth: the kernel
    // table's (kernels().select, kernels().kth), the threshold test of push_run and the
    // compactions' selection.
    TopKBuffer(Candidate* buf, std::size_t k, float* scratch, SelectFn select, KthFn kth)
        : e_(buf), s_(scratch), k_(k), select_(select), kth_(kth) {}
    float threshold() const { return thr_; }
    // Lowers the threshold to t, which the caller knows is at or above the k-th smallest of all
    // the distances it will push (e.g. the k-th smallest of k or more of them): the result stays
    // exact, and pushes above t are rejected by push_run's selection.
    void bound(float t) { thr_ = t < thr_ ? t : thr_; }
    void push(float dist, int64_t label) {
        e_[n_].d = dist;
        e_[n_].label = label;
        if (++n_ == 2 * k_) compact();
    }
    // Pushes the t distances d[r] (labels label0 + r) that are at or under the threshold: the
    // selection kernel lists them (a SIMD compare per 8 or 16 distances), in segments of up to
    // kSegment; each listed one is appended and kept if it still qualifies (branch-free: a
    // compaction within the segment may have lowered the threshold).
    void push_run(const float* d, std::size_t t, int64_t label0) {
        constexpr std::size_t kSegment = 256;
        uint32_t idx[kSegment + kSelectSlack];
        const std::size_t cap = 2 * k_;
        std::size_t n = n_;
        float thr = thr_;
        for (std::size_t s0 = 0; s0 < t; s0 += kSegment) {
            const std::size_t st = t - s0 < kSegment ? t - s0 : kSegment;
            const float* ds = d + s0;
            const int64_t lb = label0 + static_cast<int64_t>(s0);
            const std::size_t m = select_(ds, st, thr, idx);
            for (std::size_t i = 0; i < m; ++i) {
                const uint32_t r = idx[i];
                const float x = ds[r];
                e_[n].d = x;
                e_[n].label = lb + static_cast<int64_t>(r);
                n += x <= thr ? 1 : 0;
                if (n == cap) {
                    n_ = n;
                    compact();
                    n = n_;
                    thr = thr_;
                }
            }
        }
        n_ = n;
    }
    // Keeps the best (up to k) in slots 0..n-1, in no particular order; returns n. Slots n..k-1
    // become (+inf, -1). Cheaper than finalize() where the order is not needed yet (a shortlist
    // that will be re-scored, or merged into another).
    std::size_t select() {
        if (n_ > k_) cut();
        for (std::size_t i = n_; i < k_; ++i) e_[i] = Candidate{std::numeric_limits<float>::infinity(), -1};
        return n_;
    }
    // As select(), then sorted best first.
    std::size_t finalize() {
        const std::size_t n = select();
        std::sort(e_, e_ + n);
        return n;
    }
    // After a re-scoring of the n entries that select() kept, with rd[i] the new distance of
    // entry i (no NaN): the best kk (1 <= kk <= n) by (distance, label), sorted best first, in
    // slots 0..kk-1. Reads rd, and of the entries only the labels of those at or under the kk-th
    // distance (the rest of a long shortlist is not touched). idx: room for n + kSelectSlack.
    void best_rescored(const float* rd, std::size_t n, std::size_t kk, uint32_t* idx) {
        float thr = std::numeric_limits<float>::infinity();
        if (kk < n) {
            for (std::size_t i = 0; i < n; ++i) s_[i] = rd[i];
            thr = kth_(s_, n, kk - 1, s_ + 2 * k_);
        }
        // The entries at or under thr, ascending (idx[t] >= t: slot t is written after every
        // slot it reads from below it, and before any it reads from above).
        const std::size_t m = select_(rd, n, thr, idx);
        for (std::size_t t = 0; t < m; ++t) e_[t] = Candidate{rd[idx[t]], e_[idx[t]].label};
        if (m > kk) std::nth_element(e_, e_ + (kk - 1), e_ + m);  // ties at thr: the smallest labels
        std::sort(e_, e_ + kk);
    }
    Candidate* data() { return e_; }
    const Candidate* data() const { return e_; }

private:
    // Exactly the k best (distance, label) pairs: those under the k-th distance, then the ties
    // with it by label.
    void cut() {
        for (std::size_t i = 0; i < n_; ++i) s_[i] = e_[i].d;
        const float thr = kth_(s_, n_, k_ - 1, s_ + 2 * k_);
        std::size_t lt = 0;  // [0, lt): under thr
        for (std::size_t i = 0; i < n_; ++i) {
            const Candidate x = e_[i];
            e_[i] = e_[lt];
            e_[lt] = x;
            lt += x.d < thr ? 1 : 0;
        }
        std::size_t eq = lt;  // [lt, eq): equal to thr (at least k - lt of them)
        for (std::size_t i = lt; i < n_; ++i) {
            const Candidate x = e_[i];
            e_[i] = e_[eq];
            e_[eq] = x;
            eq += x.d == thr ? 1 : 0;
        }
        if (eq > k_) std::nth_element(e_ + lt, e_ + (k_ - 1), e_ + eq);  // ties: the smallest labels
        n_ = k_;
        thr_ = thr;
    }
    // The entries at or under the k-th smallest distance (at least k; more only on ties).
    void compact() {
        for (std::size_t i = 0; i < n_; ++i) s_[i] = e_[i].d;
        const float thr = kth_(s_, n_, k_ - 1, s_ + 2 * k_);
        std::size_t m = 0;
        for (std::size_t i = 0; i < n_; ++i) {
            const Candidate x = e_[i];  // (a copy: the store to e_[m] may alias e_[i])
            e_[m] = x;
            m += x.d <= thr ? 1 : 0;
        }
        n_ = m;
        thr_ = thr;
        if (m > k_ + k_ / 2) cut();  // many ties: cut them by label so the buffer keeps room
    }
    Candidate* e_;
    float* s_;
    std::size_t k_;
    SelectFn select_;
    KthFn kth_;
    std::size_t n_ = 0;
    float thr_ = std::numeric_limits<float>::infinity();
};

}  // namespace adanns
