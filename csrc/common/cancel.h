// Cooperative cancellation of long calls (Ctrl-C), one mechanism for every index family.
//
// A long call runs under a CancelScope made by the thread that holds the call (the bindings make
// one wherever they release the GIL). Long loops call cancel_point(): on the owning thread it
// polls the scope's poll function at most every kPollInterval (the bindings: re-acquire the GIL
// briefly and run PyErr_CheckSignals, so a pending KeyboardInterrupt is raised there); once the
// poll says stop, an atomic flag is set and every cancel_point() of the call, on any thread,
// throws Interrupted. parallel_for_chunks hands the calling thread's scope to its OpenMP workers,
// so they see the flag too and the remaining chunks end at once. Calls are written so that an
// Interrupted leaves the index as it was: the points sit before the first change to the index.
#pragma once
#include <atomic>
#include <chrono>
#include <cstdint>
#include <stdexcept>
#include <thread>

namespace adanns {

// Thrown by cancel_point() once the call was asked to stop; the bindings turn it into the
// Python exception the poll left pending (KeyboardInterrupt).
struct Interrupted : std::runtime_error {
    Interrupted() : std::runtime_error("interrupted") {}
};

class CancelScope;
namespace detail {
inline thread_local CancelScope* tls_cancel = nullptr;
}

class CancelScope {
public:
    using PollFn = bool (*)();  // true: stop the call (must be safe to call from the owning thread only)
    static constexpr std::int64_t kPollInterval = 5'000'000;  // ns between two polls

    explicit CancelScope(PollFn poll) : poll_(poll), owner_(std::this_thread::get_id()), prev_(detail::tls_cancel) {
        detail::tls_cancel = this;
    }
    ~CancelScope() { detail::tls_cancel = prev_; }
    CancelScope(const CancelScope&) = delete;
    CancelScope& operator=(const CancelScope&) = delete;

    static CancelScope* current() { return detail::tls_cancel; }
    bool stopped() const { return stop_.load(std::memory_order_relaxed); }
    void request_stop() { stop_.store(true, std::memory_order_relaxed); }

    // Throws Interrupted when the call was asked to stop; on the owning thread, polls first
    // when kPollInterval has passed since the last poll.
    void check() {
        if (stopped()) throw Interrupted();
        if (!poll_ || std::this_thread::get_id() != owner_) return;
        const std::int64_t now = std::chrono::duration_cast<std::chrono::nanoseconds>(
                                     std::chrono::steady_clock::now().time_since_epoch())
                                     .count();
        if (now < next_poll_) return;
        next_poll_ = now + kPollInterval;
        if (poll_()) {
            request_stop();
            throw Interrupted();
        }
    }

private:
    std::atomic<bool> stop_{false};
    std::int64_t next_poll_ = 0;  // owning thread only
    PollFn poll_;
    std::thread::id owner_;
    CancelScope* prev_;
};

// Makes `scope` the current call on this (worker) thread for the lifetime of the object.
class CancelJoin {
public:
    explicit CancelJoin(CancelScope* scope) : prev_(detail::tls_cancel) { detail::tls_cancel = scope; }
    ~CancelJoin() { detail::tls_cancel = prev_; }
    CancelJoin(const CancelJoin&) = delete;
    CancelJoin& operator=(const CancelJoin&) = delete;

private:
    CancelScope* prev_;
};

// A section that must not stop half-way (it changes the index): no cancel point inside it fires,
// on this thread or in the parallel regions it starts.
class NoCancel : public CancelJoin {
public:
    NoCancel() : CancelJoin(nullptr) {}
};

// A point where the current call may stop (throws Interrupted); free outside a CancelScope.
inline void cancel_point() {
    if (CancelScope* c = CancelScope::current()) c->check();
}

}  // namespace adanns
