#include "base/event_loop.h"

#include <gtest/gtest.h>

#include <thread>

namespace corvid {
namespace {

TEST(EventFd, SignalAndConsume) {
  auto e = EventFd::create();
  ASSERT_TRUE(e);
  EXPECT_EQ(e->consume(), 0u);
  e->signal(2);
  e->signal(3);
  EXPECT_EQ(e->consume(), 5u);
  EXPECT_EQ(e->consume(), 0u);
}

TEST(EventLoop, DispatchesReadyFds) {
  auto loop = EventLoop::create();
  ASSERT_TRUE(loop);
  auto e = EventFd::create();
  ASSERT_TRUE(e);
  int hits = 0;
  ASSERT_TRUE((*loop)->add(e->fd(), [&](uint32_t) { hits += static_cast<int>(e->consume()); }));
  EXPECT_EQ(*(*loop)->run_once(0), 0);
  e->signal(4);
  EXPECT_EQ(*(*loop)->run_once(1000), 1);
  EXPECT_EQ(hits, 4);
  (*loop)->remove(e->fd());
  e->signal();
  EXPECT_EQ(*(*loop)->run_once(0), 0);
}

TEST(EventLoop, StopFromAnotherThreadEndsRun) {
  auto loop = EventLoop::create();
  ASSERT_TRUE(loop);
  EventLoop* l = loop->get();
  int posted = 0;
  std::thread t([&] {
    l->post([&] { posted = 1; });
    l->stop();
  });
  ASSERT_TRUE(l->run());
  t.join();
  EXPECT_TRUE(l->stopped());
  // post() may race with stop(); drain anything left.
  (void)l->run_once(0);
  EXPECT_EQ(posted, 1);
}

TEST(EventLoop, SecondRegistrationIsRefusedAndKeepsTheFirst) {
  auto loop = EventLoop::create();
  ASSERT_TRUE(loop);
  auto e = EventFd::create();
  ASSERT_TRUE(e);
  int first = 0, second = 0;
  ASSERT_TRUE((*loop)->add(e->fd(), [&](uint32_t) { first += static_cast<int>(e->consume()); }));
  auto again = (*loop)->add(e->fd(), [&](uint32_t) { ++second; });
  ASSERT_FALSE(again);
  EXPECT_EQ(again.error().code, EEXIST);
  e->signal();
  EXPECT_EQ(*(*loop)->run_once(1000), 1);
  EXPECT_EQ(first, 1);
  EXPECT_EQ(second, 0);
}

TEST(EventLoop, AddingABadFdFails) {
  auto loop = EventLoop::create();
  ASSERT_TRUE(loop);
  auto r = (*loop)->add(-1, [](uint32_t) {});
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, EBADF);
}

}  // namespace
}  // namespace corvid
